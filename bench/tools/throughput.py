"""Throughput of the engine and of the two ways people usually run the same work, side by side.

The headline workload (docs/performance.md): Beale, SGD + Nesterov, 4,096 configs x 2,000 steps, float32, with
the in-carry metrics. ``sweep_rate`` times the engine; ``python_loop_rate`` a Python loop over a
jitted optax step (what a Keras-style script does); ``per_config_scan_rate`` one jitted ``lax.scan``
per config. All three count optimizer steps per second on the same landscape, optimizer and configs,
so their ratios are same-run speedups. The two baselines are timed on a subset of the configs (the
Python loop would take minutes on all of them); their rate per step does not depend on the count.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscapes
import optimizers
from bench.core.engine import ALL_BLOCKS, compiled_sweep
from bench.core.flops import step_flops
from bench.core.inputs import described
from bench.core.step import PER_RUN, Problem, make_batch, to_metrics
from bench.core.targets import COCO_TARGETS
from bench.core.environment import peak_flops
from bench.run.runner import OptimizerBuilder
from bench.core.sharding import runs_sharding
from optimizers.spaces import LogUniform, Uniform, random_configs


# Start points per config in ``Workload.description``.
STARTS = 256


@dataclasses.dataclass(frozen=True)
class Workload:
    landscape: str = "beale"
    family: str = "nesterov"
    schedule: str = "constant"
    runs: int = 4096
    steps: int = 2000
    dtype: str = "float32"
    unroll: int = 2
    seed: int = 0
    loop: str = "scan"  # or "fused": the step loop as one GPU kernel (bench.core.fused)
    block: int = 32
    targets: tuple[float, ...] = COCO_TARGETS

    def problem(self) -> Problem:
        return Problem(landscapes.get_landscape(self.landscape),
                       OptimizerBuilder(self.family, self.schedule), self.steps,
                       targets=self.targets, dtype=self.dtype, unroll=self.unroll, loop=self.loop,
                       block=self.block)

    def batch(self, runs: int | None = None) -> dict[str, Any]:
        """Random configs (lr log-uniform in [1e-4, 1e-2], momentum uniform in [0, 0.95] where the
        family has one, the rest at defaults) and random starts in the landscape's start box."""
        runs = self.runs if runs is None else runs
        landscape = landscapes.get_landscape(self.landscape)
        space = {"learning_rate": LogUniform(1e-4, 1e-2)}
        if "momentum" in optimizers.config_defaults(self.family, self.schedule):
            space["momentum"] = Uniform(0.0, 0.95)
        configs = random_configs(space, runs, self.seed)
        full = optimizers.complete_config(self.family, self.schedule, configs)
        box = landscape.start_box()
        x0 = np.random.default_rng(self.seed).uniform(box[:, 0], box[:, 1], (runs, len(box)))
        return make_batch(self.problem(), full, x0, landscape.minimum(),
                          landscape.minimizer_array())

    def description(self, runs: int | None = None) -> dict[str, Any]:
        """The workload as a suite describes it: ``runs // starts`` random configs (from the
        sampler's seed) x ``starts`` start points (from the start box and the seed), with
        ``starts = min(STARTS, runs)``; expanded into runs on the device (``bench.core.inputs``)."""
        runs = self.runs if runs is None else runs
        starts = min(STARTS, runs)
        landscape = landscapes.get_landscape(self.landscape)
        space = {"learning_rate": LogUniform(1e-4, 1e-2)}
        if "momentum" in optimizers.config_defaults(self.family, self.schedule):
            space["momentum"] = Uniform(0.0, 0.95)
        configs = optimizers.complete_config(self.family, self.schedule,
                                             random_configs(space, runs // starts, self.seed))
        box = landscape.start_box()
        x0 = np.random.default_rng(self.seed).uniform(box[:, 0], box[:, 1], (starts, len(box)))
        problem = self.problem()
        shared = make_batch(problem, {k: v[:1] for k, v in configs.items()}, x0[:1],
                            landscape.minimum(), landscape.minimizer_array())["shared"]
        return dict(runs=described(problem, configs, x0), shared=shared)

    def expanded(self, description: dict[str, Any]) -> dict[str, Any]:
        """A description's runs as per-run arrays, made on the host (for the kernel alone)."""
        runs = description["runs"]
        rows = np.arange(runs.runs)
        configs = runs.configs[rows // runs.per_config]
        return dict(hparams={k: v[configs] for k, v in runs.hparams.items()},
                    x0=runs.x0[rows % runs.per_config], key=runs.key[rows % runs.per_config],
                    shared=description["shared"])


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def compile_sharded(problem: Problem, batch: dict[str, Any]):
    """Place ``batch`` with its runs sharded over every device (as ``landscape-bench run`` does,
    when the runs divide evenly) and AOT-compile the sweep for it.

    Returns (executable, placed arguments: (per-run inputs, shared inputs), compile seconds, device
    count); call it as ``executable(*arguments)``.
    """
    sharding = runs_sharding()
    runs = len(batch["x0"])
    per_run = {k: batch[k] for k in PER_RUN}
    if sharding is not None and runs % len(sharding.device_set) == 0:
        from jax.sharding import NamedSharding, PartitionSpec

        replicated = NamedSharding(sharding.mesh, PartitionSpec())
        arguments = (jax.device_put(per_run, sharding), jax.device_put(batch["shared"], replicated),
                     jax.device_put(ALL_BLOCKS, replicated))
        devices = len(sharding.device_set)
    else:
        arguments, devices = jax.device_put((per_run, batch["shared"], ALL_BLOCKS)), 1
        sharding = None
    start = time.perf_counter()
    executable = compiled_sweep(problem, sharding).lower(*arguments).compile()
    return executable, arguments, time.perf_counter() - start, devices


def sweep_rate(work: Workload, repeats: int = 5) -> dict[str, Any]:
    """The engine on the whole workload: compile (AOT) apart, median of ``repeats`` timed runs."""
    problem = work.problem()
    batch = work.batch()
    executable, arguments, compile_seconds, devices = compile_sharded(problem, batch)
    out = jax.block_until_ready(executable(*arguments))  # warm-up
    seconds = _median_seconds(lambda: executable(*arguments), repeats)
    metrics = to_metrics(out, work.steps)
    flops = step_flops(problem, batch)
    rate = work.runs * work.steps / seconds
    peak = peak_flops(work.dtype)
    method = ("engine: jit(vmap(scan))" if work.loop == "scan"
              else f"engine: fused loop, one kernel (block {work.block})")
    return dict(method=method, loop=work.loop, runs=work.runs, steps=work.steps,
                unroll=work.unroll, block=work.block, devices=devices, compile_seconds=compile_seconds, median_seconds=seconds,
                steps_per_second=rate, flops_per_step=flops, peak_flops=peak,
                roofline_fraction=None if flops is None else rate * flops / peak,
                success_rate=float(metrics.reached[:, 5].mean()),
                diverged_fraction=float(metrics.diverged.mean()),
                median_final_gap=float(np.nanmedian(np.where(metrics.diverged, np.nan,
                                                             metrics.final_gap))))


def _single_config(batch, i):
    return {k: (v[i] if not isinstance(v, dict) else {n: a[i] for n, a in v.items()})
            for k, v in batch.items() if k in PER_RUN}


def python_loop_rate(work: Workload, configs: int = 2, steps: int = 300) -> dict[str, Any]:
    """A Python loop over a jitted optax step, one config at a time (value and gradient each step)."""
    landscape = landscapes.get_landscape(work.landscape)
    batch = work.batch(configs)
    value_and_grad = jax.value_and_grad(landscape.fn)

    @jax.jit
    def step(x, state, hparams):
        value, grad = value_and_grad(x)
        updates, state = optimizers.make_optimizer(work.family, work.schedule, hparams).update(
            grad, state, x)
        return optax.apply_updates(x, updates), state, value

    def run_all():
        for i in range(configs):
            run = _single_config(batch, i)
            hparams = {k: jnp.asarray(v) for k, v in run["hparams"].items()}
            x = jnp.asarray(run["x0"])
            state = optimizers.make_optimizer(work.family, work.schedule, hparams).init(x)
            for _ in range(steps):
                x, state, value = step(x, state, hparams)
            jax.block_until_ready(x)
        return x

    run_all()  # compile and warm up
    seconds = _median_seconds(run_all, 3)
    return dict(method="Python loop over a jitted optax step", runs=configs, steps=steps,
                median_seconds=seconds, steps_per_second=configs * steps / seconds)


def per_config_scan_rate(work: Workload, configs: int = 32) -> dict[str, Any]:
    """One jitted ``lax.scan`` (the engine's own, metrics included) called once per config."""
    problem = work.problem()
    batch = work.batch(configs)
    fn = compiled_sweep(problem)
    shared = jax.device_put(batch["shared"])
    singles = [jax.device_put(jax.tree.map(lambda a: a[i:i + 1], {k: batch[k] for k in PER_RUN}))
               for i in range(configs)]
    jax.block_until_ready(fn(singles[0], shared, ALL_BLOCKS))  # compile once: one shape for all

    def run_all():
        return [fn(s, shared, ALL_BLOCKS) for s in singles]

    seconds = _median_seconds(run_all, 3)
    return dict(method="one jitted scan per config", runs=configs, steps=work.steps,
                median_seconds=seconds, steps_per_second=configs * work.steps / seconds)


def compare(work: Workload, *, loop_configs: int = 2, loop_steps: int = 300,
            scan_configs: int = 32, repeats: int = 5) -> dict[str, Any]:
    """The engine and both baselines in one run, with the same-run speedup ratios."""
    engine = sweep_rate(work, repeats)
    loop = python_loop_rate(work, loop_configs, loop_steps)
    scan = per_config_scan_rate(work, scan_configs)
    return dict(engine=engine, python_loop=loop, per_config_scan=scan,
                speedup_vs_python_loop=engine["steps_per_second"] / loop["steps_per_second"],
                speedup_vs_per_config_scan=engine["steps_per_second"] / scan["steps_per_second"])


def user_path_times(runs: int = 1 << 20, steps: int = 1, repeats: int = 3, loop: str = "scan",
                    inputs: str = "device") -> dict[str, Any]:
    """What the user path adds to the kernel, in seconds (medians of ``repeats``): building the
    inputs (``Workload.description`` for ``inputs="device"``, ``Workload.batch``'s per-run arrays
    for "host"), ``run_batch`` reading one field (``final_gap``) and reading every field of its
    Metrics, beside the executable alone on the same runs as per-run arrays. With a 1-step program
    the kernel is negligible, so the difference is the host's share; with the headline's 2,000
    steps it is what a user gets."""
    from bench.core.engine import run_batch
    from bench.core.sharding import runs_sharding
    from bench.core.step import Metrics

    work = Workload(runs=runs, steps=steps, loop=loop)
    make = work.description if inputs == "device" else work.batch
    build = _median_seconds(lambda: jax.tree.leaves(make())[0], repeats)
    batch = make()
    problem, sharding = work.problem(), runs_sharding()
    run_batch(problem, batch, sharding=sharding)  # compile and warm up

    def one_field():
        return run_batch(problem, batch, sharding=sharding)[0].final_gap

    def every_field():
        metrics = run_batch(problem, batch, sharding=sharding)[0]
        return [getattr(metrics, name) for name in Metrics.FIELDS if name != "trajectory"]

    expanded = work.batch() if inputs == "host" else work.expanded(batch)
    executable, arguments, compile_seconds, _ = compile_sharded(problem, expanded)
    jax.block_until_ready(executable(*arguments))
    # Interleaved, so each repeat's three timings see the same machine state; the host's share
    # is the median of the per-repeat differences.
    # The main thread's CPU time is the host's work alone: the executable runs on XLA's threads.
    times: dict[str, list[float]] = {"kernel": [], "user": [], "every": []}
    threads: dict[str, list[float]] = {"kernel": [], "user": [], "every": []}
    for _ in range(repeats):
        for name, fn in (("kernel", lambda: executable(*arguments)), ("user", one_field),
                         ("every", every_field)):
            start, thread = time.perf_counter(), time.thread_time()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
            threads[name].append(time.thread_time() - thread)
    kernel, user, every = (np.asarray(times[k]) for k in ("kernel", "user", "every"))
    return dict(runs=runs, steps=steps, loop=loop, inputs=inputs, compile_seconds=compile_seconds,
                batch_build_seconds=build, run_batch_seconds=float(np.median(user)),
                run_batch_every_field_seconds=float(np.median(every)),
                executable_seconds=float(np.median(kernel)),
                host_seconds=float(np.median(user - kernel)),
                host_every_field_seconds=float(np.median(every - kernel)),
                host_thread_seconds=float(np.median(threads["user"])),
                host_thread_every_field_seconds=float(np.median(threads["every"])),
                executable_thread_seconds=float(np.median(threads["kernel"])))


def host_time_per_run(runs: int = 1 << 20, steps: int = 1, repeats: int = 3,
                      inputs: str = "device") -> dict[str, Any]:
    """:func:`user_path_times` per run, in ns, with a 1-step program: the CPU proxy of the host's
    share of the user path. ``host_ns_per_run``: ``run_batch`` (one field read) less the executable,
    the median of per-repeat differences; ``host_every_field_ns_per_run``: the same with every
    field of its Metrics unpacked. ``host_thread_*``: the main thread's CPU time in ``run_batch``
    (the host's work alone, without waiting; robust to a loaded machine)."""
    found = user_path_times(runs, steps, repeats, inputs=inputs)

    def per_run(seconds):
        return seconds / runs * 1e9

    return dict(runs=runs, steps=steps, inputs=inputs,
                batch_build_ns_per_run=per_run(found["batch_build_seconds"]),
                run_batch_ns_per_run=per_run(found["run_batch_seconds"]),
                executable_ns_per_run=per_run(found["executable_seconds"]),
                host_ns_per_run=per_run(found["host_seconds"]),
                host_every_field_ns_per_run=per_run(found["host_every_field_seconds"]),
                host_thread_ns_per_run=per_run(found["host_thread_seconds"]),
                host_thread_every_field_ns_per_run=per_run(found["host_thread_every_field_seconds"]),
                executable_thread_ns_per_run=per_run(found["executable_thread_seconds"]))


def main(argv: list[str] | None = None) -> int:
    """``python3 -m bench.tools.throughput host [--runs N] [--repeats K] [--inputs device|host]``:
    print :func:`host_time_per_run` as JSON."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python3 -m bench.tools.throughput")
    parser.add_argument("what", choices=["host"])
    parser.add_argument("--runs", type=int, default=1 << 20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inputs", choices=["device", "host"], default="device")
    args = parser.parse_args(argv)
    from bench.core.jax_setup import configure_jax

    configure_jax()
    print(json.dumps(host_time_per_run(args.runs, repeats=args.repeats, inputs=args.inputs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
