"""Learning-rate schedules as jnp functions of (update count, hparams), vmappable over the hparams.

optax's schedule constructors (``cosine_decay_schedule``, ``exponential_decay``, ``sgdr_schedule``, ...)
take their parameters as Python numbers and check them with Python ``if`` (``if not decay_steps > 0``),
so they cannot take traced arrays; the formulas are written here in jnp instead, and the checks live in
each schedule's ``ranges`` where ``validate_config`` applies them on the host.

``count`` is the number of updates done so far: 0 for the first update, as Keras's ``iterations`` and
optax's ``scale_by_schedule`` count.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp

from optimizers.core import HParams, Range, Schedule
from optimizers.spaces import Choice, LogUniform, Uniform

INF = math.inf


def _time(count: Any, hparams: HParams) -> Any:
    # The step count in the hyperparameters' dtype: with float64 enabled process-wide, a plain
    # ``float`` here would silently promote a float32 run's whole update to float64.
    return jnp.asarray(count, dtype=jnp.result_type(hparams["learning_rate"]))


def constant_fn(count: Any, hparams: HParams) -> Any:
    """lr_t = lr."""
    return hparams["learning_rate"] * jnp.ones_like(_time(count, hparams))


def time_based_fn(count: Any, hparams: HParams) -> Any:
    """Keras's time-based decay: lr_t = lr / (1 + decay · t)."""
    return hparams["learning_rate"] / (1.0 + hparams["decay"] * _time(count, hparams))


def exponential_fn(count: Any, hparams: HParams) -> Any:
    """lr_t = lr · exp(−decay_rate · t)."""
    return hparams["learning_rate"] * jnp.exp(-hparams["decay_rate"] * _time(count, hparams))


def step_fn(count: Any, hparams: HParams) -> Any:
    """Step decay: lr_t = lr · factor^floor(t / step_size)."""
    return hparams["learning_rate"] * hparams["factor"] ** jnp.floor(_time(count, hparams) / hparams["step_size"])


def _cosine(lr: Any, alpha: Any, fraction: Any) -> Any:
    """alpha·lr + (1 − alpha)·lr·½(1 + cos(π·fraction)), fraction in [0, 1]."""
    return lr * (alpha + (1.0 - alpha) * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction)))


def cosine_fn(count: Any, hparams: HParams) -> Any:
    """Cosine decay from lr to alpha·lr over decay_steps, then constant (as optax.cosine_decay_schedule)."""
    fraction = jnp.minimum(_time(count, hparams), hparams["decay_steps"]) / hparams["decay_steps"]
    return _cosine(hparams["learning_rate"], hparams["alpha"], fraction)


def _cycle_start(index: Any, period: Any, t_mult: Any) -> Any:
    """Step at which cycle ``index`` starts: period · (t_mult^index − 1) / (t_mult − 1), or period·index."""
    geometric_ratio = jnp.where(t_mult == 1.0, 2.0, t_mult)  # keep the unused branch finite
    geometric = period * (geometric_ratio ** index - 1.0) / (geometric_ratio - 1.0)
    return jnp.where(t_mult == 1.0, period * index, geometric)


def sgdr_fn(count: Any, hparams: HParams) -> Any:
    """SGDR, cosine annealing with warm restarts (Loshchilov & Hutter 2017, eq. 5).

    Cycle i lasts T_i = period · t_mult^i steps; within it lr_t = alpha·lr + (1 − alpha)·lr·½(1 +
    cos(π·T_cur/T_i)), T_cur = steps since the cycle began. After ``restarts`` restarts (so
    ``restarts + 1`` cycles) the last cycle is not restarted: the rate stays at its end value alpha·lr.
    """
    t = _time(count, hparams)
    period, t_mult, restarts = hparams["period"], hparams["t_mult"], hparams["restarts"]
    # The cycle index in closed form, then nudged by one where floating-point rounding of the log put
    # it on the wrong side of a boundary (t exactly at a restart must start the new cycle).
    safe_ratio = jnp.where(t_mult == 1.0, 2.0, t_mult)
    geometric_index = jnp.floor(jnp.log1p(t * (safe_ratio - 1.0) / period) / jnp.log(safe_ratio))
    index = jnp.where(t_mult == 1.0, jnp.floor(t / period), geometric_index)
    index = jnp.where(_cycle_start(index + 1.0, period, t_mult) <= t, index + 1.0, index)
    index = jnp.where(_cycle_start(index, period, t_mult) > t, index - 1.0, index)
    index = jnp.minimum(index, restarts)
    cycle_length = period * t_mult ** index
    since_start = jnp.minimum(t - _cycle_start(index, period, t_mult), cycle_length)
    return _cosine(hparams["learning_rate"], hparams["alpha"], since_start / cycle_length)


