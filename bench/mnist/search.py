"""Cross-validated grid and random search over optimizer hyperparameters, initializer, batch size, epochs.

The Keras tutorial ran ``GridSearchCV(KerasClassifier(...))``: one Python-level fit per (config, fold).
Here every (config, fold, seed) with the same (batch_size, epochs) is one run of ONE compiled, vmapped
program (:func:`bench.mnist.train.train_runs`), so a search compiles once per shape group. The results
come back in scikit-learn's ``cv_results_`` layout (same keys as ``GridSearchCV`` on
:class:`bench.mnist.estimator.JaxMLPClassifier`), then the best config is refit on the whole training
split and scored on the test split.

A search space maps names to values: the optimizer family's and schedule's hyperparameters take
:mod:`optimizers.spaces` dimensions (``Grid``, ``Choice``, ``LogUniform``, ``Uniform``), a list of
values, a scalar, or a JSON form (``{"loguniform": [low, high]}``, ``{"uniform": [low, high]}``,
``{"choice": [...]}``); ``initializer``, ``batch_size`` and ``epochs`` take a list (or one value).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from sklearn.model_selection import StratifiedKFold

import optimizers
from bench.mnist.model import MLPSpec, check_initializer
from bench.mnist.train import (HISTORY_KEYS, RunStatus, TrainOptions, TrainResult, compile_runs, prepare_runs)
from landscapes.errors import InputError, unknown_name
from optimizers.spaces import Choice, Grid, LogUniform, Uniform, grid_configs, random_configs

MODEL_KEYS = ("initializer", "batch_size", "epochs")
DEFAULT_INITIALIZER = "glorot_uniform"


def parse_dimension(name: str, value: Any) -> Any:
    """A space entry in Python or JSON form → an :mod:`optimizers.spaces` dimension, list or scalar."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise InputError(f"{name}: a dimension given as a table needs exactly one of"
                             f" loguniform/uniform/choice; got {sorted(value)}")
        (kind, args), = value.items()
        builders = {"loguniform": lambda a: LogUniform(*a), "uniform": lambda a: Uniform(*a),
                    "choice": lambda a: Choice(tuple(a)), "grid": lambda a: Grid(tuple(a))}
        if kind not in builders:
            raise InputError(f"{name}: unknown dimension kind {kind!r}; use one of {sorted(builders)}")
        return builders[kind](args)
    return value


def _model_values(name: str, value: Any, default: Any) -> list[Any]:
    if value is None:
        return [default]
    values = list(value) if isinstance(value, (list, tuple, np.ndarray, Choice, Grid)) and not isinstance(
        value, str) else [value]
    if isinstance(value, (Choice, Grid)):
        values = list(value.values)
    if name == "initializer":
        return [check_initializer(str(v)) for v in values]
    out = []
    for v in values:
        if float(v) != int(v) or int(v) < 1:
            raise InputError(f"{name} must be whole numbers >= 1; got {v!r}")
        out.append(int(v))
    return out


