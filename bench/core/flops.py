"""XLA's FLOP count of one optimizer step, kept per program beside the compilation cache."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from bench.core.programs import environment_key, shapes_key, write_whole
from bench.core.step import Problem, _make_step, _one_run, _per_run_vmap, program_key


_STEP_FLOPS: dict[Any, float | None] = {}


def step_flops(problem: Problem, batch: Mapping[str, Any]) -> float | None:
    """XLA's cost-analysis FLOPs of ONE optimizer step of one run (metrics included).

    XLA counts a while loop's body once, whatever its trip count, so the sweep's own figure is not a
    per-step count; a single vmapped step gives one directly. Cached per problem and per-run shapes:
    it depends on the program, not on the values.
    """
    one = _one_run(batch)
    shapes = shapes_key(one)
    # One step's arithmetic does not depend on how the loop runs: count it once for both loops.
    problem = dataclasses.replace(problem, loop="scan", block=Problem.block)
    key = (problem, shapes)
    if key not in _STEP_FLOPS:
        stored = _StoredFlops.key(problem, shapes)
        flops = _StoredFlops.get(stored)
        if flops is None:
            flops = _count_step_flops(problem, one)
            _StoredFlops.put(stored, flops)
        _STEP_FLOPS[key] = flops
    return _STEP_FLOPS[key]


class _StoredFlops:
    """XLA's per-step FLOP counts kept beside the persistent compilation cache, like it.

    Counting lowers a one-step program, about 0.1 s each on the 2-core CPU, 35 of them (3.5 s) in
    a default-suite run even when every sweep loads from the compilation cache. The count is a
    property of the program, so it is stored under :func:`program_key` and recounted whenever
    anything that determines the program changes. Problems without a stable key (a bare function
    as the optimizer, a landscape from user code) are always counted afresh.
    """

    @staticmethod
    def _path():
        from bench.core.jax_setup import cache_enabled, cache_root

        return cache_root() / "step_flops.json" if cache_enabled() else None

    @staticmethod
    def key(problem: Problem, shapes: str) -> str | None:
        key = program_key(problem, shapes)
        return None if key is None else f"{environment_key()}|{key}"

    @classmethod
    def _load(cls) -> dict:
        path = cls._path()
        try:
            return json.loads(path.read_text()) if path is not None and path.exists() else {}
        except (OSError, ValueError):
            return {}

    @classmethod
    def get(cls, key: str | None) -> float | None:
        return None if key is None else cls._load().get(key)

    @classmethod
    def put(cls, key: str | None, flops: float | None) -> None:
        path = cls._path()
        if key is None or flops is None or path is None:
            return
        table = cls._load()
        table[key] = flops
        write_whole(path, json.dumps(table, sort_keys=True).encode())



def _count_step_flops(problem: Problem, one: Mapping[str, Any]) -> float | None:
    def one_step(run):
        carry, step, _ = _make_step(problem, run)
        return step(carry, jnp.int32(0))[0]

    lowered = jax.jit(_per_run_vmap(one_step)).lower(one)
    flops = None
    # The lowered (pre-optimization) module's analysis needs no compile, which matters when a suite
    # has dozens of programs; some backends (GPU) only analyse the compiled module.
    for analyse in (lowered.cost_analysis, lambda: lowered.compile().cost_analysis()):
        try:
            analysis = analyse()
        except Exception:  # cost analysis is optional on some backends
            continue
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0] if analysis else {}
        flops = (analysis or {}).get("flops")
        if flops:
            break
    return None if flops is None or flops <= 0 else float(flops)

