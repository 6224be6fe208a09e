"""Instances: deterministic shifted, rotated and conditioned variants of a landscape.

Instance k of landscape f in dimension d is

    f_k(z) = f(c + M (z - c - s)),

with c the centre of the box, s a shift of at most 10% of the box width per coordinate and
M = R diag(sigma): R a proper rotation (Haar-random, det +1) and sigma = geomspace(1/3, 1, d) in random
order (never enlarging, so the box's image stays near the function's own box; Hessian condition up
to 9 on top of the function's own). Every
minimizer moves to z* = c + s + M^{-1} (x* - c) and f* is unchanged. Instance 0 is the plain function.

The parameters come from ``numpy.random.default_rng((crc32(name), instance_id, d))``, so an instance is
the same on every machine and Python run. A landscape's ``shiftable``, ``rotatable`` and
``conditionable`` flags switch off the transforms that would expose values below f*; the rotation is
redrawn (deterministically) until every moved minimizer lies in the box, and the shift is drawn from
the range that keeps them there. As in COCO's instances, the box itself does not move.

The engine vmaps over instances by passing ``shift`` and ``matrix`` as arrays to ``apply_instance``.

A landscape with its own instances (``Landscape.instance_data``, COCO's BBOB functions) is not
transformed: its instance k >= 1 is ``data_formula(x, data_k, xp)`` with the minimizers and f* that
``instance_data(k, dim)`` returns, and the engine passes ``data_k`` as arrays (``data_objective``).
Every function below answers for both kinds, so callers never tell them apart.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from landscapes.core import Landscape, formula_on_points
from landscapes.errors import InputError

MAX_SHIFT_FRACTION = 0.1  # of the box width, per coordinate
# M's singular values lie in [1/MAX_STRETCH, 1]: M never enlarges, so the box's image stays within
# the original function's box (up to the rotation of its corners). Stretching by up to 10 instead
# mapped the box's edges onto values of f 10^4 times larger (a quartic like Himmelblau), and most runs
# of instance 1 diverged at any learning rate that worked on instance 0.
MAX_STRETCH = 3.0
_MAX_DRAWS = 100  # rotations tried before falling back to shift only


@dataclasses.dataclass(frozen=True, eq=False)
class Instance:
    """One instance: f_k(z) = f(c + matrix (z - c - shift)), c the box centre; or, for a landscape
    with its own instances, ``data_formula(z, data, xp)``.

    Attributes:
      name: the landscape's name.
      instance_id: 0 for the plain function (the landscape's own instances start at 1).
      dim: the dimension.
      shift: (dim,) float64; None for the landscape's own instances.
      matrix: (dim, dim) float64, R diag(sigma) with R a proper rotation; None likewise.
      data: the landscape's own instance data (``Landscape.instance_data``), else None.
      minimizers: (k, dim) of such an instance; f_star: its minimum value.
    """

    name: str
    instance_id: int
    dim: int
    shift: np.ndarray | None
    matrix: np.ndarray | None
    data: Mapping[str, np.ndarray] | None = None
    minimizers: np.ndarray | None = None
    f_star: float | None = None


def instance_seed(name: str, instance_id: int, dim: int) -> tuple[int, int, int]:
    """The seed of ``default_rng`` for an instance; crc32, not ``hash``, so it is stable across runs."""
    return (zlib.crc32(name.encode("utf-8")), int(instance_id), int(dim))


def _random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    # Haar measure via QR with the sign fix of Mezzadri (2007), then det +1 by flipping a column.
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def make_instance(landscape: Landscape, instance_id: int, dim: int | None = None) -> Instance:
    """The deterministic instance ``instance_id`` (>= 0) of ``landscape`` in dimension ``dim``."""
    if landscape.instance_data is not None:
        return _own_instance(landscape, instance_id, dim)
    if not isinstance(instance_id, (int, np.integer)) or instance_id < 0:
        raise InputError(f"instance_id must be an integer >= 0; got {instance_id!r}")
    dim = landscape.resolve_dim(dim)
    identity = np.eye(dim)
    if instance_id == 0:
        return Instance(landscape.name, 0, dim, np.zeros(dim), identity)

    box = landscape.box(dim)
    centre = box.mean(axis=1)
    width = box[:, 1] - box[:, 0]
    minimizers = landscape.minimizer_array(dim)
    rng = np.random.default_rng(instance_seed(landscape.name, instance_id, dim))

    for draw in range(_MAX_DRAWS + 1):
        last = draw == _MAX_DRAWS
        rotation = _random_rotation(rng, dim) if landscape.rotatable and not last else identity
        stretch = (rng.permutation(np.logspace(-np.log10(MAX_STRETCH), 0.0, dim))
                   if landscape.conditionable and not last else np.ones(dim))
        matrix = rotation * stretch[None, :]
        moved = centre + np.linalg.solve(matrix, (minimizers - centre).T).T  # before the shift
        limit = MAX_SHIFT_FRACTION * width if landscape.shiftable else np.zeros(dim)
        low = np.maximum(-limit, box[:, 0] - moved.min(axis=0))
        high = np.minimum(limit, box[:, 1] - moved.max(axis=0))
        u = rng.uniform(size=dim)
        if np.all(low <= high):
            shift = low + u * (high - low)
            if not exposes_lower(landscape, shift, matrix):
                return Instance(landscape.name, int(instance_id), dim, shift, matrix)
    raise AssertionError(f"{landscape.name}: no instance keeps the minimizers in the box")


def check_own_instance(landscape: Landscape, instance_id) -> None:
    """A one-line InputError unless ``instance_id`` is one of the landscape's own instances (>= 1)."""
    if (not isinstance(instance_id, (int, np.integer)) or isinstance(instance_id, bool)
            or instance_id < 1):
        raise InputError(f"landscape {landscape.name!r} has its own instances, numbered 1, 2, 3, ..."
                         f" (COCO's instance numbers for BBOB); got instance {instance_id!r}")


def _own_instance(landscape: Landscape, instance_id: int, dim: int | None) -> Instance:
    check_own_instance(landscape, instance_id)
    dim = landscape.resolve_dim(dim)
    data, minimizers, f_star = landscape.instance_data(int(instance_id), dim)
    minimizers = np.atleast_2d(np.asarray(minimizers, dtype=np.float64))
    return Instance(landscape.name, int(instance_id), dim, None, None, data, minimizers,
                    float(f_star))


_CHECK_POINTS = 257  # per axis: Michalewicz's valleys are a few hundredths wide on [0, pi]


def exposes_lower(landscape: Landscape, shift: np.ndarray, matrix: np.ndarray) -> bool:
    """Whether the instance (``shift``, ``matrix``) shows values below f* inside the box.

    Where f* is the minimum over the box only (``bounded_domain``), the instance's box maps onto
    points outside the original box, where f may go lower (McCormick shifted by (0.55, 0.7): a corner
    reaches f = -1.944 < f* = -1.913); such a draw is rejected. Checked on a dense grid over the box
    (2-D; the bounded-domain landscapes are 2-D), so other landscapes cost nothing."""
    if not landscape.bounded_domain or len(shift) != 2:
        return False
    box = landscape.box(2)
    axes = [np.linspace(box[i, 0], box[i, 1], _CHECK_POINTS) for i in range(2)]
    z = np.stack([g.ravel() for g in np.meshgrid(*axes)], axis=1)
    centre = box.mean(axis=1)
    x = centre + (z - centre - shift) @ np.asarray(matrix).T
    values = formula_on_points(landscape, x)
    f_star = landscape.minimum(2)
    return bool(np.nanmin(values) < f_star - 1e-9 * max(1.0, abs(f_star)))


def stack_instances(landscape: Landscape, instance_ids: Sequence[int],
                    dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shifts (n, dim) and matrices (n, dim, dim) of several instances, ready to vmap over."""
    instances = [make_instance(landscape, k, dim) for k in instance_ids]
    return (np.stack([i.shift for i in instances]), np.stack([i.matrix for i in instances]))


def data_objective(landscape: Landscape, data) -> Callable[[jax.Array], jax.Array]:
    """z -> data_formula(z, data, jnp) of a landscape with its own instances; ``data`` may hold
    traced arrays, so one program serves every instance of a dimension."""
    return lambda z: landscape.data_formula(z, data, jnp)


def apply_instance(landscape: Landscape, shift, matrix) -> Callable[[jax.Array], jax.Array]:
    """z -> f(c + matrix (z - c - shift)) with jnp; ``shift`` and ``matrix`` may be traced arrays."""

    def transformed(z: jax.Array) -> jax.Array:
        dtype = jnp.result_type(z)
        centre = jnp.asarray(landscape.box(z.shape[-1]).mean(axis=1), dtype=dtype)
        m = jnp.asarray(matrix, dtype=dtype)
        return landscape.fn(centre + m @ (z - centre - jnp.asarray(shift, dtype=dtype)))

    return transformed


def instance_fn(landscape: Landscape, instance: Instance) -> Callable[[jax.Array], jax.Array]:
    """f_k as a jnp function of z for one concrete instance."""
    if instance.data is not None:
        return data_objective(landscape, instance.data)
    return apply_instance(landscape, instance.shift, instance.matrix)


def instance_np_fn(landscape: Landscape, instance: Instance) -> Callable[[np.ndarray], float]:
    """f_k with numpy in float64 (for scipy)."""
    if instance.data is not None:
        return lambda z: landscape.data_formula(np.asarray(z, dtype=np.float64), instance.data, np)
    centre = landscape.box(instance.dim).mean(axis=1)

    def transformed(z):
        z = np.asarray(z, dtype=np.float64)
        return landscape.np_fn(centre + instance.matrix @ (z - centre - instance.shift))

    return transformed


def instance_minimizers(landscape: Landscape, instance: Instance) -> np.ndarray:
    """Every global minimizer of instance k as a (k, dim) array: z* = c + s + M^{-1} (x* - c)."""
    if instance.minimizers is not None:
        return instance.minimizers
    minimizers = landscape.minimizer_array(instance.dim)
    if instance.instance_id == 0:
        return minimizers  # exactly, without the rounding of a solve with the identity
    centre = landscape.box(instance.dim).mean(axis=1)
    return centre + instance.shift + np.linalg.solve(instance.matrix, (minimizers - centre).T).T


def instance_minimum(landscape: Landscape, instance: Instance) -> float:
    """f* of instance k: the landscape's own for its own instances, else unchanged by the transform."""
    return instance.f_star if instance.f_star is not None else landscape.minimum(instance.dim)


def instance_formula(landscape: Landscape, instance: Instance):
    """f_k as ``formula(z, xp)`` on one point (dim,) or points as columns (dim, N), float64 numpy
    (``landscapes.core.formula_on_points``'s convention)."""
    if instance.data is not None:
        return lambda z, xp: landscape.data_formula(z, instance.data, xp)
    if instance.instance_id == 0:
        return landscape.formula
    centre = landscape.box(instance.dim).mean(axis=1)

    def transformed(z, xp):
        column = (slice(None),) + (None,) * (np.ndim(z) - 1)
        c, s = centre[column], instance.shift[column]
        return landscape.formula(c + instance.matrix @ (z - c - s), xp)

    return transformed
