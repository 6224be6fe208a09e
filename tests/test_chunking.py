"""The suite's chunk policy (bench.runner.run_chunk): every job of a (landscape, optimizer) runs in
one program shape, so a run's numbers do not depend on how many configs shared its batch."""

from __future__ import annotations

import numpy as np

import landscapes
import optimizers
from bench.engine import Problem, make_batch, run_batch
from bench.runner import CPU_CHUNK_PER_DEVICE, OptimizerBuilder, run_chunk
from bench.sharding import runs_sharding
from bench.suites import load_suite


def test_cpu_chunk_is_fixed_per_device_unless_the_suite_sets_one():
    suite = load_suite("quick")
    sharding = runs_sharding()
    devices = 1 if sharding is None else len(sharding.device_set)
    assert run_chunk(suite, sharding) == CPU_CHUNK_PER_DEVICE * devices
    from dataclasses import replace
    assert run_chunk(replace(suite, chunk_size=100), sharding) == 100


def test_a_run_gives_the_same_bits_alone_and_in_a_large_batch():
    land = landscapes.get_landscape("rastrigin")  # multimodal: rounding changes the basin
    problem = Problem(land, OptimizerBuilder("momentum", "constant"), 60, transformed=True)
    runs = 1200
    rng = np.random.default_rng(0)
    hparams = optimizers.complete_config("momentum", "constant", {
        "learning_rate": 10 ** rng.uniform(-3, -1, runs), "momentum": rng.uniform(0, 0.95, runs)})
    box = land.start_box(2)
    matrix = np.array([[0.9, 0.2], [-0.1, 0.5]])
    batch = make_batch(problem, hparams, rng.uniform(box[:, 0], box[:, 1], (runs, 2)),
                       land.minimum(2), land.minimizer_array(2), shift=np.full((runs, 2), 0.3),
                       matrix=np.broadcast_to(matrix, (runs, 2, 2)))
    sharding = runs_sharding()
    chunk = 512
    whole, _ = run_batch(problem, batch, chunk_size=chunk, pad_to=chunk, sharding=sharding)
    alone, _ = run_batch(problem, {k: (v[700:732] if not isinstance(v, dict) else
                                       {n: a[700:732] for n, a in v.items()})
                                   for k, v in batch.items()},
                         chunk_size=chunk, pad_to=chunk, sharding=sharding)
    for field in ("steps_to_target", "final_gap", "best_gap", "final_x", "distance", "basin"):
        np.testing.assert_array_equal(getattr(alone, field), getattr(whole, field)[700:732],
                                      err_msg=field)


def test_precompile_serves_run_batch_and_hands_it_the_compile_time(monkeypatch, program_store):
    """A program compiled ahead from shapes (in a background thread, as run_suite does) is the one
    the job then runs: no second compile, and the job's cost still reports the compile time."""
    import threading

    from bench import engine
    from bench.throughput import Workload

    work = Workload(runs=300, steps=30, unroll=1, seed=7)
    problem, batch = work.problem(), work.batch()
    sharding = runs_sharding()
    lowered = []
    real = engine.compiled_sweep

    def counting(p):
        lowered.append(p)
        return real(p)

    monkeypatch.setattr(engine, "compiled_sweep", counting)
    thread = threading.Thread(target=engine.precompile, args=(problem, batch),
                              kwargs=dict(chunk_size=256, sharding=sharding, pad_to=256))
    thread.start()
    thread.join()
    metrics, cost = run_batch(problem, batch, chunk_size=256, sharding=sharding, pad_to=256)
    assert len(lowered) == 1 and cost.compile_seconds > 0
    _, again = run_batch(problem, batch, chunk_size=256, sharding=sharding, pad_to=256)
    assert len(lowered) == 1 and again.compile_seconds == 0
    plain, _ = run_batch(problem, batch, chunk_size=256, pad_to=256)  # unsharded: its own program
    np.testing.assert_array_equal(metrics.steps_to_target, plain.steps_to_target)
