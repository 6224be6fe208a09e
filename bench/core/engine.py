"""The engine: a batch of runs on one landscape as ONE jitted, vmapped ``lax.scan``, dispatched.

The run itself (problem, step, metrics, outcome) is ``bench.core.step``'s; this module compiles it
(``compiled_runs_sweep`` on a description's tables, ``bench.core.inputs``; ``compiled_sweep`` on
per-run arrays, the kernel alone that the measurement tools time), splits a sweep of any size into
calls of one fixed shape, dispatches them and fetches their packed outputs (``run_parts``,
``run_batch``).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.core.cost import Cost, CostMeter
from bench.core.fused_sweep import _fused_sweep, check_fused
from bench.core.inputs import ONE_INSTANCE, Runs, expand, per_run as per_run_description, plan as call_plan
from bench.core.programs import compile_stored, named, shapes_key
from bench.core.step import Metrics, Problem, _per_run_vmap, _single_run, program_key


@functools.lru_cache(maxsize=256)
def compiled_sweep(problem: Problem, sharding=None) -> Callable:
    """``jit(vmap(run))`` for ``problem``: traced once per (problem, batch shapes, placement).
    Named after its program key (``bench.core.programs.named``) where it has one.

    Its arguments are (per-run inputs, shared inputs, blocks). On a CPU the per-run inputs of each
    device are CPU_BLOCKS blocks of CPU_RUNS_PER_DEVICE rows and the program runs the first
    ``blocks`` of them, one after another, through the same code (see :func:`_blocked`);
    elsewhere ``blocks`` is unused and every row runs at once."""
    def sweep(per_run, shared, blocks):
        return _sweep_body(problem, sharding, per_run, shared, blocks)

    return jax.jit(named(sweep, program_key(problem, "")))


# Not cached: a jitted function keeps, through JAX's caches, every program compiled from it, so a
# cache of them kept every program a suite compiled loaded (see MAX_LOADED_PROGRAMS). ``_executable``
# keeps the compiled programs, and one it dropped is loaded from the store when asked for again.
def compiled_runs_sweep(problem: Problem, sharding=None, size: int = 0) -> Callable:
    """The sweep of calls of ``size`` rows whose per-run inputs are made on the device from a
    description's tables (``bench.core.inputs``). Its arguments are (tables, shared inputs, plan):
    the plan's scalars say which runs the call holds (``bench.core.inputs.plan``); the rows then
    run as in :func:`compiled_sweep`. The shared inputs are those of one or more instances stacked
    on a first axis (slots): on a CPU each block of rows runs with its own instance's, so several
    instances of one program share a call, each in blocks of its own (see :func:`_blocked`)."""
    positions = np.full(size, -1, np.int32)
    positions[_real_rows(size, sharding)] = np.arange(len(_real_rows(size, sharding)))

    def sweep(tables, shared, plan):
        per_run = expand(tables, plan, positions)
        if sharding is not None:
            per_run = jax.lax.with_sharding_constraint(per_run, sharding)
        return _sweep_body(problem, sharding, per_run, shared, plan[4], runs=plan[1],
                           slots=(plan[0], plan[5]))

    return jax.jit(named(sweep, program_key(problem, f"runs:{size}")))


def _sweep_body(problem: Problem, sharding, per_run, shared, blocks, runs=None, slots=None):
    """Every row of ``per_run``: the fused kernel, one vmapped scan (GPU) or blocks (CPU).
    ``runs``: the call's count of real runs (traced), where known: a device then skips its blocks
    that hold none (see :func:`_blocked`). ``slots``: (the call's first run, the runs each instance
    spans), traced, when ``shared`` holds several instances stacked (else it is one instance's):
    only blocks choose among them; elsewhere every row runs with the first."""
    devices = 1 if sharding is None else len(sharding.device_set)
    rows = per_run["x0"].shape[0] // devices
    blocked = jax.default_backend() == "cpu" and rows % CPU_RUNS_PER_DEVICE == 0 and rows > 0
    if slots is not None and not (blocked and problem.loop != "fused"):
        shared, slots = jax.tree.map(lambda a: a[0], shared), None
    batch = dict(per_run, shared=shared)
    if problem.loop == "fused":
        return _fused_sweep(problem, batch)
    run_all = _per_run_vmap(functools.partial(_single_run, problem))
    if not blocked:
        return run_all(batch)
    return _blocked(run_all, per_run, shared, blocks, sharding, runs, slots)


ALL_BLOCKS = np.int32(2**31 - 1)  # ``blocks`` for a call whose every block holds runs
ALL_RUNS = np.int32(2**30)  # ``runs`` for a call whose count of real runs the program is not told


def _blocked(run_all: Callable, per_run, shared, blocks, sharding, runs=None, slots=None):
    """``run_all`` over a CPU device's rows in blocks of CPU_RUNS_PER_DEVICE: a loop whose body is
    one block, so every run goes through the same code whatever the call holds, and ``blocks`` (a
    traced count) blocks run while the rest are skipped. One call of up to CPU_BLOCKS blocks per
    device costs one dispatch (the host's part of a million runs: ~2.2 us a run in calls of one
    block, docs/performance.md).

    With ``runs`` (the call's real runs, filled block row by block row, device by device:
    :func:`_real_rows`) each device runs only its blocks that hold runs, so a call of few runs
    keeps one core busy, not all: the other devices' blocks would hold padding alone. The rows that
    run, and so every run's numbers, are the same either way.

    With ``slots`` (the call's first run, the runs each instance spans: whole blocks) ``shared``
    holds several instances stacked, and each block takes its own instance's: the block's code and
    values are those of a call of that instance alone, so its runs' numbers are too."""
    from jax.sharding import PartitionSpec

    devices = 1 if sharding is None else len(sharding.device_set)
    usable = CPU_RUNS_PER_DEVICE - CPU_TAIL_ROWS

    def own_blocks(blocks, runs):
        """This device's blocks that hold runs."""
        device = jax.lax.axis_index("runs") if sharding is not None else 0
        before = device * usable  # a block row's runs held by the devices before this one
        mine = (jnp.maximum(runs - before, 0) + devices * usable - 1) // (devices * usable)
        return jnp.minimum(blocks, mine)

    def block_shared(shared, k, slots):
        """The shared inputs of this device's block ``k``: its instance's, where several share."""
        if slots is None:
            return shared
        device = jax.lax.axis_index("runs") if sharding is not None else 0
        first_run = slots[0] + (k * devices + device) * usable  # of the block's first row
        slot = jnp.minimum(first_run // slots[1], jax.tree.leaves(shared)[0].shape[0] - 1)
        return jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, slot, keepdims=False), shared)

    def per_device(per_run, shared, blocks, runs, slots):
        rows = jax.tree.leaves(per_run)[0].shape[0]
        count = rows // CPU_RUNS_PER_DEVICE
        split = jax.tree.map(lambda a: a.reshape((count, CPU_RUNS_PER_DEVICE, *a.shape[1:])), per_run)
        first = jax.tree.map(lambda a: a[0], split)
        shapes = jax.eval_shape(lambda b: run_all(dict(b, shared=block_shared(shared, 0, slots))), first)
        outs = jax.tree.map(lambda o: jnp.zeros((count, *o.shape), o.dtype), shapes)

        def body(k, outs):
            block = jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, k, keepdims=False), split)
            done = run_all(dict(block, shared=block_shared(shared, k, slots)))
            return jax.tree.map(lambda o, r: jax.lax.dynamic_update_index_in_dim(o, r, k, 0),
                                outs, done)

        outs = jax.lax.fori_loop(0, jnp.minimum(own_blocks(blocks, runs), count), body, outs)
        return jax.tree.map(lambda o: o.reshape((rows, *o.shape[2:])), outs)

    runs = ALL_RUNS if runs is None else runs
    if sharding is None:
        return per_device(per_run, shared, blocks, runs, slots)
    arguments = (per_run, shared, blocks, runs) + (() if slots is None else (slots,))
    return jax.shard_map(lambda *a: per_device(*a) if slots is not None else per_device(*a, None),
                         mesh=sharding.mesh,
                         in_specs=(PartitionSpec("runs"),) + (PartitionSpec(),) * (len(arguments) - 1),
                         out_specs=PartitionSpec("runs"), check_vma=False)(*arguments)


