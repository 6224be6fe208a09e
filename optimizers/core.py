"""The records: an optimizer family, a learning-rate schedule, and the valid range of a hyperparameter.

Hyperparameters are data. Every family and schedule declares, per hyperparameter, a default value, a
valid :class:`Range` and (optionally) a search dimension; ``validate_config`` checks values on the host
against the ranges before anything compiles, and ``make_optimizer`` builds from traced arrays, so one
compiled program serves a whole grid of values.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import optax

from landscapes.errors import InputError

# hparams as the engine passes them: scalar jax arrays (traced under vmap) or plain floats.
HParams = Mapping[str, Any]
LearningRateFn = Callable[[Any], Any]  # update count -> learning rate, traceable


class Range(NamedTuple):
    """The valid values of one hyperparameter: an interval, open or closed at each end.

    A plain 4-tuple ``(low, high, low_inclusive, high_inclusive)`` is accepted wherever a Range is.
    ``integer=True`` additionally requires whole numbers (e.g. a number of restarts).
    """

    low: float
    high: float
    low_inclusive: bool = True
    high_inclusive: bool = True
    integer: bool = False

    def describe(self) -> str:
        """The interval in words for error messages, e.g. ``in [0, 1)``."""
        left = "[" if self.low_inclusive else "("
        right = "]" if self.high_inclusive and math.isfinite(self.high) else ")"
        text = f"{left}{_number(self.low)}, {_number(self.high)}{right}"
        return f"a whole number in {text}" if self.integer else f"in {text}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


def as_range(value: Range | tuple) -> Range:
    """Normalise a 4- or 5-tuple to a :class:`Range`."""
    return value if isinstance(value, Range) else Range(*value)


# Hyperparameters every (family, schedule) pair has. learning_rate's *default* is per family (an
# Adam learning rate is not an SGD one), so each family must declare it; its valid range is common.
COMMON_RANGES: Mapping[str, Range] = types.MappingProxyType({
    "learning_rate": Range(0.0, math.inf, False, False),
    "warmup_steps": Range(0.0, math.inf, True, False, integer=True),
})
WARMUP_DEFAULTS: Mapping[str, float] = types.MappingProxyType({"warmup_steps": 0.0})


def _freeze(mapping: Mapping | None) -> Mapping:
    return types.MappingProxyType(dict(mapping or {}))


@dataclasses.dataclass(frozen=True)
class OptimizerFamily:
    """An optimizer whose hyperparameters are arrays.

    Attributes:
      name: registry key, lower_snake_case.
      build: ``build(hparams, learning_rate) -> optax.GradientTransformation``. ``hparams`` maps every
        name in ``defaults`` to a scalar (traced under vmap: no Python ``if`` on values);
        ``learning_rate`` is a function of the update count (the schedule, warmup included).
      defaults: default value of every hyperparameter, ``learning_rate`` included (it is required:
        the schedule reads it as its peak value).
      space: the default search space, name -> dimension from :mod:`optimizers.spaces` (or a scalar).
      ranges: valid range per hyperparameter; ``learning_rate`` may be left out (common range).
      source: where the update rule comes from.
    """

    name: str
    build: Callable[[HParams, LearningRateFn], optax.GradientTransformation]
    defaults: Mapping[str, float]
    space: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ranges: Mapping[str, Range | tuple] = dataclasses.field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        _check_record("optimizer family", self.name, self.defaults, self.space, self.ranges,
                      require=("learning_rate",))
        object.__setattr__(self, "defaults", _freeze({k: float(v) for k, v in self.defaults.items()}))
        object.__setattr__(self, "space", _freeze(self.space))
        ranges = {k: as_range(v) for k, v in self.ranges.items()}
        ranges.setdefault("learning_rate", COMMON_RANGES["learning_rate"])
        object.__setattr__(self, "ranges", _freeze(ranges))

    @property
    def hparams(self) -> tuple[str, ...]:
        """The names of this family's hyperparameters (``learning_rate`` included)."""
        return tuple(self.defaults)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule as a jnp function of (update count, hparams).

    Attributes:
      name: registry key.
      fn: ``fn(count, hparams) -> learning rate``; ``count`` is the number of updates done so far
        (0 for the first update, as Keras's ``iterations``); ``hparams["learning_rate"]`` is the peak
        value. Traceable in every argument.
      defaults: default value of each of the schedule's own hyperparameters (not ``learning_rate``).
      space: default search space for those hyperparameters.
      ranges: valid range of each of them (all must be declared).
      source: the reference.
    """

    name: str
    fn: Callable[[Any, HParams], Any]
    defaults: Mapping[str, float] = dataclasses.field(default_factory=dict)
    space: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ranges: Mapping[str, Range | tuple] = dataclasses.field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        _check_record("schedule", self.name, self.defaults, self.space, self.ranges, require=())
        for common in COMMON_RANGES:
            if common in self.defaults:
                raise InputError(f"schedule {self.name!r} must not declare {common!r}: it is common to"
                                 " every schedule")
        object.__setattr__(self, "defaults", _freeze({k: float(v) for k, v in self.defaults.items()}))
        object.__setattr__(self, "space", _freeze(self.space))
        object.__setattr__(self, "ranges", _freeze({k: as_range(v) for k, v in self.ranges.items()}))

    @property
    def hparams(self) -> tuple[str, ...]:
        """The names of the schedule's own hyperparameters."""
        return tuple(self.defaults)


def _check_record(kind: str, name: str, defaults: Mapping, space: Mapping, ranges: Mapping,
                  require: tuple[str, ...]) -> None:
    """Structural checks on a family or schedule at construction (never on traced values)."""
    if not isinstance(name, str) or not name:
        raise InputError(f"a {kind} needs a non-empty string name; got {name!r}")
    for required in require:
        if required not in defaults:
            raise InputError(f"{kind} {name!r} must give a default {required!r}")
    declared = set(defaults)
    extra_space = set(space) - declared
    if extra_space:
        raise InputError(f"{kind} {name!r}: space names {sorted(extra_space)} have no default")
    extra_ranges = set(ranges) - declared
    if extra_ranges:
        raise InputError(f"{kind} {name!r}: ranges name {sorted(extra_ranges)} that have no default")
    missing = declared - set(ranges) - set(COMMON_RANGES)
    if missing:
        raise InputError(f"{kind} {name!r}: declare the valid range of {sorted(missing)}")
