"""Measurements of the built-in ``bbob`` suite's programs (the figures in docs/performance.md, "BBOB").

``pair``: one (function, dimension) of the suite as the runner runs it, optimizer entry by entry:
the tuning job, then its tuned config on the test seeds, with wall, compile and run seconds.
``roofline``: the suite's program on one instance, ``blocks`` blocks of runs per device, small
learning rates (finite runs: a NaN makes a libm call cheap and would flatter the scalar paths),
steps per second as the median of ``repeats`` timed calls, XLA's FLOPs per step and the fraction of
the measured peak.

    python -m bench.tools.bbob_measure pair 15 10
    python -m bench.tools.bbob_measure roofline 40 1-24 --steps 200 --blocks 2 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

import numpy as np

from bench.core import engine, environment
from bench.core.flops import step_flops
from bench.core.jax_setup import configure_jax
from bench.core.sharding import runs_sharding
from bench.run import runner
from bench.run.records import TEST, TUNE, Selection
from bench.run.suites import LandscapeEntry, load_suite


def pair_times(function: int, dim: int, suite_name: str = "bbob") -> list[dict[str, Any]]:
    """Seconds of each optimizer entry of the suite on bbob_fFF in ``dim`` dimensions."""
    suite, sharding = load_suite(suite_name), runs_sharding()
    (land,) = [e for e in suite.landscapes if e.name == f"bbob_f{function:02d}" and e.dim == dim]
    rows = []
    for opt in suite.optimizers:
        start = time.perf_counter()
        tune = runner.Job(suite, land, opt, TUNE, opt.configs(), suite.seeds)
        selection = Selection(len(tune.instances))
        tuned = runner.execute(tune, sharding=sharding)
        for record in tuned:
            selection.add(record)
        middle = time.perf_counter()
        test = runner.Job(suite, land, opt, TEST,
                          {k: np.array([v]) for k, v in selection.best().items()}, suite.test_seeds)
        tested = runner.execute(test, sharding=sharding)
        end = time.perf_counter()
        rows.append(dict(label=opt.label, configs=tune.n_configs, tune_seconds=middle - start,
                         tune_compile=tuned[-1]["cost"]["compile_seconds"],
                         tune_run=tuned[-1]["cost"]["run_seconds"], test_seconds=end - middle,
                         test_run=tested[-1]["cost"]["run_seconds"]))
    return rows


def roofline(dim: int, functions: list[int], steps: int, blocks: int, repeats: int,
             suite_name: str = "bbob") -> list[dict[str, Any]]:
    """Steps/s, FLOPs per step and fraction of peak of the suite's program per function."""
    suite = dataclasses.replace(load_suite(suite_name), steps=steps, trajectory_every=0)
    opt, sharding = suite.optimizers[0], runs_sharding()
    devices = 1 if sharding is None else len(sharding.device_set)
    runs = devices * blocks * (engine.CPU_RUNS_PER_DEVICE - engine.CPU_TAIL_ROWS)
    peak = environment.peak_flops(suite.dtype)
    rows = []
    for function in functions:
        job = runner.Job(suite, LandscapeEntry(f"bbob_f{function:02d}", dim, (1,)), opt, TUNE,
                         opt.configs(), suite.seeds)
        problem, shared, _ = job.problem(1)
        problem = dataclasses.replace(problem, loop="scan")
        hparams = {k: np.resize(np.asarray(v), runs) for k, v in job.configs.items()}
        hparams["learning_rate"] = np.geomspace(1e-6, 1e-3, runs)
        x0 = np.random.default_rng(0).uniform(-4, 4, (runs, dim))
        batch = runner.batch_of(problem, hparams, x0, shared)
        warm, _ = engine.run_batch(problem, batch, sharding=sharding)  # compile, warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            engine.run_batch(problem, batch, sharding=sharding)
            times.append(time.perf_counter() - start)
        flops = step_flops(problem, batch)
        rate = runs * steps / float(np.median(times))
        rows.append(dict(function=function, dim=dim, runs=runs, steps=steps,
                         steps_per_second=rate, flops_per_step=flops, peak_flops=peak,
                         roofline_fraction=None if flops is None else rate * flops / peak,
                         diverged=float(np.mean(warm.diverged)), seconds=times))
    return rows


def _functions(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high) + 1)) if high else [int(f) for f in text.split(",")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pair = commands.add_parser("pair")
    pair.add_argument("function", type=int)
    pair.add_argument("dim", type=int)
    roof = commands.add_parser("roofline")
    roof.add_argument("dim", type=int)
    roof.add_argument("functions", help="e.g. 1-24 or 1,10,15")
    roof.add_argument("--steps", type=int, default=200)
    roof.add_argument("--blocks", type=int, default=2)
    roof.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    configure_jax()
    if args.command == "pair":
        rows = pair_times(args.function, args.dim)
    else:
        rows = roofline(args.dim, _functions(args.functions), args.steps, args.blocks, args.repeats)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
