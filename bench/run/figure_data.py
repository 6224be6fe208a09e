"""What a report's figures need from problem code, evaluated at run time (numpy, float64).

The landscapes through their instance transform on points and on a contour grid, the precision
floor of a dtype near the minimizers, and the learning rate of a schedule along the steps.
:mod:`bench.run.views` writes these into the results directory so that a report only reads files.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

CONTOUR_RESOLUTION = 150  # points per axis of a contour grid


def formula_on_points(land, points: np.ndarray) -> np.ndarray:
    """``land.formula`` on every row of ``points`` in one numpy evaluation
    (:func:`landscapes.core.formula_on_points`)."""
    from landscapes.core import formula_on_points as on_points

    return on_points(land, points)


def _instance(landscape: str, instance: int, dim: int | None):
    import landscapes

    # Cached per landscape record, not name: one registered again (replace=True) is a new record.
    return _record_instance(landscapes.get_landscape(landscape), int(instance), dim)


@functools.lru_cache(maxsize=64)
def _record_instance(land, instance: int, dim: int | None):
    from landscapes.instances import make_instance

    return land, make_instance(land, instance, dim)


def landscape_function(landscape: str, instance: int = 0, dim: int | None = None):
    """points (N, dim) -> f (N,) in float64 numpy: the landscape's ``np_fn``, through its instance."""
    land, inst = _instance(landscape, int(instance), dim)
    if inst.data is not None:  # the landscape's own instance (BBOB's)
        return _own_instance_function(land, inst)
    centre = land.box(inst.dim).mean(axis=1)

    def single(z: np.ndarray) -> float:
        if inst.instance_id == 0:
            return float(land.np_fn(z))
        return float(land.np_fn(centre + inst.matrix @ (np.asarray(z, float) - centre - inst.shift)))

    def many(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, inst.dim)
        finite = np.isfinite(points).all(axis=1)
        values = np.full(len(points), np.nan)
        good = points[finite]
        if inst.instance_id != 0:
            good = centre + (good - centre - inst.shift) @ inst.matrix.T
        # Every registered formula evaluates on columns (tests check it against the one-point
        # evaluation); one point is still checked here, and a formula that disagrees (one added
        # later that reduces in another way) is evaluated point by point instead.
        try:
            fast = formula_on_points(land, good)
            ok = len(good) == 0 or np.allclose(fast[0], float(land.np_fn(good[0])), rtol=1e-9,
                                               equal_nan=True)
        except (ValueError, IndexError, TypeError):
            ok = False
        if not ok:
            with np.errstate(all="ignore"):
                fast = np.array([float(land.np_fn(p)) for p in good])
        values[finite] = fast
        return values

    many.single = single  # type: ignore[attr-defined]
    return many


def _own_instance_function(land, inst):
    """points (N, dim) -> f (N,) of a landscape's own instance, its data formula on columns."""
    from landscapes.core import COLUMN_NUMPY
    from landscapes.instances import instance_formula, instance_np_fn

    formula = instance_formula(land, inst)

    def many(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, inst.dim)
        finite = np.isfinite(points).all(axis=1)
        values = np.full(len(points), np.nan)
        with np.errstate(all="ignore"):
            columns = np.ascontiguousarray(points[finite]).T
            values[finite] = np.broadcast_to(formula(columns, COLUMN_NUMPY), (int(finite.sum()),))
        return values

    one = instance_np_fn(land, inst)
    many.single = lambda z: float(one(z))  # type: ignore[attr-defined]
    return many


FLOOR_AXES = 16  # axes whose neighbouring points estimate a precision floor


def precision_floor(landscape: str, instance: int, dim: int | None, dtype: str) -> float:
    """About the smallest gap f - f* that runs in ``dtype`` can measure near the minimizers.

    A run computes f and the gap in ``dtype``. Near a minimizer that value carries rounding error
    (Hölder table in float32: +5.7e-6 at the exact minimizer, -5.7e-6 a point away, where f* is
    -19.2), and the nearest ``dtype`` points to a minimizer may lie above f* by more than a target
    (a rotated Bukin N.6 in float32: 0.01 and more), and a computed gap is a multiple of the
    spacing of ``dtype`` at f* (1.2e-7 for Branin's f* = 0.398 in float32). Targets below this
    floor are decided by that rounding, not by the optimizer's progress. It is estimated from the
    minimizers rounded to ``dtype`` and their neighbours up to two ulps along each axis (at most
    FLOOR_AXES axes, evenly spread, in more dimensions: a rotated 1,000-D instance took 24 s): the largest
    of the difference between the gap computed in ``dtype`` and in extended precision, the smallest
    gap there, and the spacing at f*. Numpy stands in for XLA here (its rounding differs by an ulp or so), so it is an
    estimate of the order of magnitude; NaN where the formula cannot be evaluated that way.
    """
    import landscapes

    return _precision_floor(landscapes.get_landscape(landscape), int(instance), dim, dtype)


