"""One prepared GPU check: correctness on the device, then the throughput figures of issue 5 and 7.

    python -m bench.gpu_check --out DIR [--quick]

Writes DIR/gpu_check.json (and prints it). Measures, on whatever accelerator JAX sees:
  * the engine on Beale, SGD + Nesterov, 2,000 steps, float32, metrics in the carry, at 4,096 and
    1,048,576 runs, for several scan unroll factors (compile time and median steps/s);
  * the engine against both same-run baselines (Python loop, one scan per config) at 4,096 runs;
  * the MNIST MLP (784-512-512-10, 4,000 images, 20 epochs): 128 configs vmapped vs a sequential
    loop of the single-config program, per config;
  * a CPU-vs-device agreement check of one small sweep (float64), so the figures come from a
    program that computes the same thing as on the CPU;
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

from bench.jax_setup import configure_jax


def _guard(name: str, fn, results: dict[str, Any]) -> None:
    began = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as error:  # record and go on: one failed figure must not lose the others
        results[name] = {"error": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc()[-2000:]}
    print(f"[gpu_check] {name} done in {time.perf_counter() - began:.1f} s", flush=True)


def agreement() -> dict[str, Any]:
    """The same small float64 sweep on the accelerator and on the CPU must agree to rounding."""
    import landscapes
    from bench.engine import Problem, make_batch, run_batch
    from bench.runner import OptimizerBuilder

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


def engine_scaling(quick: bool, unrolls: list[int] | None = None,
                   sizes: list[int] | None = None) -> list[dict[str, Any]]:
    from bench.throughput import Workload, sweep_rate

    rows = []
    sizes = sizes or ([256, 4096] if quick else [4096, 1 << 20])
    unrolls = unrolls or ([1, 2] if quick else [8, 16, 32, 64])
    for runs in sizes:
        for unroll in unrolls:
            row = sweep_rate(Workload(runs=runs, steps=2000, unroll=unroll), repeats=5)
            rows.append(row)
            print(f"[gpu_check] runs {runs} unroll {unroll}: {row['steps_per_second'] / 1e9:.2f} G steps/s"
                  f" (compile {row['compile_seconds']:.1f} s)", flush=True)
    return rows


def baselines(quick: bool, unroll: int) -> dict[str, Any]:
    from bench.throughput import Workload, compare

    work = Workload(runs=4096, steps=2000, unroll=unroll)
    return compare(work, loop_configs=2, loop_steps=200 if quick else 500,
                   scan_configs=8 if quick else 32)


def mnist(quick: bool) -> dict[str, Any]:
    from bench.mnist.measure import measure_cost

    if quick:
        return measure_cost(n_configs=16, epochs=2, hidden=(128, 128), n_train=2000, repeats=2)
    return measure_cost(n_configs=128, epochs=20, hidden=(512, 512), n_train=4000, repeats=3)


def flag_variants(variants: dict[str, str], out: Path, unrolls: list[int], sizes: list[int],
                  quick: bool, timeout: float = 300.0) -> dict[str, Any]:
    """The engine figures once per XLA flag set, each in a fresh interpreter (see the docstring)."""
    found: dict[str, Any] = {}
    for name, flags in variants.items():
        where = out / "variants" / name
        command = [sys.executable, "-m", "bench.gpu_check", "--out", str(where), "--skip",
                   "agreement", "baselines", "mnist", "--unrolls", *map(str, unrolls),
                   "--sizes", *map(str, sizes)] + (["--quick"] if quick else [])
        env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip())
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            found[name] = dict(xla_flags=flags, error=f"timed out after {timeout:.0f} s")
            continue
        report = where / "gpu_check.json"
        if done.returncode == 0 and report.exists():
            found[name] = dict(xla_flags=flags, engine=json.loads(report.read_text()).get("engine"))
        else:
            found[name] = dict(xla_flags=flags, error=f"exit code {done.returncode}",
                               stderr_tail=done.stderr[-1500:])
        print(f"[gpu_check] variant {name}: {'error' if 'error' in found[name] else 'done'}",
              flush=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test on CPU)")
    parser.add_argument("--skip", nargs="*", default=[], help="parts to skip: agreement engine"
                        " baselines mnist")
    parser.add_argument("--unrolls", nargs="*", type=int, default=None,
                        help="scan unroll factors of the engine scaling (default 8 16 32 64)")
    parser.add_argument("--sizes", nargs="*", type=int, default=None,
                        help="run counts of the engine scaling (default 4096 1048576)")
    parser.add_argument("--variants", nargs="*", default=None, metavar="NAME",
                        help="also time the 4,096-run sweep under these XLA flag sets (no NAME:"
                        f" all of {', '.join(XLA_FLAG_VARIANTS)}), one subprocess each")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants or ()) - set(XLA_FLAG_VARIANTS))
    if unknown:  # before anything runs, so a typo costs no device time
        parser.error(f"unknown variant {', '.join(unknown)}: choose from"
                     f" {', '.join(XLA_FLAG_VARIANTS)}")
    chosen = {n: XLA_FLAG_VARIANTS[n] for n in (args.variants or XLA_FLAG_VARIANTS)}
    configure_jax(cpu_devices=1)
    results: dict[str, Any] = dict(
        date=time.strftime("%Y-%m-%d"), host=platform.node(), jax=jax.__version__,
        devices=[str(d) for d in jax.devices()], device_kind=jax.devices()[0].device_kind,
        platform=jax.devices()[0].platform, xla_flags=os.environ.get("XLA_FLAGS", ""))
    print(f"[gpu_check] devices: {results['devices']}", flush=True)
    if "agreement" not in args.skip:
        _guard("agreement", agreement, results)
    if "engine" not in args.skip:
        _guard("engine", lambda: engine_scaling(args.quick, args.unrolls, args.sizes), results)
    best_unroll = 2
    rows = results.get("engine")
    if isinstance(rows, list) and rows:
        small = [r for r in rows if r["runs"] == 4096] or rows
        best_unroll = max(small, key=lambda r: r["steps_per_second"])["unroll"]
    if "baselines" not in args.skip:
        _guard("baselines", lambda: baselines(args.quick, best_unroll), results)
    if "mnist" not in args.skip:
        _guard("mnist", lambda: mnist(args.quick), results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.variants is not None:
        _guard("variants", lambda: flag_variants(chosen, out, [16, 32] if not args.quick else [1],
                                                 [4096] if not args.quick else [256],
                                                 args.quick), results)
    text = json.dumps(results, indent=1, default=str)
    (out / "gpu_check.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
