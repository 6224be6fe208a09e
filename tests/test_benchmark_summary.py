"""The benchmarks' terminal summary: quality metrics and workload after pytest-benchmark's table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from reports.benchmarks import quality_lines, workload_text

ROOT = Path(__file__).resolve().parents[1]

BENCHMARK = '''
def test_tiny(benchmark):
    benchmark(lambda: sum(range(100)))
    benchmark.extra_info.update(landscape="beale", label="sgd/constant", runs=320, steps=2000,
                                success_rate=0.75, median_steps_to_target=412.0,
                                median_final_gap=3.1e-9, diverged_fraction=0.0, compile_seconds=1.5)
'''


def test_quality_lines_hold_each_metric_and_the_workload():
    lines = quality_lines([("test_engine[beale-sgd/constant]", {
        "landscape": "beale", "label": "sgd/constant", "runs": 320, "steps": 2000, "success_rate": 0.75,
        "median_steps_to_target": 412.0, "median_final_gap": 3.1e-9, "diverged_fraction": 0.0})])
    assert lines[0].split() == ["benchmark", "success", "rate", "steps", "to", "target", "final", "gap",
                                "diverged", "workload"]
    assert "0.75" in lines[1] and "412" in lines[1] and "3.10e-09" in lines[1]
    assert lines[1].endswith("beale × sgd/constant, 320 runs × 2,000 steps")
    assert workload_text({}) == "—"


def test_terminal_summary_follows_the_timing_table(tmp_path):
    shutil.copy(ROOT / "tests" / "benchmarks" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_tiny_bench.py").write_text(BENCHMARK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # timing stays on
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "--benchmark-only", "-q",
                           "-p", "no:cacheprovider", "--benchmark-min-rounds=3", "--benchmark-max-time=0.05",
                           f"--rootdir={tmp_path}"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.index("benchmark quality (extra_info)") > out.index("Mean")  # after the timing table
    summary = out.split("benchmark quality (extra_info)")[1]
    assert "test_tiny" in summary and "0.75" in summary and "412" in summary and "3.10e-09" in summary
    assert "beale × sgd/constant, 320 runs × 2,000 steps" in summary
