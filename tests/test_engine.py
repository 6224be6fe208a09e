"""The engine: vmapped sweeps agree with single runs and a hand loop, metrics are exact, divergence
is data, and shapes/values that change do not recompile."""

from __future__ import annotations

import functools

import numpy as np
import optax
import pytest

import landscapes
from bench.core.engine import ALL_BLOCKS, compiled_sweep, run_batch
from bench.core.flops import step_flops
from bench.core.step import PER_RUN, Problem, Status, make_batch
from bench.core.sharding import runs_sharding
from bench.run.runner import OptimizerBuilder
from landscapes.instances import instance_minimizers, make_instance

STEPS = 150
NESTEROV = OptimizerBuilder("nesterov", "time_based")


def _hparams(n, lr=0.003, momentum=0.8, decay=0.0016666666666666668):
    return dict(learning_rate=np.full(n, lr), momentum=np.full(n, momentum), decay=np.full(n, decay),
                warmup_steps=np.zeros(n))


@pytest.fixture(scope="module")
def beale():
    return landscapes.get_landscape("beale")


@pytest.fixture(scope="module")
def beale_problem(beale):
    return Problem(beale, NESTEROV, STEPS, dtype="float64", trajectory_every=1)


@pytest.fixture(scope="module")
def starts():
    return np.random.default_rng(3).uniform(-1.5, 1.5, size=(6, 2))


def _hand_loop(landscape, x0, lr, momentum, decay, steps, targets):
    """Keras SGD with Nesterov and time-based decay, in numpy float64, gradient by jax (float64)."""
    import jax

    grad = jax.jit(jax.grad(landscape.fn))
    x, v = np.array(x0, float), np.zeros_like(x0, dtype=float)
    first_hit = np.full(len(targets), -1)
    values = []
    for t in range(steps + 1):
        f = landscape.np_fn(x)
        values.append(f)
        for i, tau in enumerate(targets):
            if first_hit[i] < 0 and f <= tau:
                first_hit[i] = t
        if t == steps:
            break
        g = np.asarray(grad(x))
        lr_t = lr / (1 + decay * t)
        v = momentum * v - lr_t * g
        x = x + momentum * v - lr_t * g
    return x, first_hit, np.array(values)


def test_matches_hand_written_keras_loop(beale, beale_problem, starts):
    batch = make_batch(beale_problem, _hparams(len(starts)), starts, 0.0, beale.minimizer_array())
    metrics, _ = run_batch(beale_problem, batch)
    for i, x0 in enumerate(starts):
        x, first_hit, values = _hand_loop(beale, x0, 0.003, 0.8, 0.0016666666666666668, STEPS,
                                          beale_problem.targets)
        np.testing.assert_allclose(metrics.final_x[i], x, rtol=1e-9, atol=1e-12)
        expected = np.where(first_hit >= 0, first_hit, STEPS)
        np.testing.assert_array_equal(metrics.steps_to_target[i], expected)
        np.testing.assert_array_equal(metrics.reached[i], first_hit >= 0)
        np.testing.assert_allclose(metrics.best_gap[i], values.min(), rtol=1e-9)
        np.testing.assert_allclose(metrics.final_gap[i], values[-1], rtol=1e-9, atol=1e-15)


def test_vmapped_batch_equals_runs_alone(beale, beale_problem, starts):
    n = len(starts)
    hp = _hparams(n)
    hp["learning_rate"] = np.geomspace(1e-4, 1e-2, n)
    together, _ = run_batch(beale_problem, make_batch(beale_problem, hp, starts, 0.0,
                                                      beale.minimizer_array()))
    for i in range(n):
        alone, _ = run_batch(beale_problem, make_batch(
            beale_problem, {k: v[i:i + 1] for k, v in hp.items()}, starts[i:i + 1], 0.0,
            beale.minimizer_array()))
        np.testing.assert_allclose(together.final_x[i], alone.final_x[0], rtol=1e-12)
        np.testing.assert_array_equal(together.steps_to_target[i], alone.steps_to_target[0])


