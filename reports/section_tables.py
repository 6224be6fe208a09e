"""Report sections of numbers: the results table per landscape, the selected values at the edge of
the search, and the cost of each compiled job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bench.analysis import aggregate
from bench.analysis import tables
from bench.analysis.aggregate import Record

if TYPE_CHECKING:
    from reports.report import Builder


def section_tables(report: Builder) -> None:
    doc = report.doc
    doc.heading("Results per landscape")
    doc.text("★ marks the best row of each landscape: the highest success rate, ties broken by the"
             " lower ERT, then the lower median final gap. A gap below what the dtype resolves near"
             " the minimizers shows as \"< floor (dtype)\"; a selected hyperparameter at the top or"
             " bottom of its searched values is flagged (the best value may lie outside the search).")
    tuning = aggregate.group_by(report.tune, "problem", "label")
    for problem in report.problems:
        rows, keys = [], []
        for label in report.labels:
            group = report.by_problem_label.get((problem, label))
            if group is None:
                rows.append([label, "absent", None, None, None, None, None, "", ""])
                keys.append(None)
                continue
            runs = aggregate.pooled_runs(group)
            solved = runs.solved_at[:, aggregate.target_index(group[0])]
            success = solved[np.isfinite(solved)]
            config = ", ".join(f"{k}={v:.4g}" for k, v in group[0]["config"].items()
                               if not (k == "warmup_steps" and v == 0))
            config += _selection_caveat(tuning.get((problem, label), []), group[0]["config"])
            edges = report.edges.get((problem, label), [])
            rate, cost = aggregate.success_rate(group), aggregate.ert(group)
            median_gap = float(np.median(runs.final_gap))
            rows.append([label, group[0]["phase"], rate, cost,
                         float(np.median(success)) if success.size else float("nan"),
                         _gap_text(report, problem, group[0], median_gap),
                         f"{int((runs.status == 2).sum())}/{runs.count}", config,
                         "; ".join(flag.text() for flag in edges)])
            keys.append((-_nan_to(rate, -1.0), _nan_to(cost, np.inf), _nan_to(median_gap, np.inf)))
            if runs.count and (runs.status == 2).all():
                report.missing.append(f"{problem} × {label}: every run diverged.")
        ranked = [i for i, key in enumerate(keys) if key is not None and np.isfinite(key[0])]
        best = min(ranked, key=lambda i: keys[i]) if ranked else None
        if best is not None:
            rows[best][0] = f"★ {rows[best][0]}"
        target = report.success_target(problem)
        doc.heading(problem, 3)
        doc.table(["label", "phase", f"success rate (f − f* ≤ {target:g})", "ERT (evaluations)",
                   "median steps-to-target (successes)", "median final gap", "diverged",
                   "best config", "edge of the search"], rows,
                  highlight=[] if best is None else [best])
        note = _precision_note(report, problem)
        if note:
            doc.text(note)


def _gap_text(report: Builder, problem: str, record: Record, value: float):
    """The median final gap as a table shows it: below the dtype's floor as "< floor (dtype)"."""
    dtype = str(record.get("dtype", "float32"))
    return tables.gap_text(value, report.floor(problem, dtype), dtype)


def _precision_note(report: Builder, problem: str) -> str | None:
    """Where the runs' dtype cannot resolve some targets near this problem's minimizers: say
    which, and whether the success target is among them (the run's views)."""
    sweeps = [r for r in report.land if aggregate.problem_name(r) == problem and not r.get("reference")]
    if not sweeps:
        return None
    dtype = str(sweeps[0].get("dtype", "float32"))
    floor = report.floor(problem, dtype)
    below = [t for t in sweeps[0]["targets"] if t < floor]
    if not np.isfinite(floor) or not below:
        return None
    success = float(sweeps[0]["success_target"])
    return (f"Precision: in {dtype}, f − f* near this landscape's minimizers is resolved to about"
            f" {floor:.1g} (rounding of f and of the points near the minimizers). Targets below it"
            f" ({', '.join(f'{t:g}' for t in below)}) are decided by rounding, not by progress"
            + (f"; that includes the success target {success:g}, so the success rates above are"
               " not a measure of precision here." if success < floor else ".")
            + " Run the suite in float64 to measure them.")


def section_edges(report: Builder) -> None:
    doc = report.doc
    flagged = [(problem, label, flags) for (problem, label), flags in report.edges.items() if flags]
    doc.heading("Selected values at the edge of the search")
    if not flagged:
        doc.text("No selected hyperparameter lies at the top or bottom of its searched values.")
        return
    doc.text("The selected config's value is the lowest or highest value the search tried: the best"
             " value may lie outside the searched range, so widen the search there.")
    doc.bullets([f"{problem} × {label}: " + "; ".join(flag.text() for flag in flags)
                 for problem, label, flags in flagged])


def section_cost(report: Builder) -> None:
    doc = report.doc
    doc.heading("Cost")
    jobs: dict[tuple, list] = {}
    for record in report.land:
        if record.get("cost"):
            key = (aggregate.problem_name(record), record["label"], record["phase"])
            jobs.setdefault(key, []).append(record)
    rows = []
    for key, records in jobs.items():
        for cost in aggregate.job_costs(records).values():
            rows.append([*key, cost.get("compile_seconds"), cost.get("run_seconds"), cost.get("runs"),
                         cost.get("steps_per_second"), cost.get("flops_per_step"),
                         cost.get("roofline_fraction")])
    if not rows:
        doc.text("No cost data in these records.")
        return
    doc.text("One row per compiled job (all configs × instances × seeds × starts of a landscape and"
             " label run as one program). steps/s counts run-steps (every run advances one step);"
             " for a scipy reference row, evaluations per second over all its instances. A test"
             " phase reuses its tuning phase's compiled program (compile 0 s) on a batch padded to"
             " that program's shape; its steps/s counts its real runs only.")
    doc.table(["landscape", "label", "phase", "compile s", "run s", "runs", "steps/s", "FLOPs/step",
               "roofline fraction"], rows)


def _selection_caveat(tuned: Sequence[Record], chosen: Mapping[str, float]) -> str:
    """What the 'best config' of a search is worth when nothing separated the configs.

    The search keeps the highest tuning success rate, then the lowest median final gap, so the
    chosen config's own tuning runs tell: no success there means none anywhere, and a median gap of
    +inf there (half its runs diverged) means the same for every config."""
    if len({r["config_index"] for r in tuned}) < 2:
        return ""
    mine = [r for r in tuned if r["config"] == chosen]
    if not mine or aggregate.success_rate(mine) > 0:
        return ""
    if not np.isfinite(np.median(aggregate.pooled_runs(mine).final_gap)):
        return (" (a tie: in tuning no config reached the success target and at least half the runs"
                " of every config diverged; this is the first of the grid)")
    return " (no config reached the success target in tuning: chosen by median final gap)"


def _nan_to(value: float, replacement: float) -> float:
    return replacement if value is None or np.isnan(value) else float(value)


