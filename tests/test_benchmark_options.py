"""The README's benchmark commands work: the plain run executes benchmarks untimed, and
`--benchmark-only` times them (addopts' --benchmark-disable once made it an error)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest  # noqa: E402
pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

ROOT = Path(__file__).resolve().parents[1]


def test_plain_run_executes_benchmarks_untimed(request):
    assert request.config.option.benchmark_disable


def test_benchmark_only_times_the_benchmarks(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "-k", "headline", "--benchmark-only",
         "--benchmark-min-rounds=1", "--benchmark-max-time=0.01", "--benchmark-warmup=off",
         f"--benchmark-json={tmp_path / 'b.json'}", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        # an xdist worker's variables would make pytest-benchmark disable timing in the child
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (tmp_path / "b.json").stat().st_size > 0
