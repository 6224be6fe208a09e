"""Report tables: the best row marked, selected values at the edge of the search flagged, gaps below
the dtype's resolution shown as a bound, and tables that scroll in their own box."""

from __future__ import annotations

import re

import numpy as np
from test_reports_data import synthetic_records, write_results

import reports
from bench.analysis import tables
from bench.run import figure_data
from reports.document import Document


def _beale_table(markdown: str) -> str:
    return markdown.split("### beale")[1].split("###")[0]


def test_edge_flags_name_the_side_and_skip_fixed_values():
    tuning = [{"config": {"learning_rate": lr, "momentum": 0.9, "decay": 0.0}} for lr in (1e-3, 1e-2, 1e-1)]
    flags = tables.edge_flags(tuning, {"learning_rate": 0.1, "momentum": 0.9, "decay": 0.0})
    assert [f.name for f in flags] == ["learning_rate"]  # momentum and decay were not searched
    assert flags[0].text().startswith("learning_rate = 0.1: top of the searched range")
    assert tables.edge_flags(tuning, {"learning_rate": 1e-3})[0].side == "bottom"
    assert tables.edge_flags(tuning, {"learning_rate": 1e-2}) == []


def test_gap_below_the_dtype_resolution_is_a_bound_not_a_negative_number():
    assert tables.gap_text(-1.19e-7, 1.19e-7, "float32") == "< 1e-7 (float32)"
    assert tables.gap_text(5e-8, 1.19e-7, "float32") == "< 1e-7 (float32)"
    assert tables.gap_text(3e-3, 1.19e-7, "float32") == 3e-3
    assert tables.gap_text(-2e-9, float("nan"), "float64") == "< 0 (rounding, float64)"
    assert tables.gap_text(float("inf"), 1e-7, "float32") == float("inf")
    # branin in float32: its floor is the spacing of float32 at f* = 0.398
    floor = figure_data.precision_floor("branin", 0, None, "float32")
    assert 5e-8 < floor < 1e-6
    assert tables.gap_text(-1.19e-07, floor, "float32").startswith("< ")


def test_report_marks_the_best_row_and_flags_edges(tmp_path):
    records = synthetic_records()
    page = reports.build_report(write_results(tmp_path / "results", records), tmp_path / "out",
                                formats=("png",), workers=0)
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    beale = _beale_table(markdown)
    # both labels select lr = 0.01, the top of their searched values (1e-3, 1e-2)
    assert "learning_rate = 0.01: top of the searched range" in beale.split("| ★ ")[1]
    assert beale.count("★") == 1
    assert "## Selected values at the edge of the search" in markdown
    assert "beale × sgd/constant: learning_rate = 0.01: top of the searched range" in markdown
    html = page.read_text(encoding="utf-8")
    assert html.count("<tr class=best>") == 2  # one per landscape
    assert '<div class="table-wrap"><table>' in html and ".table-wrap { max-width: 100%; overflow-x: auto;" in html


def test_report_prints_a_gap_below_the_floor_as_a_bound(tmp_path):
    records = synthetic_records()
    for record in records:
        if record["landscape"] == "beale":
            record["runs"]["final_gap"] = np.full(len(record["runs"]["status"]), -1.19e-7)
            record["runs"]["status"] = np.zeros(len(record["runs"]["status"]), int)
    reports.build_report(write_results(tmp_path / "results", records), tmp_path / "out", formats=("png",),
                         workers=0)
    beale = _beale_table((tmp_path / "out" / "report.md").read_text(encoding="utf-8"))
    assert "-1.19e-07" not in beale and re.search(r"\| < [0-9.e-]+ \(float32\) \|", beale)


def test_a_highlighted_row_renders_in_both_formats():
    doc = Document("t")
    doc.table(["label", "value"], [["a", 1.0], ["b", 2.0]], highlight=[1])
    assert "<tr class=best><td class=text>b</td>" in doc.to_html()
    assert "| b | 2 |" in doc.to_markdown()


def test_html_shows_strong_spans_as_bold_and_keeps_code_and_unpaired_stars_as_written():
    doc = Document("t")
    doc.text("**Suite: faster.** B / A = `x**2`; 2 ** 3 is text")
    page = doc.to_html()
    assert "<strong>Suite: faster.</strong>" in page
    assert "<code>x**2</code>" in page and "2 ** 3 is text" in page
    assert "**Suite" not in page