def test_distance_and_basin_pick_the_nearest_minimizer():
    himmelblau = landscapes.get_landscape("himmelblau")
    minima = himmelblau.minimizer_array()
    problem = Problem(himmelblau, OptimizerBuilder("sgd", "constant"), 400, dtype="float64")
    x0 = minima + 0.3  # start near each minimum: each run must end in its own basin
    hp = dict(learning_rate=np.full(len(x0), 0.005), warmup_steps=np.zeros(len(x0)))
    metrics, _ = run_batch(problem, make_batch(problem, hp, x0, 0.0, minima))
    np.testing.assert_array_equal(metrics.basin, np.arange(len(minima)))
    assert np.all(metrics.distance < 1e-4)
    assert np.all(metrics.status == Status.CONVERGED)


def test_divergence_is_recorded_not_raised(beale, starts):
    problem = Problem(beale, OptimizerBuilder("sgd", "constant"), 50, dtype="float32")
    hp = dict(learning_rate=np.array([10.0, 1e-4]), warmup_steps=np.zeros(2))
    metrics, _ = run_batch(problem, make_batch(problem, hp, np.array([[3.5, 3.5], [1.0, 1.0]]), 0.0,
                                               beale.minimizer_array()))
    assert metrics.diverged.tolist() == [True, False]
    assert metrics.status[0] == Status.DIVERGED
    assert not metrics.reached[0].any()  # a diverged run is never a success
    assert metrics.basin[0] == -1 and np.isnan(metrics.distance[0])
    assert metrics.steps_to_target[0].tolist() == [50] * len(problem.targets)  # censored


def test_trajectory_is_decimated_and_ends_at_the_last_iterate(beale, starts):
    problem = Problem(beale, NESTEROV, 100, trajectory_every=25)
    metrics, _ = run_batch(problem, make_batch(problem, _hparams(len(starts)), starts, 0.0,
                                               beale.minimizer_array()))
    assert metrics.trajectory.shape == (len(starts), 5, 2)  # steps 0, 25, 50, 75 and x_100
    np.testing.assert_allclose(metrics.trajectory[:, 0], starts.astype(np.float32))
    np.testing.assert_array_equal(metrics.trajectory[:, -1], metrics.final_x)


def test_instance_minimizer_has_zero_gap():
    rosenbrock = landscapes.get_landscape("rosenbrock")
    instance = make_instance(rosenbrock, 2, 2)
    moved = instance_minimizers(rosenbrock, instance)
    problem = Problem(rosenbrock, OptimizerBuilder("sgd", "constant"), 5, dtype="float64",
                      transformed=True)
    hp = dict(learning_rate=np.full(1, 1e-3), warmup_steps=np.zeros(1))
    metrics, _ = run_batch(problem, make_batch(problem, hp, moved, 0.0, moved,
                                               shift=instance.shift, matrix=instance.matrix))
    assert abs(metrics.final_gap[0]) < 1e-10 and metrics.distance[0] < 1e-6
    assert metrics.steps_to_target[0].tolist() == [0] * 8


def test_noise_is_reproducible_per_key_and_metrics_use_exact_f():
    noisy = landscapes.get_landscape("noisy_beale")
    problem = Problem(noisy, OptimizerBuilder("sgd", "constant"), 60, dtype="float64")
    x0 = np.tile([[1.0, 1.0]], (3, 1))
    keys = np.array([[0, 1], [0, 1], [0, 2]], np.uint32)
    hp = dict(learning_rate=np.full(3, 1e-3), warmup_steps=np.zeros(3))
    metrics, _ = run_batch(problem, make_batch(problem, hp, x0, 0.0, noisy.minimizer_array(),
                                               key=keys))
    np.testing.assert_array_equal(metrics.final_x[0], metrics.final_x[1])
    assert not np.array_equal(metrics.final_x[0], metrics.final_x[2])
    np.testing.assert_allclose(metrics.final_gap, [noisy.np_fn(x) for x in metrics.final_x],
                               rtol=1e-12)


