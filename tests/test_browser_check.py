"""The report page in headless Chromium: no broken image, no sideways scrollbar at 1,280 px.
Skipped where Chromium is not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_reports_data import mnist_records, synthetic_records, write_results

import reports
from reports import browser_check

pytestmark = [pytest.mark.slow, pytest.mark.skipif(browser_check.chromium_path() is None, reason="the browser check renders the report in Chromium, which is not installed here (apt install chromium)")]


def test_the_report_renders_without_broken_images_or_a_sideways_scrollbar(tmp_path):
    page = reports.build_report(write_results(tmp_path / "results", synthetic_records() + mnist_records()),
                                tmp_path / "out", workers=0)
    assert browser_check.problems(page) == []
    assert not list(page.parent.glob(".browser_check_*"))  # the probe copy is removed


def test_a_broken_image_and_a_wide_element_fail_the_check(tmp_path):
    (tmp_path / "fine.png").write_bytes(b"not a png")  # exists, but no browser can decode it
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="fine.png"><img src="gone.png">'
                    '<div style="width: 1500px">wide</div></body></html>', encoding="utf-8")
    found = browser_check.problems(page)
    assert "missing file: gone.png" in found
    assert "broken image: fine.png" in found and "broken image: gone.png" in found
    assert any(p.startswith("horizontal scrollbar at 1280 px: the page is 15") for p in found)
    done = subprocess.run([sys.executable, "-m", "reports.browser_check", str(page)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "broken image" in done.stdout
