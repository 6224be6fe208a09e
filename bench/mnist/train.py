"""Training many MLP runs as ONE jitted program: configs × folds × seeds vmapped, epochs scanned inside.

A *run* is one (optimizer config, initial params, PRNG key, train rows, validation rows). The program
``train_runs`` vmaps a single run's training over the leading axis of every run input, and each run is a
``lax.scan`` over epochs whose body is a ``lax.scan`` over minibatches (shuffled per epoch with the run's
key). Keras's callbacks are done the JAX way, per run, inside the vmapped loop:

* ``History``: per-epoch train loss/accuracy (mean over the epoch's minibatches, as Keras reports),
  validation loss/accuracy at the epoch's end, and the learning rate of the epoch's last update;
* ``EarlyStopping(monitor, patience, min_delta)``: a run whose monitored metric has not improved for
  ``patience`` epochs stops — its params and optimizer state are frozen (masked updates) and its later
  history entries are NaN; ``epochs_run`` and ``status`` say what happened;
* ``ModelCheckpoint(save_best_only=True)`` / ``restore_best_weights``: ``keep_best`` returns each run's
  params from its best monitored epoch;
* ``LearningRateScheduler``: the schedule runs per update (Keras's ``decay``, the default) or per
  epoch (``lr_per="epoch"``: the schedule's count is the epoch index).

Everything that changes array shapes or Python control flow — the MLP spec, the optimizer family and
schedule, batch size, epochs, the callback settings — is static; everything else (hyperparameter
values, initial params, keys, fold membership) is an array, so a whole search compiles once per
(batch_size, epochs) group. Different train/validation sizes across folds are handled by padded index
arrays with counts (masked out of losses and updates).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optimizers
from bench.core.step import OptimizerBuilder
from bench.mnist.model import MLPSpec, Params, accuracy, apply, check_initializer, init_params, per_example_loss
from bench.core.programs import compile_stored, named, shapes_key
from landscapes.errors import InputError

MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
LR_PER = ("step", "epoch")
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


class RunStatus(enum.IntEnum):
    """How a run ended (a value per run, never a crash)."""

    COMPLETED = 0  # trained for every epoch
    EARLY_STOPPED = 1  # EarlyStopping froze it before the last epoch
    DIVERGED = 2  # a non-finite training loss appeared


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Static training settings (each distinct value compiles its own program).

    Attributes:
      epochs: passes over the training rows.
      batch_size: minibatch size; the last minibatch of an epoch may be partial (as Keras).
      lr_per: ``"step"`` — the schedule advances every update (Keras ``decay``); ``"epoch"`` — it
        advances once per epoch (Keras ``LearningRateScheduler``).
      patience: EarlyStopping patience in epochs; None disables early stopping.
      monitor: metric for early stopping and keep-best: ``val_loss`` (Keras's default),
        ``val_accuracy``, ``loss`` or ``accuracy``.
      min_delta: smallest change of the monitored metric that counts as an improvement.
      keep_best: return each run's params from its best monitored epoch (save_best_only).
    """

    epochs: int = 20
    batch_size: int = 128
    lr_per: str = "step"
    patience: int | None = None
    monitor: str = "val_loss"
    min_delta: float = 0.0
    keep_best: bool = False

    def __post_init__(self) -> None:
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise InputError(f"epochs and batch_size must be >= 1; got {self.epochs}, {self.batch_size}")
        object.__setattr__(self, "epochs", int(self.epochs))
        object.__setattr__(self, "batch_size", int(self.batch_size))
        if self.lr_per not in LR_PER:
            raise InputError(f"lr_per must be one of {LR_PER}; got {self.lr_per!r}")
        if self.monitor not in MONITORS:
            raise InputError(f"monitor must be one of {MONITORS}; got {self.monitor!r}")
        if self.patience is not None:
            if int(self.patience) < 0:
                raise InputError(f"patience must be >= 0 or None; got {self.patience}")
            object.__setattr__(self, "patience", int(self.patience))
        object.__setattr__(self, "min_delta", float(self.min_delta))

    @property
    def tracks_best(self) -> bool:
        return self.patience is not None or self.keep_best


