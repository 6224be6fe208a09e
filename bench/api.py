"""One entry point: run a suite from Python exactly as ``landscape-bench run`` does.

    from bench.api import run
    result = run("quick", out="results/quick")
    result.table          # one row per (landscape, optimizer label): the tuned config's test runs
    result.report         # path of report.html (None with report=False)

The scipy references (in a worker process while the sweeps run), the MNIST section, resume, the
directory lock, the memory plan, the views the report's figures read (``views.npz``) and the report
are the command line's own; ``bench.cli`` is a thin
shell over :func:`run`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from landscapes.errors import InputError


@dataclasses.dataclass(frozen=True, eq=False)
class RunResult:
    """What a run wrote and what it found.

    Attributes:
      out: the results directory; ``results`` its ``results.jsonl``.
      counts: jobs run, jobs already done (resumed) and records written.
      seconds: wall time of the jobs (sweeps, references, MNIST), report excluded.
      report: the report page, or None.
      table: one dict per (problem, optimizer label) of the compared records (the tuned config on
        the test seeds, and the scipy references): success rate at the success target, median
        steps to it, median final gap, runs and diverged runs. Read from the results file when
        first asked for (a grid of a million configs is not read back unless it is).
    """

    out: Path
    counts: dict[str, int]
    seconds: float
    report: Path | None

    @property
    def results(self) -> Path:
        return self.out / "results.jsonl"

    @functools.cached_property
    def table(self) -> list[dict[str, Any]]:
        return summary_table(self.out)


def run(suite: str | os.PathLike = "default", out: str | os.PathLike | None = None, *,
        report: bool = True, mnist: bool = True, mnist_dir: str | os.PathLike | None = None,
        shard: bool = True, memory_budget: str | None = None, timing_repeats: int = 0,
        progress: Callable[[str], None] | None = None) -> RunResult:
    """Run ``suite`` (a built-in name or a TOML path) into ``out`` (default ``results/NAME``),
    resuming what is there; see ``landscape-bench run --help`` for the options.

    ``timing_repeats``: run every job's compiled program that many more times, for timing alone, and
    store each repeat's seconds in the records' ``cost`` (0 to 100; 0, the default, adds nothing),
    so ``compare`` can judge speed (``bench.run.timing``)."""
    from bench.core.jax_setup import configure_jax
    from bench.run import runner
    from bench.run.results import ResultsDir
    from bench.run.suites import load_suite
    from bench.run.timing import check_timing_repeats

    timing_repeats = check_timing_repeats(timing_repeats)  # before anything is loaded or written
    if out is not None and not str(out).strip():
        raise InputError("--out is empty; give a results folder (or leave it out for results/SUITE)")
    suite = load_suite(None if suite is None else str(suite))  # None: the default suite
    out = Path(out) if out is not None else Path("results") / suite.name
    configure_jax()
    sharding = None
    if shard:
        from bench.core.sharding import runs_sharding

        sharding = runs_sharding()
    sections = _checked_mnist_sections(suite, mnist, mnist_dir)
    runner.check_memory(suite, sharding, memory_budget)  # before the folder is touched
    started = time.perf_counter()
    with ResultsDir(out) as results:
        counts = _run_into(results, suite, sections, sharding=sharding, memory_budget=memory_budget,
                           timing_repeats=timing_repeats, report=report, mnist_dir=mnist_dir,
                           progress=progress)
    seconds = time.perf_counter() - started
    page = None
    if report:
        from reports import build_report

        page = Path(build_report(out, out / "report"))
    return RunResult(out, counts, seconds, page)


def _checked_mnist_sections(suite, mnist: bool, mnist_dir) -> list[dict[str, Any]]:
    """The suite's MNIST sections to run, each checked before anything runs: a wrong setting is
    found now, not minutes later."""
    from bench.run import mnist_track

    sections = mnist_track.mnist_sections(suite, mnist_dir) if mnist else []
    if mnist_dir is not None and not sections:
        raise InputError(f"--mnist-dir is for the suite's MNIST section, and suite {suite.name!r}"
                         " has none (or --skip-mnist was given); add an [mnist] table or leave it out")
    for spec in sections:
        from bench.mnist.section import check_spec

        check_spec(spec)
        if spec.get("data_dir") is not None:
            from bench.mnist.data import check_data_path

            check_data_path(spec["data_dir"])
    return sections


def _run_into(results, suite, sections, *, sharding, memory_budget, timing_repeats, report, mnist_dir,
              progress) -> dict[str, int]:
    """Sweeps, references, MNIST sections and views into the locked ``results``; returns counts."""
    from bench.core import environment
    from bench.run import background, mnist_track, runner
    from bench.run.views import write_views
    from bench.run.views_writer import start_collecting

    results.refuse_other_settings(runner.phase_settings(suite), environment.identity())
    seen = start_collecting(results)  # the views of the records as they are written
    # The scipy references run in a worker process while the sweeps run here; a timing run keeps
    # the machine to its timings instead: references and imports come after the sweeps.
    references = None
    if not timing_repeats:
        references = background.BackgroundReferences(suite, background.references_done(suite, results))
        background.import_ahead((["bench.mnist.section"] if sections else [])
                                + (["reports.report"] if report else []))
    try:
        counts = runner.run_suite(suite, results, progress=progress, sharding=sharding,
                                  memory_budget=memory_budget, timing_repeats=timing_repeats)
        counts["records"] += references.collect(results, progress=progress) if references \
            else background.run_references(suite, results, progress=progress)
        if sections:
            counts["records"] += mnist_track.run_mnist(suite, results, progress=progress,
                                                       model_dir=results.path / "models",
                                                       data_dir=mnist_dir)
    except BaseException:  # an interrupt or an error: the worker's rows are redone by a rerun
        if references is not None:
            references.kill()
        raise
    finally:
        if references is not None:
            references.close()
    # What the report's figures need from problem code, written while the folder is locked (a
    # resumed run with nothing left to do too): the report then only reads files.
    write_views(results, progress=progress, seen=seen)
    return counts


def summary_table(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The compared records of a results directory as rows (see :class:`RunResult`)."""
    import numpy as np

    from bench.analysis import aggregate
    from bench.run.records import TEST, TUNE, target_index, tuned_test_records
    from bench.run.results import read_results

    records = aggregate.landscape_records(read_results(out))
    tuning = aggregate.group_by([r for r in records if r["phase"] == TUNE], "problem", "label")
    rows = []
    for (problem, label), group in aggregate.group_by(
            [r for r in records if r["phase"] == TEST], "problem", "label").items():
        if not group[0].get("reference"):
            group = tuned_test_records(tuning.get((problem, label), []), group)
        index = target_index(group[0])
        reached = np.concatenate([np.asarray(r["runs"]["reached"], bool)[:, index] for r in group])
        steps = np.concatenate([np.asarray(r["runs"]["steps_to_target"])[:, index] for r in group])
        gaps = np.concatenate([aggregate.as_float(r["runs"]["final_gap"]) for r in group])
        status = np.concatenate([np.asarray(r["runs"]["status"]) for r in group])
        rows.append(dict(problem=problem, label=label, config=dict(group[0]["config"]),
                         success_target=group[0]["success_target"],
                         success_rate=float(reached.mean()),
                         median_steps_to_target=float(np.median(steps[reached])) if reached.any()
                         else None,
                         median_final_gap=float(np.nanmedian(gaps)) if np.isfinite(gaps).any()
                         else None,
                         runs=int(reached.size), diverged=int((status == 2).sum())))
    return rows
