"""What a run does beside its sweeps: the scipy reference rows (in a worker process while the sweeps
run, or here), and importing ahead what the end of a run needs.

The reference rows are computed by ``bench.run.reference.reference_records`` (float64, on the CPU)
on the same starts as the suite's test phase, and appended in the serial order, so a run with the
worker and one without write the same records.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Callable

import numpy as np

import landscapes
from bench.run.results import ResultsDir, job_id
from bench.run.runner import start_points
from bench.run.suites import Suite


def run_references(suite: Suite, out: ResultsDir, *,
                   progress: Callable[[str], None] | None = None) -> int:
    """The suite's scipy reference rows not yet in ``out``, on the same starts as the test phase."""
    from bench.run.reference import reference_records

    done = references_done(suite, out)
    written = 0
    for land, method, starts in _reference_tasks(suite):
        if progress:
            progress(f"{land.name} x scipy {method} (reference)")
        fresh = reference_records(suite, land, method, starts, done)
        _append_references(out, suite, land, method, fresh)
        written += len(fresh)
    return written


def _reference_job(suite: Suite, land, method: str) -> tuple[str, list[str]]:
    """A (landscape, method)'s reference rows are one job of the store: its id and record ids."""
    from bench.run.reference import reference_ids

    ids = reference_ids(suite, land, method)
    return job_id(ids), ids


def references_done(suite: Suite, out: ResultsDir) -> set[str]:
    """The reference record ids that need no computing: shown, or written by their own job before
    a kill took its end marker (that job ends now instead of writing them twice)."""
    done = set()
    for land, method, _ in _reference_tasks(suite):
        job, ids = _reference_job(suite, land, method)
        done.update(i for i in ids if out.has(i, job))
    return done


def _append_references(out: ResultsDir, suite: Suite, land, method: str, fresh: list) -> None:
    """Append a (landscape, method)'s fresh rows as its job, ended; a job whose rows were all
    written before a kill is only ended."""
    job, ids = _reference_job(suite, land, method)
    if fresh:
        out.append(fresh, job=job, total=len(ids))
    elif not all(out.has(i) for i in ids):
        out.end_job(job, len(ids))


def _reference_tasks(suite: Suite):
    """(landscape entry, method, test starts) of every reference row, in the serial order."""
    for land in suite.landscapes:
        landscape = landscapes.get_landscape(land.name)
        starts = np.concatenate([start_points(landscape, land.dim, s, suite.starts)
                                 for s in suite.test_seeds])
        for method in suite.references:
            yield land, method, starts


def import_ahead(modules: list[str]):
    """Import ``modules`` in a background thread; returns the (daemon) thread.

    What a run needs only at its end, it imports while the sweeps run: scikit-learn (the MNIST
    search; ~2.5 s, with scipy.stats) and matplotlib (the report) were imported on one core after
    the sweeps, the other core idle. The sweeps' thread waits in XLA, without the GIL, meanwhile.
    A module that fails to import is left alone: the code that uses it imports it again and reports
    the error there.
    """
    import importlib
    import threading

    def load():
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 (raised again, with its message, where it is used)
                pass

    thread = threading.Thread(target=load, name="import-ahead", daemon=True)
    thread.start()
    return thread


def end_with_parent(parent: int) -> None:
    """Make this worker process end when its parent does, however the parent dies (kill -9
    included): Linux's parent-death signal, and a watchdog thread that polls the parent id
    elsewhere (and as a second line). Without it the worker ran on for its queue of tasks
    (~240 MB for > 90 s), keeping multiprocessing's resource tracker alive with it."""
    import signal
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no prctl here: the watchdog alone
            pass
    if os.getppid() != parent:  # the parent died before the signal was set (during imports)
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _reference_worker_init(parent: int, imports: tuple[str, ...] = (),
                           import_dirs: tuple[str, ...] = ()) -> None:
    end_with_parent(parent)
    from bench.core.jax_setup import configure_jax
    from bench.run.suites import import_modules

    configure_jax()
    import_modules(imports, import_dirs)  # the suite's own landscapes, registered here too


