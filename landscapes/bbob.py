"""The 24 noiseless BBOB functions (Hansen, Finck, Ros & Auger 2009), value for value as COCO builds them.

Each function is built the way COCO's C code builds it (numbbo/coco, ``code-experiments/src/f_*.c``
with the ``transform_vars_*`` / ``transform_obj_*`` chains of ``suite_bbob.c``): the optimum x_opt,
the optimal value f_opt and the rotations come from COCO's own generator and instance seeds
(:mod:`landscapes.bbob_random`; rseed = function + 10000 instance, f4 and f18 with the seeds of f3
and f17, f12's x_opt and f6/f10/f11/f13-f16/f23's first rotation from rseed + 1e6), so
``problem(f, i, d)`` equals COCO's problem f, instance i, dimension d (``tests/test_bbob.py`` checks
it against ``cocoex``).

A function is ``formula(x, data, xp)``: one expression for jax.numpy and numpy (``xp``), with every
instance-dependent quantity in ``data``, a dict of arrays computed once on the host per
(function, instance, dimension). One compiled program therefore serves every instance of a function
and dimension: the instance is data, not a constant baked into the trace. ``x`` is one point of
shape (dim,) or, for numpy, points as columns (dim, N) (``landscapes.core.formula_on_points``).

Here: the problem API (:func:`problem`, :func:`instance_data`, :func:`value`) and the registry
entries ``bbob_f01`` ... ``bbob_f24``. The 24 builders and formulas are in
:mod:`landscapes.bbob_functions`, the transforms they share (T_osz, T_asy^beta, Lambda^alpha,
f_pen) in :mod:`landscapes.bbob_transforms`, COCO's generator in :mod:`landscapes.bbob_random`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from landscapes.bbob_functions import BBOB_FUNCTIONS, BOUNDS, BBOBFunction, Data
from landscapes.bbob_random import optimal_value
from landscapes.core import Landscape
from landscapes.errors import InputError

FUNCTIONS = range(1, 25)
SOURCE = ("Hansen, Finck, Ros & Auger (2009), 'Real-parameter black-box optimization benchmarking "
          "2009: noiseless functions definitions', INRIA RR-6829; COCO (numbbo/coco) "
          "code-experiments/src, suite 'bbob'")


# ---------------------------------------------------------------- problems


def _check(function, instance, dim) -> None:
    def integer(value):
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not integer(function) or function not in BBOB_FUNCTIONS:
        raise InputError(f"BBOB function must be an integer in 1..24; got {function!r}")
    if not integer(instance) or instance < 1:
        raise InputError(f"BBOB instance must be an integer >= 1; got {instance!r}")
    if not integer(dim) or dim < 2:
        raise InputError(f"BBOB dim must be an integer >= 2; got {dim!r}")
    if dim > MAX_ROTATED_DIM and _rotated(int(function)):
        unrotated = ", ".join(f"f{n:02d}" for n in FUNCTIONS if not _rotated(n))
        raise InputError(f"bbob_f{function:02d} at dim {dim}: COCO's {dim} x {dim} rotation is built on"
                         f" the host by Gram-Schmidt, in time growing as dim^3, too long past dim"
                         f" {MAX_ROTATED_DIM} (docs/performance.md); use dim <= {MAX_ROTATED_DIM}"
                         f" ({unrotated}, which have no rotation, take any dim)")


# The largest dim a function with a rotation is built at: COCO's Gram-Schmidt (bbob_random.rotation)
# is O(dim^3) on the host (docs/performance.md, "BBOB at large dims", has the times).
MAX_ROTATED_DIM = 2000


def _rotated(function: int) -> bool:
    """Whether the function's data holds a dim x dim matrix (a COCO rotation, or a product of two)."""
    return any(template == (None, None) for template in _shape_templates(function).values())


@functools.lru_cache(maxsize=512, typed=True)  # typed: 2.0 and True are not 2 and 1
def instance_data(function: int, instance: int, dim: int) -> tuple[Data, np.ndarray, float]:
    """(data, x_opt, f_opt) of COCO's BBOB function ``function``, instance ``instance``, in ``dim``
    dimensions, computed on the host once. ``data`` holds float64 arrays (read-only), f_opt included."""
    _check(function, instance, dim)
    data, x_opt = BBOB_FUNCTIONS[int(function)].build(int(function), int(instance), int(dim))
    f_opt = optimal_value(int(function), int(instance))
    data = {**data, "fopt": np.asarray(f_opt)}
    for array in (*data.values(), x_opt):
        array.flags.writeable = False
    return data, x_opt, f_opt


# Two small dimensions the builders run at to learn the shapes (:func:`instance_shapes`): an axis of
# length 5 at dim 5 and 7 at dim 7 is the dimension, one of equal length at both is a constant.
_PROBE_DIMS = (5, 7)


