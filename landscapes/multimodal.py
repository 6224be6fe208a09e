"""Multimodal two-dimensional test functions: many local minima, kinks, minima on the box edge.

Formulas and boxes follow Jamil & Yang (2013, "A literature survey of benchmark functions for global
optimization problems") and the SFU virtual library (Surjanovic & Bingham). Minimizers the literature
prints to a few digits were refined offline by Newton's method on the float64 gradient along the exact
symmetry (x1 = x2 for cross-in-tray, x1 = 512 for Eggholder, x2 = pi/2 for Michalewicz, x1 = 0 for
Schaffer N.4); the printed values are kept in ``literature``.
"""

from __future__ import annotations

import math

from landscapes.core import Landscape, Literature, safe_sqrt


def _levi_n13(x, xp):
    x1, x2 = x[0], x[1]
    return (xp.sin(3 * math.pi * x1) ** 2 + (x1 - 1) ** 2 * (1 + xp.sin(3 * math.pi * x2) ** 2)
            + (x2 - 1) ** 2 * (1 + xp.sin(2 * math.pi * x2) ** 2))


levi_n13 = Landscape(
    name="levi_n13",
    formula=_levi_n13,
    dim=2,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    minimizers=((1.0, 1.0),),
    f_star=0.0,
    source="Surjanovic & Bingham, SFU library, 'levy13'; Jamil & Yang (2013), f(Levy 13).",
)
"""Lévi function N.13. Global minimum f(1, 1) = 0 on [-10, 10]^2 among a grid of local minima."""


def _easom(x, xp):
    x1, x2 = x[0], x[1]
    return -xp.cos(x1) * xp.cos(x2) * xp.exp(-((x1 - math.pi) ** 2 + (x2 - math.pi) ** 2))


easom = Landscape(
    name="easom",
    formula=_easom,
    dim=2,
    bounds=((-100.0, 100.0), (-100.0, 100.0)),
    minimizers=((math.pi, math.pi),),
    f_star=-1.0,
    source="Easom (1990); Jamil & Yang (2013), f50; Surjanovic & Bingham, 'easom'.",
)
"""Easom function: flat almost everywhere, one narrow hole f(pi, pi) = -1 on [-100, 100]^2."""


def _bukin_n6(x, xp):
    x1, x2 = x[0], x[1]
    # 100 sqrt|x2 - 0.01 x1^2| written as 10 sqrt|100 x2 - x1^2|: every step is exact at (-10, 1),
    # whereas XLA's fused multiply-add leaves 2e-17 under the sqrt of the textbook form (f = 5e-7).
    return 10 * safe_sqrt(xp.abs(100 * x2 - x1**2), xp) + 0.01 * xp.abs(x1 + 10)


bukin_n6 = Landscape(
    name="bukin_n6",
    formula=_bukin_n6,
    dim=2,
    bounds=((-15.0, -5.0), (-3.0, 3.0)),
    minimizers=((-10.0, 1.0),),
    f_star=0.0,
    source="Bukin; Jamil & Yang (2013), f28; Surjanovic & Bingham, 'bukin6'.",
    stationary=False,  # the minimum sits on the kink of sqrt|x2 - 0.01 x1^2| and of |x1 + 10|
)
"""Bukin function N.6: a non-differentiable ridge; global minimum f(-10, 1) = 0."""


def _cross_in_tray(x, xp):
    x1, x2 = x[0], x[1]
    exponent = xp.abs(100 - safe_sqrt(x1**2 + x2**2, xp) / math.pi)
    # (|s| e^a + 1)^0.1 = e^(a/10) (|s| + e^-a)^0.1: e^a reaches e^100, past float32's range, while
    # e^(a/10) does not. The floor keeps float32's flushed e^-a away from 0^0.1 (infinite gradient).
    sines = xp.abs(xp.sin(x1) * xp.sin(x2))
    base = xp.maximum(sines + xp.exp(-exponent), xp.finfo(sines.dtype).tiny)
    return -0.0001 * xp.exp(exponent / 10) * base**0.1


_CROSS = 1.3494066171539107
cross_in_tray = Landscape(
    name="cross_in_tray",
    formula=_cross_in_tray,
    dim=2,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    minimizers=((_CROSS, _CROSS), (_CROSS, -_CROSS), (-_CROSS, _CROSS), (-_CROSS, -_CROSS)),
    f_star=-2.0626118708227366,
    source="Jamil & Yang (2013), f39; Surjanovic & Bingham, SFU library, 'crossit'.",
    literature=Literature(x=(1.3491, 1.3491), f=-2.06261, digits=3),
)
"""Cross-in-tray function. Four global minima f(±1.3491, ±1.3491) = -2.06261 on [-10, 10]^2.

Surjanovic & Bingham print 1.3491 but the float64 minimizer is 1.34941, so ``digits=3``.
"""


def _holder_table(x, xp):
    x1, x2 = x[0], x[1]
    radius = safe_sqrt(x1**2 + x2**2, xp)
    return -xp.abs(xp.sin(x1) * xp.cos(x2) * xp.exp(xp.abs(1 - radius / math.pi)))


