"""The engine: a batch of optimizer runs on one landscape as ONE jitted, vmapped ``lax.scan``.

A batch is any flattening of configs x start points x seeds x instances onto one runs axis. Every
hyperparameter is an array on that axis, so a new grid of values reuses the compiled program. Metrics
are accumulated in the scan carry (steps-to-target, best gap, divergence) instead of storing every
step: keeping each step's value in memory cost the prototype 8x in speed (DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.core.programs import (code_key, compile_stored, environment_key, named, optimizer_key, shapes_key,
                            write_whole)
from landscapes.core import Landscape
from landscapes.instances import apply_instance, data_objective

LOOPS = ("scan", "fused")
COCO_TARGETS: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
# COCO's 51 targets (cocopp's runtime ECDFs): 10^2 down to 10^-8, five per decade. The exponents are
# multiples of 0.2 made from integers, so 1e2 .. 1e-8 are the very floats written so (a test checks).
COCO51_TARGETS: tuple[float, ...] = tuple(10.0 ** ((10 - k) / 5) for k in range(51))

# Builds the optax transformation from one run's traced hyperparameters; the engine never sees a
# family or schedule object, only this pure function, so user optimizers plug in unchanged.
BuildFn = Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]


class Status(enum.IntEnum):
    """How a run ended (STYLE.md rule 7: status is a value)."""

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


def _gradient(objective: Callable, dim: int) -> Callable:
    """The gradient of f; forward mode (one JVP per coordinate) in low dimensions.

    Reverse mode turns every ``x[i]`` of a formula into a pad in the backward pass, and XLA's CPU
    backend then recomputes the forward pass inside each pad's fusion. For dim <=
    FORWARD_MODE_MAX_DIM, ``jacfwd`` costs dim JVPs that fuse into one pass; beyond it reverse mode's
    single backward pass is cheaper.
    """
    return jax.jacfwd(objective) if dim <= FORWARD_MODE_MAX_DIM else jax.grad(objective)


class _TargetLevels:
    """Steps-to-target of every target from a histogram of ``levels``, packed into a few integers.

    The targets are nested (gap <= 1e-8 implies gap <= 1e-7 ...), so with the best gap so far the
    number of targets reached, the level, only grows, and target j is first hit after exactly as many
    steps as were spent below its level. Each step therefore adds 1 to the field of its level in a
    histogram whose fields (each wide enough for the budget: 11 bits for 2,000 steps) are packed into
    int64 words, one scalar per word (2 for COCO's 8 targets). Against one counter per target
    (a compare, a test and a select per target each step) this made the headline sweep 1.12-1.14x
    faster on the 2-core CPU, same-process A/B, identical results (docs/performance.md).
    """

    def __init__(self, targets: tuple[float, ...], steps: int):
        t = np.asarray(targets, np.float64)
        self.count = len(t)
        self.descending = np.sort(t)[::-1]  # level l is reached when best <= descending[l - 1]
        # rank_j: targets at least t_j; target j is reached <=> level >= rank_j.
        self.rank = np.array([int((t >= tj).sum()) for tj in t])
        self.bits = max(1, int(steps).bit_length())  # a field counts 0 .. steps
        wide = bool(jax.config.jax_enable_x64)
        self.dtype = jnp.int64 if wide else jnp.int32
        self.per_word = (63 if wide else 31) // self.bits  # never the sign bit
        if self.per_word == 0:
            raise ValueError(f"steps={steps} is too large a budget to count (at most 2**31 - 1)")
        # Fields for levels 0 .. count - 1; at level == count every target is reached already.
        self.words = max(1, -(-self.count // self.per_word))

    def _increment(self, level: int, word: int) -> int:
        """What a step at ``level`` adds to ``word``."""
        if level >= self.count or level // self.per_word != word:
            return 0
        return 1 << (self.bits * (level % self.per_word))

    def init(self) -> tuple[jax.Array, ...]:
        return tuple(jnp.zeros((), self.dtype) for _ in range(self.words))

    def add(self, words: tuple[jax.Array, ...], best: jax.Array, targets: jax.Array):
        """Count one step at the level of ``best`` (NaN reaches no level)."""
        new = []
        for w, word in enumerate(words):
            increment = jnp.asarray(self._increment(0, w), self.dtype)
            for level in range(1, self.count + 1):  # nested conditions: the last true one wins
                if self._increment(level, w) != self._increment(level - 1, w):
                    increment = jnp.where(best <= targets[level - 1],
                                          jnp.asarray(self._increment(level, w), self.dtype),
                                          increment)
            new.append(word + increment)
        return tuple(new)

    def first_hits(self, words: tuple[jax.Array, ...]) -> jax.Array:
        """(count,) steps taken before each target was reached; ``steps`` if it never was."""
        mask = (1 << self.bits) - 1
        spent = [(words[level // self.per_word] >> (self.bits * (level % self.per_word))) & mask
                 for level in range(self.count)]
        below = jnp.cumsum(jnp.stack([jnp.zeros((), self.dtype), *spent]))
        return below[jnp.asarray(self.rank)]


class _TargetTable(_TargetLevels):
    """The same histogram for many targets (COCO's 51), found by table look-ups instead of chains.

    The chain of ``_TargetLevels.add`` costs a compare and a select per target and word each step:
    with 51 targets the headline sweep ran 1.70x slower than with 8 (docs/performance.md). Here the
    level comes from the bit pattern of the best gap, which orders positive floats as integers: its
    top bits (sign, exponent and ``mantissa_bits`` more) pick a bucket holding at most one target
    value, so level = levels below the bucket + (best <= that target). The increment of every word
    at once is then one row of a (levels + 1, words) table, added to the words kept as one array.
    Exact: the same first hits as the chain (tests/test_target_levels.py).
    """

    MAX_MANTISSA_BITS = 8  # finer buckets than 2^-8 of a binade: the chain instead
    MAX_BUCKETS = 1 << 16  # entries of one table

    def __init__(self, targets: tuple[float, ...], steps: int):
        super().__init__(targets, steps)
        self._tables: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        self.increments = np.array([[self._increment(level, w) for w in range(self.words)]
                                    for level in range(self.count + 1)], dtype=np.int64)
        # Both float widths, so the carry's form does not depend on the dtype.
        self.table = all(self.buckets(t) is not None for t in (np.float32, np.float64))

    def buckets(self, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """(levels below each bucket, its target or -inf, that target's multiplicity, the shift
        from the bit pattern to the bucket) for gaps of ``dtype``; None if no bucket size works."""
        dtype = np.dtype(dtype)
        if dtype.name not in self._tables:
            self._tables[dtype.name] = self._make_buckets(dtype)
        return self._tables[dtype.name]

    def _make_buckets(self, dtype: np.dtype):
        unsigned = np.dtype(f"uint{8 * dtype.itemsize}")
        mantissa = np.finfo(dtype).nmant
        values = self.descending.astype(dtype)  # the values the chain compares against
        if not np.all(values > 0):
            return None
        patterns = values.view(unsigned).astype(np.uint64)
        for extra in range(self.MAX_MANTISSA_BITS + 1):
            shift = mantissa - extra
            index = (patterns >> np.uint64(shift)).astype(np.int64)
            size = 1 << (8 * dtype.itemsize - shift)
            if size > self.MAX_BUCKETS:
                break
            if any(len(set(values[index == b].tolist())) > 1 for b in set(index.tolist())):
                continue  # two different targets share a bucket: finer buckets
            below = np.zeros(size, np.int32)
            threshold = np.full(size, -np.inf, dtype)
            multiplicity = np.zeros(size, np.int32)
            counts = np.bincount(index, minlength=size)
            # Levels reached by every value in bucket b: the targets in buckets above it.
            below[:size // 2] = (self.count - np.cumsum(counts[:size // 2])).astype(np.int32)
            below[size // 2:] = self.count  # negative gaps (rounding below f*) reach every level
            for b in set(index.tolist()):
                threshold[b] = values[index == b][0]
                multiplicity[b] = counts[b]
            return below, threshold, multiplicity, shift
        return None

    def init(self):
        if not self.table:
            return super().init()
        return (jnp.zeros((self.words,), self.dtype),)

    def add(self, words, best, targets):
        if not self.table:
            return super().add(words, best, targets)
        below, threshold, multiplicity, shift = self.buckets(targets.dtype)
        unsigned = jnp.dtype(f"uint{8 * best.dtype.itemsize}")
        bucket = (jax.lax.bitcast_convert_type(best, unsigned) >> shift).astype(jnp.int32)
        level = jnp.asarray(below)[bucket] + jnp.where(best <= jnp.asarray(threshold)[bucket],
                                                       jnp.asarray(multiplicity)[bucket], 0)
        return (words[0] + jnp.asarray(self.increments, self.dtype)[level],)

    def first_hits(self, words):
        if self.table:
            words = tuple(words[0][w] for w in range(self.words))
        return super().first_hits(words)


# Past this many targets the level histogram is found by table look-ups (``_TargetTable``).
CHAIN_MAX_TARGETS = 8


@functools.lru_cache(maxsize=64)
def _target_levels(targets: tuple[float, ...], steps: int, wide: bool) -> _TargetLevels:
    """One ``_TargetLevels`` per (targets, budget, integer width), shared by the step and the
    read-out after the loop (``wide``: whether 64-bit integers are on, which sets its words)."""
    if len(targets) > CHAIN_MAX_TARGETS:
        return _TargetTable(targets, steps)
    return _TargetLevels(targets, steps)


def _make_step(problem: Problem, run: Mapping[str, Any]):
    """The initial carry and the step function of one run (shared by the sweep and the FLOP count)."""
    dtype = jnp.dtype(problem.dtype)
    objective = _objective(problem, run)
    gradient = _gradient(objective, run["x0"].shape[-1])
    optimizer = problem.build(run["hparams"])
    levels = _target_levels(problem.targets, problem.steps, bool(jax.config.jax_enable_x64))
    descending = jnp.asarray(levels.descending, dtype)
    f_star = run["shared"]["f_star"]
    noise = problem.landscape.noise_scale

    x0 = run["x0"]
    carry = dict(
        x=x0,
        value=objective(x0),
        opt_state=optimizer.init(x0),
        levels=levels.init(),
        best_gap=jnp.asarray(jnp.inf, dtype),
        diverged=jnp.asarray(False),
    )

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
            levels=levels.add(carry["levels"], best, descending),
            best_gap=best,
            diverged=carry["diverged"] | ~jnp.isfinite(value),
        )
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
    carry, trajectory = _scan_steps(problem, step, carry)
    return _outcome(problem, run, carry, trajectory)


def _outcome(problem: Problem, run: Mapping[str, Any], carry, trajectory=None) -> dict[str, jax.Array]:
    """One run's outputs from its carry after the last step (and its kept iterates)."""
    targets = jnp.asarray(problem.targets, problem.dtype)
    counted_gap = _gap_counter(problem, run["x0"].shape[-1], problem.dtype)
    # The scan checked f at x_0 .. x_{steps-1}; f(x_steps) is already in the carry.
    x_final = carry["x"]
    final_value = carry["value"]
    final_gap = final_value - run["shared"]["f_star"]
    diverged = carry["diverged"] | ~jnp.isfinite(final_value) | ~jnp.all(jnp.isfinite(x_final))
    levels = _target_levels(problem.targets, problem.steps, bool(jax.config.jax_enable_x64))
    in_loop = levels.first_hits(carry["levels"])
    # Not reached in the loop: reached at the last iterate (steps) or never (steps + 1, censored).
    at_end = jnp.where(counted_gap(x_final, final_gap) <= targets, problem.steps, problem.steps + 1)
    first_hit = jnp.where(in_loop < problem.steps, in_loop, at_end).astype(jnp.int32)
    distances = jnp.linalg.norm(run["shared"]["minimizers"] - x_final, axis=-1)
    out = dict(
        first_hit=first_hit,
        final_gap=final_gap,
        best_gap=jnp.fmin(carry["best_gap"], counted_gap(x_final, final_gap)),
        final_x=x_final,
        distance=jnp.where(diverged, jnp.nan, jnp.min(distances)),
        basin=jnp.where(diverged, -1, jnp.argmin(distances)).astype(jnp.int32),
        diverged=diverged,
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
        carry, _ = jax.lax.scan(lambda c, k: (step(c, k)[0], None), carry, ks,
                                unroll=max(1, min(problem.unroll, count)))
        return carry

    every = problem.trajectory_every
    if not every:
        return steps(carry, 0, problem.steps), None
    blocks, rest = divmod(problem.steps, every)

    def block(carry, b):
        return steps(carry, b * every, every), carry["x"]

    carry, kept = jax.lax.scan(block, carry, jnp.arange(blocks, dtype=jnp.int32))
    if rest:
        kept = jnp.concatenate([kept, carry["x"][None]], axis=0)
        carry = steps(carry, blocks * every, rest)
    return carry, kept


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


@functools.lru_cache(maxsize=256)
def compiled_sweep(problem: Problem, sharding=None) -> Callable:
    """``jit(vmap(run))`` for ``problem``: traced once per (problem, batch shapes, placement).
    Named after its program key (``bench.core.programs.named``) where it has one.

    Its arguments are (per-run inputs, shared inputs, blocks). On a CPU the per-run inputs of each
    device are CPU_BLOCKS blocks of CPU_RUNS_PER_DEVICE rows and the program runs the first
    ``blocks`` of them, one after another, through the same code (see :func:`_blocked`);
    elsewhere ``blocks`` is unused and every row runs at once."""
    def sweep(per_run, shared, blocks):
        batch = dict(per_run, shared=shared)
        if problem.loop == "fused":
            return _fused_sweep(problem, batch)
        run_all = _per_run_vmap(functools.partial(_single_run, problem))
        devices = 1 if sharding is None else len(sharding.device_set)
        rows = per_run["x0"].shape[0] // devices
        if jax.default_backend() != "cpu" or rows % CPU_RUNS_PER_DEVICE or rows == 0:
            return run_all(batch)
        return _blocked(run_all, per_run, shared, blocks, sharding)

    return jax.jit(named(sweep, program_key(problem, "")))


ALL_BLOCKS = np.int32(2**31 - 1)  # ``blocks`` for a call whose every block holds runs


def _blocked(run_all: Callable, per_run, shared, blocks, sharding):
    """``run_all`` over a CPU device's rows in blocks of CPU_RUNS_PER_DEVICE: a loop whose body is
    one block, so every run goes through the same code whatever the call holds, and ``blocks`` (a
    traced count) blocks run while the rest are skipped. One call of up to CPU_BLOCKS blocks per
    device costs one dispatch (the host's part of a million runs: ~2.2 us a run in calls of one
    block, docs/performance.md)."""
    from jax.sharding import PartitionSpec

    def per_device(per_run, shared, blocks):
        rows = jax.tree.leaves(per_run)[0].shape[0]
        count = rows // CPU_RUNS_PER_DEVICE
        split = jax.tree.map(lambda a: a.reshape((count, CPU_RUNS_PER_DEVICE, *a.shape[1:])), per_run)
        first = jax.tree.map(lambda a: a[0], split)
        shapes = jax.eval_shape(lambda b: run_all(dict(b, shared=shared)), first)
        outs = jax.tree.map(lambda o: jnp.zeros((count, *o.shape), o.dtype), shapes)

        def body(k, outs):
            block = jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, k, keepdims=False), split)
            done = run_all(dict(block, shared=shared))
            return jax.tree.map(lambda o, r: jax.lax.dynamic_update_index_in_dim(o, r, k, 0),
                                outs, done)

        outs = jax.lax.fori_loop(0, jnp.minimum(blocks, count), body, outs)
        return jax.tree.map(lambda o: o.reshape((rows, *o.shape[2:])), outs)

    if sharding is None:
        return per_device(per_run, shared, blocks)
    return jax.shard_map(per_device, mesh=sharding.mesh,
                         in_specs=(PartitionSpec("runs"), PartitionSpec(), PartitionSpec()),
                         out_specs=PartitionSpec("runs"), check_vma=False)(per_run, shared, blocks)


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


@dataclasses.dataclass(frozen=True)
class Metrics:
    """Per-run outcomes of a batch, as numpy arrays with the runs axis first.

    Attributes:
      steps_to_target: (R, T) gradient evaluations until gap <= tau, censored at the budget.
      reached: (R, T) whether each target was reached within the budget.
      final_gap, best_gap: (R,) f - f* at the last iterate, and the lowest seen.
      distance: (R,) distance from the last iterate to the NEAREST global minimizer (NaN if diverged).
      basin: (R,) index of that minimizer (-1 if diverged).
      diverged: (R,) a non-finite value or iterate appeared.
      status: (R,) ``Status`` codes.
      final_x: (R, dim); trajectory: (R, K, dim) or None.
    """

    steps_to_target: np.ndarray
    reached: np.ndarray
    final_gap: np.ndarray
    best_gap: np.ndarray
    distance: np.ndarray
    basin: np.ndarray
    diverged: np.ndarray
    status: np.ndarray
    final_x: np.ndarray
    trajectory: np.ndarray | None = None


def to_metrics(raw: Mapping[str, Any], steps: int) -> Metrics:
    """Turn the device outputs of a sweep into :class:`Metrics` (host side, after the timed part)."""
    raw = jax.device_get(raw)
    first_hit = np.asarray(raw["first_hit"])
    diverged = np.asarray(raw["diverged"])
    reached = (first_hit <= steps) & ~diverged[:, None]
    status = np.where(diverged, Status.DIVERGED,
                      np.where(reached[:, -1], Status.CONVERGED, Status.BUDGET)).astype(np.int8)
    return Metrics(
        steps_to_target=np.where(reached, first_hit, steps).astype(np.int32),
        reached=reached,
        final_gap=np.asarray(raw["final_gap"]),
        best_gap=np.asarray(raw["best_gap"]),
        distance=np.asarray(raw["distance"]),
        basin=np.asarray(raw["basin"]),
        diverged=diverged,
        status=status,
        final_x=np.asarray(raw["final_x"]),
        trajectory=None if raw.get("trajectory") is None else np.asarray(raw["trajectory"]),
    )


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


@dataclasses.dataclass(frozen=True)
class Cost:
    """What a batch cost. Compile time is measured apart from run time (AOT lower/compile)."""

    compile_seconds: float
    run_seconds: float
    runs: int
    steps: int

    @property
    def steps_per_second(self) -> float:
        return self.runs * self.steps / self.run_seconds if self.run_seconds > 0 else float("nan")


_EXECUTABLES: dict[Any, Any] = {}
_COMPILE_LOCKS: dict[Any, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()

# Runs per device in one call of a compiled sweep on a CPU. XLA's CPU code for a batch depends on
# its size (vector loops and their remainders, how a kernel is split over threads), and so do the
# last bits of a run's numbers: every call therefore has this one shape, padded, whatever the job
# holds, so a run's numbers are a function of the run alone. 256 was also the fastest chunk on the
# 2-core machine (docs/performance.md).
CPU_RUNS_PER_DEVICE = 256
# On a GPU each run is one thread of the same code at any batch size; a call holds the batch
# rounded up to a power of two (at least this many runs per device, at most GPU_MAX_RUNS).
# Blocks of CPU_RUNS_PER_DEVICE rows per device in one call (see ``_blocked``): a call costs one
# dispatch however many of its blocks hold runs.
CPU_BLOCKS = 32
GPU_MIN_RUNS = 4096
GPU_MAX_RUNS = 1 << 20


def program_runs(runs: int, sharding=None) -> int:
    """Runs in one call of a sweep's program (padded) for a batch of ``runs`` runs."""
    devices = 1 if sharding is None else len(sharding.device_set)
    if jax.default_backend() == "cpu":
        return CPU_BLOCKS * CPU_RUNS_PER_DEVICE * devices
    per_device = max(1, -(-runs // devices))
    per_device = 1 << (per_device - 1).bit_length()
    return min(max(per_device, GPU_MIN_RUNS), GPU_MAX_RUNS) * devices


def _replicated(sharding):
    from jax.sharding import NamedSharding, PartitionSpec

    if sharding is None:
        return None
    return NamedSharding(sharding.mesh, PartitionSpec())


def _executable(problem: Problem, arguments, sharding, *, claim: bool = True):
    """AOT-compiled sweep for this problem and (per-run chunk, shared) shapes; returns
    (executable, compile seconds).

    ``arguments`` may hold arrays or ``jax.ShapeDtypeStruct``s (``precompile``). The compile seconds
    go to the first caller that ``claim``s the program (later ones get 0), so a job whose program
    a background thread compiled (``claim=False``) still reports what it cost to compile.
    """
    shapes = shapes_key(arguments)
    key = (problem, shapes, sharding)
    with _LOCKS_GUARD:
        lock = _COMPILE_LOCKS.setdefault(key, threading.Lock())
    with lock:  # one compile per program, however many threads ask for it
        if key not in _EXECUTABLES:
            start = time.perf_counter()
            executable = compile_stored(program_key(problem, shapes),
                                        lambda: compiled_sweep(problem, sharding).lower(*arguments),
                                        sharding)
            _EXECUTABLES[key] = [executable, time.perf_counter() - start]
        entry = _EXECUTABLES[key]
        if not claim:
            return entry[0], 0.0
        seconds, entry[1] = entry[1], 0.0
        return entry[0], seconds


def _abstract(batch: Mapping[str, Any], padded: int, sharding):
    """(per-run chunk, shared) as shapes, placed as ``run_chunks`` places them."""
    per_run = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct((padded, *np.shape(a)[1:]), np.asarray(a).dtype,
                                       sharding=sharding), {k: batch[k] for k in PER_RUN})
    shared = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype,
                                                         sharding=_replicated(sharding)),
                          batch["shared"])
    blocks = jax.ShapeDtypeStruct((), np.int32, sharding=_replicated(sharding))
    return per_run, shared, blocks


def precompile(problem: Problem, batch: Mapping[str, Any], *, sharding=None) -> None:
    """Compile the program ``run_batch`` will use for this batch, from shapes alone, so a caller
    can compile the next job's program in a thread while the current one runs."""
    padded = program_runs(len(batch["x0"]), sharding)
    _executable(problem, _abstract(batch, padded, sharding), sharding, claim=False)


class CostMeter:
    """Compile and run seconds of the calls of one or more streams (see :func:`run_chunks`)."""

    def __init__(self) -> None:
        self.compile_seconds = 0.0
        self.run_seconds = 0.0
        self.runs = 0

    def cost(self, steps: int) -> Cost:
        return Cost(self.compile_seconds, self.run_seconds, self.runs, steps)


def run_chunks(problem: Problem, shared: Mapping[str, Any], runs: int,
               chunk: Callable[[int, int], Mapping[str, Any]], *, sharding=None,
               meter: CostMeter | None = None):
    """Run ``runs`` runs in calls of :func:`program_runs` runs; yields (first run, host outputs)
    per call, in order. ``chunk(start, stop)`` makes the per-run inputs of runs [start, stop) (a
    dict with the :data:`PER_RUN` keys) when they are needed, so a sweep of any size holds one
    call's inputs and outputs at a time (plus the next call's, in flight).

    Call k + 1 is placed and dispatched (asynchronously) before call k's results are fetched, so
    the host's work overlaps the devices'. Run time is the wall time from the first dispatch to
    the last result, compiles excluded."""
    if problem.loop == "fused":
        check_fused(problem, dict(chunk(0, min(runs, 1)), shared=shared))
    meter = meter if meter is not None else CostMeter()
    size = program_runs(runs, sharding)
    rows = _real_rows(size, sharding)  # where a call's real runs sit; the other rows are padding
    shared_device = jax.device_put(dict(shared), _replicated(sharding)) if sharding is not None \
        else jax.device_put(dict(shared))
    pending = None
    began = None
    for start in range(0, runs, len(rows)):
        stop = min(start + len(rows), runs)
        part = {k: v for k, v in chunk(start, stop).items() if k in PER_RUN}
        n = stop - start
        where = rows[:n]
        if n != size:  # the other rows repeat run 0 of the call; they are dropped after
            part = jax.tree.map(lambda a: _placed(np.asarray(a), where, size), part)
        part = jax.device_put(part, sharding) if sharding is not None else jax.device_put(part)
        blocks = _blocks_used(n, size, sharding)
        blocks = jax.device_put(np.int32(blocks), _replicated(sharding)) if sharding is not None \
            else np.int32(blocks)
        executable, seconds = _executable(problem, (part, shared_device, blocks), sharding)
        meter.compile_seconds += seconds
        if began is None:  # after the one compile: every call has the first one's shape
            began = time.perf_counter()
        out = executable(part, shared_device, blocks)
        if pending is not None:
            yield pending[0], _fetched(pending[1], pending[2])
        pending = (start, out, where)
    if pending is not None:
        last = _fetched(pending[1], pending[2])
        # Counted before the last yield, so a caller that builds records from the last call's
        # outputs stamps them with a cost that includes that call.
        meter.run_seconds += time.perf_counter() - began
        meter.runs += runs
        yield pending[0], last


def run_batch(problem: Problem, batch: Mapping[str, Any], *, sharding=None) -> tuple[Metrics, Cost]:
    """Run every run of ``batch`` (one instance); returns per-run metrics and the cost.

    Args:
      sharding: a ``jax.sharding.Sharding`` of the runs axis (see ``bench.core.sharding``); each call is
        padded to a multiple of the device count and trimmed after.
    """
    runs = len(batch["x0"])
    if runs == 0:
        raise ValueError("run_batch: the batch holds no runs")
    per_run = {k: batch[k] for k in PER_RUN}
    meter = CostMeter()
    parts = [out for _, out in run_chunks(
        problem, batch["shared"], runs,
        lambda a, b: jax.tree.map(lambda v: np.asarray(v)[a:b], per_run),
        sharding=sharding, meter=meter)]
    raw = parts[0] if len(parts) == 1 else jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
    return to_metrics(raw, problem.steps), meter.cost(problem.steps)


# The last rows of a CPU device's block: XLA's CPU code for them (a vector loop's remainder) may
# round differently from the other rows' (rosenbrock, 2-D, float32: rows 248-255 of 256 ended
# 1e-6 apart from the same run at any other row). They hold padding only, so every run sits in a
# row of the same code, and its numbers do not depend on where in its call it ran.
CPU_TAIL_ROWS = 32


def _real_rows(size: int, sharding) -> np.ndarray:
    """The rows of a call of ``size`` rows that carry runs, in the order runs fill them: block by
    block, each device's block without its CPU_TAIL_ROWS last rows (on a CPU; all rows
    elsewhere), so a call that holds few runs runs few blocks."""
    if jax.default_backend() != "cpu":
        return np.arange(size)
    devices = 1 if sharding is None else len(sharding.device_set)
    per_device = size // devices
    usable = CPU_RUNS_PER_DEVICE - CPU_TAIL_ROWS
    block = np.arange(per_device // CPU_RUNS_PER_DEVICE)[:, None, None] * CPU_RUNS_PER_DEVICE
    device = np.arange(devices)[None, :, None] * per_device
    return (block + device + np.arange(usable)[None, None, :]).ravel()


def _blocks_used(runs: int, size: int, sharding) -> int:
    """How many blocks per device a call of ``runs`` real runs fills (see :func:`_real_rows`)."""
    if jax.default_backend() != "cpu":
        return 1
    devices = 1 if sharding is None else len(sharding.device_set)
    return -(-runs // ((CPU_RUNS_PER_DEVICE - CPU_TAIL_ROWS) * devices))


def _placed(values: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    """``values`` (one per run) put at rows ``where`` of ``size`` rows, run 0 repeated elsewhere."""
    out = np.repeat(values[:1], size, axis=0)
    out[where] = values
    return out


def _fetched(out: Any, where: np.ndarray) -> Any:
    """A call's outputs on the host (waiting for them), the real runs' rows only, in run order.

    Over several hosts (``jax.distributed``) each process holds only its own devices' runs and
    ``device_get`` refuses; every process then gathers every shard."""
    out = jax.block_until_ready(out)
    if all(getattr(a, "is_fully_addressable", True) for a in jax.tree.leaves(out)):
        host = jax.device_get(out)
    else:
        from jax.experimental import multihost_utils

        host = jax.tree.map(lambda a: multihost_utils.process_allgather(a, tiled=True), out)
    if len(where) and where[-1] == len(where) - 1:  # the first rows, in order: a cheap slice
        return jax.tree.map(lambda a: np.asarray(a)[:len(where)], host)
    return jax.tree.map(lambda a: np.asarray(a)[where], host)
