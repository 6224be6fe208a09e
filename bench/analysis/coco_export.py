"""BBOB results in COCO's data format, for ``cocopp`` (``landscape-bench export-coco RESULTS OUT``).

cocoex's ``bbob`` observer writes, per algorithm folder, one ``bbobexp_f{f}.info`` index per function
(three lines per dimension: a header, a comment, the data file and one ``instance:evaluations|final
f - f_opt`` entry per trial) and per (function, dimension) a target-triggered ``.dat`` and an
evaluation-triggered ``.tdat`` file under ``data_f{f}/``: one block per trial, a ``%`` header line
then rows ``evaluations  0  best f - f_opt  f  best f  x_1 .. x_d`` (format ``bbob-new2``, as
written by cocoex 2.8.2's ``Observer("bbob", ...)``). Each label's test-phase records
(the tuned config on the fresh seeds) become one folder; every run (seed x start) is one trial.

Evaluations: one evaluation of f and its gradient at a point counts as ONE evaluation, and the
iterate x_k is evaluation k + 1 (x_0 is the first). Records keep when each target was first reached
(``steps_to_target``), not every value, so each trial holds exactly what is known: a row at each
evaluation where a recorded target was first reached, its best f - f_opt written as that target
(the gap was at most the target there), a last row at evaluation ``steps + 1`` with the run's
best gap, and a first row at evaluation 1: f(x_0) - f_opt, computed at export in float64 from the
start point (the records do not hold it; COCO's files always begin there). A diverged run reaches no target in the records and is written so (best f - f_opt
``DIVERGED_GAP``). cocopp reads the same first hits back for the recorded targets; between them
its curves know no more than the records do.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.run.results import read_results
from bench.staged import remove_stale_staging, staged_folder
from landscapes.errors import InputError

BBOB_NAME = re.compile(r"bbob_f(\d\d)")
DIVERGED_GAP = 1e300  # a diverged run's "best f - f_opt": above every target, as it reached none
DATA_FORMAT = "bbob-new2"
HEADER = ("% f evaluations | g evaluations | best noise-free fitness - Fopt ({f_opt:.12e}) + sum"
          " g_i+ | measured fitness | best measured fitness or single-digit g-values | x1 | x2...")
COMMENT = ("% landscape-bench export: one evaluation = f and its gradient at one point (x_k is"
           " evaluation k+1); rows at the first evaluation (f(x_0), computed at export in float64),"
           " where a recorded target was first reached, and the last evaluation; suite {suite},"
           " {runs} runs per instance")


def bbob_function(record: Mapping[str, Any]) -> int | None:
    """The BBOB function number of a record's landscape (``bbob_f07`` -> 7), else None."""
    match = BBOB_NAME.fullmatch(str(record.get("landscape", "")))
    return int(match.group(1)) if match else None


