"""Stochastic gradients for landscapes with ``noise_scale > 0``.

DeepOBS's two_d problems add a random linear term xi^T x (xi ~ N(0, I)) to the loss at every step; its
gradient is grad f(x) + xi, so the noisy gradient below is exactly that, scaled by ``noise_scale``.
Metrics always use the exact function.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from landscapes.core import Landscape


def noisy_grad(landscape: Landscape, noise_scale=None) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``(x, key) -> grad f(x) + noise_scale * N(0, I)``, pure and jit/vmap-able.

    Args:
      landscape: the landscape; its ``noise_scale`` is used unless one is given.
      noise_scale: overrides the landscape's; may be a traced array (a sweep over noise levels).

    Returns:
      The stochastic gradient function. With noise scale 0 it returns the exact gradient (the key is
      still consumed, so the program is the same for every landscape).
    """
    scale = landscape.noise_scale if noise_scale is None else noise_scale
    exact_grad = jax.grad(landscape.fn)

    def gradient(x: jax.Array, key: jax.Array) -> jax.Array:
        noise = jax.random.normal(key, jnp.shape(x), dtype=jnp.result_type(x))
        return exact_grad(x) + jnp.asarray(scale, dtype=jnp.result_type(x)) * noise

    return gradient