@functools.lru_cache(maxsize=256)
def _precision_floor(land, instance: int, dim: int | None, dtype: str) -> float:
    from landscapes.instances import instance_minimizers, instance_minimum

    land, inst = _record_instance(land, instance, dim)

    kind = np.dtype(dtype)
    f_star = instance_minimum(land, inst)
    centre = land.box(inst.dim).mean(axis=1)

    @functools.lru_cache(maxsize=2)
    def converted(t):  # the instance's arrays in precision t, made once per precision
        if inst.data is not None:
            return {k: np.asarray(v, t) for k, v in inst.data.items()}
        if inst.instance_id == 0:
            return None
        return centre.astype(t), inst.matrix.astype(t), inst.shift.astype(t)

    def gap(z: np.ndarray, t) -> float:
        z = z.astype(t)
        if inst.data is not None:  # the landscape's own instance: its data in the same precision
            return float(np.asarray(land.data_formula(z, converted(t), np), t) - np.asarray(f_star, t))
        arrays = converted(t)
        x = z if arrays is None else arrays[0] + arrays[1] @ (z - arrays[0] - arrays[2])
        return float(np.asarray(land.formula(x, np), t) - np.asarray(f_star, t))

    axes = np.unique(np.linspace(0, inst.dim - 1, min(inst.dim, FLOOR_AXES)).round().astype(int))
    points = []
    for z in instance_minimizers(land, inst).astype(kind):
        points.append(z)
        for axis in axes:
            for direction in (np.inf, -np.inf):
                q = z.copy()
                for _ in range(2):
                    q[axis] = np.nextafter(q[axis], kind.type(direction))
                    points.append(q.copy())
    noise, lowest = 0.0, np.inf
    try:
        with np.errstate(all="ignore"):
            for z in points:
                exact = gap(z, np.longdouble)
                noise = max(noise, abs(gap(z, kind.type) - exact))
                lowest = min(lowest, exact)
    except (TypeError, ValueError, AttributeError, np.linalg.LinAlgError):
        return float("nan")
    # Near f* a computed gap is a multiple of the spacing of ``dtype`` at f*: smaller gaps read as 0.
    spacing = float(np.spacing(kind.type(abs(f_star)))) if f_star != 0 else 0.0
    floor = max(noise, max(lowest, 0.0), spacing)
    return float(floor) if np.isfinite(floor) else float("nan")


def contour_grid(landscape: str, instance: int = 0,
                 resolution: int = CONTOUR_RESOLUTION) -> tuple[np.ndarray, np.ndarray]:
    """(box (2, 2), gap (resolution, resolution)): f − f* of a 2-D landscape's ``instance`` on a
    regular grid over its search box, row i at the i-th x₂ value, column j at the j-th x₁ value;
    NaN where f cannot be evaluated."""
    from landscapes.instances import instance_minimum

    land, inst = _instance(landscape, int(instance), 2)
    box = land.box(2)
    xs = np.linspace(box[0, 0], box[0, 1], resolution)
    ys = np.linspace(box[1, 0], box[1, 1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    values = landscape_function(landscape, instance, 2)(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1))
    return box, values.reshape(grid_x.shape) - instance_minimum(land, inst)


def learning_rate_curves(family: str, schedule: str, configs: Sequence[Mapping[str, float]],
                         steps: int) -> np.ndarray:
    """The learning rates at update counts 0..steps−1 of several configs of one (family, schedule),
    (len(configs), steps), by the optimizers' own schedule: one compiled evaluation for all of them
    (a curve per config cost one compilation per config). In float64."""
    if not configs:
        return np.zeros((0, steps))
    import jax
    import jax.numpy as jnp

    import optimizers

    full = [optimizers.complete_config(family, schedule, dict(c)) for c in configs]
    # every hyperparameter a column (C, 1), broadcast against the steps (steps,) by the schedule's
    # elementwise formula
    hparams = {k: np.asarray([f[k] for f in full], dtype=np.float64)[:, None] for k in full[0]}

    @jax.jit
    def rates(h):
        return optimizers.learning_rate_fn(schedule, h)(jnp.arange(steps))

    with jax.enable_x64(True):  # float64 whatever the process's setting: the same file everywhere
        out = np.asarray(rates(hparams), dtype=np.float64)
    return np.broadcast_to(out, (len(configs), steps)).copy()


def schedule_keys(schedule: str) -> list[str]:
    """The hyperparameters a schedule's learning rate depends on (sorted)."""
    import optimizers

    return sorted({"learning_rate", "warmup_steps", *optimizers.get_schedule(schedule).defaults})
