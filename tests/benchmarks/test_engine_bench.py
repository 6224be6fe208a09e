"""pytest-benchmark suite of the engine, per landscape x optimizer entry of the default suite, plus
the same-run baselines (a Python loop over a jitted step; one jitted scan per config).

`pytest tests/benchmarks --benchmark-only` times them; the default `pytest` run executes each once
with timing disabled, on smaller shapes, so they cannot rot. Compilation happens outside the timed
callable (AOT), `jax.block_until_ready` inside it; metrics go into `benchmark.extra_info`.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
import pytest

import landscapes
from bench.core.flops import step_flops
from bench.core.step import Problem, make_batch, to_metrics
from bench.core.targets import COCO51_TARGETS
from bench.core.environment import peak_flops
from bench.run.runner import OptimizerBuilder, noise_keys, start_points
from bench.run.suites import load_suite
from bench.tools.throughput import Workload, compile_sharded, per_config_scan_rate, python_loop_rate

pytestmark = pytest.mark.slow  # whole reports / scipy solvers / benchmark workloads: the full run only

DEFAULT = load_suite("default")
CASES = [(land, opt) for land in DEFAULT.landscapes for opt in DEFAULT.optimizers]


def _sizes(benchmark):
    """Full default-suite shapes when timing; a smoke-test size when timing is disabled."""
    if benchmark.disabled:
        # unroll 1 compiles several times faster: the smoke run checks behaviour, not speed.
        return dict(steps=50, seeds=(0,), starts=2, max_configs=4, unroll=1)
    return dict(steps=DEFAULT.steps, seeds=DEFAULT.seeds, starts=DEFAULT.starts, max_configs=None,
                unroll=DEFAULT.unroll)


@pytest.mark.parametrize("land, opt", CASES, ids=[f"{l.name}-{o.label}" for l, o in CASES])
def test_engine(benchmark, land, opt):
    sizes = _sizes(benchmark)
    landscape = landscapes.get_landscape(land.name)
    configs = opt.configs()
    if sizes["max_configs"]:
        configs = {k: v[: sizes["max_configs"]] for k, v in configs.items()}
    n_configs = len(next(iter(configs.values())))
    starts = np.concatenate([start_points(landscape, land.dim, s, sizes["starts"])
                             for s in sizes["seeds"]])
    problem = Problem(landscape, OptimizerBuilder(opt.family, opt.schedule), sizes["steps"],
                      DEFAULT.targets, DEFAULT.dtype, unroll=sizes["unroll"])
    hparams = {k: np.repeat(v, len(starts)) for k, v in configs.items()}
    # Each run its own gradient-noise stream, as in the suite (noisy landscapes; unused elsewhere).
    keys = np.tile(noise_keys(sizes["seeds"], sizes["starts"]), (n_configs, 1))
    assert len({tuple(k) for k in keys}) == len(starts)  # one stream per start, as in the suite
    batch = make_batch(problem, hparams, np.tile(starts, (n_configs, 1)), landscape.minimum(land.dim),
                       landscape.minimizer_array(land.dim), key=keys)
    executable, arguments, compile_seconds, _ = compile_sharded(problem, batch)
    benchmark.group = land.name
    out = benchmark(lambda: jax.block_until_ready(executable(*arguments)))
    metrics = to_metrics(out, problem.steps)
    runs = len(starts) * n_configs
    median = benchmark.stats.stats.median if benchmark.stats else None
    flops = step_flops(problem, batch)
    index = list(DEFAULT.targets).index(DEFAULT.success_target)
    reached = metrics.reached[:, index]
    benchmark.extra_info.update(
        landscape=land.name, label=opt.label, runs=runs, steps=problem.steps,
        compile_seconds=compile_seconds,
        success_rate=float(reached.mean()),
        median_steps_to_target=float(np.median(metrics.steps_to_target[reached, index]))
        if reached.any() else None,
        median_final_gap=float(np.nanmedian(np.where(metrics.diverged, np.nan, metrics.final_gap)))
        if not metrics.diverged.all() else None,
        diverged_fraction=float(metrics.diverged.mean()),
        flops_per_step=flops)
    if median:
        rate = runs * problem.steps / median
        benchmark.extra_info["steps_per_second"] = rate
        if flops:
            peak = peak_flops(DEFAULT.dtype)  # stored: the fraction is reproducible from the file
            benchmark.extra_info.update(peak_flops=peak, roofline_fraction=rate * flops / peak)
    assert metrics.final_gap.shape == (runs,)
    assert not np.any(metrics.reached & metrics.diverged[:, None])


def _headline(benchmark) -> Workload:
    if benchmark.disabled:
        return Workload(runs=64, steps=50, unroll=1)
    # As a suite's loop = "auto": the step loop as one kernel on a single GPU (bench.core.fused).
    loop = "fused" if jax.default_backend() == "gpu" and len(jax.devices()) == 1 else "scan"
    return Workload(runs=4096, steps=2000, loop=loop)


def test_headline_engine_vs_baselines(benchmark):
    """Beale, SGD+Nesterov, 4,096 configs x 2,000 steps, float32, metrics in the carry."""
    work = _headline(benchmark)
    problem = work.problem()
    batch = work.batch()
    executable, arguments, compile_seconds, devices = compile_sharded(problem, batch)
    benchmark.group = "headline"
    out = benchmark(lambda: jax.block_until_ready(executable(*arguments)))
    metrics = to_metrics(out, work.steps)
    loop = python_loop_rate(work, configs=2, steps=50 if benchmark.disabled else 300)
    scan = per_config_scan_rate(work, configs=4 if benchmark.disabled else 32)
    flops = step_flops(problem, batch)
    benchmark.extra_info.update(
        landscape=work.landscape, label=f"{work.family}/{work.schedule}", runs=work.runs,
        devices=devices, unroll=work.unroll, loop=work.loop,
        steps=work.steps, compile_seconds=compile_seconds, flops_per_step=flops,
        success_rate=float(metrics.reached[:, 5].mean()),
        python_loop_steps_per_second=loop["steps_per_second"],
        per_config_scan_steps_per_second=scan["steps_per_second"])
    if benchmark.stats:
        rate = work.runs * work.steps / benchmark.stats.stats.median
        peak = peak_flops(work.dtype)
        benchmark.extra_info.update(
            steps_per_second=rate, peak_flops=peak,
            roofline_fraction=rate * flops / peak if flops else None,
            speedup_vs_python_loop=rate / loop["steps_per_second"],
            speedup_vs_per_config_scan=rate / scan["steps_per_second"])
    assert loop["steps_per_second"] > 0 and scan["steps_per_second"] > 0
    assert metrics.reached.shape == (work.runs, 8)


def test_headline_coco51_targets(benchmark):
    """The headline with COCO's 51 targets against the same with 8, same process: the two programs
    timed in alternation, 21 pairs; ``extra_info`` holds the medians and the median of the pairs'
    ratios (a pair's two calls see the same load on a shared machine)."""
    work = _headline(benchmark)
    compiled = {}
    for name, targets in (("8", work.targets), ("51", COCO51_TARGETS)):
        variant = dataclasses.replace(work, targets=targets)
        executable, arguments, _, _ = compile_sharded(variant.problem(), variant.batch())
        compiled[name] = (executable, arguments)
    times: dict[str, list[float]] = {"8": [], "51": []}
    for _ in range(1 if benchmark.disabled else 21):
        for name, (executable, arguments) in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(executable(*arguments))
            times[name].append(time.perf_counter() - start)
    executable, arguments = compiled["51"]
    benchmark.group = "headline"
    out = benchmark(lambda: jax.block_until_ready(executable(*arguments)))
    medians = {name: float(np.median(t)) for name, t in times.items()}
    benchmark.extra_info.update(
        targets=51, runs=work.runs, steps=work.steps, median_seconds_8_targets=medians["8"],
        median_seconds_51_targets=medians["51"], slowdown_51_vs_8=medians["51"] / medians["8"],
        median_pair_slowdown_51_vs_8=float(np.median(np.divide(times["51"], times["8"]))))
    assert to_metrics(out, work.steps).reached.shape == (work.runs, 51)


def test_host_time_per_run_of_the_user_path(benchmark):
    """The CPU proxy of 'the GPU's speed reaches the user': host time per run of run_batch on a
    described sweep (inputs expanded on the device), as main-thread CPU time and as the wall time
    it adds to the executable alone, at 1,048,576 runs of a 1-step program (small and untimed by
    default)."""
    from bench.tools.throughput import host_time_per_run

    runs = 4096 if benchmark.disabled else 1 << 20
    found = benchmark.pedantic(lambda: host_time_per_run(runs, repeats=1 if benchmark.disabled else 3),
                               rounds=1, iterations=1)
    benchmark.group = "host path"
    benchmark.extra_info.update(found)
    assert found["run_batch_ns_per_run"] > 0 and found["executable_ns_per_run"] > 0
    assert found["inputs"] == "device" and found["host_thread_ns_per_run"] > 0
