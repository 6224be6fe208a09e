"""scipy reference rows: same starts and targets, evaluations counted, marked as references."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import landscapes
from bench.run import background, reference, runner
from bench.run.reference import METHODS, reference_label, run_reference
from bench.run.results import ResultsDir, read_results
from bench.run.suites import parse_suite
from landscapes.errors import InputError
from landscapes.instances import instance_fn, make_instance

pytestmark = pytest.mark.slow  # whole reports / scipy solvers / benchmark workloads: the full run only

TARGETS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_solves_booth_from_every_start(method):
    booth = landscapes.get_landscape("booth")
    starts = np.array([[-5.0, 5.0], [2.0, -3.0]])
    runs, minimizers, f_star = run_reference(booth, 2, 0, method, starts, 2000, TARGETS)
    assert runs["status"].tolist() == [0, 0]  # converged to the finest target
    assert np.all(runs["distance"] < 1e-3)
    assert np.all(runs["evaluations"] >= runs["steps_to_target"][:, -1] + 1)


def test_steps_to_target_is_the_first_evaluation_within_the_target():
    beale = landscapes.get_landscape("beale")
    x0 = np.array([1.0, 1.0])
    runs, _, _ = run_reference(beale, 2, 0, "L-BFGS-B", x0[None], 2000, TARGETS)
    values = []

    def counted(x):
        value = beale.np_fn(x)
        values.append(value)
        return value

    # Replay the same method, recording numpy's values of the formula in scipy's call order.
    import jax

    grad = jax.jit(jax.grad(beale.fn))
    scipy.optimize.minimize(lambda x: (counted(x), np.asarray(grad(x))), x0, jac=True,
                            method="L-BFGS-B", options=dict(maxfun=2000, maxiter=2000, ftol=1e-16,
                                                            gtol=1e-12))
    gaps = np.asarray(values)
    expected = [int(np.flatnonzero(gaps <= tau)[0]) for tau in TARGETS]
    assert runs["steps_to_target"][0].tolist() == expected


def test_unknown_method_lists_close_names():
    with pytest.raises(InputError, match="L-BFGS-B"):
        parse_suite('references = ["LBFGS"]\nlandscapes = ["beale"]\n[[optimizer]]\nfamily = "sgd"')


def test_suite_writes_marked_resumable_reference_records(tmp_path):
    suite = parse_suite('steps = 200\nstarts = 3\nreferences = ["BFGS", "Nelder-Mead"]\n'
                        'landscapes = [{ name = "himmelblau", instances = [0, 1] }]\n'
                        '[[optimizer]]\nfamily = "sgd"\n[optimizer.space]\nlearning_rate = [0.01]')
    with ResultsDir(tmp_path) as results:
        assert background.run_references(suite, results) == 4
        assert background.run_references(suite, results) == 0  # resumed
    records = read_results(tmp_path)
    assert {r["label"] for r in records} == {reference_label("BFGS"), reference_label("Nelder-Mead")}
    for record in records:
        assert record["reference"] and record["phase"] == "test" and "(reference)" in record["label"]
        assert len(record["runs"]["final_gap"]) == 3
        assert all(s in (0, 1, 2) for s in record["runs"]["status"])


@pytest.mark.parametrize("path", ["here", "worker"])
def test_reference_rows_whose_end_marker_was_lost_are_ended_not_written_twice(tmp_path, path):
    """A kill (or a cut file) can take a job's end marker after its rows: the rerun ends that job
    instead of computing and appending its rows again."""
    import json

    suite = parse_suite('steps = 100\nstarts = 2\nreferences = ["BFGS", "Nelder-Mead"]\n'
                        'landscapes = [{ name = "himmelblau", instances = [0, 1] }]\n'
                        '[[optimizer]]\nfamily = "sgd"\n[optimizer.space]\nlearning_rate = [0.01]')
    with ResultsDir(tmp_path) as results:
        background.run_references(suite, results)
    file = tmp_path / "results.jsonl"
    lines = file.read_text().splitlines()
    markers = [k for k, line in enumerate(lines) if json.loads(line).get("kind") == "job_end"]
    assert len(markers) == 2  # one job per (landscape, method)
    kept = [line for k, line in enumerate(lines) if k != markers[-1]]
    file.write_text("\n".join(kept) + "\n")
    assert len(read_results(tmp_path)) == 2  # the second method's rows are hidden now
    with ResultsDir(tmp_path) as results:
        if path == "here":
            assert background.run_references(suite, results) == 0
        else:
            worker = background.BackgroundReferences(suite, background.references_done(suite, results))
            assert worker.collect(results) == 0
    after = file.read_text().splitlines()
    assert after[:-1] == kept and json.loads(after[-1])["kind"] == "job_end"  # only the marker
    assert len(read_results(tmp_path)) == 4


class _PlainCounted(reference._Counted):
    """The objective as it was before the fast path: ``jnp.asarray``, then the unpacked jitted
    ``value_and_grad`` and a conversion of each output."""

    def __init__(self, objective, budget):
        import jax

        jitted = reference._Jitted(objective, None)
        super().__init__(jitted, True, budget)
        self._plain = jax.jit(jax.value_and_grad(objective))

    def __call__(self, x):
        import jax.numpy as jnp

        if len(self.values) > self._budget:
            raise reference._BudgetSpent
        value, grad = self._plain(jnp.asarray(x, jnp.float64))
        value, grad = float(value), np.asarray(grad, np.float64)
        self.values.append(value)
        if value < self._best:
            self._best, self.best_x = value, np.array(x, np.float64)
        return value, grad


@pytest.mark.parametrize("name,dim,instance_id", [("beale", 2, 0), ("beale", 2, 1),
                                                   ("rosenbrock", 3, 2), ("rastrigin", 2, 1),
                                                   ("branin", 2, 2), ("himmelblau", 2, 1)])
def test_packed_gradient_path_replays_the_plain_one_bitwise(name, dim, instance_id):
    # The fast objective (numpy argument, one packed output) must give scipy the same bits as the
    # plain jitted value_and_grad, or the reference rows would change with the speed-up.
    landscape = landscapes.get_landscape(name)
    jitted = reference._jitted_instance(landscape, dim, instance_id)
    instance = make_instance(landscape, instance_id, dim)
    objective = landscape.fn if instance_id == 0 else instance_fn(landscape, instance)
    x0s = np.random.default_rng(0).uniform(*landscape.start_box(dim).T, size=(3, dim))
    for method in ("L-BFGS-B", "BFGS"):
        for x0 in x0s:
            fast = reference._Counted(jitted, True, 300)
            plain = _PlainCounted(objective, 300)
            x_fast = reference._minimize(method, fast, x0.copy(), 300)
            x_plain = reference._minimize(method, plain, x0.copy(), 300)
            assert len(fast.values) > 5
            assert np.asarray(fast.values).tobytes() == np.asarray(plain.values).tobytes()
            assert np.asarray(x_fast).tobytes() == np.asarray(x_plain).tobytes()
            assert (float(jitted.value(x_fast)) == float(jitted.value(jnp.asarray(x_plain))))


def test_background_references_write_the_serial_records(tmp_path):
    """The worker-process path writes the same reference records, in the same order, as the
    in-process one (``created`` aside), and a record already present is not redone."""
    from dataclasses import replace

    from bench.run.results import ResultsDir
    from bench.run.background import BackgroundReferences, run_references
    from bench.run.suites import load_suite

    suite = load_suite("quick")
    suite = replace(suite, references=("L-BFGS-B", "Nelder-Mead"), landscapes=suite.landscapes[:2])
    with ResultsDir(tmp_path / "serial") as out:
        serial_count = run_references(suite, out)
        serial = out.records()
    with ResultsDir(tmp_path / "background") as out:
        out.append(serial[:1])
        background = BackgroundReferences(suite, out.record_ids())
        assert background.pool is not None  # a spawn worker started here
        written = background.collect(out)
        parallel = out.records()
    assert serial_count == len(serial) and written == len(serial) - 1
    # Collected at once, while the worker was still starting: the rows it had not begun (all but
    # the at most two its queue held) were computed here, and the records are the same.
    assert 2 <= background.computed_here < len(background.tasks)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("created", "cost")}  # noqa: E731
    assert [strip(r) for r in parallel] == [strip(r) for r in serial]


_BLAS_PROBE = """
import json
import numpy as np
import bench.run.reference as ref
import landscapes
from threadpoolctl import threadpool_info

