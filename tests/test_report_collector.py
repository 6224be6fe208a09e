"""The report keeps its records out of the garbage collector's scans while it builds, and leaves the
collector as it found it."""

from __future__ import annotations

import gc

import pytest
from test_reports_data import synthetic_records, write_results

from bench.run.results import read_results
from reports.report import records_outside_collector


def _tracked(obj) -> bool:
    """Whether ``obj`` is in one of the collector's generations (frozen objects are in none)."""
    return any(o is obj for o in gc.get_objects())


def test_records_are_frozen_inside_the_block_and_released_after():
    before = gc.get_freeze_count()
    with records_outside_collector(lambda: [{"runs": [[1.0, 2.0]]} for _ in range(3)]) as records:
        assert gc.isenabled()
        assert gc.get_freeze_count() > before
        assert not _tracked(records[0]["runs"])
    assert gc.get_freeze_count() == 0
    assert _tracked(records[0]["runs"])


def test_collector_state_is_restored_when_the_read_fails():
    def fail():
        raise ValueError("unreadable")

    with pytest.raises(ValueError, match="unreadable"):
        with records_outside_collector(fail):
            pass
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with records_outside_collector(lambda: [{}]):
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_read_results_restores_the_collector(tmp_path):
    directory = write_results(tmp_path / "results", synthetic_records())
    records = read_results(directory)
    assert records and gc.isenabled()
    gc.disable()
    try:
        read_results(directory)
        assert not gc.isenabled()  # it re-enables only what it paused
    finally:
        gc.enable()
