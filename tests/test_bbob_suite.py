"""BBOB in suites: instances are COCO's, one program serves them all, COCO's 51 targets, and the
export to COCO's data format that cocopp reads."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import landscapes
from bench import cli
from bench.analysis.coco_export import trial_rows
from bench.core.engine import run_batch
from bench.core.step import Problem, make_batch
from bench.core.targets import COCO51_TARGETS
from bench.run.results import ResultsDir, read_results
from bench.run.runner import OptimizerBuilder, run_suite
from bench.run.suites import load_suite, parse_suite
from landscapes import InputError, bbob
from landscapes.instances import (instance_formula, instance_minimizers, instance_minimum,
                                  instance_np_fn, make_instance)
from suite_text import optimizer_toml, suite_toml

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

SUITE = suite_toml(
    "bbob_small", steps=60, targets='"coco51"', success_target=1e-2, test_seeds=[9], starts=3,
    landscapes='[{ name = "bbob_f01", dim = 2, instances = [1, 2, 3] },\n'
               '              { name = "bbob_f08", dim = 2, instances = [1, 2, 3] }]',
    optimizers=[optimizer_toml("nesterov", "constant", learning_rate=[0.01, 0.1], momentum=[0.9])])


@pytest.fixture(scope="module")
def small_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bbob_results")
    with ResultsDir(out) as results:
        run_suite(parse_suite(SUITE), results)
    return out


def test_instances_are_coco_instances_with_their_own_data():
    land = landscapes.get_landscape("bbob_f15")
    for instance in (1, 4):
        made = make_instance(land, instance, 3)
        data, x_opt, f_opt = bbob.instance_data(15, instance, 3)
        assert instance_minimum(land, made) == f_opt
        np.testing.assert_array_equal(instance_minimizers(land, made), x_opt[None])
        x = np.random.default_rng(instance).uniform(-5, 5, (4, 3))
        expected = [float(bbob.value(p, data, np, function=15)) for p in x]
        assert [instance_np_fn(land, made)(p) for p in x] == expected
        np.testing.assert_allclose(instance_formula(land, made)(x.T, np), expected, rtol=1e-12)
    for bad in (0, -2):
        with pytest.raises(InputError, match=r"numbered 1, 2, 3"):
            make_instance(land, bad, 3)


def test_suite_instances_below_one_are_refused_and_default_to_one():
    with pytest.raises(InputError, match=r"bbob_f08.*numbered 1, 2, 3.*got instance 0"):
        parse_suite(SUITE.replace("instances = [1, 2, 3] }]", "instances = [0, 1] }]"))
    with pytest.raises(InputError, match=r"got instance -1"):
        parse_suite(SUITE.replace("instances = [1, 2, 3] }]", "instances = [-1] }]"))
    suite = parse_suite(SUITE.replace(', instances = [1, 2, 3] }]', ', dim = 7 }]')
                        .replace('{ name = "bbob_f08", dim = 2', '{ name = "bbob_f08"'))
    assert suite.landscapes[1].instances == (1,) and suite.landscapes[1].dim == 7
    assert parse_suite(SUITE).targets == COCO51_TARGETS
    with pytest.raises(InputError, match=r"'coco8', 'coco51'"):
        parse_suite(SUITE.replace('"coco51"', '"coco50"'))


def test_one_program_serves_every_instance(program_store, monkeypatch):
    """The data enter the compiled sweep as arguments: three instances trace it once, and each
    run's gap is against its own instance (f_i(x0) - f*_i with a zero learning rate)."""
    traces = []
    value = bbob.value
    monkeypatch.setattr(bbob, "value", lambda *a, **k: traces.append(1) or value(*a, **k))
    land = landscapes.get_landscape("bbob_f03")
    problem = Problem(land, OptimizerBuilder("sgd", "constant"), 13, dtype="float64",
                      with_data=True)
    x0 = np.random.default_rng(0).uniform(-4, 4, (5, 3))
    counts = []
    for instance in (1, 2, 3):
        made = make_instance(land, instance, 3)
        batch = make_batch(problem, {"learning_rate": 0.0}, x0, made.f_star, made.minimizers,
                           data=made.data)
        metrics, _ = run_batch(problem, batch)
        counts.append(len(traces))
        expected = [float(value(x, made.data, np, function=3)) - made.f_star for x in x0]
        np.testing.assert_allclose(metrics.final_gap, expected, rtol=1e-12, atol=1e-9)
    assert counts[0] > 0 and counts[0] == counts[1] == counts[2]


