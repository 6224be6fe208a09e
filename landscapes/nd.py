"""Test functions defined in any dimension d >= 2.

Formulas and boxes follow Jamil & Yang (2013, "A literature survey of benchmark functions for global
optimization problems") and the SFU virtual library (Surjanovic & Bingham); Rosenbrock also appears in
Moré, Garbow & Hillstrom (1981), problem 1 (extended form, problem 21). Minimizers and f* are functions
of the dimension.
"""

from __future__ import annotations

import math

import numpy as np

from landscapes.core import Landscape, Literature, safe_sqrt


def _rosenbrock(x, xp):
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


rosenbrock = Landscape(
    name="rosenbrock",
    formula=_rosenbrock,
    dim=None,
    bounds=(-5.0, 10.0),
    minimizers=lambda d: np.ones((1, d)),
    f_star=0.0,
    source="Rosenbrock (1960); Moré, Garbow & Hillstrom (1981), problems 1 and 21; Surjanovic & Bingham.",
)
"""Rosenbrock function sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2. Global minimum f(1, ..., 1) = 0."""


def _rastrigin(x, xp):
    return 10.0 * x.shape[0] + xp.sum(x**2 - 10.0 * xp.cos(2 * math.pi * x))


rastrigin = Landscape(
    name="rastrigin",
    formula=_rastrigin,
    dim=None,
    bounds=(-5.12, 5.12),
    minimizers=lambda d: np.zeros((1, d)),
    f_star=0.0,
    source="Rastrigin (1974); Jamil & Yang (2013); Surjanovic & Bingham, SFU library, 'rastr'.",
)
"""Rastrigin function 10 d + sum x_i^2 - 10 cos(2 pi x_i). Global minimum f(0) = 0 on [-5.12, 5.12]^d."""


def _ackley(x, xp):
    d = x.shape[0]
    return (-20.0 * xp.exp(-0.2 * safe_sqrt(xp.sum(x**2) / d, xp))
            - xp.exp(xp.sum(xp.cos(2 * math.pi * x)) / d) + 20.0 + math.e)


ackley = Landscape(
    name="ackley",
    formula=_ackley,
    dim=None,
    bounds=(-32.768, 32.768),
    minimizers=lambda d: np.zeros((1, d)),
    f_star=0.0,
    source="Ackley (1987); Jamil & Yang (2013), f1; Surjanovic & Bingham, SFU library, 'ackley'.",
    stationary=False,  # sqrt(sum x^2) makes a cone at the origin: no gradient there
)
"""Ackley function (a = 20, b = 0.2, c = 2 pi). Global minimum f(0) = 0, a cone tip (not smooth)."""


def _sphere(x, xp):
    return xp.sum(x**2)


sphere = Landscape(
    name="sphere",
    formula=_sphere,
    dim=None,
    bounds=(-5.12, 5.12),
    minimizers=lambda d: np.zeros((1, d)),
    f_star=0.0,
    source="De Jong (1975); Jamil & Yang (2013), f(Sphere); Surjanovic & Bingham, 'spheref'.",
    default_dim=4,
)
"""Sphere function sum x_i^2. Global minimum f(0) = 0."""


_ST_ROOT = -2.903534027771177  # root of 4 x^3 - 32 x + 5 (Newton, float64)
_ST_PER_COORDINATE = 0.5 * (_ST_ROOT**4 - 16 * _ST_ROOT**2 + 5 * _ST_ROOT)


def _styblinski_tang(x, xp):
    return 0.5 * xp.sum(x**4 - 16.0 * x**2 + 5.0 * x)


styblinski_tang = Landscape(
    name="styblinski_tang",
    formula=_styblinski_tang,
    dim=None,
    bounds=(-5.0, 5.0),
    minimizers=lambda d: np.full((1, d), _ST_ROOT),
    f_star=lambda d: d * _ST_PER_COORDINATE,
    source="Styblinski & Tang (1990); Surjanovic & Bingham, SFU library, 'stybtang'.",
    # SFU prints f* = -39.16599 d; the float64 value per coordinate is -39.166166, hence digits=3.
    literature=Literature(x=(-2.903534, -2.903534), f=2 * -39.16599, digits=3),
)
"""Styblinski–Tang function. Global minimum f(-2.903534, ...) = -39.166166 d on [-5, 5]^d."""


