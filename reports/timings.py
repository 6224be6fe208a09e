"""Speed verdicts from repeated timings: the suite-level rule ``compare`` applies, and per-job ratios.

A sweep job run with ``landscape-bench run --timing-repeats N`` stores the seconds of each of its
``N`` timing repeats in its records' ``cost`` (``bench.run.timing``). Speed is compared between two
results folders over the jobs (landscape × label × phase) both hold with at least MIN_REPEATS
repeats:

- each side's speed of a job is its fastest repeat (steps/s). A neighbour on a shared machine only
  slows a repeat down, so the fastest one is the closest to what the code costs;
- the verdict is on the whole suite, not on a job: the geometric mean over the jobs of the speed
  ratios B / A, with a CONFIDENCE interval from how much the jobs' log-ratios disagree (a
  t-interval of their mean). The jobs of one run share the machine's load, and that load moves in
  the minutes between two runs: every job of a run drifts together, which no spread between jobs
  shows. So "no change" spans [1 / (1 + SUITE_BAND), 1 + SUITE_BAND] around 1, wider than the
  geometric mean drifted between two quiet runs of the same code (docs/performance.md), and
  "B faster" or "B slower" is said only where the whole interval lies outside it, with at least
  MIN_SUITE_JOBS jobs;
- and only where both runs were quiet: a run's noise level (how far a job's median repeat sits
  above its fastest, the median over the run's jobs) at most QUIET_LEVEL. Between louder runs of the
  same code the geometric mean drifted as far as the slowdowns ``compare`` is meant to catch, so a
  loaded run gets no verdict, and the report says so.

One job drifted between two quiet runs of the same code by more than a real 2x slowdown moves it,
so a job gets no verdict of its own: its row shows B / A and the spread of its repeats (how far the
lower quartile of its times sits above its fastest one, A's and B's added) for orientation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from bench.analysis import aggregate

NO_SPEED_VERDICT = "not measured repeatedly: no speed verdict"
MIN_REPEATS = 3  # fewer timings give no spread to judge a change by
MIN_NOISE_BAND = 0.05  # relative: a change under 5 % is never called, however tight the repeats
# Two results folders are timed minutes apart and the machine's load moves every job of a run
# together: "no change" spans ÷(1 + SUITE_BAND) to ×(1 + SUITE_BAND) of the suite's geometric mean.
# It is twice (in log) as wide as the nearer end of the mean's interval reached between two quiet runs
# of the same code, and wider than the mean itself drifted there (docs/performance.md).
SUITE_BAND = 0.25
CONFIDENCE = 0.95  # of the interval of the geometric mean over jobs
MIN_SUITE_JOBS = 3  # fewer jobs give no spread between jobs to set an interval by
# A run whose typical repeat is more than this much slower than its fastest (relative; the median
# over its jobs) was timed on a loaded machine: no speed verdict from it. Between runs above it the
# suite's geometric mean drifted as far as a 2x slowdown (docs/performance.md).
QUIET_LEVEL = 0.4
REPEATED_TIMINGS = "run_seconds_repeats"  # a record's cost: seconds of each timing repeat
REPEATED_RUNS = "runs_repeated"  # a record's cost: the runs those seconds cover
JOBS = {"tune": "tuning sweep", "test": "tuned config, test seeds"}


def speed_verdict(ratio: float, band: float, higher_is_faster: bool = True) -> str:
    """"B faster (×1.30 speed, ...)" or "B slower (×0.50 speed, ...)" where the speed ratio B / A lies
    outside [1 / (1 + band), 1 + band], else "no change beyond the noise band (÷1.05 to ×1.05)";
    ``ratio`` is B / A of a speed (or of a time with ``higher_is_faster=False``); ``band`` is
    relative and at least MIN_NOISE_BAND."""
    band = max(band if np.isfinite(band) else 0.0, MIN_NOISE_BAND)
    if not np.isfinite(ratio) or ratio <= 0:
        return NO_SPEED_VERDICT
    speedup = ratio if higher_is_faster else 1.0 / ratio
    text = f"noise band ÷{1 + band:.2f} to ×{1 + band:.2f}"
    if 1.0 / (1.0 + band) <= speedup <= 1.0 + band:
        return f"no change beyond the {text}"
    return f"B {'faster' if speedup > 1 else 'slower'} (×{speedup:.2f} speed, {text})"


@dataclasses.dataclass(frozen=True)
class JobTimings:
    """One job's timing repeats, as steps/s per repeat."""

    steps_per_second: np.ndarray

    @property
    def fastest(self) -> float:
        return float(self.steps_per_second.max())

    @property
    def spread(self) -> float:
        """How far the lower quartile of the times sits above the fastest time (relative)."""
        seconds = 1.0 / self.steps_per_second
        return float(np.quantile(seconds, 0.25) / seconds.min() - 1.0)

    @property
    def typical(self) -> float:
        """How far the median time sits above the fastest time (relative)."""
        seconds = 1.0 / self.steps_per_second
        return float(np.median(seconds) / seconds.min() - 1.0)


