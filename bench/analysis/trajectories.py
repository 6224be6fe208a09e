"""Gap against step: f − f* along the stored trajectories, read from the run's views.

The gap at each stored iterate is computed at run time in float64 (:mod:`bench.run.views`); here
it is pooled into the median and quartiles over runs that the gap-against-step figure draws.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from bench.analysis.aggregate import Record


def trajectory_steps(record: Record) -> np.ndarray:
    """The step of each stored trajectory point: every ``trajectory_every`` steps, then the last."""
    trajectory = record.get("trajectory")
    if trajectory is None:
        return np.zeros(0)
    points = len(trajectory[0]) if len(trajectory) else 0
    steps = int(record["steps"])
    every = record.get("identity", {}).get("settings", {}).get("trajectory_every")
    if not every:
        every = int(np.ceil(steps / max(points - 1, 1)))
    return np.concatenate([np.arange(0, steps, every), [steps]])[:points].astype(np.float64)


def gap_trajectories(record: Record, views) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps (K,), gap (runs, K)): f − f* at the stored trajectory points, computed in float64 at
    run time (``views``: :class:`bench.run.views.Views`). A diverged point gives NaN. Empty arrays
    when the record has no trajectory; None when the views lack its gaps."""
    if record.get("trajectory") is None:
        return np.zeros(0), np.zeros((0, 0))
    gap = views.gap(record["record_id"])
    if gap is None:
        return None
    return trajectory_steps(record), gap


@dataclasses.dataclass(frozen=True)
class GapCurve:
    """Median and quartiles over runs of the gap at each stored step (non-finite = diverged = inf)."""

    steps: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    runs: int


def median_gap_curve(records: Sequence[Record], views) -> GapCurve | None:
    """The gap-vs-step curve over every run of ``records`` (one problem, one label); None without
    trajectories (or without their gaps in ``views``)."""
    steps, gaps = None, []
    for record in records:
        found = gap_trajectories(record, views)
        if found is None:
            continue
        s, g = found
        if g.size == 0:
            continue
        if steps is None or len(s) < len(steps):
            steps = s
        gaps.append(g)
    if not gaps:
        return None
    width = len(steps)
    gap = np.concatenate([g[:, :width] for g in gaps])
    gap = np.where(np.isfinite(gap), gap, np.inf)
    with np.errstate(invalid="ignore"):
        q25, median, q75 = np.quantile(gap, [0.25, 0.5, 0.75], axis=0, method="nearest")
    return GapCurve(steps, median, q25, q75, len(gap))


