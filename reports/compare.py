"""What changed between two runs (``compare_runs``) and the pytest-benchmark tables (``benchmark_report``).

Quality and speed are kept apart. Quality (success rate, ERT, final gap) is deterministic for a
given suite, seeds and device, so any difference is a change. Speed is noise-prone: it is compared
only where it was measured repeatedly (pytest-benchmark statistics, or the timing repeats of a run
with ``--timing-repeats``). Two runs timed repeatedly get one verdict for the whole suite, from the
geometric mean of the jobs' speed ratios and its interval (``reports.timings``), first in the report;
the jobs' ratios are listed for orientation. Two pytest-benchmark files get a verdict per benchmark
outside its noise band. A run timed once says "not measured repeatedly: no speed verdict".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis import aggregate, tables
from bench.run.results import read_results
from bench.staged import staged_folder
from bench.run.views import load_views
from landscapes.errors import InputError
from reports import figures
from reports.benchmarks import QUALITY_KEYS, workload_text
from reports.document import Document
from reports.report import evaluation_records
from reports.style import save, subplots
from reports.timings import (CONFIDENCE, MIN_NOISE_BAND, MIN_REPEATS, NO_SPEED_VERDICT, QUIET_LEVEL,
                             REPEATED_TIMINGS, SUITE_BAND, SuiteSpeed, plot_speed, repeated_keys, speed_rows,
                             speed_verdict, suite_speed)

__all__ = ["REPEATED_TIMINGS", "compare_runs", "benchmark_report", "speed_verdict"]


def _summaries(records, views) -> dict[tuple[str, str], dict[str, Any]]:
    chosen, _ = evaluation_records(records)
    tuning = aggregate.group_by(aggregate.landscape_records(records, aggregate.TUNE), "problem", "label")
    out = {}
    for (problem, label), group in aggregate.group_by(chosen, "problem", "label").items():
        runs = aggregate.pooled_runs(group)
        dtype = str(group[0].get("dtype", "float32"))
        out[(problem, label)] = dict(
            success_rate=aggregate.success_rate(group), ert=aggregate.ert(group),
            final_gap=float(np.median(runs.final_gap)) if runs.count else float("nan"),
            floor=tables.problem_floor(views, group, dtype), dtype=dtype, **_speed(group),
            edges=[] if group[0].get("reference") else
            tables.edge_flags(tuning.get((problem, label), []), group[0]["config"]))
    return out


def _speed(group) -> dict[str, Any]:
    """steps/s of a (landscape, label) timed once: over every job and instance of it (a scipy
    reference record is one instance: all of them are added up)."""
    jobs = aggregate.job_costs(group)  # each job once, with its whole cost
    steps = seconds = 0.0
    compile_seconds = []
    for cost in jobs.values():
        run = cost.get("run_seconds")
        rate = cost.get("steps_per_second")
        if not (isinstance(run, (int, float)) and isinstance(rate, (int, float)) and run > 0):
            continue
        steps += rate * run
        seconds += run
        if isinstance(cost.get("compile_seconds"), (int, float)) and cost["compile_seconds"] > 0:
            compile_seconds.append(float(cost["compile_seconds"]))
    return dict(steps_per_second=steps / seconds if seconds > 0 else float("nan"),
                compile_seconds=sum(compile_seconds) if compile_seconds else float("nan"))


def _ratio(b: float, a: float) -> float:
    if not (np.isfinite(a) and np.isfinite(b)) or a == 0:
        return float("nan")
    return b / a


SETTINGS = ("steps", "targets", "seeds", "starts", "dtype")


def _settings_changed(records_a, records_b) -> str:
    """The suite settings the test-phase sweep records of the two runs differ in, as text ('' if none)."""
    def settings(records):
        found = {}
        for record in records:
            if record.get("phase") == "test" and not record.get("reference") and "steps" in record:
                for key in SETTINGS:
                    found.setdefault(key, set()).add(json.dumps(record.get(key)))
        return found

    sa, sb = settings(records_a), settings(records_b)
    return "; ".join(f"{key} {', '.join(sorted(sa.get(key, ())))} in A, {', '.join(sorted(sb.get(key, ())))} in B"
                     for key in SETTINGS if sa.get(key) and sb.get(key) and sa[key] != sb[key])


def _edges_text(flags) -> str:
    return "; ".join(flag.text() for flag in flags)


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike, out_dir: str | os.PathLike, *,
                 formats: tuple[str, ...] = ("png", "svg")) -> Path:
    """Run B against run A: quality per landscape × label (success rate, ERT, final gap, selected
    values at the edge of the search) and, apart, speed where it was measured repeatedly; writes
    compare.md, compare.html and a figure; returns the HTML path. Two pytest-benchmark JSON files
    are compared by :func:`benchmark_report` instead."""
    run_a, run_b, final = Path(run_a), Path(run_b), Path(out_dir)
    benchmarks = run_a.suffix == ".json" and run_b.suffix == ".json"
    records = None if benchmarks else (read_results(run_a), read_results(run_b))  # bad input first
    # written whole into ``final`` (``bench.staged``): a failure part-way keeps the previous files
    with staged_folder(final) as out:
        page = (benchmark_report([run_a, run_b], out) if benchmarks
                else _compare_into(run_a, run_b, out, formats, *records))
    return final / page.name


def _compare_into(run_a: Path, run_b: Path, out: Path, formats: tuple[str, ...], records_a,
                  records_b) -> Path:
    """The comparison of two runs' records, written into ``out``; returns the HTML path."""
    a, b = _summaries(records_a, load_views(run_a)), _summaries(records_b, load_views(run_b))
    keys = list(dict.fromkeys([*a, *b]))
    doc = Document(f"landscape-bench comparison: {run_b.name} against {run_a.name}")
    doc.text(f"A = `{run_a}`, B = `{run_b}`. Test-phase records (the selected config on fresh seeds, every"
             " instance; a scipy reference row over all its instances). Ratios are B / A.")
    rows, suite = speed_rows(records_a, records_b), suite_speed(records_a, records_b)
    if rows:
        doc.text(f"**Speed of the suite, B against A** (see Speed): {suite.verdict}.")
    changed = _settings_changed(records_a, records_b)
    if changed:
        doc.text(f"**The two runs were made with other settings** ({changed}): their success rates,"
                 " ERTs and gaps are not like for like.")
    both = [k for k in keys if k in a and k in b]
    missing = [f"{k[0]} × {k[1]}: only in {'B' if k not in a else 'A'}." for k in keys if k not in both]
    doc.heading("Quality per landscape × label")
    quality_rows, table = [], []
    for key in both:
        sa, sb = a[key], b[key]
        row = dict(problem=key[0], label=key[1], success_change=sb["success_rate"] - sa["success_rate"],
                   ert_ratio=_ratio(sb["ert"], sa["ert"]))
        quality_rows.append(row)
        table.append([key[0], key[1], sa["success_rate"], sb["success_rate"], row["success_change"],
                      sa["ert"], sb["ert"], row["ert_ratio"],
                      tables.gap_text(sa["final_gap"], sa["floor"], sa["dtype"]),
                      tables.gap_text(sb["final_gap"], sb["floor"], sb["dtype"]),
                      _edges_text(sb["edges"])])
    if table:
        doc.text("Success rate at the success target, ERT (evaluations; B / A < 1: B needs fewer), median"
                 " final gap (below what the dtype resolves: a bound), and B's selected values at the top"
                 " or bottom of the searched values (the best value may lie outside the search).")
        doc.table(["landscape", "label", "success A", "success B", "Δ success", "ERT A", "ERT B", "ERT B/A",
                   "median gap A", "median gap B", "edge of the search (B)"], table)
        doc.figure(save(_quality_figure(quality_rows), out / "figures", "comparison", formats),
                   "What changed from A to B: success rate and ERT per landscape × label.", out)
    else:
        doc.text("The two runs share no landscape × label: nothing to compare.")
    doc.heading("Speed")
    _speed_section(doc, [(key, a[key], b[key]) for key in both], rows, suite,
                   repeated_keys(records_a) & repeated_keys(records_b), out, formats)
    doc.heading("What is missing")
    if missing:
        doc.bullets(missing, "missing")
    else:
        doc.text("Nothing: both runs hold the same landscapes and labels.")
    return doc.write(out, "compare")


