"""The benchmarks' terminal summary: after pytest-benchmark's timing table, each benchmark's quality
(success rate at the target, steps to target, final gap, diverged fraction) and the workload it
timed, read from its ``extra_info``. Printed when benchmarks were timed (``--benchmark-only`` or
``--benchmark-enable``); the untimed default run records no benchmark."""

from __future__ import annotations

import pytest

from reports.benchmarks import quality_lines


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own summary, the timing table
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    timed = [(bench.name, dict(bench.extra_info or {})) for bench in getattr(session, "benchmarks", None) or []]
    lines = quality_lines(timed)
    if not lines:
        return
    terminalreporter.write_sep("-", "benchmark quality (extra_info)")
    for line in lines:
        terminalreporter.write_line(line)
