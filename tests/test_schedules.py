"""Every schedule equals its closed form, written again here in numpy, at every step of a run.

The learning rate is read back from the optimizer itself (SGD on a unit gradient updates by −lr_t),
so these tests also check that make_optimizer feeds the schedule the right update count, warmup
included. One compiled program per schedule serves a batch of configs (vmapped).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimizers import SCHEDULES, complete_config, make_optimizer, validate_config
from optimizers.schedules import sgdr_fn

STEPS = 200


def constant_np(t, p):
    return p["learning_rate"]


def time_based_np(t, p):
    return p["learning_rate"] / (1 + p["decay"] * t)


def exponential_np(t, p):
    return p["learning_rate"] * math.exp(-p["decay_rate"] * t)


def step_np(t, p):
    return p["learning_rate"] * p["factor"] ** math.floor(t / p["step_size"])


def cosine_np(t, p):
    lr, alpha = p["learning_rate"], p["alpha"]
    progress = min(t, p["decay_steps"]) / p["decay_steps"]
    return alpha * lr + (1 - alpha) * lr * 0.5 * (1 + math.cos(math.pi * progress))


def sgdr_np(t, p):
    """Walk the cycles one by one (Loshchilov & Hutter 2017 eq. 5); no restart after the last one."""
    lr, alpha = p["learning_rate"], p["alpha"]
    start, length, restarts_done = 0.0, p["period"], 0
    while t >= start + length and restarts_done < p["restarts"]:
        start, length, restarts_done = start + length, length * p["t_mult"], restarts_done + 1
    t_cur = min(t - start, length)
    return alpha * lr + (1 - alpha) * lr * 0.5 * (1 + math.cos(math.pi * t_cur / length))


def with_warmup_np(reference, t, p):
    warmup = p["warmup_steps"]
    if t < warmup:
        return reference(0, p) * (t + 1) / warmup
    return reference(t - warmup, p)


REFERENCE = {"constant": constant_np, "time_based": time_based_np, "exponential": exponential_np,
             "step": step_np, "cosine": cosine_np, "sgdr": sgdr_np}

# Per schedule, configs that reach the interesting places within STEPS (boundaries, the end of the
# decay, the last restart), each once with and once without warmup.
CONFIGS = {
    "constant": [{"learning_rate": 0.1}],
    "time_based": [{"learning_rate": 0.1, "decay": 0.1 / 60}, {"learning_rate": 0.5, "decay": 0.05}],
    "exponential": [{"learning_rate": 0.1, "decay_rate": 0.01}, {"learning_rate": 1.0, "decay_rate": 0.0}],
    "step": [{"learning_rate": 0.1, "factor": 0.5, "step_size": 30.0},
             {"learning_rate": 0.1, "factor": 0.1, "step_size": 7.5}],
    "cosine": [{"learning_rate": 0.1, "decay_steps": 120.0, "alpha": 0.0},
               {"learning_rate": 0.1, "decay_steps": 50.0, "alpha": 0.2}],
    "sgdr": [{"learning_rate": 0.1, "period": 10.0, "restarts": 3.0, "t_mult": 2.0, "alpha": 0.1},
             {"learning_rate": 0.1, "period": 20.0, "restarts": 4.0, "t_mult": 1.0, "alpha": 0.0},
             {"learning_rate": 0.1, "period": 3.0, "restarts": 6.0, "t_mult": 1.5, "alpha": 0.05}],
}
WARMUPS = (0.0, 7.0)


def test_every_schedule_has_a_reference():
    assert set(REFERENCE) == set(SCHEDULES)


@functools.cache
def rates_of(name: str):
    """(name, list of configs, (C, STEPS) learning rates read back from SGD's updates); one compile."""
    configs = [complete_config("sgd", name, {**c, "warmup_steps": w}) for w in WARMUPS for c in CONFIGS[name]]
    batch = {k: np.array([c[k] for c in configs]) for k in configs[0]}
    validate_config("sgd", name, batch)

    def learning_rates(hparams):
        optimizer = make_optimizer("sgd", name, hparams)
        unit_gradient = jnp.ones(())

        def step(state, _):
            updates, state = optimizer.update(unit_gradient, state)
            return state, -updates

        return jax.lax.scan(step, optimizer.init(unit_gradient), None, length=STEPS)[1]

    values = jax.jit(jax.vmap(learning_rates))({k: jnp.asarray(v) for k, v in batch.items()})
    return name, configs, np.asarray(values)


@pytest.fixture(params=sorted(SCHEDULES))
def rates(request):
    return rates_of(request.param)


def test_schedule_equals_closed_form(rates):
    name, configs, values = rates
    for config, got in zip(configs, values):
        expected = [with_warmup_np(REFERENCE[name], t, config) for t in range(STEPS)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=f"{name} {config}")


def test_sgdr_restart_boundaries():
    _, _, values = rates_of("sgdr")
    lr = 0.1
    doubling = values[0]  # period 10, t_mult 2, 3 restarts: cycles start at 0, 10, 30, 70; end at 150
    for start in (0, 10, 30, 70):
        assert doubling[start] == pytest.approx(lr, rel=1e-14)
        if start:
            assert doubling[start - 1] < 0.2 * lr  # just before a restart: near the bottom
    assert np.allclose(doubling[150:], 0.1 * lr, rtol=1e-14)  # no 4th restart: stays at alpha·lr
    constant_period = values[1]  # period 20, 4 restarts, t_mult 1: restarts at 20..80, then ends at 100
    assert np.allclose(constant_period[[0, 20, 40, 60, 80]], lr, rtol=1e-14)
    assert np.allclose(constant_period[100:], 0.0, atol=1e-17)
    warm = values[len(CONFIGS["sgdr"])]  # the first config again, after 7 warmup steps
    np.testing.assert_allclose(warm[:7], lr * np.arange(1, 8) / 7, rtol=1e-14)
    assert warm[7 + 10] == pytest.approx(lr, rel=1e-14)


def test_time_based_is_the_tutorials_keras_decay():
    _, _, values = rates_of("time_based")
    # SGD(lr=0.1, decay=0.1/60): lr_t = 0.1 / (1 + t/600)
    np.testing.assert_allclose(values[0, [0, 1, 60, 199]], 0.1 / (1 + np.array([0, 1, 60, 199]) / 600), rtol=1e-14)


def test_warmup_zero_is_no_warmup(rates):
    name, configs, values = rates
    half = len(CONFIGS[name])
    assert values[:half, 0] == pytest.approx([c["learning_rate"] for c in configs[:half]])
    assert np.all(values[half:, 0] < values[:half, 0])


@pytest.mark.parametrize("t_mult", [1.5, 2.0, 3.0])
def test_sgdr_long_geometric_boundaries(t_mult):
    """Far into a run the closed-form cycle index must still land on the right side of each restart."""
    hparams = {"learning_rate": 1.0, "period": 1.0, "restarts": 40.0, "t_mult": t_mult, "alpha": 0.0}
    starts = np.cumsum([0.0] + [t_mult ** i for i in range(25)])
    starts = starts[starts < 2e9]
    at_start = np.asarray(sgdr_fn(jnp.asarray(starts), hparams))
    np.testing.assert_allclose(at_start, 1.0, rtol=1e-9)
    expected = [sgdr_np(t, hparams) for t in np.floor(starts[1:]) - 1]
    np.testing.assert_allclose(np.asarray(sgdr_fn(jnp.asarray(np.floor(starts[1:]) - 1), hparams)), expected,
                               rtol=1e-9, atol=1e-12)
