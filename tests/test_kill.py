"""kill -9 at any moment of a multi-thousand-record job, then the same command again: exactly the
records of an uninterrupted run, none lost, none shown twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.run.results import read_results, to_jsonable
from suite_text import optimizer_toml, suite_toml

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

SUITE = suite_toml(
    "kill", steps=12, success_target=1e-1, landscapes='[{ name = "himmelblau", instances = [0, 1] }]',
    optimizers=[optimizer_toml("momentum", "constant",
                               learning_rate="{ log_uniform = [1e-4, 1e-1], num = 1000 }", momentum=[0.0, 0.9])])


def _run(suite, out):
    return subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(suite), "--out", str(out),
                             "--no-report"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _numbers(directory):
    return {r["record_id"]: json.dumps(to_jsonable(r["runs"]), sort_keys=True)
            for r in read_results(directory)}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    where = tmp_path_factory.mktemp("kill")
    (where / "suite.toml").write_text(SUITE)
    done = _run(where / "suite.toml", where / "whole")
    assert done.wait(timeout=600) == 0, done.stderr.read()[-2000:]
    return where, _numbers(where / "whole")


@pytest.mark.parametrize("fraction", [0.1, 0.9])
def test_kill_9_mid_append_then_rerun_gives_the_uninterrupted_records(uninterrupted, fraction):
    where, whole = uninterrupted
    size = (where / "whole" / "results.jsonl").stat().st_size
    out = where / f"killed_{fraction}"
    run = _run(where / "suite.toml", out)
    file = out / "results.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        if file.exists() and file.stat().st_size >= fraction * size:
            break
        time.sleep(0.005)
    killed = run.poll() is None
    if killed:
        os.kill(run.pid, signal.SIGKILL)
    run.wait()
    if killed:  # what a kill left shows only whole jobs
        partial = _numbers(out) if file.exists() else {}
        assert all(whole[i] == v for i, v in partial.items())
    again = _run(where / "suite.toml", out)
    assert again.wait(timeout=600) == 0, again.stderr.read()[-2000:]
    assert _numbers(out) == whole
    lines = [json.loads(line) for line in file.read_text().splitlines()]
    ids = [r["record_id"] for r in lines if r.get("kind") != "job_end"]
    assert len(ids) == len(set(ids))  # the resumed job kept its lines and wrote only the rest
    assert len(read_results(out)) == len(whole)