def test_records_hold_each_instances_f_star_and_minimizer(small_results):
    records = [r for r in read_results(small_results) if r["phase"] == "test"]
    assert {(r["landscape"], r["instance"]) for r in records} == {
        (f"bbob_f0{f}", i) for f in (1, 8) for i in (1, 2, 3)}
    for record in records:
        _, x_opt, f_opt = bbob.instance_data(int(record["landscape"][-2:]), record["instance"], 2)
        assert record["f_star"] == f_opt
        np.testing.assert_array_equal(record["minimizers"], x_opt[None])
        assert np.asarray(record["runs"]["reached"]).shape == (3, 51)
        finite = np.isfinite(np.asarray(record["runs"]["best_gap"], float))
        assert (np.asarray(record["runs"]["best_gap"], float)[finite] >= -1e-4).all()


def test_trial_rows_are_the_known_first_hits_and_the_last_evaluation():
    record = dict(targets=[1.0, 0.1, 0.01], steps=50, runs=dict(
        reached=[[True, True, False]], steps_to_target=[[0, 7, 50]], final_x=[[0.5, 0.5]],
        status=[1], best_gap=[0.05]))
    assert [(e, g) for e, g, _ in trial_rows(record, 0)] == [(1, 1.0), (8, 0.1), (51, 0.05)]
    record["runs"].update(reached=[[False] * 3], status=[2], best_gap=[0.001])  # diverged
    assert [(e, g) for e, g, _ in trial_rows(record, 0)] == [(51, 1e300)]


def test_a_trial_starts_at_the_first_evaluation_agreeing_with_the_records_first_hits():
    record = dict(targets=[1.0, 0.1, 0.01], steps=50, x0=[[2.0, 3.0]], runs=dict(
        reached=[[True, False, False]], steps_to_target=[[0, 50, 50]], final_x=[[0.5, 0.5]],
        status=[1], best_gap=[0.5]))
    rows = trial_rows(record, 0, first_gap=0.7)
    assert [(e, g) for e, g, _ in rows] == [(1, 0.7), (51, 0.5)]
    assert rows[0][2].tolist() == [2.0, 3.0]  # the start point
    # the float64 value may fall on the other side of a target than the run's float32 one did:
    # the record's first hits win, so cocopp reads back the same ones
    assert trial_rows(record, 0, first_gap=1.5)[0][1] == 1.0  # at most the target hit at x_0
    below = trial_rows(record, 0, first_gap=0.05)[0][1]  # above the targets missed at x_0
    assert 0.1 < below < 0.1000001 and float(f"{below:.9e}") > 0.1  # also as written


def test_a_start_gap_is_coco_s_value_at_the_start_point():
    import cocoex  # a test dependency
    rng = np.random.default_rng(5)
    suite = cocoex.Suite("bbob", "instances: 1-15", "")
    for function, dim, instance in ((1, 2, 1), (8, 10, 3), (12, 2, 1), (15, 5, 7), (21, 20, 15)):
        coco = suite.get_problem_by_function_dimension_instance(function, dim, instance)
        x = rng.uniform(-4, 4, dim)
        gap = bbob.start_gap(function, instance, dim, x)
        expected = coco(x) - bbob.problem(function, instance, dim).f_opt
        assert gap == pytest.approx(expected, rel=1e-9, abs=1e-9), (function, dim, instance)


