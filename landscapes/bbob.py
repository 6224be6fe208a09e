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

Transforms (Hansen et al. 2009, section 0.2): T_osz (``_oscillate``), T_asy^beta (``_asymmetric``),
Lambda^alpha (diagonal conditioning), f_pen = sum max(0, |x_i| - 5)^2 (``_penalty``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from landscapes.bbob_random import gauss, optimal_value, optimum_location, rotation, uniform
from landscapes.core import Landscape, safe_sqrt
from landscapes.errors import InputError

FUNCTIONS = range(1, 25)
BOUNDS = (-5.0, 5.0)  # COCO's region of interest; f_pen acts outside it
SOURCE = ("Hansen, Finck, Ros & Auger (2009), 'Real-parameter black-box optimization benchmarking "
          "2009: noiseless functions definitions', INRIA RR-6829; COCO (numbbo/coco) "
          "code-experiments/src, suite 'bbob'")
Data = dict[str, np.ndarray]


# ---------------------------------------------------------------- transforms (either array module)

def _col(vector, x):
    """A per-coordinate array (leading axis = coordinates) broadcast against ``x`` (dim,) or (dim, N)."""
    return vector.reshape(vector.shape + (1,) * (x.ndim - 1))


def _oscillate(v, xp):
    """T_osz, as COCO's ``tosz_uv``: sign(v) exp(x^ + 0.049 (sin(c1 x^) + sin(c2 x^))), x^ = log|v|.

    Written as exp(0.1 (t + 0.49 (...))) with t = log|v| / 0.1 (COCO: pow(exp(t + ...), 0.1), the same
    value to an ulp) so float32 does not overflow exp(t). The 0 branch is a ``where`` with a safe
    argument, so the gradient at v = 0 is finite (0)."""
    nonzero = v != 0
    t = xp.log(xp.where(nonzero, xp.abs(v), 1.0)) / 0.1
    positive = v > 0
    wave = xp.where(positive, xp.sin(t) + xp.sin(0.79 * t), xp.sin(0.55 * t) + xp.sin(0.31 * t))
    magnitude = xp.exp(0.1 * (t + 0.49 * wave))
    return xp.where(nonzero, xp.where(positive, magnitude, -magnitude), 0.0)


def _asymmetric(v, exponent_scale, xp):
    """T_asy^beta: v^(1 + beta i / (d - 1) sqrt(v)) where v > 0 (``exponent_scale`` = beta i / (d - 1))."""
    positive = v > 0
    safe = xp.where(positive, v, 1.0)
    return xp.where(positive, safe ** (1.0 + exponent_scale * xp.sqrt(safe)), v)


def _penalty(x, xp):
    """f_pen = sum max(0, |x_i| - 5)^2."""
    return xp.sum(xp.maximum(xp.abs(x) - 5.0, 0.0) ** 2, axis=0)


def _rastrigin(z, xp):
    return 10.0 * (z.shape[0] - xp.sum(xp.cos(2 * math.pi * z), axis=0)) + xp.sum(z * z, axis=0)


def _rosenbrock(z, xp):
    return (100.0 * xp.sum((z[:-1] * z[:-1] - z[1:]) ** 2, axis=0)
            + xp.sum((z[:-1] - 1.0) ** 2, axis=0))


def _positive_power(v, power, xp):
    """v^power for v >= 0 with a finite gradient at 0 (where the true one may be infinite)."""
    positive = v > 0
    return xp.where(positive, xp.where(positive, v, 1.0) ** power, 0.0)


def _ramp(dim: int, base: float) -> np.ndarray:
    """base^(i / (d - 1)), i = 0 .. d-1, as COCO's pow(base, (double) i / (d - 1.0))."""
    return np.array([math.pow(base, i / (dim - 1.0)) for i in range(dim)])


def _conditioned_rotation(rot1: np.ndarray, base: float, rot2: np.ndarray) -> np.ndarray:
    """R Lambda Q: COCO's ``current_row[j] += rot1[i][k] * pow(base, k / (d - 1)) * rot2[k][j]``."""
    return (rot1 * _ramp(len(rot1), base)[None, :]) @ rot2


# ---------------------------------------------------------------- the 24 functions
# Each: build(function, instance, dim) -> (data, x_opt) on the host; formula(x, data, xp) -> f.

def _seed(function: int, instance: int) -> int:
    return {4: 3, 18: 17}.get(function, function) + 10000 * instance


def _shifted(function, instance, dim, **extra) -> tuple[Data, np.ndarray]:
    xopt = optimum_location(_seed(function, instance), dim)
    return {"xopt": xopt, **extra}, xopt


def _build_sphere(f, i, d):
    return _shifted(f, i, d)


def _sphere(x, data, xp):
    z = x - _col(data["xopt"], x)
    return xp.sum(z * z, axis=0) + data["fopt"]


def _build_ellipsoid(f, i, d):
    return _shifted(f, i, d, weights=np.array([1e6 ** (k / (d - 1.0)) for k in range(d)]))


def _ellipsoid(x, data, xp):
    z = _oscillate(x - _col(data["xopt"], x), xp)
    return xp.sum(_col(data["weights"], x) * z * z, axis=0) + data["fopt"]


def _build_rastrigin(f, i, d):
    return _shifted(f, i, d, asymmetry=0.2 * np.arange(d) / (d - 1.0),
                    conditioning=np.array([math.pow(10.0, 0.5 * k / (d - 1.0)) for k in range(d)]))


def _rastrigin_separable(x, data, xp):
    z = _asymmetric(_oscillate(x - _col(data["xopt"], x), xp), _col(data["asymmetry"], x), xp)
    return _rastrigin(_col(data["conditioning"], x) * z, xp) + data["fopt"]


def _build_bueche_rastrigin(f, i, d):
    data, xopt = _shifted(f, i, d, scales=_ramp(d, math.sqrt(10.0)),
                          even=(np.arange(d) % 2 == 0).astype(np.float64))
    xopt[::2] = np.abs(xopt[::2])  # in COCO's legacy code, not in the function definitions
    return data, xopt


def _bueche_rastrigin(x, data, xp):
    z = _oscillate(x - _col(data["xopt"], x), xp)
    scales = _col(data["scales"], x) * xp.where((z > 0) & (_col(data["even"], x) > 0), 10.0, 1.0)
    return _rastrigin(scales * z, xp) + 100.0 * _penalty(x, xp) + data["fopt"]


def _build_linear_slope(f, i, d):
    corner = np.where(optimum_location(_seed(f, i), d) < 0.0, BOUNDS[0], BOUNDS[1])
    slopes = np.where(corner > 0.0, 1.0, -1.0) * _ramp(d, math.sqrt(100.0))
    return {"corner": corner, "slopes": slopes}, corner


def _linear_slope(x, data, xp):
    corner, slopes = _col(data["corner"], x), _col(data["slopes"], x)
    z = xp.where(x * corner < 25.0, x, corner)  # COCO's boundary handling: flat beyond the corner
    return xp.sum(5.0 * xp.abs(slopes) - slopes * z, axis=0) + data["fopt"]


def _build_attractive_sector(f, i, d):
    seed = _seed(f, i)
    matrix = _conditioned_rotation(rotation(seed + 1000000, d), math.sqrt(10.0), rotation(seed, d))
    return _shifted(f, i, d, matrix=matrix)


def _attractive_sector(x, data, xp):
    xopt = _col(data["xopt"], x)
    z = data["matrix"] @ (x - xopt)
    raw = xp.sum(xp.where(xopt * z > 0, 100.0 * 100.0 * z * z, z * z), axis=0)
    return _positive_power(_oscillate(raw, xp), 0.9, xp) + data["fopt"]


def _build_step_ellipsoid(f, i, d):
    seed = _seed(f, i)
    scale = np.array([math.sqrt(math.pow(100.0 / 10.0, k / (d - 1))) for k in range(d)])
    return _shifted(f, i, d, scaled_rotation=scale[:, None] * rotation(seed, d),
                    rotation=rotation(seed + 1000000, d),
                    weights=np.array([math.pow(100.0, k / (d - 1.0)) for k in range(d)]))


def _step_ellipsoid(x, data, xp):
    z_hat = data["scaled_rotation"] @ (x - _col(data["xopt"], x))
    rounded = xp.where(xp.abs(z_hat) > 0.5, xp.floor(z_hat + 0.5), xp.floor(10.0 * z_hat + 0.5) / 10.0)
    z = data["rotation"] @ rounded
    core = xp.sum(_col(data["weights"], x) * z * z, axis=0)
    return 0.1 * xp.maximum(xp.abs(z_hat[0]) * 1.0e-4, core) + _penalty(x, xp) + data["fopt"]


def _build_rosenbrock(f, i, d):
    xopt = 0.75 * optimum_location(_seed(f, i), d)
    return {"xopt": xopt, "factor": np.asarray(max(1.0, math.sqrt(d) / 8.0))}, xopt


def _rosenbrock_shifted(x, data, xp):
    return _rosenbrock(data["factor"] * (x - _col(data["xopt"], x)) + 1.0, xp) + data["fopt"]


def _build_rosenbrock_rotated(f, i, d):
    factor = max(1.0, math.sqrt(d) / 8.0)
    rot = rotation(_seed(f, i), d)
    return {"matrix": factor * rot}, rot.sum(axis=0) / (2.0 * factor)  # x_opt = R^T 1 / (2 factor)


def _rosenbrock_rotated(x, data, xp):
    return _rosenbrock(data["matrix"] @ x + 0.5, xp) + data["fopt"]


def _build_ellipsoid_rotated(f, i, d):
    data, xopt = _build_ellipsoid(f, i, d)
    return {**data, "rotation": rotation(_seed(f, i) + 1000000, d)}, xopt


def _ellipsoid_rotated(x, data, xp):
    z = _oscillate(data["rotation"] @ (x - _col(data["xopt"], x)), xp)
    return xp.sum(_col(data["weights"], x) * z * z, axis=0) + data["fopt"]


def _build_rotated(f, i, d):
    return _shifted(f, i, d, rotation=rotation(_seed(f, i) + 1000000, d))


def _discus(x, data, xp):
    z = _oscillate(data["rotation"] @ (x - _col(data["xopt"], x)), xp)
    return 1.0e6 * z[0] * z[0] + xp.sum(z[1:] * z[1:], axis=0) + data["fopt"]


def _build_bent_cigar(f, i, d):
    seed = _seed(f, i) + 1000000  # COCO draws both x_opt and R from rseed + 1e6 here
    xopt = optimum_location(seed, d)
    return {"xopt": xopt, "rotation": rotation(seed, d),
            "asymmetry": 0.5 * np.arange(d) / (d - 1.0)}, xopt


def _bent_cigar(x, data, xp):
    rot = data["rotation"]
    z = rot @ _asymmetric(rot @ (x - _col(data["xopt"], x)), _col(data["asymmetry"], x), xp)
    return z[0] * z[0] + 1.0e6 * xp.sum(z[1:] * z[1:], axis=0) + data["fopt"]


def _build_conditioned(base: float):
    def build(f, i, d):
        seed = _seed(f, i)
        return _shifted(f, i, d, matrix=_conditioned_rotation(rotation(seed + 1000000, d), base,
                                                               rotation(seed, d)))
    return build


def _sharp_ridge(x, data, xp):
    z = data["matrix"] @ (x - _col(data["xopt"], x))
    return z[0] * z[0] + 100.0 * safe_sqrt(xp.sum(z[1:] * z[1:], axis=0), xp) + data["fopt"]


def _build_different_powers(f, i, d):
    data, xopt = _build_rotated(f, i, d)
    return {**data, "powers": 2.0 + 4.0 * np.arange(d) / (d - 1.0)}, xopt


def _different_powers(x, data, xp):
    z = data["rotation"] @ (x - _col(data["xopt"], x))
    total = xp.sum(_positive_power(xp.abs(z), _col(data["powers"], x), xp), axis=0)
    return safe_sqrt(total, xp) + data["fopt"]


def _build_rastrigin_rotated(f, i, d):
    seed = _seed(f, i)
    rot1 = rotation(seed + 1000000, d)
    return _shifted(f, i, d, rotation=rot1, asymmetry=0.2 * np.arange(d) / (d - 1.0),
                    matrix=_conditioned_rotation(rot1, math.sqrt(10.0), rotation(seed, d)))


def _rastrigin_rotated(x, data, xp):
    y = _oscillate(data["rotation"] @ (x - _col(data["xopt"], x)), xp)
    z = data["matrix"] @ _asymmetric(y, _col(data["asymmetry"], x), xp)
    return _rastrigin(z, xp) + data["fopt"]


_WEIERSTRASS_A = 0.5 ** np.arange(12.0)
_WEIERSTRASS_B = 3.0 ** np.arange(12.0)


def _build_weierstrass(f, i, d):
    seed = _seed(f, i)
    rot1 = rotation(seed + 1000000, d)
    f0 = sum(a * math.cos(2 * math.pi * b * 0.5) for a, b in zip(_WEIERSTRASS_A, _WEIERSTRASS_B))
    return _shifted(f, i, d, rotation=rot1, f0=np.asarray(f0),
                    matrix=_conditioned_rotation(rot1, 1.0 / math.sqrt(100.0), rotation(seed, d)),
                    amplitudes=_WEIERSTRASS_A, frequencies=_WEIERSTRASS_B,
                    penalty_factor=np.asarray(10.0 / d))


def _weierstrass(x, data, xp):
    y = _oscillate(data["rotation"] @ (x - _col(data["xopt"], x)), xp)
    z = data["matrix"] @ y
    phase = (2 * math.pi * (z + 0.5))[:, None]  # (dim, 1, ...) against the 12 terms
    terms = xp.cos(phase * _col(data["frequencies"], x)) * _col(data["amplitudes"], x)
    total = xp.sum(xp.sum(terms, axis=1), axis=0)
    return (10.0 * (total / z.shape[0] - data["f0"]) ** 3 + data["fopt"]
            + data["penalty_factor"] * _penalty(x, xp))


def _build_schaffers(condition: float):
    def build(f, i, d):
        seed = _seed(f, i)
        scale = np.array([math.pow(math.sqrt(condition), k / (d - 1.0)) for k in range(d)])
        return _shifted(f, i, d, rotation=rotation(seed + 1000000, d),
                        matrix=rotation(seed, d) * scale[:, None],
                        asymmetry=0.5 * np.arange(d) / (d - 1.0))
    return build


def _schaffers(x, data, xp):
    y = _asymmetric(data["rotation"] @ (x - _col(data["xopt"], x)), _col(data["asymmetry"], x), xp)
    z = data["matrix"] @ y
    s = z[:-1] * z[:-1] + z[1:] * z[1:]
    terms = _positive_power(s, 0.25, xp) * (1.0 + xp.sin(50.0 * _positive_power(s, 0.1, xp)) ** 2)
    return ((xp.sum(terms, axis=0) / (z.shape[0] - 1.0)) ** 2 + data["fopt"]
            + 10.0 * _penalty(x, xp))


def _build_griewank_rosenbrock(f, i, d):
    scale = max(1.0, math.sqrt(d) / 8.0)
    rot = rotation(_seed(f, i), d)
    # COCO sets x_opt = (scale R)^T 1 / (2 scale), the minimizer for d <= 64 (scale = 1); for larger
    # d the minimizer of z = scale R x + 0.5 = 1 is R^T 1 / (2 scale), used here.
    return {"matrix": scale * rot}, rot.sum(axis=0) / (2.0 * scale)


def _griewank_rosenbrock(x, data, xp):
    z = data["matrix"] @ x + 0.5
    s = 100.0 * (z[:-1] * z[:-1] - z[1:]) ** 2 + (1.0 - z[:-1]) ** 2
    return 10.0 + 10.0 * xp.sum(s / 4000.0 - xp.cos(s), axis=0) / (z.shape[0] - 1) + data["fopt"]


_SCHWEFEL_OPT = 4.2096874637  # COCO's xopt (x_hat, z_hat); its best_parameter uses ...4633


def _build_schwefel(f, i, d):
    signs = np.where(uniform(d, _seed(f, i)) - 0.5 < 0, -1.0, 1.0)
    return ({"signs": signs, "two_abs_xopt": np.full(d, 2.0 * (0.5 * _SCHWEFEL_OPT)),
             "conditioning": _ramp(d, math.sqrt(10.0))},
            signs * 0.5 * 4.2096874633)


def _schwefel(x, data, xp):
    x_hat = 2.0 * _col(data["signs"], x) * x
    two_abs_xopt = _col(data["two_abs_xopt"], x)
    z_hat = xp.concatenate([x_hat[:1], x_hat[1:] + 0.25 * (x_hat[:-1] - two_abs_xopt[:-1])], axis=0)
    z = 100.0 * (_col(data["conditioning"], x) * (z_hat - two_abs_xopt) + two_abs_xopt)
    penalty = xp.sum(xp.maximum(xp.abs(z) - 500.0, 0.0) ** 2, axis=0)
    core = xp.sum(z * xp.sin(xp.sqrt(xp.abs(z))), axis=0)
    return 0.01 * (penalty + 418.9828872724339 - core / z.shape[0]) + data["fopt"]


def _build_gallagher(peaks: int):
    def build(f, i, d):
        seed = _seed(f, i)
        if peaks == 101:
            first_condition, b, c = math.sqrt(1000.0), 10.0, 5.0
        else:
            first_condition, b, c = 1000.0, 9.8, 4.9
        rot = rotation(seed, d)
        order = np.argsort(uniform(peaks - 1, seed), kind="stable")
        conditions = np.concatenate([[first_condition], 1000.0 ** (order / (peaks - 2.0))])
        heights = np.concatenate([[10.0], np.arange(peaks - 1) / (peaks - 2.0) * (9.1 - 1.1) + 1.1])
        scales = np.empty((d, peaks))
        for k in range(peaks):
            ranks = np.argsort(uniform(d, seed + 1000 * k), kind="stable")
            scales[:, k] = conditions[k] ** (ranks / (d - 1.0) - 0.5)
        u = uniform(d * peaks, seed).reshape(peaks, d)
        centres = rot @ (b * u - c).T  # (d, peaks): the peaks in rotated coordinates
        centres[:, 0] *= 0.8
        xopt = 0.8 * (b * u[0] - c)
        return {"rotation": rot, "centres": centres, "scales": scales, "heights": heights}, xopt
    return build


def _gallagher(x, data, xp):
    y = (data["rotation"] @ x)[:, None]  # (dim, 1, ...) against the peaks
    diff = y - _col(data["centres"], x)
    spread = xp.sum(_col(data["scales"], x) * diff * diff, axis=0)  # (peaks, ...)
    best = xp.max(_col(data["heights"], x) * xp.exp(-0.5 / x.shape[0] * spread), axis=0)
    return _oscillate(10.0 - best, xp) ** 2 + _penalty(x, xp) + data["fopt"]


def _build_katsuura(f, i, d):
    seed = _seed(f, i)
    return _shifted(f, i, d, powers=2.0 ** np.arange(1.0, 33.0),
                    matrix=_conditioned_rotation(rotation(seed + 1000000, d), math.sqrt(100.0),
                                                 rotation(seed, d)),
                    weights=np.arange(1.0, d + 1.0), scale=np.asarray(10.0 / d / d),
                    exponent=np.asarray(10.0 / math.pow(d, 1.2)))


def _katsuura(x, data, xp):
    z = data["matrix"] @ (x - _col(data["xopt"], x))
    powers = _col(data["powers"], z[None])  # (32, 1, ...) against (1, dim, ...)
    scaled = z[None] * powers
    sums = xp.sum(xp.abs(scaled - xp.floor(scaled + 0.5)) / powers, axis=0)
    product = xp.prod(1.0 + _col(data["weights"], z) * sums, axis=0)
    return (data["scale"] * (-1.0 + product ** data["exponent"]) + _penalty(x, xp)
            + data["fopt"])


_LUNACEK_MU0 = 2.5


def _build_lunacek(f, i, d):
    seed = _seed(f, i)
    signs = np.where(gauss(d, seed) < 0.0, -1.0, 1.0)  # COCO overwrites x_opt: +-mu0/2
    s = 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
    scale = _ramp(d, math.sqrt(100.0))
    return ({"signs": signs, "rotation": rotation(seed + 1000000, d),
             "scaled_rotation": scale[:, None] * rotation(seed, d), "s": np.asarray(s),
             "mu1": np.asarray(-math.sqrt((_LUNACEK_MU0 ** 2 - 1.0) / s))},
            0.5 * _LUNACEK_MU0 * signs)


def _lunacek(x, data, xp):
    x_hat = 2.0 * _col(data["signs"], x) * x
    z = data["rotation"] @ (data["scaled_rotation"] @ (x_hat - _LUNACEK_MU0))
    d = x.shape[0]
    first = xp.sum((x_hat - _LUNACEK_MU0) ** 2, axis=0)
    second = 1.0 * d + data["s"] * xp.sum((x_hat - data["mu1"]) ** 2, axis=0)
    return (xp.minimum(first, second) + 10.0 * (d - xp.sum(xp.cos(2 * math.pi * z), axis=0))
            + 1e4 * _penalty(x, xp) + data["fopt"])


@dataclasses.dataclass(frozen=True)
class BBOBFunction:
    """One BBOB function: its COCO number and name, the host-side builder of an instance's data and
    the formula. ``stationary``: whether the gradient vanishes at x_opt (False at a kink, and for
    f5, whose minimum is a corner of the box)."""

    number: int
    name: str
    build: Callable[[int, int, int], tuple[Data, np.ndarray]]
    formula: Callable[[Any, Data, Any], Any]
    stationary: bool = True


_TABLE = (
    BBOBFunction(1, "sphere", _build_sphere, _sphere),
    BBOBFunction(2, "separable ellipsoid", _build_ellipsoid, _ellipsoid),
    BBOBFunction(3, "separable Rastrigin", _build_rastrigin, _rastrigin_separable),
    BBOBFunction(4, "Bueche-Rastrigin", _build_bueche_rastrigin, _bueche_rastrigin),
    BBOBFunction(5, "linear slope", _build_linear_slope, _linear_slope, stationary=False),
    BBOBFunction(6, "attractive sector", _build_attractive_sector, _attractive_sector),
    BBOBFunction(7, "step ellipsoid", _build_step_ellipsoid, _step_ellipsoid),
    BBOBFunction(8, "Rosenbrock", _build_rosenbrock, _rosenbrock_shifted),
    BBOBFunction(9, "rotated Rosenbrock", _build_rosenbrock_rotated, _rosenbrock_rotated),
    BBOBFunction(10, "ellipsoid", _build_ellipsoid_rotated, _ellipsoid_rotated),
    BBOBFunction(11, "discus", _build_rotated, _discus),
    BBOBFunction(12, "bent cigar", _build_bent_cigar, _bent_cigar),
    BBOBFunction(13, "sharp ridge", _build_conditioned(math.sqrt(10.0)), _sharp_ridge,
                 stationary=False),
    BBOBFunction(14, "different powers", _build_different_powers, _different_powers,
                 stationary=False),
    BBOBFunction(15, "Rastrigin", _build_rastrigin_rotated, _rastrigin_rotated),
    BBOBFunction(16, "Weierstrass", _build_weierstrass, _weierstrass),
    BBOBFunction(17, "Schaffer F7", _build_schaffers(10.0), _schaffers, stationary=False),
    BBOBFunction(18, "Schaffer F7, ill-conditioned", _build_schaffers(1000.0), _schaffers,
                 stationary=False),
    BBOBFunction(19, "composite Griewank-Rosenbrock F8F2", _build_griewank_rosenbrock,
                 _griewank_rosenbrock),
    BBOBFunction(20, "Schwefel x sin(x)", _build_schwefel, _schwefel),
    BBOBFunction(21, "Gallagher 101 peaks", _build_gallagher(101), _gallagher),
    BBOBFunction(22, "Gallagher 21 peaks", _build_gallagher(21), _gallagher),
    BBOBFunction(23, "Katsuura", _build_katsuura, _katsuura, stationary=False),
    BBOBFunction(24, "Lunacek bi-Rastrigin", _build_lunacek, _lunacek),
)
BBOB_FUNCTIONS: dict[int, BBOBFunction] = {entry.number: entry for entry in _TABLE}


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


def value(x, data: Data, xp=jnp, *, function: int):
    """f(x) of BBOB ``function`` with an instance's ``data`` (see :func:`instance_data`), in the dtype
    of ``x``; ``data`` may hold traced arrays (vmap over instances) of matching shapes."""
    data = {key: xp.asarray(array, dtype=x.dtype) for key, array in data.items()}
    return BBOB_FUNCTIONS[function].formula(x, data, xp)


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
        data_formula=data_formula,
    )


BBOB_LANDSCAPES: tuple[Landscape, ...] = tuple(_landscape(entry) for entry in _TABLE)
