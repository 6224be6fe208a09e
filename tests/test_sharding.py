"""The runs axis sharded over 4 simulated devices gives results identical to one device, and a
batch not divisible by the device count is padded and trimmed, not refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, sys
import numpy as np
from bench.jax_setup import configure_jax
configure_jax(enable_cache=False)
import jax
import landscapes
from bench.engine import Problem, make_batch, run_batch
from bench.runner import OptimizerBuilder
from bench.sharding import runs_sharding

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
