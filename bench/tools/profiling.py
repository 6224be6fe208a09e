"""Where a compiled program spends its device time, per XLA operation, from JAX's own profiler.

``op_times(fn)`` runs ``fn`` under ``jax.profiler.trace`` and reads the trace back with
``jax.profiler.ProfileData`` (no TensorBoard or xprof needed, so it works on a machine without a
network): every event that names the XLA operation it ran (``hlo_op``) is summed by that name
(``module/op``). On a
GPU these are the kernels on the device's streams; on a CPU, XLA's thunks on the host. Used by
``bench.tools.gpu_check --mnist-profile`` to see which kernels bound the MNIST step.
"""

from __future__ import annotations

import collections
import glob
import os
import tempfile
from collections.abc import Callable
from typing import Any

import jax


def _events(lines: list[Any]):
    for line in lines:
        for event in line.events:
            stats = dict(event.stats)
            op = stats.get("hlo_op")
            if op:  # the same op name can occur in several programs: keep them apart
                yield f"{stats.get('hlo_module', '?')}/{op}", float(event.duration_ns)


def op_times(fn: Callable[[], Any], *, repeats: int = 1, top: int = 30) -> dict[str, Any]:
    """Time per XLA operation while ``fn()`` runs ``repeats`` times (``fn`` must block until done).

    Returns ``{"planes": [...], "total_ms": ..., "ops": [{"op", "ms", "calls", "share"}, ...]}``
    with the ``top`` operations by time, largest first; ``share`` is of the summed time of all
    operations (kernels that overlap on several streams are each counted in full).
    """
    from jax.profiler import ProfileData

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for _ in range(repeats):
                fn()
        paths = sorted(glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True))
        if not paths:
            raise RuntimeError("jax.profiler.trace wrote no .xplane.pb file")
        data = ProfileData.from_file(paths[-1])
    planes = [p for p in data.planes if p.name.startswith("/device:")]
    if not planes:  # a CPU: the host plane holds XLA's thunks
        planes = [p for p in data.planes if p.name == "/host:CPU"]
    time_ns: dict[str, float] = collections.defaultdict(float)
    calls: dict[str, int] = collections.defaultdict(int)
    for plane in planes:
        lines = list(plane.lines)
        # A GPU plane may also carry summary lines ("XLA Ops", "XLA Modules") over the same time as
        # its stream lines: count the streams only where there are any.
        streams = [line for line in lines if line.name.startswith("Stream")]
        for op, duration in _events(streams or lines):
            time_ns[op] += duration
            calls[op] += 1
    total = sum(time_ns.values())
    ranked = sorted(time_ns, key=time_ns.get, reverse=True)[:top]
    return {"planes": [p.name for p in planes], "total_ms": total / 1e6,
            "ops": [{"op": op, "ms": time_ns[op] / 1e6, "calls": calls[op],
                     "share": time_ns[op] / total if total else 0.0} for op in ranked]}
