"""A dense layer's weight gradient and its optimizer update as ONE GPU kernel (``update="fused"``).

Why: on a GPU the vmapped MNIST search is bound by device memory, not arithmetic. A 784-512-512-10
step at batch 64 does about 26 FLOPs per byte of weights it touches, and each step of each config
moves its weights, gradient and optimizer state through memory: XLA computes the weight gradient
dW = Xᵀ dZ in one kernel, writes it out, and the optimizer's elementwise fusion reads it back with
the weights and state. Here each (rows × columns) tile of dW stays in registers: the kernel
multiplies the tile, applies the optax update to it and stores the new weights and state. That is
one write and one read of every weight fewer per step: counted by hand, 27 % of the step's memory
traffic for SGD with (Nesterov) momentum and 21 % for Adam (docs/mnist.md; not yet timed on a GPU).

The kernel runs the family's own optax update (``family.build(...).update``) on each tile, so the
numbers are the update the XLA path computes, up to the order of the sums in Xᵀ dZ. That needs an
update in which each parameter's new value depends only on its own gradient, value and state and on
scalars such as the step count: families with ``elementwise=True`` (every built-in one). Each weight
then carries its own optimizer state; their counts advance together, so nothing changes.

Written by hand with Pallas (Triton backend) because XLA fuses a matmul with at most a
single-output epilogue, and the update writes two or three arrays (weights and state). On other
backends the kernel runs in Pallas's interpreter: correct and slow, which is how the tests check
it without a GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.experimental import pallas as pl
from jax.extend import core as jax_core

from landscapes.errors import InputError

UPDATES = ("xla", "fused")
DEFAULT_TILE = (64, 64)
MIN_BATCH = 16  # Triton's dot needs every dimension >= 16; a smaller batch is padded with zero rows
BATCH_CHUNK = 32  # minibatch rows of x and dz an instance holds at a time

BuildFn = Callable[[Mapping[str, jax.Array], jax.Array], optax.GradientTransformation]


def check_tile(tile: Any) -> tuple[int, int]:
    """``tile`` as (rows, columns), each a power of two in [16, 256] (Triton's block shapes)."""
    try:
        rows, columns = (int(t) for t in tile)
        if [rows, columns] != list(tile):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"update_tile must be two integers (rows, columns); got {tile!r}") from None
    for size in (rows, columns):
        if size < 16 or size > 256 or size & (size - 1):
            raise InputError(f"update_tile sizes must be powers of two in [16, 256]; got {tile!r}")
    return rows, columns


