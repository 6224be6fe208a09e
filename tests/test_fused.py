"""The fused step loop (``bench.core.fused``): the whole loop as one GPU kernel.

On this CPU the kernel runs in Pallas's interpreter, which checks what it computes against the scan;
whether Pallas's Triton backend can take it is checked by lowering it for CUDA, which needs no GPU.
The GPU's own figures and its fused-against-scan agreement are ``bench.tools.gpu_check``'s.
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

import landscapes
import optimizers
from bench.core import fused
from bench.core.engine import run_batch
from bench.core.fused_sweep import _broadcast_shared, _fused_step, _initial_carries
from bench.core.step import Problem, make_batch
from bench.run.runner import OptimizerBuilder, chosen_loop
from bench.run.suites import parse_suite
from landscapes.errors import InputError
from landscapes.instances import make_instance

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only


def _batch(problem, runs, seed=0, instance=0):
    landscape, dim = problem.landscape, problem_dim(problem)
    rng = np.random.default_rng(seed)
    family, schedule = problem.build.family, problem.build.schedule
    config = optimizers.complete_config(family, schedule, {
        "learning_rate": np.geomspace(1e-4, 1e-2, runs) if family != "adam" else np.full(runs, 1e-2)})
    box = landscape.start_box(dim)
    x0 = rng.uniform(box[:, 0], box[:, 1], (runs, dim))
    extra = {}
    if problem.transformed:
        made = make_instance(landscape, instance, dim)
        extra = dict(shift=made.shift, matrix=made.matrix)
    return make_batch(problem, config, x0, landscape.minimum(dim), landscape.minimizer_array(dim),
                      **extra)


def problem_dim(problem):
    return problem.landscape.dim or 2


CASES = [  # each reaches a part of the interpreter: see the comment
    ("beale", "nesterov", "time_based", 2, False),  # the headline: jacfwd, slices, the histogram
    ("himmelblau", "adam", "cosine", 2, False),  # optax's adam, cos, min
    ("griewank", "momentum", "step", 3, False),  # reduce_prod over the coordinates, floor, pow
    ("rosenbrock", "sgd", "sgdr", 5, False),  # reverse-mode gradient (pad), log1p
    ("rosenbrock", "nesterov", "exponential", 2, True),  # an instance: dot_general, transpose
    ("mccormick", "lion", "constant", 2, False),  # bounded domain (reduce_and), sign
]


@pytest.mark.parametrize("name, family, schedule, dim, transformed", CASES)
def test_fused_loop_computes_what_the_scan_does(name, family, schedule, dim, transformed):
    landscape = landscapes.get_landscape(name)
    landscape = dataclasses.replace(landscape, dim=dim) if landscape.dim is None else landscape
    problem = Problem(landscape, OptimizerBuilder(family, schedule), 120, dtype="float64",
                      transformed=transformed)
    batch = _batch(problem, 37, instance=1)  # 37 runs: padded to 64 and trimmed
    scan, _ = run_batch(problem, batch)
    one_kernel, _ = run_batch(dataclasses.replace(problem, loop="fused"), batch)
    np.testing.assert_array_equal(one_kernel.status, scan.status)
    np.testing.assert_array_equal(one_kernel.steps_to_target, scan.steps_to_target)
    assert len(one_kernel.status) == 37
    # XLA compiles the two programs' arithmetic into different fusions, which may round a
    # multiply-add differently in the last bit; on a run near its stability limit such a bit can
    # grow over 120 steps. Most runs end within rounding; every run's first steps do (below).
    close = np.isclose(one_kernel.final_x, scan.final_x, rtol=1e-9, atol=1e-12).all(axis=1)
    assert np.mean(close | scan.diverged) >= 0.9
    carry = _initial_carries(problem, batch)
    step = _fused_step(problem)
    runs = _broadcast_shared(batch)  # the fused kernel reads every input per run
    for steps, rtol in ((1, 1e-12), (5, 1e-9)):  # diverging runs grow a last-bit difference too
        expected = jax.vmap(lambda run, c: jax.lax.fori_loop(
            0, steps, lambda k, c: step(run, c, k), c))(runs, carry)
        got = fused.loop(step, runs, carry, steps)
        for want, have in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
            np.testing.assert_allclose(np.asarray(have, np.float64), np.asarray(want, np.float64),
                                       rtol=rtol, atol=1e-300)


def test_fused_loop_keeps_float32_runs_alike():
    landscape = landscapes.get_landscape("beale")
    problem = Problem(landscape, OptimizerBuilder("nesterov", "constant"), 300)
    batch = _batch(problem, 64, seed=3)
    scan, _ = run_batch(problem, batch)
    one_kernel, _ = run_batch(dataclasses.replace(problem, loop="fused", block=64), batch)
    # float32 rounding may differ in the last bit where a multiply-add is contracted differently;
    # the outcomes of these runs do not.
    np.testing.assert_array_equal(one_kernel.status, scan.status)
    np.testing.assert_array_equal(one_kernel.reached, scan.reached)
    ok = ~scan.diverged
    np.testing.assert_allclose(one_kernel.final_x[ok], scan.final_x[ok], rtol=1e-3, atol=1e-4)


def _lowered_for_cuda(name, family, schedule, dim=2, runs=64):
    landscape = landscapes.get_landscape(name)
    problem = Problem(landscape, OptimizerBuilder(family, schedule), 50)
    config = optimizers.complete_config(family, schedule, {})
    batch = make_batch(problem, {k: np.full(runs, v) for k, v in config.items()}, np.zeros((runs, dim)),
                       0.0, np.zeros((1, dim)))

    def sweep(batch):
        carry = _initial_carries(problem, batch)
        carry = fused.loop(_fused_step(problem), _broadcast_shared(batch), carry, problem.steps,
                           interpret=False)
        return carry

    return jax.jit(sweep).trace(batch).lower(lowering_platforms=("cuda",)).as_text()


NOISELESS = sorted(n for n in landscapes.LANDSCAPES if not landscapes.get_landscape(n).noise_scale)


@pytest.mark.parametrize("name", NOISELESS)
def test_every_noiseless_landscape_lowers_to_one_triton_kernel(name):
    dim = landscapes.get_landscape(name).dim or 3
    text = _lowered_for_cuda(name, "nesterov", "time_based", dim)
    assert text.count("__gpu$xla.gpu.triton") == 1  # the loop is one kernel
    assert "stablehlo.while" not in text  # and XLA runs no loop of its own


@pytest.mark.parametrize("family", sorted(optimizers.FAMILIES))
def test_every_family_and_schedule_lowers_to_one_triton_kernel(family):
    for schedule in sorted(optimizers.SCHEDULES):
        assert _lowered_for_cuda("beale", family, schedule).count("__gpu$xla.gpu.triton") == 1


def test_noisy_landscapes_and_bad_knobs_are_refused_in_one_line():
    noisy = Problem(landscapes.get_landscape("noisy_beale"), OptimizerBuilder("sgd", "constant"), 10,
                    loop="fused")
    batch = _batch(noisy, 4)
    with pytest.raises(InputError, match="noisy_beale x sgd/constant: the fused loop cannot run the operation"
                                         " 'random_.*'; use loop='scan'"):
        run_batch(noisy, batch)
    with pytest.raises(InputError, match="loop must be one of scan, fused; got 'kernel'"):
        Problem(landscapes.get_landscape("beale"), OptimizerBuilder("sgd", "constant"), 10, loop="kernel")
    with pytest.raises(InputError, match="block must be a power of two"):
        Problem(landscapes.get_landscape("beale"), OptimizerBuilder("sgd", "constant"), 10, block=48)


def test_an_operation_the_interpreter_does_not_know_is_named():
    def step(run, carry, k):
        return jax.lax.fori_loop(0, 3, lambda i, c: c * run, carry)

    with pytest.raises(fused.Unsupported, match="'(while|scan)'"):
        fused.step_jaxpr(step, jnp.ones((4,)), jnp.ones((4,)))


def test_structural_operations_match_numpy():
    """The interpreter's bookkeeping (slices, pads, reductions, products) on a step that uses each."""
    def step(run, carry, k):
        m = run.reshape(2, 2)
        padded = jnp.pad(carry, ((1, 2),))[::2]  # pad, strided slice
        return (m @ carry + m.T @ carry * jnp.prod(carry) + jnp.sum(padded) + jnp.max(carry)
                + jnp.concatenate([carry[1:], carry[:1]]) + jnp.stack([carry[1], carry[0]]) + k)

    run = jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)))
    carry = jnp.asarray(np.random.default_rng(1).normal(size=(5, 2)))
    expected = carry
    for k in range(3):
        expected = jax.vmap(lambda r, c: step(r, c, k))(run, expected)
    got = fused.loop(step, run, carry, 3, block=4)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_suite_chooses_its_loop():
    base = 'steps = 10\nlandscapes = ["beale"]\n[[optimizer]]\nfamily = "sgd"\nschedule = "constant"\n'
    assert parse_suite(base).loop == "auto"
    assert "loop" not in parse_suite(base).settings()  # ids of suites without it are unchanged
    assert parse_suite('loop = "fused"\n' + base).settings()["loop"] == "fused"
    with pytest.raises(InputError, match="loop must be one of 'auto', 'scan', 'fused'; got 'gpu'"):
        parse_suite('loop = "gpu"\n' + base)
    beale = Problem(landscapes.get_landscape("beale"), OptimizerBuilder("sgd", "constant"), 10)
    batch = _batch(beale, 4)
    assert chosen_loop("auto", beale, batch) == ("fused" if jax.default_backend() == "gpu"
                                                 and len(jax.devices()) == 1 else "scan")
    assert chosen_loop("fused", beale, batch) == "fused"
    assert chosen_loop("scan", beale, batch) == "scan"
    noisy = dataclasses.replace(beale, landscape=landscapes.get_landscape("noisy_beale"))
    with pytest.raises(InputError, match="noisy_beale"):
        chosen_loop("fused", noisy, _batch(noisy, 4))


