"""Results storage: JSON Lines, one record per (landscape, instance, optimizer config, phase).

The fault model, stated once (docs/results.md has the long form and the test of each sentence):

- **Transactions.** Records are written in jobs. Each line carries its job's id (``job``); a job
  ends with a marker line (``kind = "job_end"``) written and fsynced after its last record. Readers
  show only the records of ended jobs, so a job's records appear together or not at all. A run
  killed mid-job (kill -9, a full disk) leaves complete lines of an unended job and perhaps a cut
  last line; the next run of the same suite keeps the complete lines, drops the cut one, computes
  only the missing records of that job and then ends it.
- **One record per run.** A ``record_id`` hashes everything that determines the record's numbers.
  Every reader drops a repeated line of the same content and refuses, in one line naming both,
  two different records with one id.
- **Touch nothing on refusal.** Opening checks the whole file (corruption, schema, records without
  their fields, duplicates) before anything is written; the cut last line is dropped only at the
  first write, after every check of the caller has passed.
- **One writer.** A run locks the results directory itself (``flock`` on the directory), not a
  lock file that could be deleted; a second writer is refused in one line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from landscapes.errors import InputError

try:  # much faster than json for records full of per-run arrays (docs/performance.md); json is the fallback
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; a bare environment still works
    orjson = None

SCHEMA = "landscape-bench/results/2"
RESULTS_FILE = "results.jsonl"
JOB_END = "job_end"
# Fields that may differ between two writes of one run: when and how fast it ran, and which job
# wrote it. Everything else of a record is a function of its identity.
VOLATILE = frozenset({"cost", "created", "job"})


@contextlib.contextmanager
def collector_paused():
    """Python's garbage collector off inside the block (as it was after): while records are parsed,
    every few hundred new lists and dicts it scanned all of them again, more than half the parse
    time (docs/performance.md, "Report build time")."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def stable_hash(payload: Any, length: int = 16) -> str:
    """A short hex digest of ``payload``'s canonical JSON: stable across processes and machines."""
    text = json.dumps(to_jsonable(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def job_id(record_ids: Iterable[str]) -> str:
    """A job's id: a hash of the ids of every record it is made of, so the same job of the same
    suite has the same id in every run (a resumed job is recognised) and another job another."""
    digest = hashlib.sha256()
    for record_id in sorted(record_ids):
        digest.update(record_id.encode() + b"\n")
    return "job-" + digest.hexdigest()[:16]


def to_jsonable(value: Any) -> Any:
    """numpy scalars/arrays -> Python lists and numbers; non-finite floats -> None (valid JSON)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":  # vectorised: records hold large per-run arrays
            finite = np.isfinite(value)
            if not finite.all():
                value = value.astype(object)
                value[~finite] = None
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def _float64_arrays(value: Any) -> Any:
    """The record with float arrays and scalars as C-contiguous float64 (orjson writes a float32 in
    its own shortest form, 0.1, where json writes the float64 it converts to, 0.10000000149011612:
    converting first keeps the two writers' output the same number for number)."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value, np.float64 if value.dtype.kind == "f" else None)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _float64_arrays(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, (np.ndarray, np.generic, Mapping,
                                                               list, tuple)) for v in value):
        return [_float64_arrays(v) for v in value]
    return value  # plain numbers and strings, and lists of them, as they are


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One JSON line (sorted keys, non-finite floats as null, numpy arrays as lists)."""
    if orjson is None:
        return (json.dumps(to_jsonable(record), sort_keys=True) + "\n").encode()
    return orjson.dumps(_float64_arrays(record), default=to_jsonable,
                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS
                        | orjson.OPT_APPEND_NEWLINE)


def _decode(line: bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(line)
        except ValueError:  # strict JSON only; json also reads NaN/Infinity tokens: let it judge
            pass
    return json.loads(line)


def _canonical(value: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return json.dumps(value, sort_keys=True).encode()


def content_digest(record: Mapping[str, Any]) -> bytes:
    """A hash of what a read record says about its runs (every field but :data:`VOLATILE`);
    compared only between records read by one process (16 bytes: a million of them are held)."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items()
                                      if k not in VOLATILE})).digest()[:16]


