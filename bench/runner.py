"""Runs a suite: one compiled, vmapped job per (landscape, optimizer entry), records appended per job.

A job puts every instance x config x seed x start of one landscape and one optimizer entry on one runs
axis. The tuning protocol is fixed and stated: the best config of the search (highest success rate at
the suite's success target over the tuning seeds and all instances; ties broken by the lower median
steps-to-target, then the lower median final gap) is re-run on the suite's fresh ``test_seeds``; those
re-runs are the records marked ``phase = "test"`` that tables compare across families.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import types
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

import landscapes
import optimizers
from bench import environment
from bench.aggregate import target_index
from bench.engine import (OptimizerBuilder, Problem, check_fused, make_batch, precompile, run_batch,
                          step_flops)
from bench.results import SCHEMA, ResultsDir, stable_hash
from bench.suites import LandscapeEntry, OptimizerEntry, Suite
from landscapes.errors import InputError
from landscapes.instances import instance_minimizers, make_instance

TUNE, TEST = "tune", "test"
MAX_PADDING_FACTOR = 64
CPU_CHUNK_PER_DEVICE = 256


def start_points(landscape, dim: int, seed: int, starts: int) -> np.ndarray:
    """(starts, dim) points drawn uniformly from the start box; the same for every config and
    instance of a seed (common random numbers make configs comparable run by run)."""
    rng = np.random.default_rng([seed, zlib.crc32(landscape.name.encode()), dim])
    box = landscape.start_box(dim)
    return rng.uniform(box[:, 0], box[:, 1], size=(starts, dim))


def noise_keys(seeds, starts: int) -> np.ndarray:
    """The gradient-noise key of each (seed, start) run, in the order of :func:`start_points` per
    seed: every run draws its own noise stream, the same one in every config."""
    return np.array([[s, j] for s in seeds for j in range(starts)], np.uint32)


def phase_settings(suite: Suite) -> dict[str, dict[str, Any]]:
    """The settings of each phase's records: those in their identity (the tuning runs on ``seeds``,
    the test runs on ``test_seeds``), and the success target, which picks the config a test phase
    re-runs although it is not part of a record's id."""
    return {TUNE: suite.settings() | {"success_target": suite.success_target},
            TEST: suite.settings() | {"seeds": list(suite.test_seeds),
                                      "success_target": suite.success_target}}


@dataclasses.dataclass(frozen=True)
class Job:
    """The work of one (landscape, optimizer entry, phase): configs x instances x seeds x starts."""

    suite: Suite
    landscape: LandscapeEntry
    optimizer: OptimizerEntry
    phase: str
    configs: Mapping[str, np.ndarray]  # name -> (C,)
    seeds: tuple[int, ...]

    @property
    def n_configs(self) -> int:
        return len(next(iter(self.configs.values())))

    def config(self, index: int) -> dict[str, float]:
        return {k: float(v[index]) for k, v in sorted(self.configs.items())}

    def identity(self, instance: int, index: int) -> dict[str, Any]:
        """Everything that determines a record's numbers (hence its id and a lone rerun)."""
        return dict(settings=self.suite.settings() | {"seeds": list(self.seeds)},
                    landscape=self.landscape.name, dim=self.landscape.dim, instance=instance,
                    family=self.optimizer.family, schedule=self.optimizer.schedule,
                    config=self.config(index), phase=self.phase)

    def record_ids(self) -> list[str]:
        """Ids in record order (instance, config); hashed once per job, they are asked for often."""
        if "_ids" not in self.__dict__:
            self.__dict__["_ids"] = [stable_hash(self.identity(i, c))
                                     for i in self.landscape.instances for c in range(self.n_configs)]
        return list(self.__dict__["_ids"])


def run_chunk(suite: Suite, sharding=None) -> int | None:
    """Runs per call of a compiled sweep: the suite's ``chunk_size``, else on CPUs a fixed
    CPU_CHUNK_PER_DEVICE runs per device, else (GPUs) the whole batch at once.

    On the 2-core CPU a fixed, small chunk made the default suite's sweeps faster (Rastrigin with
    momentum: 0.33-0.37 s in chunks of 256-1536 runs against 0.83-1.9 s for 2,048-4,608 runs at
    once: above about 1,024 runs per device XLA splits each kernel over the core's threads, which
    the other device's threads already use) and gives every job of a (landscape, optimizer) the
    same program shape: the tuning and test phases share one compiled program, and a run's numbers
    do not depend on how many configs shared its batch (they did above that size, by rounding,
    which a multimodal landscape turns into a different basin).
    """
    if suite.chunk_size:
        return suite.chunk_size
    if jax.default_backend() != "cpu":
        return None
    devices = 1 if sharding is None else len(sharding.device_set)
    return CPU_CHUNK_PER_DEVICE * devices


