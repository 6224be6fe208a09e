"""COCO's legacy BBOB 2009 random numbers, reproduced bit for bit on the host in numpy.

The BBOB instances (optimum location, optimal value, rotations) are drawn from COCO's own
generator, so the same (function, instance, dimension) gives the same problem here as in COCO:
``bbob2009_unif``, ``bbob2009_gauss``, ``bbob2009_compute_rotation``, ``bbob2009_compute_xopt`` and
``bbob2009_compute_fopt`` from ``code-experiments/src/suite_bbob_legacy_code.c`` (numbbo/coco).
The uniform generator is a Park-Miller minimal standard generator with a 32-entry shuffle table
(integer arithmetic, exact in Python); the Gaussians use C's libm through ``math``, as COCO does.
"""

from __future__ import annotations

import math

import numpy as np


def uniform(n: int, seed: int) -> np.ndarray:
    """``bbob2009_unif``: n uniform numbers in (0, 1] from ``seed``."""
    seed = max(abs(int(seed)), 1)
    state = seed
    table = [0] * 32
    for i in range(39, -1, -1):
        high = state // 127773
        state = 16807 * (state - high * 127773) - 2836 * high
        if state < 0:
            state += 2147483647
        if i < 32:
            table[i] = state
    current = table[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        high = state // 127773
        state = 16807 * (state - high * 127773) - 2836 * high
        if state < 0:
            state += 2147483647
        slot = current // 67108865
        current = table[slot]
        table[slot] = state
        value = current / 2.147483647e9
        out[i] = value if value != 0.0 else 1e-99
    return out


def gauss(n: int, seed: int) -> np.ndarray:
    """``bbob2009_gauss``: n standard normal numbers (Box-Muller on 2n uniforms)."""
    u = uniform(2 * n, seed)
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        value = math.sqrt(-2 * math.log(u[i])) * math.cos(2 * math.pi * u[n + i])
        out[i] = value if value != 0.0 else 1e-99
    return out


def rotation(seed: int, dim: int) -> np.ndarray:
    """``bbob2009_compute_rotation``: a dim x dim orthogonal matrix (Gram-Schmidt on the columns
    of a Gaussian matrix, filled column by column as COCO's ``bbob2009_reshape`` does).

    COCO's loop: for each column i, for j < i, col_i -= (col_i . col_j) col_j, then col_i is
    normalized. Here the same subtractions run column j at a time (once col_j is final, every
    later column loses its part along col_j in one array operation), so each column sees the same
    operations in the same order and the matrix is bit for bit the loop's. The coefficients stay
    one ``np.dot`` each on the same strided columns: a matrix product sums in another order (and
    strided and contiguous BLAS dots differ in the last bits), so it would change the rotations
    existing records were made with. O(dim^3) and dim^2 / 2 dots: docs/bbob.md has the times."""
    matrix = gauss(dim * dim, seed).reshape(dim, dim).T.copy()
    for j in range(dim):
        matrix[:, j] /= math.sqrt(np.dot(matrix[:, j], matrix[:, j]))
        if j + 1 < dim:
            column = matrix[:, j]
            dots = np.array([np.dot(matrix[:, i], column) for i in range(j + 1, dim)])
            matrix[:, j + 1:] -= column[:, None] * dots[None, :]
    return matrix


def optimum_location(seed: int, dim: int) -> np.ndarray:
    """``bbob2009_compute_xopt``: coordinates on a 1e-4 grid in [-4, 4), never exactly 0."""
    u = uniform(dim, seed)
    xopt = 8 * np.floor(1e4 * u) / 1e4 - 4
    xopt[xopt == 0.0] = -1e-5
    return xopt


def optimal_value(function: int, instance: int) -> float:
    """``bbob2009_compute_fopt``: f_opt in [-1000, 1000], rounded to 0.01 (f4 and f18 use the
    seeds of f3 and f17)."""
    base = {4: 3, 18: 17}.get(function, function)
    seed = base + 10000 * instance
    ratio = gauss(1, seed)[0] / gauss(1, seed + 1)[0]
    return min(1000.0, max(-1000.0, math.floor(100.0 * 100.0 * ratio + 0.5) / 100.0))