seen = []
call = ref._Counted.__call__

def probe(self, x):  # inside scipy's minimize, so scipy (and its own OpenBLAS) is loaded by now
    if not seen:
        seen.extend(sorted({(i["filepath"], i["num_threads"]) for i in threadpool_info()
                            if i["user_api"] == "blas"}))
    return call(self, x)

ref._Counted.__call__ = probe
ref.run_reference(landscapes.get_landscape("beale"), 2, 0, "L-BFGS-B", np.array([[1.0, 1.0]]), 50, (1e-1,))
print(json.dumps(seen))
"""


def test_references_run_every_blas_library_on_one_thread():
    """scipy loads its own OpenBLAS when scipy.optimize is first imported; a one-thread limit set
    up before that import missed it, and its idle threads spun beside every L-BFGS-B run. A fresh
    interpreter, because this test process has imported scipy long ago."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _BLAS_PROBE], capture_output=True, text=True,
                         check=True, timeout=300)
    libraries = json.loads(out.stdout.strip().splitlines()[-1])
    assert any("scipy" in path for path, _ in libraries)
    assert {threads for _, threads in libraries} == {1}, libraries


def test_a_bounded_domain_counts_points_outside_the_box_as_reaching_no_target():
    # McCormick's f* is the minimum over its box only; outside it f goes lower. Nelder-Mead from
    # these starts leaves the box once (final gap -pi): before, that run "reached" every target.
    land = landscapes.get_landscape("mccormick")
    assert land.bounded_domain
    starts = np.concatenate([runner.start_points(land, 2, seed, 8) for seed in (1000, 1001)])
    runs, _, _ = run_reference(land, 2, 0, "Nelder-Mead", starts, 2000, [1e-1, 1e-6])
    box = land.box(2)
    outside = ~np.all((runs["final_x"] >= box[:, 0]) & (runs["final_x"] <= box[:, 1]), axis=1)
    assert outside.any() and (runs["final_gap"][outside] < 0).any()
    assert not runs["reached"][outside].any()
    assert (runs["best_gap"][outside] > 0).all()  # what was seen inside the box only
    inside = ~outside & (runs["status"] != 2)  # the runs that stayed in count as before
    np.testing.assert_array_equal(runs["reached"][inside, 0], runs["best_gap"][inside] <= 0.1)
    assert runs["reached"][inside, 0].any()