def test_every_call_has_one_shape_and_rows_come_back_in_order(beale, starts, monkeypatch):
    """run_batch runs calls of one shape (padded) and dispatches call k + 1 before it fetches call
    k: every call's rows must land where they belong, whatever the number of calls."""
    from bench.core import engine

    # Blocks of 8 rows with 6 of padding: 2 runs a block, 2 blocks a device: 4 runs a call.
    monkeypatch.setattr(engine, "CPU_RUNS_PER_DEVICE", 8)
    monkeypatch.setattr(engine, "CPU_TAIL_ROWS", 6)
    monkeypatch.setattr(engine, "CPU_BLOCKS", 2)
    problem = Problem(beale, NESTEROV, 60)
    batch = make_batch(problem, _hparams(len(starts)), starts, 0.0, beale.minimizer_array())
    chunked, cost = run_batch(problem, batch)  # unsharded: 4 runs a call
    assert len(starts) > 4 and cost.run_seconds > 0 and cost.runs == len(starts)
    backwards = make_batch(problem, {k: v[::-1] for k, v in _hparams(len(starts)).items()},
                           starts[::-1], 0.0, beale.minimizer_array())
    reversed_order, _ = run_batch(problem, backwards)
    sharded, _ = run_batch(problem, batch, sharding=runs_sharding())
    for name in ("final_x", "steps_to_target", "final_gap", "best_gap", "status", "basin"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(reversed_order, name)[::-1],
                                      err_msg=name)
        np.testing.assert_array_equal(getattr(chunked, name), getattr(sharded, name), err_msg=name)


def _dispatch_and_fetch_order(monkeypatch, parts, *, ahead):
    """The order in which ``run_parts`` dispatches and fetches the calls of ``parts``, and the
    meter's run count each part's outputs arrive with."""
    from bench.core import engine

    events, made = [], {}
    real_calls, real_host = engine._calls, engine._host

    def calls(*args, **kwargs):
        for call in real_calls(*args, **kwargs):
            made[id(call.out)] = (call.part, call.first)
            events.append(("dispatch", call.part, call.first))
            yield call

    def host(out):
        events.append(("fetch", *made[id(out)]))
        return real_host(out)

    monkeypatch.setattr(engine, "_calls", calls)
    monkeypatch.setattr(engine, "_host", host)
    meter = engine.CostMeter()
    counted = [(part, meter.runs) for part, _, _, _ in engine.run_parts(parts, meter=meter, ahead=ahead)]
    return events, counted, meter


def test_the_next_part_is_dispatched_before_a_parts_last_outputs_are_fetched(beale, starts, monkeypatch):
    """One stream of calls over a job's parts: part 1's first call is in flight while the host
    fetches part 0's last outputs (the devices run on while the host makes part 0's records);
    without ``ahead`` (a timing run) each part starts after the previous one is done. Either
    way a part's outputs arrive with its runs counted, and the numbers are the ones run alone."""
    from bench.core import engine
    from bench.core.inputs import per_run

    monkeypatch.setattr(engine, "CPU_RUNS_PER_DEVICE", 8)  # 2 runs a block, 4 a call
    monkeypatch.setattr(engine, "CPU_TAIL_ROWS", 6)
    monkeypatch.setattr(engine, "CPU_BLOCKS", 2)
    problem = Problem(beale, NESTEROV, 30)
    batches = [make_batch(problem, _hparams(n, lr=lr), starts[:n], 0.0, beale.minimizer_array())
               for n, lr in ((6, 0.003), (3, 0.001))]
    parts = [(problem, [b["shared"]], per_run(b), 1) for b in batches]
    events, counted, meter = _dispatch_and_fetch_order(monkeypatch, parts, ahead=True)
    assert events == [("dispatch", 0, 0), ("dispatch", 0, 4), ("fetch", 0, 0), ("dispatch", 1, 0),
                      ("fetch", 0, 4), ("fetch", 1, 0)]
    assert counted == [(0, 0), (0, 6), (1, 9)] and meter.run_seconds > 0
    assert meter.inputs == "host"  # both parts' per-run arrays were made on the host
    events, counted, _ = _dispatch_and_fetch_order(monkeypatch, parts, ahead=False)
    assert events == [("dispatch", 0, 0), ("dispatch", 0, 4), ("fetch", 0, 0), ("fetch", 0, 4),
                      ("dispatch", 1, 0), ("fetch", 1, 0)]
    assert counted == [(0, 0), (0, 6), (1, 9)]
    monkeypatch.undo()
    from bench.core.inputs import described
    device_made = described(problem, _hparams(2), starts[:2])
    meter = engine.CostMeter()
    list(engine.run_parts([(problem, [batches[0]["shared"]], device_made, 1), parts[0]], meter=meter))
    assert meter.inputs == "mixed"  # though part 1 was dispatched before part 0 was done
    streamed = list(engine.run_parts(parts))
    for part, batch in enumerate(batches):
        alone, _ = run_batch(problem, batch)
        got = np.concatenate([out["final_gap"] for p, _, _, out in streamed if p == part])
        np.testing.assert_array_equal(got, alone.final_gap)