_EXECUTABLES: dict[Any, Any] = {}  # loaded programs, least recently used first
_COMPILE_LOCKS: dict[Any, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
# Programs kept loaded at once. A loaded CPU program holds ~215 memory maps (its compiled code and
# data); Linux gives a process at most vm.max_map_count of them (65,530 by default), past which XLA
# cannot allocate and the process dies: the bbob suite's 480 programs ended it at about the 305th
# (docs/performance.md). The least recently used program is dropped past this many; asked for
# again, it is loaded from the store (~40 ms).
MAX_LOADED_PROGRAMS = 96


def _loaded(key):
    """The entry of a loaded program, now the most recently used, or None."""
    with _LOCKS_GUARD:
        entry = _EXECUTABLES.pop(key, None)
        if entry is not None:
            _EXECUTABLES[key] = entry
        return entry


def _keep_loaded(key, entry) -> None:
    with _LOCKS_GUARD:
        _EXECUTABLES[key] = entry
        while len(_EXECUTABLES) > MAX_LOADED_PROGRAMS:
            del _EXECUTABLES[next(iter(_EXECUTABLES))]

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


def _executable(problem: Problem, arguments, sharding, size: int, *, claim: bool = True):
    """AOT-compiled sweep (:func:`compiled_runs_sweep`) for this problem, call size and (tables,
    shared, plan) shapes; returns (executable, compile seconds).

    ``arguments`` may hold arrays or ``jax.ShapeDtypeStruct``s (``precompile``). The compile seconds
    go to the first caller that ``claim``s the program (later ones get 0), so a job whose program
    a background thread compiled (``claim=False``) still reports what it cost to compile.
    """
    shapes = shapes_key(arguments)
    key = (problem, shapes, sharding, size)
    with _LOCKS_GUARD:
        lock = _COMPILE_LOCKS.setdefault(key, threading.Lock())
    with lock:  # one compile per program, however many threads ask for it
        entry = _loaded(key)
        if entry is None:
            start = time.perf_counter()
            executable = compile_stored(
                program_key(problem, f"runs:{size}|{shapes}"),
                lambda: compiled_runs_sweep(problem, sharding, size).lower(*arguments), sharding)
            entry = [executable, time.perf_counter() - start]
            _keep_loaded(key, entry)
        if not claim:
            return entry[0], 0.0
        seconds, entry[1] = entry[1], 0.0
        return entry[0], seconds


def _abstract(runs: Runs, shared: Mapping[str, Any], sharding, slots: int):
    """(tables, shared, plan) as shapes, placed as ``run_parts`` places them."""
    def shape(a, lead=()):
        return jax.ShapeDtypeStruct(lead + np.shape(a), np.asarray(a).dtype, sharding=_replicated(sharding))

    plan = jax.ShapeDtypeStruct((7,), np.int32, sharding=_replicated(sharding))
    return (jax.tree.map(shape, runs.tables()), jax.tree.map(lambda a: shape(a, (slots,)), dict(shared)),
            plan)


def precompile(problem: Problem, shared: Mapping[str, Any], runs: Runs, *, sharding=None,
               slots: int = 1) -> None:
    """Compile the program ``run_parts`` will use for these runs (with ``slots`` instances' shared
    inputs a call), from shapes alone, so a caller can compile the next job's program in a thread
    while the current one runs."""
    size = program_runs(runs.runs, sharding)
    _executable(problem, _abstract(runs, shared, sharding, slots), sharding, size, claim=False)


def can_share_calls(problem: Problem) -> bool:
    """Whether several instances of ``problem`` can share a call (:func:`run_parts`): on a CPU,
    where each block of rows takes its own instance's shared inputs (:func:`_blocked`)."""
    return jax.default_backend() == "cpu" and problem.loop != "fused"


def _stacked(shareds, slots: int):
    """The shared inputs of ``shareds`` (one mapping per instance) stacked on a first axis of
    ``slots`` (the program's), the unused slots holding copies of the first instance's."""
    shareds = list(shareds) + [shareds[0]] * (slots - len(shareds))
    return jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a]), *[dict(x) for x in shareds])


