"""One run of the engine: the problem, the step with its metrics in the scan carry, the outcome.

A batch is any flattening of configs x start points x seeds x instances onto one runs axis. Every
hyperparameter is an array on that axis, so a new grid of values reuses the compiled program. Metrics
are accumulated in the scan carry (steps-to-target, best gap, divergence) instead of storing every
step: keeping each step's value in memory cost the prototype 8x in speed. ``bench.core.engine``
compiles and dispatches the vmapped sweep of this module's run.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.core.programs import code_key, optimizer_key
from bench.core.targets import CHAIN_MAX_TARGETS, COCO_TARGETS, _target_levels, first_hits_of_best
from landscapes.core import Landscape
from landscapes.instances import apply_instance, data_objective

LOOPS = ("scan", "fused")

# Builds the optax transformation from one run's traced hyperparameters; the engine never sees a
# family or schedule object, only this pure function, so user optimizers plug in unchanged.
BuildFn = Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]


class Status(enum.IntEnum):
    """How a run ended: a value per run, never an exception (diverging runs are data)."""

    CONVERGED = 0  # reached the finest target
    BUDGET = 1  # used every step without reaching the finest target
    DIVERGED = 2  # a non-finite value or iterate appeared


@dataclasses.dataclass(frozen=True)
class Problem:
    """The static part of a batch: what is compiled. Hashable, so it keys the compilation cache.

    Attributes:
      landscape: the function; its ``fn`` and ``noise_scale`` are used.
      build: hyperparameters -> optax transformation (see ``optimizers.make_optimizer``).
      steps: gradient evaluations per run (the budget).
      targets: gap thresholds tau; steps-to-target is the first step with f - f* <= tau.
      dtype: "float32" or "float64" for iterates, values and hyperparameters.
      transformed: whether runs carry an instance transform (shift, matrix); False = plain function.
      with_data: whether runs carry the landscape's own instance data (``Landscape.instance_data``,
        BBOB's instances) in ``shared["data"]``: f is ``data_formula(x, data)``, and one program
        serves every instance of a dimension.
      trajectory_every: keep every k-th iterate (0 = no trajectories).
      unroll: ``lax.scan`` unroll factor (a speed knob only; results are identical).
      loop: "scan" (XLA's while loop, any backend) or "fused" (the whole loop as one GPU kernel,
        ``bench.core.fused``: no gradient noise; equal to the scan up to the rounding
        of fused multiply-adds). A speed knob, like ``unroll``.
      block: runs per kernel instance of the fused loop (a power of two).
    """

    landscape: Landscape
    build: BuildFn
    steps: int
    targets: tuple[float, ...] = COCO_TARGETS
    dtype: str = "float32"
    transformed: bool = False
    trajectory_every: int = 0
    unroll: int = 2
    loop: str = "scan"
    block: int = 32
    with_data: bool = False

    def __post_init__(self):
        from landscapes.errors import InputError

        if self.loop not in LOOPS:
            raise InputError(f"loop must be one of {', '.join(LOOPS)}; got {self.loop!r}")
        if not isinstance(self.block, int) or self.block < 1 or self.block & (self.block - 1):
            raise InputError(f"block must be a power of two (32, 64, ...); got {self.block!r}")


@dataclasses.dataclass(frozen=True)
class OptimizerBuilder:
    """Hashable hparams -> optax transformation of a family and schedule, so equal optimizers share
    one compiled program (``bench.run.runner`` re-exports it).

    It keeps the family and schedule records it was made with (``records``: by default those
    registered under the names at that moment) and is equal to another builder only if both hold
    the very same records (``identity``). So a family registered again with ``replace=True`` (a
    notebook's edited optimizer) compiles its new code instead of reusing the replaced one's
    program, and a builder made before that keeps running the code its programs were compiled
    from. A cached program holds its builder, so the ids in ``identity`` cannot be reused while it
    is cached."""

    family: str
    schedule: str
    records: tuple[Any, Any] | None = dataclasses.field(default=None, compare=False, repr=False)
    identity: tuple[int, int] = dataclasses.field(default=(0, 0), init=False)

    def __post_init__(self) -> None:
        if self.records is None:
            import optimizers

            object.__setattr__(self, "records", (optimizers.get_family(self.family),
                                                 optimizers.get_schedule(self.schedule)))
        object.__setattr__(self, "identity", (id(self.records[0]), id(self.records[1])))

    def __call__(self, hparams):
        import optimizers

        return optimizers.make_optimizer(*self.records, hparams)

    def program_key(self) -> str | None:
        """What the built optimizer's program depends on (``bench.core.programs.optimizer_key``)."""
        return optimizer_key(*self.records)


class Batch(dict):
    """The inputs of a batch of runs of ONE landscape instance.

    Per run, with the runs axis first: ``hparams`` (dict name -> (R,)), ``x0`` (R, dim), ``key``
    (R, 2) uint32 noise keys. Shared by every run (``shared``, never copied per run): ``f_star``
    (), ``minimizers`` (k, dim), when transformed ``shift`` (dim,) and ``matrix`` (dim, dim)
    (see ``landscapes.instances``), and with the landscape's own instances ``data`` (a dict of
    arrays). A run's numbers depend on its own inputs alone: the program
    has one shape per backend (:func:`program_runs`), whatever the batch holds.
    """


PER_RUN = ("hparams", "x0", "key")


def _objective(problem: Problem, run: Mapping[str, Any]) -> Callable:
    if problem.with_data:
        return data_objective(problem.landscape, run["shared"]["data"])
    if problem.transformed:
        return apply_instance(problem.landscape, run["shared"]["shift"], run["shared"]["matrix"])
    return problem.landscape.fn


FORWARD_MODE_MAX_DIM = 4

# Steps to each target, two ways with the same results. Up to CHAIN_MAX_TARGETS targets, and on a
# GPU, the carry counts a histogram of target levels each step (``bench.core.targets``). With more
# targets (COCO's 51) on a CPU (the scan loop) that bookkeeping cost the headline sweep 1.7x its
# 8-target time, so there a run keeps every step's best gap instead and each target's first hit is
# a binary search of them after the loop: 51 targets then cost about what 8 do (docs/performance.md).
# The kept gaps are a block's runs times the budget (256 x 2,000 x 4 bytes = 2 MB a device); a GPU
# call holds up to 2^20 runs at once, and budgets past STORED_BEST_MAX_STEPS keep the histogram.
STORED_BEST_MAX_STEPS = 1 << 16


def stores_best(loop: str, steps: int, targets: int) -> bool:
    """Whether runs of a ``loop`` program of ``steps`` steps and ``targets`` targets keep every
    step's best gap (instead of a histogram of levels in the carry)."""
    return (targets > CHAIN_MAX_TARGETS and jax.default_backend() == "cpu" and loop != "fused"
            and steps <= STORED_BEST_MAX_STEPS)


def _gradient(objective: Callable, dim: int) -> Callable:
    """The gradient of f; forward mode (one JVP per coordinate) in low dimensions.

    Reverse mode turns every ``x[i]`` of a formula into a pad in the backward pass, and XLA's CPU
    backend then recomputes the forward pass inside each pad's fusion. For dim <=
    FORWARD_MODE_MAX_DIM, ``jacfwd`` costs dim JVPs that fuse into one pass; beyond it reverse mode's
    single backward pass is cheaper.
    """
    return jax.jacfwd(objective) if dim <= FORWARD_MODE_MAX_DIM else jax.grad(objective)


def _make_step(problem: Problem, run: Mapping[str, Any]):
    """The initial carry and the step function of one run (shared by the sweep and the FLOP count)."""
    dtype = jnp.dtype(problem.dtype)
    objective = _objective(problem, run)
    gradient = _gradient(objective, run["x0"].shape[-1])
    optimizer = problem.build(run["hparams"])
    stored = stores_best(problem.loop, problem.steps, len(problem.targets))
    levels = _target_levels(problem.targets, problem.steps, bool(jax.config.jax_enable_x64))
    descending = jnp.asarray(levels.descending, dtype)
    f_star = run["shared"]["f_star"]
    noise = problem.landscape.noise_scale

    x0 = run["x0"]
    carry = dict(
        x=x0,
        value=objective(x0),
        opt_state=optimizer.init(x0),
        best_gap=jnp.asarray(jnp.inf, dtype),
        diverged=jnp.asarray(False),
    )
    if not stored:
        carry["levels"] = levels.init()

    counted_gap = _gap_counter(problem, run["x0"].shape[-1], dtype)

    def step(carry, k):
        # f(x_k) was computed at the end of the previous step and is read from the carry: the
        # metric updates then read a stored value instead of each recomputing the landscape inside
        # its own fusion (XLA's CPU backend duplicates cheap producers into every consumer).
        x, value = carry["x"], carry["value"]
        grad = gradient(x)
        gap = counted_gap(x, value - f_star)
        if noise:
            # Stochastic gradient; the metrics use the exact value computed above.
            grad = grad + noise * jax.random.normal(jax.random.fold_in(run["key"], k), grad.shape,
                                                    dtype)
        updates, opt_state = optimizer.update(grad, carry["opt_state"], x)
        # A non-finite iterate makes the next value non-finite, and the last iterate is checked
        # after the scan, so checking the value alone here catches every divergence, cheaply.
        new_x = optax.apply_updates(x, updates)
        best = jnp.fmin(carry["best_gap"], gap)  # fmin skips NaN: a NaN gap reaches no target
        new = dict(
            x=new_x,
            value=objective(new_x),
            opt_state=opt_state,
            best_gap=best,
            diverged=carry["diverged"] | ~jnp.isfinite(value),
        )
        if stored:
            return new, best
        new["levels"] = levels.add(carry["levels"], best, descending)
        return new, None

    return carry, step, objective


def _gap_counter(problem: Problem, dim: int, dtype):
    """(x, gap) -> the gap that counts for targets and the best gap.

    Where f* is the minimum over the box only (``Landscape.bounded_domain``), a point outside the
    box counts as +inf: its value may lie below f*, and a run that escaped must not "succeed". The
    check costs 2 * dim comparisons a step, so landscapes without the flag skip it.
    """
    if not problem.landscape.bounded_domain:
        return lambda x, gap: gap
    box = jnp.asarray(problem.landscape.box(dim), dtype)

    def counted(x, gap):
        inside = jnp.all((x >= box[:, 0]) & (x <= box[:, 1]))
        return jnp.where(inside, gap, jnp.inf)

    return counted


def _single_run(problem: Problem, run: Mapping[str, Any]) -> dict[str, jax.Array]:
    """One run, written for one start point; the engine vmaps it over the runs axis."""
    carry, step, _ = _make_step(problem, run)
    carry, trajectory, bests = _scan_steps(problem, step, carry)
    return _outcome(problem, run, carry, trajectory, bests)


def _outcome(problem: Problem, run: Mapping[str, Any], carry, trajectory=None,
             bests=None) -> dict[str, jax.Array]:
    """One run's outputs from its carry after the last step (and its kept iterates)."""
    targets = jnp.asarray(problem.targets, problem.dtype)
    counted_gap = _gap_counter(problem, run["x0"].shape[-1], problem.dtype)
    # The scan checked f at x_0 .. x_{steps-1}; f(x_steps) is already in the carry.
    x_final = carry["x"]
    final_value = carry["value"]
    final_gap = final_value - run["shared"]["f_star"]
    diverged = carry["diverged"] | ~jnp.isfinite(final_value) | ~jnp.all(jnp.isfinite(x_final))
    if bests is None:
        levels = _target_levels(problem.targets, problem.steps, bool(jax.config.jax_enable_x64))
        in_loop = levels.first_hits(carry["levels"])
    else:
        in_loop = first_hits_of_best(bests, targets)
    # Not reached in the loop: reached at the last iterate (steps) or never (steps + 1, censored).
    at_end = jnp.where(counted_gap(x_final, final_gap) <= targets, problem.steps, problem.steps + 1)
    first_hit = jnp.where(in_loop < problem.steps, in_loop, at_end)
    distances = jnp.linalg.norm(run["shared"]["minimizers"] - x_final, axis=-1)
    reached_last = (first_hit[-1] <= problem.steps) & ~diverged
    status = jnp.where(diverged, int(Status.DIVERGED),
                       jnp.where(reached_last, int(Status.CONVERGED), int(Status.BUDGET)))
    out = dict(
        first_hit=first_hit.astype(narrowest_integer(problem.steps + 1)),
        final_gap=final_gap,
        best_gap=jnp.fmin(carry["best_gap"], counted_gap(x_final, final_gap)),
        final_x=x_final,
        distance=jnp.where(diverged, jnp.nan, jnp.min(distances)),
        basin=jnp.where(diverged, -1, jnp.argmin(distances)).astype(
            narrowest_integer(len(distances), signed=True)),
        status=status.astype(jnp.uint8),
    )
    if problem.trajectory_every:
        out["trajectory"] = jnp.concatenate([trajectory, x_final[None]], axis=0)
    return out


def _scan_steps(problem: Problem, step, carry):
    """Run ``problem.steps`` steps; with trajectories, keep x every ``trajectory_every`` steps only.

    Storing every step and slicing afterwards would keep the whole history in memory (which cost
    the prototype most of its speed); an outer scan over blocks emits one iterate per block instead.
    """

    def steps(carry, start, count):
        ks = start + jnp.arange(count, dtype=jnp.int32)
        return jax.lax.scan(step, carry, ks, unroll=max(1, min(problem.unroll, count)))

    every = problem.trajectory_every
    if not every:
        carry, bests = steps(carry, 0, problem.steps)
        return carry, None, bests
    blocks, rest = divmod(problem.steps, every)

    def block(carry, b):
        new, bests = steps(carry, b * every, every)
        return new, (carry["x"], bests)

    carry, (kept, bests) = jax.lax.scan(block, carry, jnp.arange(blocks, dtype=jnp.int32))
    bests = None if bests is None else bests.reshape(-1)
    if rest:
        kept = jnp.concatenate([kept, carry["x"][None]], axis=0)
        carry, last = steps(carry, blocks * every, rest)
        bests = None if last is None else jnp.concatenate([bests, last])
    return carry, kept, bests



def program_key(problem: Problem, shapes: str) -> str | None:
    """Everything that determines the compiled program of ``problem`` for inputs of ``shapes``,
    beyond :func:`bench.core.programs.environment_key`, as one string; None when part of it has no
    stable name (see :func:`bench.core.programs.code_key`): the landscape's formula and the fields the
    engine reads, the optimizer builder's own key, and every field of the problem."""
    land = problem.landscape
    formula = code_key(land.formula)
    bounds = code_key(land.bounds) if callable(land.bounds) else repr(land.bounds)
    build_key = getattr(problem.build, "program_key", None)
    build = build_key() if callable(build_key) else None
    if formula is None or bounds is None or build is None:
        return None
    parts = ["sweep", land.name, formula, land.noise_scale, land.bounded_domain, bounds, build,
             problem.steps, problem.targets, problem.dtype, problem.transformed,
             problem.trajectory_every, problem.unroll, problem.loop, problem.block, shapes]
    if stores_best(problem.loop, problem.steps, len(problem.targets)):
        parts.append("best:kept")  # first hits from every step's best gap, not the carry's histogram
    if problem.with_data:  # only then, so the other programs keep their stored keys
        data_formula = code_key(land.data_formula)
        if data_formula is None:
            return None
        parts.append(f"data:{data_formula}")
    return "|".join(map(str, parts))


def _one_run(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The first run of ``batch`` (per-run leaves cut to one row; the shared part as it is)."""
    return dict({k: jax.tree.map(lambda a: np.asarray(a)[:1], batch[k]) for k in PER_RUN},
                shared=batch["shared"])


def _per_run_vmap(fn: Callable) -> Callable:
    """vmap of ``fn(run)`` over the per-run leaves of a batch; ``shared`` enters unbatched."""
    def mapped(batch):
        per_run = {k: batch[k] for k in PER_RUN}
        return jax.vmap(lambda run: fn(dict(run, shared=batch["shared"])))(per_run)

    return mapped



def narrowest_integer(largest: int, *, signed: bool = False) -> np.dtype:
    """The narrowest integer dtype holding 0 .. ``largest`` (and -1 when ``signed``): the program's
    outputs are as small as their information, so less travels to the host."""
    for bits in (8, 16, 32):
        if largest < 2 ** (bits - 1 if signed else bits):
            return np.dtype(f"{'int' if signed else 'uint'}{bits}")
    return np.dtype(np.int64)


class Metrics:
    """Per-run outcomes of a batch, as numpy arrays with the runs axis first.

    Each field is unpacked from the program's packed outputs (``first_hit`` in the narrowest
    integer, ``status`` as bytes, ``basin`` narrow) on its first read, vectorised, and kept.

    Attributes:
      steps_to_target: (R, T) int32 gradient evaluations until gap <= tau, censored at the budget.
      reached: (R, T) whether each target was reached within the budget.
      final_gap, best_gap: (R,) f - f* at the last iterate, and the lowest seen.
      distance: (R,) distance from the last iterate to the NEAREST global minimizer (NaN if diverged).
      basin: (R,) int32 index of that minimizer (-1 if diverged).
      diverged: (R,) a non-finite value or iterate appeared.
      status: (R,) int8 ``Status`` codes.
      final_x: (R, dim); trajectory: (R, K, dim) or None.
    """

    FIELDS = ("steps_to_target", "reached", "final_gap", "best_gap", "distance", "basin",
              "diverged", "status", "final_x", "trajectory")

    def __init__(self, raw: Mapping[str, Any], steps: int):
        self._raw = raw
        self._steps = steps

    @functools.cached_property
    def diverged(self) -> np.ndarray:
        return self._raw["status"] == Status.DIVERGED

    @functools.cached_property
    def reached(self) -> np.ndarray:
        return (self._raw["first_hit"] <= self._steps) & ~self.diverged[:, None]

    @functools.cached_property
    def steps_to_target(self) -> np.ndarray:
        # Reached: the first hit (<= steps); not reached: censored at the budget (a first hit of
        # steps + 1, or a diverged run).
        out = np.minimum(self._raw["first_hit"], self._steps, dtype=np.int32)
        out[self.diverged] = self._steps
        return out

    @functools.cached_property
    def status(self) -> np.ndarray:
        return self._raw["status"].astype(np.int8)

    @functools.cached_property
    def basin(self) -> np.ndarray:
        return self._raw["basin"].astype(np.int32)

    # Floats as the program returned them (the problem's dtype): nothing to unpack.
    final_gap = property(lambda self: self._raw["final_gap"])
    best_gap = property(lambda self: self._raw["best_gap"])
    distance = property(lambda self: self._raw["distance"])
    final_x = property(lambda self: self._raw["final_x"])
    trajectory = property(lambda self: self._raw.get("trajectory"))


def to_metrics(raw: Mapping[str, Any], steps: int) -> Metrics:
    """The device outputs of a sweep as :class:`Metrics` (host side, after the timed part)."""
    return Metrics({k: np.asarray(v) for k, v in jax.device_get(dict(raw)).items()}, steps)


def make_batch(problem: Problem, hparams: Mapping[str, Any], x0, f_star, minimizers, *, key=None,
               shift=None, matrix=None, data=None) -> dict[str, Any]:
    """Build a batch (see :class:`Batch`) with consistent dtypes.

    Args:
      hparams: name -> scalar or (R,) values.
      x0: (R, dim) start points; R is taken from here.
      f_star: the scalar minimum; minimizers: (k, dim).
      key: (R, 2) uint32 PRNG keys for gradient noise (defaults to zeros: unused without noise).
      shift, matrix: the instance transform, (dim,) and (dim, dim), required when
        ``problem.transformed``; shared by every run, never copied per run.
      data: the landscape's own instance data (name -> array), required when ``problem.with_data``;
        shared likewise, in the problem's dtype.
    """
    dtype = np.dtype(problem.dtype)
    x0 = np.asarray(x0, dtype)
    runs, dim = x0.shape
    minimizers = np.asarray(minimizers, dtype)
    if minimizers.ndim != 2 or np.ndim(f_star) != 0:
        raise ValueError("a batch holds runs of one instance: f_star is a scalar and minimizers"
                         " (k, dim); make one batch per instance")
    shared = dict(f_star=np.asarray(f_star, dtype), minimizers=minimizers)
    if problem.transformed:
        shared["shift"] = np.asarray(shift, dtype).reshape(dim)
        shared["matrix"] = np.asarray(matrix, dtype).reshape(dim, dim)
    if problem.with_data:
        shared["data"] = {k: np.asarray(v, dtype) for k, v in data.items()}
    return dict(
        hparams={k: np.broadcast_to(np.asarray(v, dtype), (runs,)) for k, v in hparams.items()},
        x0=x0,
        key=np.zeros((runs, 2), np.uint32) if key is None else np.asarray(key, np.uint32),
        shared=shared,
    )

