"""``build_report``: a results directory -> report.md, report.html and figures (PNG + SVG).

Everything is read from files: the records (``results.jsonl``) and what the run computed for the
figures from problem code (``views.npz``, :mod:`bench.run.views`). Nothing is re-run, and neither JAX
nor the suite's own modules are imported. What the results lack (a label missing on a landscape, no
trajectories, no views, all runs diverged, no test phase, no MNIST track) is listed in a "What is
missing" section instead of failing; each section lives in a ``reports/section_*.py`` module.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.analysis import aggregate
from bench.analysis.aggregate import TEST, TUNE
from bench.analysis import tables
from bench.run.views import Views, how_to_write, load_views
from bench.staged import staged_folder
from reports import (section_mnist, section_problems, section_runtime, section_sensitivity,
                     section_tables)
from reports.document import Document
from reports import parallel
from reports.parallel import Helper, default_workers
from reports.style import save

Record = Mapping[str, Any]


def evaluation_records(records: Sequence[Record]) -> tuple[list[Record], list[tuple[str, str]]]:
    """The records tables and figures compare: phase "test"; where a (landscape, label) has no test
    records (an interrupted run), its best tuning config instead. Returns them and those fallbacks."""
    from bench.run.records import tuned_test_records

    land = aggregate.landscape_records(records)
    tuning = aggregate.group_by(aggregate.landscape_records(land, TUNE), "problem", "label")
    testing = aggregate.group_by([r for r in land if r["phase"] == TEST], "problem", "label")
    chosen = []
    for key, test in testing.items():
        # Sweeps' test records of the config the tuning records choose; reference rows as they are.
        sweeps = [r for r in test if not r.get("reference")]
        chosen += tuned_test_records(tuning.get(key, []), sweeps) + [r for r in test if r.get("reference")]
    tested = set(testing)
    fallbacks = []
    for (problem, label), group in tuning.items():
        if (problem, label) in tested:
            continue
        by_config = aggregate.group_by(group, "config_index")
        best = min(sorted(by_config), key=lambda c: aggregate.selection_key(by_config[c]))
        chosen += by_config[best]
        fallbacks.append((problem, label))
    return chosen, fallbacks


def build_report(results_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                 formats: tuple[str, ...] = ("png", "svg"), workers: int | None = None) -> Path:
    """Write the report of ``results_dir`` into ``out_dir``; returns the path of report.html.

    ``workers``: processes building the sections. 2 or more: a helper process reads the results too
    and builds :data:`reports.parallel.HELPER_SECTIONS` (figures and tables) while this one builds
    the rest; by default :func:`reports.parallel.default_workers` (1 for small results or busy CPUs,
    where the helper is slower); 0 or 1 builds every section here. The files and the page are the
    same either way: the blocks are put together in the sections' order, and the sections of a
    helper that fails, dies, times out or read other records (a run appending meanwhile) are built
    here.

    Raises InputError when ``results_dir`` holds no results file or one of another schema.
    """
    from bench.run.results import RESULTS_FILE, read_results

    results_dir, final = Path(results_dir), Path(out_dir)
    file = (results_dir.parent if results_dir.is_file() else results_dir) / RESULTS_FILE
    if not file.is_file():  # before anything is made (read_results says it in one line)
        read_results(results_dir)
    if workers is None:
        workers = default_workers(file.stat().st_size if file.is_file() else 0)
    # Built in a staging folder and moved into ``final`` whole: a failure part-way (a full disk)
    # leaves the previous report's files as they were.
    with staged_folder(final) as out:
        helper = Helper(file, out, formats) if workers >= 2 else None
        try:
            if helper is not None:
                helper.start()
            with records_outside_collector(lambda: read_results(results_dir)) as records:
                suites = sorted({str(r.get("suite")) for r in records if r.get("suite")})
                doc = Document(f"landscape-bench report: {', '.join(suites) or results_dir.name}")
                builder = Builder(records, doc, out, formats, results_dir=results_dir)
                builder.build(helper)
        finally:
            if helper is not None:
                helper.close()
        page = doc.write(out, "report")
    if builder.land and not builder.views.available:  # said on the terminal too, not only in the page
        print(f"landscape-bench report: note: {builder.views_note()}", file=sys.stderr)
    return final / page.name


@contextmanager
def records_outside_collector(read: Callable[[], list[Record]]):
    """The records ``read()`` returns, left out of Python's garbage collector's scans until the block
    ends (with whatever else is alive then). They are millions of lists, dicts and floats, alive to
    the end; the full collections triggered by the many short-lived objects matplotlib makes
    scanned them all each time (~1.1 s of a ~7.7 s one-process build; docs/performance.md, "Report
    build time"). The collector is paused while reading, so its first pass after the read does not
    walk them either."""
    from bench.run.results import collector_paused

    with collector_paused():
        records = read()
        gc.freeze()
    try:
        yield records
    finally:
        gc.unfreeze()


class Builder:
    """What the sections share: the records grouped, the run's views, the document and the notes of
    what could not be shown. Each section is a function of it (:data:`SECTIONS`)."""

    def __init__(self, records: Sequence[Record], doc: Document, out: Path, formats: tuple[str, ...], *,
                 results_dir: Path | None = None, views: Views | None = None):
        self.records = list(records)
        self.results_dir = results_dir
        self.views = views if views is not None else (
            load_views(results_dir) if results_dir is not None else Views(reason="no results directory"))
        self.mnist = [r for r in self.records if aggregate.is_mnist_record(r)]
        self.doc = doc
        self.out = out
        self.figures_dir = out / "figures"
        self.formats = formats
        self.missing: list[str] = []
        self.land = aggregate.landscape_records(records)
        self.tune = aggregate.landscape_records(records, TUNE)
        self.evaluation, fallbacks = evaluation_records(records)
        self.problems = aggregate.problems_in(self.land)
        self.labels = aggregate.labels_in(self.land)
        self.by_problem_label = aggregate.group_by(self.evaluation, "problem", "label")
        self.by_problem = aggregate.group_by(self.land, "problem")
        self._floors: dict[tuple[str, str], float] = {}
        tuning = aggregate.group_by(self.tune, "problem", "label")
        self.edges = {key: tables.edge_flags(tuning.get(key, []), group[0]["config"])
                      for key, group in self.by_problem_label.items() if not group[0].get("reference")}
        for problem, label in fallbacks:
            self.missing.append(f"{problem} × {label}: no test-phase records (the run stopped before the"
                                " best config was re-run on fresh seeds); its best tuning config is shown.")

    def save(self, fig, stem: str, caption: str) -> None:
        """Every figure as PNG (shown on the page) and SVG (linked beside it)."""
        self.doc.figure(save(fig, self.figures_dir, stem, self.formats), caption, self.out)

    def views_note(self) -> str:
        """Why the figures drawn from the run's views are missing, and how to write them."""
        return f"{self.views.reason}; {self.views_note_text()}"

    def views_note_text(self) -> str:
        """How to write the run's views anew."""
        where = self.results_dir
        if where is not None and where.is_file():  # the results file itself was given
            where = where.parent
        return how_to_write(self.records, where or "DIR")

    def without_views(self, what: str) -> bool:
        """Where the run's views are absent: a note in place of ``what`` (and in what is missing);
        True then."""
        if self.views.available:
            return False
        self.doc.text(f"{what} not drawn: they are drawn from the data the run computes from the"
                      f" landscapes and schedules, and {self.views_note()}.")
        self.missing.append(f"figures from the run's views ({what.lower()}): {self.views_note()}.")
        return True

    def records_of(self, problem: str) -> list[Record]:
        return self.by_problem.get((problem,), [])

    def success_target(self, problem: str) -> float:
        records = self.records_of(problem)
        return float(records[0]["success_target"]) if records else float("nan")

    def floor(self, problem: str, dtype: str) -> float:
        """The precision floor of ``dtype`` on ``problem`` (NaN where the views lack it)."""
        key = (problem, dtype)
        if key not in self._floors:
            self._floors[key] = tables.problem_floor(self.views, self.records_of(problem), dtype)
        return self._floors[key]

    # -------------------------------------------------------------------------------------------
    def sections(self) -> list[str]:
        """The sections, in the page's order (:data:`SECTIONS`); "missing" always comes last and is
        not listed (it reads what the others noted)."""
        if not self.records:
            return ["nothing"]
        land = ["tables", "edges", "contours", "gaps", "schedules", "sensitivity", "ecdf", "profiles",
                "tuning_budget", "basins", "cost"] if self.land else ["no_landscapes"]
        return ["summary", *land, "mnist"]

    def run_section(self, name: str) -> tuple[list[tuple], list[str]]:
        """Build one section; returns (and takes out of the document and the notes) the blocks it
        added and what it noted as missing."""
        blocks, missing = len(self.doc.blocks), len(self.missing)
        try:
            SECTIONS[name](self)
            return self.doc.blocks[blocks:], self.missing[missing:]
        finally:
            del self.doc.blocks[blocks:], self.missing[missing:]

    def build(self, helper: Helper | None = None) -> None:
        """Every section in order; those ``helper`` builds (started already) are taken from it, or
        built here where it gives none."""
        names = self.sections()
        remote = [n for n in names if helper is not None and n in helper.sections]
        started = time.perf_counter()
        parts = {name: self.run_section(name) for name in names if name not in remote}
        if remote:
            timeout = max(parallel.HELPER_TIMEOUT, 4 * (time.perf_counter() - started))
            built = helper.result(self.records, timeout) or {}
            for name in remote:
                parts[name] = built[name] if name in built else self.run_section(name)
        for name in names:
            blocks, missing = parts[name]
            self.doc.blocks += blocks
            self.missing += missing
        section_missing(self)


def section_nothing(report: Builder) -> None:
    report.doc.text(f"Nothing is there: `{report.results_dir / 'results.jsonl'}` holds no records. Run"
                  " `landscape-bench run --out DIR` (or let a running suite finish a job) and build"
                  " the report again.")
    report.missing.append("no records at all")


def section_no_landscapes(report: Builder) -> None:
    report.missing.append("no landscape records (only the MNIST track, or nothing finished)")


def section_summary(report: Builder) -> None:
    doc, results_dir, mnist = report.doc, report.results_dir, report.mnist
    doc.heading("Summary")
    first = report.land[0] if report.land else report.records[0]
    items = [f"results: `{results_dir}` ({len(report.records)} records: {len(report.tune)} tuning,"
             f" {len(aggregate.landscape_records(report.records, TEST))} test,"
             f" {len(mnist)} MNIST)",
             f"landscapes: {', '.join(report.problems) or 'none'}",
             f"optimizer labels: {', '.join(report.labels) or 'none'}"]
    if report.land:
        items.append(f"budget: {first['steps']} steps; targets {', '.join(f'{t:g}' for t in first['targets'])};"
                     f" success target {first['success_target']:g}; dtype {first.get('dtype')}")
    device = first.get("device")
    if device:
        items.append("device: " + ", ".join(f"{k} {v}" for k, v in device.items()))
    versions = first.get("versions")
    if versions:
        items.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if first.get("created"):
        items.append(f"created: {first['created']}")
    doc.bullets(items)
    doc.text("Tables and comparisons use the phase `test` records: the best config of each search"
             " (highest success rate on the tuning seeds, ties by median steps-to-target, then median"
             " final gap) re-run on fresh seeds. Steps count gradient evaluations (function"
             " evaluations for scipy's Nelder-Mead). The scipy reference rows run in float64 on the"
             " same starts, whatever the suite's dtype.")


def section_missing(report: Builder) -> None:
    doc = report.doc
    for problem in report.problems:
        absent = [label for label in report.labels if (problem, label) not in report.by_problem_label]
        if absent:
            report.missing.insert(0, f"{problem}: no records for {', '.join(absent)}.")
    for note in report.views.unavailable:
        report.missing.append(f"not computed at run time for the figures: {note}")
    doc.heading("What is missing")
    if report.missing:
        doc.bullets(list(dict.fromkeys(report.missing)), "missing")
    else:
        doc.text("Nothing: every landscape has every label, trajectories and a test phase.")


SECTIONS = {
    "nothing": section_nothing, "no_landscapes": section_no_landscapes, "summary": section_summary,
    "tables": section_tables.section_tables, "edges": section_tables.section_edges,
    "contours": section_problems.section_contours, "gaps": section_problems.section_gaps,
    "schedules": section_problems.section_schedules,
    "sensitivity": section_sensitivity.section_sensitivity, "ecdf": section_runtime.section_ecdf,
    "profiles": section_runtime.section_profiles,
    "tuning_budget": section_runtime.section_tuning_budget, "basins": section_problems.section_basins,
    "cost": section_tables.section_cost, "mnist": section_mnist.section_mnist,
}
