"""The report built by two processes (a helper builds some sections): the same page and files as
built in one, whatever becomes of the helper."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_reports_data import mnist_records, synthetic_records, write_results

import reports
from reports import parallel

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    records = synthetic_records(drop=(("beale", "momentum/constant"),),
                                all_diverged=(("himmelblau", "momentum/constant"),)) + mnist_records()
    return write_results(tmp_path_factory.mktemp("parallel") / "results", records)


@pytest.fixture(scope="module")
def serial(results, tmp_path_factory) -> Path:
    return reports.build_report(results, tmp_path_factory.mktemp("serial") / "out", formats=("png", "svg"),
                                workers=0)


_SVG_VOLATILE = re.compile(rb"<dc:date>[^<]*</dc:date>|(?<=[\"#(])[A-Za-z]*[0-9a-f]{8,}(?=[\")])")


def _contents(page: Path) -> dict[str, bytes]:
    """Every file of a report folder; in SVGs the date and matplotlib's random ids are blanked (they
    differ from one serial build to the next)."""
    files = {}
    for path in sorted(page.parent.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            files[path.relative_to(page.parent).as_posix()] = (_SVG_VOLATILE.sub(b"", data)
                                                               if path.suffix == ".svg" else data)
    return files


def test_two_processes_write_the_same_files_as_one(results, serial, tmp_path):
    parallel = reports.build_report(results, tmp_path / "out", formats=("png", "svg"), workers=2)
    expected, got = _contents(serial), _contents(parallel)
    assert set(got) == set(expected)
    assert any(name.endswith(".svg") for name in got) and len(got) > 10
    helper_figures = {"figures/sensitivity_beale.png", "figures/runtime_ecdf.png",
                      "figures/performance_profile.svg"}
    assert helper_figures <= set(got)
    for name in sorted(got):
        assert got[name] == expected[name], name  # PNG bytes, SVG less its volatile ids, the pages


def test_the_helper_builds_its_sections_without_jax(results, tmp_path):
    from bench.run.results import read_results

    helper = parallel.Helper(results / "results.jsonl", tmp_path, ("png",))
    helper.start()
    parts = helper.result(read_results(results), timeout=120)
    assert parts is not None and set(parts) == set(parallel.HELPER_SECTIONS)
    assert helper.imported_jax is False
    blocks, _ = parts["sensitivity"]
    assert blocks[0] == ("heading", 2, "Hyperparameter sensitivity")
    assert (tmp_path / "figures" / "sensitivity_beale.png").is_file()


def test_the_helper_reads_what_this_process_reads_from_a_runs_folder(tiny_results, tmp_path):
    """A run's folder holds job markers and jobs written in several appends: the helper's records
    are the same as this process's, so its sections are used, not dropped and built again."""
    from bench.run.results import RESULTS_FILE, read_results

    assert b'"job_end"' in (tiny_results / RESULTS_FILE).read_bytes()
    helper = parallel.Helper(tiny_results / RESULTS_FILE, tmp_path, ("png",))
    helper.start()
    parts = helper.result(read_results(tiny_results), timeout=120)
    assert parts is not None and "sensitivity" in parts


def test_the_report_module_imports_no_jax():
    code = "import sys, reports.report; print('jax' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("failure", ["start", "exit", "garbage", "other_records", "timeout", "partial"])
def test_a_failing_helper_leaves_its_sections_to_this_process(results, serial, tmp_path, monkeypatch,
                                                                failure):
    if failure == "start":
        def popen(*args, **kwargs):
            raise OSError("no processes here")
        monkeypatch.setattr(parallel.subprocess, "Popen", popen)
    elif failure in ("exit", "garbage"):
        code = "import sys; sys.exit(3)" if failure == "exit" else "print('not a pickle')"
        real = subprocess.Popen
        monkeypatch.setattr(parallel.subprocess, "Popen",
                            lambda args, **kwargs: real([sys.executable, "-c", code], **kwargs))
    elif failure == "other_records":  # a run appended between the two reads
        monkeypatch.setattr(parallel, "_fingerprint", lambda records: f"{len(records)}:{id(records)}")
    elif failure == "timeout":
        monkeypatch.setattr(parallel, "HELPER_TIMEOUT", 0.0)
        real_result = parallel.Helper.result
        monkeypatch.setattr(parallel.Helper, "result",
                            lambda self, records, timeout: real_result(self, records, 0.01))
    else:  # the helper builds one section (and is asked for one it does not have): the rest here
        monkeypatch.setattr(parallel, "HELPER_SECTIONS", ("ecdf", "no_such_section"))
    two = reports.build_report(results, tmp_path / "out", formats=("png", "svg"), workers=2)
    expected, got = _contents(serial), _contents(two)
    assert set(got) == set(expected)
    assert got["report.md"] == expected["report.md"] and got["report.html"] == expected["report.html"]


def test_default_workers_only_for_large_results_on_idle_cpus(monkeypatch):
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    big = 47_000_000
    assert parallel.default_workers(big, idle=1.9) == 2
    assert parallel.default_workers(50_000, idle=2.0) == 1  # small results: one process is quicker
    assert parallel.default_workers(big, idle=0.9) == 1  # another job holds a core: the helper would be slower
    monkeypatch.setattr(parallel, "idle_cpus", lambda: 1.8)
    assert parallel.default_workers(big) == 2
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 1)
    assert parallel.default_workers(big, idle=1.0) == 1


def test_idle_cpus_reads_current_usage_or_falls_back(monkeypatch):
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    assert 0.0 <= parallel.idle_cpus(0.05) <= 2.0 + 1e-9

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr("builtins.open", no_proc)
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (0.5, 3.0, 3.0))
    assert parallel.idle_cpus(0.0) == 1.5  # the load average, where /proc/stat is missing
