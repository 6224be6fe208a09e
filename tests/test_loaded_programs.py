"""A long suite keeps a bounded number of compiled programs loaded: each loaded CPU program holds
~215 memory maps, and the bbob suite's 480 programs ended the process at about the 305th (Linux's
default vm.max_map_count, 65,530). Past ``bench.core.engine.MAX_LOADED_PROGRAMS`` the least
recently used program is dropped, and freed."""

from __future__ import annotations

import gc

import numpy as np

import landscapes
from bench.core import engine
from bench.core.engine import run_batch
from bench.core.step import Problem, make_batch
from bench.run.runner import OptimizerBuilder

NESTEROV = OptimizerBuilder("nesterov", "time_based")


def _run(steps: int):
    beale = landscapes.get_landscape("beale")
    problem = Problem(beale, NESTEROV, steps)
    runs = 4
    hparams = dict(learning_rate=np.full(runs, 1e-3), momentum=np.full(runs, 0.9),
                   decay=np.zeros(runs), warmup_steps=np.zeros(runs))
    x0 = np.random.default_rng(steps).uniform(-1, 1, (runs, 2))
    metrics, _ = run_batch(problem, make_batch(problem, hparams, x0, beale.minimum(),
                                               beale.minimizer_array()))
    return metrics


def _live_executables() -> int:
    import jax

    gc.collect()
    return len(jax.devices()[0].client.live_executables())


def test_past_the_cap_the_least_recently_used_program_is_dropped_and_freed(program_store, monkeypatch):
    monkeypatch.setattr(engine, "MAX_LOADED_PROGRAMS", 2)
    monkeypatch.setattr(engine, "_EXECUTABLES", {})
    _run(31)
    _run(32)
    live = _live_executables()
    for steps in (33, 34, 35, 36):  # four more programs, compiled afresh (an empty store)
        _run(steps)
    assert sorted(k[0].steps for k in engine._EXECUTABLES) == [35, 36]
    # the dropped ones are freed: nothing else keeps them (a cache of jitted functions did)
    assert _live_executables() <= live + 1
    again = _run(31)  # asked for again: loaded from the store, the same numbers
    np.testing.assert_array_equal(again.final_gap, _run(31).final_gap)
    assert sorted(k[0].steps for k in engine._EXECUTABLES) == [31, 36]


def test_a_program_used_again_is_the_most_recent(program_store, monkeypatch):
    monkeypatch.setattr(engine, "MAX_LOADED_PROGRAMS", 2)
    monkeypatch.setattr(engine, "_EXECUTABLES", {})
    _run(41)
    _run(42)
    _run(41)  # 41 is now more recent than 42
    _run(43)
    assert sorted(k[0].steps for k in engine._EXECUTABLES) == [41, 43]
