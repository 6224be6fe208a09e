"""One prepared GPU check: correctness on the device, then the throughput figures of issue 5 and 7.

    python -m bench.tools.gpu_check --out DIR [--quick]

Writes DIR/gpu_check.json (and prints it). Measures, on whatever accelerator JAX sees:
  * the engine on Beale, SGD + Nesterov, 2,000 steps, float32, metrics in the carry, at 4,096 and
    1,048,576 runs, for several scan unroll factors and, with the step loop as one kernel
    (``loop="fused"``, ``bench.core.fused``), several block sizes (compile time and median steps/s);
  * how many runs of the fused loop end as the scan's do, on the same device;
  * the engine against both same-run baselines (Python loop, one scan per config) at 4,096 runs;
  * the MNIST MLP (784-512-512-10, 4,000 images, 20 epochs, batch 64 and 128): 128 and 256 configs
    vmapped vs a sequential loop of the single-config program, per config;
    with ``--mnist-profile``, the device time per XLA operation of one vmapped call (``bench.tools.profiling``);
  * a CPU-vs-device agreement check of one small sweep (float64), so the figures come from a
    program that computes the same thing as on the CPU;
  * the default suite's sweeps with ``loop = "scan"`` and ``loop = "auto"``: time and agreement;
  * with ``--variants``, the 4,096-run engine figure again under each of ``XLA_FLAG_VARIANTS``
    (one subprocess each: XLA reads its flags once per process, and aborts the process on a flag
    its version does not know, which is then recorded instead of losing the other figures).
Nothing here is estimated: a figure that could not be measured is recorded as an error string.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import jax
import numpy as np

from bench.core.jax_setup import configure_jax


def _guard(name: str, fn, results: dict[str, Any]) -> None:
    began = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as error:  # record and go on: one failed figure must not lose the others
        results[name] = {"error": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc()[-2000:]}
    print(f"[gpu_check] {name} done in {time.perf_counter() - began:.1f} s", flush=True)
    partial = results.get("_out")
    if partial is not None:  # what is measured so far, in case a time limit stops the rest
        Path(partial).mkdir(parents=True, exist_ok=True)
        (Path(partial) / "gpu_check.partial.json").write_text(
            json.dumps({k: v for k, v in results.items() if k != "_out"}, indent=1, default=str))


def agreement() -> dict[str, Any]:
    """The same small float64 sweep on the accelerator and on the CPU must agree to rounding."""
    import landscapes
    from bench.core.engine import run_batch
    from bench.core.step import Problem, make_batch
    from bench.run.runner import OptimizerBuilder

    landscape = landscapes.get_landscape("himmelblau")
    problem = Problem(landscape, OptimizerBuilder("nesterov", "time_based"), 300, dtype="float64")
    runs = 64
    rng = np.random.default_rng(0)
    hp = dict(learning_rate=np.geomspace(1e-4, 1e-2, runs), momentum=np.full(runs, 0.9),
              decay=np.full(runs, 1e-3), warmup_steps=np.zeros(runs))
    batch = make_batch(problem, hp, rng.uniform(-5, 5, (runs, 2)), 0.0, landscape.minimizer_array())
    on_device, _ = run_batch(problem, batch)
    with jax.default_device(jax.devices("cpu")[0]):
        on_cpu, _ = run_batch(problem, jax.device_put(batch, jax.devices("cpu")[0]))
    return dict(max_abs_diff_final_x=float(np.nanmax(np.abs(on_device.final_x - on_cpu.final_x))),
                same_steps_to_target=bool(np.array_equal(on_device.steps_to_target,
                                                         on_cpu.steps_to_target)),
                same_status=bool(np.array_equal(on_device.status, on_cpu.status)))


# XLA flag sets tried by ``--mnist-variants`` on the 128-config MNIST measurement, whose cost per
# config sat just above issue 7's floor on an H100 (docs/performance.md) with every GEMM as XLA chose it: cuBLAS for
# every GEMM instead of XLA's Triton GEMMs, and cuBLASLt (which can fuse a bias and activation
# into the GEMM's epilogue, one pass less over the activations).
MNIST_FLAG_VARIANTS: dict[str, str] = {
    "no_triton_gemm": "--xla_gpu_enable_triton_gemm=false",
    "cublaslt": "--xla_gpu_enable_cublaslt=true",
}

# XLA flag sets tried by ``--variants`` on the 4,096-run sweep. At 4,096 runs an H100 holds about one
# warp of runs per SM, so each scan iteration is short; whether the while loop's own cost (a kernel
# launch and a device-to-host copy of the loop predicate per iteration) or the step's dependent
# latency bounds it has not been measured. Command buffers with WHILE and CONDITIONAL run the loop
# as a CUDA graph with device-side conditional nodes, without the host round trip: if the figure
# moves, the loop's cost was a real share.
XLA_FLAG_VARIANTS: dict[str, str] = {
    "command_buffer_while": "--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL"
                            " --xla_gpu_graph_min_graph_size=1",
}


def engine_scaling(quick: bool, unrolls: list[int] | None = None, sizes: list[int] | None = None,
                   blocks: list[int] | None = None) -> list[dict[str, Any]]:
    """The headline sweep at each size: the scan at each unroll, then the fused loop at each block
    (``blocks`` empty: the scan only)."""
    from bench.tools.throughput import Workload, sweep_rate

    rows = []
    sizes = sizes or ([256, 4096] if quick else [4096, 1 << 20])
    unrolls = unrolls or ([1, 2] if quick else [8, 16, 32, 64])
    blocks = [32] if blocks is None and quick else [32, 64, 128] if blocks is None else blocks
    for runs in sizes:
        works = [Workload(runs=runs, steps=2000, unroll=u) for u in unrolls]
        works += [Workload(runs=runs, steps=2000, loop="fused", block=b) for b in blocks]
        for work in works:
            row = sweep_rate(work, repeats=5)
            rows.append(row)
            knob = f"unroll {work.unroll}" if work.loop == "scan" else f"fused, block {work.block}"
            print(f"[gpu_check] runs {runs} {knob}: {row['steps_per_second'] / 1e9:.2f} G steps/s"
                  f" (compile {row['compile_seconds']:.1f} s)", flush=True)
    return rows


def fused_agreement(runs: int = 4096) -> dict[str, Any]:
    """The fused loop against the scan on the headline workload, both on this device: how many runs
    end alike. Rounding may differ (Triton and XLA contract multiply-adds differently), and on a
    chaotic path a last-bit difference can grow, so this counts rather than asserts."""
    from bench.core.engine import run_batch
    from bench.tools.throughput import Workload

    scan_work = Workload(runs=runs, steps=2000, unroll=8)
    fused_work = Workload(runs=runs, steps=2000, loop="fused")
    batch = scan_work.batch()
    scan, _ = run_batch(scan_work.problem(), batch)
    fused, _ = run_batch(fused_work.problem(), batch)
    both = ~scan.diverged & ~fused.diverged
    scale = np.maximum(1.0, np.abs(scan.final_x[both]))
    return dict(
        runs=runs,
        same_status=float(np.mean(scan.status == fused.status)),
        same_steps_to_target=float(np.mean(np.all(scan.steps_to_target == fused.steps_to_target,
                                                  axis=1))),
        same_reached=float(np.mean(np.all(scan.reached == fused.reached, axis=1))),
        max_relative_diff_final_x=float(np.max(np.abs(scan.final_x[both] - fused.final_x[both])
                                               / scale)) if both.any() else None,
        median_relative_diff_final_x=float(np.median(np.abs(scan.final_x[both] - fused.final_x[both])
                                                     / scale)) if both.any() else None,
        success_rate_scan=float(scan.reached[:, 5].mean()),
        success_rate_fused=float(fused.reached[:, 5].mean()),
        diverged_scan=float(scan.diverged.mean()), diverged_fused=float(fused.diverged.mean()))


def suite_parity(quick: bool, out: Path) -> dict[str, Any]:
    """The default suite's sweeps (``quick``: the quick suite's), without its MNIST section and scipy
    references, run with ``loop = "scan"`` and with ``loop = "auto"`` (fused where a job can be):
    wall time of each, and how many records' runs end alike, matched by phase, landscape,
    instance, optimizer entry and config."""
    import dataclasses

    from bench.run.results import ResultsDir
    from bench.run.runner import run_suite
    from bench.run.suites import load_suite

    suite = load_suite("quick" if quick else "default")
    suite = dataclasses.replace(suite, mnist=None, references=())
    records, seconds = {}, {}
    for loop in ("scan", "auto"):
        for attempt in ("first", "second"):  # the second run's programs are compiled already
            with ResultsDir(out / f"suite_{loop}_{attempt}") as folder:
                start = time.perf_counter()
                run_suite(dataclasses.replace(suite, loop=loop), folder)
                seconds[f"{loop}_{attempt}"] = time.perf_counter() - start
        records[loop] = {(r["phase"], r["landscape"], r["instance"], r["label"], r["config_index"]): r
                         for r in folder.records()}
    same_status = same_steps = total = 0
    worst_x = worst_trajectory = 0.0
    loops: dict[str, int] = {}
    groups: dict[str, list[int]] = {}  # landscape x optimizer -> [runs, same status, same steps]
    for key, scan in records["scan"].items():
        other = records["auto"][key]
        loops[other["cost"]["loop"]] = loops.get(other["cost"]["loop"], 0) + 1
        a, b = scan["runs"], other["runs"]
        total += len(a["status"])
        status = int(np.sum(np.asarray(a["status"]) == np.asarray(b["status"])))
        steps = int(np.sum(np.all(np.asarray(a["steps_to_target"])
                                  == np.asarray(b["steps_to_target"]), axis=1)))
        same_status += status
        same_steps += steps
        group = groups.setdefault(f"{scan['landscape']} x {scan['label']}", [0, 0, 0])
        group[0] += len(a["status"])
        group[1] += status
        group[2] += steps
        ok = np.isfinite(np.asarray(a["final_x"], float)) & np.isfinite(np.asarray(b["final_x"], float))
        if ok.any():
            worst_x = max(worst_x, float(np.max(np.abs(np.asarray(a["final_x"], float)[ok]
                                                       - np.asarray(b["final_x"], float)[ok]))))
        if "trajectory" in scan:
            ta, tb = np.asarray(scan["trajectory"], float), np.asarray(other["trajectory"], float)
            fine = np.isfinite(ta) & np.isfinite(tb)
            if fine.any():
                worst_trajectory = max(worst_trajectory, float(np.max(np.abs(ta[fine] - tb[fine]))))
    return dict(suite=suite.name, records=len(records["scan"]), runs=total,
                seconds=seconds,
                records_by_loop_in_auto=loops, same_status=same_status / max(total, 1),
                same_steps_to_target=same_steps / max(total, 1),
                max_abs_diff_final_x=worst_x, max_abs_diff_trajectory=worst_trajectory,
                by_landscape_and_optimizer={k: dict(runs=g[0], same_status=g[1] / g[0],
                                                    same_steps_to_target=g[2] / g[0])
                                            for k, g in sorted(groups.items())})


def baselines(quick: bool, best: dict[str, Any]) -> dict[str, Any]:
    """Both same-run baselines against the engine in its fastest measured form at 4,096 runs."""
    from bench.tools.throughput import Workload, compare

    work = Workload(runs=4096, steps=2000, unroll=best.get("unroll", 2),
                    loop=best.get("loop", "scan"), block=best.get("block", 32))
    return compare(work, loop_configs=2, loop_steps=200 if quick else 500,
                   scan_configs=8 if quick else 32)


def mnist(quick: bool, configs: list[int] | None = None, profile: bool = False,
          batch_sizes: list[int] | None = None) -> dict[str, Any]:
    """Cost per config, vmapped and sequential. ``profile``: each row also gets the device time per
    XLA operation of one vmapped call (``ops``).

    Rows are ``found[configs][f"batch_{size}"]``. Issue 7 names no batch size: 64 is the
    suite's MNIST default and what earlier sessions timed; 128 is ``TrainOptions``' default.
    """
    from bench.tools.mnist_measure import measure_cost

    if quick:  # a smoke test
        size = dict(epochs=2, hidden=(32, 32), n_train=256, repeats=2)
        counts, batches = configs or [2], batch_sizes or [64]
    else:
        # 128 configs as the floor names them, then 256 (more configs per program amortise each
        # step's fixed costs); the sequential loop is timed on 32 configs, its cost per config.
        size = dict(epochs=20, hidden=(512, 512), n_train=4000, repeats=3, sequential_configs=32)
        counts, batches = configs or [128, 256], batch_sizes or [64, 128]
    return {str(n): {f"batch_{batch}": measure_cost(n_configs=n, profile=profile, batch_size=batch, **size)
                     for batch in batches} for n in counts}


def flag_variants(variants: dict[str, str], out: Path, unrolls: list[int], sizes: list[int],
                  quick: bool, timeout: float = 300.0, part: str = "engine") -> dict[str, Any]:
    """The engine figures (``part="mnist"``: the 128-config MNIST figure) once per XLA flag set,
    each in a fresh interpreter (see the docstring)."""
    found: dict[str, Any] = {}
    for name, flags in variants.items():
        where = out / ("variants" if part == "engine" else f"{part}_variants") / name
        if part == "engine":
            only = ["--skip", "agreement", "baselines", "mnist", "suite", "--blocks", "--unrolls",
                    *map(str, unrolls), "--sizes", *map(str, sizes)]
        else:
            only = ["--skip", "agreement", "engine", "baselines", "suite", "--mnist-configs", "128",
                    "--mnist-batch-sizes", "64"]
        command = [sys.executable, "-m", "bench.tools.gpu_check", "--out", str(where), *only] + (
            ["--quick"] if quick else [])
        env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip())
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            found[name] = dict(xla_flags=flags, error=f"timed out after {timeout:.0f} s")
            continue
        report = where / "gpu_check.json"
        if done.returncode == 0 and report.exists():
            found[name] = {"xla_flags": flags, part: json.loads(report.read_text()).get(part)}
        else:
            found[name] = dict(xla_flags=flags, error=f"exit code {done.returncode}",
                               stderr_tail=done.stderr[-1500:])
        print(f"[gpu_check] variant {name}: {'error' if 'error' in found[name] else 'done'}",
              flush=True)
    return found


def main(argv: list[str] | None = None) -> int:
    # Over 60 lines on purpose: a measurement script's options and parts, in the order they run.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test on CPU)")
    parser.add_argument("--skip", nargs="*", default=[], help="parts to skip: agreement engine"
                        " baselines mnist suite")
    parser.add_argument("--unrolls", nargs="*", type=int, default=None,
                        help="scan unroll factors of the engine scaling (default 8 16 32 64)")
    parser.add_argument("--sizes", nargs="*", type=int, default=None,
                        help="run counts of the engine scaling (default 4096 1048576)")
    parser.add_argument("--blocks", nargs="*", type=int, default=None,
                        help="runs per kernel instance of the fused loop (default 32 64 128; none:"
                        " the scan only)")
    parser.add_argument("--mnist-configs", nargs="*", type=int, default=None,
                        help="vmapped MNIST configs to measure (default 128 256)")
    parser.add_argument("--mnist-batch-sizes", nargs="*", type=int, default=None,
                        help="minibatch sizes of the MNIST measurement (default 64 128)")
    parser.add_argument("--mnist-profile", action="store_true",
                        help="also record the device time per XLA operation of one vmapped MNIST call")
    parser.add_argument("--mnist-variants", nargs="*", default=None, metavar="NAME",
                        help="also time the 128-config MNIST figure under these XLA flag sets (no"
                        f" NAME: all of {', '.join(MNIST_FLAG_VARIANTS)}), one subprocess each")
    parser.add_argument("--variants", nargs="*", default=None, metavar="NAME",
                        help="also time the 4,096-run sweep under these XLA flag sets (no NAME:"
                        f" all of {', '.join(XLA_FLAG_VARIANTS)}), one subprocess each")
    args = parser.parse_args(argv)
    for given, known in ((args.variants, XLA_FLAG_VARIANTS),
                         (args.mnist_variants, MNIST_FLAG_VARIANTS)):
        unknown = sorted(set(given or ()) - set(known))
        if unknown:  # before anything runs, so a typo costs no device time
            parser.error(f"unknown variant {', '.join(unknown)}: choose from {', '.join(known)}")
    chosen = {n: XLA_FLAG_VARIANTS[n] for n in (args.variants or XLA_FLAG_VARIANTS)}
    configure_jax(cpu_devices=1)
    results: dict[str, Any] = dict(
        date=time.strftime("%Y-%m-%d"), host=platform.node(), jax=jax.__version__,
        devices=[str(d) for d in jax.devices()], device_kind=jax.devices()[0].device_kind,
        platform=jax.devices()[0].platform, xla_flags=os.environ.get("XLA_FLAGS", ""))
    print(f"[gpu_check] devices: {results['devices']}", flush=True)
    results["_out"] = args.out
    if "agreement" not in args.skip:
        _guard("agreement", agreement, results)
        _guard("fused_agreement", lambda: fused_agreement(256 if args.quick else 4096), results)
    if "engine" not in args.skip:
        _guard("engine", lambda: engine_scaling(args.quick, args.unrolls, args.sizes, args.blocks),
               results)
    best: dict[str, Any] = {}
    rows = results.get("engine")
    if isinstance(rows, list) and rows:
        small = [r for r in rows if r["runs"] == 4096] or rows
        best = max(small, key=lambda r: r["steps_per_second"])
    if "baselines" not in args.skip:
        _guard("baselines", lambda: baselines(args.quick, best), results)
    if "mnist" not in args.skip:
        _guard("mnist", lambda: mnist(args.quick, args.mnist_configs, args.mnist_profile, args.mnist_batch_sizes),
               results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if "suite" not in args.skip:
        _guard("suite", lambda: suite_parity(args.quick, out), results)
    from bench.core.environment import peak_flops

    _guard("peak_flops", lambda: peak_flops("float32"), results)
    if args.variants is not None:
        _guard("variants", lambda: flag_variants(chosen, out, [16, 32] if not args.quick else [1],
                                                 [4096] if not args.quick else [256],
                                                 args.quick), results)
    if args.mnist_variants is not None:
        mnist_chosen = {n: MNIST_FLAG_VARIANTS[n] for n in (args.mnist_variants or MNIST_FLAG_VARIANTS)}
        _guard("mnist_variants", lambda: flag_variants(mnist_chosen, out, [], [], args.quick,
                                                       part="mnist"), results)
    results.pop("_out", None)
    text = json.dumps(results, indent=1, default=str)
    (out / "gpu_check.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
