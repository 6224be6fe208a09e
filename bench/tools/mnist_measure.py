"""One-off measurements for docs/mnist.md: ``python -m bench.tools.mnist_measure [accuracy|cost|all]``.

(a) ``accuracy``: a default-sized grid search on the offline 5k subset, refit of the best, test accuracy.
(b) ``cost``: training cost per config of the vmapped program (C configs in one call) versus a sequential
    Python loop over the single-config program (same model, data, epochs, keys); both AOT-compiled
    outside the timing, medians of ``repeats`` runs, ratio from the same process.
Prints one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import jax
import numpy as np

from bench.core.jax_setup import configure_jax
from bench.mnist.data import load_mnist
from bench.mnist.model import MLPSpec
from bench.mnist.section import run_mnist_section
from bench.mnist.train import TrainOptions, compile_runs, prepare_runs

ACCURACY_SPEC: dict[str, Any] = {
    "family": "nesterov", "schedule": "time_based", "hidden": [128, 128], "epochs": 20, "batch_size": 64,
    "folds": 3, "search": "grid", "seed": 0,
    "space": {"learning_rate": [0.05, 0.1], "momentum": 0.9, "initializer": ["lecun_uniform", "glorot_uniform"]},
}


def measure_accuracy() -> dict[str, Any]:
    records = run_mnist_section(ACCURACY_SPEC, None)
    best = records[-1]
    return {"spec": ACCURACY_SPEC, "best_params": best["best_params"], "best_cv_score": best["best_cv_score"],
            "test_accuracy": best["test_accuracy"], "timings": best["timings"]}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_cost(n_configs: int = 8, epochs: int = 2, hidden: tuple[int, ...] = (128, 128), n_train: int = 2000,
                 repeats: int = 3, sequential_configs: int | None = None, profile: bool = False,
                 batch_size: int = 64) -> dict[str, Any]:
    """The vmapped program on ``n_configs`` configs against a loop of the single-config program,
    per config. ``sequential_configs``: time the loop on the first this many configs only (its cost
    per config does not depend on how many follow; default: all). ``profile``: also the device
    time per XLA operation of one vmapped call (:func:`bench.tools.profiling.op_times`), after the timing."""
    data = load_mnist()
    x, y = data.x_train[:n_train], data.y_train[:n_train]
    spec = MLPSpec.from_hidden(hidden)
    options = TrainOptions(epochs=epochs, batch_size=batch_size)
    rates = np.geomspace(0.01, 0.2, n_configs)

    def batch_for(lrs):
        return prepare_runs(spec, "nesterov", "time_based", options, {"learning_rate": lrs, "momentum": 0.9}, x, y,
                            initializers=["glorot_uniform"] * len(lrs), seeds=[0] * len(lrs))

    vmapped = batch_for(rates)
    n_single = n_configs if sequential_configs is None else max(1, min(sequential_configs, n_configs))
    singles = [batch_for(rates[i:i + 1]) for i in range(n_single)]
    start = time.perf_counter()
    vmapped_program = compile_runs(vmapped)
    vmapped_compile = time.perf_counter() - start
    start = time.perf_counter()
    single_program = compile_runs(singles[0])  # one compiled program serves every single config
    single_compile = time.perf_counter() - start
    jax.block_until_ready(vmapped_program(*vmapped.arrays))  # warm-up
    jax.block_until_ready(single_program(*singles[0].arrays))
    t_vmapped = _median_time(lambda: jax.block_until_ready(vmapped_program(*vmapped.arrays)), repeats)
    t_sequential = _median_time(
        lambda: [jax.block_until_ready(single_program(*b.arrays)) for b in singles], repeats)
    found: dict[str, Any] = {}
    if profile:
        from bench.tools.profiling import op_times

        found["ops"] = op_times(lambda: jax.block_until_ready(vmapped_program(*vmapped.arrays)))
    return {**found, "n_configs": n_configs, "epochs": epochs, "hidden": list(hidden), "n_train": n_train,
            "batch_size": batch_size,
            "repeats": repeats, "vmapped_s": t_vmapped, "sequential_s": t_sequential,
            "sequential_configs": n_single,
            "vmapped_per_config_s": t_vmapped / n_configs, "sequential_per_config_s": t_sequential / n_single,
            "ratio_vmapped_over_sequential": (t_vmapped / n_configs) / (t_sequential / n_single),
            "compile_s": {"vmapped": vmapped_compile, "single": single_compile}}


MODES = ("cost", "accuracy", "all")


def main(argv: list[str]) -> None:
    which = argv[0] if argv else "all"
    usage = f"usage: python -m bench.tools.mnist_measure [{'|'.join(MODES)}]"
    if which in ("-h", "--help"):
        print(usage + "\n\n" + (__doc__ or "").strip())
        return
    if which not in MODES or len(argv) > 1:
        print(f"{usage}; got {' '.join(argv)!r}", file=sys.stderr)
        raise SystemExit(2)
    configure_jax()
    out: dict[str, Any] = {"device": str(jax.devices()[0]), "jax": jax.__version__}
    if which in ("cost", "all"):
        out["cost"] = measure_cost()
    if which in ("accuracy", "all"):
        out["accuracy"] = measure_accuracy()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
