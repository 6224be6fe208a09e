"""``run_mnist_section``: one MNIST entry of a suite — CV search, refit of the best, test score, records."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import optimizers
from bench.mnist.data import load_mnist
from bench.mnist.io import save_model
from bench.mnist.model import MLPSpec, check_initializer
from bench.mnist.search import cross_validate, grid_candidates, random_candidates, refit
from bench.mnist.train import LR_PER, MONITORS, TrainOptions
from landscapes.errors import InputError, unknown_name

SPEC_DEFAULTS: dict[str, Any] = {
    "family": "nesterov", "schedule": "time_based", "space": None, "folds": 3, "epochs": 5,
    "batch_size": 64, "hidden": [128, 128], "activation": "relu", "loss": "categorical_crossentropy",
    "dropout": 0.0, "search": "grid", "n_iter": 8, "seed": 0, "seeds": None, "data_dir": None,
    "lr_per": "step", "patience": None, "monitor": "val_loss", "keep_best": False, "save_model": True,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN; a stopped epoch or a diverged score reads as null
    return value


# Upper bounds: a seed is 32 bits; the training loop counts epochs in int32, and a million
# epochs of MNIST would take months on a CPU.
HIGHEST = {"seed": 2**32 - 1, "epochs": 1_000_000}


def _whole(s: dict[str, Any], key: str, low: int, high: int | None = None) -> int:
    value = s[key]
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low
            or (high is not None and value > high)):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"{key} must be a whole number {bound}; got {value!r}")
    return int(value)


def _whole_list(s: dict[str, Any], key: str, low: int) -> list[int]:
    value = s[key]
    if (not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)):
        raise InputError(f"{key} must be a non-empty list of whole numbers >= {low}; got {value!r}")
    return value


def check_spec(spec: dict[str, Any]):
    """Check a section spec without data or training (``landscape-bench run`` calls it before any
    sweep, so a typo costs nothing): every key, type and range, the names (family, schedule,
    activation, loss, initializers) and the search space. Errors start with "mnist: ".

    Returns (spec with defaults, family, schedule, search space, candidate configs)."""
    try:
        return _check_spec(spec)
    except InputError as error:
        raise type(error)(f"mnist: {error}") from None


def _check_spec(spec: dict[str, Any]):
    if not isinstance(spec, dict):
        raise InputError(f"a section is a table of settings; got {spec!r}")
    unknown = set(spec) - set(SPEC_DEFAULTS)
    if unknown:
        raise unknown_name("section key", sorted(unknown)[0], SPEC_DEFAULTS)
    s = {**SPEC_DEFAULTS, **spec}
    family, schedule = optimizers.get_family(s["family"]), optimizers.get_schedule(s["schedule"])
    if s["search"] not in ("grid", "random"):
        raise InputError(f"search must be 'grid' or 'random'; got {s['search']!r}")
    if s["lr_per"] not in LR_PER:
        raise InputError(f"lr_per must be one of {', '.join(LR_PER)}; got {s['lr_per']!r}")
    if s["monitor"] not in MONITORS:
        raise InputError(f"monitor must be one of {', '.join(MONITORS)}; got {s['monitor']!r}")
    for key, low in (("folds", 2), ("epochs", 1), ("batch_size", 1), ("n_iter", 1), ("seed", 0)):
        _whole(s, key, low, HIGHEST.get(key))
    _whole_list(s, "hidden", 1)
    if s["seeds"] is not None:
        _whole_list(s, "seeds", 0)
    if s["patience"] is not None:
        _whole(s, "patience", 1)
    for key in ("keep_best", "save_model"):
        if not isinstance(s[key], bool):
            raise InputError(f"{key} must be true or false; got {s[key]!r}")
    if not isinstance(s["dropout"], (int, float)) or isinstance(s["dropout"], bool):
        raise InputError(f"dropout must be a number in [0, 1); got {s['dropout']!r}")
    if s["data_dir"] is not None and not isinstance(s["data_dir"], str):
        raise InputError(f"data_dir must be a folder path; got {s['data_dir']!r}")
    # the model's own checks (activation, loss, dropout), at MNIST's sizes
    MLPSpec.from_hidden(tuple(s["hidden"]), 784, 10, activation=s["activation"], loss=s["loss"],
                        dropout=s["dropout"])
    TrainOptions(epochs=s["epochs"], batch_size=s["batch_size"], lr_per=s["lr_per"],
                 patience=s["patience"], monitor=s["monitor"], keep_best=s["keep_best"])
    space = s["space"]
    if space is None:
        default_lr = family.defaults["learning_rate"]
        space = {"learning_rate": [default_lr * f for f in (0.3, 1.0, 3.0)]}
    if not isinstance(space, dict):
        raise InputError(f"space must be a table of hyperparameter = values; got {space!r}")
    if s["search"] == "grid":
        candidates = grid_candidates(family.name, schedule.name, space, batch_size=s["batch_size"],
                                     epochs=s["epochs"])
    else:
        candidates = random_candidates(family.name, schedule.name, space, int(s["n_iter"]),
                                       int(s["seed"]), batch_size=s["batch_size"], epochs=s["epochs"])
    for candidate in candidates:  # initializer names, and the optimizer values' ranges
        check_initializer(candidate["initializer"])
        optimizers.validate_config(family.name, schedule.name, {
            k: v for k, v in candidate.items() if k not in ("initializer", "batch_size", "epochs")})
    return s, family, schedule, space, candidates


def run_mnist_section(spec: dict[str, Any], out_dir: str | os.PathLike | None) -> list[dict[str, Any]]:
    """Run one MNIST section and return JSON-serializable records.

    ``spec`` keys (defaults in ``SPEC_DEFAULTS``): ``family``, ``schedule``, ``space`` (see
    :mod:`bench.mnist.search`; default: ``learning_rate`` and the family's others fixed at defaults —
    a grid over the learning rate ×{0.3, 1, 3} around the default), ``folds``, ``epochs``, ``batch_size``,
    ``hidden``, ``activation``, ``loss``, ``dropout``, ``search`` (``grid``/``random``), ``n_iter``,
    ``seed`` (folds, random draws, refit), ``seeds`` (CV seeds averaged per fold, default ``[seed]``),
    ``data_dir``, ``lr_per``, ``patience``, ``monitor``, ``keep_best``, ``save_model``.

    Records: one ``mnist_cv`` per candidate (a ``cv_results_`` row), then one ``mnist_best`` with the
    best config, the refit's per-epoch history (train/test loss and accuracy, learning rate), the test
    accuracy and timings. With ``out_dir`` the refit model is saved there (config JSON + weights npz).
    """
    s, family, schedule, space, candidates = check_spec(spec)
    started = time.perf_counter()
    data = load_mnist(s["data_dir"])
    load_time = time.perf_counter() - started
    model = MLPSpec.from_hidden(tuple(s["hidden"]), data.x_train.shape[1], 10, activation=s["activation"],
                                loss=s["loss"], dropout=s["dropout"])
    options = TrainOptions(epochs=s["epochs"], batch_size=s["batch_size"], lr_per=s["lr_per"],
                           patience=s["patience"], monitor=s["monitor"], keep_best=s["keep_best"])
    seeds = list(s["seeds"]) if s["seeds"] is not None else [int(s["seed"])]
    search = cross_validate(candidates, data.x_train, data.y_train, spec=model, family=family.name,
                            schedule=schedule.name, folds=int(s["folds"]), seeds=seeds, seed=int(s["seed"]),
                            options=options)
    final = refit(search.best_params_, data.x_train, data.y_train, data.x_test, data.y_test, spec=model,
                  family=family.name, schedule=schedule.name, seed=int(s["seed"]), options=options)
    common = {"track": "mnist", "family": family.name, "schedule": schedule.name, "data": data.describe(),
              "model": model.to_dict(), "search": s["search"], "folds": int(s["folds"]), "seeds": seeds}
    records = []
    cv = search.cv_results_
    for i, params in enumerate(cv["params"]):
        row = {k: cv[k][i] for k in cv if not k.startswith("param")}
        records.append(_jsonable({"kind": "mnist_cv", **common, "params": params,
                                  "optimizer_config": optimizers.complete_config(
                                      family, schedule, {k: v for k, v in params.items()
                                                         if k not in ("initializer", "batch_size", "epochs")}),
                                  "run_status": search.run_status[i], **row}))
    model_dir = None
    if out_dir is not None and s["save_model"]:
        model_dir = Path(out_dir) / f"mnist_{family.name}_{schedule.name}_seed{s['seed']}"
        save_model(model_dir, model, final.params, {"best_params": search.best_params_, "family": family.name,
                                                    "schedule": schedule.name, "test_accuracy": final.test_accuracy})
    history = {k: v for k, v in final.history.items()}
    records.append(_jsonable({
        "kind": "mnist_best", **common, "best_index": search.best_index_, "best_params": search.best_params_,
        "best_cv_score": search.best_score_, "test_accuracy": final.test_accuracy, "test_loss": final.test_loss,
        "refit_status": final.status,
        "history": {"epoch": list(range(1, len(history["loss"]) + 1)), "train_loss": history["loss"],
                    "train_accuracy": history["accuracy"], "test_loss": history["val_loss"],
                    "test_accuracy": history["val_accuracy"], "learning_rate": history["learning_rate"]},
        "timings": {"load_s": load_time, "search_compile_s": search.compile_time, "groups": search.groups,
                    "refit_compile_s": final.compile_time, "refit_train_s": final.train_time,
                    "total_s": time.perf_counter() - started},
        "model_dir": str(model_dir) if model_dir else None,
        "date": datetime.date.today().isoformat(),
    }))
    return records
