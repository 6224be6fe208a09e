"""The fused weight update (``TrainOptions(update="fused")``): same training as the XLA update, one
Triton kernel per layer when lowered for a GPU, clear refusals.

On this CPU the kernel runs in Pallas's interpreter; the GPU form is checked by lowering the program
for CUDA (cross-platform lowering, no GPU needed). Shapes are tiny: the interpreter is slow.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import optimizers
from bench.mnist.fused_update import check_tile, dense_update
from bench.mnist.model import MLPSpec
from bench.mnist.train import TrainOptions, fit_runs, learning_rate_fn, prepare_runs, train_runs
from landscapes.errors import InputError

SPEC = MLPSpec(layer_sizes=(64, 24, 10))  # 24 and 10 are not multiples of the 16-wide tiles
TILE = (16, 16)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x[:150] / 16.0).astype(np.float32), y[:150].astype(np.int32)


def _builder(family: str, schedule: str):
    fam, sched = optimizers.get_family(family), optimizers.get_schedule(schedule)
    return lambda hp, per_epoch: fam.build(hp, learning_rate_fn(sched, hp, per_epoch, "step"))


@pytest.mark.parametrize("family,schedule,batch", [("nesterov", "time_based", 24), ("adam", "sgdr", 10),
                                                    ("adagrad", "cosine", 64)])
def test_kernel_is_the_optax_update_of_xT_dz(family, schedule, batch) -> None:
    build = _builder(family, schedule)
    hp0 = optimizers.complete_config(family, schedule, {"learning_rate": 0.05})
    runs, fan_in, fan_out = 3, 40, 24  # ragged against the 16 × 16 tiles; batch padded up to a power of 2
    rng = np.random.default_rng(0)
    x, dz = (jnp.asarray(rng.standard_normal((runs, batch, n)), jnp.float32) for n in (fan_in, fan_out))
    w = jnp.asarray(rng.standard_normal((runs, fan_in, fan_out)), jnp.float32)
    hp = {k: jnp.full((runs,), v, jnp.float32) for k, v in hp0.items()}
    per_epoch, active = jnp.full((runs,), 5, jnp.int32), jnp.array([True, False, True])
    state = jax.vmap(lambda hp, u, w: build(hp, u).init(w))(hp, per_epoch, w)

    def reference(x, dz, w, state, hp, u, keep):
        updates, new = build(hp, u).update(x.T @ dz, state, w)
        return (jnp.where(keep, optax.apply_updates(w, updates), w),
                jax.tree.map(lambda n, o: jnp.where(keep, n.astype(o.dtype), o), new, state))

    def two_steps(update, *args):
        w, state = update(*args)
        return update(args[0], args[1], w, state, *args[4:])

    fused = functools.partial(dense_update, build=build, tile=TILE)
    want = jax.jit(jax.vmap(functools.partial(two_steps, reference)))(x, dz, w, state, hp, per_epoch, active)
    got = jax.jit(jax.vmap(functools.partial(two_steps, lambda *a: fused(*a))))(x, dz, w, state, hp, per_epoch, active)
    for expected, actual in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(np.asarray(got[0][1]), np.asarray(w[1]))  # the inactive run kept its weights


def _fit(digits, update, **option_kwargs):
    x, y = digits
    options = TrainOptions(epochs=3, batch_size=20, update=update, update_tile=TILE, **option_kwargs)
    return fit_runs(MLPSpec(layer_sizes=(64, 24, 10), dropout=0.2), "nesterov", "time_based", options,
                    {"learning_rate": np.array([0.02, 0.2, 1e4], np.float32), "momentum": 0.9}, x[:100], y[:100],
                    initializers=["glorot_uniform"] * 3, seeds=[0, 1, 2], train_sets=[np.arange(100)] * 2 + [
                        np.arange(70)], val_sets=[np.arange(100, 150)] * 3, x_eval=x, y_eval=y)


def test_fused_training_follows_the_xla_update(digits) -> None:
    # Dropout, early stopping, keep-best, a ragged last minibatch, a run with fewer rows and a
    # diverging run (learning rate 1e4): everything but the weight update is shared code.
    kwargs = dict(patience=1, keep_best=True)
    xla, fused = _fit(digits, "xla", **kwargs), _fit(digits, "fused", **kwargs)
    np.testing.assert_array_equal(np.asarray(fused.status), np.asarray(xla.status))
    np.testing.assert_array_equal(np.asarray(fused.epochs_run), np.asarray(xla.epochs_run))
    np.testing.assert_array_equal(np.asarray(fused.best_epoch), np.asarray(xla.best_epoch))
    assert np.asarray(xla.status)[2] != 0  # the 1e4 run diverged or stopped, as data
    for key in ("loss", "val_loss", "accuracy", "learning_rate"):
        np.testing.assert_allclose(np.asarray(fused.history[key])[:2], np.asarray(xla.history[key])[:2],
                                   rtol=1e-4, err_msg=key)
    for expected, actual in zip(jax.tree.leaves(xla.params), jax.tree.leaves(fused.params)):
        np.testing.assert_allclose(np.asarray(actual)[:2], np.asarray(expected)[:2], rtol=1e-3, atol=1e-5)


def _lowered_for_cuda(digits, family: str, schedule: str) -> str:
    x, y = digits
    options = TrainOptions(epochs=1, batch_size=32, update="fused")
    batch = prepare_runs(MLPSpec(layer_sizes=(64, 32, 32, 10)), family, schedule, options,
                         {"learning_rate": np.array([0.01, 0.1], np.float32)}, x, y,
                         initializers=["glorot_uniform"] * 2, seeds=[0, 1])
    return train_runs.trace(*batch).lower(lowering_platforms=("cuda",)).as_text()


@pytest.mark.parametrize("family", sorted(optimizers.FAMILIES))
def test_every_family_lowers_to_one_triton_kernel_per_layer(digits, family) -> None:
    kernels = [line for line in _lowered_for_cuda(digits, family, "sgdr").splitlines()
               if "__gpu$xla.gpu.triton" in line]
    assert len(kernels) == 3
    # the new weights overwrite the old in place (output 0 aliases the weights), else XLA would
    # copy the loop-carried weights every step
    assert all("output_operand_alias<output_tuple_indices = [0]" in line for line in kernels)


@pytest.mark.parametrize("schedule", sorted(optimizers.SCHEDULES))
def test_every_schedule_lowers_to_one_triton_kernel_per_layer(digits, schedule) -> None:
    assert _lowered_for_cuda(digits, "adam", schedule).count("__gpu$xla.gpu.triton") == 3


def test_bad_update_settings_are_refused_in_one_line() -> None:
    with pytest.raises(InputError, match=r"update must be one of \('xla', 'fused'\); got 'fast'"):
        TrainOptions(update="fast")
    with pytest.raises(InputError, match=r"powers of two in \[16, 256\]; got \(48, 64\)"):
        TrainOptions(update="fused", update_tile=(48, 64))
    with pytest.raises(InputError, match="two integers"):
        check_tile(64)
    with pytest.raises(InputError, match="two integers"):
        check_tile((64.5, 64))


def test_a_family_not_marked_elementwise_is_refused(digits) -> None:
    plain = optimizers.OptimizerFamily("lb_not_elementwise", optimizers.families.build_sgd, {"learning_rate": 0.01})
    optimizers.register_family(plain, replace=True)
    x, y = digits
    try:
        with pytest.raises(InputError, match="'lb_not_elementwise' is not: use update='xla'"):
            prepare_runs(SPEC, "lb_not_elementwise", "constant", TrainOptions(update="fused"), {}, x, y,
                         initializers=["glorot_uniform"], seeds=[0])
    finally:
        optimizers.FAMILIES.pop("lb_not_elementwise")


def test_state_not_shaped_like_the_weights_is_refused() -> None:
    per_column = optax.GradientTransformation(lambda w: jnp.zeros(w.shape[1]), lambda g, s, w: (g, s))
    w = jnp.zeros((16, 16))
    with pytest.raises(InputError, match=r"leaf of shape \(16,\) for weights \(16, 16\); use update='xla'"):
        dense_update(jnp.zeros((16, 16)), jnp.zeros((16, 16)), w, per_column.init(w), {}, jnp.int32(1),
                     jnp.bool_(True), lambda hp, u: per_column)
