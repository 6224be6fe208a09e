"""Results files: round trip, repair of a truncated tail, refusal of damage, and the lock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.run.results import SCHEMA, ResultsDir, read_results, stable_hash, to_jsonable
from landscapes.errors import InputError


def _record(i, gap=None):
    return {"schema": SCHEMA, "record_id": f"r{i}", "identity": {"n": i},
            "runs": {"final_gap": [float("nan"), 1.0 * i if gap is None else gap]}}


def test_round_trip_and_non_finite_as_null(tmp_path):
    with ResultsDir(tmp_path) as results:
        results.append([_record(0), _record(1)])
    records = read_results(tmp_path)
    assert [r["record_id"] for r in records] == ["r0", "r1"]
    assert records[1]["runs"]["final_gap"] == [None, 1.0]  # valid JSON, no NaN token
    json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])


def test_truncated_last_line_is_dropped_and_redone(tmp_path):
    with ResultsDir(tmp_path) as results:
        results.append([_record(0), _record(1)])
    path = tmp_path / "results.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # a write cut off by kill -9
    assert read_results(tmp_path) == []  # the job never ended: none of it shows
    with ResultsDir(tmp_path) as results:
        assert results.has("r0", job="j") is False and results.record_ids() == set()
        results.append([_record(0), _record(1)])
    assert [r["record_id"] for r in read_results(tmp_path)] == ["r0", "r1"]
    assert b"\n\n" not in path.read_bytes() and path.read_bytes().endswith(b"\n")


def test_record_ids_while_writing_come_from_memory_and_match_the_file(tmp_path, monkeypatch):
    with ResultsDir(tmp_path) as results:
        results.append([_record(0)])
    with ResultsDir(tmp_path) as results:
        results.append([_record(1), _record(2)])
        import bench.run.results as R

        monkeypatch.setattr(R._Scan, "_line", lambda *a: 1 / 0)  # no parse now
        ids = results.record_ids()
        ids.add("not written")  # a copy: the caller cannot change what the directory holds
        assert results.record_ids() == {"r0", "r1", "r2"}
    monkeypatch.undo()
    assert {r["record_id"] for r in read_results(tmp_path)} == {"r0", "r1", "r2"}


def test_corrupted_line_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(dict(_record(0), job="j")) + "\n{not json\n"
                    + json.dumps(dict(_record(2), job="j")) + "\n")
    before = path.read_bytes()
    with pytest.raises(InputError, match="line 2 is corrupted"):
        ResultsDir(tmp_path).open_for_writing()
    assert path.read_bytes() == before


def test_foreign_schema_is_refused(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps({"schema": "other/9"}) + "\n")
    with pytest.raises(InputError, match="schema 'other/9'"):
        read_results(tmp_path)


def test_missing_results_name_the_fix(tmp_path):
    with pytest.raises(InputError, match="landscape-bench run"):
        read_results(tmp_path)


def test_second_writer_is_refused_by_the_lock(tmp_path):
    with ResultsDir(tmp_path):
        with pytest.raises(InputError, match="another landscape-bench run"):
            ResultsDir(tmp_path).open_for_writing()
    with ResultsDir(tmp_path):  # released after the first closes
        pass


def test_unwritable_path_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not writable"):
        ResultsDir(tmp_path / "file" / "out").open_for_writing()


def test_stable_hash_ignores_key_order_and_numpy_types():
    import numpy as np

    assert stable_hash({"a": 1.0, "b": [1, 2]}) == stable_hash({"b": np.array([1, 2]), "a": np.float64(1)})
    assert to_jsonable({"x": np.float32(float("inf"))}) == {"x": None}


def test_orjson_and_json_writers_give_the_same_numbers():
    """The fast writer (orjson) and the json fallback read back identically, float32 included."""
    import json as _json

    from bench.run import results as R

    record = dict(schema=R.SCHEMA, record_id="abc", nested={"b": 1, "a": (1.5, float("nan"))},
                  f32=np.array([0.1, np.nan, np.inf, -2.5e-8], np.float32),
                  f64=np.array([[1 / 3, -np.inf]]), ints=np.arange(3, dtype=np.int16),
                  flags=np.array([True, False]), scalar=np.float32(0.1), count=np.int64(7),
                  strided=np.arange(6.0)[::2])
    fast = R.encode_record(record)
    slow = (_json.dumps(R.to_jsonable(record), sort_keys=True) + "\n").encode()
    assert fast.endswith(b"\n")
    assert _json.loads(fast) == _json.loads(slow)
    assert _json.loads(fast)["f32"][0] == float(np.float32(0.1))  # the float64 of the float32


def test_an_output_path_that_is_a_file_says_so(tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("keep me")
    with pytest.raises(InputError, match="is a file, not a folder; choose a folder with --out"):
        ResultsDir(path).open_for_writing()
    assert path.read_text() == "keep me"


def test_a_directory_of_other_suite_settings_is_refused_untouched(tiny_suite_path, tiny_results,
                                                                 tmp_path, capsys):
    # Changed settings give every run a new record id: before, the old and the new records were
    # both kept and pooled in the report (two copies of each run, mixed budgets).
    import shutil

    from bench.cli import main
    from bench.run.runner import phase_settings
    from bench.run.suites import load_suite

    out = tmp_path / "results"
    shutil.copytree(tiny_results, out)
    before = (out / "results.jsonl").read_bytes()
    suite = load_suite(str(tiny_suite_path))
    with ResultsDir(out) as results:
        results.refuse_other_settings(phase_settings(suite))  # the same suite resumes
        other_tests = phase_settings(suite)
        other_tests["test"] = other_tests["test"] | {"seeds": [99]}
        with pytest.raises(InputError, match=r"seeds \[99\] now, \[7\] there"):
            results.refuse_other_settings(other_tests)
    changed = tmp_path / "longer.toml"
    changed.write_text(tiny_suite_path.read_text().replace("steps = 120", "steps = 150"))
    capsys.readouterr()
    assert main(["run", str(changed), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("holds runs of this suite with other settings (steps 150 now, 120 there);"
                        " use another --out, or move that folder away to start over")
    assert "\n" not in err
    assert (out / "results.jsonl").read_bytes() == before
    # The success target picks the config the test phase re-runs: a change must not be "resumed".
    stricter = tmp_path / "stricter.toml"
    stricter.write_text(tiny_suite_path.read_text().replace("success_target = 0.001",
                                                            "success_target = 1e-4"))
    assert main(["run", str(stricter), "--out", str(out), "--no-report"]) == 2
    assert "(success_target 0.0001 now, 0.001 there)" in capsys.readouterr().err
    # The Python API refuses the same, before any job runs.
    from bench.run import runner

    with ResultsDir(out) as results, pytest.raises(InputError, match="steps 150 now, 120 there"):
        runner.run_suite(load_suite(str(changed)), results)
    assert (out / "results.jsonl").read_bytes() == before


# -- the fault model of bench/run/results.py, one test per sentence -------------------------------------

def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_streamed_job_shows_only_once_ended_and_resumes_its_own_lines(tmp_path):
    with ResultsDir(tmp_path) as results:
        results.append([_record(0), _record(1)], job="job-a", end=False)
    assert read_results(tmp_path) == []  # killed before the marker: nothing of the job shows
    with ResultsDir(tmp_path) as results:
        assert results.has("r0", job="job-a")  # its own lines resume
        assert not results.has("r0", job="job-b")  # another job redoes them (and shows them)
        results.append([_record(2)], job="job-a", end=False)
        results.end_job("job-a", 3)
    assert [r["record_id"] for r in read_results(tmp_path)] == ["r0", "r1", "r2"]


def test_a_repeated_line_counts_once_and_a_different_one_is_refused(tmp_path):
    with ResultsDir(tmp_path) as results:
        results.append([_record(0), _record(1)])
        results.append([_record(0)])  # the same run written again (a job redone)
    assert [r["record_id"] for r in read_results(tmp_path)] == ["r0", "r1"]
    path = tmp_path / "results.jsonl"
    with ResultsDir(tmp_path) as results:
        results.append([_record(1, gap=5.0)])
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"lines 2 and 6 are two different records of one run"
                                         r" \(record_id r1"):
        read_results(tmp_path)
    with pytest.raises(InputError, match="two different records"):
        ResultsDir(tmp_path).open_for_writing()
    assert path.read_bytes() == before


def test_a_refused_run_leaves_a_file_without_its_last_newline_as_it_was(tiny_suite_path,
                                                                        tiny_results, tmp_path):
    """The reported break: the cut tail was dropped before the settings check refused the run."""
    import shutil

    from bench.cli import main

    out = tmp_path / "r"
    shutil.copytree(tiny_results, out)
    path = out / "results.jsonl"
    path.write_bytes(path.read_bytes()[:-1])  # the final newline missing
    before = path.read_bytes()
    other = tmp_path / "other.toml"
    other.write_text(tiny_suite_path.read_text().replace("steps = 120", "steps = 121"))
    assert main(["run", str(other), "--out", str(out), "--no-report"]) == 2
    assert path.read_bytes() == before


def test_the_lock_is_the_directory_so_deleting_files_does_not_let_a_second_writer_in(tmp_path):
    with ResultsDir(tmp_path) as results:
        results.append([_record(0)])
        (tmp_path / "results.jsonl").unlink()
        for leftover in tmp_path.iterdir():
            leftover.unlink()
        with pytest.raises(InputError, match="another landscape-bench run"):
            ResultsDir(tmp_path).open_for_writing()
    assert not (tmp_path / ".lock").exists()


def test_a_full_disk_leaves_no_partial_line_and_says_so_in_one_line(tmp_path, monkeypatch):
    import errno
    import os

    with ResultsDir(tmp_path) as results:
        results.append([_record(0)])
    before = (tmp_path / "results.jsonl").read_bytes()
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[:10])  # part of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    with ResultsDir(tmp_path) as results:
        monkeypatch.setattr(os, "write", full)
        with pytest.raises(InputError) as caught:
            results.append([_record(1), _record(2)])
        monkeypatch.undo()
    message = str(caught.value)
    assert "the disk is full" in message and "rerun the same command to resume" in message
    assert "\n" not in message
    assert (tmp_path / "results.jsonl").read_bytes() == before


@pytest.mark.parametrize("missing", ["runs", "record_id"])
def test_a_record_without_its_fields_is_one_line_for_every_reader(tmp_path, missing):
    record = dict(_record(0), job="j")
    del record[missing]
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(record) + "\n")
    for read in (lambda: read_results(tmp_path), lambda: ResultsDir(tmp_path).open_for_writing()):
        with pytest.raises(InputError, match=f"line 1 is corrupted \\(no {missing}\\)"):
            read()


def test_results_file_that_is_a_folder_is_one_line(tmp_path):
    (tmp_path / "results.jsonl").mkdir()
    with pytest.raises(InputError, match="is not a file"):
        read_results(tmp_path)
    with pytest.raises(InputError, match="is not a file"):
        ResultsDir(tmp_path).open_for_writing()
