"""Generated checks for every registered landscape: minima, gradients, samples, transforms, jnp/np.

Every test takes the ``landscape`` fixture, parametrized over the registry at collection time, so a
landscape added with ``landscapes.register`` (before collection, e.g. in a conftest) is covered too.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscapes import LANDSCAPES, InputError, Landscape, get_landscape
from landscapes.core import rounding_spread
from landscapes.instances import (MAX_STRETCH, apply_instance, instance_minimizers, instance_np_fn, make_instance,
                                  stack_instances)

VALUE_TOLERANCE = 1e-10
N_SAMPLES = 2000
INSTANCE_IDS = (1, 2, 3)


def _tolerance(f_star: float, absolute: float = VALUE_TOLERANCE) -> float:
    return absolute * max(1.0, abs(f_star))


@dataclasses.dataclass(frozen=True)
class Compiled:
    """Per-landscape programs, compiled once per session and shared by the tests."""

    landscape: Landscape
    dim: int
    f_star: float
    box: np.ndarray
    minimizers: np.ndarray
    values: object  # jit(vmap(f)) in float64
    gradients: object  # jit(vmap(grad f))
    samples: np.ndarray  # (N_SAMPLES, dim) uniform in the box, fixed seed


@pytest.fixture(scope="session", params=sorted(LANDSCAPES))
def compiled(request) -> Compiled:
    landscape = LANDSCAPES[request.param]
    dim = landscape.resolve_dim()
    box = landscape.box(dim)
    samples = np.random.default_rng(20240611).uniform(box[:, 0], box[:, 1], size=(N_SAMPLES, dim))
    return Compiled(landscape, dim, landscape.minimum(dim), box, landscape.minimizer_array(dim),
                    jax.jit(jax.vmap(landscape.fn)), jax.jit(jax.vmap(jax.grad(landscape.fn))),
                    samples)


def _transform_instances_only(compiled) -> None:
    """The shift/rotation instances do not apply to a landscape with its own (BBOB's)."""
    if compiled.landscape.instance_data is not None:
        pytest.skip("a landscape with its own (COCO) instances is never shifted or rotated;"
                    " test_own_instances_hold_their_minima checks its instances")


def test_own_instances_hold_their_minima(compiled):
    """A landscape with its own instances: each instance's f(x*) == f*, in numpy and with the data
    as traced arrays (one program over the instances), and instance 0 refused."""
    landscape = compiled.landscape
    if landscape.instance_data is None:
        pytest.skip("this landscape's instances are shifts/rotations, checked by the instance tests"
                    " above; only landscapes with their own instances (BBOB) have data to check")
    made = [make_instance(landscape, k, compiled.dim) for k in INSTANCE_IDS]
    value = jax.jit(jax.vmap(lambda z, data: landscape.data_formula(z, data, jnp)))
    data = jax.tree.map(lambda *a: jnp.asarray(np.stack(a)), *[m.data for m in made])
    got = np.asarray(value(jnp.asarray(np.stack([m.minimizers[0] for m in made])), data))
    for instance, at_minimum in zip(made, got):
        tolerance = _tolerance(instance.f_star) if landscape.stationary else _tolerance(instance.f_star, 1e-5)
        assert abs(instance_np_fn(landscape, instance)(instance.minimizers[0]) - instance.f_star) <= tolerance
        assert abs(at_minimum - instance.f_star) <= tolerance
    with pytest.raises(InputError):
        make_instance(landscape, 0, compiled.dim)


def test_registry_key_is_name():
    assert len(LANDSCAPES) >= 30
    for key, landscape in LANDSCAPES.items():
        assert key == landscape.name
        assert key == key.lower() and " " not in key and "-" not in key


def test_record_is_complete(compiled):
    landscape = compiled.landscape
    assert landscape.source
    assert compiled.minimizers.shape[1] == compiled.dim and len(compiled.minimizers) >= 1
    assert compiled.box.shape == (compiled.dim, 2) and np.all(compiled.box[:, 0] < compiled.box[:, 1])
    start = landscape.start_box(compiled.dim)
    assert np.all(start[:, 0] >= compiled.box[:, 0]) and np.all(start[:, 1] <= compiled.box[:, 1])
    assert landscape.noise_scale >= 0.0


def test_value_at_every_minimizer(compiled):
    landscape, f_star = compiled.landscape, compiled.f_star
    for x in compiled.minimizers:
        assert abs(landscape.np_fn(x) - f_star) <= _tolerance(f_star), x
    jax_values = np.asarray(compiled.values(jnp.asarray(compiled.minimizers)))
    np.testing.assert_allclose(jax_values, f_star, rtol=0, atol=_tolerance(f_star))


def test_minimizers_in_box(compiled):
    assert np.all(compiled.minimizers >= compiled.box[:, 0])
    assert np.all(compiled.minimizers <= compiled.box[:, 1])


def _where(predicate):
    """Indirect parametrization over the landscapes a check applies to (rather than skipping the
    others at run time); evaluated at collection, so registered user landscapes are included."""
    return pytest.mark.parametrize(
        "compiled", [name for name in sorted(LANDSCAPES) if predicate(LANDSCAPES[name])],
        indirect=True)


@_where(lambda landscape: landscape.stationary)  # kinks and box-edge minima have no zero gradient
def test_gradient_vanishes_at_minimizers(compiled):
    gradients = np.asarray(compiled.gradients(jnp.asarray(compiled.minimizers)))
    assert np.max(np.linalg.norm(gradients, axis=1)) <= 1e-6 * max(1.0, abs(compiled.f_star))


def test_no_sample_below_minimum(compiled):
    values = np.asarray(compiled.values(jnp.asarray(compiled.samples)))
    assert np.all(np.isfinite(values))
    assert values.min() >= compiled.f_star - _tolerance(compiled.f_star)
    # the numpy version on a subset: the scipy ground truth sees the same function
    np_values = np.array([compiled.landscape.np_fn(x) for x in compiled.samples[:200]])
    assert np_values.min() >= compiled.f_star - _tolerance(compiled.f_star)


def test_jnp_and_np_agree(compiled):
    points = compiled.samples[:64]
    np_values = np.array([compiled.landscape.np_fn(x) for x in points])
    jax_values = np.asarray(compiled.values(jnp.asarray(points)))
    floor = rounding_spread(lambda p: np.asarray(compiled.values(jnp.asarray(p))), points, 2.0**-52)
    assert np.all(np.abs(jax_values - np_values)
                  <= 1e-11 + 1e-11 * np.abs(np_values) + 4 * floor), compiled.landscape.name


def test_jit_vmap_grad_agree_with_plain_calls(compiled):
    landscape = compiled.landscape
    points = compiled.samples[:3]
    batched_values = np.asarray(compiled.values(jnp.asarray(points)))
    batched_grads = np.asarray(compiled.gradients(jnp.asarray(points)))
    floor = rounding_spread(lambda p: np.asarray(compiled.gradients(jnp.asarray(p))), points,
                             2.0**-52)
    for x, value, grad, noise in zip(points, batched_values, batched_grads, floor):
        np.testing.assert_allclose(float(landscape.fn(jnp.asarray(x))), value, rtol=1e-12, atol=1e-12)
        plain_grad = np.asarray(jax.grad(landscape.fn)(jnp.asarray(x)))
        assert np.all(np.abs(plain_grad - grad) <= 1e-10 + 1e-10 * np.abs(grad) + 4 * noise)
        assert np.all(np.isfinite(grad))


def test_gradient_matches_finite_differences(compiled):
    landscape = compiled.landscape
    x = compiled.samples[7]
    grad = np.asarray(compiled.gradients(jnp.asarray(x[None])))[0]

    def f(point):  # extended precision (x87, 64-bit mantissa) keeps tiny steps above rounding
        return landscape.formula(point, np)

    wide = x.astype(np.longdouble)
    for i in range(compiled.dim):
        # Central differences need a step below the scale the slope changes on: 1e-6 |x| for the
        # classic landscapes, far less for BBOB's Weierstrass (f16, frequencies to 3^11), F8F2 (f19)
        # and Katsuura (f23, kinks every 2^-32). The smallest disagreement over the steps counts;
        # a wrong gradient agrees at none of them.
        errors = []
        for relative in (1e-6, 1e-8, 1e-10, 1e-12, 1e-13):
            e = np.zeros(compiled.dim, dtype=np.longdouble)
            e[i] = np.longdouble(relative) * max(1, abs(wide[i]))
            central = float((f(wide + e) - f(wide - e)) / (2 * e[i]))
            errors.append(abs(central - grad[i]))
        assert min(errors) <= 1e-4 * max(1.0, abs(grad[i])), (i, errors, grad[i])


def test_float32_runs_and_agrees_loosely(compiled):
    points = compiled.samples[:64]
    values32 = jax.jit(jax.vmap(compiled.landscape.fn))(jnp.asarray(points, dtype=jnp.float32))
    assert values32.dtype == jnp.float32
    values64 = np.asarray(compiled.values(jnp.asarray(points)))
    scale = max(1.0, float(np.max(np.abs(values64))))
    # what rounding the input to float32 alone does to f (large only for f19's cos of ~1e6)
    floor = rounding_spread(lambda p: np.asarray(compiled.values(jnp.asarray(p))), points, 2.0**-23)
    error = np.abs(np.asarray(values32, dtype=np.float64) - values64)
    assert np.all(error <= 1e-3 * np.abs(values64) + 1e-4 * scale + 4 * floor), compiled.landscape.name


@_where(lambda landscape: landscape.literature is not None)  # exact minima have nothing refined
def test_literature_agrees_to_its_digits(compiled):
    literature = compiled.landscape.literature
    tolerance = 10.0 ** -literature.digits
    dim = len(literature.x)
    points = compiled.landscape.minimizer_array(dim)
    nearest = points[np.argmin(np.linalg.norm(points - np.asarray(literature.x), axis=1))]
    assert np.max(np.abs(nearest - np.asarray(literature.x))) <= tolerance
    assert abs(compiled.landscape.minimum(dim) - literature.f) <= tolerance


def test_wrong_dimension_raises_naming_the_expected_one(compiled):
    landscape = compiled.landscape
    if landscape.dim is None:
        with pytest.raises(InputError, match="dim >= 2"):
            landscape.resolve_dim(1)
        assert landscape.resolve_dim(5) == 5
    else:
        with pytest.raises(InputError, match=f"{landscape.dim}-dimensional"):
            landscape.resolve_dim(landscape.dim + 1)


@_where(lambda landscape: landscape.dim is None)  # N-D functions only
def test_nd_minima_in_other_dimensions(compiled):
    landscape = compiled.landscape
    for dim in (3, 5):
        f_star = landscape.minimum(dim)
        for x in landscape.minimizer_array(dim):
            assert x.shape == (dim,)
            assert abs(landscape.np_fn(x) - f_star) <= _tolerance(f_star)
        box = landscape.box(dim)
        assert np.all(landscape.minimizer_array(dim) >= box[:, 0])
        assert np.all(landscape.minimizer_array(dim) <= box[:, 1])


# ---------------------------------------------------------------- instances


def test_instance_zero_is_identity(compiled):
    _transform_instances_only(compiled)
    instance = make_instance(compiled.landscape, 0)
    np.testing.assert_array_equal(instance.shift, np.zeros(compiled.dim))
    np.testing.assert_array_equal(instance.matrix, np.eye(compiled.dim))
    np.testing.assert_array_equal(instance_minimizers(compiled.landscape, instance),
                                  compiled.minimizers)


def test_instances_are_deterministic_and_well_formed(compiled):
    _transform_instances_only(compiled)
    landscape = compiled.landscape
    width = compiled.box[:, 1] - compiled.box[:, 0]
    for k in INSTANCE_IDS:
        first, again = make_instance(landscape, k), make_instance(landscape, k)
        np.testing.assert_array_equal(first.shift, again.shift)
        np.testing.assert_array_equal(first.matrix, again.matrix)
        assert np.all(np.abs(first.shift) <= 0.1 * width + 1e-12)
        singular = np.linalg.svd(first.matrix, compute_uv=False)
        assert np.linalg.det(first.matrix) > 0
        assert singular.min() >= 1 / MAX_STRETCH - 1e-12 and singular.max() <= 1 + 1e-9
        if not landscape.conditionable:
            np.testing.assert_allclose(first.matrix @ first.matrix.T, np.eye(compiled.dim),
                                       atol=1e-12)
        if not landscape.shiftable:
            np.testing.assert_array_equal(first.shift, 0.0)
    if landscape.shiftable:
        assert not np.array_equal(make_instance(landscape, 1).shift, make_instance(landscape, 2).shift)


def test_instance_moves_minimizers_consistently(compiled):
    _transform_instances_only(compiled)
    landscape, f_star = compiled.landscape, compiled.f_star
    centre = compiled.box.mean(axis=1)
    # a kink (Bukin's sqrt) turns a 1e-16 rounding of z* into ~1e-6 in f; smooth minima stay exact
    tolerance = _tolerance(f_star) if landscape.stationary else _tolerance(f_star, 1e-5)
    for k in INSTANCE_IDS:
        instance = make_instance(landscape, k)
        moved = instance_minimizers(landscape, instance)
        back = centre + (instance.matrix @ (moved - centre - instance.shift).T).T
        np.testing.assert_allclose(back, compiled.minimizers, rtol=1e-12, atol=1e-12)
        assert np.all(moved >= compiled.box[:, 0] - 1e-12)
        assert np.all(moved <= compiled.box[:, 1] + 1e-12)
        f_k = instance_np_fn(landscape, instance)
        for z in moved:
            assert abs(f_k(z) - f_star) <= tolerance, (k, z)


def test_instances_vmap_over_arrays(compiled):
    """The engine's path: shift and matrix as traced arrays, one program for every instance."""
    _transform_instances_only(compiled)
    landscape, f_star = compiled.landscape, compiled.f_star
    shifts, matrices = stack_instances(landscape, (0,) + INSTANCE_IDS)
    points = np.stack([instance_minimizers(landscape, make_instance(landscape, k))[0]
                       for k in (0,) + INSTANCE_IDS])

    @jax.jit
    def at_points(z, s, m):
        return jax.vmap(lambda zi, si, mi: apply_instance(landscape, si, mi)(zi))(z, s, m)

    values = np.asarray(at_points(jnp.asarray(points), jnp.asarray(shifts), jnp.asarray(matrices)))
    tolerance = _tolerance(f_star) if landscape.stationary else _tolerance(f_star, 1e-5)
    np.testing.assert_allclose(values, f_star, rtol=0, atol=tolerance)

    # and no point of the (unchanged) box goes below f* on instance 1
    samples = jnp.asarray(compiled.samples[:500])
    on_samples = jax.jit(jax.vmap(apply_instance(landscape, shifts[1], matrices[1])))(samples)
    assert float(jnp.min(on_samples)) >= f_star - _tolerance(f_star)


def test_instance_rejects_bad_id(compiled):
    with pytest.raises(InputError):
        make_instance(compiled.landscape, -1)


# ---------------------------------------------------------------- registry


def test_unknown_name_lists_close_matches():
    with pytest.raises(KeyError, match="beale"):
        get_landscape("beal")
    with pytest.raises(InputError, match="rosenbrock"):
        get_landscape("rosenbrok")
