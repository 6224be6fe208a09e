"""`landscape-bench rerun` of a hand-edited or damaged record: every bad identity field is one line
naming the record and the field (exit code 2), checked by the suite's own checks before anything is
computed, and the results file is only read."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.cli import main

_DELETE = object()


def _damaged_copy(source, tmp_path, pick, damage):
    """A copy of the results folder ``source`` whose record ``pick`` chose is changed by ``damage``
    (a function of the record); returns (folder, record id, the damaged file's bytes)."""
    out = tmp_path / "r"
    shutil.copytree(source, out)
    path = out / "results.jsonl"
    lines = path.read_text().splitlines()
    index = next(k for k, line in enumerate(lines) if pick(json.loads(line)))
    record = json.loads(lines[index])
    damage(record)
    lines[index] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    return out, record["record_id"], path.read_bytes()


def _put(record, path, value):
    target = record
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


def _set(*path_and_value):
    """A damage that sets (or, with _DELETE, removes) the identity's field at ``path``."""
    *path, value = path_and_value
    return lambda record: _put(record["identity"], path, value)


def _top(key, value):
    """A damage that sets (or removes) the record's own field ``key``."""
    return lambda record: _put(record, [key], value)


def _rerun_is_one_line(out, record_id, before, message, capsys):
    assert main(["rerun", str(out), record_id]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert f"record {record_id[:12]}" in err, err
    assert (out / "results.jsonl").read_bytes() == before


@pytest.mark.parametrize("damage, message", [
    (_set("settings", "steps", 10**12), "steps must be in [1, 10000000]; got 1000000000000"),
    (_set("settings", "steps", 1e12), "steps must be an integer; got 1000000000000.0"),
    (_set("settings", "steps", _DELETE), "steps is missing"),
    (_set("settings", "starts", 0), "starts must be in [1, 1000000]; got 0"),
    (_set("settings", "starts", 10**6), "seeds x starts must be 3, the record's number of runs; got 1000000"),
    (_set("settings", "seeds", [-1]), "seeds must be a non-empty list of integers in [0, 4294967295]"),
    (_set("settings", "seeds", list(range(1000))), "seeds x starts must be 3"),
    (_set("settings", "targets", []), "targets must be a non-empty list"),
    (_set("settings", "targets", ["a"]), "targets must be a finite number; got 'a'"),
    (_set("settings", "dtype", "float16"), "dtype must be 'float32' or 'float64'"),
    (_set("settings", "unroll", 0), "unroll must be in [1, 256]"),
    (_set("settings", "extra", 1), "unknown key in record"),
    (_set("settings", None), "settings must be the table of the suite's settings; got None"),
    (_set("config", "learning_rate", "0.01"), "space.learning_rate: a list of values must hold numbers only"),
    (_set("config", "learning_rate", -1.0), "learning_rate must be in (0, inf)"),
    (_set("config", "learning_rate", _DELETE), "config lacks learning_rate"),
    (_set("config", "bogus", 1.0), "unknown hyperparameter of sgd/constant"),
    (_set("landscape", "beal"), "did you mean beale"),
    (_set("family", "nesterv"), "did you mean nesterov"),
    (_set("schedule", "constnt"), "did you mean constant"),
    (_set("dim", "2"), "dim must be an integer; got '2'"),
    (_set("instance", -1), "instances must be a non-empty list of integers in [0, 4294967295]; got [-1]"),
    (_set("phase", "train"), "phase must be 'tune' or 'test'"),
    (_set("loop", "bogus"), "loop must be one of 'scan', 'fused'; got 'bogus'"),
    (_top("success_target", _DELETE), "success_target is missing"),
    (_top("config_index", -1), "config_index must be an integer >= 0; got -1"),
])
def test_rerun_of_a_hand_edited_record_is_one_line_and_touches_nothing(tiny_results, tmp_path, capsys,
                                                                       damage, message):
    out, record_id, before = _damaged_copy(
        tiny_results, tmp_path, lambda r: r.get("landscape") == "beale" and r.get("phase") == "test"
        and r.get("family") == "sgd", damage)
    _rerun_is_one_line(out, record_id, before, message, capsys)


def test_a_hand_edited_environment_is_only_reported(tiny_results, tmp_path, capsys):
    """The environment is where a record was computed, not what it computes: the rerun still runs
    and notes it, without a traceback on a value that is not a table."""
    out, record_id, before = _damaged_copy(tiny_results, tmp_path, lambda r: r.get("phase") == "test",
                                           _set("environment", "somewhere"))
    assert main(["rerun", str(out), record_id]) == 0
    printed = capsys.readouterr().out
    assert "note: recorded on 'somewhere'" in printed and "reproduces the stored runs bitwise" in printed
    assert (out / "results.jsonl").read_bytes() == before


@pytest.fixture(scope="module")
def reference_results(tmp_path_factory):
    """scipy reference records (phase test) of a plain and a noisy landscape, 2 starts each."""
    from bench.run import background
    from bench.run.results import ResultsDir
    from bench.run.suites import parse_suite

    suite = parse_suite('steps = 30\nstarts = 2\nreferences = ["BFGS"]\nlandscapes = ["booth",'
                        ' "noisy_beale"]\n[[optimizer]]\nfamily = "sgd"')
    source = tmp_path_factory.mktemp("references")
    with ResultsDir(source) as results:
        background.run_references(suite, results)
    return source


def _reference_of(landscape):
    return lambda r: r.get("reference") and r.get("landscape") == landscape


@pytest.mark.parametrize("landscape, damage, message", [
    ("booth", _set("method", "LBFGS"), "did you mean BFGS, L-BFGS-B"),
    ("booth", _set("steps", -5), "steps must be in [1, 10000000]; got -5"),
    ("booth", _set("steps", 10**12), "steps must be in [1, 10000000]"),
    ("booth", _set("starts", 0), "starts must be in [1, 1000000]; got 0"),
    ("booth", _set("seeds", [-1]), "test_seeds must be a non-empty list of integers"),
    ("booth", _set("targets", []), "targets must be a non-empty list"),
    ("booth", _set("dim", 3), "is 2-dimensional; got dim=3"),
    ("booth", _top("x0", [[1.0, 2.0]]), "x0 must be 2 finite starts of dimension 2 (seeds x starts); got shape (1, 2)"),
    ("booth", _top("x0", "here"), "x0 must be 2 finite starts of dimension 2"),
    ("booth", _top("x0", [[1.0, 2.0], [3.0]]), "x0 must be 2 finite starts of dimension 2 (seeds x starts);"
                                               " got not a table of numbers"),
    ("booth", _set("noise_seeds", [[1000, 0], [1000, 1]]), "noise_seeds must be absent"),
    ("noisy_beale", _set("noise_seeds", [[1000, 1], [1000, 0]]), "noise_seeds must be [test seed, start]"),
    ("noisy_beale", _set("noise_seeds", _DELETE), "noise_seeds must be [test seed, start]"),
])
def test_rerun_of_a_hand_edited_reference_record_is_one_line(reference_results, tmp_path, capsys,
                                                             landscape, damage, message):
    out, record_id, before = _damaged_copy(reference_results, tmp_path, _reference_of(landscape), damage)
    _rerun_is_one_line(out, record_id, before, message, capsys)


@pytest.mark.parametrize("landscape", ["booth", "noisy_beale"])
def test_an_unedited_reference_record_passes_the_checks_and_reruns_bitwise(reference_results, capsys,
                                                                           landscape):
    record_id = next(json.loads(line)["record_id"] for line in
                     (reference_results / "results.jsonl").read_text().splitlines()
                     if _reference_of(landscape)(json.loads(line)))
    assert main(["rerun", str(reference_results), record_id]) == 0
    assert "rerun reproduces the stored runs bitwise" in capsys.readouterr().out


def test_rerun_all_says_which_record_it_refused_and_reruns_the_others(tiny_results, tmp_path, capsys,
                                                                     monkeypatch):
    from bench.run import rerun as rerun_module
    from bench.tools import rerun_all

    out, record_id, _ = _damaged_copy(tiny_results, tmp_path, lambda r: r.get("phase") == "test",
                                      _set("settings", "steps", 10**12))
    rerun = []
    real = rerun_module.rerun_record

    def counted(record, **kwargs):
        rerun.append(record["record_id"])
        return real(record, **kwargs)

    monkeypatch.setattr(rerun_module, "rerun_record", counted)
    found = rerun_all.rerun_all(str(out))
    assert found["ids"] == [record_id] and found["differing"] == 1
    assert len(rerun) == found["records"]  # every other record was rerun (and reproduced)
    assert f"REFUSED {record_id}: record {record_id[:12]}'s identity" in capsys.readouterr().out
