"""CV search: cv_results_ has GridSearchCV's keys and shapes; random candidates; the suite section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from bench.mnist.estimator import JaxMLPClassifier
from bench.mnist.model import MLPSpec
from bench.mnist.search import cross_validate, grid_candidates, random_candidates
from bench.mnist.section import run_mnist_section
from landscapes.errors import InputError, UnknownNameError


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x[:200] / 16.0).astype(np.float32), y[:200]


def test_cv_results_have_grid_search_cv_keys(digits) -> None:
    x, y = digits
    grid = {"learning_rate": [0.05, 0.2], "initializer": ["lecun_uniform", "zeros"], "batch_size": [32], "epochs": [2]}
    estimator = JaxMLPClassifier(hidden_layer_sizes=(16,), family="nesterov", schedule="time_based", random_state=0)
    sklearn_search = GridSearchCV(estimator, grid, cv=2).fit(x, y)
    ours = cross_validate(grid_candidates("nesterov", "time_based", grid), x, y, spec=MLPSpec(layer_sizes=(64, 16, 10)),
                          family="nesterov", schedule="time_based", folds=2)
    assert set(ours.cv_results_) == set(sklearn_search.cv_results_)
    for key, value in sklearn_search.cv_results_.items():
        assert len(ours.cv_results_[key]) == len(value) == 4, key
    assert sorted(map(str, ours.cv_results_["params"])) == sorted(map(str, sklearn_search.cv_results_["params"]))
    assert ours.best_params_ in ours.cv_results_["params"]
    assert ours.cv_results_["rank_test_score"][ours.best_index_] == 1
    # zeros initialisation cannot break symmetry: both searches rank it last
    zero_rows = [i for i, p in enumerate(ours.cv_results_["params"]) if p["initializer"] == "zeros"]
    assert all(ours.cv_results_["rank_test_score"][i] >= 3 for i in zero_rows)
    # Scores are exact fractions of the held-out fold, as scikit-learn's (not float32 means).
    for k in range(2):
        correct = ours.cv_results_[f"split{k}_test_score"] * 100  # 2 folds of 200: 100 rows each
        np.testing.assert_array_equal(correct, np.round(correct))


def test_cross_validate_scores_what_grid_search_cv_scores(digits) -> None:
    # The tutorial's search, one fit per (candidate, fold), against the vmapped one: same candidates,
    # folds and random_state give the same held-out accuracy in every split. Both draw a run's keys
    # from run_seed(random_state) alone and their shuffles do not depend on the padding. The numbers
    # are equal to float32 rounding, not bitwise: a fit is a program with a run axis of 1, which XLA
    # compiles without that axis and so sums the bias gradients in another order than the vmapped
    # program (1e-9 after one step, 1e-7 after an epoch). An accuracy moves only in whole held-out
    # images (1/100 here), so the scores must be equal exactly; a chaotic run (a large learning rate,
    # many epochs) can grow the rounding into one flipped image, so the settings here are tame. The
    # shapes are test_cv_results_have_grid_search_cv_keys's, so the two share compiled programs.
    x, y = digits
    grid = {"learning_rate": [0.05, 0.1], "initializer": ["lecun_uniform", "glorot_uniform"], "batch_size": [32],
            "epochs": [2]}
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=5)
    estimator = JaxMLPClassifier(hidden_layer_sizes=(16,), family="nesterov", schedule="time_based", random_state=11)
    tutorial = GridSearchCV(estimator, grid, cv=folds, refit=False).fit(x, y)
    ours = cross_validate(grid_candidates("nesterov", "time_based", grid), x, y, spec=MLPSpec(layer_sizes=(64, 16, 10)),
                          family="nesterov", schedule="time_based", folds=2, seeds=(11,), seed=5)
    position = {str(sorted(p.items())): i for i, p in enumerate(tutorial.cv_results_["params"])}
    same_order = [position[str(sorted(p.items()))] for p in ours.cv_results_["params"]]
    for k in range(2):
        np.testing.assert_array_equal(ours.cv_results_[f"split{k}_test_score"],
                                      tutorial.cv_results_[f"split{k}_test_score"][same_order])


def test_random_candidates_are_reproducible_and_in_range() -> None:
    space = {"learning_rate": {"loguniform": [1e-3, 1.0]}, "momentum": [0.8, 0.9], "batch_size": [32, 64],
             "initializer": ["he_normal", "lecun_uniform"]}
    first = random_candidates("nesterov", "constant", space, 5, seed=3, epochs=2)
    assert first == random_candidates("nesterov", "constant", space, 5, seed=3, epochs=2)
    assert all(1e-3 <= c["learning_rate"] <= 1.0 and c["momentum"] in (0.8, 0.9) and c["epochs"] == 2 for c in first)
    with pytest.raises(UnknownNameError, match="momentum"):
        random_candidates("nesterov", "constant", {"momentun": [0.9]}, 2, seed=0)
    with pytest.raises(UnknownNameError, match="lecun_uniform"):
        grid_candidates("nesterov", "constant", {"initializer": ["lecun_unifrom"]})


def test_run_mnist_section_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 10
    images = (rng.random((120, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)  # learnable
    np.savez(tmp_path / "mnist.npz", x_train=images[:80], y_train=labels[:80], x_test=images[80:], y_test=labels[80:])
    records = run_mnist_section({"hidden": [8], "epochs": 2, "folds": 2, "batch_size": 16, "data_dir": str(tmp_path),
                                 "space": {"learning_rate": [0.01, 0.05], "momentum": 0.9}}, tmp_path / "out")
    json.dumps(records, allow_nan=False)
    cv_rows = [r for r in records if r["kind"] == "mnist_cv"]
    best = [r for r in records if r["kind"] == "mnist_best"]
    assert len(cv_rows) == 2 and len(best) == 1
    assert {"split0_test_score", "split1_test_score", "mean_test_score", "rank_test_score", "mean_fit_time"} <= set(cv_rows[0])
    assert len(best[0]["history"]["learning_rate"]) == 2 and 0.0 <= best[0]["test_accuracy"] <= 1.0
    assert (Path(best[0]["model_dir"]) / "weights.npz").is_file()
    with pytest.raises(InputError, match="search"):
        run_mnist_section({"search": "bayes", "data_dir": str(tmp_path)}, None)


@pytest.mark.parametrize("spec, message", [
    ({"folds": "two"}, "mnist: folds must be a whole number >= 2; got 'two'"),
    ({"folds": 2.5}, "mnist: folds must be a whole number >= 2; got 2.5"),
    ({"epochs": 1.7}, "mnist: epochs must be a whole number in [1, 1000000]; got 1.7"),
    ({"epochs": 10**12}, "mnist: epochs must be a whole number in [1, 1000000]; got 1000000000000"),
    ({"batch_size": 8.9}, "mnist: batch_size must be a whole number >= 1; got 8.9"),
    ({"hidden": "64"}, "mnist: hidden must be a non-empty list of whole numbers >= 1; got '64'"),
    ({"seeds": "12"}, "mnist: seeds must be a non-empty list of whole numbers >= 0; got '12'"),
    ({"monitor": "val_los"}, "mnist: monitor must be one of"),
    ({"lr_per": "batch"}, "mnist: lr_per must be one of"),
    ({"keep_best": "yes"}, "mnist: keep_best must be true or false"),
    ({"activation": "relu6x"}, "mnist: unknown activation 'relu6x'"),
    ({"epoch": 3}, "mnist: unknown section key 'epoch'; did you mean epochs"),
    ({"space": {"learning_rate": [-0.1]}}, "mnist: learning_rate must be"),
    ({"space": {"initializer": ["glorot_uniformm"]}}, "mnist: unknown initializer 'glorot_uniformm'"),
])
def test_a_section_spec_is_checked_whole_before_any_data_or_training(spec, message):
    from bench.mnist.section import check_spec

    with pytest.raises(InputError) as error:
        check_spec(spec)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_folds_and_a_batch_larger_than_a_training_fold_are_refused() -> None:
    x = np.random.default_rng(0).random((40, 784)).astype(np.float32)
    y = np.arange(40) % 10
    spec = MLPSpec.from_hidden((4,), 784, 10)
    candidates = grid_candidates("sgd", "constant", {"learning_rate": [0.1]}, batch_size=32, epochs=1)
    with pytest.raises(InputError, match=r"batch_size 32 is larger than a training fold \(20 of the 40"
                                         r" images with 2 folds\); use batch_size <= 20"):
        cross_validate(candidates, x, y, spec=spec, family="sgd", schedule="constant", folds=2)
    with pytest.raises(InputError, match=r"folds must be in \[2, 40\] \(the training images\); got 100"):
        cross_validate(candidates, x, y, spec=spec, family="sgd", schedule="constant", folds=100)


def test_the_measure_command_refuses_an_unknown_mode(capsys) -> None:
    # It printed the device and exited 0 for any word, --help included (documentation check).
    from bench.tools import mnist_measure as measure

    with pytest.raises(SystemExit) as stop:
        measure.main(["cots"])
    assert stop.value.code == 2
    assert "usage: python -m bench.tools.mnist_measure [cost|accuracy|all]; got 'cots'" in capsys.readouterr().err
    measure.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m bench.tools.mnist_measure")
