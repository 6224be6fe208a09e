"""Optimizer families, learning-rate schedules and hyperparameter spaces, with their registries.

``FAMILIES`` and ``SCHEDULES`` map names to records; ``make_optimizer(family, schedule, hparams)`` builds
an ``optax.GradientTransformation`` from hyperparameters that may be traced arrays (one compiled program
serves a whole vmapped grid); ``validate_config`` checks values on the host before anything compiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

from landscapes.errors import YOUR_OWN, InputError, unknown_name
from optimizers import families as _families
from optimizers import schedules as _schedules
from optimizers.core import (COMMON_RANGES, WARMUP_DEFAULTS, HParams, OptimizerFamily, Range, Schedule,
                             as_range)
from optimizers.spaces import batch_size

FAMILIES: dict[str, OptimizerFamily] = {f.name: f for f in (
    _families.sgd, _families.momentum, _families.nesterov, _families.adam, _families.adamw,
    _families.rmsprop, _families.adagrad, _families.adadelta, _families.nadam, _families.lion)}
SCHEDULES: dict[str, Schedule] = {s.name: s for s in (
    _schedules.constant, _schedules.time_based, _schedules.exponential, _schedules.step,
    _schedules.cosine, _schedules.sgdr)}


def get_family(family: str | OptimizerFamily) -> OptimizerFamily:
    """The family itself, or the registered family called ``family``; unknown names list close ones."""
    if isinstance(family, OptimizerFamily):
        return family
    try:
        return FAMILIES[family]
    except KeyError:
        raise unknown_name("optimizer family", family, FAMILIES, YOUR_OWN) from None


def get_schedule(schedule: str | Schedule) -> Schedule:
    """The schedule itself, or the registered schedule called ``schedule``; unknown names list close ones."""
    if isinstance(schedule, Schedule):
        return schedule
    try:
        return SCHEDULES[schedule]
    except KeyError:
        raise unknown_name("schedule", schedule, SCHEDULES, YOUR_OWN) from None


def _check_disjoint(family: OptimizerFamily, schedule: Schedule) -> None:
    clash = (set(family.hparams) & set(schedule.hparams)) | (set(family.hparams) & set(WARMUP_DEFAULTS))
    if clash:
        raise InputError(f"family {family.name!r} and schedule {schedule.name!r} both use the name(s)"
                         f" {sorted(clash)}; rename the family's hyperparameter")


def register_family(family: OptimizerFamily, *, replace: bool = False) -> OptimizerFamily:
    """Add ``family`` to ``FAMILIES`` (it is then tested and benchmarked like the built-ins)."""
    if not isinstance(family, OptimizerFamily):
        raise InputError(f"register_family() takes an OptimizerFamily, got {type(family).__name__}")
    if family.name in FAMILIES and not replace:
        raise InputError(f"an optimizer family named {family.name!r} is already registered;"
                         " pick another name or pass replace=True")
    for schedule in SCHEDULES.values():
        _check_disjoint(family, schedule)
    FAMILIES[family.name] = family
    return family


def register_schedule(schedule: Schedule, *, replace: bool = False) -> Schedule:
    """Add ``schedule`` to ``SCHEDULES``."""
    if not isinstance(schedule, Schedule):
        raise InputError(f"register_schedule() takes a Schedule, got {type(schedule).__name__}")
    if schedule.name in SCHEDULES and not replace:
        raise InputError(f"a schedule named {schedule.name!r} is already registered;"
                         " pick another name or pass replace=True")
    for family in FAMILIES.values():
        _check_disjoint(family, schedule)
    SCHEDULES[schedule.name] = schedule
    return schedule


def config_defaults(family: str | OptimizerFamily, schedule: str | Schedule) -> dict[str, float]:
    """Every hyperparameter of (family, schedule, warmup) with its default value."""
    family, schedule = get_family(family), get_schedule(schedule)
    _check_disjoint(family, schedule)
    return {**family.defaults, **schedule.defaults, **WARMUP_DEFAULTS}


def config_ranges(family: str | OptimizerFamily, schedule: str | Schedule) -> dict[str, Range]:
    """The valid range of every hyperparameter of (family, schedule, warmup)."""
    family, schedule = get_family(family), get_schedule(schedule)
    return {**COMMON_RANGES, **family.ranges, **schedule.ranges}


def default_space(family: str | OptimizerFamily, schedule: str | Schedule) -> dict[str, Any]:
    """The family's and the schedule's default search spaces together (warmup fixed at its default)."""
    family, schedule = get_family(family), get_schedule(schedule)
    return {**config_defaults(family, schedule), **family.space, **schedule.space}


def _unknown_keys(family: OptimizerFamily, schedule: Schedule, keys: Any) -> None:
    known = config_defaults(family, schedule)
    for key in keys:
        if key not in known:
            raise unknown_name(f"hyperparameter of {family.name}+{schedule.name}", key, known)


def complete_config(family: str | OptimizerFamily, schedule: str | Schedule,
                    config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every missing hyperparameter filled in from the defaults.

    A config of scalars gives a dict of floats. A batch (any value an array of shape (C,)) gives a
    dict of float64 arrays, all (C,), defaults and scalars repeated. Unknown names raise InputError.
    """
    family, schedule = get_family(family), get_schedule(schedule)
    _unknown_keys(family, schedule, config)
    for name, value in config.items():  # a word where a number belongs: say which, in one line
        if np.asarray(value).dtype.kind not in "biuf":
            raise InputError(f"{name} must be a number or an array of numbers; got {value!r}")
    full = {**config_defaults(family, schedule), **config}
    if all(np.ndim(v) == 0 for v in full.values()):
        return {k: float(v) for k, v in full.items()}
    size = batch_size({k: v for k, v in full.items() if np.ndim(v) > 0})
    return {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (size,)).copy() for k, v in full.items()}


