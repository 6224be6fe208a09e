"""A second process for the report: it reads the results file itself and builds some sections while
the report's own process builds the others."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Record = Mapping[str, Any]

# Sections a helper process builds, start to finish, while this process builds the others: chosen so
# that both processes take about as long on the default suite (docs/performance.md).
HELPER_SECTIONS = ("sensitivity", "ecdf", "profiles", "mnist")
PARALLEL_MIN_BYTES = 4_000_000  # smaller results files: a helper's start costs more than it saves
PARALLEL_MIN_IDLE = 1.5  # idle CPUs (now, not the load average) a helper needs to be worth starting
IDLE_SAMPLE_SECONDS = 0.05  # /proc/stat watched this long (5 ticks a CPU at 100 Hz) to tell how idle the CPUs are
HELPER_TIMEOUT = 60.0  # seconds (at least) to wait for the helper once this process is done


def idle_cpus(interval: float = IDLE_SAMPLE_SECONDS) -> float:
    """CPUs idle now: the idle share of /proc/stat's CPU time over ``interval`` seconds times the CPU
    count. Unlike the 1-minute load average it does not count a job that has just finished (a
    ``landscape-bench run``'s own sweeps, right before its report). Where /proc/stat is missing: the
    CPU count minus the load average, or 0."""
    cpus = os.cpu_count() or 1

    def sample() -> tuple[int, int]:
        with open("/proc/stat", "rb") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        busy = sum(fields[:3]) + sum(fields[5:8])
        idle = sum(fields[3:5])
        return idle, idle + busy

    try:
        idle0, total0 = sample()
        time.sleep(interval)
        idle1, total1 = sample()
        if total1 > total0:
            return cpus * (idle1 - idle0) / (total1 - total0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return cpus - os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return 0.0


def default_workers(results_bytes: int, idle: float | None = None) -> int:
    """Processes building the sections for a results file of ``results_bytes`` bytes: 2 where it is
    large (:data:`PARALLEL_MIN_BYTES`) and the CPUs idle enough (``idle``, by default
    :func:`idle_cpus`, at least :data:`PARALLEL_MIN_IDLE`), else 1. On a busy machine two processes
    were slower than one (docs/performance.md, "Report build time"): the helper's start and its
    second read of the results are then lost time."""
    cpus = os.cpu_count() or 1
    if results_bytes < PARALLEL_MIN_BYTES or cpus < 2:
        return 1
    if idle is None:
        idle = idle_cpus()
    return 2 if idle >= PARALLEL_MIN_IDLE else 1


class Helper:
    """A second process (a fresh interpreter, so it imports no JAX and nothing of the caller's main
    module) that reads the results file itself and builds :data:`HELPER_SECTIONS` into ``out``,
    returning each section's document blocks and "missing" notes. :meth:`result` gives them, or
    None where the helper failed, so the caller builds those sections itself."""

    def __init__(self, file: Path, out: Path, formats: tuple[str, ...],
                 sections: Sequence[str] | None = None):
        self.sections = tuple(HELPER_SECTIONS if sections is None else sections)
        self.request = {"file": str(file), "out": str(out), "formats": list(formats),
                        "sections": list(self.sections), "path": list(sys.path)}
        self.process: subprocess.Popen | None = None
        self.imported_jax: bool | None = None  # what the helper's reply said (the tests check it)

    def start(self) -> None:
        code = ("import sys, json; request = json.loads(sys.argv[1]); sys.path[:] = request['path'];"
                " from reports.parallel import helper_main; helper_main(request)")
        try:
            self.process = subprocess.Popen([sys.executable, "-c", code, json.dumps(self.request)],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        except Exception:  # noqa: BLE001 (no helper, for whatever reason: build here)
            self.process = None

    def result(self, records: Sequence[Record], timeout: float) -> dict[str, Any] | None:
        """The helper's sections, by name, if it built them from the same records; else None."""
        if self.process is None:
            return None
        try:
            import pickle

            reply, _ = self.process.communicate(timeout=timeout)
            if self.process.returncode != 0:
                return None
            reply = pickle.loads(reply)
            self.imported_jax = reply["jax"]
            if reply["records"] != _fingerprint(records):
                return None  # the file changed between the two reads
            return reply["parts"]
        except Exception:  # noqa: BLE001 (timed out, died, or garbled: build here)
            return None
        finally:
            self.close()

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.communicate()
            self.process = None


def _fingerprint(records: Sequence[Record]) -> str:
    ids = "\n".join(str(r.get("record_id")) for r in records)
    return f"{len(records)}:{hashlib.sha1(ids.encode()).hexdigest()}"


def helper_main(request: dict[str, Any]) -> None:
    """The helper process: build the requested sections, write the pickled reply to stdout."""
    import pickle

    reply_fd = os.dup(1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the reply
    sys.stdout = sys.stderr
    from bench.run.results import read_results
    from reports.document import Document
    from reports.report import Builder, records_outside_collector

    # The records this process's caller reads too (ended jobs, one line per run): a reader of its
    # own here kept the job markers, so the two never matched and every helper's work was dropped.
    parts = {}
    with records_outside_collector(lambda: read_results(Path(request["file"]))) as records:
        builder = Builder(records, Document(""), Path(request["out"]), tuple(request["formats"]),
                          results_dir=Path(request["file"]).parent)
        for name in request["sections"]:
            if name in builder.sections():
                try:
                    parts[name] = builder.run_section(name)
                except Exception:  # noqa: BLE001 (the caller builds it, and reports what fails there)
                    pass
    reply = {"records": _fingerprint(records), "parts": parts, "jax": "jax" in sys.modules}
    with os.fdopen(reply_fd, "wb") as handle:
        pickle.dump(reply, handle)
    # done: skip the interpreter's teardown (freeing the records took ~0.5 s the caller would wait)
    sys.stderr.flush()
    os._exit(0)