def noise_level(timings: Mapping[Any, JobTimings]) -> float:
    """A run's noise level: the median over its jobs of :attr:`JobTimings.typical` (0 without jobs)."""
    return float(np.median([t.typical for t in timings.values()])) if timings else 0.0


def job_timings(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], JobTimings]:
    """(problem, label, phase) -> the timing repeats of that sweep job, for jobs with MIN_REPEATS+.

    A job's records carry its cost so far: its whole cost is ``aggregate.job_costs``'."""
    sweeps = [r for r in aggregate.landscape_records(records) if not r.get("reference")]
    first = {}  # job id -> one of its records, for the job's (problem, label, phase) and steps
    for record in sweeps:
        first.setdefault(aggregate.job_key(record), record)
    best: dict[tuple[str, str, str], tuple[int, JobTimings]] = {}
    for job, cost in aggregate.job_costs(sweeps).items():
        seconds, runs = cost.get(REPEATED_TIMINGS), cost.get(REPEATED_RUNS)
        if not isinstance(seconds, list) or len(seconds) < MIN_REPEATS or not isinstance(runs, int) \
                or runs <= 0:
            continue
        seconds = np.asarray(seconds, dtype=np.float64)
        if not np.all(np.isfinite(seconds) & (seconds > 0)):
            continue
        record = first[job]
        key = (aggregate.problem_name(record), record["label"], record["phase"])
        if key not in best or runs > best[key][0]:
            best[key] = (runs, JobTimings(runs * float(record["steps"]) / seconds))
    return {key: timings for key, (_, timings) in best.items()}


def _loud(noise_levels: tuple[float, float]) -> str:
    """'' when both runs were quiet, else which were not, as text ("A 0.52")."""
    return ", ".join(f"{name} {level:.2f}" for name, level in zip("AB", noise_levels) if level > QUIET_LEVEL)


def speed_rows(records_a, records_b) -> list[dict[str, Any]]:
    """One row per job timed repeatedly in both runs, for orientation (no verdict of its own): fastest
    steps/s of each, B / A, and ``spread``, the spreads of its repeats in A and B added."""
    a, b = job_timings(records_a), job_timings(records_b)
    return [dict(problem=key[0], label=key[1], job=JOBS.get(key[2], key[2]),
                 steps_per_second_a=a[key].fastest, steps_per_second_b=b[key].fastest,
                 repeats=(len(a[key].steps_per_second), len(b[key].steps_per_second)),
                 ratio=b[key].fastest / a[key].fastest, spread=a[key].spread + b[key].spread)
            for key in a if key in b]


@dataclasses.dataclass(frozen=True)
class SuiteSpeed:
    """The suite-level speed of B against A: the geometric mean of the jobs' speed ratios B / A, its
    CONFIDENCE interval, how many jobs it covers, each run's noise level and the verdict."""

    ratio: float
    low: float
    high: float
    jobs: int
    noise_levels: tuple[float, float]
    verdict: str

    @property
    def called(self) -> bool:
        return self.verdict.startswith(("B faster", "B slower"))


