"""The transforms of COCO's BBOB functions (Hansen, Finck, Ros & Auger 2009, section 0.2), written
once for jax.numpy and numpy (``xp``): T_osz (:func:`oscillate`), T_asy^beta (:func:`asymmetric`),
Lambda^alpha (:func:`ramp`), the boundary penalty f_pen (:func:`penalty`), and the Rastrigin and
Rosenbrock cores several functions share. ``x`` is one point (dim,) or, for numpy, points as
columns (dim, N).
"""

from __future__ import annotations

import math

import numpy as np

from landscapes.fast_trig import cos, sin

def col(vector, x):
    """A per-coordinate array (leading axis = coordinates) broadcast against ``x`` (dim,) or (dim, N)."""
    return vector.reshape(vector.shape + (1,) * (x.ndim - 1))


def oscillate(v, xp):
    """T_osz, as COCO's ``tosz_uv``: sign(v) exp(x^ + 0.049 (sin(c1 x^) + sin(c2 x^))), x^ = log|v|.

    Written as exp(0.1 (t + 0.49 (...))) with t = log|v| / 0.1 (COCO: pow(exp(t + ...), 0.1), the same
    value to an ulp) so float32 does not overflow exp(t). The 0 branch is a ``where`` with a safe
    argument, so the gradient at v = 0 is finite (0)."""
    nonzero = v != 0
    t = xp.log(xp.where(nonzero, xp.abs(v), 1.0)) / 0.1
    positive = v > 0
    wave = xp.where(positive, sin(t, xp) + sin(0.79 * t, xp), sin(0.55 * t, xp) + sin(0.31 * t, xp))
    magnitude = xp.exp(0.1 * (t + 0.49 * wave))
    return xp.where(nonzero, xp.where(positive, magnitude, -magnitude), 0.0)


def asymmetric(v, exponent_scale, xp):
    """T_asy^beta: v^(1 + beta i / (d - 1) sqrt(v)) where v > 0 (``exponent_scale`` = beta i / (d - 1))."""
    positive = v > 0
    safe = xp.where(positive, v, 1.0)
    return xp.where(positive, safe ** (1.0 + exponent_scale * xp.sqrt(safe)), v)


def penalty(x, xp):
    """f_pen = sum max(0, |x_i| - 5)^2."""
    return xp.sum(xp.maximum(xp.abs(x) - 5.0, 0.0) ** 2, axis=0)


def rastrigin(z, xp):
    return 10.0 * (z.shape[0] - xp.sum(cos(2 * math.pi * z, xp), axis=0)) + xp.sum(z * z, axis=0)


def rosenbrock(z, xp):
    return (100.0 * xp.sum((z[:-1] * z[:-1] - z[1:]) ** 2, axis=0)
            + xp.sum((z[:-1] - 1.0) ** 2, axis=0))


def positive_power(v, power, xp):
    """v^power for v >= 0 with a finite gradient at 0 (where the true one may be infinite)."""
    positive = v > 0
    return xp.where(positive, xp.where(positive, v, 1.0) ** power, 0.0)


def ramp(dim: int, base: float) -> np.ndarray:
    """base^(i / (d - 1)), i = 0 .. d-1, as COCO's pow(base, (double) i / (d - 1.0))."""
    return np.array([math.pow(base, i / (dim - 1.0)) for i in range(dim)])


def conditioned_rotation(rot1: np.ndarray, base: float, rot2: np.ndarray) -> np.ndarray:
    """R Lambda Q: COCO's ``current_row[j] += rot1[i][k] * pow(base, k / (d - 1)) * rot2[k][j]``."""
    return (rot1 * ramp(len(rot1), base)[None, :]) @ rot2
