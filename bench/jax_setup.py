"""Process-wide JAX settings the suite relies on: float64 available, persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    """A user-level cache directory (``$LANDSCAPE_BENCH_CACHE`` or ``$XDG_CACHE_HOME/landscape-bench``)."""
    env = os.environ.get("LANDSCAPE_BENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "landscape-bench" / "jax"


def configure_jax(cache_dir: str | os.PathLike | None = None, *, enable_cache: bool = True) -> None:
    """Enable float64 (runs still choose their dtype explicitly) and the persistent compilation cache.

    Called by the command line and the test suite, never at import time.
    """
    jax.config.update("jax_enable_x64", True)
    if enable_cache and os.environ.get("LANDSCAPE_BENCH_NO_CACHE") != "1":
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # an unwritable cache only costs compile time; never fail a run for it
        jax.config.update("jax_compilation_cache_dir", str(path))
        # Small programs compile in well under the 1 s default threshold; cache them too.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
