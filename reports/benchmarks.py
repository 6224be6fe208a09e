"""pytest-benchmark results as text: what each benchmark measured and the quality of its runs.

Reads the ``extra_info`` the benchmarks of ``tests/benchmarks`` store (landscape, label, runs, steps,
success rate, steps-to-target, final gap, diverged fraction). Imports neither JAX nor matplotlib: the
benchmarks' terminal summary uses it at the end of a pytest session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# Quality entries of extra_info, in table order, with the names tables and the terminal show.
QUALITY_KEYS = (("success_rate", "success rate"), ("median_steps_to_target", "steps to target"),
                ("median_final_gap", "final gap"), ("diverged_fraction", "diverged"))


def workload_text(info: Mapping[str, Any]) -> str:
    """What a benchmark measured, from its extra_info: "beale × sgd/constant, 320 runs × 2,000 steps"."""
    where = " × ".join(str(info[k]) for k in ("landscape", "label") if info.get(k) is not None)
    size = " × ".join(f"{int(info[k]):,} {k}" for k in ("runs", "steps")
                      if isinstance(info.get(k), (int, float)) and not isinstance(info.get(k), bool))
    return ", ".join(part for part in (where, size) if part) or "—"


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "—"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def quality_lines(benchmarks: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """A fixed-width table, one line per (name, extra_info): the quality metrics and the workload.
    Benchmarks without any quality metric (the MNIST timings) are listed with dashes."""
    rows = [(name, *[_number(info.get(key)) for key, _ in QUALITY_KEYS], workload_text(info))
            for name, info in benchmarks]
    if not rows:
        return []
    header = ("benchmark", *[title for _, title in QUALITY_KEYS], "workload")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(row) -> str:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join([*cells, str(row[-1])]).rstrip()

    return [line(header), *[line(row) for row in rows]]
