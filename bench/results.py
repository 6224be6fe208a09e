"""Results storage: JSON Lines, one record per (landscape, instance, optimizer config).

Records are appended and fsynced per finished job, so a run killed at any point (kill -9 included)
loses at most the job in flight. On the next run a truncated last line is dropped and redone; any
other damage is reported, never overwritten. A lock file keeps two runs off one directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from landscapes.errors import InputError

try:  # 5-10x faster than json for records full of per-run arrays; json is the fallback
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; a bare environment still works
    orjson = None

SCHEMA = "landscape-bench/results/1"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".lock"


def stable_hash(payload: Any, length: int = 16) -> str:
    """A short hex digest of ``payload``'s canonical JSON: stable across processes and machines."""
    text = json.dumps(to_jsonable(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


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


class ResultsDir:
    """The results of one suite run: ``DIR/results.jsonl`` plus a lock while a run writes to it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.file = self.path / RESULTS_FILE
        self._lock_fd: int | None = None
        self._ids: set[str] | None = None
        self._settings: dict[tuple[str | None, str], dict[str, Any]] = {}

    # -- writing -------------------------------------------------------------------------------
    def open_for_writing(self) -> None:
        """Create the directory, take the lock, and repair a truncated last line."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
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
        self._lock_fd = fd
        ids, self._settings = set(), {}
        try:  # refuse a corrupted or foreign file before touching it or computing anything
            for record in self._iter_records():
                ids.add(record["record_id"])
                settings = record.get("identity", {}).get("settings")
                if settings is not None:  # the sweeps' records (not references, not MNIST)
                    settings = dict(settings, success_target=record.get("success_target"))
                    self._settings.setdefault((record.get("phase"), stable_hash(settings)), settings)
        except InputError:
            self.close()
            raise
        self._drop_truncated_tail()
        # While the lock is held nobody else writes the file: the ids are kept here as records are
        # appended, instead of parsing the whole file (47 MB for the default suite) at each ask.
        self._ids = ids

    def refuse_other_settings(self, wanted: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse (one-line InputError) a directory whose records were run with other suite
        settings than ``wanted`` ({phase: settings}): they would get new record ids, run again,
        and be pooled with the old ones in the report (two copies of every run, mixed budgets).
        Adding landscapes or optimizers to a suite keeps its settings, and resumes."""
        for (phase, _), stored in self._settings.items():
            want = to_jsonable(dict(wanted.get(phase, {})))
            if phase not in wanted or stored == want:
                continue
            changed = "; ".join(f"{key} {want.get(key)!r} now, {stored.get(key)!r} there"
                                for key in sorted(set(want) | set(stored))
                                if want.get(key) != stored.get(key))
            raise InputError(f"{str(self.path)!r} holds runs of this suite with other settings"
                             f" ({changed}); use another --out, or move that folder away to start"
                             " over")

    def close(self) -> None:
        self._ids = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultsDir:
        self.open_for_writing()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append whole records and fsync, so a finished job survives a crash right after."""
        records = list(records)
        lines = b"".join(encode_record(r) for r in records)
        with open(self.file, "ab") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        if self._ids is not None:
            self._ids.update(r["record_id"] for r in records)

    def _drop_truncated_tail(self) -> None:
        """A run killed mid-write leaves a last line without its newline: cut it, it is redone."""
        if not self.file.exists():
            return
        data = self.file.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.file, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())

    # -- reading -------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every complete record; raises InputError on a foreign schema or a corrupted line."""
        return list(self._iter_records())

    def _iter_records(self) -> Iterator[dict[str, Any]]:
        if not self.file.exists():
            return
        with open(self.file, "rb") as handle:
            data = handle.read()
        lines = data.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is an unfinished write, if any
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                record = _decode(line)
            except (ValueError, RecursionError):  # JSON, UTF-8, int-digit limit, deep nesting
                raise InputError(f"{self.file}: line {number} is corrupted (not JSON); move the file"
                                 " away or repair it, nothing was overwritten") from None
            if not isinstance(record, dict) or record.get("schema") != SCHEMA:
                found = record.get("schema") if isinstance(record, dict) else type(record).__name__
                raise InputError(f"{self.file}: line {number} has schema {found!r}, this version reads"
                                 f" {SCHEMA!r}; use a new --out directory or the matching version")
            if not isinstance(record.get("record_id"), str):
                raise InputError(f"{self.file}: line {number} is corrupted (no record_id); move the file"
                                 " away or repair it, nothing was overwritten")
            yield record

    def record_ids(self) -> set[str]:
        if self._ids is not None:  # open for writing: kept up to date by append
            return set(self._ids)
        return {r["record_id"] for r in self._iter_records()}


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a results directory or ``results.jsonl`` file (read only, no lock)."""
    path = Path(path)
    directory = path.parent if path.is_file() else path
    if not (directory / RESULTS_FILE).is_file():
        raise InputError(f"no results at {str(path)!r} (expected a file {RESULTS_FILE} in it);"
                         " run `landscape-bench run --out DIR` first")
    return ResultsDir(directory).records()
