"""A multilayer perceptron as pure functions on a params pytree (no framework).

``params`` is a tuple of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dicts, one per dense layer. The
hidden layers apply ``activation`` (and inverted dropout while training); the last layer's outputs are
logits and ``output`` (softmax by default) turns them into class probabilities, as a Keras
``Dense(10, activation="softmax")`` does. Initializers follow Keras's names on top of
``jax.nn.initializers``; losses follow Keras's definitions (``keras.losses``), including its clipping of
probabilities to [1e-7, 1 − 1e-7] where a logarithm of a probability is taken.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from landscapes.errors import InputError, unknown_name

Params = tuple[dict[str, jax.Array], ...]
EPSILON = 1e-7  # keras.backend.epsilon()

INITIALIZERS: Mapping[str, Callable[..., Any]] = {
    # Keras defaults for the scale-free ones; "normal"/"uniform" are Keras 2's RandomNormal(0, 0.05)
    # and RandomUniform(-0.05, 0.05), the values the tutorial's grid used.
    "lecun_uniform": jax.nn.initializers.lecun_uniform(),
    "lecun_normal": jax.nn.initializers.lecun_normal(),
    "glorot_uniform": jax.nn.initializers.glorot_uniform(),
    "glorot_normal": jax.nn.initializers.glorot_normal(),
    "he_uniform": jax.nn.initializers.he_uniform(),
    "he_normal": jax.nn.initializers.he_normal(),
    "normal": jax.nn.initializers.normal(stddev=0.05),
    "uniform": jax.nn.initializers.uniform(scale=0.1),  # U[0, 0.1) shifted to U[-0.05, 0.05) in init_params
    "zeros": jax.nn.initializers.zeros,
}

ACTIVATIONS: Mapping[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
    "leaky_relu": jax.nn.leaky_relu,
    "linear": lambda x: x,
}

OUTPUTS: Mapping[str, Callable[[jax.Array], jax.Array]] = {
    "softmax": jax.nn.softmax,
    "sigmoid": jax.nn.sigmoid,
}


def _clipped(probabilities: jax.Array) -> jax.Array:
    return jnp.clip(probabilities, EPSILON, 1.0 - EPSILON)


def categorical_crossentropy(logits: jax.Array, targets: jax.Array, output: str) -> jax.Array:
    """−Σ_k y_k log p_k per example; from the logits (log-softmax) when the output is softmax, as Keras does."""
    if output == "softmax":
        return -jnp.sum(targets * jax.nn.log_softmax(logits), axis=-1)
    probabilities = OUTPUTS[output](logits)
    probabilities = probabilities / jnp.sum(probabilities, axis=-1, keepdims=True)
    return -jnp.sum(targets * jnp.log(_clipped(probabilities)), axis=-1)


def mean_squared_error(logits: jax.Array, targets: jax.Array, output: str) -> jax.Array:
    """mean_k (y_k − p_k)² per example (Keras ``mse`` on the probabilities)."""
    return jnp.mean((targets - OUTPUTS[output](logits)) ** 2, axis=-1)


def binary_crossentropy(logits: jax.Array, targets: jax.Array, output: str) -> jax.Array:
    """mean_k −[y_k log p_k + (1 − y_k) log(1 − p_k)] per example, p clipped to [ε, 1 − ε] (Keras)."""
    p = _clipped(OUTPUTS[output](logits))
    return -jnp.mean(targets * jnp.log(p) + (1.0 - targets) * jnp.log(1.0 - p), axis=-1)


LOSSES: Mapping[str, Callable[[jax.Array, jax.Array, str], jax.Array]] = {
    "categorical_crossentropy": categorical_crossentropy,
    "mean_squared_error": mean_squared_error,
    "binary_crossentropy": binary_crossentropy,
}
LOSS_ALIASES: Mapping[str, str] = {"mse": "mean_squared_error", "crossentropy": "categorical_crossentropy"}


def _lookup(kind: str, name: str, registry: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> str:
    name = (aliases or {}).get(name, name)
    if name not in registry:
        raise unknown_name(kind, name, registry)
    return name


def check_initializer(name: str) -> str:
    """``name`` if it is a known initializer, else an error listing close names."""
    return _lookup("initializer", name, INITIALIZERS)


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """Architecture and loss of an MLP; hashable, so it can be a static argument of a jitted program.

    Attributes:
      layer_sizes: input, hidden..., output widths (default 784-512-512-10, the tutorial's network).
      activation: hidden-layer activation.
      output: output activation (``softmax`` or ``sigmoid``).
      loss: ``categorical_crossentropy``, ``mean_squared_error`` (``mse``) or ``binary_crossentropy``.
      dropout: rate of inverted dropout after each hidden layer while training (0 = none).
    """

    layer_sizes: tuple[int, ...] = (784, 512, 512, 10)
    activation: str = "relu"
    output: str = "softmax"
    loss: str = "categorical_crossentropy"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.layer_sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise InputError(f"layer_sizes must be at least (inputs, outputs), all >= 1; got {self.layer_sizes}")
        object.__setattr__(self, "layer_sizes", sizes)
        object.__setattr__(self, "activation", _lookup("activation", self.activation, ACTIVATIONS))
        object.__setattr__(self, "output", _lookup("output activation", self.output, OUTPUTS))
        object.__setattr__(self, "loss", _lookup("loss", self.loss, LOSSES, LOSS_ALIASES))
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "dropout", float(self.dropout))

    @classmethod
    def from_hidden(cls, hidden: tuple[int, ...] | list[int], n_inputs: int = 784, n_classes: int = 10,
                    **kwargs: Any) -> MLPSpec:
        """The spec with ``hidden`` layer widths between ``n_inputs`` and ``n_classes``."""
        return cls(layer_sizes=(n_inputs, *hidden, n_classes), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``MLPSpec(**d)`` rebuilds it)."""
        return {**dataclasses.asdict(self), "layer_sizes": list(self.layer_sizes)}


def init_params(key: jax.Array, spec: MLPSpec, initializer: str = "glorot_uniform",
                dtype: Any = jnp.float32) -> Params:
    """Weights from ``initializer`` (Keras name), biases zero (Keras's default)."""
    init = INITIALIZERS[check_initializer(initializer)]
    keys = jax.random.split(key, len(spec.layer_sizes) - 1)
    layers = []
    for layer_key, fan_in, fan_out in zip(keys, spec.layer_sizes[:-1], spec.layer_sizes[1:]):
        w = init(layer_key, (fan_in, fan_out), dtype)
        if initializer == "uniform":
            w = w - jnp.asarray(0.05, dtype)
        layers.append({"w": w, "b": jnp.zeros((fan_out,), dtype)})
    return tuple(layers)


def apply(params: Params, x: jax.Array, spec: MLPSpec, *, dropout_key: jax.Array | None = None) -> jax.Array:
    """Logits ``(n, classes)`` for inputs ``(n, features)``; dropout only when ``dropout_key`` is given."""
    activation = ACTIVATIONS[spec.activation]
    h = x
    for index, layer in enumerate(params[:-1]):
        h = activation(h @ layer["w"] + layer["b"])
        if dropout_key is not None and spec.dropout > 0.0:
            keep = jax.random.bernoulli(jax.random.fold_in(dropout_key, index), 1.0 - spec.dropout, h.shape)
            h = jnp.where(keep, h / (1.0 - spec.dropout), 0.0)
    return h @ params[-1]["w"] + params[-1]["b"]


def predict_proba(params: Params, x: jax.Array, spec: MLPSpec) -> jax.Array:
    """Class probabilities: the output activation of the logits."""
    return OUTPUTS[spec.output](apply(params, x, spec))


def per_example_loss(logits: jax.Array, targets: jax.Array, spec: MLPSpec) -> jax.Array:
    """The spec's loss per example, ``targets`` one-hot ``(n, classes)``."""
    return LOSSES[spec.loss](logits, targets, spec.output)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example 0/1 correctness of the arg-max class (float)."""
    return (jnp.argmax(logits, axis=-1) == labels).astype(logits.dtype)
