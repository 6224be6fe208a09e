"""BBOB against COCO itself: values, x_opt and f_opt equal ``cocoex``'s, function by function.

The default run checks every function in 2 dimensions x 2 instances (a few seconds). The full grid
(24 functions x dims 2, 5, 10, 20, 40 x instances 1-15) runs with LANDSCAPE_BENCH_FULL_BBOB=1
(docs/bbob.md has the command and the measured figures).
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import cocoex  # a test dependency: a missing one fails, it is not skipped
import pytest

from landscapes import LANDSCAPES, InputError, bbob
from landscapes.ground_truth import certify


FULL = os.environ.get("LANDSCAPE_BENCH_FULL_BBOB") == "1"
FULL_DIMS = (2, 5, 10, 20, 40)
FULL_INSTANCES = tuple(range(1, 16))
SAMPLED = ((2, 1), (5, 7))  # (dim, instance) for every function in the default run
RELATIVE = 1e-9  # of max(1, |f|): relative, and absolute near 0


@pytest.fixture(scope="module")
def suite():
    return cocoex.Suite("bbob", "instances: 1-15", "")  # the default (year) lacks 6-15


def _points(problem: bbob.Problem, rng: np.random.Generator) -> np.ndarray:
    """Inside the box, outside it (f_pen), and near x_opt."""
    d = problem.dim
    return np.concatenate([rng.uniform(-5, 5, (6, d)), rng.uniform(-8, 8, (3, d)),
                           problem.x_opt + rng.normal(0, 1e-3, (2, d))])


def check_against_coco(suite, function: int, dim: int, instance: int) -> float:
    """Assert values, f_opt and x_opt equal COCO's; return the largest relative value error."""
    problem = bbob.problem(function, instance, dim)
    coco = suite.get_problem_by_function_dimension_instance(function, dim, instance)
    bare = cocoex.BareProblem("bbob", function, dim, instance)
    points = _points(problem, np.random.default_rng(1000 * function + 10 * dim + instance))
    expected = np.array([coco(x) for x in points])
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(jax.vmap(problem.f))(jnp.asarray(points)))
        at_optimum = float(problem.f(jnp.asarray(problem.x_opt)))
    error = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    where = f"f{function} d{dim} i{instance}"
    assert error.max() <= RELATIVE, (where, points[np.argmax(error)], error.max())
    # COCO's best_value is f at its best_parameter for some functions (f20 d2 i5: -6.299999999999998
    # for f_opt = -6.3), so f_opt (bbob2009_compute_fopt's 0.01 grid) agrees to rounding, not bits
    assert abs(problem.f_opt - bare.best_value()) <= RELATIVE * max(1.0, abs(problem.f_opt)), where
    assert abs(at_optimum - problem.f_opt) <= RELATIVE * max(1.0, abs(problem.f_opt)), where
    np.testing.assert_allclose(problem.x_opt, bare.best_parameter(), rtol=0, atol=1e-12,
                               err_msg=where)
    return float(error.max())


@pytest.mark.parametrize("function", bbob.FUNCTIONS)
def test_sampled_problems_equal_coco(suite, function):
    for dim, instance in SAMPLED:
        check_against_coco(suite, function, dim, instance)


@pytest.mark.cocoex_full
@pytest.mark.skipif(not FULL, reason="full COCO grid: set LANDSCAPE_BENCH_FULL_BBOB=1")
@pytest.mark.parametrize("function", bbob.FUNCTIONS)
def test_full_grid_equals_coco(suite, function):
    worst = max(check_against_coco(suite, function, dim, instance)
                for dim in FULL_DIMS for instance in FULL_INSTANCES)
    print(f"f{function}: max relative error {worst:.3g}")


def test_one_program_serves_every_instance():
    """The instance is data: vmap over stacked instance data runs one trace for all of them."""
    traces = []

    def f(x, data):
        traces.append(1)
        return bbob.value(x, data, function=15)

    instances = (1, 2, 3)
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a),
                                     *[bbob.problem(15, i, 5).data for i in instances])
    optima = np.stack([bbob.problem(15, i, 5).x_opt for i in instances])
    with jax.enable_x64(True):
        values = jax.jit(jax.vmap(f))(jnp.asarray(optima), stacked)
    assert len(traces) == 1
    np.testing.assert_allclose(values, [bbob.problem(15, i, 5).f_opt for i in instances], atol=1e-9)