def _speed_section(doc: Document, pairs, rows, suite: SuiteSpeed, repeated: set, out: Path, formats) -> None:
    """The suite's speed verdict and each job's ratio where both runs timed it repeatedly, and the
    (landscape, label) rows timed once in either run (numbers for orientation, no verdict)."""
    once = [(key, sa, sb) for key, sa, sb in pairs if key not in repeated]
    compile_filled = any(np.isfinite(s["compile_seconds"]) for _, sa, sb in once for s in (sa, sb))
    if rows:
        doc.text(f"**Suite: {suite.verdict}.**")
        doc.text("Timed repeatedly in both runs (`landscape-bench run --timing-repeats N`). The verdict is"
                 " on the whole suite: the geometric mean over the jobs of B / A (each run's fastest"
                 f" repeat) with its {100 * CONFIDENCE:.0f} % interval (a t-interval of the mean log-ratio),"
                 " called only where the whole interval lies outside ÷"
                 f"{1 + SUITE_BAND:.2f} to ×{1 + SUITE_BAND:.2f}, how far the suite drifted between two"
                 " quiet runs of the same code; and only when both runs were quiet: a run's noise level"
                 " (a job's median repeat over its fastest, the median over the run's jobs;"
                 f" {suite.noise_levels[0]:.2f} in A, {suite.noise_levels[1]:.2f} in B) at most"
                 f" {QUIET_LEVEL:.2f}. One job drifts between two runs of the same code by as much as a"
                 " 2x slowdown, so the jobs below get no verdict of their own: B / A and the spread of"
                 " their repeats (lower quartile over fastest, A's and B's added), for orientation.")
        doc.table(["landscape", "label", "job", "repeats A, B", "steps/s A", "steps/s B", "B/A",
                   "repeat spread"],
                  [[r["problem"], r["label"], r["job"], f"{r['repeats'][0]}, {r['repeats'][1]}",
                    r["steps_per_second_a"], r["steps_per_second_b"], r["ratio"],
                    f"÷{1 + r['spread']:.2f} to ×{1 + r['spread']:.2f}"] for r in rows])
        fig, axes = subplots(1, 1, width=8.0, height_each=max(2.5, 0.3 * (len(rows) + 1) + 1.2), tight=True)
        plot_speed(rows, suite, ax=axes[0, 0])
        doc.figure(save(fig, out / "figures", "comparison_speed", formats),
                   "Speed B / A: the suite's geometric mean with its interval, and each job (fastest"
                   " repeat of each run) with the spread of its repeats.", out)
    if once:
        doc.text(f"Timed once per job in A or B ({len(once)} landscape × label rows, the scipy references"
                 f" among them): {NO_SPEED_VERDICT}. A single timing on a shared machine moves by tens"
                 " of percent between runs of the same code; run both with `landscape-bench run"
                 " --timing-repeats 9`, or time with `pytest tests/benchmarks --benchmark-only"
                 " --benchmark-autosave` and compare two saved files (`landscape-bench compare A.json"
                 " B.json`). The one-off numbers, for orientation only:")
        header = ["landscape", "label", "steps/s A (once)", "steps/s B (once)"]
        if compile_filled:
            header += ["compile s A", "compile s B"]
        doc.table(header, [[k[0], k[1], sa["steps_per_second"], sb["steps_per_second"],
                            *([sa["compile_seconds"], sb["compile_seconds"]] if compile_filled else [])]
                           for k, sa, sb in once])
    if not pairs and not rows:
        doc.text("No landscape × label in both runs: no speed to compare.")