def _describe(record: Mapping[str, Any]) -> str:
    what = record.get("landscape", record.get("kind", "?"))
    return (f"{what} instance {record.get('instance')} {record.get('label', '')}"
            f" {record.get('phase', '')}").replace("  ", " ").strip()


def _lines(file: Path):
    """(line number, decoded record) of every complete line, one at a time, unchecked (for a file
    that a :class:`_Scan` has checked already)."""
    with open(file, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.endswith(b"\n") and line.strip():
                yield number, _decode(line[:-1])


class _Scan:
    """One pass over a results file: every check, and what a writer and the readers need."""

    def __init__(self, file: Path, keep_records: bool):
        self.file = file
        self.ids: dict[str, str] = {}  # record_id -> job of its first line ("": a job of one line)
        self.digests: dict[str, bytes] = {}  # record_id -> content digest of its first line
        self.ended: dict[str, int] = {}  # job -> record count in its marker
        self.also: dict[str, tuple[str, ...]] = {}  # record_id -> jobs of its repeated lines
        self.records: list[dict[str, Any]] = []
        # The sweeps' suite settings per phase (with the success target) and the environments.
        self.settings: dict[tuple[Any, bytes], dict[str, Any]] = {}
        self.environments: dict[bytes, dict[str, Any]] = {}
        self.valid_end = 0  # bytes up to the end of the last complete line
        self.size = 0
        if not file.exists():
            return
        if not file.is_file():
            raise InputError(f"{file} is not a file (a folder?); move it away, or choose another"
                             " results directory")
        try:
            handle = open(file, "rb")
        except OSError as error:
            raise InputError(f"cannot read {file} ({error.strerror}); check its permissions") from None
        with handle:  # line by line: a results file may be larger than memory
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):  # a write cut off by a kill: dropped, redone
                    self.size = self.valid_end + len(line)
                    break
                self._line(number, line[:-1], keep_records)
                self.valid_end += len(line)
                self.size = self.valid_end

    def _line(self, number: int, line: bytes, keep: bool) -> None:
        if not line.strip():
            return
        try:
            record = _decode(line)
        except (ValueError, RecursionError):  # JSON, UTF-8, int-digit limit, deep nesting
            raise InputError(f"{self.file}: line {number} is corrupted (not JSON); move the file"
                             " away or repair it, nothing was overwritten") from None
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            found = record.get("schema") if isinstance(record, dict) else type(record).__name__
            raise InputError(f"{self.file}: line {number} has schema {found!r}, this version reads"
                             f" {SCHEMA!r}; use a new --out directory or the matching version")
        if record.get("kind") == JOB_END:
            if not isinstance(record.get("job"), str) or not isinstance(record.get("records"), int):
                raise InputError(f"{self.file}: line {number} is corrupted (a job marker without its"
                                 " job or count); move the file away or repair it")
            self.ended[record["job"]] = record["records"]
            return
        for field, kind in (("record_id", str), ("job", (str, type(None))),
                            ("identity", (dict, type(None)))):
            if not isinstance(record.get(field), kind):
                raise InputError(f"{self.file}: line {number} is corrupted (no {field}); move the"
                                 " file away or repair it, nothing was overwritten")
        if record.get("kind") != "mnist" and not isinstance(record.get("runs"), dict):
            raise InputError(f"{self.file}: line {number} is corrupted (no runs); move the file"
                             " away or repair it, nothing was overwritten")
        record_id = record["record_id"]
        digest = content_digest(record)
        if record_id in self.digests:
            if digest != self.digests[record_id]:
                first_line = self._first_line(record_id)
                raise InputError(f"{self.file}: lines {first_line} and {number} are two different"
                                 f" records of one run (record_id {record_id}, {_describe(record)});"
                                 " keep one of them (or move the file away) and rerun")
            # The same record again (a job redone after a kill): one copy counts, shown if any of
            # the jobs that wrote it ended.
            self.also[record_id] = self.also.get(record_id, ()) + (record.get("job") or "",)
            return
        self.digests[record_id] = digest
        self.ids[record_id] = record.get("job") or ""
        identity = record.get("identity") or {}
        settings = identity.get("settings")
        if isinstance(settings, dict):  # the sweeps' records (not references, not MNIST)
            settings = dict(settings, success_target=record.get("success_target"))
            self.settings.setdefault((record.get("phase"), _canonical(settings)), settings)
        environment = identity.get("environment")
        if isinstance(environment, dict):
            self.environments.setdefault(_canonical(environment), environment)
        if keep:
            self.records.append(record)

    def _first_line(self, record_id: str) -> int:
        """The line number of ``record_id``'s first record (for the error message only)."""
        for number, record in _lines(self.file):
            if record.get("record_id") == record_id:
                return number
        return 0

    def shown(self, job: str | None) -> bool:
        """A line without a job is a job of one line: shown once it is whole."""
        return job == "" or job in self.ended

    def jobs(self, record_id: str) -> tuple[str, ...]:
        first = self.ids.get(record_id)
        return () if first is None else (first, *self.also.get(record_id, ()))

    def record_shown(self, record_id: str) -> bool:
        return any(self.shown(job) for job in self.jobs(record_id))


