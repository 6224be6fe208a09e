"""Runs a suite: one compiled, vmapped job per (landscape, optimizer entry), records appended per job
(what a job is, its identities and problems: ``bench.run.jobs``).

A job puts every instance x config x seed x start of one landscape and one optimizer entry on one runs
axis. The tuning protocol is fixed and stated: the best config of the search (highest success rate at
the suite's success target over the tuning seeds and all instances; ties broken by the lower median
steps-to-target, then the lower median final gap) is re-run on the suite's fresh ``test_seeds``; those
re-runs are the records marked ``phase = "test"`` that tables compare across families.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

import landscapes
from bench.core import environment
from bench.core.cost import CostMeter
from bench.core.engine import can_share_calls, precompile, run_parts
from bench.core.flops import step_flops
from bench.core.inputs import described
from bench.core.step import OptimizerBuilder, Problem, to_metrics
from bench.run.jobs import (Job, batch_of, chosen_loop, noise_keys, phase_settings, plan_jobs, start_points,
                            starts_and_keys)
from bench.run.records import TEST, TUNE, Selection, columns
from bench.run.results import SCHEMA, ResultsDir, stable_hash
from bench.run.suites import Suite
from bench.run.timing import RepeatedTimings, check_timing_repeats, checksum
from bench.run.write_behind import WriteBehind

# What a job is lives in bench.run.jobs; the runner's namespace keeps its names (runner.Job, ...).
__all__ = ["CONFIG_BLOCK_RUNS", "PRECOMPILE_THREADS", "SEGMENT_RECORDS", "TEST", "TUNE", "Job",
           "OptimizerBuilder", "batch_of", "check_memory", "chosen_loop", "execute", "noise_keys",
           "phase_settings", "plan_jobs", "run_suite", "start_points", "starts_and_keys"]


# Two: a cold default suite took 66.7 s against 73.2 s with one thread; warm, the same (2-core
# machine, docs/performance.md).
PRECOMPILE_THREADS = 2


def _precompile_ahead(jobs, *, sharding):
    """Compile the programs of ``jobs`` in order in PRECOMPILE_THREADS background threads (XLA
    compiles without the GIL), so each job's compile overlaps the previous jobs' tracing, running
    and writing, and one program's tracing another's compile. Returns the executor;
    ``_executable``'s per-program lock makes the job itself wait for a compile in flight instead of
    starting a second one."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(PRECOMPILE_THREADS, thread_name_prefix="precompile")
    pool.stopping = threading.Event()  # set by an interrupted run: no further program is begun

    def compile_job(job):
        try:
            for transformed in sorted({i != 0 for i in job.instances}):
                if pool.stopping.is_set():
                    return
                instance = next(i for i in job.instances if (i != 0) == transformed)
                problem, shared, _ = job.problem(instance)
                problem = dataclasses.replace(problem, loop=job.loop(instance))
                batch = batch_of(problem, {k: v[:1] for k, v in job.configs.items()},
                                 np.zeros((1, job.landscape.dim)), shared)
                starts = len(job.seeds) * job.suite.starts  # the shapes execute's calls will have
                block = min(job.n_configs, _config_block(starts))
                runs = described(problem, {k: v[:block] for k, v in job.configs.items()},
                                 np.zeros((starts, job.landscape.dim)), min_rows=block)
                precompile(problem, batch["shared"], runs, sharding=sharding,
                           slots=_slots(job, instance, problem))
        except Exception:  # the job compiles (and reports any error) itself
            pass

    for job in jobs:
        pool.submit(compile_job, job)
    return pool


def _slots(job: Job, instance: int, problem: Problem) -> int:
    """How many instances' shared inputs the program of ``instance`` takes a call: every instance
    of the job with the same program (instance 0 has its own, the plain function) where instances
    can share a call (``bench.core.engine.can_share_calls``), else one."""
    if not can_share_calls(problem):
        return 1
    return sum((i != 0) == (instance != 0) for i in job.instances)


def _job_parts(job: Job, programs, todo, block: int) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """The parts of a job, in record order: for each block of configs, its instances (with the
    block's configs to do), neighbours that share a program and those configs in one part."""
    parts: list[tuple[tuple[int, ...], np.ndarray]] = []
    for first in range(0, job.n_configs, block):
        previous = None
        for instance in job.instances:
            indices = todo[instance]
            indices = indices[np.searchsorted(indices, first):np.searchsorted(indices, first + block)]
            if not indices.size:
                previous = None
                continue
            problem = programs[instance][0]
            if (previous is not None and can_share_calls(problem) and problem == previous[0]
                    and np.array_equal(indices, previous[1])):
                parts[-1] = (parts[-1][0] + (instance,), indices)
            else:
                parts.append(((instance,), indices))
            previous = (problem, indices)
    return parts


