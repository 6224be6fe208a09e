"""bench.run.figure_data: the landscapes and schedules evaluated at run time for the report's views."""

from __future__ import annotations

import numpy as np
import pytest

from bench.run import figure_data
from landscapes.core import rounding_spread


def test_landscape_function_matches_instance_np_fn():
    import landscapes
    from landscapes.instances import instance_np_fn, make_instance

    points = np.random.default_rng(0).uniform(-2, 2, (5, 2))
    for name, instance in (("beale", 0), ("himmelblau", 1), ("rosenbrock", 2)):
        land = landscapes.get_landscape(name)
        expected = [instance_np_fn(land, make_instance(land, instance, 2))(p) for p in points]
        np.testing.assert_allclose(figure_data.landscape_function(name, instance, 2)(points), expected)
    # an N-D formula with an index vector (arange) evaluates on several points too
    values = figure_data.landscape_function("dixon_price", 0, 3)(np.ones((2, 3)))
    assert values.shape == (2,)


def test_a_landscape_registered_again_is_evaluated_with_its_new_formula():
    # report-side caches go by landscape record, not name (replace=True in a notebook)
    import dataclasses

    import landscapes

    beale = landscapes.get_landscape("beale")
    point = np.array([[0.0, 0.0]])
    try:
        landscapes.register(dataclasses.replace(beale, name="lb_edited_land"), replace=True)
        first = figure_data.landscape_function("lb_edited_land")(point)
        floor = figure_data.precision_floor("lb_edited_land", 0, None, "float32")
        shifted = dataclasses.replace(beale, name="lb_edited_land", f_star=100.0,
                                      formula=lambda x, xp: beale.formula(x, xp) + 100.0)
        landscapes.register(shifted, replace=True)
        np.testing.assert_allclose(figure_data.landscape_function("lb_edited_land")(point), first + 100.0)
        # f* = 100 in float32 is resolved to its spacing there, coarser than at Beale's f* = 0
        assert figure_data.precision_floor("lb_edited_land", 0, None, "float32") > floor
    finally:
        landscapes.LANDSCAPES.pop("lb_edited_land", None)


@pytest.mark.parametrize("name", sorted(__import__("landscapes").LANDSCAPES))
def test_formula_on_points_matches_point_by_point(name):
    # every registered landscape evaluates on a grid of points in one numpy call, with the values of
    # its one-point np_fn (N-D ones in several dimensions, a minimizer included)
    import landscapes

    land = landscapes.LANDSCAPES[name]
    rng = np.random.default_rng(1)
    for dim in [land.dim] if land.dim else [2, 3, 10]:
        box = land.box(dim)
        points = rng.uniform(box[:, 0], box[:, 1], size=(64, dim))
        points[0] = land.minimizer_array(dim)[0]
        expected = np.array([float(land.np_fn(p)) for p in points])
        # within the rounding floor of f (BBOB's f19 takes cos of values near 1e6): matrix products
        # over columns and over one point round differently, by up to ~dim ulps
        floor = rounding_spread(lambda p: [float(land.np_fn(x)) for x in p], points,
                                dim * 2.0**-52)
        error = np.abs(figure_data.formula_on_points(land, points) - expected)
        assert np.all(error <= 1e-12 + 1e-12 * np.abs(expected) + 4 * floor), (name, dim)


@pytest.mark.parametrize("name, dim, instance", [("rastrigin", 2, 0), ("rosenbrock", 10, 0),
                                                  ("rosenbrock", 2, 3), ("sphere", 4, 1)])
def test_landscape_function_evaluates_in_one_call(name, dim, instance, monkeypatch):
    # rastrigin and rosenbrock used to fail the vectorised path (a sum over every point) and were
    # evaluated point by point; now only the one spot-check point goes through np_fn
    from landscapes.core import Landscape

    function = figure_data.landscape_function(name, instance, dim)
    points = np.random.default_rng(2).uniform(-2, 2, (300, dim))
    expected = np.array([function.single(p) for p in points])
    calls = []
    original = Landscape.np_fn
    monkeypatch.setattr(Landscape, "np_fn", lambda self, x: calls.append(1) or original(self, x))
    np.testing.assert_allclose(function(points), expected, rtol=1e-12, atol=1e-12)
    assert len(calls) <= 1


def test_precision_floor_finds_what_float32_cannot_resolve():
    # Found by the numbers audit: in float32 Hölder table's gap at the exact minimizer is +5.7e-6
    # (f* = -19.2), Branin's computed gaps are multiples of 1.2e-7, a rotated Bukin N.6 cannot get
    # within 1e-2 of f* on float32 points; Beale (f* = 0) resolves far below every target.
    floor = figure_data.precision_floor
    assert 1e-6 < floor("holder_table", 0, None, "float32") < 1e-5
    assert floor("branin", 0, None, "float32") == pytest.approx(2.0 ** -23, rel=1e-3)
    assert floor("bukin_n6", 1, None, "float32") > 1e-2
    assert floor("beale", 0, None, "float32") < 1e-12
    assert floor("holder_table", 0, None, "float64") < 1e-12  # float64 resolves every COCO target
    assert floor("bukin_n6", 1, None, "float64") > 1e-7  # the rotated kink: not even float64
