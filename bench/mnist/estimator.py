"""A scikit-learn classifier around the MLP, so ``GridSearchCV``/``RandomizedSearchCV`` work on it directly.

This is the compatible path, one compiled training run per ``fit``; it exists so the tutorial's
``GridSearchCV(KerasClassifier(...))`` code runs unchanged. The fast path for a search is
:func:`bench.mnist.search.cross_validate` (or :func:`bench.mnist.section.run_mnist_section`), which trains
every (config, fold, seed) of a shape group in ONE vmapped program; its ``cv_results_`` has the same keys.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

import optimizers
from bench.mnist.model import MLPSpec, check_initializer, predict_proba
from bench.mnist.train import TrainOptions, prepare_runs, run_seed, train_runs

_predict = jax.jit(predict_proba, static_argnames=("spec",))


def _bucket(n: int) -> int:
    # Pad the row count to a power of two (>= 32) so fits on similar sizes reuse one compiled program.
    return max(32, 1 << (int(n) - 1).bit_length())


class JaxMLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier trained by an :mod:`optimizers` family on JAX.

    Parameters mirror the tutorial's Keras model: ``hidden_layer_sizes``, ``activation``,
    ``initializer`` (Keras name), ``loss``, ``dropout``; the optimizer is ``family`` + ``schedule`` with
    ``learning_rate``, ``momentum`` and ``decay`` (None = the family's/schedule's default) and any other
    hyperparameter in ``optimizer_params``; ``batch_size``, ``epochs``, ``lr_per`` as in
    :class:`bench.mnist.train.TrainOptions`. ``random_state`` seeds the initial weights, the
    minibatch order and dropout by :func:`bench.mnist.train.run_seed`, the rule the vmapped search
    applies to each of its ``seeds``: ``GridSearchCV`` on this estimator and
    :func:`bench.mnist.search.cross_validate` score the same (docs/mnist.md). Attributes after fit:
    ``classes_``, ``n_features_in_``, ``params_``, ``history_``.

    For a search over many configs use :func:`bench.mnist.search.cross_validate` (the vmapped fast path).
    """

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (100,), activation: str = "relu",
                 initializer: str = "glorot_uniform", loss: str = "categorical_crossentropy",
                 dropout: float = 0.0, family: str = "sgd", schedule: str = "constant",
                 learning_rate: float | None = None, momentum: float | None = None, decay: float | None = None,
                 optimizer_params: dict[str, float] | None = None, batch_size: int = 32, epochs: int = 10,
                 lr_per: str = "step", random_state: int | np.random.RandomState | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.initializer = initializer
        self.loss = loss
        self.dropout = dropout
        self.family = family
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.decay = decay
        self.optimizer_params = optimizer_params
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr_per = lr_per
        self.random_state = random_state

    def optimizer_config(self) -> dict[str, float]:
        """The optimizer hyperparameters this estimator passes on (unset ones take defaults)."""
        config = {k: float(v) for k, v in (("learning_rate", self.learning_rate), ("momentum", self.momentum),
                                           ("decay", self.decay)) if v is not None}
        config.update({k: float(v) for k, v in (self.optimizer_params or {}).items()})
        return optimizers.complete_config(self.family, self.schedule, config)

    def _spec(self, n_features: int, n_classes: int) -> MLPSpec:
        hidden = (self.hidden_layer_sizes,) if np.isscalar(self.hidden_layer_sizes) else self.hidden_layer_sizes
        return MLPSpec.from_hidden(tuple(int(h) for h in hidden), n_features, n_classes,
                                   activation=self.activation, loss=self.loss, dropout=self.dropout)

    def fit(self, X: Any, y: Any) -> JaxMLPClassifier:
        """Train on (X, y); labels may be any hashable values."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"JaxMLPClassifier needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r})")
        spec = self._spec(X.shape[1], len(self.classes_))
        config = self.optimizer_config()
        n = len(y)
        padded = _bucket(n)
        x_pad = np.zeros((padded, X.shape[1]), np.float32)
        x_pad[:n] = X
        y_pad = np.zeros(padded, np.int32)
        y_pad[:n] = encoded
        options = TrainOptions(epochs=self.epochs, batch_size=min(int(self.batch_size), padded), lr_per=self.lr_per)
        batch = prepare_runs(spec, self.family, self.schedule, options, config, x_pad, y_pad,
                             initializers=[check_initializer(self.initializer)], seeds=[run_seed(self.random_state)],
                             train_sets=[np.arange(n)])
        # Pad the index row too: the padded tail becomes masked, skipped minibatches.
        train_idx = np.zeros((1, padded), np.int32)
        train_idx[0, :n] = np.arange(n)
        batch = batch._replace(train_idx=train_idx, steps_per_epoch=-(-padded // options.batch_size))
        result = train_runs(*batch)
        self.params_ = jax.tree.map(lambda leaf: np.asarray(leaf[0]), result.params)
        self.history_ = {k: np.asarray(v[0]) for k, v in result.history.items()}
        self.spec_ = spec
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return np.asarray(_predict(self.params_, X, self.spec_), dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        probabilities = self.predict_proba(X)  # checks fitted-ness before classes_ is read
        return self.classes_[np.argmax(probabilities, axis=1)]
