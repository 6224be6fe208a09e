"""Speed verdicts from repeated timings: the noise band and the rule ``compare`` applies.

A sweep job run with ``landscape-bench run --timing-repeats N`` stores the seconds of each of its
``N`` timing repeats in its records' ``cost`` (``bench.run.timing``). Speed is compared per job
(landscape × label × phase) between two results folders only where both sides hold at least
MIN_REPEATS repeats:

- each side's speed is its fastest repeat (steps/s). A neighbour on a shared machine only slows a
  repeat down, so the fastest one is the closest to what the code costs;
- the noise band (relative) is the larger of the job's spread (how far the lower quartile of its
  times sits above its fastest one, A's and B's added) and BETWEEN_RUNS_BAND, the largest drift of
  a job between two quiet runs of the same code on the shared 2-core machine
  (docs/performance.md): a run's repeats follow one another within milliseconds and cannot see
  how the machine's load moves in the minutes between two runs;
- a verdict ("B faster", "B slower") only where B / A lies outside [1 / (1 + band), 1 + band], and
  only where both runs were quiet: a run's noise level (how far a job's median repeat sits above
  its fastest, the median over the run's jobs) at most QUIET_LEVEL. On a loaded machine two runs of
  the same code drifted apart by more than any band their repeats showed, so a loaded run gets no
  verdict at all, and the table says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from bench.analysis import aggregate

NO_SPEED_VERDICT = "not measured repeatedly: no speed verdict"
MIN_REPEATS = 3  # fewer timings give no spread to judge a change by
MIN_NOISE_BAND = 0.05  # relative: a change under 5 % is never called, however tight the repeats
# Two results folders are timed minutes apart: a shared machine's load moves between them by more
# than one run's repeats can show. No band is narrower than this: the largest drift of one job
# between two quiet runs of the same code that docs/performance.md records.
BETWEEN_RUNS_BAND = 0.8
# A run whose typical repeat is more than this much slower than its fastest (relative; the median
# over its jobs) was timed on a loaded machine: no speed verdict from it. Runs above it gave false
# verdicts between runs of the same code (docs/performance.md).
QUIET_LEVEL = 0.25
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

    A job's records carry its cost so far; the one whose repeats cover the most runs is the job's."""
    best: dict[tuple[str, str, str], tuple[int, JobTimings]] = {}
    for record in aggregate.landscape_records(records):
        cost = record.get("cost") or {}
        seconds, runs = cost.get(REPEATED_TIMINGS), cost.get(REPEATED_RUNS)
        if record.get("reference") or not isinstance(seconds, list) or len(seconds) < MIN_REPEATS \
                or not isinstance(runs, int) or runs <= 0:
            continue
        seconds = np.asarray(seconds, dtype=np.float64)
        if not np.all(np.isfinite(seconds) & (seconds > 0)):
            continue
        key = (aggregate.problem_name(record), record["label"], record["phase"])
        if key not in best or runs > best[key][0]:
            best[key] = (runs, JobTimings(runs * float(record["steps"]) / seconds))
    return {key: timings for key, (_, timings) in best.items()}


def speed_rows(records_a, records_b) -> list[dict[str, Any]]:
    """One row per job timed repeatedly in both runs: fastest steps/s of each, B / A, the noise
    band and the verdict (see the module docstring)."""
    a, b = job_timings(records_a), job_timings(records_b)
    level_a, level_b = noise_level(a), noise_level(b)
    loud = [f"{name} {level:.2f}" for name, level in (("A", level_a), ("B", level_b)) if level > QUIET_LEVEL]
    rows = []
    for key in [k for k in a if k in b]:
        ratio = b[key].fastest / a[key].fastest
        band = max(BETWEEN_RUNS_BAND, a[key].spread + b[key].spread)
        rows.append(dict(problem=key[0], label=key[1], job=JOBS.get(key[2], key[2]),
                         steps_per_second_a=a[key].fastest, steps_per_second_b=b[key].fastest,
                         repeats=(len(a[key].steps_per_second), len(b[key].steps_per_second)),
                         ratio=ratio, band=band,
                         verdict=f"no verdict: timed on a loaded machine (noise level {', '.join(loud)}"
                                 f" > {QUIET_LEVEL:.2f})" if loud
                         else speed_verdict(ratio, band),
                         noise_levels=(level_a, level_b)))
    return rows


def repeated_keys(records) -> set[tuple[str, str]]:
    """(problem, label) of the test-phase jobs timed repeatedly in ``records``."""
    return {(problem, label) for problem, label, phase in job_timings(records) if phase == "test"}


def plot_speed(rows: Sequence[Mapping[str, Any]], *, ax=None):
    """The speed ratio B / A per job (log axis), its noise band as a grey bar, the point filled
    where a verdict was given; y labels name landscape, label and job."""
    from reports.style import color_for, new_axes

    ax = new_axes(ax, height=max(2.5, 0.3 * len(rows) + 1.2))
    positions = np.arange(len(rows))
    for y, row in zip(positions, rows):
        low, high = 1.0 / (1.0 + row["band"]), 1.0 + row["band"]
        ax.plot([low, high], [y, y], color="#cccccc", linewidth=6, solid_capstyle="butt")
        called = row["verdict"].startswith(("B faster", "B slower"))
        color = color_for(row["label"])
        ax.plot([row["ratio"]], [y], marker="o", linestyle="none", markeredgecolor=color,
                markerfacecolor=color if called else "white", markersize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ends = [v for r in rows for v in (r["ratio"], 1.0 / (1.0 + r["band"]), 1.0 + r["band"]) if np.isfinite(v)]
    left, right = (min(ends) / 1.15, max(ends) * 1.15) if ends else (0.5, 2.0)
    ax.set_xlim(left, right)
    ticks = [t for t in (0.1, 0.25, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 4.0, 10.0) if left <= t <= right]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(positions, [f"{r['problem']} · {r['label']} · {r['job']}" for r in rows], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("speed B / A (fastest repeat; > 1: B faster). Grey: noise band; filled: verdict")
    return ax
