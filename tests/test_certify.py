"""Certification, noisy gradients, the quadratic factory and user-registered landscapes."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscapes import LANDSCAPES, InputError, Landscape, get_landscape, make_quadratic, register
from landscapes.ground_truth import certify, format_certificates
from landscapes.noise import noisy_grad

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

SMALL = {"n_starts": 2, "de_popsize": 5, "de_maxiter": 25}  # keeps the whole registry under ~15 s


@pytest.fixture(scope="module")
def certificates():
    return {name: certify(LANDSCAPES[name], **SMALL) for name in sorted(LANDSCAPES)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_every_landscape_certifies(certificates, name):
    certificate = certificates[name]
    assert certificate.certified, certificate.verdict
    assert certificate.verdict == "certified"


def test_table_has_every_column_and_row(certificates):
    table = format_certificates(certificates.values())
    header = table.splitlines()[0]
    for column in ("landscape", "dimension", "f*", "scipy's best", "difference", "time", "verdict"):
        assert column in header
    rows, _, note = table.partition("\n\n")
    assert len(rows.splitlines()) == len(certificates) + 2
    # "certified" means scipy found nothing lower; where it did not reach f* either, a note says so
    unreached = [name for name, c in certificates.items()
                 if c.certified and c.difference > 1e-8 * max(1.0, abs(c.f_star))]
    assert note.startswith(f"scipy did not reach f* on {', '.join(unreached)} ") if unreached else not note


def _user_paraboloid(x, xp):
    return (x[0] - 1.0) ** 2 + 2.0 * (x[1] + 0.5) ** 2 + 0.25


def test_wrong_f_star_fails_with_the_check_and_amount():
    wrong = Landscape(name="user_paraboloid_wrong", formula=_user_paraboloid, dim=2,
                      bounds=((-3.0, 3.0), (-3.0, 3.0)), minimizers=((1.0, -0.5),), f_star=0.5,
                      source="a deliberately wrong f*")
    certificate = certify(wrong, **SMALL)
    assert not certificate.certified
    assert "value_at_minimizers by 0.25" in certificate.verdict
    assert "scipy_not_lower by 0.25" in certificate.verdict


def test_wrong_minimizer_fails_the_gradient_check():
    wrong = Landscape(name="user_paraboloid_moved", formula=_user_paraboloid, dim=2,
                      bounds=((-3.0, 3.0), (-3.0, 3.0)), minimizers=((1.0, -0.4),), f_star=0.27,
                      source="minimizer off by 0.1")
    verdict = certify(wrong, **SMALL).verdict
    assert verdict.startswith("FAILED") and "gradient_at_minimizers by 0.4" in verdict


def test_registered_landscape_is_in_the_registry_and_certifies():
    user = Landscape(name="user_paraboloid", formula=_user_paraboloid, dim=2,
                     bounds=((-3.0, 3.0), (-3.0, 3.0)), minimizers=((1.0, -0.5),), f_star=0.25,
                     source="test")
    try:
        assert register(user) is user
        assert get_landscape("user_paraboloid") is user
        assert certify(user, **SMALL).certified
        with pytest.raises(InputError, match="already registered"):
            register(user)
    finally:
        LANDSCAPES.pop("user_paraboloid", None)


def _paraboloid(**changes) -> Landscape:
    fields = dict(name="user_paraboloid_checked", formula=_user_paraboloid, dim=2,
                  bounds=((-3.0, 3.0), (-3.0, 3.0)), minimizers=((1.0, -0.5),), f_star=0.25,
                  source="test")
    return Landscape(**{**fields, **changes})


@pytest.mark.parametrize("changes, message", [
    (dict(f_star=0.5), r"f_star = 0.5 but the formula gives 0.25 at the minimizers .*; fix f_star"
                       r" or the minimizers"),
    (dict(minimizers=((1.0, -0.5, 0.0),)), r"minimizers must be points of length 2 \(the dim\);"
                                             r" got an array of shape \(1, 3\)"),
    (dict(minimizers=((4.0, -0.5),)), r"a minimizer lies outside the bounds \(by 1\)"),
    (dict(formula=lambda x: x[0] ** 2), r"formula\(x, xp\) failed at a minimizer with xp = numpy:"
                                        r" TypeError: .*; write it as formula\(x, xp\)"),
    (dict(name="Boha-2"), r"the name must be lower_snake_case \(e.g. 'boha_2'\)"),
    (dict(bounds=((3.0, -3.0), (-3.0, 3.0))), r"bounds must be 2 \(low, high\) pairs with low < high"),
])
def test_register_refuses_an_inconsistent_record_in_one_line(changes, message):
    # A wrong f* is the dangerous one: the runs would report negative gaps and false successes.
    with pytest.raises(InputError, match=message) as error:
        register(_paraboloid(**changes))
    assert "\n" not in str(error.value)
    assert "user_paraboloid_checked" not in LANDSCAPES and not any(
        name.startswith("boha") for name in LANDSCAPES)


def test_every_builtin_landscape_passes_the_registration_check():
    for landscape in LANDSCAPES.values():
        landscape.check()
        if landscape.dim is None:  # N-D: the stored minima as functions of the dimension too
            for dim in (3, 10):
                landscape.check(dim)


def test_noisy_gradient_mean_and_spread():
    landscape = get_landscape("noisy_rosenbrock")
    x = jnp.asarray([-0.5, 1.5])
    keys = jax.random.split(jax.random.key(0), 4000)
    samples = np.asarray(jax.jit(jax.vmap(noisy_grad(landscape), in_axes=(None, 0)))(x, keys))
    exact = np.asarray(jax.grad(landscape.fn)(x))
    np.testing.assert_allclose(samples.mean(axis=0), exact, atol=0.1)
    np.testing.assert_allclose(samples.std(axis=0), landscape.noise_scale, rtol=0.05)
    exact_again = noisy_grad(get_landscape("rosenbrock"))(x, keys[0])
    np.testing.assert_allclose(np.asarray(exact_again), exact, rtol=1e-14)


def test_noisy_variants_keep_the_formula():
    for name, base in (("noisy_beale", "beale"), ("noisy_branin", "branin"),
                       ("noisy_rosenbrock", "rosenbrock")):
        noisy, plain = get_landscape(name), get_landscape(base)
        assert noisy.noise_scale > 0 and plain.noise_scale == 0
        x = np.asarray([0.3, 1.7])
        assert noisy.np_fn(x) == plain.np_fn(x)


def test_quadratic_condition_number():
    quadratic = make_quadratic(5, condition_number=1e6)
    hessian = np.asarray(jax.hessian(quadratic.fn)(jnp.zeros(5)))
    eigenvalues = np.linalg.eigvalsh(hessian)
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(1e6, rel=1e-10)
    assert quadratic.name == "quadratic_cond_1e+06" and quadratic.dim == 5
    with pytest.raises(InputError):
        make_quadratic(condition_number=0.5)
    default = get_landscape("ill_conditioned_quadratic")
    hessian = np.asarray(jax.hessian(default.fn)(jnp.zeros(4)))
    assert np.linalg.cond(hessian) == pytest.approx(1e3, rel=1e-10)
    assert dataclasses.replace(default).conditionable is False


def test_a_bounded_domain_instance_never_shows_values_below_f_star():
    # Found by the numbers audit: McCormick (f* the minimum over its box only) may be shifted, and a
    # shift near the largest allowed, (0.55, 0.7), maps a box corner to f = -1.944 < f* = -1.913.
    # Such draws are now rejected; instances 1-300 of McCormick and Michalewicz were unaffected.
    from landscapes.instances import exposes_lower, make_instance

    mccormick = get_landscape("mccormick")
    assert exposes_lower(mccormick, np.array([0.55, 0.7]), np.eye(2))
    assert not exposes_lower(mccormick, np.zeros(2), np.eye(2))
    assert not exposes_lower(get_landscape("beale"), np.array([0.55, 0.7]), np.eye(2))  # unbounded
    for name in ("mccormick", "michalewicz"):
        land = get_landscape(name)
        for instance_id in range(1, 21):
            instance = make_instance(land, instance_id)
            assert not exposes_lower(land, instance.shift, instance.matrix)