@pytest.mark.parametrize("function", (3, 12, 20, 24))
def test_jit_vmap_grad_and_float32(function):
    problem = bbob.problem(function, 2, 5)
    points = np.random.default_rng(function).uniform(-5, 5, (4, 5))
    with jax.enable_x64(True):
        values = np.asarray(jax.jit(jax.vmap(problem.f))(jnp.asarray(points)))
        grads = np.asarray(jax.jit(jax.vmap(jax.grad(problem.f)))(jnp.asarray(points)))
        assert np.all(np.isfinite(grads))
        step = 1e-7
        for x, g in zip(points, grads):
            direction = np.random.default_rng(0).normal(size=5)
            slope = (float(problem.f(jnp.asarray(x + step * direction)))
                     - float(problem.f(jnp.asarray(x - step * direction)))) / (2 * step)
            assert abs(slope - g @ direction) <= 1e-4 * max(1.0, abs(slope))
        values32 = jax.jit(jax.vmap(problem.f))(jnp.asarray(points, dtype=jnp.float32))
    assert values32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(values32, dtype=np.float64), values, rtol=1e-4)


def test_problem_record_and_cache():
    problem = bbob.problem(8, 3, 10)
    assert (problem.function, problem.instance, problem.dim) == (8, 3, 10)
    assert problem.x_opt.shape == (10,) and isinstance(problem.f_opt, float)
    assert bbob.problem(8, 3, 10) is problem  # computed once per (function, instance, dim)
    with pytest.raises(ValueError):
        problem.x_opt[0] = 0.0  # instance data is read-only
    assert LANDSCAPES["bbob_f08"].minimum(10) == bbob.problem(8, 1, 10).f_opt


@pytest.mark.parametrize("args, match", [
    ((0, 1, 2), "1..24"), ((25, 1, 2), "1..24"), ((2.0, 1, 2), "1..24"),
    ((1, 0, 2), "instance .* >= 1"), ((1, 1, 1), "dim .* >= 2"), ((1, 1, 2.5), "dim .* >= 2"),
    ((1, 1, True), "dim .* >= 2"),
])
def test_bad_input_is_one_line(args, match):
    with pytest.raises(InputError, match=match) as error:
        bbob.problem(*args)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ("bbob_f03", "bbob_f24"))
def test_registered_landscape_certifies(name):
    certificate = certify(LANDSCAPES[name], n_starts=2, de_popsize=5, de_maxiter=25)
    assert certificate.dim == bbob.DEFAULT_DIM
    assert certificate.certified, certificate.verdict


@pytest.mark.parametrize("dim", (2, 3, 11, 64))
def test_instance_shapes_are_the_built_data_s_shapes(dim):
    """The memory planner reads sizes from instance_shapes, which never builds the data at ``dim``:
    its shapes must be the real data's, for every function (and every instance: 1 and 4 here)."""
    for function in bbob.FUNCTIONS:
        shapes, x_opt = bbob.instance_shapes(function, dim)
        entry = LANDSCAPES[f"bbob_f{function:02d}"]
        assert entry.instance_shapes(dim) == (shapes, (1, dim))
        for instance in (1, 4):
            data, built_x_opt, _ = bbob.instance_data(function, instance, dim)
            assert shapes == {key: array.shape for key, array in data.items()}, (function, dim)
            assert x_opt == built_x_opt.shape == (dim,)


def test_rotation_is_bit_for_bit_coco_s_column_loop():
    """The rotation subtracts a column from all later ones at once; the matrix must stay the bits of
    COCO's column-by-column loop (the rotations existing records were made with)."""
    from landscapes import bbob_random

    def coco_loop(seed, dim):
        matrix = bbob_random.gauss(dim * dim, seed).reshape(dim, dim).T.copy()
        for i in range(dim):
            for j in range(i):
                matrix[:, i] -= np.dot(matrix[:, i], matrix[:, j]) * matrix[:, j]
            matrix[:, i] /= math.sqrt(np.dot(matrix[:, i], matrix[:, i]))
        return matrix

    for seed, dim in ((10001, 2), (1010017, 3), (20015, 17), (1150006, 40), (30021, 97)):
        assert np.array_equal(bbob_random.rotation(seed, dim), coco_loop(seed, dim)), (seed, dim)


def test_a_rotation_past_the_buildable_dim_is_refused_in_one_line():
    """COCO's rotation is O(dim^3) to build on the host: past MAX_ROTATED_DIM a function with one is
    refused at once, naming the largest dim; a function without one takes any dim."""
    for call in (lambda: bbob.problem(10, 1, bbob.MAX_ROTATED_DIM + 1),
                 lambda: bbob.instance_shapes(21, 10_000)):
        with pytest.raises(InputError, match=f"use dim <= {bbob.MAX_ROTATED_DIM}") as error:
            call()
        assert "\n" not in str(error.value) and "f20" in str(error.value)
    assert bbob.instance_shapes(20, 10_000)[1] == (10_000,)
    assert bbob.problem(1, 1, 10_000).x_opt.shape == (10_000,)