def test_a_device_runs_only_its_blocks_that_hold_runs(beale, starts, monkeypatch):
    """A call of few runs fills the first device's first block: the other device skips its blocks
    (its rows come back as the zeros they start as), and the runs' numbers are those of the same
    runs without sharding."""
    from bench.core import engine
    from bench.core.inputs import per_run

    # Blocks of 8 rows with 6 of padding: 2 runs a block, a block row (both devices) holds 4.
    monkeypatch.setattr(engine, "CPU_RUNS_PER_DEVICE", 8)
    monkeypatch.setattr(engine, "CPU_TAIL_ROWS", 6)
    monkeypatch.setattr(engine, "CPU_BLOCKS", 2)
    sharding = runs_sharding()
    assert sharding is not None and len(sharding.device_set) == 2  # conftest's configure_jax
    problem = Problem(beale, NESTEROV, 40)
    for runs, ran in ((1, [[True, False], [False, False]]), (3, [[True, False], [True, False]]),
                      (5, [[True, True], [True, False]])):
        batch = make_batch(problem, _hparams(runs), starts[:runs], 0.0, beale.minimizer_array())
        call, = engine._calls(problem, [batch["shared"]], per_run(batch), sharding, engine.CostMeter())
        count, out = call.count, call.out
        gaps = np.asarray(out["final_gap"]).reshape(2, 2, 8)  # device, block, row
        assert count == runs
        assert (gaps[:, :, :2] != 0).all(axis=2).tolist() == ran, runs
        assert not gaps[np.logical_not(ran)].any()
        sharded, _ = run_batch(problem, batch, sharding=sharding)
        alone, _ = run_batch(problem, batch)
        for name in ("final_x", "final_gap", "best_gap", "steps_to_target", "status"):
            np.testing.assert_array_equal(getattr(sharded, name), getattr(alone, name), err_msg=name)


def test_new_hyperparameter_values_do_not_retrace(beale, starts):
    traces = []

    def counting_build(hparams):
        traces.append(1)
        return optax.sgd(hparams["learning_rate"])

    problem = Problem(beale, counting_build, 20)
    fn = compiled_sweep(problem)
    for lr in (1e-3, 2e-3, 5e-4):
        batch = make_batch(problem, dict(learning_rate=np.full(len(starts), lr)), starts, 0.0,
                           beale.minimizer_array())
        fn({k: batch[k] for k in PER_RUN}, batch["shared"], ALL_BLOCKS)
    assert len(traces) == 1


def test_step_flops_counts_one_step(beale, starts):
    problem = Problem(beale, NESTEROV, 10)
    batch = make_batch(problem, _hparams(len(starts)), starts, 0.0, beale.minimizer_array())
    flops = step_flops(problem, batch)
    assert flops is not None and 20 < flops < 2000  # Beale's value and gradient: tens of FLOPs


def test_step_flops_are_stored_beside_the_compilation_cache(tmp_path, monkeypatch, beale):
    import json

    from bench.core import flops

    monkeypatch.setenv("LANDSCAPE_BENCH_CACHE", str(tmp_path))
    problem = Problem(beale, NESTEROV, 20, dtype="float32")
    batch = make_batch(problem, _hparams(4), np.zeros((4, 2)), 0.0, beale.minimizer_array())
    flops._STEP_FLOPS.clear()
    counted = step_flops(problem, batch)
    table = json.loads((tmp_path / "step_flops.json").read_text())
    assert list(table.values()) == [counted] and counted > 0
    # A new process (empty memory cache) reads the stored count instead of lowering again.
    flops._STEP_FLOPS.clear()
    key = next(iter(table))
    (tmp_path / "step_flops.json").write_text(json.dumps({key: 12345.0}))
    assert step_flops(problem, batch) == 12345.0
    # Another dtype is another program: counted, not read.
    flops._STEP_FLOPS.clear()
    other = Problem(beale, NESTEROV, 20, dtype="float64")
    assert step_flops(other, make_batch(other, _hparams(4), np.zeros((4, 2)), 0.0,
                                        beale.minimizer_array())) != 12345.0
    # A bare function as the optimizer has no stable name: never stored.
    flops._STEP_FLOPS.clear()
    bare = Problem(beale, lambda h: optax.sgd(h["learning_rate"]), 20)
    step_flops(bare, batch)
    assert len(json.loads((tmp_path / "step_flops.json").read_text())) == 2
    flops._STEP_FLOPS.clear()