def _problem_and_batch(job: Job):
    """The compiled problem and the batch of a job (runs axis: instance, config, (seed, start)),
    with what ``execute`` needs to cut the results into records."""
    suite, entry = job.suite, job.landscape
    landscape = landscapes.get_landscape(entry.name)
    dim = entry.dim
    starts = np.concatenate([start_points(landscape, dim, s, suite.starts) for s in job.seeds])
    keys = noise_keys(job.seeds, suite.starts)
    per_record = len(starts)  # runs per (instance, config)
    instances = [make_instance(landscape, i, dim) for i in entry.instances]
    transformed = any(i.instance_id != 0 for i in instances)
    problem = Problem(landscape, OptimizerBuilder(job.optimizer.family, job.optimizer.schedule),
                      suite.steps, suite.targets, suite.dtype, transformed,
                      suite.trajectory_every, suite.unroll)
    n_conf = job.n_configs
    # Runs axis order: instance, config, (seed, start).
    tile = lambda a, reps: np.repeat(np.asarray(a)[None], reps, axis=0)  # noqa: E731
    hparams = {k: np.repeat(np.tile(v, len(instances)), per_record) for k, v in job.configs.items()}
    x0 = np.tile(starts, (len(instances) * n_conf, 1))
    key = np.tile(keys, (len(instances) * n_conf, 1))
    per_instance = n_conf * per_record
    moved = [instance_minimizers(landscape, i) for i in instances]
    minimizers = np.concatenate([tile(m, per_instance) for m in moved])
    extra = {}
    if transformed:
        extra = dict(shift=np.concatenate([tile(i.shift, per_instance) for i in instances]),
                     matrix=np.concatenate([tile(i.matrix, per_instance) for i in instances]))
    batch = make_batch(problem, hparams, x0, landscape.minimum(dim), minimizers, key=key, **extra)
    problem = dataclasses.replace(problem, loop=chosen_loop(suite.loop, problem, batch))
    return problem, batch, (starts, instances, moved, per_record, n_conf)


def chosen_loop(loop: str, problem: Problem, batch) -> str:
    """The step loop a job runs with: the suite's ``loop``, where "auto" is "fused" (the whole loop
    as one GPU kernel, ``bench.fused``) on a single GPU when the job's step can run fused (not with
    gradient noise), else "scan" (also over several devices, which the scan's
    sharding spreads the runs over and the kernel does not). "fused" on a step that cannot is a
    one-line InputError naming why; on a CPU it runs Pallas's interpreter, slowly (for checking)."""
    if loop == "scan":
        return "scan"
    if loop == "auto" and (jax.default_backend() != "gpu" or len(jax.devices()) != 1):
        return "scan"
    try:
        check_fused(problem, batch)
    except InputError:
        if loop == "fused":
            raise
        return "scan"
    return "fused"