def test_references_on_a_noisy_landscape_see_its_noise_seeded_per_start():
    """The reference rows of a noisy landscape solve the same problem as the sweeps beside them in
    the table: the exact f, its gradient plus the landscape's noise, one stream per start."""
    import landscapes
    from bench.run.reference import run_reference

    noisy = landscapes.get_landscape("noisy_beale")
    starts = np.array([[1.0, 1.0], [1.0, 1.0]])
    seeds = [[0, 0], [0, 1]]
    runs, _, _ = run_reference(noisy, 2, 0, "BFGS", starts, 60, (1e-1, 1e-3), noise_seeds=seeds)
    again, _, _ = run_reference(noisy, 2, 0, "BFGS", starts, 60, (1e-1, 1e-3), noise_seeds=seeds)
    np.testing.assert_array_equal(runs["final_x"], again["final_x"])  # seeded: reproducible
    assert not np.array_equal(runs["final_x"][0], runs["final_x"][1])  # same start, own stream
    plain = landscapes.get_landscape("beale")
    exact, _, _ = run_reference(plain, 2, 0, "BFGS", starts[:1], 60, (1e-1, 1e-3))
    assert not np.array_equal(exact["final_x"][0], runs["final_x"][0])
    with pytest.raises(InputError, match="needs its noise seeds"):
        run_reference(noisy, 2, 0, "BFGS", starts, 60, (1e-1,))


def test_references_evaluate_on_the_cpu_backend_whatever_the_default_device(monkeypatch):
    # On an accelerator machine the default device is the accelerator; here another CPU device
    # stands in for it. Every evaluation scipy asks for must run on the host's CPU device.
    import jax

    other = jax.devices()[-1]
    if other == reference.host_device():
        pytest.skip("needs a second JAX device to stand in for an accelerator; this process has one"
                    " (configure_jax gives one CPU device per core: a 1-core machine)")
    seen = []
    original = reference._Counted.__call__

    def spy(self, x):
        seen.append(jax.config.jax_default_device)
        return original(self, x)

    monkeypatch.setattr(reference._Counted, "__call__", spy)
    with jax.default_device(other):
        run_reference(landscapes.get_landscape("booth"), 2, 0, "BFGS", np.zeros((1, 2)), 20,
                      [1e-3])
    assert seen and set(seen) == {reference.host_device()}
