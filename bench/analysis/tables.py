"""What a table says about a selected config and a gap: the edge of the searched space, and a
gap below what the dtype resolves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from bench.analysis.aggregate import Record


@dataclasses.dataclass(frozen=True)
class EdgeFlag:
    """A selected hyperparameter value at the boundary of the values its search tried."""

    name: str
    value: float
    low: float
    high: float
    searched: int  # distinct values tried

    @property
    def side(self) -> str:
        return "top" if self.value == self.high else "bottom"

    def text(self) -> str:
        """E.g. "learning_rate = 0.1: top of the searched range (1e-4 … 0.1, 10 values)"."""
        return (f"{self.name} = {self.value:.4g}: {self.side} of the searched range"
                f" ({self.low:.4g} … {self.high:.4g}, {self.searched} values)")


def edge_flags(tuning: Iterable[Record], config: Mapping[str, float]) -> list[EdgeFlag]:
    """The hyperparameters of ``config`` whose value is the lowest or highest of the values the
    search tried (the ``config`` of the ``tuning`` records of one problem and label). A value at an
    edge means the best may lie outside the searched range; a hyperparameter the search held fixed
    (one value) is never flagged."""
    searched: dict[str, set[float]] = {}
    for record in tuning:
        for name, value in (record.get("config") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                searched.setdefault(name, set()).add(float(value))
    flags = []
    for name, value in config.items():
        values = searched.get(name, set())
        if len(values) < 2 or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        low, high = min(values), max(values)
        if float(value) in (low, high):
            flags.append(EdgeFlag(name, float(value), low, high, len(values)))
    return flags


def gap_text(value: float, floor: float, dtype: str) -> str | float:
    """A gap for a table: the value, or "< 1e-7 (float32)" where it lies below ``floor``, what
    ``dtype`` resolves there (:func:`problem_floor`): such a gap is rounding, and can print
    negative. Returns the float unchanged otherwise (the table formats it)."""
    if not np.isfinite(value):
        return value
    if np.isfinite(floor) and floor > 0 and value < floor:
        mantissa, exponent = f"{floor:.0e}".split("e")
        return f"< {mantissa}e{int(exponent)} ({dtype})"
    if value < 0:  # no floor known: still never a negative gap
        return f"< 0 (rounding, {dtype})"
    return value


def problem_floor(views, records: Sequence[Record], dtype: str) -> float:
    """The precision floor of ``dtype`` for a problem: the largest over the (landscape, instance)
    pairs of ``records``, as the run's views hold them (:class:`bench.run.views.Views`); NaN where
    the views lack one (no floor is shown then)."""
    floors = [views.floor(r["landscape"], int(r.get("instance", 0)), r.get("dim"), dtype)
              for r in {(r["landscape"], r.get("instance", 0)): r for r in records}.values()]
    if not floors or any(f is None for f in floors):
        return float("nan")
    return float(np.fmax.reduce(floors))
