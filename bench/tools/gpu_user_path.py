"""The GPU check of what a user gets: the record rules on the device, and the user path beside the
kernel alone.

    python3 -m bench.tools.gpu_user_path --out DIR [--quick] [--skip suite]

Writes DIR/gpu_user_path.json after each part. Parts:
  * ``composition``: a run's numbers alone and inside a large batch, at other positions, with the
    scan and with the fused loop: the device side of "a run's numbers depend on its identity alone"
    (counts of bitwise-equal runs; nothing is asserted, so every figure comes back);
  * ``user_path``: Beale, Nesterov, 2,000 steps, float32 at 4,096 and 1,048,576 runs: the kernel alone
    (an AOT executable on placed inputs), ``bench.core.engine.run_batch`` on the workload as a suite
    describes it (configs x starts, expanded on the device; fetching and unpacking one field and
    every field) and building that description (``Workload.description``), medians of repeated
    timings;
  * ``suite``: ``landscape-bench run default`` cold and warm into new folders (wall time, the jobs'
    time as the command prints it), then a sampled ``rerun_all`` of the warm folder on the device.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def composition(loop: str, runs: int = 4096) -> dict[str, Any]:
    import dataclasses

    import landscapes
    import optimizers
    from bench.core.engine import run_batch
    from bench.core.step import OptimizerBuilder, Problem, make_batch

    land = landscapes.get_landscape("rastrigin")
    problem = Problem(land, OptimizerBuilder("momentum", "constant"), 300, transformed=True)
    problem = dataclasses.replace(problem, loop=loop)
    rng = np.random.default_rng(0)
    hparams = optimizers.complete_config("momentum", "constant", {
        "learning_rate": 10 ** rng.uniform(-3, -1, runs), "momentum": rng.uniform(0, 0.95, runs)})
    box = land.start_box(2)
    x0 = rng.uniform(box[:, 0], box[:, 1], (runs, 2))

    def batch(rows):
        return make_batch(problem, {k: np.asarray(v)[rows] for k, v in hparams.items()}, x0[rows],
                          land.minimum(2), land.minimizer_array(2), shift=np.full(2, 0.3),
                          matrix=np.array([[0.9, 0.2], [-0.1, 0.5]]))

    whole, _ = run_batch(problem, batch(slice(0, runs)))
    found = {}
    for name, rows in (("32 alone", slice(700, 732)), ("1 alone", slice(5, 6)),
                       ("shifted by 1", slice(1, runs))):
        alone, _ = run_batch(problem, batch(rows))
        equal = np.all(alone.final_x == whole.final_x[rows], axis=1) & np.all(
            alone.steps_to_target == whole.steps_to_target[rows], axis=1)
        found[name] = dict(runs=int(equal.size), bitwise_equal=int(equal.sum()))
    return found


def user_path(runs: int, loop: str, repeats: int) -> dict[str, Any]:
    from bench.tools.throughput import user_path_times

    found = user_path_times(runs, 2000, repeats, loop)
    kernel, user, steps = found["executable_seconds"], found["run_batch_seconds"], runs * 2000
    return dict(found, kernel_steps_per_second=steps / kernel, run_batch_steps_per_second=steps / user,
                user_fraction_of_kernel=kernel / user, host_ns_per_run=(user - kernel) / runs * 1e9)


def suite(out: Path, quick: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    name = "quick" if quick else "default"
    for attempt in ("cold", "warm"):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench.cli", "run", name, "--out",
                               str(out / f"suite_{attempt}")], capture_output=True, text=True,
                              timeout=400)
        found[attempt] = dict(rc=done.returncode, wall_seconds=time.perf_counter() - began,
                              summary=[line for line in done.stdout.splitlines()
                                       if line.startswith("suite ")], tail=done.stderr[-600:])
    from bench.tools.rerun_all import rerun_all

    checked = rerun_all(str(out / "suite_warm"), sample=40, seed=0)
    found["rerun_sample"] = {k: v for k, v in checked.items()}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.tools.gpu_user_path")
    parser.add_argument("--out", default=".")
    parser.add_argument("--quick", action="store_true", help="small sizes (a CPU smoke test)")
    parser.add_argument("--skip", nargs="*", default=[], help="parts to skip: composition user_path suite")
    args = parser.parse_args(argv)
    from bench.core.jax_setup import configure_jax

    configure_jax()
    import jax

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = dict(device=str(jax.devices()[0]), backend=jax.default_backend(),
                                   jax=jax.__version__)

    def part(name, fn):
        began = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as error:  # noqa: BLE001 (record it; keep the other figures)
            results[name] = {"error": f"{type(error).__name__}: {error}"}
        results.setdefault("seconds", {})[name] = time.perf_counter() - began
        (out / "gpu_user_path.json").write_text(json.dumps(results, indent=1, default=str))
        print(name, json.dumps(results[name], default=str)[:1500], flush=True)

    gpu = jax.default_backend() == "gpu"
    loops = ["scan", "fused"] if gpu else ["scan"]
    if "composition" not in args.skip:
        for loop in loops:
            part(f"composition_{loop}", lambda loop=loop: composition(loop, 1024 if args.quick else 4096))
    if "user_path" not in args.skip:
        sizes = [512] if args.quick else [4096, 1 << 20]
        for runs in sizes:
            part(f"user_path_{runs}", lambda runs=runs: user_path(runs, loops[-1], 3))
    if "suite" not in args.skip:
        part("suite", lambda: suite(out, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