class TrainResult(NamedTuple):
    """Stacked outcome of R runs (leading axis R everywhere).

    ``params`` are the final params, or the best epoch's with ``keep_best``. ``history`` maps each of
    ``HISTORY_KEYS`` to an (R, epochs) array; entries after a run stopped are NaN. ``best_epoch`` is the
    0-based epoch of the best monitored value (-1 if not tracked). ``val_loss``/``val_accuracy`` (R,)
    are the validation metrics of the returned ``params`` — the history entry of the epoch those params
    come from (the last epoch run, or the best one with ``keep_best``), so scoring a run needs no
    second program; NaN without validation rows.
    """

    params: Params
    history: dict[str, jax.Array]
    epochs_run: jax.Array
    best_epoch: jax.Array
    status: jax.Array
    val_loss: jax.Array
    val_accuracy: jax.Array


def class_labels(labels: Any, n_classes: int, what: str = "labels") -> np.ndarray:
    """Labels as int32 class indices, refused in one line unless whole numbers in [0, n_classes):
    one_hot makes an out-of-range label an all-zero target that is never scored correct, and a cast
    truncates 4.5 to 4, both silently."""
    values = np.asarray(labels)
    if values.dtype.kind not in "biuf":
        raise InputError(f"{what} must be numbers (class indices 0..{n_classes - 1}); got dtype {values.dtype}")
    if values.size and (not np.all(np.isfinite(values)) or np.any(values != np.round(values))
                        or values.min() < 0 or values.max() >= n_classes):
        bad = values[~(np.isfinite(values) & (values == np.round(values)) & (values >= 0)
                       & (values < n_classes))]
        raise InputError(f"{what} must be whole numbers in [0, {n_classes - 1}]; found {bad[0].item()!r}")
    return values.astype(np.int32)


