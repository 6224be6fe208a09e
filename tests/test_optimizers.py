"""Every optimizer family, generated over the registry (plus the plug-in example from the docs).

Each family is compiled once (module-scoped fixture) into a vmapped ``lax.scan`` over a quadratic; the
same program serves convergence, batch-versus-single and no-recompile checks.
"""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from landscapes.errors import InputError, UnknownNameError
from optimizers import (FAMILIES, SCHEDULES, OptimizerFamily, complete_config, config_defaults,
                        default_space, get_family, get_schedule, make_optimizer, register_family,
                        validate_config)
from optimizers.spaces import random_configs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "extending_optimizers.md"
DOCS_FAMILY = "docs_example"
STEPS = 300
X0 = np.array([1.0, -2.0])
SCHEDULE = "time_based"  # the family checks run under Keras's schedule, warmup and decay in the batch

# A learning rate (etc.) that suits 0.5·||x||² for each built-in; anything else uses its defaults.
QUADRATIC_CONFIG = {
    "sgd": {"learning_rate": 0.1},
    "momentum": {"learning_rate": 0.05, "momentum": 0.8},
    "nesterov": {"learning_rate": 0.05, "momentum": 0.8},
    "adam": {"learning_rate": 0.05},
    "adamw": {"learning_rate": 0.05},
    "rmsprop": {"learning_rate": 0.01},
    "adagrad": {"learning_rate": 0.5},
    "adadelta": {"learning_rate": 1.0, "eps": 1e-2},
    "nadam": {"learning_rate": 0.05},
    # Lion moves by ±lr per coordinate, so it only settles to ~lr²; its slow b2 = 0.99 overshoots 0.
    "lion": {"learning_rate": 0.01, "b1": 0.5, "b2": 0.9},
}


def docs_code() -> str:
    """The python blocks of docs/extending_optimizers.md, in order (so the docs example is tested)."""
    return "\n".join(re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S))


def family_names() -> list[str]:
    return sorted(FAMILIES) + [DOCS_FAMILY]


@pytest.fixture(scope="module", params=family_names())
def family(request):
    if request.param != DOCS_FAMILY:
        yield FAMILIES[request.param]
        return
    before = dict(FAMILIES)
    namespace: dict = {}
    exec(compile(docs_code(), str(DOCS), "exec"), namespace)  # registers the plug-in family
    added = [name for name in FAMILIES if name not in before]
    assert len(added) == 1, "the docs example should register exactly one family"
    try:
        yield FAMILIES[added[0]]
    finally:
        for name in added:
            FAMILIES.pop(name)


def quadratic(x):
    return 0.5 * jnp.sum(x ** 2)


def configs(family: OptimizerFamily) -> dict[str, np.ndarray]:
    """Three configs: the converging one, then two with time-based decay and warmup switched on."""
    base = complete_config(family, SCHEDULE, QUADRATIC_CONFIG.get(family.name, {}))
    batch = complete_config(family, SCHEDULE, {
        "learning_rate": base["learning_rate"] * np.array([1.0, 0.5, 0.25]),
        "decay": np.array([0.0, 1e-3, 1e-2]),
        "warmup_steps": np.array([0.0, 5.0, 0.0]),
        **{k: v for k, v in base.items() if k not in ("learning_rate", "decay", "warmup_steps")},
    })
    validate_config(family, SCHEDULE, batch)
    return batch


def run_one(family: OptimizerFamily, hparams, x0):
    """STEPS updates of ``family`` on the quadratic from x0; the iterate after every step."""
    optimizer = make_optimizer(family, SCHEDULE, hparams)

    def step(carry, _):
        x, state = carry
        updates, state = optimizer.update(jax.grad(quadratic)(x), state, x)
        x = optax.apply_updates(x, updates)
        return (x, state), x

    _, xs = jax.lax.scan(step, (x0, optimizer.init(x0)), None, length=STEPS)
    return xs


@pytest.fixture(scope="module")
def compiled(family):
    """(jitted batch runner, trace counter) for the family: compiled once per module."""
    traces = {"count": 0}

    @jax.jit
    def run_batch(hparams, x0):
        traces["count"] += 1  # Python side effect: runs only while tracing
        return jax.vmap(lambda hp: run_one(family, hp, x0))(hparams)

    return run_batch, traces


@pytest.fixture(scope="module")
def batch_result(family, compiled):
    run_batch, _ = compiled
    batch = configs(family)
    return batch, np.asarray(run_batch({k: jnp.asarray(v) for k, v in batch.items()}, jnp.asarray(X0)))


# --- registry -----------------------------------------------------------------------------------------


def test_registry_keys_are_names():
    assert all(key == f.name for key, f in FAMILIES.items())
    assert all(key == s.name for key, s in SCHEDULES.items())


def test_family_record(family):
    assert get_family(family.name) is family and get_family(family) is family
    assert "learning_rate" in family.hparams and family.hparams == tuple(family.defaults)
    assert set(family.space) <= set(family.hparams)
    validate_config(family, SCHEDULE, dict(family.defaults))  # defaults are valid
    for schedule in sorted(SCHEDULES):  # so are 16 draws from the default space with every schedule
        validate_config(family, schedule, random_configs(default_space(family, schedule), 16, seed=1))


