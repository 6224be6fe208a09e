"""Search spaces to config batches: full grids and seeded random draws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from landscapes.errors import InputError
from optimizers import FAMILIES, SCHEDULES, default_space, validate_config
from optimizers.spaces import Choice, Grid, LogUniform, Uniform, grid_configs, random_configs


def test_grid_is_the_full_product_with_fixed_scalars():
    space = {"learning_rate": Grid([0.01, 0.1, 1.0]), "momentum": Uniform(0.0, 0.9).grid(4),
             "decay": 0.1 / 60, "b": [1.0, 2.0]}
    batch = grid_configs(space)
    assert set(batch) == set(space)
    assert all(v.shape == (24,) and v.dtype == np.float64 for v in batch.values())
    got = set(zip(batch["learning_rate"], batch["momentum"], batch["b"]))
    expected = set(itertools.product([0.01, 0.1, 1.0], np.linspace(0, 0.9, 4), [1.0, 2.0]))
    assert got == expected
    assert np.all(batch["decay"] == 0.1 / 60)


def test_grid_of_continuous_dimensions():
    assert np.allclose(LogUniform(1e-4, 1e-1).grid(4).values, [1e-4, 1e-3, 1e-2, 1e-1])
    assert Choice((0.5, 0.9)).grid().values == (0.5, 0.9)
    with pytest.raises(InputError, match=r"\.grid\(n\)"):
        grid_configs({"learning_rate": LogUniform(1e-4, 1e-1)})


def test_grid_of_only_scalars_is_one_config():
    assert grid_configs({"learning_rate": 0.1}) == {"learning_rate": np.array([0.1])}


def test_random_is_reproducible_and_in_range():
    space = {"learning_rate": LogUniform(1e-5, 1e-1), "momentum": Uniform(0.0, 0.99),
             "step_size": Choice((10.0, 20.0)), "nesterov_like": Grid([0.0, 1.0]), "decay": 1e-3}
    first, again, other = (random_configs(space, 500, seed) for seed in (7, 7, 8))
    for name in space:
        np.testing.assert_array_equal(first[name], again[name])
        assert first[name].shape == (500,)
    assert not np.array_equal(first["learning_rate"], other["learning_rate"])
    lr = first["learning_rate"]
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1
    # log-uniform: about a quarter of the draws in each decade
    decades = np.histogram(np.log10(lr), bins=[-5, -4, -3, -2, -1])[0]
    assert decades.min() > 80
    assert 0.0 <= first["momentum"].min() and first["momentum"].max() <= 0.99
    assert set(first["step_size"]) == {10.0, 20.0} and set(first["nesterov_like"]) == {0.0, 1.0}
    assert np.all(first["decay"] == 1e-3)


def test_adding_a_dimension_keeps_the_other_draws():
    base = {"learning_rate": LogUniform(1e-4, 1.0)}
    wider = {**base, "momentum": Uniform(0.0, 0.99)}
    np.testing.assert_array_equal(random_configs(base, 10, 0)["learning_rate"],
                                  random_configs(wider, 10, 0)["learning_rate"])


@pytest.mark.parametrize("bad", [lambda: LogUniform(0.0, 1.0), lambda: LogUniform(1.0, 0.1),
                                 lambda: Uniform(0.0, float("inf")), lambda: Grid([]),
                                 lambda: random_configs({"a": 1.0}, 0, 0)])
def test_bad_spaces(bad):
    with pytest.raises(InputError):
        bad()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_default_grids_are_valid(family):
    """The default spaces, gridded at 3 points per continuous dimension, pass validation."""
    for schedule in sorted(SCHEDULES):
        space = {name: dimension.grid(3) if isinstance(dimension, (LogUniform, Uniform)) else dimension
                 for name, dimension in default_space(family, schedule).items()}
        batch = grid_configs(space)
        validate_config(family, schedule, batch)


@pytest.mark.parametrize("make, message", [
    (lambda: Grid(["a"]), "Grid takes numbers; got 'a'"),
    (lambda: Choice((0.1, None)), "Choice takes numbers; got None"),
    (lambda: LogUniform("a", 1), "LogUniform takes numbers; got 'a'"),
    (lambda: Uniform(0, 10**400), "Uniform: 1000000000"),
    (lambda: LogUniform(1e-3, 1).grid(-1), r"grid\(n\) needs a whole number of points in \[1, 1000000\]; got -1"),
    (lambda: Uniform(0, 1).grid(2.5), "got 2.5"),
    (lambda: random_configs({"learning_rate": LogUniform(1e-3, 1)}, 3, -1),
     r"the seed of random configs must be a whole number in \[0, 2\*\*32\); got -1"),
])
def test_a_bad_space_is_one_input_error(make, message):
    # Found by the bad-input audit: each was numpy's or Python's own ValueError/TypeError.
    with pytest.raises(InputError, match=message):
        make()


def test_a_word_where_a_hyperparameter_value_belongs_is_named():
    from optimizers import complete_config

    with pytest.raises(InputError, match="learning_rate must be a number or an array of numbers; got 'fast'"):
        complete_config("sgd", "constant", {"learning_rate": "fast"})
