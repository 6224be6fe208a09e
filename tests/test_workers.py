"""Workers end with their parent, however it dies: kill -9 of `landscape-bench run` leaves no
reference worker and no multiprocessing resource tracker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

SUITE = """
name = "slow-references"
steps = 4000
seeds = [0]
test_seeds = [1]
starts = 64
landscapes = ["rosenbrock", "beale", "himmelblau", "rastrigin"]
references = ["Nelder-Mead", "CG", "BFGS"]

[[optimizer]]
family = "sgd"
schedule = "constant"
[optimizer.space]
learning_rate = [0.001]
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status is left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds leftover worker processes through /proc, which only Linux has")
def test_kill_9_of_the_run_leaves_no_worker_behind(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)
    run = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(suite), "--out",
                            str(tmp_path / "out"), "--no-report"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline and len(children) < 2:  # the worker and the tracker
            time.sleep(0.2)
            children = _children(run.pid)
        assert children, "the run started no worker"
        time.sleep(1.0)  # the worker is importing or computing now
        children = _children(run.pid)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in children):
            time.sleep(0.2)
        assert not [p for p in children if _alive(p)]
    finally:
        if run.poll() is None:
            run.kill()


def test_programs_compile_ahead_in_parallel_threads_once_each(tiny_suite_path, monkeypatch):
    """The precompile pool compiles several jobs' programs at once (PRECOMPILE_THREADS threads), and
    the jobs then run on those programs: none is compiled a second time."""
    import threading

    from bench.core import engine
    from bench.run import runner
    from bench.run.suites import load_suite

    suite = load_suite(str(tiny_suite_path))
    jobs = [runner.Job(suite, land, opt, runner.TUNE, opt.configs(), suite.seeds)
            for land, opt in runner.plan_jobs(suite)]
    assert len(jobs) >= 2 and runner.PRECOMPILE_THREADS >= 2
    engine._EXECUTABLES.clear()
    threads, both = set(), threading.Barrier(2, timeout=10)
    original = runner.precompile

    def precompile(*args, **kwargs):
        name = threading.current_thread().name
        if name not in threads:  # each thread's first compile waits for the other's
            threads.add(name)
            try:
                both.wait()
            except threading.BrokenBarrierError:
                pass  # one thread alone: the assertion below says so
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "precompile", precompile)
    runner._precompile_ahead(jobs, sharding=None).shutdown(wait=True)
    assert len(threads) == 2 and not both.broken
    compiled = set(engine._EXECUTABLES)
    assert compiled
    for job in jobs:
        runner.execute(job)
    assert set(engine._EXECUTABLES) == compiled


def test_an_interrupted_run_ends_its_reference_worker_without_waiting_for_its_row(tmp_path, monkeypatch):
    """Ctrl-C in the sweeps: the worker, in the middle of a long Nelder-Mead row, is killed, not
    waited for (Ctrl-C took seconds to end a run), and nothing of its rows is written."""
    from bench.api import run
    from bench.run import background, runner

    made, workers = [], []
    real_init = background.BackgroundReferences.__init__

    def keep(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    def interrupted(*args, **kwargs):
        deadline = time.monotonic() + 60
        while not made[0].futures[0].running() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the worker is on its first row
        workers.extend(made[0].pool._processes.values())
        raise KeyboardInterrupt

    monkeypatch.setattr(background.BackgroundReferences, "__init__", keep)
    monkeypatch.setattr(runner, "run_suite", interrupted)
    suite = tmp_path / "slow.toml"
    suite.write_text(SUITE)
    with pytest.raises(KeyboardInterrupt):
        run(str(suite), tmp_path / "out", report=False, mnist=False)
    assert made[0].pool is None and len(workers) == 1
    workers[0].join(10)
    assert workers[0].exitcode == -signal.SIGKILL  # killed on its row, not shut down after it
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_an_interrupted_precompile_begins_no_further_program(tiny_suite_path, monkeypatch):
    """Once ``stopping`` is set (an interrupted run), a thread finishes the program it is on and
    begins no other, not even its job's next one: Ctrl-C no longer waited for them."""
    import threading

    from bench.run import runner
    from bench.run.suites import load_suite

    suite = load_suite(str(tiny_suite_path))
    jobs = [runner.Job(suite, land, opt, runner.TUNE, opt.configs(), suite.seeds)
            for land, opt in runner.plan_jobs(suite) if len(land.instances) > 1]  # two programs each
    assert len(jobs) >= 2
    begun, gate, both = [], threading.Event(), threading.Barrier(3, timeout=20)

    def precompile(*args, **kwargs):
        begun.append(threading.current_thread().name)
        if len(begun) <= 2:
            both.wait()  # both threads are on their first program
        gate.wait(20)

    monkeypatch.setattr(runner, "precompile", precompile)
    pool = runner._precompile_ahead(jobs, sharding=None)
    both.wait()
    pool.stopping.set()
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    pool.shutdown(wait=True)
    assert len(begun) == 2, begun


def test_killing_the_reference_worker_with_rows_taken_back_prints_no_thread_traceback(monkeypatch):
    """Ctrl-C while this process takes rows back from the worker (cancelled futures) and the worker
    is on one: Python 3.11's executor thread, finding the killed worker, set an exception on the
    cancelled futures too and printed an InvalidStateError traceback after the one-line message."""
    import concurrent.futures
    import multiprocessing
    import threading

    from bench.run import background

    seen = []
    monkeypatch.setattr(threading, "excepthook", seen.append)
    references = object.__new__(background.BackgroundReferences)
    references.pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    references.futures = [references.pool.submit(time.sleep, 30) for _ in range(5)]
    deadline = time.monotonic() + 60
    while not references.futures[0].running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert references.futures[-1].cancel()  # a row taken back, as collect() does
    manager = references.pool._executor_manager_thread
    references.kill()
    manager.join(30)
    assert not manager.is_alive() and seen == []
