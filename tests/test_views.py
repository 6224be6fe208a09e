"""bench.run.views: what the run writes for the report's figures, keyed, atomic, and a report
that says what is missing where a folder has no views."""

from __future__ import annotations

import numpy as np
import pytest
from test_reports_data import make_record, synthetic_records, write_results

import reports
from bench.run import figure_data
from bench.run.results import ResultsDir
from bench.run.views import VIEWS_FILE, load_views, write_views
from landscapes.errors import InputError


def test_views_hold_what_the_figures_need(tmp_path):
    records = synthetic_records()
    views = load_views(write_results(tmp_path, records))
    assert views.available and views.unavailable == []
    beale = views.problem("beale", 0, 2)
    assert beale["f_star"] == 0.0 and beale["minimizers"].tolist() == [[3.0, 0.5]]
    assert beale["box"].shape == beale["start_box"].shape == (2, 2)
    box, gap = views.contour("beale", 0)
    assert gap.shape == (figure_data.CONTOUR_RESOLUTION,) * 2 and np.nanmin(gap) >= -1e-12
    assert views.floor("beale", 0, 2, "float32") < 1e-12 and views.floor("beale", 0, 2, "float64") is None
    traced = [r for r in records if r.get("trajectory") is not None]
    assert all(views.gap(r["record_id"]).shape == np.shape(r["trajectory"])[:2] for r in traced)
    schedule = views.schedule("sgd/constant")
    assert schedule["keys"] == ["learning_rate", "warmup_steps"]
    assert all(np.all(curve == curve[0]) for curve in schedule["curves"].values())  # constant rate


