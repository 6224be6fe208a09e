"""A sweep's per-run inputs as a compact description, expanded inside the compiled program.

A job's runs are every config x every (seed, start): run ``r`` has config row
``configs[r // per_config]`` of the ``hparams`` table and row ``r % per_config`` of the ``x0`` and
``key`` tables. Only the tables travel to the device (C configs + S starts, not C x S rows), once
per job; each call of the program gets its first run and run count as scalars and builds its rows'
inputs on the device by gathers, which copy values and so give every run the very numbers the
per-run arrays would (tests/test_identity.py). A batch of explicit per-run arrays (``make_batch``)
is the same description with one table row per run (``per_run``): its arrays travel whole, once,
and are reported as ``inputs = "host"``.

Tables are padded to power-of-two lengths (at least ``MIN_TABLE_ROWS``), so jobs of a problem with
a few hundred configs and starts, their test phase and a lone rerun share one program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MIN_TABLE_ROWS = 256
# ``per_config`` of a description with one table row per run: ``r % PER_RUN_ROWS`` is ``r``.
PER_RUN_ROWS = 2**31 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class Runs:
    """The per-run inputs of a sweep, described (see the module docstring).

    Attributes:
      hparams: name -> (C,) config table.
      x0: (S, dim) start points; key: (S, 2) uint32 noise keys.
      configs: (N,) rows of the config table, in run order (a resumed job runs a subset).
      per_config: runs per config (S); ``PER_RUN_ROWS`` when every table has a row per run.
      inputs: "device" (expanded on the device from the tables) or "host" (per-run arrays made
        on the host and copied whole), as the record's ``cost.inputs`` says.
      min_rows: the fewest rows the config tables are padded to (then to a power of two), so
        that the blocks of one job have the same shapes, the last one too.
    """

    hparams: Mapping[str, np.ndarray]
    x0: np.ndarray
    key: np.ndarray
    configs: np.ndarray
    per_config: int
    inputs: str = "device"
    min_rows: int = MIN_TABLE_ROWS

    @property
    def runs(self) -> int:
        return len(self.x0) if self.per_config == PER_RUN_ROWS else len(self.configs) * self.per_config

    def first(self) -> dict[str, Any]:
        """Run 0's per-run inputs, one row each (what ``check_fused`` and ``step_flops`` read)."""
        row = int(self.configs[0])
        return dict(hparams={k: v[row:row + 1] for k, v in self.hparams.items()}, x0=self.x0[:1],
                    key=self.key[:1])

    def tables(self) -> dict[str, Any]:
        """The tables as the program takes them: padded to power-of-two lengths, configs int32."""
        def padded(table):
            return _padded(table, self.min_rows)

        return dict(hparams={k: padded(v) for k, v in self.hparams.items()},
                    x0=_padded(self.x0, MIN_TABLE_ROWS), key=_padded(self.key, MIN_TABLE_ROWS),
                    configs=padded(np.asarray(self.configs, np.int32)))


def described(problem, hparams: Mapping[str, Any], x0, *, key=None, configs=None,
              min_rows: int = MIN_TABLE_ROWS) -> Runs:
    """Every config of ``hparams`` (name -> (C,) or a scalar) x every start of ``x0`` (S, dim), with
    (S, 2) noise ``key``s, config-major; ``configs`` picks (and orders) rows of the config table."""
    dtype = np.dtype(problem.dtype)
    x0 = np.asarray(x0, dtype)
    sizes = {np.size(v) for v in hparams.values() if np.ndim(v)} or {1}
    if len(sizes) != 1:
        raise ValueError(f"every hyperparameter needs the same number of configs; got {sorted(sizes)}")
    (size,) = sizes
    table = {k: np.broadcast_to(np.asarray(v, dtype), (size,)) for k, v in hparams.items()}
    key = np.zeros((len(x0), 2), np.uint32) if key is None else np.asarray(key, np.uint32)
    configs = np.arange(size) if configs is None else np.asarray(configs, np.int64)
    return Runs(table, x0, key, configs, len(x0), min_rows=min_rows)


def per_run(batch: Mapping[str, Any]) -> Runs:
    """A batch of per-run arrays (``make_batch``) as a description with a table row per run."""
    runs = len(batch["x0"])
    return Runs(dict(batch["hparams"]), np.asarray(batch["x0"]), np.asarray(batch["key"]),
                np.arange(runs), PER_RUN_ROWS, inputs="host")


def _padded(table: np.ndarray, min_rows: int) -> np.ndarray:
    rows = 1 << (max(len(table), min_rows, MIN_TABLE_ROWS) - 1).bit_length()
    if rows == len(table):
        return np.ascontiguousarray(table)
    out = np.empty((rows, *table.shape[1:]), table.dtype)
    out[:len(table)] = table
    out[len(table):] = table[:1]  # any valid row: padding rows are never read for a real run
    return out


# ``stride`` and ``per_instance`` of a call whose runs are all of one instance.
ONE_INSTANCE = 2**30


def plan(first: int, count: int, runs: Runs, blocks: int, stride: int = ONE_INSTANCE,
         per_instance: int = ONE_INSTANCE) -> np.ndarray:
    """The scalars of one call: its first run, how many runs it holds, the description's
    ``per_config`` (the modulus of the start row, and the divisor of the config row unless every
    table has a row per run), the blocks to run (``bench.core.engine._blocked``), and where
    several instances share the call, the runs each instance spans (``stride``, whole blocks) and
    the runs it holds (``per_instance``): run ``r`` is then run ``r % stride`` of instance
    ``r // stride``, a padding run where ``r % stride >= per_instance``."""
    divisor = 1 if runs.per_config == PER_RUN_ROWS else runs.per_config
    return np.array([first, count, divisor, runs.per_config, blocks, stride, per_instance], np.int32)


def expand(tables: Mapping[str, Any], plan: jax.Array, positions: np.ndarray) -> dict[str, Any]:
    """Inside the program: the per-run inputs of a call's rows. ``positions[i]`` is the place of
    row ``i`` among the call's runs (-1 for a padding row, see ``bench.core.engine._real_rows``);
    padding rows, rows past the call's ``count`` and padding runs between instances repeat a
    run of the description (the call's first, or the instance's first)."""
    first, count, divisor, modulus = plan[0], plan[1], plan[2], plan[3]
    stride, per_instance = plan[5], plan[6]
    position = jnp.asarray(positions, jnp.int32)
    position = jnp.where((position >= 0) & (position < count), position, 0)
    run = (first + position) % stride
    run = jnp.where(run < per_instance, run, 0)
    config = jnp.take(tables["configs"], run // divisor, axis=0)
    start = run % modulus
    return dict(hparams={k: jnp.take(v, config, axis=0) for k, v in tables["hparams"].items()},
                x0=jnp.take(tables["x0"], start, axis=0), key=jnp.take(tables["key"], start, axis=0))
