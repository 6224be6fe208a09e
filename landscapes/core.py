"""The Landscape record: a test function, its certified minima and where it comes from."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from landscapes.errors import InputError

# formula(x, xp) -> scalar, written once for both array modules (xp is jax.numpy or numpy), so the
# JAX runs and the scipy ground truth evaluate the very same expression.
Formula = Callable[[Any, Any], Any]
# data_formula(x, data, xp) -> scalar: a formula whose instance-dependent quantities are arrays in
# ``data`` (see ``Landscape.instance_data``), so one traced program serves every instance.
DataFormula = Callable[[Any, Any, Any], Any]
# instance_data(instance, dim) -> (data, minimizers (k, dim), f_star): a landscape's own instances.
InstanceData = Callable[[int, int], tuple[dict[str, np.ndarray], np.ndarray, float]]
# instance_shapes(dim) -> (data's shapes by key, minimizers' shape): the same without building it.
InstanceShapes = Callable[[int], tuple[dict[str, tuple[int, ...]], tuple[int, ...]]]
Box = tuple[tuple[float, float], ...]
# Instances carry a dim x dim matrix per instance (800 MB at 10,000): past this a run cannot fit.
MAX_DIM = 10_000
# |f(x*) - f*| at every stored minimizer, relative to max(1, |f*|): what registration, the
# certification and the generated tests hold every landscape to.
VALUE_TOLERANCE = 1e-10
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def safe_sqrt(q, xp):
    """sqrt(q) for q >= 0 with a finite gradient at q = 0 (zero there), in either array module.

    Flooring at the dtype's smallest normal number changes no value visibly but keeps jax.grad of a
    norm (Ackley, cross-in-tray at the origin) or of Bukin's kink from returning NaN, which a run
    would otherwise report as diverged.
    """
    return xp.sqrt(xp.maximum(q, xp.finfo(q.dtype).tiny))


def _over_coordinates(name: str):
    """numpy's reduction ``name``, over axis 0 (the coordinates) unless told otherwise."""
    reduce = getattr(np, name)
    return staticmethod(lambda a, axis=0, **kwargs: reduce(a, axis=axis, **kwargs))


class _ColumnNumpy:
    """numpy for a formula evaluated on many points at once: ``x`` is (dim, N), one column per point.

    The formulas (``Landscape.formula(x, xp)``) are written for one point, a 1-D ``x``; indexing
    (``x[0]``, ``x[1:]``), ``x.shape[0]`` and elementwise operations carry over to columns unchanged,
    but a reduction without an axis (``xp.sum(x**2)``) would sum over every point, and an index
    vector (``xp.arange(1, d + 1)``) must broadcast against the rows. Here reductions default to the
    coordinate axis 0 and ``arange`` returns a column; everything else is numpy's.
    """

    def __getattr__(self, name: str):
        return getattr(np, name)

    sum = _over_coordinates("sum")
    prod = _over_coordinates("prod")
    mean = _over_coordinates("mean")
    max = _over_coordinates("max")
    min = _over_coordinates("min")

    @staticmethod
    def arange(*args, **kwargs):
        return np.arange(*args, **kwargs)[:, None]


COLUMN_NUMPY = _ColumnNumpy()


