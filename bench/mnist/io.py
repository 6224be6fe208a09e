"""Save and load a trained MLP: the architecture/config as JSON, the weights as ``.npz``.

The tutorial saved ``model.to_json()`` and HDF5 weights; here ``config.json`` holds the
:class:`~bench.mnist.model.MLPSpec` plus any metadata (optimizer config, classes, scores), and
``weights.npz`` holds one array per params leaf, keyed by its pytree path (``jax.tree_util.keystr``,
e.g. ``[0]['w']``), so the file is readable without this package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.mnist.model import MLPSpec, Params, init_params
from landscapes.errors import InputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
FORMAT = "landscape-bench-mlp/1"


def flatten_params(params: Params) -> dict[str, np.ndarray]:
    """``{pytree path: array}`` for every leaf."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def save_model(directory: str | os.PathLike, spec: MLPSpec, params: Params,
               metadata: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` and ``weights.npz`` into ``directory`` (created if needed); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "spec": spec.to_dict(), "metadata": metadata or {}}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True, default=_jsonable))
    np.savez(directory / WEIGHTS_FILE, **flatten_params(params))
    return directory


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
