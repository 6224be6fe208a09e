"""The report keeps its records out of the garbage collector's scans while it builds, and leaves the
collector as it found it."""

from __future__ import annotations

import gc
import json

import pytest
from test_reports_data import synthetic_records, write_results

from bench.run.results import read_results
from reports.report import records_outside_collector


def _collections_during(action) -> int:
    """How many garbage collections started while ``action()`` ran."""
    started = []

    def count(phase, info):
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        action()
    finally:
        gc.callbacks.remove(count)
    return len(started)


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


def test_no_collection_runs_while_reading():
    def read():  # far more new containers than the collector's first threshold (700)
        return [{"runs": [[float(i)]]} for i in range(5_000)]

    def build():
        with records_outside_collector(read):
            pass

    assert _collections_during(read) > 0  # the check can see collections
    assert _collections_during(build) == 0


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


def test_read_results_pauses_the_collector_and_restores_it(tmp_path):
    records = synthetic_records()
    for record in records:  # many small lists per line, as the runs' paths are
        record["padding"] = [[float(i), 0.0] for i in range(1_000)]
    directory = write_results(tmp_path / "results", records)
    lines = (directory / "results.jsonl").read_bytes().splitlines()
    assert _collections_during(lambda: [json.loads(line) for line in lines]) > 1  # unpaused
    # at most the one pass right after the read (the report freezes the records before it)
    assert _collections_during(lambda: read_results(directory)) <= 1
    records = read_results(directory)
    assert records and gc.isenabled()
    gc.disable()
    try:
        read_results(directory)
        assert not gc.isenabled()  # it re-enables only what it paused
    finally:
        gc.enable()
