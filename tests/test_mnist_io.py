"""Save/load: config JSON + weights npz keyed by pytree path; identical predictions after loading."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from bench.mnist.io import flatten_params, load_model, save_model
from bench.mnist.model import MLPSpec, init_params, predict_proba
from landscapes.errors import InputError


def test_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    spec = MLPSpec(layer_sizes=(20, 8, 6, 3), activation="tanh", dropout=0.2)
    params = init_params(jax.random.key(5), spec, "he_normal")
    save_model(tmp_path, spec, params, {"best_params": {"learning_rate": 0.1}})
    loaded_spec, loaded, metadata = load_model(tmp_path)
    assert loaded_spec == spec and metadata == {"best_params": {"learning_rate": 0.1}}
    for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(0).random((7, 20)).astype(np.float32)
    predict = jax.jit(predict_proba, static_argnames="spec")
    np.testing.assert_array_equal(predict(loaded, x, loaded_spec), predict(params, x, spec))
    assert set(np.load(tmp_path / "weights.npz").files) == set(flatten_params(params)) == {
        "[0]['w']", "[0]['b']", "[1]['w']", "[1]['b']", "[2]['w']", "[2]['b']"}
    assert json.loads((tmp_path / "config.json").read_text())["spec"]["layer_sizes"] == [20, 8, 6, 3]


def test_wrong_weights_are_an_input_error(tmp_path: Path) -> None:
    spec = MLPSpec(layer_sizes=(4, 3))
    save_model(tmp_path, spec, init_params(jax.random.key(0), spec))
    np.savez(tmp_path / "weights.npz", **{"[0]['w']": np.zeros((3, 3)), "[0]['b']": np.zeros(3)})
    with pytest.raises(InputError, match=r"\[0\]\['w'\] of shape \(4, 3\)"):
        load_model(tmp_path)
    with pytest.raises(InputError, match="config.json"):
        load_model(tmp_path / "missing")