def judge_suite(ratios: Sequence[float], noise_levels: tuple[float, float] = (0.0, 0.0)) -> SuiteSpeed:
    """The rule of the module docstring on the jobs' speed ratios B / A (a speed, so > 1: B faster)
    and the two runs' noise levels."""
    logs = np.log(np.asarray(ratios, dtype=np.float64))
    if len(logs) < MIN_SUITE_JOBS or not np.all(np.isfinite(logs)):
        return SuiteSpeed(float("nan"), float("nan"), float("nan"), len(logs), noise_levels,
                          f"no verdict: {len(logs)} jobs timed repeatedly in both runs,"
                          f" {MIN_SUITE_JOBS} needed for a suite speed")
    mean = float(logs.mean())
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs)))
    ratio, low, high = np.exp(mean), np.exp(mean - half), np.exp(mean + half)
    measured = (f"suite speed ×{ratio:.2f}, {100 * CONFIDENCE:.0f} % interval ×{low:.2f} to ×{high:.2f}"
                f" over {len(logs)} jobs; no change: ÷{1 + SUITE_BAND:.2f} to ×{1 + SUITE_BAND:.2f}")
    loud = _loud(noise_levels)
    if loud:
        verdict = f"no verdict: timed on a loaded machine (noise level {loud} > {QUIET_LEVEL:.2f}); {measured}"
    elif low > 1 + SUITE_BAND or high < 1 / (1 + SUITE_BAND):
        verdict = f"B {'faster' if low > 1 else 'slower'} ({measured})"
    else:
        verdict = f"no speed change shown ({measured})"
    return SuiteSpeed(ratio, low, high, len(logs), noise_levels, verdict)


def suite_speed(records_a, records_b) -> SuiteSpeed:
    """:func:`judge_suite` over the jobs timed repeatedly in both runs."""
    a, b = job_timings(records_a), job_timings(records_b)
    return judge_suite([b[key].fastest / a[key].fastest for key in a if key in b],
                       (noise_level(a), noise_level(b)))


def repeated_keys(records) -> set[tuple[str, str]]:
    """(problem, label) of the test-phase jobs timed repeatedly in ``records``."""
    return {(problem, label) for problem, label, phase in job_timings(records) if phase == "test"}


def plot_speed(rows: Sequence[Mapping[str, Any]], suite: SuiteSpeed, *, ax=None):
    """The suite's geometric mean B / A (log axis) with its interval on top, filled where a verdict
    was given, and below it each job's B / A (hollow) with the spread of its repeats around it as a
    grey bar; the suite's no-change zone shaded; y labels name landscape, label and job."""
    from reports.style import color_for, new_axes

    ax = new_axes(ax, height=max(2.5, 0.3 * (len(rows) + 1) + 1.2))
    ax.axvspan(1 / (1 + SUITE_BAND), 1 + SUITE_BAND, color="#eeeeee", zorder=0)
    if np.isfinite(suite.ratio):
        ax.plot([suite.low, suite.high], [0, 0], color="black", linewidth=2)
        ax.plot([suite.ratio], [0], marker="D", linestyle="none", markeredgecolor="black",
                markerfacecolor="black" if suite.called else "white", markersize=7)
    for y, row in enumerate(rows, start=1):
        ax.plot([row["ratio"] / (1 + row["spread"]), row["ratio"] * (1 + row["spread"])], [y, y],
                color="#cccccc", linewidth=6, solid_capstyle="butt")
        ax.plot([row["ratio"]], [y], marker="o", linestyle="none", markeredgecolor=color_for(row["label"]),
                markerfacecolor="white", markersize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ends = [v for r in rows for v in (r["ratio"] / (1 + r["spread"]), r["ratio"] * (1 + r["spread"]))]
    ends = [v for v in [*ends, suite.low, suite.high, 1 / (1 + SUITE_BAND), 1 + SUITE_BAND] if np.isfinite(v)]
    left, right = min(ends) / 1.15, max(ends) * 1.15
    ax.set_xlim(left, right)
    ticks = [t for t in (0.1, 0.25, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 4.0, 10.0) if left <= t <= right]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(range(len(rows) + 1), ["suite (geometric mean)",
                                         *[f"{r['problem']} · {r['label']} · {r['job']}" for r in rows]],
                  fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("speed B / A (fastest repeat; > 1: B faster). Shaded: no change for the suite;\n"
                  "black: the suite and its interval (filled: verdict); grey: a job's repeat spread")
    return ax
