"""The runs axis sharded over 4 simulated devices gives results identical to one device, and a
batch not divisible by the device count is padded and trimmed, not refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

SCRIPT = r"""
import json, sys
import numpy as np
from bench.core.jax_setup import configure_jax
configure_jax(enable_cache=False)
import jax
import landscapes
from bench.core.engine import run_batch
from bench.core.step import Problem, make_batch
from bench.run.runner import OptimizerBuilder
from bench.core.sharding import runs_sharding

landscape = landscapes.get_landscape("himmelblau")
problem = Problem(landscape, OptimizerBuilder("nesterov", "time_based"), 100)
runs = 10  # not a multiple of 4
rng = np.random.default_rng(0)
hp = dict(learning_rate=np.geomspace(1e-4, 1e-2, runs), momentum=np.full(runs, 0.9),
          decay=np.full(runs, 1e-3), warmup_steps=np.zeros(runs))
batch = make_batch(problem, hp, rng.uniform(-5, 5, (runs, 2)), 0.0, landscape.minimizer_array())
metrics, _ = run_batch(problem, batch, sharding=runs_sharding())
json.dump(dict(devices=len(jax.devices()), sharded=runs_sharding() is not None,
               final_x=metrics.final_x.tolist(), steps=metrics.steps_to_target.tolist(),
               basin=metrics.basin.tolist()), sys.stdout)
"""


def _run(device_count: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={device_count}",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout)


def test_four_devices_match_one():
    one, four = _run(1), _run(4)
    assert one["devices"] == 1 and not one["sharded"]
    assert four["devices"] == 4 and four["sharded"]
    np.testing.assert_array_equal(np.array(four["final_x"]), np.array(one["final_x"]))
    assert four["steps"] == one["steps"] and four["basin"] == one["basin"]


MULTI_HOST_SUITE = """
name = "two-hosts"
steps = 40
starts = 3
seeds = [0]
test_seeds = [9]
landscapes = ["himmelblau"]
[[optimizer]]
family = "momentum"
[optimizer.space]
learning_rate = [0.001, 0.01]
momentum = [0.9]
"""


def test_two_processes_with_jax_distributed_match_one(tmp_path):
    # README's several-hosts command, on this machine: 2 processes x 2 CPU devices, one sharded
    # program. Before, fetching the results failed ("spans non-addressable devices"); every process
    # now gathers every run, and the records equal a one-process run bit for bit.
    import socket

    from bench.run.results import read_results

    (tmp_path / "suite.toml").write_text(MULTI_HOST_SUITE)
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, LANDSCAPE_BENCH_CPU_DEVICES="2", JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    hosts = [subprocess.Popen(
        [sys.executable, "-c", "import sys, jax; "
         f"jax.distributed.initialize('localhost:{port}', num_processes=2, process_id={i}); "
         "from bench.cli import main; "
         f"sys.exit(main(['run', 'suite.toml', '--out', 'host_{i}', '--no-report']))"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    outputs = [host.communicate(timeout=300) for host in hosts]
    for host, (_, err) in zip(hosts, outputs):
        assert host.returncode == 0, err[-2000:]
    single = subprocess.run([sys.executable, "-m", "bench.cli", "run", "suite.toml", "--out", "one",
                             "--no-report"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    runs = [{r["record_id"]: r["runs"] for r in read_results(tmp_path / d)}
            for d in ("host_0", "host_1", "one")]
    assert len(runs[2]) == 3 and runs[0] == runs[1] == runs[2]  # 2 tuning configs, 1 test