def _split_space(family: str, schedule: str, space: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    known = optimizers.config_defaults(family, schedule)
    optimizer_space, model_space = {}, {}
    for name, value in space.items():
        if name in MODEL_KEYS:
            model_space[name] = value
        elif name in known:
            optimizer_space[name] = parse_dimension(name, value)
        else:
            raise unknown_name(f"search dimension for {family}+{schedule}", name, [*known, *MODEL_KEYS])
    return optimizer_space, model_space


def grid_candidates(family: str, schedule: str, space: Mapping[str, Any], *, batch_size: int = 128,
                    epochs: int = 20) -> list[dict[str, Any]]:
    """Every combination of ``space`` (optimizer dims via ``optimizers.spaces.grid_configs``)."""
    optimizer_space, model_space = _split_space(family, schedule, space)
    batch = grid_configs(optimizer_space) if optimizer_space else {}
    n_opt = len(next(iter(batch.values()))) if batch else 1
    model_axes = [_model_values("initializer", model_space.get("initializer"), DEFAULT_INITIALIZER),
                  _model_values("batch_size", model_space.get("batch_size"), batch_size),
                  _model_values("epochs", model_space.get("epochs"), epochs)]
    candidates = []
    for i, (init, size, n_epochs) in itertools.product(range(n_opt), itertools.product(*model_axes)):
        candidates.append({**{k: float(v[i]) for k, v in batch.items()},
                           "initializer": init, "batch_size": size, "epochs": n_epochs})
    return [dict(sorted(c.items())) for c in candidates]


def random_candidates(family: str, schedule: str, space: Mapping[str, Any], n_iter: int, seed: int, *,
                      batch_size: int = 128, epochs: int = 20) -> list[dict[str, Any]]:
    """``n_iter`` configs drawn from ``space`` (optimizer dims via ``optimizers.spaces.random_configs``)."""
    optimizer_space, model_space = _split_space(family, schedule, space)
    batch = random_configs(optimizer_space, n_iter, seed) if optimizer_space else {}
    rng = np.random.default_rng([int(seed), 7])  # a stream of its own for the model dimensions
    model_draws = {}
    for name, default in zip(MODEL_KEYS, (DEFAULT_INITIALIZER, batch_size, epochs)):
        values = _model_values(name, model_space.get(name), default)
        model_draws[name] = [values[j] for j in rng.integers(len(values), size=n_iter)]
    return [dict(sorted({**{k: float(v[i]) for k, v in batch.items()},
                         **{k: model_draws[k][i] for k in MODEL_KEYS}}.items())) for i in range(n_iter)]


@dataclasses.dataclass
class SearchResult:
    """A finished search, named as scikit-learn's ``BaseSearchCV`` attributes where they correspond."""

    cv_results_: dict[str, Any]
    best_index_: int
    best_params_: dict[str, Any]
    best_score_: float
    compile_time: float
    groups: list[dict[str, Any]]  # per (batch_size, epochs) group: sizes and compile/train/score seconds
    run_status: list[list[str]]  # per candidate, each run's RunStatus name (completed/early_stopped/diverged)


def _optimizer_part(candidate: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in candidate.items() if k not in MODEL_KEYS}


def _rank(scores: np.ndarray) -> np.ndarray:
    # scikit-learn's rank_test_score: "min" ranking of -score, NaN scores ranked last
    filled = np.where(np.isnan(scores), -np.inf, scores)
    order = -filled
    return np.array([1 + int(np.sum(order < o)) for o in order], dtype=np.int32)


def cross_validate(candidates: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray, *, spec: MLPSpec,
                   family: str, schedule: str, folds: int = 3, seeds: Sequence[int] = (0,), seed: int = 0,
                   options: TrainOptions | None = None) -> SearchResult:
    """k-fold CV (``StratifiedKFold(folds, shuffle=True, random_state=seed)``) of every candidate.

    The test score of (candidate, fold) is the accuracy on the held-out fold of the trained params (the
    best epoch's with ``options.keep_best``), averaged over ``seeds``. ``options`` supplies the callback
    settings; each group's batch size and epochs come from the candidates.

    Each of ``seeds`` is a ``random_state`` (:func:`bench.mnist.train.run_seed`): with ``seeds=(r,)`` the
    split scores are those of ``GridSearchCV(JaxMLPClassifier(random_state=r), cv=StratifiedKFold(folds,
    shuffle=True, random_state=seed))`` on the same candidates (docs/mnist.md).
    """
    # Over 60 lines on purpose: folds, padding and the one vmapped call per shape group, then
    # scikit-learn's cv_results_ layout, in the order the search runs them.
    if not candidates:
        raise InputError("a search needs at least one candidate config")
    base = options or TrainOptions()
    y = np.asarray(y)
    if not 2 <= folds <= len(y):
        raise InputError(f"folds must be in [2, {len(y)}] (the training images); got {folds}")
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    smallest = min(len(train) for train, _ in splits)
    too_large = sorted({int(c["batch_size"]) for c in candidates if int(c["batch_size"]) > smallest})
    if too_large:  # Keras would train on one partial batch; in a search it is a mistake
        raise InputError(f"batch_size {too_large[0]} is larger than a training fold ({smallest} of the"
                         f" {len(y)} images with {folds} folds); use batch_size <= {smallest}")
    n_cand = len(candidates)
    scores = np.full((n_cand, folds), np.nan)
    fit_time, score_time = np.zeros(n_cand), np.zeros(n_cand)
    statuses: list[list[int]] = [[] for _ in range(n_cand)]
    groups: dict[tuple[int, int], list[int]] = {}
    for index, candidate in enumerate(candidates):
        groups.setdefault((int(candidate["batch_size"]), int(candidate["epochs"])), []).append(index)
    group_records, total_compile = [], 0.0
    for (size, n_epochs), members in groups.items():
        runs = [(c, f, s) for c in members for f in range(folds) for s in seeds]
        hparams = optimizers.complete_config(family, schedule, {
            k: np.array([_optimizer_part(candidates[c])[k] for c, _, _ in runs])
            for k in _optimizer_part(candidates[members[0]])}) if _optimizer_part(candidates[members[0]]) else {}
        batch = prepare_runs(
            spec, family, schedule, dataclasses.replace(base, batch_size=size, epochs=n_epochs), hparams, x, y,
            initializers=[candidates[c]["initializer"] for c, _, _ in runs], seeds=[s for _, _, s in runs],
            train_sets=[splits[f][0] for _, f, _ in runs],
            val_sets=[splits[f][1] for _, f, _ in runs])
        start = time.perf_counter()
        compiled = compile_runs(batch)
        compile_time = time.perf_counter() - start
        start = time.perf_counter()
        result: TrainResult = jax.block_until_ready(compiled(*batch.arrays))
        train_time = time.perf_counter() - start
        start = time.perf_counter()
        # the held-out accuracy of each run's returned params, computed inside the training program
        accuracy, status = np.asarray(result.val_accuracy, np.float64), np.asarray(result.status)
        # The program's accuracy is a float32 mean (0.63750001); as a count of correct rows over the
        # fold's rows it is exact, as scikit-learn's float64 score is (0.6375).
        held_out = np.array([len(splits[f][1]) for _, f, _ in runs], np.float64)
        accuracy = np.round(accuracy * held_out) / held_out
        eval_time = time.perf_counter() - start
        per_fit = len(seeds)  # seeds of one (candidate, fold) are averaged into one "fit"
        for run, (c, f, _) in enumerate(runs):
            statuses[c].append(int(status[run]))
            if status[run] == RunStatus.DIVERGED:
                accuracy[run] = np.nan  # a diverged run never scores
        for c in members:
            rows = [r for r, (cc, _, _) in enumerate(runs) if cc == c]
            for f in range(folds):
                fold_rows = [r for r in rows if runs[r][1] == f]
                scores[c, f] = np.mean(accuracy[fold_rows])
            fit_time[c] = train_time / len(runs) * per_fit
            score_time[c] = eval_time / len(runs) * per_fit
        total_compile += compile_time
        group_records.append({"batch_size": size, "epochs": n_epochs, "n_configs": len(members),
                              "n_runs": len(runs), "compile_time_s": compile_time, "train_time_s": train_time,
                              "score_time_s": eval_time})
    names = sorted({k for c in candidates for k in c})
    cv_results: dict[str, Any] = {
        "mean_fit_time": fit_time, "std_fit_time": np.zeros(n_cand),
        "mean_score_time": score_time, "std_score_time": np.zeros(n_cand)}
    for name in names:
        cv_results[f"param_{name}"] = np.ma.MaskedArray(np.array([c.get(name) for c in candidates], dtype=object),
                                                        mask=[name not in c for c in candidates])
    cv_results["params"] = [dict(c) for c in candidates]
    for f in range(folds):
        cv_results[f"split{f}_test_score"] = scores[:, f]
    cv_results["mean_test_score"] = np.mean(scores, axis=1)
    cv_results["std_test_score"] = np.std(scores, axis=1)
    cv_results["rank_test_score"] = _rank(cv_results["mean_test_score"])
    best = int(np.argmin(cv_results["rank_test_score"]))
    run_status = [[RunStatus(s).name.lower() for s in run] for run in statuses]
    return SearchResult(cv_results, best, dict(candidates[best]), float(cv_results["mean_test_score"][best]),
                        total_compile, group_records, run_status)


@dataclasses.dataclass
class RefitResult:
    """The best config trained on the whole training split and scored on the test split."""

    params: Any
    history: dict[str, np.ndarray]
    test_loss: float
    test_accuracy: float
    status: str
    compile_time: float
    train_time: float


def refit(candidate: Mapping[str, Any], x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
          y_test: np.ndarray, *, spec: MLPSpec, family: str, schedule: str, seed: int = 0,
          options: TrainOptions | None = None) -> RefitResult:
    """Train ``candidate`` on all of (x_train, y_train); the per-epoch history's ``val_*`` is the test split.

    The test split is only watched, never used for decisions: early stopping and keep-best, if enabled
    in ``options``, monitor the training loss here.
    """
    base = options or TrainOptions()
    opts = dataclasses.replace(base, batch_size=int(candidate["batch_size"]), epochs=int(candidate["epochs"]),
                               monitor=base.monitor.removeprefix("val_"))
    batch = prepare_runs(spec, family, schedule, opts, _optimizer_part(candidate), x_train, y_train,
                         initializers=[candidate["initializer"]], seeds=[seed],
                         val_sets=[np.arange(len(y_test))], x_eval=x_test, y_eval=y_test)
    start = time.perf_counter()
    compiled = compile_runs(batch)
    compile_time = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(*batch.arrays))
    train_time = time.perf_counter() - start
    params = jax.tree.map(lambda leaf: np.asarray(leaf[0]), result.params)
    history = {k: np.asarray(result.history[k][0]) for k in HISTORY_KEYS}
    # the test split is every run's validation set: its metrics of the returned params came back with them
    return RefitResult(params, history, float(result.val_loss[0]), float(result.val_accuracy[0]),
                       RunStatus(int(result.status[0])).name.lower(), compile_time, train_time)
