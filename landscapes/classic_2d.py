"""Classic smooth two-dimensional test functions with known global minima.

Formulas and boxes follow Moré, Garbow & Hillstrom (1981), Jamil & Yang (2013, "A literature survey of
benchmark functions for global optimization problems") and the SFU virtual library of simulation
experiments (Surjanovic & Bingham). Where the literature prints a minimizer to a few digits only, the
stored minimizer was refined offline by Newton's method on the float64 gradient (``jax.hessian``), and
the printed value is kept in ``literature`` so a test checks that the two agree.
"""

from __future__ import annotations

import math

from landscapes.core import Landscape, Literature


def _beale(x, xp):
    x1, x2 = x[0], x[1]
    return ((1.5 - x1 + x1 * x2) ** 2 + (2.25 - x1 + x1 * x2**2) ** 2
            + (2.625 - x1 + x1 * x2**3) ** 2)


beale = Landscape(
    name="beale",
    formula=_beale,
    dim=2,
    bounds=((-4.5, 4.5), (-4.5, 4.5)),
    minimizers=((3.0, 0.5),),
    f_star=0.0,
    source="Beale (1958); Moré, Garbow & Hillstrom (1981), problem 5; Jamil & Yang (2013), f10.",
)
"""Beale function. Global minimum f(3, 0.5) = 0 on [-4.5, 4.5]^2."""


def _booth(x, xp):
    return (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2


booth = Landscape(
    name="booth",
    formula=_booth,
    dim=2,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    minimizers=((1.0, 3.0),),
    f_star=0.0,
    source="Jamil & Yang (2013), f17; Surjanovic & Bingham, SFU library, 'booth'.",
)
"""Booth function (x1 + 2 x2 - 7)^2 + (2 x1 + x2 - 5)^2. Global minimum f(1, 3) = 0."""


def _matyas(x, xp):
    return 0.26 * (x[0] ** 2 + x[1] ** 2) - 0.48 * x[0] * x[1]


matyas = Landscape(
    name="matyas",
    formula=_matyas,
    dim=2,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    minimizers=((0.0, 0.0),),
    f_star=0.0,
    source="Jamil & Yang (2013), f71; Surjanovic & Bingham, SFU library, 'matya'.",
)
"""Matyas function 0.26 (x1^2 + x2^2) - 0.48 x1 x2: a flat, ill-conditioned valley. f(0, 0) = 0."""


def _three_hump_camel(x, xp):
    x1, x2 = x[0], x[1]
    return 2 * x1**2 - 1.05 * x1**4 + x1**6 / 6 + x1 * x2 + x2**2


three_hump_camel = Landscape(
    name="three_hump_camel",
    formula=_three_hump_camel,
    dim=2,
    bounds=((-5.0, 5.0), (-5.0, 5.0)),
    minimizers=((0.0, 0.0),),
    f_star=0.0,
    source="Jamil & Yang (2013), f29; Surjanovic & Bingham, SFU library, 'camel3'.",
)
"""Three-hump camel 2 x1^2 - 1.05 x1^4 + x1^6/6 + x1 x2 + x2^2. Global minimum f(0, 0) = 0."""


def _six_hump_camel(x, xp):
    x1, x2 = x[0], x[1]
    return (4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2


_SIX_HUMP = (0.08984201310031806, -0.7126564030207396)
six_hump_camel = Landscape(
    name="six_hump_camel",
    formula=_six_hump_camel,
    dim=2,
    bounds=((-3.0, 3.0), (-2.0, 2.0)),
    minimizers=(_SIX_HUMP, (-_SIX_HUMP[0], -_SIX_HUMP[1])),
    f_star=-1.0316284534898774,
    source="Dixon & Szegö (1978); Jamil & Yang (2013), f30; Surjanovic & Bingham, 'camel6'.",
    literature=Literature(x=(0.0898, -0.7126), f=-1.0316, digits=4),
)
"""Six-hump camel. Two global minima f(±(0.0898, -0.7126)) = -1.0316 on [-3, 3] x [-2, 2]."""


def _goldstein_price(x, xp):
    x1, x2 = x[0], x[1]
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1**2 - 14 * x2 + 6 * x1 * x2 + 3 * x2**2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1**2 + 48 * x2 - 36 * x1 * x2
                                       + 27 * x2**2)
    return a * b


goldstein_price = Landscape(
    name="goldstein_price",
    formula=_goldstein_price,
    dim=2,
    bounds=((-2.0, 2.0), (-2.0, 2.0)),
    minimizers=((0.0, -1.0),),
    f_star=3.0,
    source="Goldstein & Price (1971); Jamil & Yang (2013), f58; Surjanovic & Bingham, 'goldpr'.",
)
"""Goldstein–Price function. Global minimum f(0, -1) = 3 on [-2, 2]^2; values span six decades."""


def _mccormick(x, xp):
    x1, x2 = x[0], x[1]
    return xp.sin(x1 + x2) + (x1 - x2) ** 2 - 1.5 * x1 + 2.5 * x2 + 1


# grad = 0 gives cos(x1 + x2) = -1/2 and x1 - x2 = 1 exactly, so x* = (1/2 - pi/3, -1/2 - pi/3).
mccormick = Landscape(
    name="mccormick",
    bounded_domain=True,
    formula=_mccormick,
    dim=2,
    bounds=((-1.5, 4.0), (-3.0, 4.0)),
    minimizers=((0.5 - math.pi / 3, -0.5 - math.pi / 3),),
    f_star=-1.9132229549810362,
    source="McCormick (1976); Jamil & Yang (2013), f77; Surjanovic & Bingham, 'mccorm'.",
    literature=Literature(x=(-0.54719, -1.54719), f=-1.9133, digits=4),
    # Unbounded below along x1 = x2 -> -inf; a rotated box reaches values below f*.
    rotatable=False,
    conditionable=False,
)
"""McCormick function sin(x1 + x2) + (x1 - x2)^2 - 1.5 x1 + 2.5 x2 + 1. f(-0.54719, -1.54719) = -1.9133."""


def _branin(x, xp):
    x1, x2 = x[0], x[1]
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * xp.cos(x1) + 10


branin = Landscape(
    name="branin",
    formula=_branin,
    dim=2,
    bounds=((-5.0, 10.0), (0.0, 15.0)),
    minimizers=((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475)),
    f_star=0.39788735772973816,
    source="Branin (1972); Dixon & Szegö (1978); Jamil & Yang (2013), f22; Surjanovic & Bingham.",
    literature=Literature(x=(9.42478, 2.475), f=0.397887, digits=5),
    # Periodic in x1: conditioning would stretch the box onto the next minima (x1 = 5 pi, ...).
    conditionable=False,
)
"""Branin–Hoo function. Three global minima (-pi, 12.275), (pi, 2.275), (3 pi, 2.475), f* = 5/(4 pi)."""


def _himmelblau(x, xp):
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


himmelblau = Landscape(
    name="himmelblau",
    formula=_himmelblau,
    dim=2,
    bounds=((-5.0, 5.0), (-5.0, 5.0)),
    minimizers=((3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.2831859912861696),
                (3.5844283403304917, -1.8481265269644034)),
    f_star=0.0,
    source="Himmelblau (1972); Jamil & Yang (2013), f65 ('Himmelblau').",
    literature=Literature(x=(-2.805118, 3.131312), f=0.0, digits=6),
)
"""Himmelblau function. Four global minima with f* = 0, one at (3, 2), on [-5, 5]^2."""