def test_every_schedule_combines_with_family(family):
    """Each (family, schedule) pair builds, inits and updates under vmap (traced only, not compiled)."""
    x0 = jnp.asarray(X0)

    def one_update(hparams):
        optimizer = make_optimizer(family, schedule, hparams)
        updates, _ = optimizer.update(x0, optimizer.init(x0), x0)
        return updates

    for schedule in sorted(SCHEDULES):
        batch = random_configs(default_space(family, schedule), 3, seed=0)
        out = jax.eval_shape(jax.vmap(one_update), {k: jnp.asarray(v) for k, v in batch.items()})
        assert out.shape == (3, 2)


# --- behaviour on the quadratic -----------------------------------------------------------------------


def test_converges_on_quadratic(family, batch_result):
    _, xs = batch_result
    assert np.all(np.isfinite(xs))
    final = 0.5 * np.sum(xs[0, -1] ** 2)
    assert final < 1e-4 * 0.5 * np.sum(X0 ** 2), f"{family.name}: f = {final:.3g} after {STEPS} steps"


def test_batch_equals_each_config_alone(family, batch_result):
    batch, xs = batch_result
    alone = jax.jit(lambda hp, x0: run_one(family, hp, x0))
    index = 1  # the config with warmup and decay
    single = alone({k: jnp.asarray(v[index]) for k, v in batch.items()}, jnp.asarray(X0))
    np.testing.assert_allclose(xs[index], np.asarray(single), rtol=1e-12, atol=1e-14)


def test_new_values_do_not_recompile(family, compiled, batch_result):
    run_batch, traces = compiled
    batch, _ = batch_result
    assert traces["count"] == 1
    changed = {k: jnp.asarray(v * 0.9 if k != "warmup_steps" else v) for k, v in batch.items()}
    run_batch(changed, jnp.asarray(X0 * 0.5)).block_until_ready()
    assert traces["count"] == 1


# --- Keras SGD written out by hand ---------------------------------------------------------------------

KERAS = {"learning_rate": 0.1, "momentum": 0.8, "decay": 0.1 / 60}


def gradient_np(x):
    """∇ of Σ x⁴/4 + ½ x·x, not a pure quadratic, so a wrong update rule cannot hide behind linearity."""
    return x ** 3 + x


def keras_sgd(family_name: str, x, steps: int):
    """Keras SGD: lr_t = lr/(1 + decay·t); v = m·v − lr_t·g; x += v (Nesterov: x += m·v − lr_t·g)."""
    lr, m, decay = KERAS["learning_rate"], KERAS["momentum"], KERAS["decay"]
    x, v, out = np.array(x, dtype=np.float64), np.zeros_like(x), []
    for t in range(steps):
        g, lr_t = gradient_np(x), lr / (1.0 + decay * t)
        if family_name == "sgd":
            x = x - lr_t * g
        else:
            v = m * v - lr_t * g
            x = x + (m * v - lr_t * g if family_name == "nesterov" else v)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("family_name", ["sgd", "momentum", "nesterov"])
def test_keras_update_rule(family_name):
    known = config_defaults(family_name, "time_based")
    config = complete_config(family_name, "time_based", {k: v for k, v in KERAS.items() if k in known})
    hparams = {k: jnp.asarray(v) for k, v in config.items()}
    optimizer = make_optimizer(family_name, "time_based", hparams)

    @jax.jit
    def first_steps(x):
        def step(carry, _):
            x, state = carry
            updates, state = optimizer.update(x ** 3 + x, state, x)
            x = optax.apply_updates(x, updates)
            return (x, state), x
        return jax.lax.scan(step, (x, optimizer.init(x)), None, length=6)[1]

    start = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(np.asarray(first_steps(jnp.asarray(start))), keras_sgd(family_name, start, 6),
                               rtol=1e-13, atol=1e-15)


def test_optax_sgd_differs_from_keras_when_lr_decays():
    """Why the families scale before the trace: optax.sgd's order rescales the history by lr_t."""
    lr_fn = lambda t: KERAS["learning_rate"] / (1.0 + 0.1 * t)  # a fast decay makes the gap visible
    optimizer = optax.sgd(lr_fn, momentum=KERAS["momentum"])
    ours = make_optimizer("momentum", "time_based", {**KERAS, "decay": 0.1})
    x_optax = x_ours = jnp.asarray([1.0, -2.0])
    s_optax, s_ours = optimizer.init(x_optax), ours.init(x_ours)
    for _ in range(3):
        u, s_optax = optimizer.update(x_optax, s_optax)
        x_optax = x_optax + u
        u, s_ours = ours.update(x_ours, s_ours)
        x_ours = x_ours + u
    assert not np.allclose(x_optax, x_ours)


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("config, parameter, valid", [
    ({"learning_rate": 0.0}, "learning_rate", "(0, inf)"),
    ({"learning_rate": -0.1}, "learning_rate", "(0, inf)"),
    ({"learning_rate": float("inf")}, "learning_rate", "(0, inf)"),
    ({"learning_rate": float("nan")}, "learning_rate", "(0, inf)"),
    ({"momentum": 1.0}, "momentum", "[0, 1)"),
    ({"momentum": -0.1}, "momentum", "[0, 1)"),
    ({"momentum": np.array([0.5, 1.2, 0.9])}, "momentum", "[0, 1)"),
    ({"decay": -1e-3}, "decay", "[0, inf)"),
    ({"warmup_steps": 2.5}, "warmup_steps", "whole number"),
])
def test_validate_rejects(config, parameter, valid):
    with pytest.raises(InputError) as error:
        validate_config("nesterov", "time_based", config)
    message = str(error.value)
    assert "\n" not in message and message.startswith(parameter) and valid in message


