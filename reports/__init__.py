"""Reports: read results files, write figures and a static report page; never run an optimizer.

``build_report(results_dir, out_dir)`` writes report.md, report.html and figures/;
``compare_runs(run_a, run_b, out_dir)`` what changed between two runs; ``benchmark_report(json_paths,
out_dir)`` the pytest-benchmark JSON (speed and the quality metrics of ``extra_info``) as a table.

The names are imported on first use (PEP 562), so a process that only builds some of a report's
sections (the report's helper process imports :mod:`reports.report`) never imports JAX through this
package.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"benchmark_report": "reports.compare", "compare_runs": "reports.compare",
            "build_report": "reports.report", "color_for": "reports.style"}

__all__ = ["benchmark_report", "build_report", "color_for", "compare_runs"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reports' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
