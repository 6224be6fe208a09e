"""Test landscapes with certified global minima, and their registry (:mod:`landscapes.registry`).

``LANDSCAPES`` maps a name to its :class:`Landscape`; ``get_landscape`` looks one up with a helpful
error; ``register`` adds a user's landscape so it is certified, tested and benchmarked like the others.

The registry is imported on first use (PEP 562): the landscapes are JAX functions, and a command
that needs only this package's error type (``landscape-bench --help``, ``list suites``, ``report``)
should not pay for importing JAX.
"""

from __future__ import annotations

import importlib

from landscapes.errors import YOUR_OWN, InputError, UnknownNameError, unknown_name  # noqa: F401 (no JAX)

_FROM_REGISTRY = ("LANDSCAPES", "Landscape", "Literature", "get_landscape", "make_quadratic",
                  "register")

__all__ = ["LANDSCAPES", "InputError", "Landscape", "Literature", "UnknownNameError",
           "get_landscape", "make_quadratic", "register"]


def __getattr__(name: str):
    if name in _FROM_REGISTRY:
        value = getattr(importlib.import_module("landscapes.registry"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'landscapes' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FROM_REGISTRY))
