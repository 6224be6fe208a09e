"""The fused weight update (``TrainOptions(update="fused")``): same training as the XLA update, one
Triton kernel per layer when lowered for a GPU, clear refusals.

On this CPU the kernel runs in Pallas's interpreter; the GPU form is checked by lowering the program
for CUDA (cross-platform lowering, no GPU needed). Shapes are tiny: the interpreter is slow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import optimizers
from bench.mnist.fused_update import check_tile, compare_with_optax, dense_update
from bench.mnist.model import MLPSpec
from bench.mnist.train import TrainOptions, fit_runs, prepare_runs, train_runs
from landscapes.errors import InputError

SPEC = MLPSpec(layer_sizes=(64, 24, 10))  # 24 and 10 are not multiples of the 16-wide tiles
TILE = (16, 16)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x[:150] / 16.0).astype(np.float32), y[:150].astype(np.int32)


@pytest.mark.parametrize("family,schedule,batch", [("nesterov", "time_based", 24), ("adam", "sgdr", 10),
                                                    ("adagrad", "cosine", 64)])
def test_kernel_is_the_optax_update_of_xT_dz(family, schedule, batch) -> None:
    # 40 x 24 weights are ragged against the 16 x 16 tiles; batches are padded up to a power of 2
    # (64: two chunks of 32 rows)
    found = compare_with_optax(family, schedule, batch=batch, tile=TILE)
    for expected, actual in zip(found["reference"], found["fused"]):
        np.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(found["fused"][0][1], found["weights"][1])  # the inactive run kept its weights


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