def _never_moves(hparams, learning_rate):
    return optax.sgd(lambda count: 0.0 * learning_rate(count))


def test_a_family_registered_again_runs_its_new_code() -> None:
    # Programs are cached by optimizer; replace=True (a notebook's edited optimizer) must not reuse
    # the program of the code it replaced, and a builder made before keeps the code it was made with.
    import optimizers
    from optimizers.core import OptimizerFamily

    land = landscapes.get_landscape("himmelblau")

    def final_x(builder, steps=30):
        problem = Problem(land, builder, steps)
        batch = make_batch(problem, {"learning_rate": np.full(2, 0.01)}, np.ones((2, 2)), 0.0,
                           land.minimizer_array())
        return np.asarray(run_batch(problem, batch)[0].final_x)

    try:
        optimizers.register_family(OptimizerFamily("lb_edited", optimizers.families.build_sgd,
                                                   {"learning_rate": 0.01}), replace=True)
        held = OptimizerBuilder("lb_edited", "constant")
        moved = final_x(held)
        optimizers.register_family(OptimizerFamily("lb_edited", _never_moves, {"learning_rate": 0.01}),
                                   replace=True)
        np.testing.assert_array_equal(final_x(OptimizerBuilder("lb_edited", "constant")), 1.0)  # new code
        np.testing.assert_array_equal(final_x(held), moved)  # the held builder: its own code still,
        assert not np.allclose(final_x(held, steps=31), 1.0)  # also in a program compiled only now
    finally:
        optimizers.FAMILIES.pop("lb_edited", None)
    assert not np.allclose(moved, 1.0)  # SGD moved


def test_a_schedule_registered_again_runs_its_new_code() -> None:
    import optimizers
    from optimizers.core import Schedule

    land = landscapes.get_landscape("himmelblau")
    finals = []
    try:
        for factor in (1.0, 0.0):
            optimizers.register_schedule(Schedule("lb_edited_schedule", functools.partial(_scaled_rate, factor),
                                                  {}), replace=True)
            problem = Problem(land, OptimizerBuilder("sgd", "lb_edited_schedule"), 30)
            batch = make_batch(problem, {"learning_rate": np.full(2, 0.01)}, np.ones((2, 2)), 0.0,
                               land.minimizer_array())
            finals.append(np.asarray(run_batch(problem, batch)[0].final_x))
    finally:
        optimizers.SCHEDULES.pop("lb_edited_schedule", None)
    assert not np.allclose(finals[0], 1.0)
    np.testing.assert_array_equal(finals[1], 1.0)


def _scaled_rate(factor, count, hparams):
    return factor * hparams["learning_rate"] + 0.0 * count


def test_the_roofline_peak_is_the_best_of_several_matmuls_kept_per_machine(tmp_path, monkeypatch):
    """The ceiling behind roofline_fraction: the fastest of PEAK_REPEATS timed matmuls (a
    neighbour only slows a matmul down), with its spread, measured once and kept in the cache."""
    from bench.core import environment

    monkeypatch.setenv("LANDSCAPE_BENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("LANDSCAPE_BENCH_NO_CACHE", raising=False)
    first = environment.peak_measurement.__wrapped__("float32", 128)
    assert not first["cached"] and first["repeats"] == environment.PEAK_REPEATS
    assert first["peak_flops"] >= first["median_flops"] >= first["slowest_flops"] > 0
    again = environment.peak_measurement.__wrapped__("float32", 128)
    assert again["cached"] and again["peak_flops"] == first["peak_flops"]
    assert (tmp_path / "peak_flops.json").exists()