def learning_rate_fn(schedule: optimizers.Schedule, hparams: Mapping[str, Any], updates_per_epoch: Any,
                     lr_per: str):
    """update count → learning rate (float32): optimizers' schedule (with warmup), per step or per epoch.

    ``updates_per_epoch``: the run's own updates in an epoch, ceil(its training rows / batch) (may be
    traced), so a per-epoch schedule steps once per epoch as Keras's LearningRateScheduler does. The
    padded width of a vmapped batch is not it: runs with fewer rows skip their all-padding minibatches.
    """
    rate = optimizers.learning_rate_fn(schedule, hparams)
    if lr_per == "epoch":
        return lambda count: jnp.asarray(rate(count // updates_per_epoch), jnp.float32)
    return lambda count: jnp.asarray(rate(count), jnp.float32)


def _select(keep_new: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda n, o: jnp.where(keep_new, n, o), new, old)


def _cast_like(tree: Any, like: Any) -> Any:
    # x64 is on in the suite; a float64 schedule value must not promote the float32 carry.
    return jax.tree.map(lambda t, l: jnp.asarray(t, jnp.asarray(l).dtype), tree, like)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _train_one(spec: MLPSpec, family: optimizers.OptimizerFamily, schedule: optimizers.Schedule,
               options: TrainOptions, steps_per_epoch: int, x: jax.Array, y: jax.Array,
               x_eval: jax.Array, y_eval: jax.Array, params0: Params, hparams: Mapping[str, jax.Array],
               key: jax.Array, train_idx: jax.Array, train_count: jax.Array, val_idx: jax.Array,
               val_count: jax.Array) -> TrainResult:
    """One run (vmapped by ``train_runs``)."""
    # Over 60 lines on purpose: the traced body of one run (epochs, minibatch scan, early stopping,
    # best-epoch tracking) shares its closures; vmap and jit see it as one function.
    n_classes = spec.layer_sizes[-1]
    batch = options.batch_size
    padded = steps_per_epoch * batch
    train_idx = jnp.pad(train_idx, (0, padded - train_idx.shape[0]))
    positions = jnp.arange(padded)
    updates_per_epoch = jnp.maximum((train_count + batch - 1) // batch, 1)  # this run's own
    optimizer = family.build(hparams, learning_rate_fn(schedule, hparams, updates_per_epoch, options.lr_per))
    opt_state0 = optimizer.init(params0)
    dtype = jax.tree.leaves(params0)[0].dtype

    val_x = x_eval[val_idx]
    val_targets = jax.nn.one_hot(y_eval[val_idx], n_classes, dtype=dtype)
    val_mask = (jnp.arange(val_idx.shape[0]) < val_count).astype(dtype)
    improve_sign = -1.0 if options.monitor.endswith("loss") else 1.0

    def loss_fn(params, xb, targets, labels, mask, dropout_key):
        logits = apply(params, xb, spec, dropout_key=dropout_key if spec.dropout > 0 else None)
        loss = _masked_mean(per_example_loss(logits, targets, spec), mask)
        return loss, _masked_mean(accuracy(logits, labels), mask)

    def step(carry, inputs):
        params, opt_state, count, stopped, loss_sum, correct_sum = carry
        idx, mask, dropout_key = inputs
        labels = y[idx]
        n_real = jnp.sum(mask)
        active = (n_real > 0) & ~stopped  # an all-padding minibatch or a stopped run does not update
        targets = jax.nn.one_hot(labels, n_classes, dtype=dtype)
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, x[idx], targets, labels, mask, dropout_key)
        updates, new_state = optimizer.update(grads, opt_state, params)
        new_params = _cast_like(optax.apply_updates(params, updates), params)
        new_state = _cast_like(new_state, opt_state)
        params = _select(active, new_params, params)
        opt_state = _select(active, new_state, opt_state)
        count = count + active.astype(count.dtype)
        return (params, opt_state, count, stopped, loss_sum + loss * n_real, correct_sum + acc * n_real), None

    def epoch(carry, epoch_index):
        params, opt_state, count, stopped, diverged, best_params, best_value, best_epoch, wait, epochs_run = carry
        shuffle_key, dropout_key = epoch_keys(key, epoch_index)
        # Real rows first in random order, padding last: sort random keys with padding pushed to 2.
        # Position i's number and minibatch s's key are drawn from fold_in(key, i) and fold_in(key, s),
        # so they do not depend on how far the rows are padded (the search pads every fold to its
        # group's widest, the estimator to a power of two): same rows, same minibatches.
        draws = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(shuffle_key, i)))(positions)
        order = jnp.argsort(jnp.where(positions < train_count, draws, 2.0))  # stable: ties keep position order
        idx = train_idx[order].reshape(steps_per_epoch, batch)
        mask = (positions < train_count).astype(dtype).reshape(steps_per_epoch, batch)
        step_keys = jax.vmap(lambda s: jax.random.fold_in(dropout_key, s))(jnp.arange(steps_per_epoch))
        zero = jnp.zeros((), dtype)
        (params, opt_state, count, _, loss_sum, correct_sum), _ = jax.lax.scan(
            step, (params, opt_state, count, stopped, zero, zero), (idx, mask, step_keys))
        n_train = jnp.maximum(train_count.astype(dtype), 1.0)
        val_logits = apply(params, val_x, spec)
        metrics = {
            "loss": loss_sum / n_train,
            "accuracy": correct_sum / n_train,
            "val_loss": jnp.where(val_count > 0, _masked_mean(per_example_loss(val_logits, val_targets, spec),
                                                                val_mask), jnp.nan),
            "val_accuracy": jnp.where(val_count > 0, _masked_mean(
                accuracy(val_logits, y_eval[val_idx]), val_mask), jnp.nan),
            # the rate of the epoch's last update (count already advanced past it)
            "learning_rate": learning_rate_fn(schedule, hparams, updates_per_epoch, options.lr_per)(
                jnp.maximum(count - 1, 0)).astype(dtype),
        }
        was_stopped = stopped
        epochs_run = epochs_run + (~was_stopped).astype(epochs_run.dtype)
        diverged = diverged | (~was_stopped & ~jnp.isfinite(metrics["loss"]))
        if options.tracks_best:
            value = improve_sign * metrics[options.monitor]
            improved = ~was_stopped & (value > best_value + options.min_delta)
            best_value = jnp.where(improved, value, best_value)
            best_epoch = jnp.where(improved, epoch_index, best_epoch)
            if options.keep_best:
                best_params = _select(improved, params, best_params)
            wait = jnp.where(improved, 0, wait + 1)
            if options.patience is not None:  # Keras: stop when `patience` epochs passed without improving
                stopped = stopped | (~improved & (wait >= options.patience))
        stopped = stopped | diverged  # a diverged run stops changing too
        history = {k: jnp.where(was_stopped, jnp.nan, v) for k, v in metrics.items()}
        carry = (params, opt_state, count, stopped, diverged, best_params, best_value, best_epoch, wait, epochs_run)
        return carry, history

    init = (params0, opt_state0, jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros((), bool), params0,
            jnp.asarray(-jnp.inf, dtype), jnp.asarray(-1, jnp.int32), jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.int32))
    final, history = jax.lax.scan(epoch, init, jnp.arange(options.epochs, dtype=jnp.int32))
    params, _, _, _, diverged, best_params, _, best_epoch, _, epochs_run = final
    status = jnp.where(diverged, RunStatus.DIVERGED,
                       jnp.where(epochs_run < options.epochs, RunStatus.EARLY_STOPPED, RunStatus.COMPLETED))
    chosen = _select(best_epoch >= 0, best_params, params) if options.keep_best else params
    # The epoch the returned params come from: a stopped run's params froze after its last epoch run.
    source = jnp.maximum(epochs_run - 1, 0)
    if options.keep_best:
        source = jnp.where(best_epoch >= 0, best_epoch, source)
    return TrainResult(chosen, history, epochs_run, best_epoch, status.astype(jnp.int32),
                       history["val_loss"][source], history["val_accuracy"][source])