def _quality_figure(rows: Sequence[Mapping]):
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    fig, axes = subplots(1, 2, width=10.0, height_each=max(2.5, 0.26 * len(rows) + 1.2), sharey=True,
                         tight=True)  # the y labels name landscape and label: cropped to what is drawn
    figures.plot_comparison(rows, "success_change", ax=axes[0, 0], log=False, xlabel="Δ success rate (B − A)")
    figures.plot_comparison(rows, "ert_ratio", ax=axes[0, 1], xlabel="ERT ratio B / A (< 1: B needs fewer)")
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
    log_axis = axes[0, 1].xaxis
    log_axis.set_major_locator(LogLocator(numticks=5))
    log_axis.set_minor_formatter(NullFormatter())  # 2×10⁻¹, 3×10⁻¹ ... ran into each other
    axes[0, 1].tick_params(axis="y", labelleft=False)
    return fig


# -- pytest-benchmark ----------------------------------------------------------------------------------
def _load_benchmarks(path: Path) -> dict[str, Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no benchmark file at {str(path)!r}") from None
    except json.JSONDecodeError:
        raise InputError(f"{path} is not JSON (expected pytest-benchmark --benchmark-json output)") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("benchmarks"), list):
        raise InputError(f"{path} has no 'benchmarks' list: not a pytest-benchmark JSON file")
    return {b["name"]: b for b in data["benchmarks"]}