@dataclasses.dataclass(frozen=True)
class _Call:
    """One dispatched call: its first run, run count, device outputs, the part's run count when it
    is the part's last call (else None), and how its runs map to the part's instances (see
    ``bench.core.inputs.plan``: ``stride``, ``per_instance``)."""

    part: int
    first: int
    count: int
    out: Any
    last_of: int | None
    stride: int = ONE_INSTANCE
    per_instance: int = ONE_INSTANCE

    def pieces(self, host):
        """(instance slot, its first run, outputs) of each instance the call holds runs of."""
        if self.stride == ONE_INSTANCE:
            yield 0, self.first, host
            return
        end = self.first + self.count
        for slot in range(self.first // self.stride, (end - 1) // self.stride + 1):
            lo = max(self.first, slot * self.stride)
            hi = min(end, slot * self.stride + self.per_instance)
            if lo < hi:
                rows = slice(lo - self.first, hi - self.first)
                yield slot, lo - slot * self.stride, jax.tree.map(lambda a: a[rows], host)


def _calls(problem: Problem, shareds, runs: Runs, sharding, meter: CostMeter, part: int = 0,
           slots: int | None = None):
    """Dispatch the calls of one part: the runs ``runs`` describes, of each instance whose shared
    inputs ``shareds`` lists (several only where :func:`can_share_calls`; the program's shared
    inputs have ``slots`` of them, default ``len(shareds)``). Each instance's runs start a block
    of their own, so every block runs one instance's. Yields each :class:`_Call` as soon as it is
    dispatched (asynchronously): :func:`_ahead` keeps the next one in flight while the host
    fetches a call's outputs. The tables travel once; a call's own inputs are a few scalars
    (``bench.core.inputs.plan``)."""
    shareds = list(shareds)
    slots = len(shareds) if slots is None else slots
    if problem.loop == "fused":
        check_fused(problem, dict(runs.first(), shared=shareds[0]))
    if len(shareds) > 1 and not can_share_calls(problem):
        raise ValueError("several instances in one call need a CPU and the scan loop")
    per_instance = runs.runs
    if len(shareds) == 1:
        stride, total, per_instance = ONE_INSTANCE, per_instance, ONE_INSTANCE
    else:
        usable = CPU_RUNS_PER_DEVICE - CPU_TAIL_ROWS
        stride = -(-per_instance // usable) * usable  # whole blocks
        total = (len(shareds) - 1) * stride + per_instance
    size = program_runs(total, sharding)
    per_call = len(_real_rows(size, sharding))

    def put(tree):
        return jax.device_put(tree, _replicated(sharding)) if sharding is not None else jax.device_put(tree)

    tables, shared_device = put(runs.tables()), put(_stacked(shareds, slots))
    firsts = range(0, total, per_call)
    counts = [min(per_call, total - first) for first in firsts]
    plans = [call_plan(first, count, runs, _blocks_used(count, size, sharding), stride, per_instance)
             for first, count in zip(firsts, counts)]
    plans = put(plans)  # in one batched call: placed one by one, they were most of the host's work
    executable = None
    for first, count, plan in zip(firsts, counts, plans):
        if executable is None:  # every call has the first one's shapes: one look-up
            executable, seconds = _executable(problem, (tables, shared_device, plan), sharding, size)
            meter.compile_seconds += seconds
            meter.part_started(runs.inputs)  # after the one compile
        out = executable(tables, shared_device, plan)
        last_of = runs.runs * len(shareds) if first + count == total else None
        yield _Call(part, first, count, out, last_of, stride, per_instance)


def _ahead(calls):
    """``calls`` one behind their dispatch: each call is yielded once the next one (of the same part
    or the next) is dispatched, so the devices run on while the host works on a call's outputs."""
    pending = None
    for call in calls:
        if pending is not None:
            yield pending
        pending = call
    if pending is not None:
        yield pending


def run_parts(parts, *, sharding=None, meter: CostMeter | None = None, ahead: bool = True):
    """Run several descriptions' runs as one stream of calls. ``parts``: an iterable of (problem,
    shareds, runs, slots), taken one at a time as the stream reaches it: the runs ``runs``
    describes, for each instance whose shared inputs ``shareds`` lists, in a program whose shared
    inputs have ``slots`` instances (see :func:`_calls`). Yields (part index, instance slot, first
    run, host outputs) per call and instance, in order, holding one call's outputs at a time (plus
    the next call's, in flight). With ``ahead`` the next part's first call is dispatched before the current part's
    last outputs are fetched, so the devices run on while the host unpacks, builds and writes a
    part's records; without it a part starts after the previous one is done (a timing run, whose
    parts must not overlap)."""
    meter = meter if meter is not None else CostMeter()

    def dispatched():
        for index, (problem, shareds, runs, slots) in enumerate(parts):
            calls = _calls(problem, shareds, runs, sharding, meter, index, slots)
            yield from (calls if ahead else _ahead(calls))

    for call in (_ahead(dispatched()) if ahead else dispatched()):
        host = _host(call.out)
        if call.last_of is not None:
            meter.part_done(call.last_of)
        host = jax.tree.map(lambda a: _compacted(a, call.count, sharding), host)
        for slot, first, out in call.pieces(host):
            yield call.part, slot, first, out


def run_batch(problem: Problem, batch: Mapping[str, Any], *, sharding=None) -> tuple[Metrics, Cost]:
    """Run every run of ``batch`` (one instance); returns per-run metrics and the cost.

    Args:
      batch: per-run arrays (``make_batch``: their tables travel whole, ``cost.inputs`` "host"), or
        ``runs`` (a ``bench.core.inputs.Runs`` description, expanded on the device) and ``shared``.
      sharding: a ``jax.sharding.Sharding`` of the runs axis (see ``bench.core.sharding``); each call is
        padded to a multiple of the device count and trimmed after.
    """
    runs = batch["runs"] if "runs" in batch else per_run_description(batch)
    if runs.runs == 0:
        raise ValueError("run_batch: the batch holds no runs")
    meter = CostMeter()
    parts = []
    for call in _ahead(_calls(problem, [batch["shared"]], runs, sharding, meter)):
        parts.append((call.first, call.count, jax.block_until_ready(call.out)))
        if call.last_of is not None:
            meter.part_done(call.last_of)
    return Metrics(_Outputs(parts, runs.runs, sharding), problem.steps), meter.cost(problem.steps)


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


class _Outputs(Mapping):
    """A sweep's outputs by name, each fetched and compacted into run order (:func:`_compacted`)
    on its first read: a field nobody reads is never fetched or copied."""

    def __init__(self, parts: list[tuple[int, int, dict[str, jax.Array]]], runs: int, sharding):
        self._parts, self._runs, self._sharding = parts, runs, sharding
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._done:
            like = self._parts[0][2][name]  # KeyError for a field the program does not output
            into = np.empty((self._runs, *like.shape[1:]), np.dtype(like.dtype))
            for first, count, out in self._parts:
                _compacted(_host_array(out[name]), count, self._sharding, into[first:first + count])
            self._done[name] = into
        return self._done[name]

    def __iter__(self):
        return iter(self._parts[0][2])

    def __len__(self) -> int:
        return len(self._parts[0][2])


def _host(out: Any) -> Any:
    """A call's outputs on the host (waiting for them); see :func:`_host_array`."""
    return jax.tree.map(_host_array, jax.block_until_ready(out))


def _host_array(array: jax.Array) -> np.ndarray:
    """One output on the host: on a CPU a view of the device buffer, no copy.

    Over several hosts (``jax.distributed``) each process holds only its own devices' runs and
    ``device_get`` refuses; every process then gathers every shard."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(jax.device_get(array))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def _compacted(values: np.ndarray, count: int, sharding, into: np.ndarray | None = None) -> np.ndarray:
    """The first ``count`` runs of a call's host outputs (rows :func:`_real_rows`), in run order,
    copied once (into ``into`` if given): a slice on a GPU; on a CPU whole blocks of every device
    less their tail rows, then what the last, partial block row holds."""
    if into is None:
        into = np.empty((count, *values.shape[1:]), values.dtype)
    if jax.default_backend() != "cpu":
        into[...] = values[:count]
        return into
    devices = 1 if sharding is None else len(sharding.device_set)
    usable, rest = CPU_RUNS_PER_DEVICE - CPU_TAIL_ROWS, values.shape[1:]
    # Run order is block-major, then device, then row (see _real_rows).
    blocks = values.reshape(devices, -1, CPU_RUNS_PER_DEVICE, *rest).swapaxes(0, 1)[:, :, :usable]
    full, left = divmod(count, devices * usable)
    into[:full * devices * usable].reshape(full, devices, usable, *rest)[...] = blocks[:full]
    for device in range(-(-left // usable)):
        start = full * devices * usable + device * usable
        rows = min(usable, count - start)
        into[start:start + rows] = blocks[full, device, :rows]
    return into
