"""`run --timing-repeats N`: repeated timings in the records' cost, nothing else changed."""

from __future__ import annotations

import re

import pytest

from bench.cli import main
from bench.run import background, runner
from bench.run.results import ResultsDir, read_results
from bench.run.suites import load_suite
from bench.run.timing import MAX_TIMING_REPEATS, check_timing_repeats
from landscapes.errors import InputError


@pytest.fixture(scope="module")
def timed_results(tiny_suite_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("timed")
    with ResultsDir(out) as results:
        runner.run_suite(load_suite(str(tiny_suite_path)), results, timing_repeats=4)
    return out


def test_repeats_are_stored_in_cost_and_nothing_else_changes(tiny_results, timed_results):
    plain = {r["record_id"]: r for r in read_results(tiny_results)}
    timed = {r["record_id"]: r for r in read_results(timed_results)}
    assert timed.keys() == plain.keys()  # the same identities: record ids do not see the repeats
    for record_id, record in timed.items():
        assert "run_seconds_repeats" not in plain[record_id]["cost"]  # a default run times once
        cost = record["cost"]
        assert len(cost["run_seconds_repeats"]) == 4 and min(cost["run_seconds_repeats"]) > 0
        assert 0 < cost["runs_repeated"] <= cost["runs"]
        strip = lambda r: {k: v for k, v in r.items() if k not in ("cost", "created")}  # noqa: E731
        assert strip(record) == strip(plain[record_id])


def test_the_last_records_of_a_job_carry_the_seconds_of_the_whole_job(timed_results):
    # every test job is one call per instance: its records' cost includes their own call
    for record in read_results(timed_results):
        if record["phase"] == "test":
            assert record["cost"]["run_seconds"] > 0 and record["cost"]["runs"] > 0


def test_a_run_whose_numbers_differ_from_its_repeats_is_refused_and_writes_no_job(tiny_suite_path, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setattr(runner, "checksum", lambda out, running=0: running + 1)  # "other numbers"
    with ResultsDir(tmp_path / "out") as results:
        with pytest.raises(RuntimeError, match="not deterministic"):
            runner.run_suite(load_suite(str(tiny_suite_path)), results, timing_repeats=2)
    # nothing of the job is shown: its records were not written, or written without the job's end
    shown = tmp_path / "out" / "results.jsonl"
    assert not shown.exists() or read_results(tmp_path / "out") == []


@pytest.mark.parametrize("given", ["-1", str(MAX_TIMING_REPEATS + 1), "1000000", "two", "1.5"])
def test_bad_timing_repeats_is_one_line_exit_2_and_writes_nothing(given, tiny_suite_path, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(tiny_suite_path), "--out", str(out), "--timing-repeats", given]) == 2
    err = capsys.readouterr().err
    assert f"--timing-repeats must be a whole number from 0 (no repeats) to {MAX_TIMING_REPEATS}" in err
    assert err.count("\n") == 1 and not out.exists()


def test_the_python_entry_point_checks_the_same_range(tmp_path):
    from bench.api import run

    with pytest.raises(InputError, match="from 0 .* to 100; got -1"):
        run("quick", tmp_path / "out", timing_repeats=-1)
    assert not (tmp_path / "out").exists()
    assert check_timing_repeats(0) == 0 and check_timing_repeats("7") == 7
    with pytest.raises(InputError):
        check_timing_repeats(True)


def test_the_floor_tool_counts_false_verdicts_and_calls_a_slowed_copy(tiny_suite_path, tmp_path, capsys):
    from bench.tools import compare_floor

    assert compare_floor.main([str(tiny_suite_path), "--pairs", "1", "--repeats", "3", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"pair1: same code: (faster|slower|none|loaded) \(×[0-9.]+, interval .*; noise levels"
                    r" [0-9.]+, [0-9.]+\); B slowed 2x: (slower|none|loaded) \(×[0-9.]+,", lines[0]), lines[0]
    assert lines[-1].startswith(("0 of 1 pairs", "1 of 1 pairs")) and "a 2x slowdown called in" in lines[-1]
    slowed = read_results(tmp_path / "pair1_b_slowed")
    original = {r["record_id"]: r for r in read_results(tmp_path / "pair1_b")}
    assert len(slowed) == len(original) == 24
    for record in slowed:  # only the repeats are doubled
        before = original[record["record_id"]]["cost"]
        assert record["cost"]["run_seconds_repeats"] == [2 * s for s in before["run_seconds_repeats"]]
        assert record["cost"]["run_seconds"] == before["run_seconds"]
    assert (tmp_path / "pair1_compare" / "compare.md").is_file()
    # the stored pair judged again, without running: the same line
    assert compare_floor.main(["--recount", str(tmp_path / "pair1_a"), str(tmp_path / "pair1_b"),
                               "--out", str(tmp_path / "recount")]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    with pytest.raises(SystemExit):
        compare_floor.main(["--recount", str(tmp_path / "pair1_a"), "--out", str(tmp_path / "recount")])
    assert "--recount takes two or more results folders (consecutive runs); got 1" in capsys.readouterr().err


def test_a_timing_run_keeps_references_and_compiles_off_the_cores_while_it_times(tiny_suite_path, tmp_path,
                                                                               monkeypatch):
    """No scipy worker, no compile thread, and no part of a job dispatched ahead of the previous
    part's end (``run_parts(ahead=False)``) while the repeats are timed."""
    from bench.api import run

    suite = tmp_path / "tiny_refs.toml"
    suite.write_text(tiny_suite_path.read_text().replace('trajectory_every = 30',
                                                         'trajectory_every = 30\nreferences = ["L-BFGS-B"]'))

    def refused(*args, **kwargs):
        raise AssertionError("background work during a timing run")

    monkeypatch.setattr(background, "BackgroundReferences", refused)  # no scipy worker beside the timings
    monkeypatch.setattr(runner, "_precompile_ahead", refused)  # no compile in a thread beside them
    monkeypatch.setattr(background, "import_ahead", refused)
    real_run_parts, ahead = runner.run_parts, []

    def run_parts(parts, **kwargs):
        ahead.append(kwargs["ahead"])
        return real_run_parts(parts, **kwargs)

    monkeypatch.setattr(runner, "run_parts", run_parts)
    result = run(str(suite), tmp_path / "out", report=False, mnist=False, timing_repeats=2)
    assert ahead and not any(ahead)
    records = read_results(result.out)
    references = [r for r in records if r.get("reference")]
    assert references and all("run_seconds_repeats" not in (r.get("cost") or {}) for r in references)
    assert all(len(r["cost"]["run_seconds_repeats"]) == 2 for r in records if not r.get("reference"))


@pytest.mark.parametrize("given, noted", [("1", True), ("2", True), ("3", False), ("0", False)])
def test_fewer_repeats_than_compare_judges_by_are_noted(given, noted, capsys):
    from reports.timings import MIN_REPEATS

    # an unknown suite ends the command right after the note, before anything runs
    assert main(["run", "no_such_suite", "--timing-repeats", given]) == 2
    err = capsys.readouterr().err
    assert (f"compare judges speed only from {MIN_REPEATS} repeats up" in err) == noted
