"""The 24 noiseless BBOB functions, each a host-side builder of an instance's data and a formula.

``build(function, instance, dim) -> (data, x_opt)`` computes, on the host and with COCO's own
generator and seeds (:mod:`landscapes.bbob_random`), every array that depends on the instance;
``formula(x, data, xp) -> f`` is the function of those arrays, for jax.numpy and numpy alike. The
problem API and the registry entries are in :mod:`landscapes.bbob`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from landscapes.bbob_random import gauss, optimum_location, rotation, uniform
from landscapes.bbob_transforms import (asymmetric, col, conditioned_rotation, oscillate, penalty,
                                        positive_power, ramp, rastrigin, rosenbrock)
from landscapes.core import safe_sqrt
from landscapes.fast_trig import cos, sin

Data = dict[str, np.ndarray]
BOUNDS = (-5.0, 5.0)  # COCO's region of interest; f_pen acts outside it


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
    z = x - col(data["xopt"], x)
    return xp.sum(z * z, axis=0) + data["fopt"]


def _build_ellipsoid(f, i, d):
    return _shifted(f, i, d, weights=np.array([1e6 ** (k / (d - 1.0)) for k in range(d)]))


def _ellipsoid(x, data, xp):
    z = oscillate(x - col(data["xopt"], x), xp)
    return xp.sum(col(data["weights"], x) * z * z, axis=0) + data["fopt"]


def _build_rastrigin(f, i, d):
    return _shifted(f, i, d, asymmetry=0.2 * np.arange(d) / (d - 1.0),
                    conditioning=np.array([math.pow(10.0, 0.5 * k / (d - 1.0)) for k in range(d)]))


def _rastrigin_separable(x, data, xp):
    z = asymmetric(oscillate(x - col(data["xopt"], x), xp), col(data["asymmetry"], x), xp)
    return rastrigin(col(data["conditioning"], x) * z, xp) + data["fopt"]


def _build_bueche_rastrigin(f, i, d):
    data, xopt = _shifted(f, i, d, scales=ramp(d, math.sqrt(10.0)),
                          even=(np.arange(d) % 2 == 0).astype(np.float64))
    xopt[::2] = np.abs(xopt[::2])  # in COCO's legacy code, not in the function definitions
    return data, xopt


def _bueche_rastrigin(x, data, xp):
    z = oscillate(x - col(data["xopt"], x), xp)
    scales = col(data["scales"], x) * xp.where((z > 0) & (col(data["even"], x) > 0), 10.0, 1.0)
    return rastrigin(scales * z, xp) + 100.0 * penalty(x, xp) + data["fopt"]


def _build_linear_slope(f, i, d):
    corner = np.where(optimum_location(_seed(f, i), d) < 0.0, BOUNDS[0], BOUNDS[1])
    slopes = np.where(corner > 0.0, 1.0, -1.0) * ramp(d, math.sqrt(100.0))
    return {"corner": corner, "slopes": slopes}, corner


def _linear_slope(x, data, xp):
    corner, slopes = col(data["corner"], x), col(data["slopes"], x)
    z = xp.where(x * corner < 25.0, x, corner)  # COCO's boundary handling: flat beyond the corner
    return xp.sum(5.0 * xp.abs(slopes) - slopes * z, axis=0) + data["fopt"]


def _build_attractive_sector(f, i, d):
    seed = _seed(f, i)
    matrix = conditioned_rotation(rotation(seed + 1000000, d), math.sqrt(10.0), rotation(seed, d))
    return _shifted(f, i, d, matrix=matrix)


def _attractive_sector(x, data, xp):
    xopt = col(data["xopt"], x)
    z = data["matrix"] @ (x - xopt)
    raw = xp.sum(xp.where(xopt * z > 0, 100.0 * 100.0 * z * z, z * z), axis=0)
    return positive_power(oscillate(raw, xp), 0.9, xp) + data["fopt"]


def _build_step_ellipsoid(f, i, d):
    seed = _seed(f, i)
    scale = np.array([math.sqrt(math.pow(100.0 / 10.0, k / (d - 1))) for k in range(d)])
    return _shifted(f, i, d, scaled_rotation=scale[:, None] * rotation(seed, d),
                    rotation=rotation(seed + 1000000, d),
                    weights=np.array([math.pow(100.0, k / (d - 1.0)) for k in range(d)]))


def _step_ellipsoid(x, data, xp):
    z_hat = data["scaled_rotation"] @ (x - col(data["xopt"], x))
    rounded = xp.where(xp.abs(z_hat) > 0.5, xp.floor(z_hat + 0.5), xp.floor(10.0 * z_hat + 0.5) / 10.0)
    z = data["rotation"] @ rounded
    core = xp.sum(col(data["weights"], x) * z * z, axis=0)
    return 0.1 * xp.maximum(xp.abs(z_hat[0]) * 1.0e-4, core) + penalty(x, xp) + data["fopt"]


def _build_rosenbrock(f, i, d):
    xopt = 0.75 * optimum_location(_seed(f, i), d)
    return {"xopt": xopt, "factor": np.asarray(max(1.0, math.sqrt(d) / 8.0))}, xopt


def _rosenbrock_shifted(x, data, xp):
    return rosenbrock(data["factor"] * (x - col(data["xopt"], x)) + 1.0, xp) + data["fopt"]


def _build_rosenbrock_rotated(f, i, d):
    factor = max(1.0, math.sqrt(d) / 8.0)
    rot = rotation(_seed(f, i), d)
    return {"matrix": factor * rot}, rot.sum(axis=0) / (2.0 * factor)  # x_opt = R^T 1 / (2 factor)


def _rosenbrock_rotated(x, data, xp):
    return rosenbrock(data["matrix"] @ x + 0.5, xp) + data["fopt"]


def _build_ellipsoid_rotated(f, i, d):
    data, xopt = _build_ellipsoid(f, i, d)
    return {**data, "rotation": rotation(_seed(f, i) + 1000000, d)}, xopt


def _ellipsoid_rotated(x, data, xp):
    z = oscillate(data["rotation"] @ (x - col(data["xopt"], x)), xp)
    return xp.sum(col(data["weights"], x) * z * z, axis=0) + data["fopt"]


def _build_rotated(f, i, d):
    return _shifted(f, i, d, rotation=rotation(_seed(f, i) + 1000000, d))


def _discus(x, data, xp):
    z = oscillate(data["rotation"] @ (x - col(data["xopt"], x)), xp)
    return 1.0e6 * z[0] * z[0] + xp.sum(z[1:] * z[1:], axis=0) + data["fopt"]


def _build_bent_cigar(f, i, d):
    seed = _seed(f, i) + 1000000  # COCO draws both x_opt and R from rseed + 1e6 here
    xopt = optimum_location(seed, d)
    return {"xopt": xopt, "rotation": rotation(seed, d),
            "asymmetry": 0.5 * np.arange(d) / (d - 1.0)}, xopt


def _bent_cigar(x, data, xp):
    rot = data["rotation"]
    z = rot @ asymmetric(rot @ (x - col(data["xopt"], x)), col(data["asymmetry"], x), xp)
    return z[0] * z[0] + 1.0e6 * xp.sum(z[1:] * z[1:], axis=0) + data["fopt"]


def _build_conditioned(base: float):
    def build(f, i, d):
        seed = _seed(f, i)
        return _shifted(f, i, d, matrix=conditioned_rotation(rotation(seed + 1000000, d), base,
                                                               rotation(seed, d)))
    return build


def _sharp_ridge(x, data, xp):
    z = data["matrix"] @ (x - col(data["xopt"], x))
    return z[0] * z[0] + 100.0 * safe_sqrt(xp.sum(z[1:] * z[1:], axis=0), xp) + data["fopt"]


def _build_different_powers(f, i, d):
    data, xopt = _build_rotated(f, i, d)
    return {**data, "powers": 2.0 + 4.0 * np.arange(d) / (d - 1.0)}, xopt


def _different_powers(x, data, xp):
    z = data["rotation"] @ (x - col(data["xopt"], x))
    total = xp.sum(positive_power(xp.abs(z), col(data["powers"], x), xp), axis=0)
    return safe_sqrt(total, xp) + data["fopt"]


def _build_rastrigin_rotated(f, i, d):
    seed = _seed(f, i)
    rot1 = rotation(seed + 1000000, d)
    return _shifted(f, i, d, rotation=rot1, asymmetry=0.2 * np.arange(d) / (d - 1.0),
                    matrix=conditioned_rotation(rot1, math.sqrt(10.0), rotation(seed, d)))


def _rastrigin_rotated(x, data, xp):
    y = oscillate(data["rotation"] @ (x - col(data["xopt"], x)), xp)
    z = data["matrix"] @ asymmetric(y, col(data["asymmetry"], x), xp)
    return rastrigin(z, xp) + data["fopt"]


_WEIERSTRASS_A = 0.5 ** np.arange(12.0)
_WEIERSTRASS_B = 3.0 ** np.arange(12.0)


def _build_weierstrass(f, i, d):
    seed = _seed(f, i)
    rot1 = rotation(seed + 1000000, d)
    f0 = sum(a * math.cos(2 * math.pi * b * 0.5) for a, b in zip(_WEIERSTRASS_A, _WEIERSTRASS_B))
    return _shifted(f, i, d, rotation=rot1, f0=np.asarray(f0),
                    matrix=conditioned_rotation(rot1, 1.0 / math.sqrt(100.0), rotation(seed, d)),
                    amplitudes=_WEIERSTRASS_A, frequencies=_WEIERSTRASS_B,
                    penalty_factor=np.asarray(10.0 / d))


def _weierstrass(x, data, xp):
    y = oscillate(data["rotation"] @ (x - col(data["xopt"], x)), xp)
    z = data["matrix"] @ y
    phase = (2 * math.pi * (z + 0.5))[:, None]  # (dim, 1, ...) against the 12 terms
    terms = xp.cos(phase * col(data["frequencies"], x)) * col(data["amplitudes"], x)
    total = xp.sum(xp.sum(terms, axis=1), axis=0)
    return (10.0 * (total / z.shape[0] - data["f0"]) ** 3 + data["fopt"]
            + data["penalty_factor"] * penalty(x, xp))


def _build_schaffers(condition: float):
    def build(f, i, d):
        seed = _seed(f, i)
        scale = np.array([math.pow(math.sqrt(condition), k / (d - 1.0)) for k in range(d)])
        return _shifted(f, i, d, rotation=rotation(seed + 1000000, d),
                        matrix=rotation(seed, d) * scale[:, None],
                        asymmetry=0.5 * np.arange(d) / (d - 1.0))
    return build


def _schaffers(x, data, xp):
    y = asymmetric(data["rotation"] @ (x - col(data["xopt"], x)), col(data["asymmetry"], x), xp)
    z = data["matrix"] @ y
    s = z[:-1] * z[:-1] + z[1:] * z[1:]
    terms = positive_power(s, 0.25, xp) * (1.0 + sin(50.0 * positive_power(s, 0.1, xp), xp) ** 2)
    return ((xp.sum(terms, axis=0) / (z.shape[0] - 1.0)) ** 2 + data["fopt"]
            + 10.0 * penalty(x, xp))


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
             "conditioning": ramp(d, math.sqrt(10.0))},
            signs * 0.5 * 4.2096874633)


def _schwefel(x, data, xp):
    x_hat = 2.0 * col(data["signs"], x) * x
    two_abs_xopt = col(data["two_abs_xopt"], x)
    z_hat = xp.concatenate([x_hat[:1], x_hat[1:] + 0.25 * (x_hat[:-1] - two_abs_xopt[:-1])], axis=0)
    z = 100.0 * (col(data["conditioning"], x) * (z_hat - two_abs_xopt) + two_abs_xopt)
    penalty = xp.sum(xp.maximum(xp.abs(z) - 500.0, 0.0) ** 2, axis=0)
    core = xp.sum(z * sin(xp.sqrt(xp.abs(z)), xp), axis=0)
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
    diff = y - col(data["centres"], x)
    spread = xp.sum(col(data["scales"], x) * diff * diff, axis=0)  # (peaks, ...)
    best = xp.max(col(data["heights"], x) * xp.exp(-0.5 / x.shape[0] * spread), axis=0)
    return oscillate(10.0 - best, xp) ** 2 + penalty(x, xp) + data["fopt"]


def _build_katsuura(f, i, d):
    seed = _seed(f, i)
    return _shifted(f, i, d, powers=2.0 ** np.arange(1.0, 33.0),
                    matrix=conditioned_rotation(rotation(seed + 1000000, d), math.sqrt(100.0),
                                                 rotation(seed, d)),
                    weights=np.arange(1.0, d + 1.0), scale=np.asarray(10.0 / d / d),
                    exponent=np.asarray(10.0 / math.pow(d, 1.2)))


def _katsuura(x, data, xp):
    z = data["matrix"] @ (x - col(data["xopt"], x))
    powers = col(data["powers"], z[None])  # (32, 1, ...) against (1, dim, ...)
    scaled = z[None] * powers
    sums = xp.sum(xp.abs(scaled - xp.floor(scaled + 0.5)) / powers, axis=0)
    product = xp.prod(1.0 + col(data["weights"], z) * sums, axis=0)
    return (data["scale"] * (-1.0 + product ** data["exponent"]) + penalty(x, xp)
            + data["fopt"])


_LUNACEK_MU0 = 2.5


def _build_lunacek(f, i, d):
    seed = _seed(f, i)
    signs = np.where(gauss(d, seed) < 0.0, -1.0, 1.0)  # COCO overwrites x_opt: +-mu0/2
    s = 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
    scale = ramp(d, math.sqrt(100.0))
    return ({"signs": signs, "rotation": rotation(seed + 1000000, d),
             "scaled_rotation": scale[:, None] * rotation(seed, d), "s": np.asarray(s),
             "mu1": np.asarray(-math.sqrt((_LUNACEK_MU0 ** 2 - 1.0) / s))},
            0.5 * _LUNACEK_MU0 * signs)


def _lunacek(x, data, xp):
    x_hat = 2.0 * col(data["signs"], x) * x
    z = data["rotation"] @ (data["scaled_rotation"] @ (x_hat - _LUNACEK_MU0))
    d = x.shape[0]
    first = xp.sum((x_hat - _LUNACEK_MU0) ** 2, axis=0)
    second = 1.0 * d + data["s"] * xp.sum((x_hat - data["mu1"]) ** 2, axis=0)
    return (xp.minimum(first, second) + 10.0 * (d - xp.sum(cos(2 * math.pi * z, xp), axis=0))
            + 1e4 * penalty(x, xp) + data["fopt"])


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
