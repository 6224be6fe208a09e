"""The vmapped training program: learns, batch == alone, callbacks as masks, one trace per shape group.

Data: scikit-learn's 8×8 digits (offline, 64 features), a few hundred rows, hidden width 16, float32.
Tests reuse the same (spec, options, run count) where they can, so they share compiled programs.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits

import optimizers
from bench.mnist import train
from bench.mnist.model import MLPSpec
from bench.mnist.search import cross_validate, grid_candidates
from bench.mnist.train import RunStatus, TrainOptions, evaluate_runs, fit_runs, pad_indices
from landscapes.errors import InputError

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

SPEC = MLPSpec(layer_sizes=(64, 16, 10))
HP = {"learning_rate": np.array([0.05, 0.1, 0.2], np.float32), "momentum": 0.9, "decay": 1e-3}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x[:400] / 16.0).astype(np.float32), y[:400].astype(np.int32)


def fit(digits, options, hparams, seeds=(0, 0, 0), **kwargs):
    x, y = digits
    return fit_runs(SPEC, "nesterov", "time_based", options, hparams, x[:300], y[:300],
                    initializers=["glorot_uniform"] * len(seeds), seeds=list(seeds), **kwargs)


def test_training_reduces_loss_and_logs_the_schedule(digits) -> None:
    options = TrainOptions(epochs=3, batch_size=32)
    result = fit(digits, options, HP)
    loss = np.asarray(result.history["loss"])
    assert np.all(np.diff(loss, axis=1) < 0) and np.all(loss[:, -1] < 0.7 * loss[:, 0])
    assert np.all(np.asarray(result.status) == RunStatus.COMPLETED)
    steps = 10  # ceil(300 / 32)
    expected = HP["learning_rate"][:, None] / (1 + 1e-3 * (steps * np.arange(1, 4) - 1))
    np.testing.assert_allclose(result.history["learning_rate"], expected, rtol=1e-5)


def test_per_epoch_schedule(digits) -> None:
    result = fit(digits, TrainOptions(epochs=3, batch_size=32, lr_per="epoch"), HP)
    expected = HP["learning_rate"][:, None] / (1 + 1e-3 * np.arange(3))
    np.testing.assert_allclose(result.history["learning_rate"], expected, rtol=1e-5)


def test_per_epoch_schedule_counts_each_runs_own_epochs(digits) -> None:
    # Runs of 300, 160 and 128 rows share one padded width of 10 minibatches of 32, but make 10, 5
    # and 4 updates an epoch: the rate must still step once per epoch (it drifted with the padding).
    sets = [np.arange(300), np.arange(160), np.arange(128)]
    result = fit(digits, TrainOptions(epochs=5, batch_size=32, lr_per="epoch"),
                 {**HP, "decay": 1.0}, train_sets=sets)
    expected = HP["learning_rate"][:, None] / (1 + np.arange(5))
    np.testing.assert_allclose(result.history["learning_rate"], expected, rtol=1e-5)


def test_vmapped_batch_equals_each_config_alone(digits) -> None:
    options = TrainOptions(epochs=3, batch_size=32)
    batched = fit(digits, options, HP)
    for i, lr in enumerate(HP["learning_rate"]):
        alone = fit(digits, options, {**HP, "learning_rate": np.array([lr])}, seeds=(0,))
        for got, want in zip(jax.tree.leaves(alone.params), jax.tree.leaves(batched.params)):
            np.testing.assert_allclose(got[0], want[i], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(alone.history["loss"][0], batched.history["loss"][i], rtol=2e-5)


def test_early_stopping_freezes_params(digits) -> None:
    # min_delta so large that nothing after the first epoch counts as improving: patience 1 stops after epoch 2
    stopping = TrainOptions(epochs=3, batch_size=32, patience=1, monitor="loss", min_delta=1e9)
    stopped = fit(digits, stopping, HP)
    np.testing.assert_array_equal(stopped.epochs_run, [2, 2, 2])
    np.testing.assert_array_equal(stopped.status, [RunStatus.EARLY_STOPPED] * 3)
    assert np.all(np.isnan(stopped.history["loss"][:, 2])) and np.all(np.isfinite(stopped.history["loss"][:, :2]))
    two_epochs = fit(digits, TrainOptions(epochs=2, batch_size=32), HP)
    for got, want in zip(jax.tree.leaves(stopped.params), jax.tree.leaves(two_epochs.params)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_keep_best_returns_the_best_epochs_params(digits) -> None:
    x, y = digits
    options = TrainOptions(epochs=4, batch_size=32, keep_best=True, monitor="val_loss")
    hp = {**HP, "learning_rate": np.array([0.05, 0.5, 2.0], np.float32)}  # the large rates oscillate
    val = np.arange(300, 400)
    result = fit(digits, options, hp, val_sets=[val] * 3, x_eval=x, y_eval=y)
    best = np.asarray(result.best_epoch)
    val_loss = np.asarray(result.history["val_loss"])
    np.testing.assert_array_equal(best, np.nanargmin(val_loss, axis=1))
    idx, count = pad_indices([val] * 3)
    loss, accuracy = evaluate_runs(SPEC, result.params, x, y, idx, count)
    np.testing.assert_allclose(loss, val_loss[np.arange(3), best], rtol=1e-5)
    # the in-program score of the returned (best) params is that epoch's entry and matches a separate pass
    np.testing.assert_array_equal(result.val_loss, val_loss[np.arange(3), best])
    np.testing.assert_allclose(result.val_loss, loss, rtol=1e-5)
    np.testing.assert_array_equal(result.val_accuracy, accuracy)


def test_val_metrics_of_returned_params_without_keep_best(digits) -> None:
    # Without keep_best the returned params are the last epoch run's: an early-stopped run's come from
    # its stopping epoch, not the (NaN) last one.
    x, y = digits
    val = np.arange(300, 400)
    stopping = TrainOptions(epochs=3, batch_size=32, patience=1, monitor="loss", min_delta=1e9)
    result = fit(digits, stopping, HP, val_sets=[val] * 3, x_eval=x, y_eval=y)
    np.testing.assert_array_equal(result.epochs_run, [2, 2, 2])
    np.testing.assert_array_equal(result.val_accuracy, result.history["val_accuracy"][:, 1])
    idx, count = pad_indices([val] * 3)
    loss, accuracy = evaluate_runs(SPEC, result.params, x, y, idx, count)
    np.testing.assert_allclose(result.val_loss, loss, rtol=1e-5)
    np.testing.assert_array_equal(result.val_accuracy, accuracy)
    assert np.all(np.isnan(fit(digits, TrainOptions(epochs=3, batch_size=32), HP).val_loss))  # no validation rows


def test_init_runs_draws_each_run_from_its_own_key() -> None:
    # One program for mixed initializers: row r is init_params(first half of split(key(run_seed(seed)))).
    from bench.mnist.model import init_params

    names, seeds = ["he_normal", "lecun_uniform", "he_normal", "zeros"], [0, 1, 2, 1]
    params, keys = train.init_runs(SPEC, names, seeds)
    for row, (name, seed) in enumerate(zip(names, seeds)):
        init_key, train_key = jax.random.split(jax.random.key(seed))
        for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(init_params(init_key, SPEC, name))):
            np.testing.assert_array_equal(got[row], want)
        np.testing.assert_array_equal(jax.random.key_data(keys[row]), jax.random.key_data(train_key))


def test_run_seed_follows_scikit_learns_random_state() -> None:
    assert train.run_seed(7) == 7 and train.run_seed(np.uint32(2 ** 32 - 1)) == 2 ** 32 - 1
    expected = np.random.RandomState(3).randint(np.iinfo(np.int32).max)
    assert train.run_seed(np.random.RandomState(3)) == expected
    for bad in (-1, 2 ** 32, 1.5, True, "0"):
        with pytest.raises(InputError, match="random_state must be None, a numpy RandomState or a whole number"):
            train.run_seed(bad)


def test_a_run_does_not_depend_on_how_far_its_rows_are_padded(digits) -> None:
    # Run 0 (100 rows, dropout on) beside a run of 300 rows is padded to 10 minibatches, beside one of
    # 100 rows to 4: same shuffle, same dropout masks, same numbers (both programs vmap two runs).
    spec = MLPSpec(layer_sizes=(64, 16, 10), dropout=0.2)
    hp = {**HP, "learning_rate": np.array([0.1, 0.1], np.float32)}
    x, y = digits
    results = [fit_runs(spec, "nesterov", "time_based", TrainOptions(epochs=2, batch_size=32), hp, x, y,
                        initializers=["glorot_uniform"] * 2, seeds=[4, 4], train_sets=[np.arange(100), other])
               for other in (np.arange(300), np.arange(100, 200))]
    for wide, narrow in zip(jax.tree.leaves(results[0].params), jax.tree.leaves(results[1].params)):
        np.testing.assert_array_equal(wide[0], narrow[0])
    np.testing.assert_array_equal(results[0].history["loss"][0], results[1].history["loss"][0])


def test_divergence_is_a_status(digits) -> None:
    # A non-finite value in run 2's rows makes its loss NaN: it is flagged, the others are untouched.
    x, y = digits
    x = x.copy()
    x[299, 0] = np.nan
    sets = [np.arange(299), np.arange(299), np.arange(300)]
    result = fit((x, y), TrainOptions(epochs=3, batch_size=32), HP, train_sets=sets)
    np.testing.assert_array_equal(result.status, [RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.DIVERGED])
    assert np.isnan(result.history["loss"][2, 0]) and np.isnan(result.history["loss"][2, 1:]).all()


def test_search_traces_once_per_shape_group(digits, monkeypatch: pytest.MonkeyPatch, program_store) -> None:
    traces = []
    original = train._trace_hook
    monkeypatch.setattr(train, "_trace_hook", lambda *args: traces.append(args[3]) or original(*args))
    spec = MLPSpec(layer_sizes=(64, 7, 10))  # a width no other test uses: nothing cached in memory
    x, y = digits
    space = {"learning_rate": [0.05, 0.1, 0.2], "momentum": 0.9, "batch_size": [32, 64], "epochs": 1}
    candidates = grid_candidates("nesterov", "time_based", space)
    assert len(candidates) == 6
    cross_validate(candidates, x, y, spec=spec, family="nesterov", schedule="time_based", folds=2)
    assert sorted(o.batch_size for o in traces) == [32, 64]
    other_values = grid_candidates("nesterov", "time_based", {**space, "learning_rate": [0.3, 0.4, 0.5]})
    cross_validate(other_values, x, y, spec=spec, family="nesterov", schedule="time_based", folds=2)
    assert len(traces) == 2  # new values, same shapes: no new trace at all


def test_optimizer_matches_make_optimizer() -> None:
    # Per-step mode builds exactly what optimizers.make_optimizer builds.
    hp = optimizers.complete_config("nesterov", "time_based", {"learning_rate": 0.1, "decay": 0.01})
    hp = {k: np.float32(v) for k, v in hp.items()}
    family, schedule = optimizers.get_family("nesterov"), optimizers.get_schedule("time_based")
    mine = family.build(hp, train.learning_rate_fn(schedule, hp, 5, "step"))
    theirs = optimizers.make_optimizer(family, schedule, hp)
    params = {"w": np.ones(3, np.float32)}
    s1, s2 = mine.init(params), theirs.init(params)
    for _ in range(3):
        u1, s1 = mine.update({"w": np.full(3, 0.5, np.float32)}, s1, params)
        u2, s2 = theirs.update({"w": np.full(3, 0.5, np.float32)}, s2, params)
        np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-6)


@pytest.mark.parametrize("labels, found", [(np.arange(300) % 10 + 1, "10"), (np.arange(300) % 10 - 1, "-1"),
                                           ((np.arange(300) % 10) + 0.5, "0.5")])
def test_labels_outside_the_classes_are_refused(digits, labels, found) -> None:
    # Found by the MNIST audit: 10 or -1 became an all-zero one-hot target, never scored correct,
    # and 4.5 was truncated to 4; the CV score just came out lower.
    from landscapes.errors import InputError

    x, _ = digits
    with pytest.raises(InputError, match=rf"labels must be whole numbers in \[0, 9\]; found {found}"):
        fit((x, labels), TrainOptions(epochs=1, batch_size=32), HP)


def _never_moves(hparams, learning_rate):
    import optax

    return optax.sgd(lambda count: 0.0 * learning_rate(count))


def test_a_family_registered_again_trains_with_its_new_code(digits) -> None:
    from optimizers.core import OptimizerFamily

    x, y = digits
    losses = []
    try:
        for build in (optimizers.families.build_sgd, _never_moves):
            optimizers.register_family(OptimizerFamily("lb_edited_mnist", build, {"learning_rate": 0.1}),
                                       replace=True)
            result = fit_runs(SPEC, "lb_edited_mnist", "constant", TrainOptions(epochs=2, batch_size=32), {},
                              x[:96], y[:96], initializers=["glorot_uniform"], seeds=[0])
            losses.append(np.asarray(result.history["loss"])[0])
    finally:
        optimizers.FAMILIES.pop("lb_edited_mnist", None)
    assert losses[0][1] < losses[0][0]  # SGD learned
    # the replacement never updates: the same loss both epochs (up to the order of the sum)
    np.testing.assert_allclose(losses[1][1], losses[1][0], rtol=1e-5)


def test_a_family_object_trains_its_own_code_not_the_registered_one(digits) -> None:
    from optimizers.core import OptimizerFamily

    x, y = digits
    shadow = OptimizerFamily("sgd", _never_moves, {"learning_rate": 0.1})  # not registered: "sgd" is
    loss = [np.asarray(fit_runs(SPEC, family, "constant", TrainOptions(epochs=2, batch_size=32), {}, x[:96], y[:96],
                                initializers=["glorot_uniform"], seeds=[0]).history["loss"])[0]
            for family in ("sgd", shadow)]
    assert loss[0][1] < loss[0][0]
    np.testing.assert_allclose(loss[1][1], loss[1][0], rtol=1e-5)