def exported_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records an export writes: the tuned configs' runs (phase "test") of gradient optimizers
    on BBOB landscapes. scipy reference rows count evaluations otherwise and are left out."""
    return [r for r in records if bbob_function(r) is not None and r.get("phase") == "test"
            and (r.get("identity") or {}).get("kind") == "sweep"]


def folder_name(label: str) -> str:
    """A label as a folder name (cocopp shows the folder name as the algorithm's)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_.") or "optimizer"


def trial_rows(record: Mapping[str, Any], run: int,
               first_gap: float | None = None) -> list[tuple[int, float, np.ndarray]]:
    """(evaluation, best f - f_opt, x) rows of one run, in order (see the module docstring);
    with ``first_gap`` (f(x_0) - f_opt) a first row at evaluation 1, as COCO's files have."""
    runs = record["runs"]
    targets = np.asarray(record["targets"], float)
    reached = np.asarray(runs["reached"], bool)[run]
    steps_to_target = np.asarray(runs["steps_to_target"])[run]
    final_x = np.asarray(runs["final_x"], float)[run]
    steps = int(record["steps"])
    rows: dict[int, float] = {}
    for tau, hit, step in zip(targets, reached, steps_to_target):
        if hit:
            evaluation = int(step) + 1
            rows[evaluation] = min(rows.get(evaluation, math.inf), float(tau))
    if first_gap is not None:
        rows[1] = min(rows.get(1, math.inf), _consistent_first(first_gap, targets, reached,
                                                               steps_to_target))
    # Best so far decreases: a coarser target first hit later than a finer one is already implied.
    x0 = np.asarray(record["x0"], float)[run] if first_gap is not None else final_x
    out, best = [], math.inf
    for evaluation in sorted(rows):
        if rows[evaluation] < best:
            best = rows[evaluation]
            out.append((evaluation, best, x0 if evaluation == 1 else final_x))
    status_diverged = int(np.asarray(runs["status"])[run]) == 2
    final = float(np.asarray(runs["best_gap"], float)[run])
    if status_diverged or not math.isfinite(final):
        final = DIVERGED_GAP
    final = _above(min(final, best), targets[~reached])
    if out and out[-1][0] == steps + 1:
        out.pop()
    out.append((steps + 1, final, final_x))
    return out


def _consistent_first(gap: float, targets: np.ndarray, reached: np.ndarray, steps_to_target) -> float:
    """f(x_0) - f_opt (float64) made to agree with the record's first hits (the run's own float32
    value decided them): above every target the record did not reach at x_0, so cocopp reads back
    the same first hits; where it lies above one it did reach, that target's value."""
    at_start = reached & (np.asarray(steps_to_target) == 0)
    if at_start.any():
        gap = min(gap, float(targets[at_start].min()))
    return _above(gap, targets[~at_start])


# A gap written just above a target must still read above it: the files hold 10 significant digits.
PRINTED_ABOVE = 1 + 2e-9


def _above(gap: float, missed: np.ndarray) -> float:
    """``gap``, raised where needed so that, as written, it lies above every target in ``missed``
    (targets the record says were not reached there)."""
    for tau in missed[missed > 0]:
        if gap < tau * PRINTED_ABOVE:
            gap = float(tau * PRINTED_ABOVE)
    return gap


def _row(evaluation: int, gap: float, f_opt: float, x: np.ndarray) -> str:
    f = f_opt + gap
    xs = " ".join(f"{v:+.4e}" for v in x)
    return f"{evaluation} 0 {gap:+.9e} {f:+.9e} {f:+.9e} {xs}"


def _files_of(label: str, records: list[Mapping[str, Any]], start_gap) -> dict[str, str]:
    """Relative path -> text of one label's folder (``start_gap``: see :func:`export_coco`)."""
    files: dict[str, list[str]] = {}
    by_problem: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for record in records:
        by_problem.setdefault((bbob_function(record), int(record["dim"])), []).append(record)
    for (function, dim), group in sorted(by_problem.items()):
        group = sorted(group, key=lambda r: int(r["instance"]))
        data = f"data_f{function}/bbobexp_f{function}_DIM{dim}"
        lines, entries = [], []
        for record in group:
            f_opt = float(record["f_star"])
            x0 = np.asarray(record["x0"], float)
            for run in range(len(np.asarray(record["runs"]["status"]))):
                first = start_gap(function, int(record["instance"]), dim, x0[run])
                rows = trial_rows(record, run, first)
                lines.append(HEADER.format(f_opt=f_opt))
                lines.extend(_row(e, gap, f_opt, x) for e, gap, x in rows)
                entries.append(f"{int(record['instance'])}:{rows[-1][0]}|{rows[-1][1]:.1e}")
        for suffix in (".dat", ".tdat"):  # the evaluation-triggered file holds the same known rows
            files[data + suffix] = lines
        runs = len(np.asarray(group[0]["runs"]["status"]))
        info = files.setdefault(f"bbobexp_f{function}.info", [])
        info.append(f"suite = 'bbob', funcId = {function}, DIM = {dim}, Precision = 1.000e-08,"
                    f" algId = '{label}', coco_version = 'landscape-bench', logger = 'bbob',"
                    f" data_format = '{DATA_FORMAT}', settings = ''")
        info.append(COMMENT.format(suite=group[0].get("suite", ""), runs=runs))
        info.append(f"{data}.dat, " + ", ".join(entries))
    return {path: "\n".join(lines) + "\n" for path, lines in files.items()}


def export_coco(results: str | os.PathLike, out: str | os.PathLike, *, start_gap) -> dict[str, int]:
    """Write the BBOB records of ``results`` to ``out`` in COCO's format; returns counts.

    ``start_gap(function, instance, dim, x0)``: f(x_0) - f_opt, the one value of a trial the records
    do not hold (every COCO data file starts at evaluation 1, and cocopp's tables of final values
    at small budgets fail without it): ``landscapes.bbob.start_gap``, the problem's own formula in
    float64, which the command passes (this layer imports no problem code).

    Refuses in one line, writing nothing, when ``out`` exists and is not empty or when the results
    hold no BBOB test records. The files are staged and moved into place once all are written
    (``bench.staged``), so a failure part-way leaves no half export."""
    out = Path(out)
    remove_stale_staging(out)  # a killed export's, which would make an empty folder look full
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{str(out)!r} exists and is not an empty folder; export-coco writes into"
                         " a new or empty folder (pick another, or remove it)")
    records = exported_records(read_results(results))
    if not records:
        raise InputError(f"no BBOB records in {str(results)!r}: export-coco writes the tuned"
                         " configs' runs (phase 'test') on bbob_f01 .. bbob_f24 landscapes")
    by_label: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_label.setdefault(str(record["label"]), []).append(record)
    folders = {}
    for label in sorted(by_label):
        name = folder_name(label)
        while name in folders.values():
            name += "_"
        folders[label] = name
    with staged_folder(out) as staging:
        for label, name in folders.items():
            for path, text in _files_of(label, by_label[label], start_gap).items():
                target = staging / name / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    trials = sum(len(np.asarray(r["runs"]["status"])) for r in records)
    return dict(labels=len(folders), records=len(records), trials=trials)
