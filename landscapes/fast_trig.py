"""sin and cos as polynomials that XLA vectorizes, for the BBOB functions' oscillating terms.

XLA's CPU backend evaluates ``jnp.sin`` and ``jnp.cos`` one element at a time, while ``exp`` and
``tanh`` are vector code, so T_osz (four sines a coordinate) and the Rastrigin cosines were most of
a BBOB step's time (docs/performance.md). These are fdlibm's kernels (``__kernel_sin``,
``__kernel_cos``, double) and Cephes' (``sinf``, ``cosf``, single) after a Cody-Waite reduction
by pi/2: x = k pi/2 + r with |r| <= pi/4, pi/2 split into three parts so that k times the first two
is exact. Within one machine epsilon of the true value (absolute) for |x| up to 2^16 pi/2 in
float32 and 2^20 pi/2 in float64 (``tests/test_fast_trig.py``); beyond, the reduction is inexact
and r is clipped so the result stays in [-1, 1]. NaN and inf give NaN, as ``jnp.sin`` does.

The derivatives are each other's (``jax.custom_jvp``), so gradients cost one more polynomial and
are as accurate as the values. ``sin(x, xp)`` with ``xp = numpy`` is numpy's own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# fdlibm k_sin.c S1..S6 and k_cos.c C1..C6 (|r| <= pi/4, double); Cephes sinf.c / cosf.c (single).
_SIN = {np.dtype(np.float64): (-1.66666666666666324348e-01, 8.33333333332248946124e-03,
                               -1.98412698298579493134e-04, 2.75573137070700676789e-06,
                               -2.50507602534068634195e-08, 1.58969099521155010221e-10),
        np.dtype(np.float32): (-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4)}
_COS = {np.dtype(np.float64): (4.16666666666666019037e-02, -1.38888888888741095749e-03,
                               2.48015872894767294178e-05, -2.75573143513906633035e-07,
                               2.08757232129817482790e-09, -1.13596475577881948265e-11),
        np.dtype(np.float32): (4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5)}
# pi/2 in three parts (fdlibm's pio2_1, pio2_2, pio2_3 with 33 significant bits each; Cephes' DP1-3
# times 2 with 8, 24 and 24): k * part is exact for |k| < 2^20 (double) and 2^16 (single).
_HALF_PI = {np.dtype(np.float64): (1.57079632673412561417e+00, 6.07710050630396597660e-11,
                                   2.02226624871116645580e-21),
            np.dtype(np.float32): (1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8)}
_REDUCED_LIMIT = 0.8  # |r| <= pi/4 plus rounding for an exact reduction; the clip bounds the rest


def _kind(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _poly(z, coefficients):
    acc = jnp.asarray(coefficients[-1], z.dtype)
    for c in coefficients[-2::-1]:
        acc = acc * z + jnp.asarray(c, z.dtype)
    return acc


def _sin_cos_quadrant(x):
    """(sin r, cos r, k mod 4) with x = k pi/2 + r."""
    kind = _kind(x.dtype)
    first, second, third = (jnp.asarray(p, x.dtype) for p in _HALF_PI[kind])
    # The nearest multiple of pi/2 as floor(y + 1/2), not round(y): the fused GPU loop's Triton
    # lowering has no round, and a tie going up leaves |r| <= pi/4 all the same.
    k = jnp.floor(x * jnp.asarray(2.0 / np.pi, x.dtype) + jnp.asarray(0.5, x.dtype))
    r = jnp.clip(((x - k * first) - k * second) - k * third, -_REDUCED_LIMIT, _REDUCED_LIMIT)
    z = r * r
    sin_r = r + r * z * _poly(z, _SIN[kind])
    cos_r = 1.0 - 0.5 * z + z * z * _poly(z, _COS[kind])
    quadrant = jnp.where(jnp.isfinite(k), k, 0.0).astype(jnp.int32) & 3
    return sin_r, cos_r, quadrant


def _sin(x):
    sin_r, cos_r, quadrant = _sin_cos_quadrant(x)
    value = jnp.where(quadrant & 1, cos_r, sin_r)
    return jnp.where(quadrant & 2, -value, value)


def _cos(x):
    sin_r, cos_r, quadrant = _sin_cos_quadrant(x)
    value = jnp.where(quadrant & 1, sin_r, cos_r)
    return jnp.where((quadrant + 1) & 2, -value, value)


@jax.custom_jvp
def fast_sin(x):
    """sin(x) for a float32 or float64 jax array (see the module docstring)."""
    return _sin(x)


@jax.custom_jvp
def fast_cos(x):
    """cos(x) for a float32 or float64 jax array (see the module docstring)."""
    return _cos(x)


@fast_sin.defjvp
def _fast_sin_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return fast_sin(x), fast_cos(x) * dx


@fast_cos.defjvp
def _fast_cos_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return fast_cos(x), -fast_sin(x) * dx


def sin(x, xp):
    """sin with array module ``xp``: numpy's own for numpy, the vectorized polynomial for jax."""
    return np.sin(x) if xp is np else fast_sin(jnp.asarray(x))


def cos(x, xp):
    """cos with array module ``xp``: numpy's own for numpy, the vectorized polynomial for jax."""
    return np.cos(x) if xp is np else fast_cos(jnp.asarray(x))
