"""The views file: what a report's figures need from problem code, written beside the records.

A report only reads files: it imports neither JAX nor the suite's own modules. Whatever a figure
needs from the landscapes or the optimizers is computed at run time (:mod:`bench.run.figure_data`)
and written into ``DIR/views.npz`` after the jobs, on every run (a resumed run with nothing left to
do too). The file holds, for the landscape records of ``DIR/results.jsonl``:

- per (landscape, instance, dim): f*, the instance's global minimizers, the search box, the start
  box, the precision floor of every dtype the records ran in, and for 2-D problems the gap f − f*
  on a contour grid over the box;
- per record with a trajectory (by ``record_id``): f − f* recomputed in float64 at every stored
  iterate, (runs, points);
- per optimizer label: the learning rate along the steps of every distinct schedule config of its
  records;
- what could not be computed, and why (a landscape this process does not know, say).

Writing is keyed: entries whose key is already in the file are kept, only new ones are computed
(the records of a run are a function of their identity). A run hands each record it appends to the
views as it goes (:func:`bench.run.views_writer.start_collecting`), so the results file is read
back only where the old views do not describe it as it was before the run. The file is replaced atomically
(a temporary file, fsync, rename): a kill leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landscapes.errors import InputError

VIEWS_FILE = "views.npz"
SCHEMA = "landscape-bench/views/1"
INDEX = "index"
GAPS = "gaps"

Record = Mapping[str, Any]


def problem_key(landscape: str, instance: int, dim: int | None) -> str:
    """The key of a (landscape, instance, dim) entry."""
    return json.dumps([str(landscape), int(instance), None if dim is None else int(dim)])


def schedule_config_key(config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The key of a config's schedule curve: the values of the schedule's hyperparameters only
    (configs that differ in momentum alone share one curve)."""
    return json.dumps(sorted((k, float(v)) for k, v in config.items() if k in keys))


class Views:
    """The views of a results directory, read lazily (:func:`load_views`). Every accessor returns
    None where the file lacks the entry; ``reason`` says why the whole file is absent (empty when
    it was read)."""

    def __init__(self, index: Mapping[str, Any] | None = None, arrays: Any = None, reason: str = ""):
        self.index = dict(index or {"problems": {}, "gaps": {}, "schedules": {}, "unavailable": []})
        self._arrays = arrays
        self._gaps: np.ndarray | None = None
        self.reason = reason

    @property
    def available(self) -> bool:
        return not self.reason

    @property
    def unavailable(self) -> list[str]:
        """What the run could not compute, one sentence each."""
        return list(self.index.get("unavailable", []))

    def problem(self, landscape: str, instance: int, dim: int | None) -> dict[str, Any] | None:
        """f_star, minimizers (k, dim), box and start_box (dim, 2), floors {dtype: float}, contour."""
        entry = self.index["problems"].get(problem_key(landscape, instance, dim))
        if entry is None:
            return None
        return dict(entry, minimizers=np.asarray(entry["minimizers"], float),
                    box=np.asarray(entry["box"], float), start_box=np.asarray(entry["start_box"], float))

    def floor(self, landscape: str, instance: int, dim: int | None, dtype: str) -> float | None:
        """The precision floor of ``dtype`` (NaN where it could not be estimated); None if absent."""
        entry = self.index["problems"].get(problem_key(landscape, instance, dim))
        if entry is None or dtype not in entry["floors"]:
            return None
        value = entry["floors"][dtype]
        return float("nan") if value is None else float(value)

    def contour(self, landscape: str, instance: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(box (2, 2), gap grid (n, n)) of a 2-D problem (:func:`bench.run.figure_data.contour_grid`)."""
        entry = self.index["problems"].get(problem_key(landscape, instance, 2))
        if entry is None or entry.get("contour") is None:
            return None
        return np.asarray(entry["box"], float), np.asarray(self._arrays[entry["contour"]])

    def gap(self, record_id: str) -> np.ndarray | None:
        """(runs, points) f − f* at a record's stored iterates (NaN where diverged); None if absent."""
        where = self.index["gaps"].get(record_id)
        if where is None:
            return None
        if self._gaps is None:
            self._gaps = np.asarray(self._arrays[GAPS])
        offset, runs, points = where
        return self._gaps[offset:offset + runs * points].reshape(runs, points)

    def schedule(self, label: str) -> dict[str, Any] | None:
        """{"keys": the schedule's hyperparameters, "steps": int, "curves": {config key: (steps,)}}."""
        entry = self.index["schedules"].get(label)
        if entry is None:
            return None
        rows = np.asarray(self._arrays[entry["array"]])
        return {"keys": entry["keys"], "steps": entry["steps"],
                "curves": dict(zip(entry["configs"], rows))}


def load_views(directory: str | os.PathLike) -> Views:
    """The views of ``directory`` (a results directory or its results file); where the file is
    absent or unreadable, an empty :class:`Views` whose ``reason`` says so."""
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    file = directory / VIEWS_FILE
    if not file.is_file():
        return Views(reason=f"no {VIEWS_FILE} in {str(directory)!r} (written by an older version,"
                            " or deleted)")
    try:
        arrays = np.load(file, allow_pickle=False)
        index = json.loads(bytes(arrays[INDEX]).decode())
    except (OSError, ValueError, KeyError) as error:
        return Views(reason=f"{str(file)!r} cannot be read ({error})")
    if index.get("schema") != SCHEMA:
        return Views(reason=f"{str(file)!r} is of another version ({index.get('schema')!r}, this"
                            f" version reads {SCHEMA!r})")
    return Views(index, arrays)


def how_to_write(records: Sequence[Record], directory: str | os.PathLike) -> str:
    """The command that writes the views of ``directory``: the suite's run, resumed."""
    from bench.suite_files import builtin_suites

    suites = sorted({str(r["suite"]) for r in records if r.get("suite")})
    suite, whose = "SUITE", ""
    if len(suites) == 1 and suites[0] in builtin_suites():
        suite = suites[0]
    elif len(suites) == 1:  # a suite file's name is not how the command finds it: its path is
        suite, whose = "SUITE.toml", f" (SUITE.toml: the file suite {suites[0]!r} was run from)"
    return (f"`landscape-bench run {suite} --out {directory}`{whose} resumes the run (nothing"
            f" finished is computed again) and writes {VIEWS_FILE}; then build the report again")


def write_views(results, progress=None, seen=None) -> Path:
    """Compute the views of an open :class:`bench.run.results.ResultsDir` (locked by the caller)
    and replace ``views.npz`` with them; returns its path. Imports the landscapes and optimizers.
    ``seen``: what :func:`bench.run.views_writer.start_collecting` noted of the run's own records
    (the file is then not read back where the old views cover what it held before)."""
    from bench.run.views_writer import collect_views

    old = load_views(results.path)
    index, arrays = collect_views(results, old, seen)
    file = results.path / VIEWS_FILE
    _write_atomic(file, index, arrays)
    if progress is not None:
        progress(f"views: {len(index['problems'])} problems, {len(index['gaps'])} trajectories,"
                 f" {len(index['schedules'])} schedules -> {file}")
    return file


def _write_atomic(file: Path, index: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    payload = {INDEX: np.frombuffer(json.dumps(dict(index, schema=SCHEMA)).encode(), np.uint8),
               **arrays}
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, file)
    except OSError as error:
        why = "the disk is full" if error.errno == errno.ENOSPC else error.strerror
        raise InputError(f"cannot write {file} ({why}); the records are kept: free space (or fix"
                         " the folder) and rerun the same command, which only writes the views") from None
    finally:
        if temporary.exists():
            temporary.unlink()