_HOLDER = (8.055023475736563, 9.664590019241272)
holder_table = Landscape(
    name="holder_table",
    bounded_domain=True,
    formula=_holder_table,
    dim=2,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    minimizers=(_HOLDER, (_HOLDER[0], -_HOLDER[1]), (-_HOLDER[0], _HOLDER[1]),
                (-_HOLDER[0], -_HOLDER[1])),
    f_star=-19.208502567886732,
    source="Mishra (2006); Jamil & Yang (2013), f146; Surjanovic & Bingham, 'holder'.",
    literature=Literature(x=(8.05502, 9.66459), f=-19.2085, digits=4),
    # exp(|1 - r/pi|) grows without bound: any shift or rotation of the box exposes lower values.
    shiftable=False,
    rotatable=False,
    conditionable=False,
)
"""Hölder table function. Four global minima f(±8.05502, ±9.66459) = -19.2085 near the corners."""


def _eggholder(x, xp):
    x1, x2 = x[0], x[1]
    return (-(x2 + 47) * xp.sin(xp.sqrt(xp.abs(x2 + x1 / 2 + 47)))
            - x1 * xp.sin(xp.sqrt(xp.abs(x1 - (x2 + 47)))))


eggholder = Landscape(
    name="eggholder",
    bounded_domain=True,
    formula=_eggholder,
    dim=2,
    bounds=((-512.0, 512.0), (-512.0, 512.0)),
    minimizers=((512.0, 404.2318051137578),),
    f_star=-959.6406627208507,
    source="Whitley et al. (1996); Jamil & Yang (2013), f54; Surjanovic & Bingham, 'egg'.",
    literature=Literature(x=(512.0, 404.2319), f=-959.6407, digits=3),
    stationary=False,  # the minimizer lies on the edge x1 = 512; the gradient there is not zero
    shiftable=False,
    rotatable=False,
    conditionable=False,
)
"""Eggholder function. Global minimum f(512, 404.2319) = -959.6407 on the edge of [-512, 512]^2."""


def _schaffer_n2(x, xp):
    x1, x2 = x[0], x[1]
    return 0.5 + (xp.sin(x1**2 - x2**2) ** 2 - 0.5) / (1 + 0.001 * (x1**2 + x2**2)) ** 2


schaffer_n2 = Landscape(
    name="schaffer_n2",
    formula=_schaffer_n2,
    dim=2,
    bounds=((-100.0, 100.0), (-100.0, 100.0)),
    minimizers=((0.0, 0.0),),
    f_star=0.0,
    source="Schaffer; Jamil & Yang (2013), f112; Surjanovic & Bingham, 'schaffer2'.",
)
"""Schaffer function N.2. Global minimum f(0, 0) = 0 on [-100, 100]^2."""


def _schaffer_n4(x, xp):
    x1, x2 = x[0], x[1]
    return 0.5 + ((xp.cos(xp.sin(xp.abs(x1**2 - x2**2))) ** 2 - 0.5)
                  / (1 + 0.001 * (x1**2 + x2**2)) ** 2)


_SCHAFFER4 = 1.2531318314637332
schaffer_n4 = Landscape(
    name="schaffer_n4",
    formula=_schaffer_n4,
    dim=2,
    bounds=((-100.0, 100.0), (-100.0, 100.0)),
    minimizers=((0.0, _SCHAFFER4), (0.0, -_SCHAFFER4), (_SCHAFFER4, 0.0), (-_SCHAFFER4, 0.0)),
    f_star=0.29257863203598056,
    source="Schaffer; Jamil & Yang (2013), f114; Surjanovic & Bingham, 'schaffer4'.",
    literature=Literature(x=(0.0, 1.25313), f=0.292579, digits=5),
)
"""Schaffer function N.4. Four global minima (0, ±1.25313), (±1.25313, 0) with f* = 0.292579.

|x1^2 - x2^2| is smooth there (x1^2 != x2^2), so the gradient vanishes at every minimizer.
"""


def _michalewicz(x, xp):
    i = xp.arange(1, x.shape[0] + 1, dtype=x.dtype)
    return -xp.sum(xp.sin(x) * xp.sin(i * x**2 / math.pi) ** 20)


michalewicz = Landscape(
    name="michalewicz",
    bounded_domain=True,
    formula=_michalewicz,
    dim=2,
    bounds=((0.0, math.pi), (0.0, math.pi)),
    minimizers=((2.2029055201726093, math.pi / 2),),
    f_star=-1.8013034100985528,
    source="Michalewicz (1992); Jamil & Yang (2013), f(Michalewicz), m = 10; Surjanovic & Bingham.",
    literature=Literature(x=(2.20, 1.57), f=-1.8013, digits=2),
    # Outside [0, pi] the sine factors repeat: a rotated or stretched box reaches values below f*.
    rotatable=False,
    conditionable=False,
)
"""Michalewicz function (m = 10), 2-D. Global minimum f(2.20, 1.57) = -1.8013 on [0, pi]^2."""