def formula_on_points(land, points: np.ndarray) -> np.ndarray:
    """``land.formula`` on every row of ``points`` (N, dim) in one numpy evaluation, float64 (N,).

    The columns are a transposed view of the rows, so a reduction over the coordinates runs over
    contiguous memory as the one-point evaluation does (the same summation order). Values agree with
    the one-point ``np_fn`` to the last bit or two (numpy's vectorised sin/cos/pow kernels round
    differently from its scalar ones by up to an ulp or so).
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    with np.errstate(all="ignore"):
        values = land.formula(points.T, COLUMN_NUMPY)
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (len(points),))


def rounding_spread(function: Callable[[np.ndarray], Any], points: np.ndarray,
                    relative: float) -> np.ndarray:
    """How far ``function`` (points (N, dim) -> (N,) or (N, dim)) moves when every coordinate of
    each point moves by ``relative`` of itself (random signs, 4 fixed draws), in float64.

    The noise floor that rounding one input alone puts under a value or gradient: about 1e-16 of the
    value for smooth landscapes, far more where f oscillates at high frequency (BBOB's Weierstrass
    f16, or F8F2 f19's cos of values near 1e6). Two correct evaluations that round differently (XLA
    and numpy, batched and single, float32 and float64) disagree by about as much, so tests compare
    them to within it.
    """
    points = np.asarray(points, dtype=np.float64)
    base = np.asarray(function(points), dtype=np.float64)
    rng = np.random.default_rng(0)
    spread = np.zeros_like(base)
    with np.errstate(all="ignore"):
        for _ in range(4):
            moved = points * (1.0 + relative * rng.choice([-1.0, 1.0], size=points.shape))
            spread = np.maximum(spread, np.abs(np.asarray(function(moved), dtype=np.float64) - base))
    return spread


@dataclasses.dataclass(frozen=True)
class Literature:
    """A published minimum, kept beside the float64-refined one so a test can compare them.

    Attributes:
      x: the published minimizer (one of them), as printed.
      f: the published minimum value, as printed.
      digits: the number of decimals the publication gives; the refined value must agree to these.
    """

    x: tuple[float, ...]
    f: float
    digits: int


@dataclasses.dataclass(frozen=True)
class Landscape:
    """A test function with every known global minimizer stored as data.

    Attributes:
      name: registry key, lower_snake_case.
      formula: ``formula(x, xp)`` for a 1-D array ``x`` of length ``dim``; ``xp`` is jnp or np.
      dim: the fixed dimension, or None for a function defined in any dimension N >= 2.
      bounds: the search box: one (low, high) pair per coordinate for a fixed dimension, or a single
        pair used in every coordinate for an N-D function, or a function of the dimension returning
        either (for boxes that grow with the dimension, like Trid's [-d^2, d^2]).
      minimizers: every global minimizer; a tuple of points for a fixed dimension, or a function of
        the dimension returning a (k, dim) array for an N-D function.
      f_star: the global minimum value, or a function of the dimension.
      source: the citation.
      start_region: the box random starts are drawn from; defaults to ``bounds``.
      stationary: False where the gradient does not vanish at a minimizer (a kink, or a minimizer on
        the boundary of the box); the certification then skips the gradient check.
      literature: the published minimum where we store a value refined to float64.
      noise_scale: standard deviation of the Gaussian noise added to every gradient (0 = exact).
        Metrics always use the exact function.
      default_dim: the dimension used when none is given for an N-D function.
      shiftable, rotatable, conditionable: which instance transforms (see ``landscapes.instances``)
        keep the global minimum f* and every minimizer inside the box. Set one False where the
        transform would expose values below f* (a minimum on the box edge like Eggholder's, or a
        function unbounded below outside the box like McCormick or Hölder table), or where it would
        defeat the point of the landscape (conditioning a quadratic changes its condition number).
      bounded_domain: True where f* is the minimum over the box only and the function goes lower
        outside it (Eggholder, Hölder table, McCormick, Michalewicz): the engine then counts a
        point outside the box as reaching no target, so a run that escapes cannot "succeed".
      instance_data: where the landscape defines its own instances (COCO's BBOB functions), a
        function (instance >= 1, dim) -> (data, minimizers (k, dim), f_star) used instead of this
        project's shift/rotation transform (``landscapes.instances``); ``data`` is a dict of float
        arrays whose shapes depend on the dimension only.
      data_formula: with ``instance_data``, ``data_formula(x, data, xp)``: f of that instance. The
        engine passes ``data`` as arrays, so one compiled program serves every instance.
      instance_shapes: with ``instance_data``, ``instance_shapes(dim) -> (shapes, minimizers_shape)``:
        the shapes of ``data``'s arrays by key and of the minimizers, known without building them
        (the memory planner reads sizes from it; without it, it builds the first instance's data).
        A one-line InputError for a dim the data cannot be built at; a suite is refused when read.
    """

    name: str
    formula: Formula
    dim: int | None
    bounds: Box | tuple[float, float] | Callable[[int], Box | tuple[float, float]]
    minimizers: tuple[tuple[float, ...], ...] | Callable[[int], np.ndarray]
    f_star: float | Callable[[int], float]
    source: str
    start_region: Box | tuple[float, float] | None = None
    stationary: bool = True
    literature: Literature | None = None
    noise_scale: float = 0.0
    default_dim: int = 2
    shiftable: bool = True
    rotatable: bool = True
    conditionable: bool = True
    bounded_domain: bool = False
    instance_data: InstanceData | None = None
    data_formula: DataFormula | None = None
    instance_shapes: InstanceShapes | None = None

    def resolve_dim(self, dim: int | None = None) -> int:
        """The dimension to use; raises InputError when ``dim`` does not fit this landscape."""
        if self.dim is not None:
            if dim is not None and dim != self.dim:
                raise InputError(
                    f"landscape {self.name!r} is {self.dim}-dimensional; got dim={dim!r}"
                    f" (leave dim out or use {self.dim})")
            return self.dim
        dim = self.default_dim if dim is None else dim
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not 2 <= dim <= MAX_DIM:
            raise InputError(f"landscape {self.name!r} needs an integer dim >= 2 and <= {MAX_DIM}; got {dim!r}")
        return int(dim)

    def fn(self, x):
        """f(x) with jax.numpy; jit-, vmap- and grad-able."""
        return self.formula(x, jnp)

    def np_fn(self, x):
        """f(x) with numpy in float64, for scipy."""
        return self.formula(np.asarray(x, dtype=np.float64), np)

    def box(self, dim: int | None = None) -> np.ndarray:
        """The search box as a (dim, 2) array of (low, high)."""
        dim = self.resolve_dim(dim)
        return _as_box(self.bounds(dim) if callable(self.bounds) else self.bounds, dim)

    def start_box(self, dim: int | None = None) -> np.ndarray:
        """The box default starts are drawn from, as a (dim, 2) array."""
        if self.start_region is None:
            return self.box(dim)
        return _as_box(self.start_region, self.resolve_dim(dim))

    def minimizer_array(self, dim: int | None = None) -> np.ndarray:
        """Every global minimizer as a (k, dim) float64 array."""
        dim = self.resolve_dim(dim)
        points = self.minimizers(dim) if callable(self.minimizers) else self.minimizers
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return points

    def minimum(self, dim: int | None = None) -> float:
        """The global minimum value f*."""
        dim = self.resolve_dim(dim)
        return float(self.f_star(dim) if callable(self.f_star) else self.f_star)

    def minimizer_errors(self, dim: int | None = None) -> tuple[float, float]:
        """(how far the farthest minimizer lies outside the box, max |f(x*) - f*| / max(1, |f*|))
        over every stored minimizer, in numpy float64."""
        box, points, f_star = self.box(dim), self.minimizer_array(dim), self.minimum(dim)
        outside = float(np.max(np.maximum(box[:, 0] - points, points - box[:, 1]).clip(0.0)))
        value_error = max(abs(float(self.np_fn(x)) - f_star) for x in points) / max(1.0, abs(f_star))
        return outside, value_error

    def check(self, dim: int | None = None) -> None:
        """The record's own consistency, cheaply (numpy, at the default dimension): a lower_snake_case
        name, minimizers of the right length inside the box, and f(x*) == f* at every one of them.
        Raises a one-line InputError saying what to fix. ``landscapes.register`` runs it, so a wrong
        f* cannot give negative gaps and false successes; the certification against scipy
        (``landscapes.ground_truth.certify``) is the full check."""
        where = f"landscape {self.name!r}"
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            fixed = re.sub(r"[^a-z0-9_]+", "_", str(self.name).lower()).strip("_") or "my_landscape"
            raise InputError(f"{where}: the name must be lower_snake_case (e.g. {fixed!r})")
        if (self.instance_data is None) != (self.data_formula is None):
            raise InputError(f"{where}: instance_data and data_formula go together; give both"
                             " (the landscape's own instances) or neither")
        dim = self.resolve_dim(dim)
        box, points = self.box(dim), self.minimizer_array(dim)
        if box.shape != (dim, 2) or not np.all(box[:, 0] < box[:, 1]):
            raise InputError(f"{where}: bounds must be {dim} (low, high) pairs with low < high, or"
                             f" one pair for every coordinate; got {self.bounds!r}")
        if points.ndim != 2 or points.shape[1] != dim or len(points) == 0:
            raise InputError(f"{where}: minimizers must be points of length {dim} (the dim); got an"
                             f" array of shape {points.shape}")
        try:
            outside, value_error = self.minimizer_errors(dim)
        except Exception as error:  # noqa: BLE001 (the user's formula: say what went wrong)
            raise InputError(f"{where}: formula(x, xp) failed at a minimizer with xp = numpy:"
                             f" {type(error).__name__}: {error}; write it as formula(x, xp) over a"
                             " 1-D array x, with xp.cos etc. for the array module") from None
        if outside > 0:
            raise InputError(f"{where}: a minimizer lies outside the bounds (by {outside:.3g});"
                             " widen the bounds or fix the minimizer")
        if not value_error <= VALUE_TOLERANCE:
            values = ", ".join(f"{float(self.np_fn(x))!r}" for x in points[:3])
            raise InputError(f"{where}: f_star = {self.minimum(dim)!r} but the formula gives"
                             f" {values} at the minimizers (relative error {value_error:.3g}, limit"
                             f" {VALUE_TOLERANCE:g}); fix f_star or the minimizers")


def _as_box(bounds, dim: int) -> np.ndarray:
    box = np.asarray(bounds, dtype=np.float64)
    if box.ndim == 1:
        box = np.tile(box, (dim, 1))
    return box
