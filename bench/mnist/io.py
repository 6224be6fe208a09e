"""Save and load a trained MLP: the architecture/config as JSON, the weights as ``.npz`` and as Keras HDF5.

The tutorial saved ``model.to_json()`` and HDF5 weights; here ``config.json`` holds the
:class:`~bench.mnist.model.MLPSpec` plus any metadata (optimizer config, classes, scores), and
``weights.npz`` holds one array per params leaf, keyed by its pytree path (``jax.tree_util.keystr``,
e.g. ``[0]['w']``), so the file is readable without this package.

For Keras users the same weights go into two HDF5 files (h5py), for the same network as a
``Sequential`` of ``Dense`` layers (a ``Dropout`` after each hidden one when the spec has dropout):

* ``model.h5`` in the layout of Keras 2's ``model.save("model.h5")``: the architecture as the
  ``model_config`` attribute (Keras 2 JSON, what ``model.to_json()`` gives) and the weights under
  ``model_weights/<layer>/<layer>/kernel:0`` and ``bias:0``, layers named as a fresh Keras session
  names them (``dense``, ``dense_1``, ...). ``keras.models.load_model("model.h5")`` rebuilds the model
  and ``model.load_weights("model.h5")`` fills one built by hand (checked with Keras 3).
* ``model.weights.h5`` in Keras 3's layout (``model.save_weights("model.weights.h5")``):
  ``layers/<dense_k>/vars/0`` (kernel) and ``vars/1`` (bias), for ``model.load_weights``.

A Keras ``Dense`` layer's kernel is (fan_in, fan_out) like our ``w``, so the arrays are written as they
are. Keras's ``gelu`` (exact) and ``leaky_relu`` (slope 0.2) are other functions than ours (tanh
approximation, slope 0.01), so a spec with those activations gets no Keras files (``config.json``'s
``keras`` entry says why).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from bench.mnist.model import MLPSpec, Params, init_params
from landscapes.errors import InputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
KERAS_MODEL_FILE = "model.h5"
KERAS_WEIGHTS_FILE = "model.weights.h5"
FORMAT = "landscape-bench-mlp/1"
# The Keras release whose HDF5 layout model.h5 follows; Keras reads it only to convert Keras 1 files.
KERAS_2_VERSION = "2.15.0"
# Our activation -> Keras's, only where Keras's function computes the same numbers as ours.
KERAS_ACTIVATIONS = {name: name for name in ("relu", "tanh", "sigmoid", "elu", "selu", "softplus", "linear")}


def flatten_params(params: Params) -> dict[str, np.ndarray]:
    """``{pytree path: array}`` for every leaf."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def save_model(directory: str | os.PathLike, spec: MLPSpec, params: Params,
               metadata: dict[str, Any] | None = None) -> Path:
    """Write ``config.json``, ``weights.npz`` and (where :func:`keras_unsupported` finds nothing) the Keras
    files ``model.h5`` and ``model.weights.h5`` into ``directory`` (created if needed); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    not_keras = keras_unsupported(spec)
    keras = {"not_written": not_keras} if not_keras else {"model": KERAS_MODEL_FILE, "weights": KERAS_WEIGHTS_FILE}
    config = {"format": FORMAT, "spec": spec.to_dict(), "metadata": metadata or {}, "keras": keras}
    text = json.dumps(config, indent=2, sort_keys=True, default=_jsonable)
    (directory / CONFIG_FILE).write_text(text)
    np.savez(directory / WEIGHTS_FILE, **flatten_params(params))
    if not not_keras:
        save_keras_model(directory / KERAS_MODEL_FILE, spec, params, extra_config=text)
        save_keras_weights(directory / KERAS_WEIGHTS_FILE, spec, params)
    return directory


def keras_unsupported(spec: MLPSpec) -> str | None:
    """Why ``spec`` has no Keras equivalent, or None if it has one."""
    if spec.activation not in KERAS_ACTIVATIONS:
        return (f"activation {spec.activation!r}: Keras's function of that name computes other numbers than"
                f" jax.nn's; Keras files are written for {', '.join(sorted(KERAS_ACTIVATIONS))}")
    return None


def _keras_name(base: str, index: int) -> str:
    # A fresh Keras session names a class's layers base, base_1, base_2, ...
    return base if index == 0 else f"{base}_{index}"


def keras_model_config(spec: MLPSpec) -> dict[str, Any]:
    """The Keras 2 ``Sequential`` config of ``spec`` (``json.loads(model.to_json())`` without the version
    keys): Dense layers with the spec's units and activations, the output activation on the last,
    Dropout after each hidden layer when the spec has dropout. The kernel initializer is Keras's
    default (it does not matter for trained weights)."""
    reason = keras_unsupported(spec)
    if reason:
        raise InputError(f"no Keras model for this spec: {reason}")
    dense_defaults = {"trainable": True, "dtype": "float32", "use_bias": True,
                      "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                      "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
                      "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                      "bias_constraint": None}
    layers: list[dict[str, Any]] = [{"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, spec.layer_sizes[0]], "dtype": "float32", "sparse": False, "ragged": False,
        "name": "dense_input"}}]
    n_dense = len(spec.layer_sizes) - 1
    for index, units in enumerate(spec.layer_sizes[1:]):
        last = index == n_dense - 1
        layers.append({"class_name": "Dense", "config": {
            "name": _keras_name("dense", index), **dense_defaults, "units": units,
            "activation": spec.output if last else KERAS_ACTIVATIONS[spec.activation]}})
        if not last and spec.dropout > 0.0:
            layers.append({"class_name": "Dropout", "config": {
                "name": _keras_name("dropout", index), "trainable": True, "dtype": "float32", "rate": spec.dropout,
                "noise_shape": None, "seed": None}})
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}


def _keras_layers(spec: MLPSpec) -> list[tuple[str, int | None]]:
    """(Keras name, index of its params layer) of each layer after the input; None for a Dropout."""
    layers = keras_model_config(spec)["config"]["layers"][1:]
    dense = [layer["config"]["name"] for layer in layers if layer["class_name"] == "Dense"]
    return [(layer["config"]["name"], dense.index(layer["config"]["name"]) if layer["class_name"] == "Dense" else None)
            for layer in layers]


def save_keras_model(path: str | os.PathLike, spec: MLPSpec, params: Params, extra_config: str | None = None
                     ) -> Path:
    """Write ``params`` as Keras 2's ``model.save("x.h5")`` lays a model out (see the module docstring).

    ``extra_config``: a JSON text stored as the ``landscape_bench_config`` attribute (``save_model``
    puts its ``config.json`` there, so the file describes itself)."""
    config = keras_model_config(spec)
    layers = _keras_layers(spec)
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = KERAS_2_VERSION.encode()
        f.attrs["backend"] = b"jax"
        f.attrs["model_config"] = json.dumps(config).encode()
        if extra_config is not None:
            f.attrs["landscape_bench_config"] = extra_config.encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([name.encode() for name, _ in layers])
        group.attrs["backend"] = b"jax"
        group.attrs["keras_version"] = KERAS_2_VERSION.encode()
        for name, index in layers:
            layer = group.create_group(name)
            if index is None:  # Dropout: no weights (Keras writes an empty list too)
                layer.attrs["weight_names"] = np.zeros(0)
                continue
            leaf = params[index]
            weight_names = [f"{name}/kernel:0", f"{name}/bias:0"]
            layer.attrs["weight_names"] = np.array([w.encode() for w in weight_names])
            layer.create_dataset(weight_names[0], data=np.asarray(leaf["w"]))
            layer.create_dataset(weight_names[1], data=np.asarray(leaf["b"]))
    return path


def save_keras_weights(path: str | os.PathLike, spec: MLPSpec, params: Params) -> Path:
    """Write ``params`` as Keras 3's ``model.save_weights("x.weights.h5")`` does for the Sequential of
    :func:`keras_model_config`: ``layers/<dense_k>/vars/0`` the kernel, ``vars/1`` the bias.

    Keras 3 addresses a Sequential's layers by class and position (``dense``, ``dense_1``, ...; its
    Dropout layers get empty ``vars`` groups), not by their names, so the file loads into any
    model of that architecture, whatever its layers are called."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = "sequential"
        for name, index in _keras_layers(spec):
            entry = f.create_group(f"layers/{name}").create_group("vars")
            entry.attrs["name"] = name
            if index is not None:
                leaf = params[index]
                entry.create_dataset("0", data=np.asarray(leaf["w"]))
                entry.create_dataset("1", data=np.asarray(leaf["b"]))
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def load_model(directory: str | os.PathLike) -> tuple[MLPSpec, Params, dict[str, Any]]:
    """Read what :func:`save_model` wrote: (spec, params as float arrays, metadata)."""
    directory = Path(directory)
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{directory / CONFIG_FILE}: cannot read model config ({err})") from None
    if config.get("format") != FORMAT:
        raise InputError(f"{directory / CONFIG_FILE}: format {config.get('format')!r}, expected {FORMAT!r}")
    spec = MLPSpec(**{**config["spec"], "layer_sizes": tuple(config["spec"]["layer_sizes"])})
    # The tree structure comes from the spec; the values from the file, matched by path.
    template = jax.eval_shape(lambda: init_params(jax.random.key(0), spec, "zeros", jnp.float32))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    try:
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as archive:
            arrays = []
            for path, shape in leaves:
                name = jax.tree_util.keystr(path)
                if name not in archive.files or archive[name].shape != shape.shape:
                    raise InputError(f"{directory / WEIGHTS_FILE}: expected array {name} of shape {shape.shape}")
                arrays.append(archive[name])
    except OSError as err:
        raise InputError(f"{directory / WEIGHTS_FILE}: cannot read weights ({err})") from None
    return spec, jax.tree_util.tree_unflatten(treedef, arrays), config["metadata"]
