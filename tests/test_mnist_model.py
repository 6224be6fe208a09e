"""The MLP: shapes, every initializer/activation/loss against its Keras definition, close-name errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.mnist import model
from landscapes.errors import UnknownNameError


def test_registries_are_keyed_by_name() -> None:
    assert set(model.INITIALIZERS) == {"lecun_uniform", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
                                       "lecun_normal", "normal", "uniform", "zeros"}


def test_default_is_the_tutorial_network() -> None:
    spec = model.MLPSpec()
    params = model.init_params(jax.random.key(0), spec)
    assert [p["w"].shape for p in params] == [(784, 512), (512, 512), (512, 10)]
    assert model.apply(params, jnp.zeros((3, 784), jnp.float32), spec).shape == (3, 10)
    np.testing.assert_allclose(model.predict_proba(params, jnp.ones((2, 784)), spec).sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(model.INITIALIZERS))
def test_each_initializer(name: str) -> None:
    spec = model.MLPSpec(layer_sizes=(400, 300, 10))
    w = np.asarray(model.init_params(jax.random.key(1), spec, name)[0]["w"])
    assert w.shape == (400, 300) and w.dtype == np.float32
    fan_in, fan_out = 400, 300
    expected_std = {"lecun_uniform": np.sqrt(1 / fan_in), "lecun_normal": np.sqrt(1 / fan_in),
                    "glorot_uniform": np.sqrt(2 / (fan_in + fan_out)), "glorot_normal": np.sqrt(2 / (fan_in + fan_out)),
                    "he_uniform": np.sqrt(2 / fan_in), "he_normal": np.sqrt(2 / fan_in),
                    "normal": 0.05, "uniform": 0.1 / np.sqrt(12), "zeros": 0.0}[name]
    assert abs(w.mean()) < 0.01
    np.testing.assert_allclose(w.std(), expected_std, rtol=0.05, atol=1e-12)
    if name == "uniform":
        assert -0.05 <= w.min() and w.max() <= 0.05


@pytest.mark.parametrize("name", sorted(model.ACTIVATIONS))
def test_each_activation(name: str) -> None:
    spec = model.MLPSpec(layer_sizes=(4, 3, 2), activation=name)
    params = model.init_params(jax.random.key(2), spec)
    x = jnp.linspace(-1, 1, 8, dtype=jnp.float32).reshape(2, 4)
    hidden = model.ACTIVATIONS[name](x @ params[0]["w"] + params[0]["b"])
    np.testing.assert_allclose(model.apply(params, x, spec), hidden @ params[1]["w"] + params[1]["b"], rtol=1e-6)


def keras_loss_np(name: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    eps = 1e-7
    if name == "categorical_crossentropy":
        return -(y * np.log(np.clip(p, eps, 1 - eps))).sum(-1)
    if name == "mean_squared_error":
        return ((y - p) ** 2).mean(-1)
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


@pytest.mark.parametrize("name", sorted(model.LOSSES))
def test_each_loss_matches_keras_formula(name: str) -> None:
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    targets = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    spec = model.MLPSpec(layer_sizes=(2, 3), loss=name)
    np.testing.assert_allclose(model.per_example_loss(jnp.asarray(logits), jnp.asarray(targets), spec),
                               keras_loss_np(name, targets, p), rtol=1e-6)


def test_mse_alias_and_unknown_names_list_close_ones() -> None:
    assert model.MLPSpec(loss="mse").loss == "mean_squared_error"
    with pytest.raises(UnknownNameError, match="glorot_uniform"):
        model.init_params(jax.random.key(0), model.MLPSpec(), "glorot_unifrom")
    with pytest.raises(UnknownNameError, match="relu"):
        model.MLPSpec(activation="rleu")
    with pytest.raises(UnknownNameError, match="binary_crossentropy"):
        model.MLPSpec(loss="binary_crossentropi")


def test_dropout_only_with_a_key() -> None:
    spec = model.MLPSpec(layer_sizes=(6, 50, 3), dropout=0.5)
    params = model.init_params(jax.random.key(3), spec)
    x = jnp.ones((4, 6), jnp.float32)
    np.testing.assert_array_equal(model.apply(params, x, spec), model.apply(params, x, spec))
    assert not np.allclose(model.apply(params, x, spec, dropout_key=jax.random.key(4)), model.apply(params, x, spec))
