"""Classic two-dimensional test functions with known global minima."""

from __future__ import annotations

from landscapes.core import Landscape


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