@contextlib.contextmanager
def _caller_script_hidden():
    """Start spawn workers without running the caller's script in them.

    A "spawn" worker imports the parent's ``__main__`` file first (as ``__mp_main__``). When that is
    a user's script calling ``bench.cli.main(["run", ...])`` without an ``if __name__ ==
    "__main__"`` guard, the worker ran the whole suite again (and from stdin it failed on
    '<stdin>'). The worker needs nothing from ``__main__``: its tasks and initializer live in
    ``bench``, so a bare stand-in is shown while it starts."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class BackgroundReferences:
    """The suite's scipy reference rows, computed in one worker process while the sweeps run, and
    shared with this process once its sweeps are done (:meth:`collect`).

    scipy's solvers are sequential Python, so they cannot join the vmapped sweeps; in-process they
    added ~12 s to a default run after the sweeps. The sweeps spend much of their time in Python
    (tracing and lowering) on one core, so a second process fills the other core with the
    references. The records are the same as ``run_references`` writes (they are computed by the
    same function, in float64 on the CPU) and are appended by this process, in the serial order,
    after the sweeps; if the worker cannot start or dies, the remaining rows are computed here.
    """

    def __init__(self, suite: Suite, done: set[str] | frozenset[str] = frozenset()):
        from bench.run.reference import reference_records

        self.suite = suite
        self.tasks = list(_reference_tasks(suite))
        self.done = frozenset(done)
        self.futures = []
        self.pool = None
        self.computed_here = 0
        if not self.tasks:
            return
        try:
            import concurrent.futures
            import multiprocessing

            self.pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_reference_worker_init,
                initargs=(os.getpid(), suite.imports, suite.import_dirs))
            with _caller_script_hidden():  # the worker process starts at the first submit
                self.futures = [self.pool.submit(reference_records, suite, land, method, starts,
                                                 self.done)
                                for land, method, starts in self.tasks]
        except Exception:  # no worker (restricted environment): computed in-process in collect()
            self.close()
            self.futures = []

    def collect(self, out: ResultsDir, *, progress: Callable[[str], None] | None = None) -> int:
        """Append every reference record not yet in ``out``; returns how many were written."""
        from bench.run.reference import reference_records

        # The rows the worker has not started yet are shared: this process, done with the
        # sweeps, takes them from the end while the worker goes on from the front (on the 2-core
        # machine the worker finished ~6 s after the sweeps, this process waiting on it).
        here: dict[int, list] = {}
        for index in reversed(range(len(self.futures))):
            if not self.futures[index].cancel():
                break  # the worker has started it (and so every earlier one)
            land, method, starts = self.tasks[index]
            here[index] = reference_records(self.suite, land, method, starts, self.done)
        self.computed_here = len(here)
        written = 0
        for index, (land, method, starts) in enumerate(self.tasks):
            if progress:
                progress(f"{land.name} x scipy {method} (reference)")
            fresh = here.get(index)
            if fresh is None and index < len(self.futures):
                try:
                    fresh = self.futures[index].result()
                except Exception:  # a worker that died: do this and the rest here
                    self.close()
                    self.futures = []
            if fresh is None:
                fresh = reference_records(self.suite, land, method, starts, self.done)
            _append_references(out, self.suite, land, method, fresh)
            written += len(fresh)
        self.close()
        return written

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def kill(self) -> None:
        """End the worker now, without waiting for the row it is on (an interrupted run: Ctrl-C
        waited up to seconds for a Nelder-Mead task). Rows it had not handed back are not written;
        the next run computes them."""
        if self.pool is not None:
            _quiet_on_cancelled(getattr(self.pool, "_executor_manager_thread", None))
            # No public way to end a ProcessPoolExecutor's workers before Python 3.14's
            # terminate_workers(): its process table is the one handle.
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.kill()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


def _quiet_on_cancelled(thread) -> None:
    """Drop the InvalidStateError ``thread`` (an executor's manager) raises when it finds its worker
    killed: Python before 3.12 sets an exception on every pending future, rows taken back by
    :meth:`BackgroundReferences.collect` (cancelled) too, and printed a traceback after an
    interrupted run's one line. Any other exception of any thread is shown as before."""
    import concurrent.futures
    import threading

    if thread is None:
        return
    shown = threading.excepthook

    def hook(args):
        if args.thread is thread and issubclass(args.exc_type, concurrent.futures.InvalidStateError):
            return
        shown(args)

    threading.excepthook = hook
