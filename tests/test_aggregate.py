"""bench.analysis.aggregate against hand-computed values on tiny records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_reports_data import STEPS, make_record, mnist_records, synthetic_records, write_results

from bench.analysis import aggregate


def tiny(steps_to_success, diverged=None, label="sgd/constant", landscape="beale", config_index=0,
         lr=0.01, phase="test"):
    return make_record(landscape, label, {"learning_rate": lr}, config_index, phase,
                       steps_to_success=steps_to_success, diverged=diverged, trajectory=False)


def test_ert_by_hand():
    # successes at 20 and 60 steps, one budget failure, one divergence: (20 + 60 + 100 + 100) / 2
    record = tiny([20, 60, None, 35], diverged=[False, False, False, True])
    assert aggregate.ert(record) == pytest.approx((20 + 60 + STEPS + STEPS) / 2)
    assert aggregate.success_rate(record) == 0.5
    assert aggregate.ert(tiny([None, None])) == math.inf
    table = aggregate.ert_table([record])
    assert table[("beale", "sgd/constant", 1e-4)] == pytest.approx(140.0)
    assert table[("beale", "sgd/constant", 1e-8)] == math.inf


def test_config_summaries_and_mnist_ignored():
    records = synthetic_records() + mnist_records()
    summaries = aggregate.config_summaries(records)
    assert len(summaries) == 2 * (2 + 4)
    good = [s for s in summaries if s.config["learning_rate"] == 1e-2 and s.problem == "beale"]
    assert all(s.success_rate == 0.75 for s in good)
    assert aggregate.problems_in(records) == ["himmelblau", "beale"]


def test_runtime_ecdf_monotone_in_unit_interval():
    ecdfs = aggregate.runtime_ecdf(synthetic_records(drop=(("beale", "momentum/constant"),)))
    assert set(ecdfs) == {"sgd/constant", "momentum/constant"}
    for ecdf in ecdfs.values():
        assert np.all(np.diff(ecdf.fraction) >= 0)
        for values in (ecdf.fraction, ecdf.low, ecdf.high):
            assert np.all((values >= 0) & (values <= 1))
        assert np.all(ecdf.low <= ecdf.fraction + 1e-12) and np.all(ecdf.fraction <= ecdf.high + 1e-12)
        assert ecdf.pairs == 2 * 8
    # test runs solve 4 of 8 targets in 3 of 4 runs on each landscape: 3/8 of the pairs at full budget;
    # momentum is absent on beale, so it reaches half of that
    assert ecdfs["sgd/constant"].fraction[-1] == pytest.approx(3 / 8)
    assert ecdfs["momentum/constant"].fraction[-1] == pytest.approx(3 / 16)


def test_runtime_ecdf_counts_budget_per_coordinate_across_dimensions():
    # A 2-D run reaching targets 1-4 at steps 1, 1, 10, 20 and a 10-D run at 70, 80, 90, 100: per
    # coordinate (COCO's evaluations / dimension) that is 0.5, 0.5, 5, 10 and 7, 8, 9, 10.
    small = tiny([20], landscape="beale")
    large = {**tiny([100], landscape="himmelblau"), "dim": 10}
    per_dim = aggregate.runtime_ecdf([small, large], budgets=[0.5, 5.0, 9.9, 10.0], bootstrap=5)["sgd/constant"]
    assert per_dim.per_dimension  # chosen because the problems have two dimensions
    np.testing.assert_allclose(per_dim.fraction, np.array([2 + 0, 3 + 0, 3 + 3, 4 + 4]) / 16)
    grid = aggregate.runtime_ecdf([small, large], bootstrap=5)["sgd/constant"].budgets
    assert grid[0] == pytest.approx(1 / 10) and grid[-1] == pytest.approx(STEPS / 2)
    plain = aggregate.runtime_ecdf([small, large], budgets=[20.0, 99.0, 100.0], per_dimension=False,
                                   bootstrap=5)["sgd/constant"]
    assert not plain.per_dimension
    np.testing.assert_allclose(plain.fraction, np.array([4 + 0, 4 + 3, 4 + 4]) / 16)
    # one dimension only: plain evaluations, as before
    assert not aggregate.runtime_ecdf([small], bootstrap=5)["sgd/constant"].per_dimension


def test_performance_profile_rho_at_one_is_fraction_best():
    fast = tiny([10, 10], label="a/constant", landscape="beale")
    slow = tiny([40, 40], label="b/constant", landscape="beale")
    fast2 = tiny([10, 10], label="b/constant", landscape="himmelblau")
    slow2 = tiny([20, None], label="a/constant", landscape="himmelblau")
    profile = aggregate.performance_profile([fast, slow, fast2, slow2])
    assert profile.ratios[("beale", "b/constant")] == pytest.approx(4.0)
    assert profile.ratios[("himmelblau", "a/constant")] == pytest.approx((20 + STEPS) / 1 / 10)
    index = int(np.searchsorted(profile.taus, 1.0))
    assert profile.rho["a/constant"][index] == 0.5 and profile.rho["b/constant"][index] == 0.5
    assert profile.rho["b/constant"][-1] == 1.0
    assert all(np.all(np.diff(r) >= 0) for r in profile.rho.values())


def test_performance_profile_counts_costs_from_one_evaluation():
    # Every success at the start point is an ERT of 0: the ratio used to divide by zero.
    at_start = tiny([0, 0], label="a/constant")
    later = tiny([4, 4], label="b/constant")
    profile = aggregate.performance_profile([at_start, later])
    assert profile.ratios[("beale", "a/constant")] == 1.0
    assert profile.ratios[("beale", "b/constant")] == pytest.approx(4.0)


def test_a_target_the_record_was_not_measured_at_is_an_error():
    from landscapes.errors import InputError

    record = tiny([10])
    assert aggregate.target_index(record, 1e-4) == list(record["targets"]).index(1e-4)
    with pytest.raises(InputError, match=r"target 3e-05 is not among the record's targets"):
        aggregate.target_index(record, 3e-5)


def test_tuning_budget_curve_reaches_the_best_config():
    curves = aggregate.tuning_budget_curves(synthetic_records(), resamples=50)
    curve = curves[("beale", "momentum/constant")]
    assert list(curve.budgets) == [1, 2, 3, 4]
    assert curve.median[-1] == 0.75 == curve.q25[-1]  # all four configs drawn: always the best
    assert np.all(curve.q25 <= curve.median) and np.all(curve.median <= curve.q75)
    assert curve.q25[0] == 0.25  # one config drawn: sometimes a bad one (1 of 4 runs succeeds)


def test_gap_trajectories_are_read_from_the_runs_views(tmp_path):
    from bench.analysis.trajectories import gap_trajectories, median_gap_curve
    from bench.run.views import load_views

    record = synthetic_records()[0]  # himmelblau: paths end on a minimizer
    views = load_views(write_results(tmp_path, [record]))
    steps, gaps = gap_trajectories(record, views)
    assert list(steps) == [0, 20, 40, 60, 80, 100]
    assert np.all(np.isnan(gaps[2]))  # the diverged run
    finite = gaps[[0, 1, 3]]
    assert np.all(finite[:, -1] < 1e-8) and np.all(finite[:, 0] > finite[:, -1])
    curve = median_gap_curve([record], views)
    assert curve.runs == 4 and curve.median[-1] < 1e-8
    # without the views (an older folder) there is no curve, and no evaluation here either
    assert gap_trajectories(record, load_views(tmp_path / "elsewhere")) is None
    assert median_gap_curve([record], load_views(tmp_path / "elsewhere")) is None


def _reference_config_summaries(records):
    # the composition config_summaries had before it pooled each config once
    out = []
    groups = aggregate.group_by(aggregate.landscape_records(records, "tune"), "problem", "label",
                                "config_index")
    for (problem, label, index), group in groups.items():
        runs = aggregate.pooled_runs(group)
        solved = runs.solved_at[:, aggregate.target_index(group[0])]
        successes = solved[np.isfinite(solved)]
        out.append(aggregate.ConfigSummary(
            problem, label, int(index), dict(group[0]["config"]), aggregate.success_rate(group),
            float(np.median(runs.final_gap)), float(np.median(successes)) if successes.size else math.nan,
            runs.count, int((runs.status == 2).sum())))
    return out


def test_config_summaries_and_tuning_curves_equal_the_unshared_computation():
    records = synthetic_records() + mnist_records()
    assert repr(aggregate.config_summaries(records)) == repr(_reference_config_summaries(records))
    # the tuning curves rank configs by selection_key and report success_rate, each pooled once now
    curves = aggregate.tuning_budget_curves(records, resamples=40, seed=3)
    rng = np.random.default_rng(3)
    for (problem, label), group in aggregate.group_by(aggregate.landscape_records(records, "tune"),
                                                      "problem", "label").items():
        by_config = aggregate.group_by(group, "config_index")
        keys = [aggregate.selection_key(by_config[c]) for c in sorted(by_config)]
        rates = np.array([aggregate.success_rate(by_config[c]) for c in sorted(by_config)])
        order = np.array(sorted(range(len(keys)), key=lambda i: keys[i]))
        rank = np.empty(len(keys), int)
        rank[order] = np.arange(len(keys))
        medians = []
        orders = np.argsort(rng.random((40, len(keys))), axis=1)  # one order per resample
        for size in range(1, len(keys) + 1):
            picks = orders[:, :size]
            best = np.take_along_axis(picks, np.argmin(rank[picks], axis=1)[:, None], axis=1)[:, 0]
            medians.append(np.quantile(rates[best], 0.5))
        np.testing.assert_array_equal(curves[(problem, label)].median, medians)


def test_as_float_reads_null_as_nan():
    np.testing.assert_array_equal(aggregate.as_float([[1.0, None], [None, 2]]), [[1.0, np.nan], [np.nan, 2.0]])
    assert aggregate.as_float([[1.0, None], [None, 2]]).dtype == np.float64
    assert np.isnan(aggregate.as_float(None)) and aggregate.as_float([]).shape == (0,)


def test_the_report_says_which_targets_the_dtype_cannot_resolve(tmp_path):
    import landscapes
    from reports import build_report

    branin = landscapes.get_landscape("branin")
    records = []
    for success_target in (1e-4, 1e-7):
        record = make_record("beale", "sgd/constant", {"learning_rate": 0.01}, 0, "test",
                             steps_to_success=[20, 30], trajectory=False)
        record.update(landscape="branin", f_star=branin.minimum(), success_target=success_target,
                      minimizers=branin.minimizer_array())
        out = write_results(tmp_path / f"t{success_target:g}", [record])
        build_report(out, out / "report", formats=("png",))
        records.append((out / "report" / "report.md").read_text())
    loose, tight = records
    assert "Precision: in float32, f − f* near this landscape's minimizers is resolved to about 1e-07" in loose
    assert "Targets below it (1e-07, 1e-08) are decided by rounding" in loose
    assert "that includes the success target" not in loose
    assert "that includes the success target 1e-07" in tight


def test_ert_charges_a_reference_failure_the_evaluations_it_made():
    # A scipy run that converged to a local minimum after 30 evaluations cost 30, not the budget.
    record = tiny([20, None, None])
    record["runs"]["evaluations"] = [25, 30, STEPS + 1]  # the last ran out of budget
    assert aggregate.ert(record) == pytest.approx((20 + 30 + STEPS) / 1)
    assert aggregate.ert(tiny([20, None, None])) == pytest.approx((20 + STEPS + STEPS) / 1)


def test_records_of_other_targets_are_not_pooled():
    # A folder an older version let two suites run into: a traceback in report and compare before.
    from landscapes.errors import InputError

    other = tiny([10])
    other["targets"] = [1e-1, 1e-2]
    with pytest.raises(InputError, match=r"records of beale × sgd/constant were run with other targets"):
        aggregate.ert([tiny([10]), other])


def test_a_name_that_is_not_a_string_is_one_clear_error():
    import landscapes
    import optimizers
    from landscapes.errors import InputError

    with pytest.raises(InputError, match="a landscape is named by a string; got None"):
        landscapes.get_landscape(None)
    with pytest.raises(InputError, match="an optimizer family is named by a string; got 3"):
        optimizers.get_family(3)


def test_job_costs_take_a_sweeps_last_cost_and_add_up_a_references():
    """A sweep job's records carry its cost so far as they stream out; the job's whole cost is the
    last one's. A scipy reference job's records each carry one instance's cost: they add up."""
    sweep = [dict(job="j1", cost=dict(runs=n, run_seconds=0.1 * n, compile_seconds=1.0)) for n in (224, 448, 500)]
    refs = [dict(job="j2", reference=True, cost=dict(runs=32, run_seconds=0.5, evaluations=1000)),
            dict(job="j2", reference=True, cost=dict(runs=32, run_seconds=1.5, evaluations=3000))]
    costs = aggregate.job_costs([sweep[1], sweep[2], sweep[0], *refs, dict(job="j3")])
    assert costs["j1"] == dict(runs=500, run_seconds=50.0, compile_seconds=1.0)
    assert costs["j2"]["runs"] == 64 and costs["j2"]["run_seconds"] == 2.0
    assert costs["j2"]["steps_per_second"] == 2000.0
    assert "j3" not in costs
