"""DeepOBS's stochastic two-dimensional problems: Beale, Rosenbrock and Branin with noisy gradients.

DeepOBS (Schneider, Balles & Hennig 2019, ``two_d_beale``, ``two_d_rosenbrock``, ``two_d_branin``)
adds u·x + v·y per example with (x, y) ~ N(0, I): the loss stays f(u, v) in expectation and each
gradient gets N(0, I) noise. Here the same formula is kept exact (metrics use it) and
``noise_scale`` is the standard deviation of the Gaussian added to every gradient by
``landscapes.noise.noisy_grad``. noise_scale = 1.0 is DeepOBS's per-example noise (batch size 1);
a DeepOBS mini-batch of size B corresponds to 1/sqrt(B) (0.088 for its default B = 128).
"""

from __future__ import annotations

import dataclasses

from landscapes.classic_2d import beale, branin
from landscapes.nd import rosenbrock

_DEEPOBS = "Schneider, Balles & Hennig (2019), DeepOBS two_d problems; "

noisy_beale = dataclasses.replace(
    beale, name="noisy_beale", noise_scale=1.0, source=_DEEPOBS + beale.source)
"""Beale with N(0, I) gradient noise (DeepOBS two_d_beale). f(3, 0.5) = 0."""

noisy_rosenbrock = dataclasses.replace(
    rosenbrock, name="noisy_rosenbrock", dim=2, bounds=((-5.0, 10.0), (-5.0, 10.0)),
    minimizers=((1.0, 1.0),), noise_scale=1.0, source=_DEEPOBS + rosenbrock.source)
"""2-D Rosenbrock with N(0, I) gradient noise (DeepOBS two_d_rosenbrock). f(1, 1) = 0."""

noisy_branin = dataclasses.replace(
    branin, name="noisy_branin", noise_scale=1.0, source=_DEEPOBS + branin.source)
"""Branin with N(0, I) gradient noise (DeepOBS two_d_branin). Three minima, f* = 5/(4 pi)."""