def _precompile_ahead(jobs, *, chunk_size, sharding):
    """Compile the programs of ``jobs`` one after another in a background thread (XLA compiles
    without the GIL), so each job's compile overlaps the previous jobs' tracing, running and
    writing. Returns the executor; ``_executable``'s per-program lock makes the job itself wait
    for a compile in flight instead of starting a second one."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="precompile")

    def compile_job(job):
        try:
            problem, batch, _ = _problem_and_batch(job)
            precompile(problem, batch, chunk_size=chunk_size, sharding=sharding,
                       pad_to=chunk_size or 0)
        except Exception:  # the job compiles (and reports any error) itself
            pass

    for job in jobs:
        pool.submit(compile_job, job)
    return pool


def execute(job: Job, *, sharding=None, pad_to: int = 0, chunk_size: int | None = None
            ) -> list[dict[str, Any]]:
    """Run a job as one batch (in chunks of ``chunk_size`` runs, each padded to ``pad_to``) and turn
    it into one record per (instance, config)."""
    problem, batch, parts = _problem_and_batch(job)
    starts, instances, moved, per_record, n_conf = parts
    suite, entry = job.suite, job.landscape
    landscape = landscapes.get_landscape(entry.name)
    dim = entry.dim
    metrics, cost = run_batch(problem, batch, chunk_size=chunk_size, sharding=sharding,
                              pad_to=pad_to)
    flops = step_flops(problem, batch)
    cost_record = dict(environment.cost_record(cost, flops, suite.dtype), loop=problem.loop)
    stamp = environment.stamp(suite.dtype)
    records = []
    ids = iter(job.record_ids())
    for ii, instance in enumerate(instances):
        for c in range(n_conf):
            rows = slice((ii * n_conf + c) * per_record, (ii * n_conf + c + 1) * per_record)
            identity = job.identity(instance.instance_id, c)
            record = dict(
                schema=SCHEMA, record_id=next(ids), suite=suite.name,
                phase=job.phase, landscape=entry.name, dim=dim, instance=instance.instance_id,
                family=job.optimizer.family, schedule=job.optimizer.schedule,
                label=job.optimizer.label, config=job.config(c), config_index=c,
                steps=suite.steps, targets=list(suite.targets), success_target=suite.success_target,
                dtype=suite.dtype, seeds=list(job.seeds), starts=suite.starts,
                f_star=landscape.minimum(dim), minimizers=moved[ii],
                x0=starts, identity=identity,
                runs=dict(steps_to_target=metrics.steps_to_target[rows],
                          reached=metrics.reached[rows], final_gap=metrics.final_gap[rows],
                          best_gap=metrics.best_gap[rows], distance=metrics.distance[rows],
                          basin=metrics.basin[rows], status=metrics.status[rows],
                          final_x=metrics.final_x[rows]),
                cost=cost_record, **stamp)
            if metrics.trajectory is not None and job.phase == TEST:
                # Trajectories of the tuned configs only: they are what the figures draw, and
                # storing them for every config of a grid would multiply the file size by ~100.
                record["trajectory"] = metrics.trajectory[rows]
            records.append(record)
    return records


def success_rate(record: Mapping[str, Any]) -> float:
    """Fraction of the record's runs that reached its success target (diverged runs never do)."""
    index = target_index(record)
    reached = np.asarray(record["runs"]["reached"], bool)
    return float(reached[:, index].mean())


def selection_key(records: list[Mapping[str, Any]]) -> tuple[float, float, float]:
    """The tuning criterion over one config's records (all instances): lower is better."""
    index = target_index(records[0])
    reached = np.concatenate([np.asarray(r["runs"]["reached"], bool)[:, index] for r in records])
    steps = np.concatenate([np.asarray(r["runs"]["steps_to_target"])[:, index] for r in records])
    gaps = np.concatenate([np.asarray(r["runs"]["final_gap"], float) for r in records])
    gaps = np.where(np.isfinite(gaps), gaps, np.inf)
    return (-float(reached.mean()), float(np.median(steps)), float(np.median(gaps)))


def best_config(records: list[Mapping[str, Any]]) -> dict[str, float]:
    """The tuned config of one (landscape, optimizer entry) by the stated criterion."""
    by_config: dict[int, list] = {}
    for record in records:
        by_config.setdefault(record["config_index"], []).append(record)
    best = min(sorted(by_config), key=lambda c: selection_key(by_config[c]))
    return dict(by_config[best][0]["config"])


def plan_jobs(suite: Suite) -> list[tuple[LandscapeEntry, OptimizerEntry]]:
    return [(land, opt) for land in suite.landscapes for opt in suite.optimizers]


def run_references(suite: Suite, out: ResultsDir, *,
                   progress: Callable[[str], None] | None = None) -> int:
    """The suite's scipy reference rows not yet in ``out``, on the same starts as the test phase."""
    from bench.reference import reference_records

    done = out.record_ids()
    written = 0
    for land, method, starts in _reference_tasks(suite):
        if progress:
            progress(f"{land.name} x scipy {method} (reference)")
        fresh = reference_records(suite, land, method, starts, done)
        if fresh:
            out.append(fresh)
            written += len(fresh)
    return written


