"""Aggregate results records into the numbers reports show: pure functions on records, numpy only.

Definitions (Hansen et al. 2021, "COCO: a platform for comparing continuous
optimizers in a black-box setting"; Dolan & Moré 2002, "Benchmarking optimization software with
performance profiles"):

- success: a run reached the record's ``success_target`` (diverged runs never do).
- ERT(τ) = Σ evaluations / #successes, where a success contributes its steps-to-τ and a failure the
  whole budget; inf when no run succeeds.
- runtime ECDF: the fraction of (run, target) pairs solved within a budget of b gradient evaluations,
  averaged over the (landscape, target) pairs so each pair weighs the same; bootstrap bands resample
  the runs of each landscape. Where the problems have several dimensions the budget is counted per
  coordinate (evaluations / dimension), as COCO's ECDFs do, so a 10-D problem is not judged on the
  budget of a 2-D one.
- performance profile: r(p, s) = ERT(p, s) / min_s ERT(p, s) at the success target, and
  ρ_s(τ) = fraction of landscapes p with r(p, s) ≤ τ (a label missing on p, or solving nothing there,
  never counts as solved).

A "problem" is a landscape in one dimension; instances are pooled (their runs are more samples of it).
Records of the MNIST track (``kind`` starting with ``"mnist"``) are ignored here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from bench.run.records import (TEST, TUNE, as_float, is_landscape_record, key_of,  # noqa: F401 (one home)
                                target_index)

Record = Mapping[str, Any]


# -- selecting records ---------------------------------------------------------------------------
def is_mnist_record(record: Record) -> bool:
    return str(record.get("kind", "")).startswith("mnist") or record.get("track") == "mnist"


def landscape_records(records: Iterable[Record], phase: str | None = None) -> list[Record]:
    """The landscape records, optionally of one phase (``"tune"`` or ``"test"``)."""
    return [r for r in records if is_landscape_record(r) and (phase is None or r.get("phase") == phase)]


def problem_name(record: Record) -> str:
    """``"beale"`` for a 2-D landscape, ``"rosenbrock 10-D"`` otherwise."""
    dim = int(record.get("dim", 2))
    return record["landscape"] if dim == 2 else f"{record['landscape']} {dim}-D"


def group_by(records: Iterable[Record], *keys: str) -> dict[tuple, list[Record]]:
    """Records grouped by the values of ``keys``; ``"problem"`` means :func:`problem_name`."""
    groups: dict[tuple, list[Record]] = {}
    for record in records:
        key = tuple(problem_name(record) if k == "problem" else record[k] for k in keys)
        groups.setdefault(key, []).append(record)
    return groups


def job_key(record: Record) -> str:
    """The job a record belongs to: its ``job`` id; for records without one (written by hand), its
    problem, label and phase."""
    return str(record.get("job") or f"{problem_name(record)} | {record.get('label')} | {record.get('phase')}")


def job_costs(records: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """Each job's whole cost, by job id: a sweep job's records carry its cost so far when they were
    written (a job's calls add up as its records stream out), so its last, largest one is the job's;
    a scipy reference job's records each carry their own instance's cost, which add up. Keyed by
    :func:`job_key`."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        cost = record.get("cost")
        if not cost:
            continue
        job = job_key(record)
        seen = out.get(job)
        if seen is None:
            out[job] = dict(cost)
        elif record.get("reference"):
            seconds = float(seen.get("run_seconds") or 0.0) + float(cost.get("run_seconds") or 0.0)
            made = float(seen.get("evaluations") or 0.0) + float(cost.get("evaluations") or 0.0)
            out[job] = dict(seen, run_seconds=seconds, evaluations=made,
                            runs=int(seen.get("runs") or 0) + int(cost.get("runs") or 0),
                            steps_per_second=made / seconds if seconds > 0 else None)
        elif int(cost.get("runs") or 0) > int(seen.get("runs") or 0):
            out[job] = dict(cost)
    return out


def labels_in(records: Iterable[Record]) -> list[str]:
    """Labels in order of first appearance (the suite's order)."""
    return list(dict.fromkeys(r["label"] for r in records if "label" in r))


def problems_in(records: Iterable[Record]) -> list[str]:
    return list(dict.fromkeys(problem_name(r) for r in records if is_landscape_record(r)))


# -- per-run arrays ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Runs:
    """The runs of several records pooled: R runs, T targets.

    Attributes:
      solved_at: (R, T) steps-to-target where reached, inf where not.
      final_gap: (R,) with inf for a diverged run.
      status: (R,) 0 converged, 1 budget, 2 diverged.
      budget: the evaluations each run spent, (R,): the steps, or for a scipy reference run that
        stopped early (converged, or gave up) the evaluations it made, at most the steps.
      targets: (T,).
    """

    solved_at: np.ndarray
    final_gap: np.ndarray
    status: np.ndarray
    budget: np.ndarray
    targets: np.ndarray

    @property
    def count(self) -> int:
        return len(self.status)


def _record_arrays(record: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One record's runs parsed: reached (R, T) bool, steps-to-target (R, T) float (NaN for null),
    final gap (R,) with inf where not finite, status (R,) int."""
    runs = record["runs"]
    reached = np.asarray(runs["reached"], dtype=bool).reshape(len(runs["status"]), -1)
    steps = as_float(runs["steps_to_target"]).reshape(reached.shape)
    gap = as_float(runs["final_gap"]).reshape(-1)
    return (reached, steps, np.where(np.isfinite(gap), gap, np.inf),
            np.asarray(runs["status"], dtype=int).reshape(-1))


class _ParsedRuns:
    """The per-record arrays of :func:`_record_arrays`, parsed once per record for the duration of one
    aggregation (``config_summaries`` and ``tuning_budget_curves`` pool every config's records
    several times: rate, selection key, medians). Keyed by ``id(record)``; the records themselves are
    held, so an id cannot be reused while the cache lives."""

    def __init__(self) -> None:
        self._arrays: dict[int, tuple] = {}
        self._held: list[Record] = []

    def arrays(self, record: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        key = id(record)
        if key not in self._arrays:
            self._arrays[key] = _record_arrays(record)
            self._held.append(record)
        return self._arrays[key]

    def pooled(self, records: Sequence[Record]) -> tuple[Runs, np.ndarray, np.ndarray]:
        """(Runs as :func:`pooled_runs`, reached (R, T), steps-to-target (R, T) as stored)."""
        return _pool(records, [self.arrays(r) for r in records])


def _group_name(record: Record) -> str:
    return f"{problem_name(record)} × {record.get('label')}"


def _spent(record: Record, count: int) -> np.ndarray:
    """The evaluations each run of ``record`` spent (COCO charges a failure what it actually used)."""
    budget = np.full(count, float(record["steps"]))
    made = record["runs"].get("evaluations")
    return budget if made is None else np.minimum(as_float(made).reshape(-1), budget)


def _pool(records: Sequence[Record], parsed: Sequence[tuple]) -> tuple[Runs, np.ndarray, np.ndarray]:
    targets = {tuple(r["targets"]) for r in records}
    if len(targets) > 1:  # a folder written by an older version into which two suites ran
        from landscapes.errors import InputError

        raise InputError(f"records of {_group_name(records[0])} were run with other targets"
                         f" ({' and '.join(str(list(t)) for t in sorted(targets))}) and cannot be"
                         " pooled; move one run's records to a folder of their own")
    reached = np.concatenate([p[0] for p in parsed])
    steps = np.concatenate([p[1] for p in parsed])
    runs = Runs(np.where(reached, steps, np.inf), np.concatenate([p[2] for p in parsed]),
                np.concatenate([p[3] for p in parsed]),
                np.concatenate([_spent(r, len(p[2])) for r, p in zip(records, parsed)]),
                np.asarray(records[0]["targets"], dtype=np.float64))
    return runs, reached, steps


def pooled_runs(records: Sequence[Record]) -> Runs:
    """Every run of ``records`` stacked (records must share their targets)."""
    if not records:
        return Runs(np.zeros((0, 0)), np.zeros(0), np.zeros(0, int), np.zeros(0), np.zeros(0))
    return _pool(records, [_record_arrays(r) for r in records])[0]


def success_rate(records: Record | Sequence[Record], target: float | None = None) -> float:
    """Fraction of the runs that reached ``target`` (default: the success target); NaN with no runs."""
    records = [records] if isinstance(records, Mapping) else list(records)
    runs = pooled_runs(records)
    if runs.count == 0:
        return float("nan")
    return float(np.isfinite(runs.solved_at[:, target_index(records[0], target)]).mean())


def ert(records: Record | Sequence[Record], target: float | None = None) -> float:
    """Expected running time (COCO): Σ evaluations / #successes; inf when nothing succeeds.

    A success contributes its steps-to-target, a failure what it spent: the budget for a sweep run
    (it always runs to the budget; a diverged one too), the evaluations it made for a scipy
    reference run that stopped early (as COCO counts an unsuccessful run's evaluations).
    """
    records = [records] if isinstance(records, Mapping) else list(records)
    runs = pooled_runs(records)
    if runs.count == 0:
        return float("nan")
    solved_at = runs.solved_at[:, target_index(records[0], target)]
    success = np.isfinite(solved_at)
    if not success.any():
        return float("inf")
    return float(np.where(success, solved_at, runs.budget).sum() / success.sum())


def ert_table(records: Iterable[Record], phase: str = TEST) -> dict[tuple[str, str, float], float]:
    """ERT per (problem, label, target) over the records of ``phase``."""
    table = {}
    for (problem, label), group in group_by(landscape_records(records, phase), "problem", "label").items():
        for target in group[0]["targets"]:
            table[(problem, label, float(target))] = ert(group, target)
    return table


@dataclasses.dataclass(frozen=True)
class ConfigSummary:
    """One config of one (problem, label) over all its instances."""

    problem: str
    label: str
    config_index: int
    config: dict[str, float]
    success_rate: float
    median_final_gap: float
    median_steps_to_target: float  # of the successful runs; NaN when none
    runs: int
    diverged: int


def config_summaries(records: Iterable[Record], phase: str = TUNE) -> list[ConfigSummary]:
    """Success rate, median final gap and more for every config of ``phase``."""
    out = []
    groups = group_by(landscape_records(records, phase), "problem", "label", "config_index")
    parsed = _ParsedRuns()
    for (problem, label, index), group in groups.items():
        runs = parsed.pooled(group)[0]
        solved = runs.solved_at[:, target_index(group[0])]
        successes = solved[np.isfinite(solved)]
        out.append(ConfigSummary(
            problem, label, int(index), dict(group[0]["config"]),
            float(np.isfinite(solved).mean()) if runs.count else float("nan"),
            float(np.median(runs.final_gap)) if runs.count else float("nan"),
            float(np.median(successes)) if successes.size else float("nan"),
            runs.count, int((runs.status == 2).sum())))
    return out


def selection_key(records: Sequence[Record]) -> tuple[float, float, float]:
    """The tuning criterion (``bench.run.records.key_of``, lower is better) of one config."""
    runs, reached, steps = _pool(records, [_record_arrays(r) for r in records])
    return _selection_key(records, runs, reached, steps)


def _selection_key(records: Sequence[Record], runs: Runs, reached: np.ndarray,
                   steps: np.ndarray) -> tuple[float, float, float]:
    index = target_index(records[0])
    return key_of(reached[:, index], steps[:, index], runs.final_gap)


# -- runtime ECDF --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ECDF:
    """Fraction of (run, target) pairs solved within each budget, with a bootstrap band."""

    budgets: np.ndarray
    fraction: np.ndarray
    low: np.ndarray
    high: np.ndarray
    pairs: int  # (problem, target) pairs it averages over
    per_dimension: bool = False  # budgets are gradient evaluations / dimension


def budget_grid(records: Iterable[Record], points: int = 60, per_dimension: bool = False) -> np.ndarray:
    """A log grid of budgets from 1 to the largest budget of ``records``; with ``per_dimension``,
    of evaluations / dimension, from one evaluation of the largest dimension up."""
    records = list(records)
    if not per_dimension:
        largest = max((float(r["steps"]) for r in records), default=1.0)
        return np.unique(np.round(np.logspace(0.0, np.log10(max(largest, 1.0)), points)))
    smallest = min((1.0 / _dimension(r) for r in records), default=1.0)
    largest = max((float(r["steps"]) / _dimension(r) for r in records), default=1.0)
    return np.unique(np.logspace(np.log10(smallest), np.log10(max(largest, smallest)), points))


def _dimension(record: Record) -> int:
    return max(1, int(record.get("dim", 2)))  # as problem_name: a record without "dim" is 2-D


def runtime_ecdf(records: Iterable[Record], phase: str = TEST, budgets: np.ndarray | None = None,
                 bootstrap: int = 200, confidence: float = 0.9, seed: int = 0,
                 per_dimension: bool | None = None) -> dict[str, ECDF]:
    """Runtime ECDF per label over the (problem, target) pairs of every problem in ``records``.

    A label absent from a problem counts as solving none of its pairs there (so the curves of all
    labels share one denominator). The band is the central ``confidence`` interval over ``bootstrap``
    resamples of each problem's runs. ``per_dimension``: budgets (and ``budgets``) in evaluations /
    dimension (COCO); default: when the problems have more than one dimension.
    """
    chosen = landscape_records(records, phase)
    if per_dimension is None:
        per_dimension = len({_dimension(r) for r in chosen}) > 1
    budgets = (budget_grid(chosen, per_dimension=per_dimension) if budgets is None
               else np.asarray(budgets, dtype=np.float64))
    problems = problems_in(chosen)
    rng = np.random.default_rng(seed)
    grouped = group_by(chosen, "problem", "label")
    out = {}
    for label in labels_in(chosen):
        total, draws, pairs = np.zeros(len(budgets)), np.zeros((bootstrap, len(budgets))), 0
        for problem in problems:
            group = grouped.get((problem, label))
            n_targets = len(chosen[0]["targets"]) if group is None else len(group[0]["targets"])
            pairs += n_targets
            if group is None:
                continue
            solved_at = pooled_runs(group).solved_at  # (R, T)
            if per_dimension:
                solved_at = solved_at / _dimension(group[0])
            # Per run: how many of its targets are solved by each budget; then a bootstrap over runs
            # only has to average rows.
            per_run = (solved_at[:, :, None] <= budgets[None, None, :]).sum(axis=1)  # (R, G)
            total += per_run.mean(axis=0)
            rows = rng.integers(0, len(per_run), size=(bootstrap, len(per_run)))
            draws += per_run[rows].mean(axis=1)
        pairs = max(pairs, 1)
        alpha = (1.0 - confidence) / 2
        low, high = np.quantile(draws / pairs, [alpha, 1 - alpha], axis=0)
        out[label] = ECDF(budgets, total / pairs, low, high, pairs, per_dimension)
    return out


# -- performance profiles ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PerformanceProfile:
    """Dolan–Moré profile: ``rho[label][i]`` = fraction of problems with ratio ≤ ``taus[i]``."""

    taus: np.ndarray
    rho: dict[str, np.ndarray]
    ratios: dict[tuple[str, str], float]  # (problem, label) -> ERT / best ERT on the problem
    problems: list[str]


def performance_profile(records: Iterable[Record], phase: str = TEST, target: float | None = None,
                        taus: np.ndarray | None = None) -> PerformanceProfile:
    """Performance profile of ERT at ``target`` (default: each record's success target)."""
    chosen = landscape_records(records, phase)
    problems, labels = problems_in(chosen), labels_in(chosen)
    grouped = group_by(chosen, "problem", "label")
    ratios: dict[tuple[str, str], float] = {}
    for problem in problems:
        measures = {label: ert(grouped[(problem, label)], target) if (problem, label) in grouped
                    else float("inf") for label in labels}
        best = min(measures.values(), default=float("inf"))
        for label, value in measures.items():
            # A cost counts from one evaluation (COCO's first evaluation is number 1): an ERT of 0,
            # every success at the start point, would otherwise divide by zero.
            ratios[(problem, label)] = (max(value, 1.0) / max(best, 1.0) if np.isfinite(value)
                                        else float("inf"))
    finite = [r for r in ratios.values() if np.isfinite(r)]
    if taus is None:
        largest = max(max(finite, default=1.0) * 1.5, 2.0)
        taus = np.unique(np.concatenate([[1.0], np.logspace(0.0, np.log10(largest), 200)]))
    taus = np.asarray(taus, dtype=np.float64)
    rho = {}
    for label in labels:
        values = np.array([ratios[(p, label)] for p in problems])
        rho[label] = (values[:, None] <= taus[None, :]).mean(axis=0) if len(values) else np.zeros(len(taus))
    return PerformanceProfile(taus, rho, ratios, problems)


# -- tuning budget -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TuningCurve:
    """Success rate of the config a search of ``budget`` configs would pick (quartiles over draws)."""

    budgets: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray


def tuning_budget_curves(records: Iterable[Record], budgets: Sequence[int] | None = None,
                         resamples: int = 200, seed: int = 0) -> dict[tuple[str, str], TuningCurve]:
    """Per (problem, label): pick ``b`` configs of the tuning grid at random without replacement, keep
    the best by :func:`selection_key`, report its success rate; median and quartiles over resamples.
    Each resample draws one random order of the configs and takes its first ``b`` for every ``b``."""
    rng = np.random.default_rng(seed)
    out = {}
    parsed = _ParsedRuns()
    for (problem, label), group in group_by(landscape_records(records, TUNE), "problem", "label").items():
        by_config = group_by(group, "config_index")
        keys, rates = [], []
        for c in sorted(by_config):  # each config's runs pooled once, for its key and its rate
            runs, reached, steps = parsed.pooled(by_config[c])
            keys.append(_selection_key(by_config[c], runs, reached, steps))
            rates.append(float(np.isfinite(runs.solved_at[:, target_index(by_config[c][0])]).mean()))
        rates = np.array(rates)
        order = np.array(sorted(range(len(keys)), key=lambda i: keys[i]))  # rank of each config
        rank = np.empty(len(keys), int)
        rank[order] = np.arange(len(keys))
        n = len(keys)
        sizes = np.arange(1, n + 1) if budgets is None else np.array([b for b in budgets if 1 <= b <= n])
        # One random order of the configs per resample: its first b configs are a uniform draw of b
        # without replacement, for every b at once; the best of them is the running minimum of rank.
        orders = np.argsort(rng.random((resamples, n)), axis=1)
        best_rank = np.minimum.accumulate(rank[orders], axis=1)[:, sizes - 1]  # (resamples, sizes)
        q = np.quantile(rates[order[best_rank]], [0.5, 0.25, 0.75], axis=0)
        out[(problem, label)] = TuningCurve(sizes, q[0], q[1], q[2])
    return out
