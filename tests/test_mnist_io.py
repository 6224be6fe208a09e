"""Save/load: config JSON + weights npz keyed by pytree path; identical predictions after loading; the
Keras HDF5 files (Keras 2 ``model.h5`` and Keras 3 ``.weights.h5`` layouts) read back with h5py and,
where keras is installed, by Keras itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from bench.mnist.io import flatten_params, keras_model_config, load_model, save_model
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


KERAS_SPEC = MLPSpec(layer_sizes=(20, 8, 6, 3), activation="tanh", dropout=0.2)


def _trained_like(spec: MLPSpec) -> tuple:
    # Nonzero biases, so a kernel/bias mix-up shows.
    params = init_params(jax.random.key(5), spec, "he_normal")
    return tuple({"w": layer["w"], "b": jax.random.normal(jax.random.key(i), layer["b"].shape)}
                 for i, layer in enumerate(params))


def test_keras_h5_files_hold_each_layer_under_its_keras_name(tmp_path: Path) -> None:
    params = _trained_like(KERAS_SPEC)
    save_model(tmp_path, KERAS_SPEC, params, {"test_accuracy": 0.9})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["keras"] == {"model": "model.h5", "weights": "model.weights.h5"}
    names = ["dense", "dense_1", "dense_2"]
    with h5py.File(tmp_path / "model.h5", "r") as f:  # Keras 2's model.save("model.h5") layout
        keras_config = json.loads(f.attrs["model_config"])
        assert keras_config["class_name"] == "Sequential"
        layers = [(layer["class_name"], layer["config"]) for layer in keras_config["config"]["layers"]]
        assert [(kind, c.get("units"), c.get("activation"), c.get("rate")) for kind, c in layers] == [
            ("InputLayer", None, None, None), ("Dense", 8, "tanh", None), ("Dropout", None, None, 0.2),
            ("Dense", 6, "tanh", None), ("Dropout", None, None, 0.2), ("Dense", 3, "softmax", None)]
        assert json.loads(f.attrs["landscape_bench_config"]) == config
        weights = f["model_weights"]
        assert [n.decode() for n in weights.attrs["layer_names"]] == [
            "dense", "dropout", "dense_1", "dropout_1", "dense_2"]
        for name, layer in zip(names, params):
            assert [n.decode() for n in weights[name].attrs["weight_names"]] == [f"{name}/kernel:0", f"{name}/bias:0"]
            np.testing.assert_array_equal(weights[f"{name}/{name}/kernel:0"][()], layer["w"])
            np.testing.assert_array_equal(weights[f"{name}/{name}/bias:0"][()], layer["b"])
        assert len(weights["dropout"].attrs["weight_names"]) == 0
    with h5py.File(tmp_path / "model.weights.h5", "r") as f:  # Keras 3's save_weights layout
        for name, layer in zip(names, params):
            np.testing.assert_array_equal(f[f"layers/{name}/vars/0"][()], layer["w"])
            np.testing.assert_array_equal(f[f"layers/{name}/vars/1"][()], layer["b"])
            assert f[f"layers/{name}/vars/0"].dtype == np.float32


def test_an_activation_keras_computes_otherwise_gets_no_keras_files(tmp_path: Path) -> None:
    spec = MLPSpec(layer_sizes=(4, 3, 2), activation="gelu")
    save_model(tmp_path, spec, init_params(jax.random.key(0), spec))
    assert "'gelu'" in json.loads((tmp_path / "config.json").read_text())["keras"]["not_written"]
    assert not (tmp_path / "model.h5").exists() and not (tmp_path / "model.weights.h5").exists()
    assert load_model(tmp_path)[0] == spec
    with pytest.raises(InputError, match="no Keras model for this spec: activation 'gelu'"):
        keras_model_config(spec)


def test_keras_loads_our_files_and_predicts_as_we_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "KERAS_BACKEND" not in os.environ:  # Keras 3 defaults to TensorFlow, which the project does not install
        monkeypatch.setenv("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    params = _trained_like(KERAS_SPEC)
    save_model(tmp_path, KERAS_SPEC, params)
    x = np.random.default_rng(0).random((7, 20)).astype(np.float32)
    ours = np.asarray(predict_proba(params, x, KERAS_SPEC))
    by_hand = keras.Sequential([keras.Input((20,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dropout(0.2),
                                keras.layers.Dense(6, activation="tanh"), keras.layers.Dropout(0.2),
                                keras.layers.Dense(3, activation="softmax")])
    by_hand.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_allclose(np.asarray(by_hand(x)), ours, atol=1e-5, rtol=0)
    rebuilt = keras.models.load_model(tmp_path / "model.h5", compile=False)  # architecture and weights
    np.testing.assert_allclose(np.asarray(rebuilt(x)), ours, atol=1e-5, rtol=0)