def test_a_second_write_computes_only_what_is_new(tmp_path, monkeypatch):
    records = synthetic_records()
    write_results(tmp_path, records)
    before = load_views(tmp_path)
    calls = []
    for name in ("landscape_function", "contour_grid", "precision_floor", "learning_rate_curves"):
        real = getattr(figure_data, name)
        monkeypatch.setattr(figure_data, name,
                            lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    write_views(ResultsDir(tmp_path))
    assert calls == []  # every entry kept
    extra = make_record("beale", "sgd/constant", {"learning_rate": 0.01}, 0, "test",
                        steps_to_success=[20, 30], instance=1)
    ResultsDir(tmp_path).append([extra])
    write_views(ResultsDir(tmp_path))
    assert sorted(set(calls)) == ["contour_grid", "landscape_function", "precision_floor"]
    after = load_views(tmp_path)
    assert after.problem("beale", 1, 2) is not None and after.gap(extra["record_id"]) is not None
    np.testing.assert_array_equal(after.contour("beale", 0)[1], before.contour("beale", 0)[1])


def test_a_failed_write_leaves_the_old_views_whole(tmp_path, monkeypatch):
    write_results(tmp_path, synthetic_records())
    old = (tmp_path / VIEWS_FILE).read_bytes()

    def cut(handle, **arrays):
        handle.write(b"PK half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", cut)
    with pytest.raises(InputError) as caught:  # one line (exit 2 from the command), no traceback
        write_views(ResultsDir(tmp_path))
    message = str(caught.value)
    assert "the disk is full" in message and "records are kept" in message and "\n" not in message
    assert (tmp_path / VIEWS_FILE).read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl", VIEWS_FILE]


def test_a_landscape_the_run_cannot_evaluate_is_noted_not_fatal(tmp_path):
    record = make_record("beale", "sgd/constant", {"learning_rate": 0.01}, 0, "test", steps_to_success=[20])
    record["landscape"] = "lb_no_such_landscape"
    views = load_views(write_results(tmp_path / "results", [record]))
    assert views.problem("lb_no_such_landscape", 0, 2) is None
    assert any("lb_no_such_landscape" in note for note in views.unavailable)
    reports.build_report(tmp_path / "results", tmp_path / "out", formats=("png",), workers=0)
    missing = (tmp_path / "out" / "report.md").read_text().split("## What is missing")[1]
    assert "lb_no_such_landscape: no contour grid in the run's views" in missing
    assert "not computed at run time for the figures: lb_no_such_landscape" in missing


@pytest.mark.parametrize("damage", ["absent", "garbled", "other schema"])
def test_a_folder_without_views_gives_a_report_with_notes(tmp_path, capsys, damage):
    results = write_results(tmp_path / "results", synthetic_records(), views=damage != "absent")
    if damage == "garbled":
        (results / VIEWS_FILE).write_bytes(b"not a zip")
    elif damage == "other schema":
        views = load_views(results)
        np.savez(results / VIEWS_FILE, index=np.frombuffer(b'{"schema": "landscape-bench/views/0"}', np.uint8))
        assert views.available and not load_views(results).available
    page = reports.build_report(results, tmp_path / "out", formats=("png",), workers=0)
    markdown = (tmp_path / "out" / "report.md").read_text()
    # "synthetic" is no built-in suite: the command names the suite file to give
    command = (f"`landscape-bench run SUITE.toml --out {results}` (SUITE.toml: the file suite"
               " 'synthetic' was run from) resumes the run")
    for what in ("Contours", "Gap-against-step curves", "Learning-rate schedules"):
        assert f"{what} not drawn:" in markdown
    assert command in markdown and command in capsys.readouterr().err
    figures = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    assert not any(name.startswith(("contour_", "gap_vs_step", "learning_rates")) for name in figures)
    assert {"runtime_ecdf.png", "sensitivity_beale.png"} <= figures and page.is_file()


def test_reports_and_analysis_import_no_problem_code():
    # The layers: reports -> analysis -> records/results (and the views file's reader); never the
    # landscapes (their error type aside), the optimizers, the engine or the suites.
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    forbidden = ("landscapes", "optimizers", "jax", "optax", "bench.core", "bench.run.suites",
                 "bench.run.runner", "bench.run.figure_data", "bench.run.views_writer")
    found = []
    for path in sorted([*(root / "reports").glob("*.py"), *(root / "bench" / "analysis").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {name}" for name in names
                      if name != "landscapes.errors" and name.startswith(forbidden)]
    assert found == []


def test_records_newer_than_the_views_are_said_to_be_left_out(tmp_path):
    records = synthetic_records()
    results = write_results(tmp_path / "results", records[:-1])  # views of all but the last
    write_results(tmp_path / "results", records, views=False)  # the last appended afterwards
    traced = [r for r in records if r.get("trajectory") is not None and r["phase"] == "test"]
    assert load_views(results).gap(traced[-1]["record_id"]) is None
    reports.build_report(results, tmp_path / "out", formats=("png",), workers=0)
    missing = (tmp_path / "out" / "report.md").read_text().split("## What is missing")[1]
    assert "records with trajectories are not in the run's views" in missing


def test_a_run_merges_its_own_records_into_the_views_without_reading_the_file_back(tmp_path, monkeypatch):
    from bench.run.views_writer import start_collecting

    records = synthetic_records()
    extra = make_record("beale", "sgd/constant", {"learning_rate": 0.5}, 9, "tune",
                        steps_to_success=[20, 30], instance=1)  # a new problem, config and trajectory
    write_results(tmp_path / "merged", records[:-3])
    write_results(tmp_path / "full", records[:-3])
    for name in ("merged", "full"):
        with ResultsDir(tmp_path / name) as results:
            seen = start_collecting(results) if name == "merged" else None
            results.append(records[-3:] + [extra])
            if seen is not None:
                def refuse(self, visit):
                    raise AssertionError("read back")
                monkeypatch.setattr(ResultsDir, "visit_records", refuse)
            write_views(results, seen=seen)
            monkeypatch.undo()
    merged, full = load_views(tmp_path / "merged"), load_views(tmp_path / "full")
    assert merged.index["problems"] == full.index["problems"]
    assert merged.index["schedules"] == full.index["schedules"]
    assert set(merged.index["gaps"]) == set(full.index["gaps"])
    for record_id in full.index["gaps"]:
        np.testing.assert_array_equal(merged.gap(record_id), full.gap(record_id))
    for label in full.index["schedules"]:
        for key, curve in full.schedule(label)["curves"].items():
            np.testing.assert_array_equal(merged.schedule(label)["curves"][key], curve)
    np.testing.assert_array_equal(merged.contour("beale", 1)[1], full.contour("beale", 1)[1])


def test_a_new_folder_gets_its_views_from_the_runs_own_records(tmp_path, monkeypatch):
    from bench.run.views_writer import start_collecting

    records = synthetic_records()
    with ResultsDir(tmp_path / "new") as results:
        seen = start_collecting(results)
        results.append(records)
        monkeypatch.setattr(ResultsDir, "visit_records", lambda self, visit: pytest.fail("read back"))
        write_views(results, seen=seen)
    monkeypatch.undo()
    full = load_views(write_results(tmp_path / "full", records))
    assert load_views(tmp_path / "new").index["problems"] == full.index["problems"]
    assert set(load_views(tmp_path / "new").index["gaps"]) == set(full.index["gaps"])


def test_a_record_the_views_cannot_take_never_fails_the_run(tmp_path, monkeypatch):
    from bench.run.views_writer import start_collecting

    records = synthetic_records()
    with ResultsDir(tmp_path / "run") as results:
        seen = start_collecting(results)
        real = figure_data.landscape_function
        monkeypatch.setattr(figure_data, "landscape_function",
                            lambda *a, **k: (_ for _ in ()).throw(ValueError("a bug in the views")))
        results.append(records)  # the records are written all the same
        monkeypatch.setattr(figure_data, "landscape_function", real)
        assert seen.start_bytes is None
        write_views(results, seen=seen)  # read back: the whole file
    full = load_views(write_results(tmp_path / "full", records))
    assert set(load_views(tmp_path / "run").index["gaps"]) == set(full.index["gaps"])


def test_the_command_that_writes_views_names_a_builtin_suite_by_name_and_a_file_by_path():
    from bench.run.views import how_to_write

    assert how_to_write([{"suite": "quick"}], "out").startswith("`landscape-bench run quick --out out`"
                                                                " resumes")
    assert "run SUITE.toml --out out` (SUITE.toml: the file suite 'mine'" in how_to_write(
        [{"suite": "mine"}], "out")
    assert how_to_write([{"suite": "a"}, {"suite": "b"}], "out").startswith("`landscape-bench run SUITE")
