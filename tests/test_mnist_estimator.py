"""JaxMLPClassifier passes scikit-learn's estimator checks and works inside RandomizedSearchCV."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import RandomizedSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from bench.mnist.estimator import JaxMLPClassifier

import pytest  # noqa: E402
pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

# Tiny and quick, yet enough to pass check_classifiers_train's accuracy > 0.83 on its blobs.
CHECKED = JaxMLPClassifier(hidden_layer_sizes=(16,), family="adam", learning_rate=0.01, epochs=30, batch_size=32,
                           random_state=0)


@parametrize_with_checks([CHECKED])
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)


def test_randomized_search_cv_and_save_free_round_trip() -> None:
    x, y = load_digits(return_X_y=True)
    x = x[:150] / 16.0
    search = RandomizedSearchCV(
        JaxMLPClassifier(hidden_layer_sizes=(16,), family="nesterov", schedule="time_based", epochs=2, random_state=0),
        {"learning_rate": [0.05, 0.1, 0.2], "momentum": [0.8, 0.9], "decay": [0.0, 1e-3]}, n_iter=2, cv=2,
        random_state=0).fit(x, y[:150])
    assert set(search.best_params_) == {"learning_rate", "momentum", "decay"}
    predictions = search.predict(x)
    assert predictions.shape == (150,) and set(np.unique(predictions)) <= set(range(10))
