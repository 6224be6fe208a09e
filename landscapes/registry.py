"""The registry of test landscapes: ``LANDSCAPES`` maps a name to its :class:`Landscape`;
``get_landscape`` looks one up with a helpful error; ``register`` adds a user's landscape so it is
certified, tested and benchmarked like the others. Read through the package: ``landscapes.LANDSCAPES``.
"""

from __future__ import annotations

from landscapes.bbob import BBOB_LANDSCAPES
from landscapes.classic_2d import (beale, booth, branin, goldstein_price, himmelblau, matyas,
                                   mccormick, six_hump_camel, three_hump_camel)
from landscapes.core import Landscape, Literature
from landscapes.errors import YOUR_OWN, InputError, UnknownNameError, unknown_name
from landscapes.multimodal import (bukin_n6, cross_in_tray, easom, eggholder, holder_table,
                                   levi_n13, michalewicz, schaffer_n2, schaffer_n4)
from landscapes.nd import (ackley, dixon_price, griewank, rastrigin, rosenbrock, sphere,
                           styblinski_tang, trid, zakharov)
from landscapes.noisy_2d import noisy_beale, noisy_branin, noisy_rosenbrock
from landscapes.quadratic import ill_conditioned_quadratic, make_quadratic

LANDSCAPES: dict[str, Landscape] = {l.name: l for l in (
    # classic smooth 2-D
    beale, booth, branin, goldstein_price, himmelblau, matyas, mccormick, six_hump_camel,
    three_hump_camel,
    # multimodal 2-D
    bukin_n6, cross_in_tray, easom, eggholder, holder_table, levi_n13, michalewicz, schaffer_n2,
    schaffer_n4,
    # any dimension
    ackley, dixon_price, griewank, rastrigin, rosenbrock, sphere, styblinski_tang, trid, zakharov,
    ill_conditioned_quadratic,
    # DeepOBS's noisy 2-D problems
    noisy_beale, noisy_branin, noisy_rosenbrock,
    # COCO's 24 noiseless BBOB functions, instance 1 (bbob_f01 .. bbob_f24)
    *BBOB_LANDSCAPES,
)}


def get_landscape(name: str) -> Landscape:
    """The registered landscape called ``name``; unknown names raise an error listing close ones."""
    try:
        return LANDSCAPES[name]
    except KeyError:
        raise unknown_name("landscape", name, LANDSCAPES, YOUR_OWN) from None


def register(landscape: Landscape, *, replace: bool = False) -> Landscape:
    """Add ``landscape`` to the registry and return it (usable as a decorator-style one-liner).

    The record is checked first (:meth:`Landscape.check`: name, minimizers in the box, f(x*) == f*);
    a problem is a one-line InputError and nothing is registered."""
    if not isinstance(landscape, Landscape):
        raise InputError(f"register() takes a Landscape, got {type(landscape).__name__}")
    landscape.check()  # a wrong f* or minimizer would give negative gaps and false successes
    if landscape.name in LANDSCAPES and not replace:
        raise InputError(f"a landscape named {landscape.name!r} is already registered;"
                         " pick another name or pass replace=True")
    LANDSCAPES[landscape.name] = landscape
    return landscape


__all__ = ["LANDSCAPES", "InputError", "Landscape", "Literature", "UnknownNameError",
           "get_landscape", "make_quadratic", "register"]