@pytest.mark.parametrize("every", [7, 30])  # 7 leaves a rest of 120 % 7 = 1 step; 30 divides 120
def test_fused_loop_keeps_the_trajectories_the_scan_keeps(every):
    problem = Problem(landscapes.get_landscape("himmelblau"), OptimizerBuilder("nesterov", "constant"),
                      120, dtype="float64", trajectory_every=every)
    batch = _batch(problem, 5)
    scan, _ = run_batch(problem, batch)
    one_kernel, _ = run_batch(dataclasses.replace(problem, loop="fused", block=4), batch)
    assert one_kernel.trajectory.shape == scan.trajectory.shape
    np.testing.assert_allclose(one_kernel.trajectory, scan.trajectory, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(one_kernel.steps_to_target, scan.steps_to_target)


def test_fused_trajectories_lower_to_one_triton_kernel():
    problem = Problem(landscapes.get_landscape("beale"), OptimizerBuilder("sgd", "constant"), 50,
                      trajectory_every=7)
    batch = _batch(problem, 64)

    def sweep(batch):
        carry = _initial_carries(problem, batch)
        return fused.loop(_fused_step(problem), _broadcast_shared(batch), carry, problem.steps,
                          keep=lambda c: c["x"], keep_every=7, interpret=False)

    text = jax.jit(sweep).trace(batch).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("__gpu$xla.gpu.triton") == 1


def _int(a):
    return lax.convert_element_type(a, jnp.int64)


# One use of every primitive in fused.ELEMENTWISE, on float64 carries a and b (as in the suite).
ELEMENTWISE_USES = {
    "abs": lambda a, b: jnp.abs(a), "acos": lambda a, b: jnp.arccos(a * 0.1),
    "add": lambda a, b: a + b, "add_any": lambda a, b: jax.grad(lambda t: t * t + jnp.sin(t))(a),
    "and": lambda a, b: jnp.where((a > 0) & (b > 0), a, b), "asin": lambda a, b: jnp.arcsin(a * 0.1),
    "atan": lambda a, b: jnp.arctan(a), "atan2": lambda a, b: jnp.arctan2(a, b),
    "cbrt": lambda a, b: jnp.cbrt(a), "ceil": lambda a, b: jnp.ceil(a),
    "clamp": lambda a, b: lax.clamp(jnp.float64(-1), a, jnp.float64(1)),
    "convert_element_type": lambda a, b: a.astype(jnp.float32).astype(a.dtype),
    "cos": lambda a, b: jnp.cos(a), "cosh": lambda a, b: jnp.cosh(a), "div": lambda a, b: a / b,
    "eq": lambda a, b: jnp.where(a == b, a, b), "erf_inv": lambda a, b: lax.erf_inv(a * 0.1),
    "exp": lambda a, b: jnp.exp(a), "exp2": lambda a, b: jnp.exp2(a), "expm1": lambda a, b: jnp.expm1(a),
    "floor": lambda a, b: jnp.floor(a), "ge": lambda a, b: jnp.where(a >= b, a, b),
    "gt": lambda a, b: jnp.where(a > b, a, b), "integer_pow": lambda a, b: a ** 3,
    "is_finite": lambda a, b: jnp.where(jnp.isfinite(a), a, b), "le": lambda a, b: jnp.where(a <= b, a, b),
    "log": lambda a, b: jnp.log(a), "log1p": lambda a, b: jnp.log1p(a),
    "logistic": lambda a, b: jax.nn.sigmoid(a), "lt": lambda a, b: jnp.where(a < b, a, b),
    "max": lambda a, b: jnp.maximum(a, b), "min": lambda a, b: jnp.minimum(a, b),
    "mul": lambda a, b: a * b, "ne": lambda a, b: jnp.where(a != b, a, b), "neg": lambda a, b: -a,
    "nextafter": lambda a, b: jnp.nextafter(a, b), "not": lambda a, b: jnp.where(~(a > b), a, b),
    "or": lambda a, b: jnp.where((a > 0) | (b > 0), a, b), "pow": lambda a, b: a ** b,
    "rem": lambda a, b: lax.rem(a, b), "rsqrt": lambda a, b: lax.rsqrt(a),
    "select_n": lambda a, b: lax.select(a > b, a, b),
    "shift_left": lambda a, b: lax.shift_left(_int(a), jnp.int64(1)).astype(a.dtype),
    "shift_right_arithmetic": lambda a, b: lax.shift_right_arithmetic(_int(a), jnp.int64(1)).astype(a.dtype),
    "shift_right_logical": lambda a, b: lax.shift_right_logical(_int(a), jnp.int64(1)).astype(a.dtype),
    "sign": lambda a, b: jnp.sign(a), "sin": lambda a, b: jnp.sin(a), "sinh": lambda a, b: jnp.sinh(a),
    "sqrt": lambda a, b: jnp.sqrt(a), "square": lambda a, b: lax.square(a), "sub": lambda a, b: a - b,
    "tan": lambda a, b: jnp.tan(a), "tanh": lambda a, b: jnp.tanh(a),
    "xor": lambda a, b: (_int(a) ^ jnp.int64(3)).astype(a.dtype),
}


def test_every_elementwise_operation_lowers_to_triton():
    """What the interpreter accepts, Pallas's Triton backend must lower: else a step using it would
    pass the check and fail to compile on a GPU."""
    assert set(ELEMENTWISE_USES) == set(fused.ELEMENTWISE)
    carry = jnp.ones((64, 2))
    for name, use in ELEMENTWISE_USES.items():
        def step(run, c, k, use=use):
            return jnp.stack([use(c[0], c[1]), c[1]])

        assert name in fused._operations(fused.step_jaxpr(step, carry, carry).jaxpr), name
        lowered = jax.jit(lambda r, c: fused.loop(step, r, c, 3, interpret=False)).trace(
            carry, carry).lower(lowering_platforms=("cuda",))
        assert lowered.as_text().count("__gpu$xla.gpu.triton") == 1, name


def test_operations_triton_cannot_lower_are_refused():
    for use in (lambda a: lax.erf(a), lambda a: jnp.round(a)):
        with pytest.raises(fused.Unsupported, match="'(erf|round)'"):
            fused.step_jaxpr(lambda r, c, k, use=use: use(c), jnp.ones((4, 2)), jnp.ones((4, 2)))


def test_audit_findings_run_as_the_scan_does():
    """A reshape in Fortran order, reductions and products of nothing, boolean max/min (Triton
    has no rule: rewritten as or/and), a three-way select_n (a chain of two-way ones) and an
    empty carry leaf, each against vmap of the same step."""
    def step(run, carry, k):
        x, flags, empty = carry
        f_order = jnp.reshape(jnp.stack([x, 2 * x]), -1, order="F")
        nothing = jnp.sum(x[2:] ** 2) + jnp.prod(x[2:]) + jnp.max(x[2:], initial=-jnp.inf) * 0
        any_up = jnp.max(flags) & ~jnp.min(flags)
        pick = lax.select_n(jnp.int32(k % 3), x[0], x[1], x[0] * x[1])
        new_x = 0.5 * x + 0.01 * f_order[:2] * f_order[2:] + nothing + pick * 0.001 + any_up
        return new_x, flags | (new_x > 0.1), empty * 2

    rng = np.random.default_rng(0)
    run = jnp.zeros((5,))
    carry = (jnp.asarray(rng.normal(size=(5, 2))), jnp.asarray(rng.normal(size=(5, 2)) > 0),
             jnp.zeros((5, 0)))
    expected = carry
    for k in range(4):
        expected = jax.vmap(lambda r, c: step(r, c, jnp.int32(k)))(run, expected)
    got = fused.loop(step, run, carry, 4, block=4)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2].shape == (5, 0)
    lowered = jax.jit(lambda r, c: fused.loop(step, r, c, 4, interpret=False)).trace(
        run, carry).lower(lowering_platforms=("cuda",))
    assert lowered.as_text().count("__gpu$xla.gpu.triton") == 1


