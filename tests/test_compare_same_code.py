"""The floor of `compare`: two runs of the same code and suite report no change, in quality or speed."""

from __future__ import annotations

import re

from bench.run import runner
from bench.cli import main
from bench.run.results import ResultsDir
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
