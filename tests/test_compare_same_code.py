"""The floor of `compare`: two runs of the same code and suite report no change, in quality or speed."""

from __future__ import annotations

import re

from bench.run import runner
from bench.cli import main
from bench.run.results import ResultsDir, read_results
from bench.run.suites import load_suite


def test_two_runs_of_the_same_suite_give_no_verdict_of_change(tiny_suite_path, tiny_results, tmp_path, capsys):
    again = tmp_path / "again"
    with ResultsDir(again) as results:
        runner.run_suite(load_suite(str(tiny_suite_path)), results)
    assert main(["compare", str(tiny_results), str(again), "--out", str(tmp_path / "cmp")]) == 0
    markdown = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    quality, speed = markdown.split("## Speed")
    assert not re.search(r"\bB (faster|slower)\b", markdown)
    assert "not measured repeatedly: no speed verdict" in speed
    # the same code, seeds and device: the same quality, row by row
    rows = [line for line in quality.splitlines() if line.startswith("| beale") or line.startswith("| himmelblau")]
    assert rows
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == cells[3] and cells[4] == "0"  # success A == B, Δ 0
        assert cells[7] in ("1", "—")  # ERT B/A
    assert "Nothing: both runs hold the same landscapes and labels." in markdown


def _timed_run(suite_path, out, repeats=15):
    with ResultsDir(out) as results:
        runner.run_suite(load_suite(str(suite_path)), results, timing_repeats=repeats)
    return out


def _speed_rows(markdown: str) -> list[list[str]]:
    speed = markdown.split("## Speed")[1].split("## What is missing")[0]
    table = speed.split("Timed once per job")[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| beale") or line.startswith("| himmelblau")]


def test_two_timed_runs_of_the_same_code_give_no_speed_verdict(tiny_suite_path, tmp_path):
    a = _timed_run(tiny_suite_path, tmp_path / "a")
    b = _timed_run(tiny_suite_path, tmp_path / "b")
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    markdown = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    rows = _speed_rows(markdown)
    # every job of both runs: 2 landscapes x 2 labels x (tuning sweep, tuned config)
    assert len(rows) == 8 and {r[2] for r in rows} == {"tuning sweep", "tuned config, test seeds"}
    assert all(r[3] == "15, 15" for r in rows)
    assert not any(r[7].startswith(("B faster", "B slower")) for r in rows), rows
    assert all(r[7].startswith(("no change beyond the noise band", "no verdict: timed on a loaded machine"))
               for r in rows)
    assert (tmp_path / "cmp" / "figures" / "comparison_speed.png").is_file()


def test_a_copy_with_doubled_timings_is_called_slower(tiny_suite_path, tmp_path):
    import json

    from reports.timings import QUIET_LEVEL, job_timings, noise_level

    b = _timed_run(tiny_suite_path, tmp_path / "b")
    slow = tmp_path / "slow"
    slow.mkdir()
    with open(b / "results.jsonl", encoding="utf-8") as source, \
            open(slow / "results.jsonl", "w", encoding="utf-8") as target:
        for line in source:
            record = json.loads(line)
            if "run_seconds_repeats" in record.get("cost", {}):
                record["cost"]["run_seconds_repeats"] = [2 * s for s in record["cost"]["run_seconds_repeats"]]
            target.write(json.dumps(record) + "\n")
    assert main(["compare", str(b), str(slow), "--out", str(tmp_path / "cmp")]) == 0
    rows = _speed_rows((tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8"))
    timings = job_timings(read_results(b))
    quiet = noise_level(timings) <= QUIET_LEVEL
    assert len(rows) == len(timings) == 8
    for row in rows:
        spread = timings[(row[0], row[1], "tune" if row[2] == "tuning sweep" else "test")].spread
        # B / A is exactly 1/2; the band is at least twice B's spread, twice its noise level (at most
        # QUIET_LEVEL on a quiet run) and the between-runs floor, all under 1 unless B's spread is not
        assert row[6] == "0.5"
        assert row[7].startswith("B slower (×0.50 speed") == (quiet and 2 * spread < 1.0), (row, spread)
        assert row[7].startswith("no verdict: timed on a loaded machine") == (not quiet)