STATIC_ARGS = ("spec", "optimizer", "options", "steps_per_epoch")


@functools.partial(jax.jit, static_argnames=STATIC_ARGS)
def train_runs(spec: MLPSpec, optimizer: OptimizerBuilder, options: TrainOptions, steps_per_epoch: int,
               x: jax.Array, y: jax.Array, x_eval: jax.Array, y_eval: jax.Array, params0: Params,
               hparams: Mapping[str, jax.Array], keys: jax.Array, train_idx: jax.Array,
               train_count: jax.Array, val_idx: jax.Array, val_count: jax.Array) -> TrainResult:
    """The compiled program: every run input has a leading run axis R; ``x, y, x_eval, y_eval`` are shared.

    ``train_idx`` (R, T) and ``val_idx`` (R, V) index rows of ``x``/``x_eval``; only the first
    ``train_count``/``val_count`` of each row are real. ``steps_per_epoch`` = ceil(T / batch_size).
    ``optimizer`` holds the family and schedule records (a family registered again is another
    builder, so it compiles anew).
    """
    family, schedule = optimizer.records
    one = functools.partial(_trace_hook, spec, family, schedule, options, steps_per_epoch, x, y, x_eval, y_eval)
    return jax.vmap(one)(params0, hparams, keys, train_idx, train_count, val_idx, val_count)


def _trace_hook(*args: Any) -> TrainResult:
    # A seam for tests that count traces (monkeypatch this); calls _train_one.
    return _train_one(*args)