def _evaluate(jaxpr: Any, consts: list[Any], *args: Any) -> list[Any]:
    # optax's scale_by_learning_rate emits `copy`, which Triton cannot lower; a copy of a value in
    # registers is the value, so evaluate the update's jaxpr with copies dropped.
    env: dict[Any, Any] = {}

    def read(var):
        return var.val if isinstance(var, jax_core.Literal) else env[var]

    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        if eqn.primitive.name == "copy":
            outs = values
        elif eqn.primitive.name in ("pjit", "jit"):
            inner = eqn.params["jaxpr"]
            outs = _evaluate(inner.jaxpr, inner.consts, *values)
        else:
            outs = eqn.primitive.bind(*values, **eqn.params)
            if not eqn.primitive.multiple_results:
                outs = [outs]
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def _without_copies(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args):
        closed, shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        outs = _evaluate(closed.jaxpr, closed.consts, *jax.tree.leaves(args))
        return jax.tree.unflatten(jax.tree.structure(shape), outs)
    return wrapped


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def dense_update(x: jax.Array, dz: jax.Array, w: jax.Array, state: Any, hparams: Mapping[str, jax.Array],
                 updates_per_epoch: jax.Array, active: jax.Array, build: BuildFn, *,
                 tile: tuple[int, int] = DEFAULT_TILE, num_warps: int | None = None) -> tuple[jax.Array, Any]:
    """One run's new weights and their optimizer state, dW = xᵀ dz computed tile by tile in the kernel.

    Args:
      x: the layer's inputs (batch, fan_in); dz: the loss's gradient with respect to its
        pre-activations (batch, fan_out), zero on padding rows.
      w: weights (fan_in, fan_out); state: this weight's own optimizer state (``build(...).init(w)``):
        leaves shaped like ``w`` or scalars.
      hparams, updates_per_epoch: what ``build(hparams, updates_per_epoch)`` needs to make the
        optimizer (scalars; traced and vmapped like any run input).
      active: scalar bool; where False the weights and state come back unchanged (a stopped run, or
        a minibatch of padding only).
      tile: (rows, columns) of dW per kernel instance; num_warps: Triton warps per instance
        (default 4, 8 for tiles of more than 64 × 64).

    Lowered for a GPU, the Triton kernel; for any other platform, the same kernel in Pallas's
    interpreter (``lax.platform_dependent`` picks when the program is lowered).
    """
    rows, columns = check_tile(tile)
    fan_in, fan_out = w.shape
    batch = x.shape[0]
    padded = max(MIN_BATCH, _next_power_of_two(batch))
    if padded != batch:  # zero rows add nothing to xᵀ dz
        x = jnp.pad(x, ((0, padded - batch), (0, 0)))
        dz = jnp.pad(dz, ((0, padded - batch), (0, 0)))
    leaves, tree = jax.tree.flatten(state)
    tiled = []
    for leaf in leaves:
        if jnp.shape(leaf) not in (w.shape, ()):
            raise InputError(f"update='fused' needs optimizer state shaped like the weights or scalar; got a "
                             f"leaf of shape {jnp.shape(leaf)} for weights {w.shape}; use update='xla'")
        tiled.append(jnp.shape(leaf) == w.shape)
    names = sorted(hparams)
    scalars = [jnp.reshape(hparams[n], (1,)) for n in names]
    scalars += [jnp.reshape(updates_per_epoch, (1,)), jnp.reshape(active, (1,)).astype(jnp.int32)]
    update = _without_copies(lambda hp, per_epoch, g, s, p: build(hp, per_epoch).update(g, s, p))
    accumulate_in = jnp.promote_types(w.dtype, jnp.float32)

    def kernel(masked, *refs):
        scalar_refs, (x_ref, dz_ref, w_ref) = refs[:len(scalars)], refs[len(scalars):len(scalars) + 3]
        state_refs = refs[len(scalars) + 3:len(scalars) + 3 + len(leaves)]
        w_out, *state_outs = refs[len(scalars) + 3 + len(leaves):]
        hp = {n: r[...] for n, r in zip(names, scalar_refs)}
        per_epoch, keep = scalar_refs[-2][...], scalar_refs[-1][...] != 0
        # Blocks at the right and bottom edges reach past the arrays: mask them (Triton does not).
        row_ok = pl.program_id(0) * rows + jnp.arange(rows, dtype=jnp.int32) < fan_in
        col_ok = pl.program_id(1) * columns + jnp.arange(columns, dtype=jnp.int32) < fan_out
        inside = row_ok[:, None] & col_ok[None, :]
        if masked:
            from jax.experimental.pallas import triton as pltriton

            def load(ref, mask):
                return pltriton.load(ref, mask=mask, other=0)

            def store(ref, value, mask):
                pltriton.store(ref, value, mask=mask)
        else:  # the interpreter pads edge blocks itself
            def load(ref, mask):
                return ref[...]

            def store(ref, value, mask):
                ref[...] = value

        # dW's tile summed over the minibatch a chunk of rows at a time, so an instance holds one
        # chunk of x and dz in registers whatever the batch size.
        chunk = min(BATCH_CHUNK, padded)
        x_mask = jnp.broadcast_to(row_ok[None, :], (chunk, rows))
        dz_mask = jnp.broadcast_to(col_ok[None, :], (chunk, columns))

        def accumulate(k, grad):
            part = pl.ds(pl.multiple_of(k * chunk, chunk), chunk)
            x_part, dz_part = load(x_ref.at[part, :], x_mask), load(dz_ref.at[part, :], dz_mask)
            return grad + jax.lax.dot_general(x_part, dz_part, (((0,), (0,)), ((), ())),
                                              preferred_element_type=accumulate_in)

        grad = jax.lax.fori_loop(0, padded // chunk, accumulate, jnp.zeros((rows, columns), accumulate_in))
        grad = grad.astype(w.dtype)
        weights = load(w_ref, inside)
        old = [load(r, inside) if t else r[...] for r, t in zip(state_refs, tiled)]
        updates, new = update(hp, per_epoch, grad, tree.unflatten(old), weights)
        store(w_out, jnp.where(keep, optax.apply_updates(weights, updates), weights).astype(w.dtype), inside)
        for ref, value, before, t in zip(state_outs, jax.tree.leaves(new), old, tiled):
            value = jnp.where(keep, value.astype(ref.dtype), before)
            if t:
                store(ref, value, inside)
            else:  # a scalar (the step count): every instance writes the same value
                ref[...] = jnp.broadcast_to(value, (1,))

    scalar_spec = pl.BlockSpec((1,), lambda i, j: (0,))
    weight_spec = pl.BlockSpec((rows, columns), lambda i, j: (i, j))
    in_specs = [scalar_spec] * len(scalars) + [
        pl.BlockSpec((padded, rows), lambda i, j: (0, i)), pl.BlockSpec((padded, columns), lambda i, j: (0, j)),
        weight_spec] + [weight_spec if t else scalar_spec for t in tiled]
    out_shape = [jax.ShapeDtypeStruct(w.shape, w.dtype)] + [
        jax.ShapeDtypeStruct(leaf.shape if t else (1,), leaf.dtype) for leaf, t in zip(leaves, tiled)]
    out_specs = [weight_spec] + [weight_spec if t else scalar_spec for t in tiled]
    grid = (pl.cdiv(fan_in, rows), pl.cdiv(fan_out, columns))
    warps = num_warps or (4 if rows * columns <= 64 * 64 else 8)
    inputs = (*scalars, x, dz, w, *[leaf if t else jnp.reshape(leaf, (1,)) for leaf, t in zip(leaves, tiled)])
    # The new weights and state overwrite the old ones in place (each tile is read, then written, by
    # its own instance only): without aliases XLA copies the loop-carried weights and state every
    # step, which would cost more traffic than the kernel saves. Scalars are not aliased: every
    # instance reads the count.
    first_leaf = len(scalars) + 3
    aliases = {len(scalars) + 2: 0, **{first_leaf + k: 1 + k for k, t in enumerate(tiled) if t}}

    def call(on_gpu: bool) -> Callable[..., Any]:
        if on_gpu:
            from jax.experimental.pallas import triton as pltriton

            backend = {"compiler_params": pltriton.CompilerParams(num_warps=warps, num_stages=1)}
        else:
            backend = {"interpret": True}
        return pl.pallas_call(functools.partial(kernel, on_gpu), out_shape=out_shape, grid=grid, in_specs=in_specs,
                              out_specs=out_specs, name="fused_dense_update", input_output_aliases=aliases,
                              **backend)

    outs = jax.lax.platform_dependent(*inputs, cuda=call(True), default=call(False))
    new_leaves = [out if t else jnp.reshape(out, ()) for out, t in zip(outs[1:], tiled)]
    return outs[0], tree.unflatten(new_leaves)


def compare_with_optax(family: str, schedule: str, *, batch: int, fan_in: int = 40, fan_out: int = 24,
                       tile: tuple[int, int] = (16, 16), seed: int = 0) -> dict[str, Any]:
    """Two steps of :func:`dense_update` against optax's update of xᵀdz on random data, 3 runs
    vmapped, the second inactive (its weights must come back unchanged). The default shapes are
    ragged against the tile and the batch is padded, so the masked edges are exercised. Used by
    the tests (interpreter) and by ``bench.gpu_check`` (the Triton kernel).

    Returns ``{"reference": leaves, "fused": leaves, "weights": the initial weights}`` as numpy.
    """
    import numpy as np

    import optimizers
    from bench.mnist.train import learning_rate_fn

    fam, sched = optimizers.get_family(family), optimizers.get_schedule(schedule)

    def build(hp, per_epoch):
        return fam.build(hp, learning_rate_fn(sched, hp, per_epoch, "step"))

    hp0 = optimizers.complete_config(fam, sched, {"learning_rate": 0.05})
    runs = 3
    rng = np.random.default_rng(seed)
    x, dz = (jnp.asarray(rng.standard_normal((runs, batch, n)), jnp.float32) for n in (fan_in, fan_out))
    w = jnp.asarray(rng.standard_normal((runs, fan_in, fan_out)), jnp.float32)
    hp = {k: jnp.full((runs,), v, jnp.float32) for k, v in hp0.items()}
    per_epoch, active = jnp.full((runs,), 5, jnp.int32), jnp.array([True, False, True])
    state = jax.vmap(lambda hp, u, w: build(hp, u).init(w))(hp, per_epoch, w)

    def reference(x, dz, w, state, hp, u, keep):
        updates, new = build(hp, u).update(x.T @ dz, state, w)
        return (jnp.where(keep, optax.apply_updates(w, updates), w),
                jax.tree.map(lambda n, o: jnp.where(keep, n.astype(o.dtype), o), new, state))

    def fused(x, dz, w, state, hp, u, keep):
        return dense_update(x, dz, w, state, hp, u, keep, build, tile=tile)

    def two_steps(update, x, dz, w, state, hp, u, keep):
        w, state = update(x, dz, w, state, hp, u, keep)
        return update(x, dz, w, state, hp, u, keep)

    args = (x, dz, w, state, hp, per_epoch, active)
    want = jax.jit(jax.vmap(functools.partial(two_steps, reference)))(*args)
    got = jax.jit(jax.vmap(functools.partial(two_steps, fused)))(*args)
    return {"reference": [np.asarray(a) for a in jax.tree.leaves(want)],
            "fused": [np.asarray(a) for a in jax.tree.leaves(got)], "weights": np.asarray(w)}
