"""Spreading the runs axis over devices with JAX's own sharding (no home-made scheduler).

Every run is independent, so sharding the leading (runs) axis of every input over a 1-D mesh lets XLA
partition the whole sweep with no communication. Several hosts: call ``jax.distributed.initialize()``
first (see README), after which ``jax.devices()`` lists every host's devices and the same code runs.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def runs_sharding(devices=None) -> NamedSharding | None:
    """A sharding of the leading axis over ``devices`` (default: all); None for a single device."""
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) < 2:
        return None
    mesh = Mesh(np.array(devices), ("runs",))
    return NamedSharding(mesh, PartitionSpec("runs"))