def _griewank(x, xp):
    i = xp.arange(1, x.shape[0] + 1, dtype=x.dtype)
    return 1.0 + xp.sum(x**2) / 4000.0 - xp.prod(xp.cos(x / xp.sqrt(i)))


griewank = Landscape(
    name="griewank",
    formula=_griewank,
    dim=None,
    bounds=(-600.0, 600.0),
    minimizers=lambda d: np.zeros((1, d)),
    f_star=0.0,
    source="Griewank (1981); Jamil & Yang (2013), f59; Surjanovic & Bingham, SFU library, 'griewank'.",
)
"""Griewank function 1 + sum x_i^2/4000 - prod cos(x_i/sqrt(i)). Global minimum f(0) = 0."""


def _zakharov(x, xp):
    weighted = xp.sum(0.5 * xp.arange(1, x.shape[0] + 1, dtype=x.dtype) * x)
    return xp.sum(x**2) + weighted**2 + weighted**4


zakharov = Landscape(
    name="zakharov",
    formula=_zakharov,
    dim=None,
    bounds=(-5.0, 10.0),
    minimizers=lambda d: np.zeros((1, d)),
    f_star=0.0,
    source="Jamil & Yang (2013), f172; Surjanovic & Bingham, SFU library, 'zakharov'.",
    default_dim=4,
)
"""Zakharov function sum x_i^2 + (sum i x_i / 2)^2 + (sum i x_i / 2)^4. Global minimum f(0) = 0."""


def _dixon_price(x, xp):
    i = xp.arange(2, x.shape[0] + 1, dtype=x.dtype)
    return (x[0] - 1.0) ** 2 + xp.sum(i * (2.0 * x[1:] ** 2 - x[:-1]) ** 2)


def _dixon_price_minimizers(d: int) -> np.ndarray:
    # x_i = 2^(-(2^i - 2) / 2^i); only x_d's sign is free (x_{i-1} = 2 x_i^2 needs x_{i-1} >= 0),
    # so there are exactly two global minimizers.
    i = np.arange(1, d + 1, dtype=np.float64)
    point = 2.0 ** (-(2.0**i - 2.0) / 2.0**i)
    mirrored = point.copy()
    mirrored[-1] = -mirrored[-1]
    return np.stack([point, mirrored])


dixon_price = Landscape(
    name="dixon_price",
    formula=_dixon_price,
    dim=None,
    bounds=(-10.0, 10.0),
    minimizers=_dixon_price_minimizers,
    f_star=0.0,
    source="Dixon & Price (1989); Jamil & Yang (2013), f48; Surjanovic & Bingham, 'dixonpr'.",
    default_dim=4,
)
"""Dixon–Price function. Two global minima x_i = ±2^(-(2^i - 2)/2^i) (sign free in x_d only), f* = 0."""


def _trid(x, xp):
    return xp.sum((x - 1.0) ** 2) - xp.sum(x[1:] * x[:-1])


trid = Landscape(
    name="trid",
    formula=_trid,
    dim=None,
    bounds=lambda d: (-float(d * d), float(d * d)),
    minimizers=lambda d: np.arange(1, d + 1, dtype=np.float64)[None, :]
    * (d + 1 - np.arange(1, d + 1, dtype=np.float64))[None, :],
    f_star=lambda d: -d * (d + 4) * (d - 1) / 6.0,
    source="Jamil & Yang (2013), f(Trid); Surjanovic & Bingham, SFU library, 'trid'.",
    default_dim=4,
)
"""Trid function sum (x_i - 1)^2 - sum x_i x_{i-1} on [-d^2, d^2]^d. x_i* = i (d + 1 - i), f* = -d(d+4)(d-1)/6."""
