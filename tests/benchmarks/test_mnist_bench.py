"""pytest-benchmark: MNIST MLP training, vmapped configs vs a sequential loop of single-config programs.

Run with ``pytest tests/benchmarks/test_mnist_bench.py --benchmark-enable``. Programs are AOT-compiled
outside the timed callable (compile time in ``extra_info``); the callable blocks until ready.
The accuracy floor of a default search is checked by ``python -m bench.tools.mnist_measure accuracy``
(about a minute on 2 cores), figures in docs/mnist.md.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest

from bench.mnist.data import load_subset
from bench.mnist.model import MLPSpec
from bench.mnist.train import TrainOptions, compile_runs, prepare_runs

N_CONFIGS = 8
SPEC = MLPSpec.from_hidden((128, 128))
OPTIONS = TrainOptions(epochs=2, batch_size=64)
RATES = np.geomspace(0.01, 0.2, N_CONFIGS)


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    data = load_subset()
    return data.x_train[:2000], data.y_train[:2000]


def _batch(mnist, rates):
    x, y = mnist
    return prepare_runs(SPEC, "nesterov", "time_based", OPTIONS, {"learning_rate": rates, "momentum": 0.9}, x, y,
                        initializers=["glorot_uniform"] * len(rates), seeds=[0] * len(rates))


def _compiled(batch):
    start = time.perf_counter()
    program = compile_runs(batch)
    return program, time.perf_counter() - start


def test_vmapped_configs(benchmark, mnist) -> None:
    batch = _batch(mnist, RATES)
    program, compile_time = _compiled(batch)
    result = benchmark(lambda: jax.block_until_ready(program(*batch.arrays)))
    benchmark.extra_info.update(compile_s=compile_time, n_configs=N_CONFIGS,
                                final_train_accuracy=np.asarray(result.history["accuracy"][:, -1]).tolist())


def test_sequential_single_configs(benchmark, mnist) -> None:
    singles = [_batch(mnist, RATES[i:i + 1]) for i in range(N_CONFIGS)]
    program, compile_time = _compiled(singles[0])
    benchmark(lambda: [jax.block_until_ready(program(*b.arrays)) for b in singles])
    benchmark.extra_info.update(compile_s=compile_time, n_configs=N_CONFIGS)
