"""Records written behind the sweeps: a job's records are encoded, appended and fsynced by one
thread while the main thread goes on to the next job's calls.

Encoding a record as JSON, the fsync after each append and the views' observers of each record
(``ResultsDir.on_append``) are host work that needs none of the next job: done in line, the
devices wait for it between jobs (on a GPU, whose sweeps are short, most of a job's wall time).
The writes keep their order (one thread, first in, first out), so the results file is the same as
written in line, and a kill loses at most the queued records, which a resumed run computes again,
as it would records not yet computed (``bench.run.results``: a job counts only once its end marker
is written, after its records).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

# Writes waiting at most (each at most ``bench.run.runner.SEGMENT_RECORDS`` records): bounds the
# memory of records computed but not yet written; the main thread waits when the queue is full.
QUEUED_WRITES = 4


class WriteBehind:
    """Calls ``results.append`` and ``results.end_job`` in a writer thread, in order.

    The first error of a write (a full disk: ``InputError``) is raised in the main thread at its
    next call, and by :meth:`close`; later writes are then dropped, so nothing is written after a
    failed write. :meth:`close` waits for every queued write: use it in a ``finally``, so records
    computed before an error or an interrupt in the main thread are still written.
    """

    def __init__(self, results: Any):
        self.results = results
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(QUEUED_WRITES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="results-writer", daemon=True)
        self._thread.start()

    def append(self, records: list[dict[str, Any]], **kwargs: Any) -> None:
        self._submit(lambda: self.results.append(records, **kwargs))

    def end_job(self, job: str, total: int) -> None:
        self._submit(lambda: self.results.end_job(job, total))

    def has(self, record_id: str, job: str | None = None) -> bool:
        """``results.has``: a record queued for writing is not shown yet (its job's end marker is
        queued after it), as before it is written in line."""
        return self.results.has(record_id, job)

    def close(self) -> None:
        """Write everything queued, stop the thread and raise the first write's error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _submit(self, write: Callable[[], None]) -> None:
        self._raise()
        self._queue.put(write)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            write = self._queue.get()
            if write is None:
                return
            if self._error is None:  # after a failed write, drop the rest (never block the caller)
                try:
                    write()
                except BaseException as error:  # noqa: BLE001 (raised in the main thread)
                    self._error = error
