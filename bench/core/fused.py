"""A sweep's step loop as ONE GPU kernel (Pallas, Triton backend): every run's carry stays in
registers for all of its steps.

Why: XLA compiles the engine's ``lax.scan`` into a while loop that launches at least one kernel per
step (XLA does not fuse consecutive steps: each step's outputs feed the next one several times, and
fusing would duplicate work), and every kernel reads and writes the whole carry in device memory. On an
H100 the headline sweep (Beale, SGD + Nesterov, 2,000 steps, metrics in the carry) was bound by the
launches at 4,096 runs and by the carry's memory traffic at a million runs (docs/performance.md). In one kernel a thread runs one run from its first step to its last.

How: the per-run step the scan runs (``bench.core.step._make_step``, the same optax update, landscape
and metrics) is traced to a jaxpr for ONE run, and :func:`_evaluate` runs that jaxpr inside the
kernel with each element of each per-run array held as its own vector of ``block`` runs. Structural
operations on a run's own small arrays (``x[0]``, reshapes, broadcasts, concatenation, transposes,
reductions over its coordinates, small matrix products) become bookkeeping on numpy object arrays
at trace time; only elementwise arithmetic reaches Triton. This is written here by hand because
Pallas's Triton lowering cannot slice or gather values (a landscape's ``x[0]``), so the vmapped
step itself cannot be lowered into a kernel. What the interpreter does not know (random numbers
for noisy landscapes, loops inside a step) raises :class:`Unsupported`; ``loop="fused"`` is then
refused and the scan serves.

On a CPU the same kernel runs in Pallas's interpret mode, slowly, which is how the tests check it
against the scan.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl

# Primitives applied element by element with every operand of the output's shape (or a scalar
# predicate, for select_n): each becomes one operation per element vector. Each is checked against
# Pallas's Triton lowering by tests/test_fused.py (lowered for CUDA on any machine).
ELEMENTWISE = frozenset({
    "abs", "acos", "add", "add_any", "and", "asin", "atan", "atan2", "cbrt", "ceil", "clamp",
    "convert_element_type", "cos", "cosh", "div", "eq", "erf_inv", "exp", "exp2", "expm1", "floor",
    "ge", "gt", "integer_pow", "is_finite", "le", "log", "log1p", "logistic", "lt", "max", "min",
    "mul", "ne", "neg", "nextafter", "not", "or", "pow", "rem", "rsqrt", "select_n", "shift_left",
    "shift_right_arithmetic", "shift_right_logical", "sign", "sin", "sinh", "sqrt", "square", "sub",
    "tan", "tanh", "xor",
})  # not erf or round: Pallas's Triton lowering has neither (a step using them runs as the scan)

# Reductions over a run's own axes, as the binary operation that folds them.
_REDUCTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "reduce_sum": operator.add, "reduce_prod": operator.mul, "reduce_max": jnp.maximum,
    "reduce_min": jnp.minimum, "reduce_and": operator.and_, "reduce_or": operator.or_,
}

# Calls whose inner jaxpr is evaluated in place (the parameter holding it).
_CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
          "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
          "custom_vjp_call_jaxpr": "fun_jaxpr", "remat": "jaxpr", "checkpoint": "jaxpr"}


class Unsupported(NotImplementedError):
    """The step uses an operation the fused loop cannot run (the scan runs it instead)."""


def _constant(value: Any, dtype: Any) -> np.ndarray:
    """A per-run constant as an object array of numpy scalars."""
    array = np.asarray(value, dtype)
    out = np.empty(array.shape, object)
    for index in np.ndindex(array.shape):
        out[index] = array[index]
    return out


class _Vectors:
    """Turns an element (a numpy scalar constant or a (block,) vector) into a (block,) vector."""

    def __init__(self, block: int):
        self.block = block

    def __call__(self, element: Any, dtype: Any) -> jax.Array:
        if isinstance(element, (np.generic, int, float, bool)):
            return jnp.full((self.block,), element, dtype)
        return element


def _bind(eqn, operands: list[Any], dtypes: list[Any]) -> Any:
    """One element's operation, rewritten where Pallas's Triton lowering has no rule for it:
    max/min of booleans are or/and, and a select_n of more than two cases a chain of two-case
    selects."""
    name = eqn.primitive.name
    if name in ("max", "min") and dtypes[0] == jnp.bool_:
        return (operator.or_ if name == "max" else operator.and_)(*operands)
    if name == "select_n" and len(operands) > 3:
        which, *cases = operands
        out = cases[-1]
        for i in range(len(cases) - 2, -1, -1):
            out = lax.select_n(which == i, out, cases[i])  # False picks out, True cases[i]
        return out
    return eqn.primitive.bind(*operands, **eqn.params)


def _elementwise(eqn, args: list[np.ndarray], vector: _Vectors) -> np.ndarray:
    shape = eqn.outvars[0].aval.shape
    out = np.empty(shape, object)
    operands = [np.broadcast_to(a, shape) for a in args]
    dtypes = [v.aval.dtype for v in eqn.invars]
    for index in np.ndindex(shape):
        out[index] = _bind(eqn, [vector(a[index], d) for a, d in zip(operands, dtypes)], dtypes)
    return out


def _identity(name: str, dtype: Any) -> np.generic:
    """What a reduction of no elements gives (as XLA's reduce does)."""
    dtype = np.dtype(dtype)
    if name in ("reduce_sum", "add"):
        return dtype.type(0)
    if name in ("reduce_prod", "mul"):
        return dtype.type(1)
    if name == "reduce_and":
        return dtype.type(True)
    if name == "reduce_or":
        return dtype.type(False)
    if dtype == np.bool_:
        return dtype.type(name == "reduce_min")
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else np.iinfo(dtype)
    low, high = (-np.inf, np.inf) if np.issubdtype(dtype, np.floating) else (info.min, info.max)
    return dtype.type(low if name == "reduce_max" else high)


def _fold(op, elements: Sequence[Any], empty: Any) -> Any:
    return functools.reduce(op, elements) if len(elements) else empty


_BOOLEAN_REDUCTIONS = {"reduce_max": operator.or_, "reduce_min": operator.and_}


def _reduce(eqn, array: np.ndarray, vector: _Vectors) -> np.ndarray:
    axes = tuple(eqn.params["axes"])
    kept = [d for d in range(array.ndim) if d not in axes]
    moved = np.transpose(array, kept + list(axes))
    moved = moved.reshape([array.shape[d] for d in kept] + [_size([array.shape[d] for d in axes])])
    dtype = eqn.invars[0].aval.dtype
    out = np.empty(moved.shape[:-1], object)
    name = eqn.primitive.name
    op = _BOOLEAN_REDUCTIONS.get(name, _REDUCTIONS[name]) if dtype == jnp.bool_ else _REDUCTIONS[name]
    for index in np.ndindex(out.shape):
        out[index] = _fold(op, [vector(e, dtype) for e in moved[index]], _identity(name, dtype))
    return out


def _dot_general(eqn, lhs: np.ndarray, rhs: np.ndarray, vector: _Vectors) -> np.ndarray:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lf = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    # (batch, free, contracting) on each side; the output is (batch, lhs free, rhs free).
    left = np.transpose(lhs, list(lb) + lf + list(lc))
    right = np.transpose(rhs, list(rb) + rf + list(rc))
    nb, nk = len(lb), _size([lhs.shape[d] for d in lc])
    left = left.reshape(left.shape[:nb + len(lf)] + (nk,))
    right = right.reshape(right.shape[:nb + len(rf)] + (nk,))
    ltype, rtype = eqn.invars[0].aval.dtype, eqn.invars[1].aval.dtype
    out_dtype = eqn.outvars[0].aval.dtype
    out = np.empty(eqn.outvars[0].aval.shape, object)
    batch_shape = left.shape[:nb]
    for b in np.ndindex(batch_shape):
        for i in np.ndindex(left.shape[nb:-1]):
            for j in np.ndindex(right.shape[nb:-1]):
                terms = [lax.convert_element_type(vector(left[b + i + (k,)], ltype), out_dtype)
                         * lax.convert_element_type(vector(right[b + j + (k,)], rtype), out_dtype)
                         for k in range(nk)]
                out[b + i + j] = _fold(operator.add, terms, _identity("add", out_dtype))
    return out


def _structural(eqn, args: list[np.ndarray], vector: _Vectors) -> list[np.ndarray] | None:
    """Operations that only rearrange a run's elements; None for anything else."""
    # Over 60 lines on purpose: one branch per structural primitive, each a few lines; a table of
    # small functions would only move them apart.
    name, params = eqn.primitive.name, eqn.params
    if name == "broadcast_in_dim":
        (operand,) = args[:1]
        shape = params["shape"]
        expanded = [1] * len(shape)
        for axis, dim in enumerate(params["broadcast_dimensions"]):
            expanded[dim] = operand.shape[axis]
        return [np.broadcast_to(operand.reshape(expanded), shape)]
    if name == "reshape":  # ``dimensions``: transpose first (jnp.ravel(order="F") sets it)
        dims = params.get("dimensions")
        return [(args[0] if dims is None else np.transpose(args[0], dims)).reshape(params["new_sizes"])]
    if name == "squeeze":
        return [np.squeeze(args[0], axis=tuple(params["dimensions"]))]
    if name == "expand_dims":
        return [np.expand_dims(args[0], tuple(params["dimensions"]))]
    if name == "slice":
        strides = params["strides"] or (1,) * args[0].ndim
        return [args[0][tuple(slice(s, e, st) for s, e, st in
                              zip(params["start_indices"], params["limit_indices"], strides))]]
    if name == "split":
        cuts = np.cumsum(params["sizes"])[:-1]
        return list(np.split(args[0], cuts, axis=params["axis"]))
    if name == "concatenate":
        return [np.concatenate(args, axis=params["dimension"])]
    if name == "stack":
        return [np.stack(args, axis=params["axis"])]
    if name == "unstack":
        return list(np.moveaxis(args[0], params["axis"], 0))
    if name == "bitcast_convert_type":
        if eqn.outvars[0].aval.shape != eqn.invars[0].aval.shape:  # a change of width reshapes
            return None
        return [_elementwise(eqn, args, vector)]
    if name == "transpose":
        return [np.transpose(args[0], params["permutation"])]
    if name == "rev":
        return [np.flip(args[0], axis=tuple(params["dimensions"]))]
    if name == "pad":
        operand, value = args
        config = params["padding_config"]
        grown = [max(lo, 0) + (n - 1) * (interior + 1) + 1 + max(hi, 0) if n else max(lo, 0) + max(hi, 0)
                 for n, (lo, hi, interior) in zip(operand.shape, config)]
        out = np.empty(grown, object)
        out.fill(value[()])  # fill, not out[...] =: numpy would try to convert a vector
        placed = tuple(slice(max(lo, 0), max(lo, 0) + (n - 1) * (interior + 1) + 1, interior + 1)
                       for n, (lo, _, interior) in zip(operand.shape, config))
        out[placed] = operand
        crop = tuple(slice(-min(lo, 0), size + min(hi, 0))
                     for size, (lo, hi, _) in zip(grown, config))
        return [out[crop]]
    if name == "iota":
        shape, dimension = params["shape"], params["dimension"]
        values = np.arange(shape[dimension], dtype=params["dtype"])
        values = values.reshape([-1 if d == dimension else 1 for d in range(len(shape))])
        return [_constant(np.broadcast_to(values, shape), params["dtype"])]
    if name in ("copy", "copy_p", "optimization_barrier"):
        return list(args)
    if name in _REDUCTIONS:
        return [_reduce(eqn, args[0], vector)]
    if name == "dot_general":
        return [_dot_general(eqn, args[0], args[1], vector)]
    return None


def _live_equations(jaxpr) -> list:
    """The equations whose results reach the outputs (make_jaxpr keeps dead code; the step's trace
    also holds the initial carry's computation, which the loop never needs)."""
    from jax.extend import core as jcore

    live = {v for v in jaxpr.outvars if isinstance(v, jcore.Var)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars):
            kept.append(eqn)
            live.update(v for v in eqn.invars if isinstance(v, jcore.Var))
    return kept[::-1]


def _evaluate(jaxpr, consts: Sequence[Any], args: Sequence[np.ndarray], vector: _Vectors) -> list:
    """Evaluate ``jaxpr`` (one run's program) on object arrays of per-element vectors."""
    from jax.extend import core as jcore

    env: dict[Any, np.ndarray] = {}

    def read(v):
        if isinstance(v, jcore.Literal):
            return _constant(v.val, v.aval.dtype)
        return env[v]

    for var, value in zip(jaxpr.constvars, consts):
        env[var] = _constant(np.asarray(value), var.aval.dtype)
    for var, value in zip(jaxpr.invars, args):
        env[var] = value
    for eqn in _live_equations(jaxpr):
        name = eqn.primitive.name
        ins = [read(v) for v in eqn.invars]
        if name in _CALLS:
            inner = eqn.params[_CALLS[name]]
            inner_jaxpr = getattr(inner, "jaxpr", inner)
            inner_consts = getattr(inner, "consts", ())
            outs = _evaluate(inner_jaxpr, inner_consts, ins, vector)
        elif name in ELEMENTWISE:
            outs = [_elementwise(eqn, ins, vector)]
        else:
            outs = _structural(eqn, ins, vector)
            if outs is None:
                raise Unsupported(f"the fused loop cannot run the operation {name!r}")
        for var, value in zip(eqn.outvars, outs):
            env[var] = value
    return [read(v) for v in jaxpr.outvars]


def _per_run(leaf: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(np.shape(leaf)[1:], leaf.dtype)


def step_jaxpr(step: Callable, run: Any, carry: Any):
    """The closed jaxpr of ``step(run, carry, k) -> carry`` for ONE run (leaves without the runs
    axis), checked to run fused: raises :class:`Unsupported` naming the first operation it cannot."""
    closed = jax.make_jaxpr(step)(jax.tree.map(_per_run, run), jax.tree.map(_per_run, carry),
                                  jax.ShapeDtypeStruct((), jnp.int32))
    for name in _operations(closed.jaxpr):
        if name not in ELEMENTWISE and name not in _CALLS and name not in _KNOWN_STRUCTURAL:
            what = " (a loop or branch inside the step)" if name in ("scan", "while", "cond") else ""
            raise Unsupported(f"the fused loop cannot run the operation {name!r}{what}")
    return closed


_KNOWN_STRUCTURAL = frozenset({"broadcast_in_dim", "reshape", "squeeze", "expand_dims", "slice",
                               "split", "concatenate", "stack", "unstack", "bitcast_convert_type", "transpose", "rev", "iota", "pad", "copy", "copy_p",
                               "optimization_barrier", "dot_general", *_REDUCTIONS})


def _operations(jaxpr) -> list[str]:
    """The operations of ``jaxpr`` that matter to the loop, in program order, calls expanded (a
    bitcast that changes the element width, which reshapes, under its own name)."""
    names: dict[str, None] = {}
    for eqn in _live_equations(jaxpr):
        name = eqn.primitive.name
        if name in _CALLS:
            inner = eqn.params[_CALLS[name]]
            names.update(dict.fromkeys(_operations(getattr(inner, "jaxpr", inner))))
        if name == "bitcast_convert_type" and eqn.outvars[0].aval.shape != eqn.invars[0].aval.shape:
            name = "bitcast_convert_type to another width"
        names[name] = None
    return list(names)


def _columns(leaf: jax.Array) -> list[jax.Array]:
    """(R, *S) -> prod(S) vectors of (R,), in C order; booleans as int32 (Triton stores no i1)."""
    flat = leaf.reshape(leaf.shape[0], -1)
    if flat.dtype == jnp.bool_:
        flat = flat.astype(jnp.int32)
    return [flat[:, i] for i in range(flat.shape[1])]


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=int))


