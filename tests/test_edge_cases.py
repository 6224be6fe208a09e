"""Numerical edge cases are data: NaN, overflow and one-step blow-ups end as recorded statuses."""

from __future__ import annotations

import numpy as np

import landscapes
from bench.core.engine import run_batch
from bench.core.step import Problem, Status, make_batch
from bench.run.runner import OptimizerBuilder, execute, Job, TEST
from bench.run.suites import parse_suite
from landscapes import Landscape

SGD = OptimizerBuilder("sgd", "constant")


def _run(landscape, x0, lr, steps=30, dtype="float32"):
    problem = Problem(landscape, SGD, steps, dtype=dtype)
    hp = dict(learning_rate=np.full(len(x0), lr), warmup_steps=np.zeros(len(x0)))
    metrics, _ = run_batch(problem, make_batch(problem, hp, np.asarray(x0), landscape.minimum(),
                                               landscape.minimizer_array()))
    return metrics


def _nan_outside_unit_disc(x, xp):  # a user landscape that returns NaN off its domain
    r2 = x[0] ** 2 + x[1] ** 2
    return xp.where(r2 < 1.0, r2, xp.nan)


NAN_LANDSCAPE = Landscape(name="nan_outside_disc", formula=_nan_outside_unit_disc, dim=2,
                          bounds=((-2.0, 2.0), (-2.0, 2.0)), minimizers=((0.0, 0.0),), f_star=0.0,
                          source="test fixture")


def test_nan_values_mark_the_run_diverged():
    metrics = _run(NAN_LANDSCAPE, [[1.5, 0.0], [0.5, 0.0]], 0.4)
    assert metrics.status.tolist() == [Status.DIVERGED, Status.CONVERGED]
    assert not metrics.reached[0].any() and metrics.reached[1].all()


def test_overflow_to_inf_in_float32_is_divergence():
    sphere = landscapes.get_landscape("sphere")
    metrics = _run(sphere, [[1e19] * sphere.default_dim], 1.0)  # x^2 overflows float32 at once
    assert metrics.status.tolist() == [Status.DIVERGED]
    assert np.isnan(metrics.distance[0]) and metrics.basin[0] == -1


def test_learning_rate_that_diverges_in_one_step():
    rosenbrock = landscapes.get_landscape("rosenbrock")
    metrics = _run(rosenbrock, [[-1.5, 2.0]], 1e6, steps=5)
    assert metrics.status.tolist() == [Status.DIVERGED]
    assert metrics.steps_to_target[0].tolist() == [5] * 8  # censored at the budget


def test_kink_of_bukin_n6_is_finite_data():
    bukin = landscapes.get_landscape("bukin_n6")
    minimizer = bukin.minimizer_array()[0]
    metrics = _run(bukin, [minimizer, minimizer + [0.5, 0.1]], 1e-3, dtype="float64")
    assert np.all(np.isfinite(metrics.final_gap))
    assert set(metrics.status.tolist()) <= {Status.CONVERGED, Status.BUDGET}


def test_float32_and_float64_runs_of_one_suite_are_both_recorded():
    text = ('steps = 400\nstarts = 2\nlandscapes = ["booth"]\n[[optimizer]]\nfamily = "sgd"\n'
            '[optimizer.space]\nlearning_rate = [0.05]\n')
    records = {}
    for dtype in ("float32", "float64"):
        suite = parse_suite(f'dtype = "{dtype}"\n' + text)
        job = Job(suite, suite.landscapes[0], suite.optimizers[0], TEST,
                  suite.optimizers[0].configs(), suite.seeds)
        (records[dtype],) = execute(job)
    assert records["float32"]["dtype"] == "float32" and records["float64"]["dtype"] == "float64"
    assert records["float32"]["record_id"] != records["float64"]["record_id"]
    gap32 = np.asarray(records["float32"]["runs"]["final_gap"], float)
    gap64 = np.asarray(records["float64"]["runs"]["final_gap"], float)
    assert np.all(gap64 <= 1e-20) and np.all(gap32 <= 1e-6)  # float32 stops at its own rounding


def test_escaping_the_box_of_a_bounded_domain_landscape_is_no_success():
    mccormick = landscapes.get_landscape("mccormick")
    assert mccormick.bounded_domain
    outside = np.array([[-3.0, -4.0]])  # left of the box [-1.5, 4] x [-3, 4]
    assert mccormick.np_fn(outside[0]) < mccormick.minimum()  # lower than f* out there
    metrics = _run(mccormick, outside, 1e-9, steps=5, dtype="float64")
    assert metrics.final_gap[0] < 0  # recorded as measured
    assert not metrics.reached[0].any() and metrics.status[0] == Status.BUDGET
    assert np.isinf(metrics.best_gap[0])  # no point inside the box was seen
    inside = mccormick.minimizer_array() + 0.01
    assert _run(mccormick, inside, 0.1, steps=300, dtype="float64").reached[0].all()