@functools.partial(jax.jit, static_argnames=("spec",))
def evaluate_runs(spec: MLPSpec, params: Params, x: jax.Array, y: jax.Array, idx: jax.Array,
                  count: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-run (loss, accuracy) of stacked ``params`` on rows ``idx[r, :count[r]]`` of (x, y)."""
    def one(run_params, run_idx, run_count):
        logits = apply(run_params, x[run_idx], spec)
        mask = (jnp.arange(run_idx.shape[0]) < run_count).astype(logits.dtype)
        targets = jax.nn.one_hot(y[run_idx], spec.layer_sizes[-1], dtype=logits.dtype)
        return (_masked_mean(per_example_loss(logits, targets, spec), mask),
                _masked_mean(accuracy(logits, y[run_idx]), mask))
    return jax.vmap(one)(params, idx, count)


def pad_indices(index_sets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged row-index sets → (R, max length) int32 array padded with 0, and their lengths (R,)."""
    counts = np.array([len(s) for s in index_sets], dtype=np.int32)
    width = int(counts.max(initial=0))
    out = np.zeros((len(index_sets), width), dtype=np.int32)
    for row, indices in enumerate(index_sets):
        out[row, : len(indices)] = indices
    return out, counts


def prepare_hparams(family: str | optimizers.OptimizerFamily, schedule: str | optimizers.Schedule,
                    configs: Mapping[str, Any], n_runs: int | None = None) -> dict[str, np.ndarray]:
    """Complete and validate an optimizer config batch; float32 arrays (C,) (or broadcast to ``n_runs``)."""
    full = optimizers.complete_config(family, schedule, dict(configs))
    optimizers.validate_config(family, schedule, full)
    size = n_runs if n_runs is not None else max([np.size(v) for v in full.values()] + [1])
    return {k: np.broadcast_to(np.asarray(v, np.float32), (size,)).copy() for k, v in full.items()}


def run_seed(random_state: int | np.random.RandomState | None) -> int:
    """A run's seed from a scikit-learn ``random_state``: an int in [0, 2**32) is the seed itself; None
    (unseeded) or a ``numpy.random.RandomState`` (a stream the caller owns) draws one, as
    scikit-learn's ``check_random_state(...).randint`` would.

    The one rule for :class:`bench.mnist.estimator.JaxMLPClassifier` (its ``random_state``) and
    :func:`bench.mnist.search.cross_validate` (each of its ``seeds``), so both train the same runs.
    """
    if random_state is None:
        return int(np.random.randint(np.iinfo(np.int32).max))  # numpy's global RandomState, as scikit-learn
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and (
            0 <= random_state < 2 ** 32):
        return int(random_state)
    raise InputError(f"random_state must be None, a numpy RandomState or a whole number in [0, 2**32);"
                     f" got {random_state!r}")


def run_keys(seed: Any) -> tuple[jax.Array, jax.Array]:
    """(initial-params key, training key) of a run: ``split(key(seed))``.

    Nothing else enters, neither the candidate config nor the CV fold: runs with one seed share their
    initial draw (per initializer) and their training randomness across configs and folds (common
    random numbers), which is what ``GridSearchCV`` gives an estimator with a fixed ``random_state``
    (every fit of every fold gets the same one, and a fit cannot know its fold).
    """
    init_key, train_key = jax.random.split(jax.random.key(seed))
    return init_key, train_key


def epoch_keys(train_key: jax.Array, epoch: Any) -> tuple[jax.Array, jax.Array]:
    """(shuffle key, dropout key) of an epoch: ``split(fold_in(train_key, epoch))``. Row position i of the
    epoch's shuffle draws from ``fold_in(shuffle key, i)``, minibatch s from ``fold_in(dropout key, s)``."""
    shuffle_key, dropout_key = jax.random.split(jax.random.fold_in(train_key, epoch))
    return shuffle_key, dropout_key


def init_runs(spec: MLPSpec, initializers: Sequence[str], seeds: Sequence[int | np.random.RandomState | None]
              ) -> tuple[Params, jax.Array]:
    """Stacked initial params and training keys for R runs: run r's come from
    ``run_keys(run_seed(seeds[r]))`` (see :func:`run_keys` for what runs share)."""
    if len(initializers) != len(seeds):
        raise InputError("initializers and seeds need one entry per run")
    names = [check_initializer(str(name)) for name in initializers]
    if not names:
        raise InputError("init_runs needs at least one run")
    # One run per call of a single-run program: its compile does not depend on the number of runs, so
    # a search and its refit share it (vmapping over runs compiled a program per run count, seconds
    # each: docs/performance.md). The draws are the same numbers: each run's comes from its own key.
    drawn = [_init_one(spec, name)(np.uint32(run_seed(seed))) for name, seed in zip(names, seeds)]
    params = jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *[p for p, _ in drawn])
    keys = jax.random.wrap_key_data(np.stack([np.asarray(jax.random.key_data(k)) for _, k in drawn]))
    return params, keys


@functools.lru_cache(maxsize=64)
def _init_one(spec: MLPSpec, initializer: str):
    def draw(seed: jax.Array) -> tuple[Params, jax.Array]:
        init_key, train_key = run_keys(seed)
        return init_params(init_key, spec, initializer, jnp.float32), train_key
    return jax.jit(draw)


def steps_per_epoch(n_train_max: int, batch_size: int) -> int:
    """ceil(n / batch_size), Keras's number of updates per epoch."""
    return max(1, math.ceil(n_train_max / batch_size))


class RunBatch(NamedTuple):
    """The arguments of one ``train_runs`` call: static settings then arrays (``*batch`` unpacks them;
    a compiled program takes ``*batch.arrays``)."""

    spec: MLPSpec
    optimizer: OptimizerBuilder
    options: TrainOptions
    steps_per_epoch: int
    x: np.ndarray
    y: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    params0: Params
    hparams: dict[str, np.ndarray]
    keys: jax.Array
    train_idx: np.ndarray
    train_count: np.ndarray
    val_idx: np.ndarray
    val_count: np.ndarray

    @property
    def arrays(self) -> tuple[Any, ...]:
        """The array arguments, those a compiled program (``compile_runs``) takes."""
        return tuple(self[len(STATIC_ARGS):])