def with_warmup(fn: Any, count: Any, hparams: HParams) -> Any:
    """Linear warmup in front of a schedule: lr_t = fn(0) · (t + 1) / W for t < W, then fn(t − W).

    W = ``warmup_steps`` (0 = none). The ramp reaches the peak on the W-th update (no update is wasted
    at rate 0) and the schedule proper starts, at its own step 0, right after the ramp.
    """
    t = _time(count, hparams)
    warmup = hparams["warmup_steps"]
    # During warmup max(t - W, 0) = 0, so one evaluation of the schedule serves both phases (it runs
    # on every step of every run, so a second evaluation would cost real throughput).
    # A product with the reciprocal, not a division: 1 / W does not change from step to step, so XLA
    # hoists it out of the loop (4% of the headline sweep's time on the CPU).
    ramp = jnp.where(t < warmup, (t + 1.0) * (1.0 / jnp.maximum(warmup, 1.0)), 1.0)
    return fn(jnp.maximum(t - warmup, 0.0), hparams) * ramp


_FRACTION = Range(0.0, 1.0, True, True)

constant = Schedule(name="constant", fn=constant_fn, source="lr_t = lr.")
time_based = Schedule(
    name="time_based", fn=time_based_fn,
    defaults={"decay": 1e-4},
    space={"decay": LogUniform(1e-6, 1e-1)},
    ranges={"decay": Range(0.0, INF, True, False)},
    source="Keras (2) SGD `decay` argument: lr / (1 + decay · iterations).",
)
exponential = Schedule(
    name="exponential", fn=exponential_fn,
    defaults={"decay_rate": 1e-3},
    space={"decay_rate": LogUniform(1e-5, 1e-1)},
    ranges={"decay_rate": Range(0.0, INF, True, False)},
    source="lr0 · e^(−k t), the Keras LearningRateScheduler example.",
)
step = Schedule(
    name="step", fn=step_fn,
    defaults={"factor": 0.5, "step_size": 100.0},
    space={"factor": Choice((0.1, 0.5)), "step_size": Choice((50.0, 100.0, 200.0))},
    ranges={"factor": Range(0.0, 1.0, False, True), "step_size": Range(1.0, INF, True, False)},
    source="Step decay: lr · factor^floor(t / step_size).",
)
cosine = Schedule(
    name="cosine", fn=cosine_fn,
    defaults={"decay_steps": 1000.0, "alpha": 0.0},
    space={"decay_steps": Choice((500.0, 1000.0, 2000.0)), "alpha": Uniform(0.0, 0.1)},
    ranges={"decay_steps": Range(0.0, INF, False, False), "alpha": _FRACTION},
    source="Loshchilov & Hutter 2017 without restarts; optax.cosine_decay_schedule.",
)
sgdr = Schedule(
    name="sgdr", fn=sgdr_fn,
    defaults={"period": 100.0, "restarts": 3.0, "t_mult": 1.0, "alpha": 0.0},
    space={"period": Choice((50.0, 100.0, 200.0)), "restarts": Choice((1.0, 3.0, 5.0)),
           "t_mult": Choice((1.0, 2.0)), "alpha": Uniform(0.0, 0.1)},
    ranges={"period": Range(1.0, INF, True, False), "restarts": Range(0.0, INF, True, False, integer=True),
            "t_mult": Range(1.0, INF, True, False), "alpha": _FRACTION},
    source="Loshchilov & Hutter 2017, SGDR: Stochastic Gradient Descent with Warm Restarts, eq. 5.",
)