def _reference_tasks(suite: Suite):
    """(landscape entry, method, test starts) of every reference row, in the serial order."""
    for land in suite.landscapes:
        landscape = landscapes.get_landscape(land.name)
        starts = np.concatenate([start_points(landscape, land.dim, s, suite.starts)
                                 for s in suite.test_seeds])
        for method in suite.references:
            yield land, method, starts


def import_ahead(modules: list[str]):
    """Import ``modules`` in a background thread; returns the (daemon) thread.

    What a run needs only at its end, it imports while the sweeps run: scikit-learn (the MNIST
    search; ~2.5 s, with scipy.stats) and matplotlib (the report) were imported on one core after
    the sweeps, the other core idle. The sweeps' thread waits in XLA, without the GIL, meanwhile.
    A module that fails to import is left alone: the code that uses it imports it again and reports
    the error there.
    """
    import importlib
    import threading

    def load():
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 (raised again, with its message, where it is used)
                pass

    thread = threading.Thread(target=load, name="import-ahead", daemon=True)
    thread.start()
    return thread


def _reference_worker_init(imports: tuple[str, ...] = (), import_dirs: tuple[str, ...] = ()) -> None:
    from bench.jax_setup import configure_jax
    from bench.suites import import_modules

    configure_jax()
    import_modules(imports, import_dirs)  # the suite's own landscapes, registered here too