@functools.lru_cache(maxsize=None)
def _shape_templates(function: int) -> dict[str, tuple[int | None, ...]]:
    """Each data array's shape with None where the axis is the dimension (x_opt under "x_opt")."""
    built = []
    for dim in _PROBE_DIMS:
        data, x_opt = BBOB_FUNCTIONS[function].build(function, 1, dim)
        built.append({**{key: np.shape(array) for key, array in data.items()},
                      "fopt": (), "x_opt": np.shape(x_opt)})
    small, large = built
    templates = {}
    for key, shape in small.items():
        if len(shape) != len(large[key]):
            raise AssertionError(f"f{function}: {key} has no shape template")
        pairs = list(zip(shape, large[key]))
        if any(short != long and (short, long) != _PROBE_DIMS for short, long in pairs):
            raise AssertionError(f"f{function}: {key} has an axis neither dim nor constant")
        templates[key] = tuple(None if short != long else short for short, long in pairs)
    return templates


def instance_shapes(function: int, dim: int) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """The shapes of :func:`instance_data`'s ``data`` arrays (f_opt included) and of x_opt for
    ``function`` in ``dim`` dimensions, without building that data (the builders run once per
    function at two small dimensions, and each axis is the dimension or a constant), so the memory
    planner knows a rotated function's size at dim 10,000 at once. Every instance has these shapes;
    bad values raise the same one-line InputError as :func:`instance_data`."""
    _check(function, 1, dim)
    shapes = {key: tuple(int(dim) if axis is None else axis for axis in template)
              for key, template in _shape_templates(int(function)).items()}
    x_opt = shapes.pop("x_opt")
    return shapes, x_opt


def value(x, data: Data, xp=jnp, *, function: int):
    """f(x) of BBOB ``function`` with an instance's ``data`` (see :func:`instance_data`), in the dtype
    of ``x``; ``data`` may hold traced arrays (vmap over instances) of matching shapes."""
    data = {key: xp.asarray(array, dtype=x.dtype) for key, array in data.items()}
    return BBOB_FUNCTIONS[function].formula(x, data, xp)


def start_gap(function: int, instance: int, dim: int, x0) -> float:
    """f(x0) - f_opt of BBOB ``function``, ``instance``, in float64 with numpy: the first evaluation
    of a run started at ``x0``, which COCO's data files begin with (``bench.analysis.coco_export``)."""
    data, _, f_opt = instance_data(function, instance, dim)
    return float(value(np.asarray(x0, np.float64), data, np, function=int(function))) - f_opt


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """COCO's BBOB problem f``function``, instance ``instance``, in ``dim`` dimensions.

    Attributes:
      f: x (dim,) -> f(x) with jax.numpy; jit-, vmap- and grad-able, float32 or float64 like x.
      x_opt: the global minimizer (numpy float64).
      f_opt: the global minimum value f(x_opt).
      data: the instance's arrays, as passed to :func:`value`.
    """

    function: int
    instance: int
    dim: int
    f: Callable
    x_opt: np.ndarray
    f_opt: float
    data: Data


@functools.lru_cache(maxsize=512, typed=True)  # typed: 2.0 and True are not 2 and 1
def problem(function: int, instance: int, dim: int) -> Problem:
    """COCO's BBOB problem: ``function`` in 1..24, ``instance`` >= 1, ``dim`` >= 2 (COCO's suite uses
    2, 3, 5, 10, 20, 40). Bad values raise a one-line InputError naming the valid range."""
    data, x_opt, f_opt = instance_data(function, instance, dim)
    return Problem(int(function), int(instance), int(dim),
                   functools.partial(value, data=data, xp=jnp, function=int(function)),
                   x_opt, f_opt, data)


# ---------------------------------------------------------------- registry entries

REGISTERED_INSTANCE = 1  # the COCO instance a registry entry stands for (see docs/bbob.md)
DEFAULT_DIM = 5


def _landscape(entry: BBOBFunction) -> Landscape:
    number = entry.number

    def formula(x, xp):
        return value(x, instance_data(number, REGISTERED_INSTANCE, x.shape[0])[0], xp,
                     function=number)

    def data_formula(x, data, xp):
        return value(x, data, xp, function=number)

    def own_instance(instance: int, dim: int) -> tuple[Data, np.ndarray, float]:
        data, x_opt, f_opt = instance_data(number, instance, dim)
        return data, x_opt[None, :], f_opt

    def own_shapes(dim: int) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        data, x_opt = instance_shapes(number, dim)
        return data, (1, *x_opt)

    return Landscape(
        name=f"bbob_f{number:02d}",
        formula=formula,
        dim=None,
        bounds=BOUNDS,
        minimizers=lambda d: instance_data(number, REGISTERED_INSTANCE, d)[1][None, :],
        f_star=lambda d: instance_data(number, REGISTERED_INSTANCE, d)[2],
        source=f"BBOB f{number} ({entry.name}), COCO instance {REGISTERED_INSTANCE}; {SOURCE}.",
        stationary=entry.stationary,
        default_dim=DEFAULT_DIM,
        # COCO's instances are the BBOB instances: this project's own shift/rotation/conditioning
        # on top would make a function that is not BBOB's (docs/bbob.md). A suite's instance k is
        # COCO's instance k, its data passed to the compiled program as arrays.
        shiftable=False,
        rotatable=False,
        conditionable=False,
        instance_data=own_instance,
        instance_shapes=own_shapes,
        data_formula=data_formula,
    )


BBOB_LANDSCAPES: tuple[Landscape, ...] = tuple(_landscape(entry) for entry in BBOB_FUNCTIONS.values())