def _violation(name: str, valid: Range, values: np.ndarray) -> str | None:
    low_ok = values >= valid.low if valid.low_inclusive else values > valid.low
    high_ok = values <= valid.high if valid.high_inclusive else values < valid.high
    ok = np.isfinite(values) & low_ok & high_ok
    if valid.integer:
        ok &= np.isfinite(values) & (values == np.round(values))
    if ok.all():
        return None
    bad = np.flatnonzero(~ok.ravel())
    where = f" (config {bad[0]} of {values.size}; {bad.size} invalid)" if values.ndim else ""
    return f"{name} must be {valid.describe()}; got {values.ravel()[bad[0]]:g}{where}"


def validate_config(family: str | OptimizerFamily, schedule: str | Schedule, config: Mapping[str, Any]) -> None:
    """Check a config or a batch of configs on the host; raise a one-line InputError at the first problem.

    Every value must be finite and inside its declared range (``ranges`` of the family and the schedule,
    plus the common ``learning_rate`` > 0 and whole-number ``warmup_steps`` >= 0). Names not in the
    config are not checked (their defaults are valid); unknown names are an error.
    """
    family, schedule = get_family(family), get_schedule(schedule)
    _unknown_keys(family, schedule, config)
    if any(np.ndim(v) > 1 for v in config.values()):
        raise InputError("hyperparameters must be scalars or 1-D arrays (one value per config)")
    batch_size({k: v for k, v in config.items() if np.ndim(v) > 0})
    ranges = config_ranges(family, schedule)
    for name in config:
        try:
            values = np.asarray(config[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number; got {config[name]!r}") from None
        message = _violation(name, ranges[name], values)
        if message:
            raise InputError(message)


def learning_rate_fn(schedule: str | Schedule, hparams: HParams):
    """count -> learning rate of ``schedule`` with linear warmup over ``hparams["warmup_steps"]``."""
    schedule = get_schedule(schedule)
    return lambda count: _schedules.with_warmup(schedule.fn, count, hparams)


def make_optimizer(family: str | OptimizerFamily, schedule: str | Schedule,
                   hparams: Mapping[str, Any]) -> optax.GradientTransformation:
    """The optimizer of ``family`` whose learning rate at update count t is the schedule's (warmup first).

    ``hparams`` may hold traced scalars (one config of a vmapped batch); nothing here branches on their
    values, so values are not checked either: call ``validate_config`` first. Missing names take their
    defaults; unknown names raise InputError.
    """
    family, schedule = get_family(family), get_schedule(schedule)
    _unknown_keys(family, schedule, hparams)
    full = {name: hparams[name] if name in hparams else jnp.asarray(default)
            for name, default in config_defaults(family, schedule).items()}
    return family.build(full, learning_rate_fn(schedule, full))


__all__ = ["FAMILIES", "SCHEDULES", "InputError", "OptimizerFamily", "Range", "Schedule", "as_range",
           "complete_config", "config_defaults", "config_ranges", "default_space", "get_family",
           "get_schedule", "learning_rate_fn", "make_optimizer", "register_family", "register_schedule",
           "validate_config"]