@contextlib.contextmanager
def _caller_script_hidden():
    """Start spawn workers without running the caller's script in them.

    A "spawn" worker imports the parent's ``__main__`` file first (as ``__mp_main__``). When that is
    a user's script calling ``bench.cli.main(["run", ...])`` without an ``if __name__ ==
    "__main__"`` guard, the worker ran the whole suite again (and from stdin it failed on
    '<stdin>'). The worker needs nothing from ``__main__``: its tasks and initializer live in
    ``bench``, so a bare stand-in is shown while it starts."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class BackgroundReferences:
    """The suite's scipy reference rows, computed in one worker process while the sweeps run, and
    shared with this process once its sweeps are done (:meth:`collect`).

    scipy's solvers are sequential Python, so they cannot join the vmapped sweeps; in-process they
    added ~12 s to a default run after the sweeps. The sweeps spend much of their time in Python
    (tracing and lowering) on one core, so a second process fills the other core with the
    references. The records are the same as ``run_references`` writes (they are computed by the
    same function, in float64 on the CPU) and are appended by this process, in the serial order,
    after the sweeps; if the worker cannot start or dies, the remaining rows are computed here.
    """

    def __init__(self, suite: Suite, done: set[str] | frozenset[str] = frozenset()):
        from bench.reference import reference_records

        self.suite = suite
        self.tasks = list(_reference_tasks(suite))
        self.done = frozenset(done)
        self.futures = []
        self.pool = None
        self.computed_here = 0
        if not self.tasks:
            return
        try:
            import concurrent.futures
            import multiprocessing

            self.pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_reference_worker_init, initargs=(suite.imports, suite.import_dirs))
            with _caller_script_hidden():  # the worker process starts at the first submit
                self.futures = [self.pool.submit(reference_records, suite, land, method, starts,
                                                 self.done)
                                for land, method, starts in self.tasks]
        except Exception:  # no worker (restricted environment): computed in-process in collect()
            self.close()
            self.futures = []

    def collect(self, out: ResultsDir, *, progress: Callable[[str], None] | None = None) -> int:
        """Append every reference record not yet in ``out``; returns how many were written."""
        from bench.reference import reference_records

        # The rows the worker has not started yet are shared: this process, done with the
        # sweeps, takes them from the end while the worker goes on from the front (on the 2-core
        # machine the worker finished ~6 s after the sweeps, this process waiting on it).
        here: dict[int, list] = {}
        for index in reversed(range(len(self.futures))):
            if not self.futures[index].cancel():
                break  # the worker has started it (and so every earlier one)
            land, method, starts = self.tasks[index]
            here[index] = reference_records(self.suite, land, method, starts, self.done)
        self.computed_here = len(here)
        written = 0
        for index, (land, method, starts) in enumerate(self.tasks):
            if progress:
                progress(f"{land.name} x scipy {method} (reference)")
            fresh = here.get(index)
            if fresh is None and index < len(self.futures):
                try:
                    fresh = self.futures[index].result()
                except Exception:  # a worker that died: do this and the rest here
                    self.close()
                    self.futures = []
            if fresh is None:
                fresh = reference_records(self.suite, land, method, starts, self.done)
            if fresh:
                out.append(fresh)
                written += len(fresh)
        self.close()
        return written

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def run_suite(suite: Suite, out: ResultsDir, *, progress: Callable[[str], None] | None = None,
              sharding=None) -> dict[str, int]:
    """Run every job not already in ``out`` (resume), appending and fsyncing records per job.

    Returns counts: jobs run, jobs skipped (already complete), records written.
    """
    out.refuse_other_settings(phase_settings(suite))  # from Python too, not only `run`
    counts = dict(ran=0, skipped=0, records=0)
    chunk = run_chunk(suite, sharding)
    # One parse of the results file serves both the resume check and the tuned-config lookup.
    existing = {record["record_id"]: record for record in out.records()}
    done = existing.keys()
    tunes = [Job(suite, land, opt, TUNE, opt.configs(), suite.seeds)
             for land, opt in plan_jobs(suite)]
    ahead = _precompile_ahead([job for job in tunes if not all(i in done for i in job.record_ids())],
                              chunk_size=chunk, sharding=sharding)
    try:
        for tune in tunes:
            _run_pair(suite, tune, out, existing, counts, chunk, sharding, progress)
    finally:
        ahead.shutdown(wait=True, cancel_futures=True)
    return counts


def _run_pair(suite, tune, out, existing, counts, chunk, sharding, progress) -> None:
    """A (landscape, optimizer entry)'s tuning job, then its best config on the test seeds."""
    done = existing.keys()
    land, opt = tune.landscape, tune.optimizer
    ids = tune.record_ids()
    if progress:
        progress(f"{land.name} x {opt.label}: {tune.n_configs} configs")
    if all(i in done for i in ids):
        counts["skipped"] += 1
        tune_records = [existing[i] for i in ids]
    else:
        tune_records = execute(tune, sharding=sharding, chunk_size=chunk, pad_to=chunk or 0)
        out.append(tune_records)
        counts["ran"] += 1
        counts["records"] += len(tune_records)
    best = best_config(tune_records)
    test = Job(suite, land, opt, TEST, {k: np.array([v]) for k, v in best.items()},
               suite.test_seeds)
    if progress:
        progress(f"{land.name} x {opt.label}: best config on fresh seeds")
    if all(i in done for i in test.record_ids()):
        counts["skipped"] += 1
        return
    if chunk:  # the tuning phase's chunk shape: its compiled program serves this phase too
        pad_to = chunk
    else:  # one call: padded to the tuning batch's shape unless that is much larger
        tune_runs = tune.n_configs * len(land.instances) * len(suite.seeds) * suite.starts
        test_runs = len(land.instances) * len(suite.test_seeds) * suite.starts
        pad_to = tune_runs if tune_runs <= MAX_PADDING_FACTOR * test_runs else 0
    test_records = execute(test, sharding=sharding, chunk_size=chunk, pad_to=pad_to)
    out.append(test_records)
    counts["ran"] += 1
    counts["records"] += len(test_records)


