"""Memory planned from shapes, before anything compiles.

A job streams through its compiled programs one call at a time (``bench.core.engine.run_parts``), and
its records go to the writer thread in segments (``bench.run.runner.SEGMENT_RECORDS``, at most
``bench.run.write_behind.QUEUED_WRITES`` queued), so what a job holds at once is set by shapes
alone: one call's inputs, carries and outputs on the device and the host (the next call's too, in
flight, and the next part's instance data), every instance's shared data (a BBOB instance's ``data`` arrays included), the segments of
records not yet written, and per config its hyperparameters, record ids and tuning key.
:func:`plan_job` adds these up; a job over the budget (default: half the memory free when the run
starts; ``LANDSCAPE_BENCH_MEMORY`` or ``landscape-bench run --memory-budget`` set it) is refused in
one line with the estimate and what would bring it down. The estimate is deliberately generous
(XLA's temporaries are counted as a multiple of the carry). It counts what the job holds, not the
Python and JAX runtime beneath it (the default budget, half the free memory, leaves that room).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re

import numpy as np

from landscapes.errors import InputError

ENV_VAR = "LANDSCAPE_BENCH_MEMORY"
DEFAULT_FRACTION = 0.5
# Bytes per per-run number a call touches beyond what it stores: XLA's temporaries, the carry's
# double buffering, the host copy of the outputs and their conversion into records.
OVERHEAD = 4
# Copies of a CPU call's outputs held at once: the call's output buffers, the next call's (in
# flight), XLA's staging of the kept iterates with the final one, and the host's compacted copy.
OUTPUT_COPIES = 4
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str, where: str = ENV_VAR) -> int:
    """'2G', '512M', '1.5g', '1000000' -> bytes; anything else a one-line InputError."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", str(text))
    size = int(float(found.group(1)) * _UNITS[found.group(2).lower()]) if found else 0
    if size < 1:  # '0', '-1G', '0.0001' (bytes): no budget to run in
        raise InputError(f"{where} must be a size such as 2G, 512M or a number of bytes (at least"
                         f" 1); got {text!r}")
    return size


def available_bytes() -> int:
    """Memory free for new work now (MemAvailable), else the machine's total."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget_bytes(given: str | None = None) -> int:
    """The budget: ``given`` (--memory-budget), else ``$LANDSCAPE_BENCH_MEMORY``, else half the free
    memory."""
    if given is not None:
        return parse_size(given, "--memory-budget")
    if os.environ.get(ENV_VAR):
        return parse_size(os.environ[ENV_VAR])
    return int(DEFAULT_FRACTION * available_bytes())


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one job holds at once, by part (bytes)."""

    name: str
    runs_per_call: int
    parts: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def largest(self) -> str:
        return max(self.parts, key=self.parts.__getitem__)


# What to change to shrink each part of a plan.
_FIXES = {
    "trajectories": "keep fewer iterates (a larger trajectory_every, or 0) or use fewer steps",
    "calls": "use a smaller dim",
    "best gaps": 'use fewer steps, or 8 targets or fewer (targets = "coco8")',
    "instance data": "use a smaller dim",
    "records": "use fewer starts or seeds",
    "configs": "search fewer configs (a coarser grid, or a random search with fewer trials)",
}


