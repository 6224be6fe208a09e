"""The before/after check (`python3 -m bench.tools.same_records`): equal folders pass, one changed bit
fails, and what records on purpose differ between runs (cost, created) is left out."""

from __future__ import annotations

import json
import shutil

from bench.tools.same_records import main, same_records


def _rewrite(directory, change):
    """Apply ``change(record)`` to the first sweep record of ``directory``'s results.jsonl."""
    path = directory / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record.get("kind") != "job_end" and "runs" in record:
            change(record)
            lines[i] = json.dumps(record)
            break
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return record["record_id"]


def test_a_copy_is_the_same_and_cost_is_ignored(tiny_results, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_results, copy)
    _rewrite(copy, lambda r: r["cost"].update(run_seconds=123.0))
    assert main([str(tiny_results), str(copy)]) == 0
    assert "0 only in A, 0 only in B" in capsys.readouterr().out


def test_one_changed_bit_and_a_sign_of_zero_are_found(tiny_results, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_results, copy)

    def nudge(record):
        gaps = record["runs"]["best_gap"]
        i = next(k for k, g in enumerate(gaps) if g is not None)
        gaps[i] = float(__import__("numpy").nextafter(gaps[i], float("inf")))

    changed = _rewrite(copy, nudge)
    assert main([str(tiny_results), str(copy)]) == 1
    assert f"DIFFERS {changed}: runs" in capsys.readouterr().out
    # Python says 0.0 == -0.0; the check does not.
    assert same_records(str(tiny_results), str(copy), ignore=["runs"])["differing"] == {}
    other = tmp_path / "zero"
    shutil.copytree(tiny_results, other)
    _rewrite(other, lambda r: r.update(f_star=-0.0 if r["f_star"] == 0 else -r["f_star"]))
    assert same_records(str(tiny_results), str(other))["differing"]


def test_a_missing_record_and_unreadable_input(tiny_results, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_results, copy)
    path = copy / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if '"runs"' in line)
    gone = json.loads(lines.pop(first))["record_id"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main([str(tiny_results), str(copy)]) == 1
    assert f"ONLY IN A {gone}" in capsys.readouterr().out
    assert main([str(tiny_results), str(tmp_path / "nowhere")]) == 2
    assert "no results at" in capsys.readouterr().err


def test_an_mnist_sections_wall_times_and_folder_are_left_out_its_scores_are_not():
    from bench.tools.same_records import _differing_fields, ALWAYS_IGNORED

    a = dict(kind="mnist", model_dir="/a/models", cv_results={"mean_fit_time": [0.1], "split0_test_score": [0.9]})
    b = dict(kind="mnist", model_dir="/b/models", cv_results={"mean_fit_time": [0.3], "split0_test_score": [0.9]})
    assert _differing_fields(a, b, ALWAYS_IGNORED) == []
    b["cv_results"]["split0_test_score"] = [0.8]
    assert _differing_fields(a, b, ALWAYS_IGNORED) == ["cv_results"]