def test_a_bitcast_to_another_width_and_a_loop_are_refused_by_name():
    with pytest.raises(fused.Unsupported, match="'bitcast_convert_type to another width'"):
        fused.step_jaxpr(lambda r, c, k: c + lax.bitcast_convert_type(c, jnp.float32).sum(-1),
                         jnp.ones((4,)), jnp.ones((4,)))
    with pytest.raises(fused.Unsupported, match=r"\(a loop or branch inside the step\)"):
        fused.step_jaxpr(lambda r, c, k: jax.lax.fori_loop(0, 2, lambda i, v: v * 2, c),
                         jnp.ones((4,)), jnp.ones((4,)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32, jnp.bool_])
def test_elementwise_operations_lower_for_other_dtypes(dtype):
    """float32 is the suite's default dtype; integers and booleans appear in the metrics."""
    carry = jnp.ones((64, 2), dtype)
    uses = {
        jnp.float32: [lambda a, b: jnp.sin(a) * b + jnp.maximum(a, b) ** 2 / jnp.sqrt(b)],
        jnp.int32: [lambda a, b: (a + b) * a - jnp.maximum(a, b) + (a >> 1) ^ (b << 1) | a & b],
        jnp.bool_: [lambda a, b: jnp.maximum(a, b) & ~jnp.minimum(a, b) | (a != b)],
    }[dtype]
    for use in uses:
        def step(run, c, k, use=use):
            return jnp.stack([use(c[0], c[1]), c[1]])

        lowered = jax.jit(lambda r, c: fused.loop(step, r, c, 3, interpret=False)).trace(
            carry, carry).lower(lowering_platforms=("cuda",))
        assert lowered.as_text().count("__gpu$xla.gpu.triton") == 1
