"""Reports: read results files, write figures and a static report page; never run an optimizer.

``build_report(results_dir, out_dir)`` writes report.md, report.html and figures/;
``compare_runs(run_a, run_b, out_dir)`` what changed between two runs; ``benchmark_report(json_paths,
out_dir)`` the pytest-benchmark JSON (speed and the quality metrics of ``extra_info``) as a table.
"""

from reports.compare import benchmark_report, compare_runs
from reports.report import build_report
from reports.style import color_for

__all__ = ["benchmark_report", "build_report", "color_for", "compare_runs"]
