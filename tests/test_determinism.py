"""The quick suite, run twice in separate processes, writes bitwise-identical results files except
for timings and timestamps (issue: trust in the numbers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.run.results import read_results

import pytest  # noqa: E402
pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

TIMING_FIELDS = ("cost", "created")


def _canonical(path) -> list[str]:
    lines = []
    for record in read_results(path):
        for field in TIMING_FIELDS:
            record.pop(field, None)
        lines.append(json.dumps(record, sort_keys=True))
    return lines


def test_quick_suite_is_bitwise_reproducible(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        subprocess.run([sys.executable, "-m", "bench.cli", "run", "quick", "--out", str(out),
                        "--no-report"], env=env, check=True, capture_output=True)
    first, second = (_canonical(out) for out in outs)
    assert len(first) > 50  # every job and reference row of the suite is there
    assert first == second  # same order too: records are written in a deterministic order
