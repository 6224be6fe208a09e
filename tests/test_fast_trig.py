"""The vectorized sin and cos agree with the true values to one machine epsilon (absolute), have
each other as derivatives, and stay bounded (NaN for NaN and inf) outside their exact range."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscapes import fast_trig

# |x| up to which the reduction by pi/2 is exact (module docstring), per dtype.
EXACT = {np.float32: 2.0**16 * np.pi / 2, np.float64: 2.0**20 * np.pi / 2}


def _points(dtype, limit):
    rng = np.random.default_rng(7)
    spread = np.concatenate([rng.uniform(-limit, limit, 20000),
                             rng.uniform(-4.0, 4.0, 20000),
                             np.pi / 2 * np.arange(-64, 65),  # where sin or cos is near 0
                             [0.0, -0.0, 1e-30, -1e-30]])
    return spread.astype(dtype)


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("name", ("sin", "cos"))
def test_within_one_epsilon_of_the_true_value(dtype, name):
    x = _points(dtype, EXACT[dtype])
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(getattr(fast_trig, f"fast_{name}"))(jnp.asarray(x)))
    assert got.dtype == dtype
    # The truth in a wider type: float64 for float32, the platform's long double for float64.
    wider = np.float64 if dtype == np.float32 else np.longdouble
    truth = getattr(np, name)(x.astype(wider))
    # Absolute error in units of the dtype's epsilon (|value| <= 1, so 1 ulp of 1 bounds it).
    error = np.abs(got.astype(wider) - truth) / np.finfo(dtype).eps
    worst = int(np.argmax(error))
    assert float(error[worst]) <= 1.0, f"max error {float(error[worst]):.2f} eps at x = {x[worst]!r}"


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_derivatives_are_cos_and_minus_sin(dtype):
    x = _points(dtype, 1000.0)[:2000]
    with jax.enable_x64(True):
        d_sin = np.asarray(jax.vmap(jax.grad(fast_trig.fast_sin))(jnp.asarray(x)))
        d_cos = np.asarray(jax.vmap(jax.grad(fast_trig.fast_cos))(jnp.asarray(x)))
        forward = np.asarray(jax.vmap(jax.jacfwd(fast_trig.fast_sin))(jnp.asarray(x)))
        cos, sin = (np.asarray(f(jnp.asarray(x))) for f in (fast_trig.fast_cos, fast_trig.fast_sin))
    np.testing.assert_array_equal(d_sin, cos)
    np.testing.assert_array_equal(d_cos, -sin)
    np.testing.assert_array_equal(forward, cos)


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_beyond_the_exact_range_bounded_and_non_finite_gives_nan(dtype):
    x = np.array([1e7, -3e9, 1e30, np.finfo(dtype).max, np.inf, -np.inf, np.nan], dtype)
    with jax.enable_x64(True):
        sin = np.asarray(fast_trig.fast_sin(jnp.asarray(x)))
        cos = np.asarray(fast_trig.fast_cos(jnp.asarray(x)))
    finite = np.isfinite(x)
    assert np.all(np.abs(sin[finite]) <= 1.0) and np.all(np.abs(cos[finite]) <= 1.0)
    assert np.all(np.isnan(sin[~finite])) and np.all(np.isnan(cos[~finite]))


def test_numpy_is_numpy_s_own():
    x = np.linspace(-10.0, 10.0, 101)
    np.testing.assert_array_equal(fast_trig.sin(x, np), np.sin(x))
    np.testing.assert_array_equal(fast_trig.cos(x, np), np.cos(x))