def _split(items: Sequence[Any], shapes: Sequence[tuple[int, ...]]) -> list[Sequence[Any]]:
    """Consecutive chunks of ``items``, one of each shape's size (a leaf's columns or elements)."""
    chunks, offset = [], 0
    for shape in shapes:
        chunks.append(items[offset:offset + _size(shape)])
        offset += _size(shape)
    return chunks


def _elements(vectors: Sequence[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, object)
    for index, vector in zip(np.ndindex(shape), vectors):
        out[index] = vector
    return out


DEFAULT_BLOCK = 32  # runs per kernel instance: one warp, so even 4,096 runs fill 128 SMs


def loop(step: Callable, run: Any, carry: Any, steps: int, *, keep: Callable | None = None,
         keep_every: int = 0, block: int = DEFAULT_BLOCK, num_warps: int | None = None,
         interpret: bool | None = None) -> Any:
    """``steps`` applications of ``step(run, carry, k)`` (k = 0 .. steps - 1) to every run, in one
    kernel; the same result as ``vmap`` of a ``lax.scan`` over k, up to the rounding of fused
    multiply-adds.

    Args:
      step: one run's step, for leaves without the runs axis; it must return a carry of the same
        structure, shapes and dtypes.
      run, carry: pytrees whose leaves have the runs axis (R) first.
      keep, keep_every: with ``keep_every`` > 0, also return ``keep(carry)`` (one array of a run's
        carry, e.g. its iterate) before steps 0, e, 2e, ... and, when e does not divide ``steps``,
        before the last ``steps % e`` steps, as ``bench.core.step._scan_steps`` keeps them.
      block: runs per kernel instance (a power of two); R is padded up to a multiple of it.
      num_warps: Triton warps per instance (default: one per 32 runs of the block).
      interpret: run Pallas's interpreter (default: on any backend but a GPU).

    Returns the final carry, and with ``keep_every`` the kept arrays as (R, K, *shape) too.
    """
    # Over 60 lines on purpose: one kernel's set-up, body and launch read top to bottom; split, the
    # BlockSpecs and the body they index would sit apart.
    if block < 1 or block & (block - 1):
        raise ValueError(f"block must be a power of two; got {block}")
    closed = step_jaxpr(step, run, carry)
    run_leaves, _ = jax.tree.flatten(run)
    carry_leaves, carry_tree = jax.tree.flatten(carry)
    runs = carry_leaves[0].shape[0]
    padded = -(-runs // block) * block
    inputs = [c for leaf in run_leaves + carry_leaves for c in _columns(jnp.asarray(leaf))]
    inputs = [jnp.pad(c, (0, padded - runs), mode="edge") for c in inputs]
    run_shapes = [np.shape(leaf)[1:] for leaf in run_leaves]
    carry_shapes = [np.shape(leaf)[1:] for leaf in carry_leaves]
    carry_dtypes = [jnp.dtype(leaf.dtype) for leaf in carry_leaves]
    n_run = sum(map(_size, run_shapes))
    out_columns = [jax.ShapeDtypeStruct((padded,), jnp.int32 if d == jnp.bool_ else d)
                   for d in _flat_dtypes(carry_dtypes, carry_shapes)]
    blocks, rest = divmod(steps, keep_every) if keep_every else (0, steps)
    kept_count = blocks + (1 if keep_every and rest else 0)
    kept_aval = jax.eval_shape(keep, jax.tree.map(_per_run, carry)) if keep_every else None
    kept_size = _size(kept_aval.shape) if keep_every else 0
    kept_columns = ([jax.ShapeDtypeStruct((kept_count, padded), kept_aval.dtype)] * kept_size
                    if keep_every else [])
    vector = _Vectors(block)

    def carry_elements(flat):
        return [_elements(chunk, shape) for chunk, shape in zip(_split(flat, carry_shapes), carry_shapes)]

    def kernel(*refs):
        in_refs = refs[:len(inputs)]
        out_refs = refs[len(inputs):len(inputs) + len(out_columns)]
        kept_refs = refs[len(inputs) + len(out_columns):]
        loaded = [ref[...] for ref in in_refs]  # booleans travel as int32 (see _columns)
        run_dtypes = _flat_dtypes([leaf.dtype for leaf in run_leaves], run_shapes)
        loaded = [v != 0 if d == jnp.bool_ else v
                  for v, d in zip(loaded, run_dtypes + _flat_dtypes(carry_dtypes, carry_shapes))]
        run_elements = [_elements(chunk, shape)
                        for chunk, shape in zip(_split(loaded[:n_run], run_shapes), run_shapes)]

        def body(k, flat):
            outs = _evaluate(closed.jaxpr, closed.consts,
                             [*run_elements, *carry_elements(flat),
                              _elements([jnp.full((block,), k, jnp.int32)], ())], vector)
            return tuple(vector(e, d) for out, d in zip(outs, carry_dtypes) for e in out.ravel())

        def store_kept(row, flat):
            kept = keep(jax.tree.unflatten(carry_tree, carry_elements(flat)))
            for ref, element in zip(kept_refs, kept.ravel()):
                ref[row, :] = vector(element, kept_aval.dtype)

        flat = tuple(loaded[n_run:])
        if keep_every:
            def kept_block(b, flat):
                store_kept(b, flat)
                return lax.fori_loop(b * keep_every, (b + 1) * keep_every, body, flat)

            flat = lax.fori_loop(jnp.int32(0), jnp.int32(blocks), kept_block, flat)
            if rest:
                store_kept(blocks, flat)
        flat = lax.fori_loop(jnp.int32(steps - rest), jnp.int32(steps), body, flat)
        for ref, value in zip(out_refs, flat):
            ref[...] = value.astype(ref.dtype)

    if interpret is None:
        interpret = jax.default_backend() != "gpu"
    params = {}
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        params["compiler_params"] = pltriton.CompilerParams(
            num_warps=num_warps or max(1, block // 32), num_stages=1)
    spec = pl.BlockSpec((block,), lambda i: (i,))
    kept_spec = pl.BlockSpec((kept_count, block), lambda i: (0, i))
    outs = pl.pallas_call(kernel, out_shape=[*out_columns, *kept_columns], grid=(padded // block,),
                          in_specs=[spec] * len(inputs),
                          out_specs=[spec] * len(out_columns) + [kept_spec] * kept_size,
                          interpret=interpret, **params)(*inputs)
    leaves = []
    for columns, shape, dtype in zip(_split(outs, carry_shapes), carry_shapes, carry_dtypes):
        if not columns:  # a leaf with no elements has no columns
            leaves.append(jnp.zeros((runs, *shape), dtype))
            continue
        stacked = jnp.stack([c[:runs] for c in columns], axis=1).reshape((runs, *shape))
        leaves.append(stacked != 0 if dtype == jnp.bool_ else stacked.astype(dtype))
    final = jax.tree.unflatten(carry_tree, leaves)
    if not keep_every:
        return final
    kept = jnp.stack([c[:, :runs] for c in outs[len(out_columns):]], axis=-1)  # (K, R, size)
    return final, jnp.moveaxis(kept, 1, 0).reshape((runs, kept_count, *kept_aval.shape))


def _flat_dtypes(dtypes, shapes) -> list:
    return [d for d, s in zip(dtypes, shapes) for _ in range(_size(s))]