# Records handed to the writer at a time while a job streams: bounds the memory of a huge job.
SEGMENT_RECORDS = 2048
# Runs per instance in one block of configs (see ``execute``).
CONFIG_BLOCK_RUNS = 1 << 16


def _config_block(per_record: int) -> int:
    """Configs per block of ``execute``: CONFIG_BLOCK_RUNS runs per instance."""
    return max(1, CONFIG_BLOCK_RUNS // per_record)


def execute(job: Job, *, sharding=None, todo: Mapping[int, list[int]] | None = None,
            sink: Callable[[list[dict[str, Any]]], None] | None = None,
            timing_repeats: int = 0) -> list[dict[str, Any]]:
    """Run a job's runs and turn them into one record per (instance, config).

    ``todo``: {instance: config indices} to compute (default: all). The runs stream through the
    compiled programs one call at a time, in parts (a block of configs of one instance, or of
    the instances that share a program and calls: ``_job_parts``), each dispatched before the
    previous part's last outputs are fetched (``bench.core.engine.run_parts``); records are
    handed to ``sink`` in segments of at most SEGMENT_RECORDS as they complete (then none are
    returned), or all returned at the end. ``timing_repeats``: time each part of the job that many more times
    (``bench.run.timing``); the records' ``cost`` then holds the seconds of each repeat."""
    if todo is None:
        todo = {i: list(range(job.n_configs)) for i in job.instances}
    suite = job.suite
    starts, keys = starts_and_keys(job)
    stream = _Stream(job, starts, CostMeter(), RepeatedTimings(timing_repeats), sharding,
                     landscapes.get_landscape(job.landscape.name), environment.stamp(suite.dtype))
    kept: list[dict[str, Any]] = []
    segment: list[dict[str, Any]] = []

    def flush(force: bool = False) -> None:
        if sink is not None and (force or len(segment) >= SEGMENT_RECORDS):
            if segment:
                sink(list(segment))
            segment.clear()

    hparams = {k: np.asarray(v, np.dtype(suite.dtype)) for k, v in job.configs.items()}
    x0s, run_keys = starts.astype(np.dtype(suite.dtype)), keys.astype(np.uint32)
    todo = {i: np.asarray(sorted(todo.get(i, ())), np.int64) for i in job.instances}
    programs = _programs(job, hparams, starts, todo)
    # Configs in blocks, every instance of a block before the next: the tuning criterion of a
    # config is complete after its block, so a huge grid keeps three numbers per config.
    block = _config_block(len(starts))
    parts = _job_parts(job, programs, todo, block)
    expected: dict[int, dict[int, int] | None] = {}  # each part's checksums from its timing repeats

    def described_parts():
        """Each part's program, instances and runs, made as the stream reaches it (while the
        previous part's last call runs)."""
        for index, (instances, indices) in enumerate(parts):
            problem = programs[instances[0]][0]
            # The block's configs only, in tables as long as a whole block's: one program serves
            # every block of the job.
            runs = described(problem, {k: v[indices] for k, v in hparams.items()}, x0s,
                             key=run_keys, min_rows=min(block, job.n_configs))
            part = (problem, [programs[i][1] for i in instances], runs,
                    _slots(job, instances[0], problem))
            expected[index] = stream.repeats.time_part(part, sharding=sharding, meter=stream.meter)
            yield part

    # One stream of calls for the whole job: the next part is dispatched while the host turns the
    # previous part's outputs into records (a timing run's parts run one at a time instead).
    calls = run_parts(described_parts(), sharding=sharding, meter=stream.meter, ahead=not timing_repeats)
    for (index, slot), piece_calls in itertools.groupby(calls, key=lambda call: call[:2]):
        instances, indices = parts[index]
        outputs = ((first, out) for _, _, first, out in piece_calls)
        checksums = expected[index]
        for record in stream.records(instances[slot], programs[instances[slot]], outputs, indices,
                                     None if checksums is None else checksums.get(slot, 0)):
            (segment if sink is not None else kept).append(record)
            flush()
    flush(force=True)
    return kept


def _programs(job: Job, hparams, starts, todo) -> dict[int, tuple]:
    """instance -> (problem, shared arrays, moved minimizers, FLOPs per step) of the instances
    with runs to do."""
    programs = {}
    for instance in job.instances:
        if len(todo[instance]):
            problem, shared, moved = job.problem(instance)
            problem = dataclasses.replace(problem, loop=job.loop(instance))
            one = batch_of(problem, {k: v[:1] for k, v in hparams.items()}, starts[:1], shared)
            programs[instance] = (problem, one["shared"], moved, step_flops(problem, one))
    return programs


@dataclasses.dataclass
class _Stream:
    """A job's calls turned into records as each config's runs complete (``execute``)."""

    job: Job
    starts: np.ndarray
    meter: CostMeter
    repeats: RepeatedTimings
    sharding: Any
    landscape: Any  # the registered landscape, looked up once per job
    stamp: dict[str, Any]  # the environment's stamp, made once per job

    def records(self, instance: int, program: tuple, outputs, indices: np.ndarray,
                expected: int | None):
        """The records of one instance's block of configs, in config order, from its calls' host
        ``outputs``; ``expected``: the checksum of its timing repeats, if any."""
        job, suite = self.job, self.job.suite
        problem, _, moved, flops = program
        landscape, stamp = self.landscape, self.stamp
        per_record = len(self.starts)
        buffer: list[Any] = []
        done_records = 0
        total = 0
        for _, out in outputs:
            if expected is not None:
                total = checksum(out, total)
            buffer.append(out)
            rows = sum(len(b["final_gap"]) for b in buffer)
            complete = rows // per_record
            if not complete:
                continue
            raw = buffer[0] if len(buffer) == 1 else jax.tree.map(lambda *xs: np.concatenate(xs), *buffer)
            cut = complete * per_record
            buffer = [jax.tree.map(lambda a: a[cut:], raw)] if cut < rows else []
            metrics = to_metrics(jax.tree.map(lambda a: a[:cut], raw), suite.steps)
            cost = dict(environment.cost_record(self.meter.cost(suite.steps), flops, suite.dtype),
                        loop=problem.loop, inputs=self.meter.inputs, **self.repeats.cost_fields())
            for k in range(complete):
                c = int(indices[done_records + k])
                rows_k = slice(k * per_record, (k + 1) * per_record)
                yield _record(job, instance, c, metrics, rows_k, self.starts, moved, landscape, cost, stamp)
            done_records += complete
        self.repeats.check(expected, total, job.landscape.name)


def _record(job: Job, instance: int, c: int, metrics, rows: slice, starts, moved, landscape,
            cost: dict[str, Any], stamp: dict[str, Any]) -> dict[str, Any]:
    """One (instance, config) record of a job from its rows of ``metrics``."""
    suite, entry = job.suite, job.landscape
    identity = job.identity(instance, c)
    record = dict(
        schema=SCHEMA, record_id=stable_hash(identity), suite=suite.name,
        phase=job.phase, landscape=entry.name, dim=entry.dim, instance=instance,
        family=job.optimizer.family, schedule=job.optimizer.schedule,
        label=job.optimizer.label, config=job.config(c), config_index=c,
        steps=suite.steps, targets=list(suite.targets), success_target=suite.success_target,
        dtype=suite.dtype, seeds=list(job.seeds), starts=suite.starts,
        f_star=job.problem(instance)[1]["f_star"], minimizers=moved,
        x0=starts, identity=identity,
        runs=dict(steps_to_target=metrics.steps_to_target[rows],
                  reached=metrics.reached[rows], final_gap=metrics.final_gap[rows],
                  best_gap=metrics.best_gap[rows], distance=metrics.distance[rows],
                  basin=metrics.basin[rows], status=metrics.status[rows],
                  final_x=metrics.final_x[rows]),
        cost=cost, **stamp)
    if metrics.trajectory is not None and job.phase == TEST:
        # Trajectories of the tuned configs only: they are what the figures draw, and
        # storing them for every config of a grid would multiply the file size by ~100.
        record["trajectory"] = metrics.trajectory[rows]
    return record


def check_memory(suite: Suite, sharding=None, budget: str | None = None) -> None:
    """Refuse, in one line and before anything runs, a suite with a job whose planned memory is
    over the budget (``bench.run.memory``)."""
    from bench.run.memory import budget_bytes, check_plan, plan_job

    limit = budget_bytes(budget)
    for land, opt in plan_jobs(suite):
        configs = opt.configs()
        check_plan(plan_job(Job(suite, land, opt, TUNE, configs, suite.seeds), sharding), limit)
        one = {k: np.asarray(v)[:1] for k, v in configs.items()}
        check_plan(plan_job(Job(suite, land, opt, TEST, one, suite.test_seeds), sharding), limit)


def run_suite(suite: Suite, out: ResultsDir, *, progress: Callable[[str], None] | None = None,
              sharding=None, memory_budget: str | None = None, timing_repeats: int = 0) -> dict[str, int]:
    """Run every record not already in ``out`` (resume), writing and fsyncing as jobs stream.
    ``timing_repeats``: time every job's runs that many more times (``bench.run.timing``).

    Returns counts: jobs run, jobs skipped (already complete), records written.
    """
    timing_repeats = check_timing_repeats(timing_repeats)
    out.refuse_other_settings(phase_settings(suite), environment.identity())
    check_memory(suite, sharding, memory_budget)
    counts = dict(ran=0, skipped=0, records=0)
    # The tuned configs of finished tuning jobs come from their records, read once and one at a
    # time: of each tuning record only what the selection reads is kept.
    existing: dict[str, tuple] = {}

    def keep(record):
        if record.get("phase") == TUNE and (record.get("identity") or {}).get("kind") == "sweep":
            existing[record["record_id"]] = (record["config_index"],
                                             np.concatenate(columns(record), dtype=np.float64))

    out.visit_records(keep)
    tunes = [Job(suite, land, opt, TUNE, opt.configs(), suite.seeds)
             for land, opt in plan_jobs(suite)]
    # A timing run compiles each job's program in turn: a compile in a thread beside it would
    # compete with its timings for the cores.
    ahead = _precompile_ahead([job for job in tunes if not all(out.has(i) for i in job.record_ids())],
                              sharding=sharding) if not timing_repeats else None
    writer = WriteBehind(out)  # each job's records written while the next job runs
    try:
        for tune in tunes:
            _run_pair(suite, tune, writer, existing, counts, sharding, progress, timing_repeats)
    except BaseException:  # an interrupt: the programs not begun are not compiled
        if ahead is not None:
            ahead.stopping.set()
            ahead.shutdown(wait=False, cancel_futures=True)
            ahead = None
        raise
    finally:
        if ahead is not None:
            ahead.shutdown(wait=True, cancel_futures=True)
        writer.close()  # every computed record written, even after an error here
    return counts


def _run_job(job: Job, out: ResultsDir | WriteBehind, counts, sharding, on_record=None,
             timing_repeats: int = 0) -> bool:
    """Compute and write the records of ``job`` that ``out`` lacks, then end the job. Returns
    whether anything ran."""
    ids = job.record_ids()
    jid = job.job_id()
    missing = [k for k, i in enumerate(ids) if not out.has(i, jid)]
    if not missing:
        if not all(out.has(i) for i in ids):
            out.end_job(jid, len(ids))  # every record was written before a kill; end it now
        return False
    todo: dict[int, list[int]] = {}
    for k in missing:
        instance = job.instances[k // job.n_configs]
        todo.setdefault(instance, []).append(k % job.n_configs)

    def sink(records):
        out.append(records, job=jid, end=False)
        counts["records"] += len(records)
        if on_record is not None:
            for record in records:
                on_record(record)

    execute(job, sharding=sharding, todo=todo, sink=sink, timing_repeats=timing_repeats)
    out.end_job(jid, len(ids))
    counts["ran"] += 1
    return True


def _run_pair(suite, tune, out, existing, counts, sharding, progress, timing_repeats: int = 0) -> None:
    """A (landscape, optimizer entry)'s tuning job, then its best config on the test seeds."""
    land, opt = tune.landscape, tune.optimizer
    if progress:
        progress(f"{land.name} x {opt.label}: {tune.n_configs} configs")
    selection = Selection(len(tune.instances))
    job = tune.job_id()
    for record_id in set(tune.record_ids()) & existing.keys():
        if out.has(record_id, job):  # kept, not computed again: the selection reads it here
            index, packed = existing[record_id]
            reached, steps, gaps = np.split(packed, 3)
            selection.add_columns(index, tune.config(index), (reached.astype(bool), steps, gaps))
    if not _run_job(tune, out, counts, sharding, on_record=selection.add, timing_repeats=timing_repeats):
        counts["skipped"] += 1
    test = Job(suite, land, opt, TEST, {k: np.array([v]) for k, v in selection.best().items()},
               suite.test_seeds)
    if progress:
        progress(f"{land.name} x {opt.label}: best config on fresh seeds")
    if not _run_job(test, out, counts, sharding, timing_repeats=timing_repeats):
        counts["skipped"] += 1