def rerun_record(record: Mapping[str, Any], *, sharding=None,
                 imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Recompute one record alone from its stored identity (for ``landscape-bench rerun``), in the
    chunk shape ``run_suite`` uses with the same devices, so the program is the same one.

    A scipy reference record is recomputed from its stored starts; its identity holds no suite
    settings, so ``imports`` (the modules its suite imported, from the other records) are imported
    for a landscape of the user's own."""
    from bench.suites import import_modules

    ident = record["identity"]
    if ident.get("kind") == "reference":
        from bench.reference import run_reference

        import_modules(imports, where="rerun")
        runs, _, _ = run_reference(landscapes.get_landscape(ident["landscape"]), ident["dim"],
                                   ident["instance"], ident["method"],
                                   np.asarray(record["x0"], float), ident["steps"], ident["targets"])
        return dict(record, runs=runs)
    settings = ident["settings"]
    import_modules(settings.get("imports", ()), where="rerun")  # the suite's own landscapes
    suite = Suite(name=record["suite"], description="", steps=settings["steps"],
                  targets=tuple(settings["targets"]), success_target=record["success_target"],
                  dtype=settings["dtype"], seeds=tuple(settings["seeds"]), test_seeds=(),
                  starts=settings["starts"],
                  landscapes=(), optimizers=(), trajectory_every=settings["trajectory_every"],
                  unroll=settings["unroll"], chunk_size=None, mnist=None, source="rerun",
                  imports=tuple(settings.get("imports", ())), loop=settings.get("loop", "auto"))
    land = LandscapeEntry(ident["landscape"], ident["dim"], (ident["instance"],))
    label = record.get("label", f"{ident['family']}/{ident['schedule']}")
    opt = OptimizerEntry(ident["family"], ident["schedule"], "grid", 1, 0,
                         {k: v for k, v in ident["config"].items()}, label)
    job = Job(suite, land, opt, ident["phase"], {k: np.array([v]) for k, v in ident["config"].items()},
              tuple(settings["seeds"]))
    chunk = run_chunk(suite, sharding)
    (new,) = execute(job, sharding=sharding, chunk_size=chunk, pad_to=chunk or 0)
    return dict(new, config_index=record["config_index"])


def mnist_sections(suite: Suite, data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The suite's ``[mnist]`` table or ``[[mnist]]`` tables, as a list of section specs, each with
    the MNIST data it will train on in ``data_dir``: the ``data_dir`` given here (``landscape-bench
    run --mnist-dir``) for every section, else the section's own, else ``$LANDSCAPE_BENCH_MNIST_DIR``,
    else None (the embedded 5k subset).

    The spec is the record's identity, so the data decides whether a results directory already holds
    a section: the same suite on other data is run again, not resumed. Directories named here or in
    the environment are made absolute, so the same data is recognised from any working directory.
    """
    from bench.mnist.data import ENV_VAR

    if not suite.mnist:
        return []
    fallback = os.environ.get(ENV_VAR) or None
    specs = []
    for section in (suite.mnist if isinstance(suite.mnist, list) else [suite.mnist]):
        spec = dict(section)
        chosen = data_dir if data_dir is not None else None if spec.get("data_dir") else fallback
        if chosen is not None:
            spec["data_dir"] = str(Path(chosen).resolve())
        specs.append(spec)
    return specs


def run_mnist(suite: Suite, out: ResultsDir, *, progress: Callable[[str], None] | None = None,
              model_dir=None, data_dir: str | os.PathLike | None = None) -> int:
    """Run the suite's MNIST sections not yet in ``out``; one ``kind = "mnist"`` record each.

    The record holds the search in scikit-learn's ``cv_results_`` shape, the best config, the refit's
    per-epoch history and its test accuracy (see ``bench.mnist.section``). ``data_dir``: the MNIST
    data of every section (see :func:`mnist_sections`).
    """
    from bench.mnist.section import run_mnist_section

    done = out.record_ids()
    written = 0
    for spec in mnist_sections(suite, data_dir):
        identity = dict(kind="mnist", spec=spec)
        record_id = stable_hash(identity)
        label = f"{spec.get('family', 'nesterov')}/{spec.get('schedule', 'time_based')}"
        if progress:
            progress(f"MNIST MLP x {label}")
        if record_id in done:
            continue
        rows = run_mnist_section(spec, model_dir)
        cv_rows = [r for r in rows if r["kind"] == "mnist_cv"]
        (best,) = [r for r in rows if r["kind"] == "mnist_best"]
        cv_keys = [k for k in cv_rows[0] if k == "params" or k.startswith(("split", "mean_", "std_",
                                                                          "rank_"))]
        cv_results = {k: [r[k] for r in cv_rows] for k in cv_keys}
        record = {k: v for k, v in best.items() if k not in ("kind", "date")}
        record.update(schema=SCHEMA, record_id=record_id, kind="mnist", suite=suite.name,
                      identity=identity, label=f"{best['family']}/{best['schedule']}",
                      config=best["best_params"], cv_results=cv_results,
                      optimizer_configs=[r["optimizer_config"] for r in cv_rows],
                      run_status=[r["run_status"] for r in cv_rows], **environment.stamp("float32"))
        out.append([record])
        written += 1
    return written
