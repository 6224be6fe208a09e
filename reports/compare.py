"""What changed between two runs (``compare_runs``) and the pytest-benchmark table (``benchmark_report``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis import aggregate
from bench.run.results import read_results
from landscapes.errors import InputError
from reports import figures
from reports.document import Document
from reports.report import evaluation_records
from reports.style import save, subplots


def _summaries(records) -> dict[tuple[str, str], dict[str, float]]:
    chosen, _ = evaluation_records(records)
    out = {}
    for (problem, label), group in aggregate.group_by(chosen, "problem", "label").items():
        runs = aggregate.pooled_runs(group)
        costs = {json.dumps(r.get("cost", {}), sort_keys=True): r.get("cost", {}) for r in group}
        cost = next(iter(costs.values()))
        out[(problem, label)] = dict(
            success_rate=aggregate.success_rate(group), ert=aggregate.ert(group),
            final_gap=float(np.median(runs.final_gap)) if runs.count else float("nan"),
            steps_per_second=float(cost.get("steps_per_second") or np.nan),
            compile_seconds=float(cost.get("compile_seconds") or np.nan))
    return out


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


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike, out_dir: str | os.PathLike, *,
                 formats: tuple[str, ...] = ("png", "svg")) -> Path:
    """Quality (success rate, ERT, final gap) and speed (steps/s, compile s) of run B against run A, per
    landscape × label, as compare.md, compare.html and a figure; returns the HTML path."""
    run_a, run_b, out = Path(run_a), Path(run_b), Path(out_dir)
    records_a, records_b = read_results(run_a), read_results(run_b)
    a, b = _summaries(records_a), _summaries(records_b)
    keys = list(dict.fromkeys([*a, *b]))
    doc = Document(f"landscape-bench comparison: {run_b.name} against {run_a.name}")
    doc.text(f"A = `{run_a}`, B = `{run_b}`. Test-phase records (the selected config on fresh seeds);"
             " ratios are B / A: ERT ratio < 1 and steps/s ratio > 1 mean B is better.")
    changed = _settings_changed(records_a, records_b)
    if changed:
        doc.text(f"**The two runs were made with other settings** ({changed}): their success rates,"
                 " ERTs and gaps are not like for like.")
    rows, table, missing = [], [], []
    nan = float("nan")
    for key in keys:
        sa, sb = a.get(key), b.get(key)
        if sa is None or sb is None:
            missing.append(f"{key[0]} × {key[1]}: only in {'B' if sa is None else 'A'}.")
        sa = sa or dict.fromkeys(("success_rate", "ert", "final_gap", "steps_per_second",
                                  "compile_seconds"), nan)
        sb = sb or dict.fromkeys(sa, nan)
        row = dict(problem=key[0], label=key[1],
                   success_change=sb["success_rate"] - sa["success_rate"],
                   ert_ratio=_ratio(sb["ert"], sa["ert"]),
                   speed_ratio=_ratio(sb["steps_per_second"], sa["steps_per_second"]))
        rows.append(row)
        table.append([key[0], key[1], sa["success_rate"], sb["success_rate"], row["success_change"],
                      sa["ert"], sb["ert"], row["ert_ratio"], sa["final_gap"], sb["final_gap"],
                      sa["steps_per_second"], sb["steps_per_second"], row["speed_ratio"],
                      sa["compile_seconds"], sb["compile_seconds"]])
    doc.heading("Quality and speed per landscape × label")
    if table:
        doc.table(["landscape", "label", "success A", "success B", "Δ success", "ERT A", "ERT B",
                   "ERT B/A", "median gap A", "median gap B", "steps/s A", "steps/s B", "steps/s B/A",
                   "compile s A", "compile s B"], table)
        fig, axes = subplots(1, 3, width=12.0, height_each=max(2.5, 0.3 * len(rows) + 1.2), sharey=True)
        figures.plot_comparison(rows, "success_change", ax=axes[0, 0], log=False,
                                xlabel="Δ success rate (B − A)")
        figures.plot_comparison(rows, "ert_ratio", ax=axes[0, 1], xlabel="ERT ratio B / A (< 1: B faster)")
        figures.plot_comparison(rows, "speed_ratio", ax=axes[0, 2],
                                xlabel="steps/s ratio B / A (> 1: B faster)")
        doc.figure(save(fig, out / "figures", "comparison", formats), "What changed from A to B.", out)
    else:
        doc.text("Neither run holds landscape records: nothing to compare.")
    doc.heading("What is missing")
    if missing:
        doc.bullets(missing, "missing")
    else:
        doc.text("Nothing: both runs hold the same landscapes and labels.")
    return doc.write(out, "compare")


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


def benchmark_report(json_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """A table of pytest-benchmark results: median time per file (and B/A with two files) beside the
    quality metrics each benchmark stored in ``extra_info``. Writes benchmarks.md/.html; returns the HTML."""
    paths = [Path(p) for p in json_paths]
    if not 1 <= len(paths) <= 2:
        raise InputError(f"benchmark_report takes one or two JSON files; got {len(paths)}")
    runs = [_load_benchmarks(p) for p in paths]
    names = list(dict.fromkeys(n for run in runs for n in run))
    extra_keys = list(dict.fromkeys(k for run in runs for b in run.values()
                                    for k in (b.get("extra_info") or {})))
    tags = ["A", "B"] if len(paths) == 2 else [""]
    header = ["benchmark", "group"] + [f"median {t}".strip() for t in tags]
    if len(paths) == 2:
        header.append("time B/A")
    header += [f"{k} {t}".strip() for k in extra_keys for t in tags]
    rows = []
    for name in names:
        entries = [run.get(name) for run in runs]
        group = next((e.get("group") for e in entries if e and e.get("group")), "") or ""
        medians = [float(e["stats"]["median"]) if e and e.get("stats") else float("nan") for e in entries]
        row: list[Any] = [name, group, *[_seconds(m) for m in medians]]
        if len(paths) == 2:
            row.append(_ratio(medians[1], medians[0]))
        for key in extra_keys:
            for e in entries:
                value = (e.get("extra_info") or {}).get(key) if e else None
                row.append(value if isinstance(value, (int, float, str)) or value is None else json.dumps(value))
        rows.append(row)
    doc = Document("landscape-bench benchmarks")
    doc.text(" · ".join(f"{t or 'file'}: `{p}`" for t, p in zip(tags, paths))
             + ". Median wall time per call (pytest-benchmark); the other columns are the benchmark's"
               " `extra_info` (compile time, steps-to-target, success rate, accuracy ...).")
    if rows:
        doc.table(header, rows)
    else:
        doc.text("No benchmarks in the file(s).")
    return doc.write(Path(out_dir), "benchmarks")