def plan_job(job, sharding=None) -> Plan:
    """The memory plan of a ``bench.run.runner.Job`` from its shapes.

    A call has ``calls`` rows (padded runs). Per run it works on the start, iterate, gradient,
    value and optimizer state (up to 4 slots of dim for the built-in families), hyperparameters
    and metrics, and outputs the final iterate, per target steps and flags, and the kept iterates.
    On a CPU (the scan loop) a call runs its rows one block of ``CPU_RUNS_PER_DEVICE`` per device
    at a time (``bench.core.engine._blocked``): XLA's temporaries are one block's, counted
    ``OVERHEAD`` times over for two calls, while the outputs exist for every row of the call,
    counted ``OUTPUT_COPIES`` times; with many targets each running row also keeps every step's best
    gap (``bench.core.step.stores_best``), a part of its own ("best gaps"), as fewer steps or targets
    shrink it. Elsewhere every row of a call runs at once: work and outputs alike are counted
    ``OVERHEAD`` times over for two calls. Stays above the peaks measured in
    docs/performance.md ("BBOB at large dims"), less the runtime's own."""
    from bench.core.engine import CPU_RUNS_PER_DEVICE, program_runs
    from bench.core.step import stores_best
    from bench.run.runner import SEGMENT_RECORDS
    from bench.run.write_behind import QUEUED_WRITES

    # Segments of records held at once: the one being filled, the writer thread's, and its queue.
    segments = QUEUED_WRITES + 2

    suite, entry = job.suite, job.landscape
    dim = int(entry.dim)
    item = 8 if suite.dtype == "float64" else 4
    per_record = len(job.seeds) * suite.starts
    runs = job.n_configs * len(job.instances) * per_record
    calls = program_runs(runs, sharding)
    n_params = len(job.configs)
    targets = len(suite.targets)
    every = suite.trajectory_every
    kept = (suite.steps // every + 2) if every else 0
    work = item * (dim * (2 + 4) + n_params + 8)
    out = targets * 5 + item * dim
    best_bytes = 0.0
    if _blocked(suite, sharding):
        devices = 1 if sharding is None else len(sharding.device_set)
        running = min(calls, devices * CPU_RUNS_PER_DEVICE)
        if stores_best(suite.loop, suite.steps, len(suite.targets)):
            best_bytes = 2.0 * running * item * suite.steps * OVERHEAD
        call_bytes = 2.0 * running * (work + out) * OVERHEAD + OUTPUT_COPIES * calls * out
        kept_bytes = OUTPUT_COPIES * calls * kept * dim * item
    else:
        call_bytes = 2.0 * calls * (work + out) * OVERHEAD
        kept_bytes = 2.0 * calls * kept * dim * item * OVERHEAD
    instance = instance_bytes(job, item)
    record_bytes = per_record * (dim * 2 * 24 + targets * 30 + 120) + 2000
    parts = {
        "calls": call_bytes,
        "best gaps": best_bytes,
        "trajectories": kept_bytes
        + segments * min(SEGMENT_RECORDS, job.n_configs) * per_record * kept * dim * 24 * (job.phase == "test"),
        "instance data": instance,
        "records": min(segments * SEGMENT_RECORDS, job.n_configs * len(job.instances)) * record_bytes,
        "configs": job.n_configs * (n_params * 8 * 3 + len(job.instances) * 200 + 300),
    }
    return Plan(f"{entry.name} x {job.optimizer.label}", calls, parts)


def _blocked(suite, sharding) -> bool:
    """Whether a job's calls run in blocks (``bench.core.engine._blocked``): on a CPU, with the scan
    loop (``loop = "fused"`` runs Pallas's interpreter over every row at once)."""
    import jax

    return jax.default_backend() == "cpu" and suite.loop != "fused"


def instance_bytes(job, item: int) -> float:
    """The shared instance data a job holds: every instance's, as the job keeps them from start to
    end (``bench.run.runner.execute``). Per number of an instance's data: 16 bytes in float64 (the
    instance cache's arrays, and as much again for what building them leaves with the allocator)
    and 6 copies in the suite's dtype (the job's shared inputs, the background compile's, the
    call's stacked inputs on the host and on the device, and the next part's, placed before the
    current part's outputs are fetched). docs/performance.md ("BBOB at large dims") has
    the measured bytes per number this stays above.

    A landscape with its own instances (BBOB) brings ``data`` arrays (rotations of dim x dim,
    Gallagher's peaks of dim x 101, ...); their sizes come from ``Landscape.instance_shapes``,
    without building them (a COCO rotation is O(dim^3) to build), as every instance of a landscape
    and dimension has the same shapes. Any other instance k >= 1 holds a shift, a matrix and moved
    minimizers."""
    import landscapes

    dim = int(job.landscape.dim)
    count = len(job.instances)
    landscape = landscapes.get_landscape(job.landscape.name)
    if landscape.instance_data is None:
        return 3 * count * (3.0 * item * dim * dim + item * dim * 4)
    if landscape.instance_shapes is not None:  # known without building (BBOB: instant at any dim)
        shapes, minimizers = landscape.instance_shapes(dim)
    else:
        data, points, _ = landscape.instance_data(job.instances[0], dim)
        shapes, minimizers = {key: np.shape(array) for key, array in data.items()}, np.shape(points)
    numbers = sum(math.prod(shape) for shape in shapes.values()) + math.prod(minimizers) + 1
    return count * (6 * item + 16) * float(numbers)


def check_plan(plan: Plan, budget: int) -> None:
    """Refuse a plan over ``budget`` in one line: the estimate, its largest part and the fix."""
    if plan.total <= budget:
        return
    part = plan.largest()
    raise InputError(f"{plan.name}: a job would hold about {human(plan.total)} at once (most of it"
                     f" {part}: {human(plan.parts[part])}), over the memory budget of {human(budget)};"
                     f" {_FIXES[part]}, or raise the budget with --memory-budget or {ENV_VAR}")
