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

from bench.core.cost import Cost

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


@functools.cache
def identity() -> dict[str, Any]:
    """The part of every record's identity that is the machine's and the software's: the device
    kind (numbers may differ across devices) and the package versions. A results directory holds
    one environment (``bench.run.results.ResultsDir.refuse_other_settings``)."""
    device = jax.devices()[0]
    return dict(platform=device.platform, device_kind=device.device_kind, versions=versions())


def stamp(dtype: str) -> dict[str, Any]:
    """The provenance fields of a record. ``created`` is the only field that changes on a rerun."""
    return dict(versions=versions(), device=device_description(), created=datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"))


PEAK_REPEATS = 12  # timed matmuls; the best one is the ceiling


@functools.cache
def peak_flops(dtype: str = "float32", size: int | None = None) -> float:
    """This device's matmul ceiling in FLOP/s: the roofline's denominator (see :func:`peak_measurement`)."""
    return peak_measurement(dtype, size)["peak_flops"]


def _peak_key(dtype: str, size: int) -> str:
    import os

    device = jax.devices()[0]
    return "|".join(map(str, (device.platform, device.device_kind, os.cpu_count(), len(jax.devices()),
                              dtype, size, versions()["jax"], versions()["jaxlib"])))


@functools.cache
def peak_measurement(dtype: str = "float32", size: int | None = None) -> dict[str, Any]:
    """The matmul ceiling, measured once per machine and software version and kept in the cache
    folder (``peak_flops.json``), with its spread.

    A measured ceiling rather than a datasheet number, so the roofline fraction is honest on any
    machine. The BEST of PEAK_REPEATS timed square matmuls counts, not their median: on a shared
    machine a neighbour only ever slows a matmul down, so the fastest is the closest to what the
    device can do (medians varied several-fold on the shared 2-core machine: docs/performance.md);
    cached, every record of every run on a machine shares one yardstick. The matmul runs at full
    precision (``Precision.HIGHEST``): on a GPU the default would use TF32 tensor cores, which the
    sweeps' scalar arithmetic never does. Its size is 1,024 on a CPU and 8,192 elsewhere (on a GPU
    a 1,024 matmul takes about as long as its launch).
    """
    import json

    from bench.core.jax_setup import cache_enabled, cache_root
    from bench.core.programs import write_whole

    if size is None:
        size = 1024 if jax.default_backend() == "cpu" else 8192
    key = _peak_key(dtype, size)
    path = cache_root() / "peak_flops.json" if cache_enabled() else None
    table = {}
    if path is not None:
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError):
            table = {}
        if isinstance(table.get(key), dict) and table[key].get("peak_flops", 0) > 0:
            return dict(table[key], cached=True)
    a = jnp.ones((size, size), dtype)
    matmul = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST)).lower(a).compile()
    jax.block_until_ready(matmul(a))
    rates = []
    for _ in range(PEAK_REPEATS):
        start = time.perf_counter()
        jax.block_until_ready(matmul(a))
        rates.append(2.0 * size**3 / (time.perf_counter() - start))
    rates = np.sort(rates)
    found = dict(peak_flops=float(rates[-1]), median_flops=float(np.median(rates)),
                 slowest_flops=float(rates[0]), repeats=PEAK_REPEATS, size=size, dtype=dtype,
                 measured=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    if path is not None:
        table[key] = found
        try:
            write_whole(path, json.dumps(table, sort_keys=True, indent=1).encode())
        except OSError:  # a read-only cache: measured again next time
            pass
    return dict(found, cached=False)


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