def _seconds(value: float) -> str:
    if not np.isfinite(value):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _relative_spread(entry: Mapping[str, Any] | None) -> float:
    stats = (entry or {}).get("stats") or {}
    median, iqr = stats.get("median"), stats.get("iqr")
    if not isinstance(median, (int, float)) or not isinstance(iqr, (int, float)) or median <= 0:
        return float("nan")
    return iqr / median


def _rounds(entry: Mapping[str, Any] | None) -> int:
    stats = (entry or {}).get("stats") or {}
    rounds = stats.get("rounds")
    if isinstance(rounds, (int, float)):
        return int(rounds)
    data = stats.get("data")
    return len(data) if isinstance(data, list) else 0


def benchmark_report(json_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """pytest-benchmark results as two tables that fit a page: quality (each benchmark's workload,
    success rate, steps to target, final gap, diverged fraction from ``extra_info``) and speed
    (median time per file; with two files B / A, the noise band and a verdict only outside it).
    Writes benchmarks.md/.html; returns the HTML."""
    paths = [Path(p) for p in json_paths]
    if not 1 <= len(paths) <= 2:
        raise InputError(f"benchmark_report takes one or two JSON files; got {len(paths)}")
    runs = [_load_benchmarks(p) for p in paths]
    names = list(dict.fromkeys(n for run in runs for n in run))
    tags = ["A", "B"] if len(paths) == 2 else [""]
    doc = Document("landscape-bench benchmarks")
    doc.text(" · ".join(f"{t or 'file'}: `{p}`" for t, p in zip(tags, paths)) + ".")
    if not names:
        doc.text("No benchmarks in the file(s).")
        return doc.write(Path(out_dir), "benchmarks")
    doc.heading("Quality")
    doc.text("What each benchmark measured and the quality of its runs (`extra_info`; of the last file"
             " that holds the benchmark): success rate at the suite's success target, median"
             " steps-to-target of the successful runs, median final gap, fraction diverged.")
    quality = []
    for name in names:
        entry = next((run[name] for run in reversed(runs) if name in run), {})
        info = entry.get("extra_info") or {}
        quality.append([name, workload_text(info), *[info.get(key) for key, _ in QUALITY_KEYS]])
    doc.table(["benchmark", "workload", *[title for _, title in QUALITY_KEYS]], quality)
    doc.heading("Speed")
    speed = []
    for name in names:
        entries = [run.get(name) for run in runs]
        medians = [float(e["stats"]["median"]) if e and e.get("stats") else float("nan") for e in entries]
        group = next((e.get("group") for e in entries if e and e.get("group")), "") or ""
        row: list[Any] = [name, group, *[_seconds(m) for m in medians]]
        if len(paths) == 2:
            ratio = _ratio(medians[1], medians[0])
            band = max(_relative_spread(entries[0]), _relative_spread(entries[1]))
            repeated = all(_rounds(e) >= MIN_REPEATS for e in entries)
            width = 1 + max(band if np.isfinite(band) else 0.0, MIN_NOISE_BAND)
            row += [ratio, f"÷{width:.2f} to ×{width:.2f}" if repeated else "—",
                    speed_verdict(ratio, band, higher_is_faster=False) if repeated else NO_SPEED_VERDICT]
        else:
            row.append(_rounds(entries[0]))
        info = (entries[-1] or entries[0] or {}).get("extra_info") or {}
        row.append(info.get("compile_seconds"))
        speed.append(row)
    if len(paths) == 2:
        doc.text("Median wall time per call; the noise band is the larger interquartile range of the"
                 f" two files relative to its median (at least {100 * MIN_NOISE_BAND:.0f} %): a verdict"
                 f" only outside it, and only with {MIN_REPEATS}+ rounds in both files.")
        header = ["benchmark", "group", "median A", "median B", "time B/A", "noise band", "verdict",
                  "compile s"]
    else:
        doc.text("Median wall time per call over its rounds; compile time (AOT, outside the timed call).")
        header = ["benchmark", "group", "median", "rounds", "compile s"]
    doc.table(header, speed)
    return doc.write(Path(out_dir), "benchmarks")