def prepare_runs(spec: MLPSpec, family: str | optimizers.OptimizerFamily, schedule: str | optimizers.Schedule,
                 options: TrainOptions, hparams: Mapping[str, Any], x: np.ndarray, y: np.ndarray, *,
                 initializers: Sequence[str], seeds: Sequence[int | np.random.RandomState | None],
                 train_sets: Sequence[np.ndarray] | None = None, val_sets: Sequence[np.ndarray] | None = None,
                 x_eval: np.ndarray | None = None, y_eval: np.ndarray | None = None) -> RunBatch:
    """Build the R runs on the host (validating everything) without training them.

    Args:
      hparams: optimizer config per run (a batch of shape (R,), or scalars shared by all runs).
      x, y: training rows (float32 (N, features), int labels (N,)).
      initializers, seeds: one per run (see :func:`init_runs`).
      train_sets, val_sets: per-run row indices into (x, y) and (x_eval, y_eval); default all rows of x
        for training and no validation.
      x_eval, y_eval: the rows validation indices refer to (default x, y).
    """
    family, schedule = optimizers.get_family(family), optimizers.get_schedule(schedule)
    n_runs = len(seeds)
    hp = prepare_hparams(family, schedule, hparams, n_runs)
    if train_sets is None:
        train_sets = [np.arange(len(x))] * n_runs
    if val_sets is None:
        val_sets = [np.zeros(0, np.int32)] * n_runs
    if options.tracks_best and options.monitor.startswith("val_") and min(len(v) for v in val_sets) == 0:
        raise InputError(f"monitor {options.monitor!r} needs validation rows for every run;"
                         " pass validation data or monitor 'loss'/'accuracy'")
    train_idx, train_count = pad_indices(train_sets)
    if train_count.min(initial=1) < 1:
        raise InputError("every run needs at least one training row")
    val_idx, val_count = pad_indices(val_sets)
    if val_idx.shape[1] == 0:
        val_idx = np.zeros((n_runs, 1), np.int32)  # one masked row keeps the shapes non-empty
    x32, y32 = np.asarray(x, np.float32), class_labels(y, spec.layer_sizes[-1], "labels")
    if x32.ndim != 2 or x32.shape[1] != spec.layer_sizes[0]:
        raise InputError(f"inputs must have shape (n, {spec.layer_sizes[0]}); got {x32.shape}")
    x_eval = x32 if x_eval is None else np.asarray(x_eval, np.float32)
    y_eval = y32 if y_eval is None else class_labels(y_eval, spec.layer_sizes[-1], "validation labels")
    params0, keys = init_runs(spec, initializers, seeds)
    return RunBatch(spec, OptimizerBuilder(family.name, schedule.name, records=(family, schedule)), options,
                    steps_per_epoch(train_idx.shape[1], options.batch_size), x32, y32, x_eval, y_eval,
                    params0, hp, keys, train_idx, train_count, val_idx, val_count)


def compile_runs(batch: RunBatch):
    """AOT-compile ``train_runs`` for ``batch``'s shapes (call the result with ``*batch.arrays``);
    a program an earlier process stored is loaded without tracing (``bench.core.programs``)."""
    optimizer = batch.optimizer.program_key()
    if optimizer is None:
        return train_runs.lower(*batch).compile()
    key = "|".join(map(str, ("mnist.train_runs", batch.spec, optimizer, batch.options,
                             batch.steps_per_epoch, shapes_key(batch.arrays))))
    return compile_stored(key, lambda: _named_train_runs(key).lower(*batch))


@functools.lru_cache(maxsize=32)
def _named_train_runs(key: str):
    """``train_runs`` jitted under a name of its program key (``bench.core.programs.named``)."""
    return jax.jit(named(train_runs.__wrapped__, key), static_argnames=STATIC_ARGS)


def fit_runs(*args: Any, **kwargs: Any) -> TrainResult:
    """:func:`prepare_runs` then one call of the compiled program (same arguments)."""
    return train_runs(*prepare_runs(*args, **kwargs))