class ResultsDir:
    """The results of one suite run: ``DIR/results.jsonl``, locked while a run writes to it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.file = self.path / RESULTS_FILE
        self._dir_fd: int | None = None
        self._scan: _Scan | None = None
        self._repaired = False
        # Called with each record once it is written (the run's views collect what they need
        # from here, instead of reading the file back).
        self.on_append: list = []

    # -- writing -------------------------------------------------------------------------------
    def open_for_writing(self) -> None:
        """Create the directory, lock it, and check the file: nothing is written yet."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            if self.path.exists() and not self.path.is_dir():
                raise InputError(f"output directory {str(self.path)!r} is a file, not a folder;"
                                 " choose a folder with --out") from None
            raise InputError(f"output directory {str(self.path)!r} is not writable ({error.strerror});"
                             " choose another with --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"another landscape-bench run is writing to {str(self.path)!r};"
                             " wait for it to finish or use another --out") from None
        self._dir_fd = fd
        try:
            if not os.access(self.path, os.W_OK):
                raise InputError(f"output directory {str(self.path)!r} is not writable; choose"
                                 " another with --out")
            self._scan = _Scan(self.file, keep_records=False)
        except InputError:
            self.close()
            raise

    def refuse_other_settings(self, wanted: Mapping[str, Mapping[str, Any]],
                              environment: Mapping[str, Any] | None = None) -> None:
        """Refuse (one-line InputError) a directory whose records were run with other suite
        settings than ``wanted`` ({phase: settings}) or in another environment (device kind,
        package versions): they would get new record ids, run again, and be pooled with the old
        ones in the report. Adding landscapes, optimizers or instances keeps the settings, and
        adds runs."""
        scan = self._writer_scan()
        for (phase, _), stored in scan.settings.items():
            want = to_jsonable(dict(wanted.get(phase, {})))
            if phase not in wanted or stored == want:
                continue
            changed = "; ".join(f"{key} {want.get(key)!r} now, {stored.get(key)!r} there"
                                for key in sorted(set(want) | set(stored))
                                if want.get(key) != stored.get(key))
            raise InputError(f"{str(self.path)!r} holds runs of this suite with other settings"
                             f" ({changed}); use another --out, or move that folder away to start"
                             " over")
        if environment is None:
            return
        want = to_jsonable(dict(environment))
        for stored in scan.environments.values():
            if stored != want:
                changed = "; ".join(f"{key} {want.get(key)!r} now, {stored.get(key)!r} there"
                                    for key in sorted(set(want) | set(stored))
                                    if want.get(key) != stored.get(key))
                raise InputError(f"{str(self.path)!r} holds runs made in another environment"
                                 f" ({changed}); use another --out for this one")

    def close(self) -> None:
        self._scan = None
        if self._dir_fd is not None:
            fcntl.flock(self._dir_fd, fcntl.LOCK_UN)
            os.close(self._dir_fd)
            self._dir_fd = None

    def __enter__(self) -> ResultsDir:
        self.open_for_writing()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def has(self, record_id: str, job: str | None = None) -> bool:
        """Whether ``record_id`` needs no computing: shown already, or written by ``job`` itself
        before a kill (its job resumes and ends). A record of another unended job is redone, so
        that it becomes visible with the job that ends now."""
        scan = self._writer_scan()
        return any(scan.shown(owner) or owner == job for owner in scan.jobs(record_id))

    def append(self, records: Iterable[Mapping[str, Any]], *, job: str | None = None,
               end: bool = True, total: int | None = None) -> None:
        """Append whole records of ``job`` (default: a job of exactly these records) and fsync;
        with ``end``, the job's marker follows in the same write, so a job written at once appears
        whole or not at all. ``total``: the job's record count for its marker (default: these)."""
        records = list(records)
        if job is None:
            job = job_id(r["record_id"] for r in records)
        lines = b"".join(encode_record(dict(r, job=job)) for r in records)
        if end:
            count = len(records) if total is None else total
            lines += encode_record({"schema": SCHEMA, "kind": JOB_END, "job": job, "records": count})
        self._write(lines)
        for record in records:
            for observe in self.on_append:
                observe(record)
        scan = self._scan
        if scan is not None:
            for record in records:
                if record["record_id"] in scan.ids:
                    scan.also[record["record_id"]] = scan.also.get(record["record_id"], ()) + (job,)
                else:
                    scan.ids[record["record_id"]] = job
            if end:
                scan.ended[job] = len(records) if total is None else total

    def end_job(self, job: str, total: int) -> None:
        """The marker that shows a job streamed in several appends."""
        self.append([], job=job, end=True, total=total)

    def _writer_scan(self) -> _Scan:
        if self._scan is None:  # used without open_for_writing (a test, a script): read it now
            self._scan = _Scan(self.file, keep_records=False)
        return self._scan

    def _write(self, lines: bytes) -> None:
        """Append ``lines`` with one write and fsync. The first write drops a cut last line left by
        a kill (after every check has passed: a refused run touches nothing). A failed write (a full
        disk) is cut back to where it began, so no partial line is left, and ends in one line."""
        fd = None
        try:
            if not self._repaired:
                self._repaired = True
                scan = self._writer_scan()
                if self.file.exists() and scan.size != scan.valid_end:
                    os.truncate(self.file, scan.valid_end)
            fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            before = os.fstat(fd).st_size
            try:
                view = memoryview(lines)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, before)
                raise
        except OSError as error:
            why = "the disk is full" if error.errno == errno.ENOSPC else error.strerror
            raise InputError(f"cannot write {self.file} ({why}); finished jobs are kept: free"
                             " space (or fix the folder) and rerun the same command to resume") from None
        finally:
            if fd is not None:
                os.close(fd)

    # -- reading -------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """The records of every ended job, one per record_id; raises InputError on a foreign
        schema, a corrupted line or two different records of one run."""
        with collector_paused():
            scan = _Scan(self.file, keep_records=True)
        return [r for r in scan.records if scan.record_shown(r["record_id"])]

    def visit_records(self, visit) -> None:
        """Call ``visit(record)`` on every distinct record line, ended job or not, one at a time
        (a results file of a million records is never held whole)."""
        if not self.file.exists():
            return
        self._writer_scan()  # checked once (open_for_writing did it already when writing)
        seen: set[str] = set()
        for _, record in _lines(self.file):
            record_id = record.get("record_id")
            if record.get("kind") == JOB_END or record_id in seen:
                continue
            seen.add(record_id)
            visit(record)

    def valid_bytes(self) -> int:
        """The bytes of the file up to its last complete line."""
        return self._writer_scan().valid_end

    def record_ids(self) -> set[str]:
        """Ids of the records shown (ended jobs)."""
        scan = self._scan if self._scan is not None else _Scan(self.file, keep_records=False)
        return {i for i in scan.ids if scan.record_shown(i)}


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All shown records of a results directory or ``results.jsonl`` file (read only, no lock)."""
    path = Path(path)
    directory = path.parent if path.is_file() else path
    if not (directory / RESULTS_FILE).exists():
        raise InputError(f"no results at {str(path)!r} (expected a file {RESULTS_FILE} in it);"
                         " run `landscape-bench run --out DIR` first")
    return ResultsDir(directory).records()