def test_an_export_where_no_run_reaches_a_target_at_its_start_is_read_by_cocopp(tmp_path):
    """Every trial starts at evaluation 1, f(x_0) - f_opt, as COCO's files do: without it cocopp
    warns "First evaluation was not read/recorded", and on the whole bbob suite's export its tables
    of final values at small budgets failed ("first entry 2001.0 was smaller than maximal budget
    2.5")."""
    suite = suite_toml(
        "bbob_far", steps=20, targets='"coco51"', success_target=1e-2, test_seeds=[9], starts=2,
        landscapes='[{ name = "bbob_f12", dim = 2, instances = [1] }]',
        optimizers=[optimizer_toml("sgd", "constant", learning_rate=[1e-12])])
    results = tmp_path / "results"
    with ResultsDir(results) as out:
        run_suite(parse_suite(suite), out)
    coco = tmp_path / "coco"
    assert cli.main(["export-coco", str(results), str(coco)]) == 0
    (folder,) = coco.iterdir()
    (record,) = [r for r in read_results(results) if r["phase"] == "test"]
    lines = (folder / "data_f12" / "bbobexp_f12_DIM2.dat").read_text().splitlines()
    firsts = [lines[i + 1].split() for i, line in enumerate(lines) if line.startswith("%")]
    assert [row[0] for row in firsts] == ["1", "1"]
    for row, x0 in zip(firsts, record["x0"]):
        assert float(row[2]) == pytest.approx(bbob.start_gap(12, 1, 2, x0), rel=1e-9)
        assert float(row[2]) > 100  # no target reached at the start
    done = subprocess.run([sys.executable, "-m", "cocopp", "-o", str(tmp_path / "ppdata"), str(folder)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "First evaluation was not read" not in done.stderr


def test_export_is_read_by_cocopp_with_our_first_hits(small_results, tmp_path):
    import cocopp  # a test dependency (with six, which it imports without declaring): never skipped
    out = tmp_path / "coco"
    assert cli.main(["export-coco", str(small_results), str(out)]) == 0
    (folder,) = out.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "bbobexp_f1.info", "bbobexp_f8.info", "data_f1", "data_f8"]
    assert "gradient" in (folder / "bbobexp_f1.info").read_text()
    datasets = cocopp.pproc.DataSetList(str(folder))
    records = {(int(r["landscape"][-2:]), r["instance"]): r for r in read_results(small_results)
               if r["phase"] == "test"}
    targets = np.asarray(COCO51_TARGETS)
    ours_area, theirs_area = [], []
    for ds in datasets:
        assert ds.dim == 2 and sorted(set(ds.instancenumbers)) == [1, 2, 3]
        theirs = np.array(ds.detEvals(list(targets)))  # (targets, trials), NaN = not reached
        ours = []
        for instance in ds.instancenumbers[::3]:  # three runs per instance, in order
            runs = records[(ds.funcId, instance)]["runs"]
            hits = np.asarray(runs["steps_to_target"], float) + 1
            ours.append(np.where(np.asarray(runs["reached"], bool), hits, np.nan))
        ours = np.concatenate(ours).T
        np.testing.assert_array_equal(theirs, ours)
        budgets = np.arange(1, 62)
        for table, area in ((ours, ours_area), (theirs, theirs_area)):
            area.append(np.mean([(np.nan_to_num(table, nan=np.inf) <= b).mean() for b in budgets]))
    np.testing.assert_allclose(theirs_area, ours_area)
    plots = tmp_path / "ppdata"
    done = subprocess.run([sys.executable, "-m", "cocopp", "-o", str(plots), str(folder)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_export_refuses_without_bbob_records_or_into_a_full_folder(small_results, tiny_results,
                                                                   tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert cli.main(["export-coco", str(small_results), str(full)]) == 2
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    empty_target = tmp_path / "new"
    assert cli.main(["export-coco", str(tiny_results), str(empty_target)]) == 2
    assert not empty_target.exists()
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "not an empty folder" in errors[0] and "no BBOB" in errors[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_export_that_cannot_be_written_is_one_line_and_leaves_nothing(small_results, tmp_path,
                                                                       monkeypatch, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    assert cli.main(["export-coco", str(small_results), str(a_file / "under")]) == 2
    real_write_text = Path.write_text

    def full(self, *args, **kwargs):
        if self.suffix == ".dat":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    assert cli.main(["export-coco", str(small_results), str(tmp_path / "coco")]) == 2
    monkeypatch.undo()
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "which is a file" in errors[0], errors
    assert "could not write the COCO export" in errors[1] and "No space left" in errors[1], errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # no half export, no staging
    assert a_file.read_text() == "mine"


def test_an_export_folder_gets_the_permissions_of_a_made_folder(small_results, tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    assert cli.main(["export-coco", str(small_results), str(tmp_path / "coco")]) == 0
    assert (tmp_path / "coco").stat().st_mode == made.stat().st_mode


def test_an_export_into_the_empty_working_folder_fills_it(small_results, tmp_path, monkeypatch,
                                                          capsys):
    """`export-coco RESULTS .` in an empty folder (the form the empty-name error suggests) was "could
    not write the COCO export to '.' (Invalid argument)"; the folder is filled in place, so a shell
    standing in it sees the export."""
    here = tmp_path / "here"
    here.mkdir()
    inode = here.stat().st_ino
    monkeypatch.chdir(here)
    assert cli.main(["export-coco", str(small_results), "."]) == 0, capsys.readouterr().err
    assert here.stat().st_ino == inode
    assert [p.name for p in here.iterdir()] == ["nesterov_constant"]  # no staging folder left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]


def test_the_builtin_bbob_suite():
    suite = load_suite("bbob")
    assert {e.name for e in suite.landscapes} == {f"bbob_f{f:02d}" for f in range(1, 25)}
    assert sorted({e.dim for e in suite.landscapes}) == [2, 5, 10, 20]
    assert all(e.instances == tuple(range(1, 16)) for e in suite.landscapes)
    default = load_suite("default")
    assert [(o.family, o.schedule) for o in suite.optimizers] == [
        (o.family, o.schedule) for o in default.optimizers]


def test_a_bbob_record_reruns_bitwise(small_results):
    from bench.run.results import to_jsonable
    from bench.run.rerun import rerun_record

    record = next(r for r in read_results(small_results)
                  if r["phase"] == "test" and r["landscape"] == "bbob_f08" and r["instance"] == 3)
    again = rerun_record(record)
    assert to_jsonable(again["runs"]) == to_jsonable(record["runs"])
    assert again["f_star"] == record["f_star"]


def test_scipy_references_use_the_coco_instance():
    from bench.run.reference import run_reference

    land = landscapes.get_landscape("bbob_f01")
    _, x_opt, f_opt = bbob.instance_data(1, 2, 2)
    runs, minimizers, f_star = run_reference(land, 2, 2, "L-BFGS-B", np.array([[1.0, -2.0]]), 50,
                                             (1e-1, 1e-8))
    assert f_star == f_opt and np.array_equal(minimizers, x_opt[None])
    assert runs["reached"].all() and runs["distance"][0] < 1e-4


def test_an_export_killed_part_way_into_an_empty_folder_does_not_block_the_next(small_results,
                                                                                tmp_path, capsys):
    """A kill -9 part-way through `export-coco RESULTS empty` leaves the empty folder holding only the
    killed command's staging folder; the next export refused, "exists and is not an empty folder",
    and nothing removed the staging folder, hidden, that it named no trace of."""
    out = tmp_path / "empty"
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # a process id that has ended
    stale = out / f".empty.staging-{process.pid}.abcd"
    (stale / "nesterov_constant").mkdir(parents=True)
    (stale / "nesterov_constant" / "bbobexp_f1.info").write_text("half")
    assert cli.main(["export-coco", str(small_results), str(out)]) == 0, capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["nesterov_constant"]