@pytest.mark.parametrize("schedule, config, parameter", [
    ("sgdr", {"period": 0.5}, "period must be in [1, inf)"),
    ("sgdr", {"restarts": -1.0}, "restarts must be a whole number"),
    ("sgdr", {"t_mult": 0.5}, "t_mult must be in [1, inf)"),
    ("exponential", {"decay_rate": -0.1}, "decay_rate must be in [0, inf)"),
    ("step", {"factor": 0.0}, "factor must be in (0, 1]"),
    ("cosine", {"decay_steps": 0.0}, "decay_steps must be in (0, inf)"),
])
def test_validate_rejects_schedule_values(schedule, config, parameter):
    with pytest.raises(InputError, match=re.escape(parameter)):
        validate_config("sgd", schedule, config)


def test_batch_error_says_which_config():
    with pytest.raises(InputError, match=r"got 1.2 \(config 1 of 3"):
        validate_config("momentum", "constant", {"momentum": np.array([0.5, 1.2, 0.9])})


def test_unknown_hyperparameter():
    with pytest.raises(UnknownNameError, match="momentum"):
        complete_config("nesterov", "constant", {"momentun": 0.9})
    with pytest.raises(InputError):
        make_optimizer("sgd", "constant", {"momentum": 0.9})


def test_mismatched_batch_lengths():
    with pytest.raises(InputError, match="same number"):
        validate_config("momentum", "constant", {"momentum": np.zeros(2), "learning_rate": np.ones(3)})


def test_unknown_names_list_close_matches():
    with pytest.raises(UnknownNameError, match="nesterov"):
        get_family("nesterv")
    with pytest.raises(UnknownNameError, match="sgdr"):
        get_schedule("sgdrr")
    with pytest.raises(KeyError):  # still a KeyError for `name in registry`-style callers
        get_family("adamm")


def test_complete_config_fills_defaults():
    config = complete_config("nesterov", "time_based", KERAS)
    assert config == {**KERAS, "warmup_steps": 0.0}
    batch = complete_config("adam", "constant", {"learning_rate": np.array([1e-3, 1e-2])})
    assert set(batch) == {"learning_rate", "b1", "b2", "eps", "warmup_steps"}
    assert all(v.shape == (2,) for v in batch.values())


def test_register_family_rejects_duplicates_and_clashes():
    with pytest.raises(InputError, match="already registered"):
        register_family(FAMILIES["sgd"])
    clashing = OptimizerFamily(name="clash", build=optimizers.families.build_sgd,
                               defaults={"learning_rate": 0.1, "decay": 0.0}, ranges={"decay": (0, 1, True, True)})
    with pytest.raises(InputError, match="decay"):
        register_family(clashing)
    assert "clash" not in FAMILIES


def test_adam_update_rule_with_traced_betas():
    """Adam by hand (Kingma & Ba 2015, Algorithm 1) with b1, b2 passed as arrays through jit."""
    config = {"learning_rate": 0.01, "b1": 0.8, "b2": 0.95, "eps": 1e-8, "decay": 0.05}

    @jax.jit
    def first_steps(hparams, x):
        optimizer = make_optimizer("adam", "time_based", hparams)

        def step(carry, _):
            x, state = carry
            updates, state = optimizer.update(x ** 3 + x, state, x)
            x = optax.apply_updates(x, updates)
            return (x, state), x
        return jax.lax.scan(step, (x, optimizer.init(x)), None, length=5)[1]

    x = np.array([1.0, -2.0, 0.5])
    got = first_steps({k: jnp.asarray(v) for k, v in config.items()}, jnp.asarray(x))
    m, v, expected = np.zeros(3), np.zeros(3), []
    for t in range(5):
        g = gradient_np(x)
        m = config["b1"] * m + (1 - config["b1"]) * g
        v = config["b2"] * v + (1 - config["b2"]) * g ** 2
        m_hat, v_hat = m / (1 - config["b1"] ** (t + 1)), v / (1 - config["b2"] ** (t + 1))
        lr_t = config["learning_rate"] / (1 + config["decay"] * t)
        x = x - lr_t * m_hat / (np.sqrt(v_hat) + config["eps"])
        expected.append(x)
    np.testing.assert_allclose(np.asarray(got), np.array(expected), rtol=1e-12, atol=1e-15)
