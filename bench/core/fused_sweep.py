"""The fused GPU loop as the engine runs it: a sweep whose step loop is one kernel
(``bench.core.fused``), the scan's own initial carry and outcome around it, and the check that a
problem's step can run that way (``loop="fused"``)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from bench.core.programs import shapes_key
from bench.core.step import PER_RUN, OptimizerBuilder, Problem, _make_step, _one_run, _outcome, _per_run_vmap


def _initial_carries(problem: Problem, batch):
    """Every run's carry before its first step (the scan's own, vmapped)."""
    return _per_run_vmap(lambda run: _make_step(problem, run)[0])(batch)


def _broadcast_shared(batch):
    """The batch with its shared part repeated per run, inside the program (the fused kernel
    reads every input per run; the copies live on the device only)."""
    runs = len(batch["x0"])
    shared = jax.tree.map(lambda a: jnp.broadcast_to(a, (runs, *jnp.shape(a))), batch["shared"])
    return dict({k: batch[k] for k in PER_RUN}, shared=shared)


def _fused_step(problem: Problem) -> Callable:
    """One run's step as ``bench.core.fused.loop`` takes it: (run, carry, k) -> carry."""
    def step(run, carry, k):
        return _make_step(problem, run)[1](carry, k)[0]

    return step


def _fused_sweep(problem: Problem, batch):
    """The sweep with the step loop as one GPU kernel (``bench.core.fused``); the initial carry and the
    outcome are the scan's own code, vmapped."""
    import bench.core.fused as fused

    carry = _initial_carries(problem, batch)
    every = problem.trajectory_every
    out = fused.loop(_fused_step(problem), _broadcast_shared(batch), carry, problem.steps,
                     block=problem.block, keep=lambda carry: carry["x"], keep_every=every)
    outcome = functools.partial(_outcome, problem)
    per_run = {k: batch[k] for k in PER_RUN}
    if not every:
        return jax.vmap(lambda run, c: outcome(dict(run, shared=batch["shared"]), c))(per_run, out)
    return jax.vmap(lambda run, c, kept: outcome(dict(run, shared=batch["shared"]), c, kept))(
        per_run, *out)


_FUSED_CHECKED: dict[Any, str | None] = {}


def check_fused(problem: Problem, batch: Mapping[str, Any]) -> None:
    """Raise InputError in one line if ``problem`` cannot run with ``loop="fused"``. The answer is
    kept per (problem, per-run shapes): tracing the step for it cost ~30 ms a job, twice a job."""
    import bench.core.fused as fused
    from landscapes.errors import InputError

    one = _one_run(batch)
    key = (dataclasses.replace(problem, loop="scan"), shapes_key(one))
    if key not in _FUSED_CHECKED:
        carry = jax.eval_shape(functools.partial(_initial_carries, problem), one)
        try:
            fused.step_jaxpr(_fused_step(problem), _broadcast_shared(one), carry)
            _FUSED_CHECKED[key] = None
        except fused.Unsupported as error:
            where = problem.landscape.name  # the operation may be the optimizer's: name both
            if isinstance(problem.build, OptimizerBuilder):
                where += f" x {problem.build.family}/{problem.build.schedule}"
            _FUSED_CHECKED[key] = f"{where}: {error}; use loop='scan'"
    if _FUSED_CHECKED[key] is not None:
        raise InputError(_FUSED_CHECKED[key])
