"""Records written behind the sweeps (bench.run.write_behind): in order, off the main thread, and
every computed record written whatever stops the run."""

from __future__ import annotations

import threading

import pytest

from bench.run import runner
from bench.run.results import ResultsDir, read_results
from bench.run.suites import load_suite
from bench.run.write_behind import QUEUED_WRITES, WriteBehind
from landscapes.errors import InputError


class _Store:
    """A results store whose writes wait for ``release`` and can fail at the ``fail_at``-th one."""

    def __init__(self, fail_at: int | None = None):
        self.calls: list[tuple] = []
        self.threads: set[str] = set()
        self.release = threading.Event()
        self.fail_at = fail_at

    def append(self, records, **kwargs):
        self._write(("append", tuple(records), tuple(sorted(kwargs.items()))))

    def end_job(self, job, total):
        self._write(("end", job, total))

    def _write(self, call):
        self.release.wait(timeout=30)
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and len(self.calls) + 1 == self.fail_at:
            raise InputError("cannot write results.jsonl (the disk is full)")
        self.calls.append(call)


def test_writes_leave_the_main_thread_and_keep_their_order():
    store = _Store()
    writer = WriteBehind(store)
    # The first write is taken by the writer thread (and waits there); the next QUEUED_WRITES are
    # queued: the main thread has gone on without waiting for any of them.
    for k in range(QUEUED_WRITES + 1):
        writer.append([{"record_id": str(k)}], job="j", end=False)
    assert store.calls == []
    store.release.set()
    writer.end_job("j", QUEUED_WRITES + 1)
    writer.close()
    assert [c[0] for c in store.calls] == ["append"] * (QUEUED_WRITES + 1) + ["end"]
    assert [c[1][0]["record_id"] for c in store.calls[:-1]] == [str(k) for k in range(QUEUED_WRITES + 1)]
    assert store.threads == {"results-writer"}


def test_a_failed_write_is_raised_in_the_main_thread_and_nothing_is_written_after_it():
    store = _Store(fail_at=2)
    store.release.set()
    writer = WriteBehind(store)
    writer.append([{"record_id": "a"}], job="j", end=False)
    writer.append([{"record_id": "b"}], job="j", end=False)  # fails in the writer thread
    with pytest.raises(InputError, match="disk is full"):
        for _ in range(50):  # raised at the next call once the writer has failed
            writer.append([{"record_id": "c"}], job="j", end=False)
            threading.Event().wait(0.02)
    with pytest.raises(InputError, match="disk is full"):
        writer.close()
    assert [c[1][0]["record_id"] for c in store.calls] == ["a"]


def test_records_computed_before_an_interrupt_are_written(tiny_suite_path, tmp_path, monkeypatch):
    """run_suite stopped in its second (landscape, optimizer) pair: the first pair's jobs are in the
    file, whole and ended, as if written in line."""
    suite = load_suite(str(tiny_suite_path))
    pairs = len(runner.plan_jobs(suite))
    assert pairs >= 2
    calls = []
    original = runner._run_pair

    def stop_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "_run_pair", stop_second)
    slow_write = ResultsDir._write

    def slowly(self, lines):  # the writes still queued when the interrupt comes
        threading.Event().wait(0.2)
        slow_write(self, lines)

    monkeypatch.setattr(ResultsDir, "_write", slowly)
    with pytest.raises(KeyboardInterrupt):
        with ResultsDir(tmp_path) as out:
            runner.run_suite(suite, out)
    first = read_results(tmp_path)  # only ended jobs are read
    land, opt = runner.plan_jobs(suite)[0]
    assert first and {(r["landscape"], r["label"]) for r in first} == {(land.name, opt.label)}
    assert {r["phase"] for r in first} == {"tune", "test"}
    monkeypatch.setattr(runner, "_run_pair", original)
    with ResultsDir(tmp_path) as out:
        counts = runner.run_suite(suite, out)  # resumes: the first pair is not run again
    assert counts["skipped"] == 2
