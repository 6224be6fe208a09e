"""Process-wide JAX settings the suite relies on: float64 available, persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax


def cache_root() -> Path:
    """The user-level directory of every landscape-bench cache: ``$LANDSCAPE_BENCH_CACHE``, else
    ``$XDG_CACHE_HOME/landscape-bench`` (``~/.cache/landscape-bench``). It holds JAX's persistent
    compilation cache (``xla/``), the stored programs (``programs/``, see ``bench.core.programs``) and
    the per-step FLOP counts (``step_flops.json``); deleting it costs one cold run, never a result."""
    env = os.environ.get("LANDSCAPE_BENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "landscape-bench"


def default_cache_dir() -> Path:
    """JAX's persistent compilation cache: ``cache_root() / "xla"``."""
    return cache_root() / "xla"


def cache_enabled() -> bool:
    """Whether the on-disk caches are in use (``LANDSCAPE_BENCH_NO_CACHE=1`` turns them off)."""
    return os.environ.get("LANDSCAPE_BENCH_NO_CACHE") != "1"


def default_cpu_devices() -> int:
    """How many CPU devices to expose (``$LANDSCAPE_BENCH_CPU_DEVICES``, else one per core, up to 8)."""
    env = os.environ.get("LANDSCAPE_BENCH_CPU_DEVICES")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            from landscapes.errors import InputError

            raise InputError(f"LANDSCAPE_BENCH_CPU_DEVICES must be a whole number >= 1; got {env!r}")
        return int(env)
    return max(1, min(os.cpu_count() or 1, 8))


def configure_jax(cache_dir: str | os.PathLike | None = None, *, enable_cache: bool = True,
                  cpu_devices: int | None = None) -> None:
    """Enable float64 (runs still choose their dtype explicitly), one CPU device per core and the
    persistent compilation cache.

    Several CPU devices let the runs axis be sharded so each core runs its own share of the sweep
    start to finish, faster than one device whose every small kernel is split over all cores
    (docs/performance.md). It only takes effect before JAX starts its backend,
    and never overrides an explicit ``--xla_force_host_platform_device_count``.

    Called by the command line and the test suite, never at import time.
    """
    jax.config.update("jax_enable_x64", True)
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        devices = default_cpu_devices() if cpu_devices is None else cpu_devices  # bad env: refused
        try:
            jax.config.update("jax_num_cpu_devices", devices)
        except (AttributeError, RuntimeError, ValueError):
            pass  # an older JAX, or the backend already started: keep what it has
    if enable_cache and cache_enabled():
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # an unwritable cache only costs compile time; never fail a run for it
        jax.config.update("jax_compilation_cache_dir", str(path))
        # Small programs compile in well under the 1 s default threshold; cache them too.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
