"""Ill-conditioned convex quadratics with a chosen condition number.

After DeepOBS's ``quadratic_deep`` (Schneider, Balles & Hennig 2019), which draws the Hessian's spectrum
to mimic deep-learning losses; here the eigenvalues are log-spaced from 1 to the condition number so
the difficulty is one explicit parameter. The Hessian is diagonal: rotated variants come from
``landscapes.instances`` (rotation, no extra conditioning, so the condition number stays as named).
"""

from __future__ import annotations

import numpy as np

from landscapes.core import Landscape
from landscapes.errors import InputError


def make_quadratic(dim: int | None = None, condition_number: float = 1e3,
                   name: str | None = None) -> Landscape:
    """The quadratic 0.5 sum_i lambda_i x_i^2 with lambda_i = kappa^(i/(d-1)), i = 0..d-1.

    Args:
      dim: a fixed dimension, or None for an N-D landscape (default dimension 4).
      condition_number: kappa = lambda_max / lambda_min >= 1.
      name: the registry name; defaults to ``quadratic_cond_<kappa>`` (e.g. ``quadratic_cond_1e+06``).

    Returns:
      A Landscape with the single minimizer 0 and f* = 0 on [-5, 5]^d.
    """
    kappa = float(condition_number)
    if not np.isfinite(kappa) or kappa < 1.0:
        raise InputError(f"condition_number must be a finite number >= 1; got {condition_number!r}")
    if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 2):
        raise InputError(f"dim must be an integer >= 2 or None; got {dim!r}")

    def formula(x, xp):
        d = x.shape[0]
        eigenvalues = kappa ** (xp.arange(d, dtype=x.dtype) / (d - 1))
        return 0.5 * xp.sum(eigenvalues * x**2)

    return Landscape(
        name=name if name is not None else f"quadratic_cond_{kappa:.0e}",
        formula=formula,
        dim=None if dim is None else int(dim),
        bounds=(-5.0, 5.0) if dim is None else ((-5.0, 5.0),) * int(dim),
        minimizers=(lambda d: np.zeros((1, d))) if dim is None else ((0.0,) * int(dim),),
        f_star=0.0,
        source=("Log-spaced spectrum; after DeepOBS quadratic_deep (Schneider, Balles & Hennig 2019)."
                f" Condition number {kappa:g}."),
        default_dim=4,
        conditionable=False,  # extra conditioning would change the named condition number
    )


ill_conditioned_quadratic = make_quadratic(condition_number=1e3, name="ill_conditioned_quadratic")
"""0.5 sum lambda_i x_i^2, condition number 1e3, N-D (default d = 4). Minimum f(0) = 0."""
