"""Search spaces and the config batches made from them.

A space maps a hyperparameter name to a dimension (:class:`LogUniform`, :class:`Uniform`,
:class:`Choice`, :class:`Grid`) or to a fixed scalar. ``grid_configs`` and ``random_configs`` turn a
space into a *batch*: a dict of float64 arrays, all of shape (C,), ready for ``jax.vmap``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import zlib
from collections.abc import Mapping
from typing import Any, Union

import numpy as np

from landscapes.errors import InputError

Batch = dict[str, np.ndarray]
MAX_GRID_CONFIGS = 1_000_000  # a grid past this would exhaust memory before anything runs


def _number(kind: str, value: Any) -> float:
    """A value of a search space as a float, or a one-line InputError naming what it was."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{kind} takes numbers; got {value!r}")
    try:
        return float(value)
    except OverflowError:  # a Python int past float's range
        raise InputError(f"{kind}: {value!r:.40} is too large for a float") from None


def _check_bounds(kind: str, low: float, high: float, positive: bool) -> None:
    low, high = _number(kind, low), _number(kind, high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"{kind} bounds must be finite; got ({low}, {high})")
    if positive and low <= 0:
        raise InputError(f"{kind} needs low > 0; got low={low}")
    if not low <= high:
        raise InputError(f"{kind} needs low <= high; got ({low}, {high})")
    if not math.isfinite(high - low):  # numpy's uniform/linspace overflow on such a span
        raise InputError(f"{kind} bounds are too far apart (high - low overflows); got ({low}, {high})")


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """log(x) uniform on [log low, log high]; ``grid(n)`` is n log-spaced values (low > 0)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_bounds("LogUniform", self.low, self.high, positive=True)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=n)).clip(self.low, self.high)

    def grid(self, n: int) -> "Grid":
        return Grid(tuple(np.geomspace(self.low, self.high, _points(n))))


@dataclasses.dataclass(frozen=True)
class Uniform:
    """x uniform on [low, high]; ``grid(n)`` is n evenly spaced values."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_bounds("Uniform", self.low, self.high, positive=False)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=n)

    def grid(self, n: int) -> "Grid":
        return Grid(tuple(np.linspace(self.low, self.high, _points(n))))


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of a finite set of values, each equally likely; its grid is all of them."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _as_values(type(self).__name__, self.values))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=np.float64), size=n)

    def grid(self, n: int | None = None) -> "Grid":
        return Grid(self.values)


@dataclasses.dataclass(frozen=True)
class Grid(Choice):
    """An explicit list of values for grid search; a :class:`Choice` with another name, sampled the
    same way in random search."""

    def grid(self, n: int | None = None) -> "Grid":
        return self


Dimension = Union[LogUniform, Uniform, Choice, Grid]


def _points(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_GRID_CONFIGS:
        raise InputError(f"grid(n) needs a whole number of points in [1, {MAX_GRID_CONFIGS}]; got {n!r}")
    return int(n)


def _as_values(kind: str, values: Any) -> tuple[float, ...]:
    values = tuple(_number(kind, v) for v in np.atleast_1d(np.asarray(values, dtype=object)).ravel())
    if not values:
        raise InputError(f"{kind} needs at least one value")
    return values


def _grid_values(name: str, dimension: Any) -> tuple[float, ...]:
    if isinstance(dimension, (Grid, Choice)):
        return dimension.values
    if isinstance(dimension, (LogUniform, Uniform)):
        raise InputError(f"{name}: a {type(dimension).__name__} has no grid by itself;"
                         f" use {type(dimension).__name__}(...).grid(n) or Grid([...])")
    if isinstance(dimension, (list, tuple, np.ndarray)):
        return _as_values("Grid", dimension)
    return (float(dimension),)


def grid_configs(space: Mapping[str, Any]) -> Batch:
    """The full Cartesian grid of ``space``, stacked: dict of float64 arrays of shape (∏ sizes,).

    Dimensions may be ``Grid``/``Choice`` (or a list), a continuous dimension's ``.grid(n)``, or a fixed
    scalar. The last name in sorted order varies fastest (``itertools.product`` order).
    """
    names = sorted(space)
    if not names:  # nothing to search: one config of defaults
        return {}
    axes = [_grid_values(name, space[name]) for name in names]
    size = math.prod(len(axis) for axis in axes)
    if size > MAX_GRID_CONFIGS:
        raise InputError(f"the grid has {size} configs ({' x '.join(str(len(a)) for a in axes)});"
                         f" at most {MAX_GRID_CONFIGS} are allowed, use random search or fewer values")
    combos = np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(-1, len(names))
    return {name: np.ascontiguousarray(combos[:, i]) for i, name in enumerate(names)}


def _name_seed(seed: int, name: str) -> np.random.Generator:
    # One stream per dimension, keyed by its name (crc32, stable across processes), so adding a
    # dimension to a space does not change the values drawn for the others.
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def random_configs(space: Mapping[str, Any], n: int, seed: int) -> Batch:
    """``n`` configs drawn independently from ``space`` with ``seed``: dict of float64 arrays (n,).

    Continuous dimensions are sampled (LogUniform uniformly in log space), ``Grid``/``Choice`` pick one
    of their values uniformly, fixed scalars are repeated.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"the number of random configs must be a whole number >= 1; got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise InputError(f"the seed of random configs must be a whole number in [0, 2**32); got {seed!r}")
    batch: Batch = {}
    for name in sorted(space):
        dimension = space[name]
        if isinstance(dimension, (LogUniform, Uniform, Choice, Grid)):
            values = dimension.sample(_name_seed(seed, name), int(n))
        elif isinstance(dimension, (list, tuple, np.ndarray)):
            values = Grid(tuple(dimension)).sample(_name_seed(seed, name), int(n))
        else:
            values = np.full(int(n), float(dimension))
        batch[name] = np.asarray(values, dtype=np.float64)
    return batch


def batch_size(batch: Mapping[str, Any]) -> int:
    """C, the number of configs in a batch (1 for a dict of scalars)."""
    sizes = {np.shape(v)[0] if np.ndim(v) else 1 for v in batch.values()}
    if len(sizes) > 1:
        raise InputError(f"every hyperparameter in a batch needs the same number of values; got {sorted(sizes)}")
    return sizes.pop() if sizes else 1


__all__ = ["Batch", "Choice", "Dimension", "Grid", "LogUniform", "Uniform", "batch_size", "grid_configs",
           "random_configs"]
