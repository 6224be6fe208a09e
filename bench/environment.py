"""What a record is stamped with: versions, device, time; and the cost figures with the roofline."""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.engine import Cost

PACKAGES = ("landscape-bench", "jax", "jaxlib", "optax", "numpy", "scipy")


@functools.cache
def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def device_description() -> dict[str, Any]:
    devices = jax.devices()
    return dict(platform=devices[0].platform, kind=devices[0].device_kind, count=len(devices))


def stamp(dtype: str) -> dict[str, Any]:
    """The provenance fields of a record. ``created`` is the only field that changes on a rerun."""
    return dict(versions=versions(), device=device_description(), created=datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"))


@functools.cache
def peak_flops(dtype: str = "float32", size: int | None = None) -> float:
    """This device's measured FLOP/s on a square matmul (median of 5): the roofline's ceiling.

    A measured ceiling rather than a datasheet number, so the roofline fraction is honest on any
    machine; on a shared CPU it varies by a few tens of percent from run to run. The matmul runs
    at full precision (``Precision.HIGHEST``): on a GPU the default would use TF32 tensor cores,
    which the sweeps' scalar arithmetic never does. Its size is 1,024 on a CPU and 8,192 elsewhere:
    on an H100 a 1,024 matmul takes about as long as its launch, and measured a ceiling (about
    10 T FLOP/s) below what the fused sweep then reached.
    """
    if size is None:
        size = 1024 if jax.default_backend() == "cpu" else 8192
    a = jnp.ones((size, size), dtype)
    matmul = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST)).lower(a).compile()
    jax.block_until_ready(matmul(a))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(matmul(a))
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / float(np.median(times))


def cost_record(cost: Cost, flops_per_step: float | None, dtype: str = "float32") -> dict[str, Any]:
    """Cost fields of a record: times, throughput, FLOPs per step and the fraction of peak."""
    record = dict(compile_seconds=cost.compile_seconds, run_seconds=cost.run_seconds,
                  runs=cost.runs, steps=cost.steps, steps_per_second=cost.steps_per_second,
                  flops_per_step=flops_per_step, peak_flops=None, roofline_fraction=None)
    if flops_per_step:
        peak = peak_flops(dtype)
        record["peak_flops"] = peak
        record["roofline_fraction"] = cost.steps_per_second * flops_per_step / peak
    return record
