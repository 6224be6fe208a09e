"""Compute the views (:mod:`bench.run.views`) of a results directory: one pass over its records,
then the landscapes and schedules they name. Entries already in the old views are kept."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.run import figure_data
from bench.run.records import as_float, is_landscape_record
from bench.run.results import to_jsonable
from bench.run.views import GAPS, Views, load_views, problem_key, schedule_config_key
from landscapes.errors import InputError

Record = Mapping[str, Any]


class _Collector:
    """What one pass over the records finds: problems with their dtypes, trajectories' gaps,
    labels' schedule configs."""

    def __init__(self, old: Views):
        self.old = old
        self.problems: dict[str, dict[str, Any]] = {}  # key -> (landscape, instance, dim, dtypes)
        self.gaps: dict[str, np.ndarray] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.unavailable: dict[str, str] = {}
        # bytes of the results file before the first record this collector saw appended (None:
        # it missed one, so the file is read back)
        self.start_bytes: int | None = 0

    def visit(self, record: Record) -> None:
        if not is_landscape_record(record):
            return
        dim = record.get("dim")
        key = problem_key(record["landscape"], int(record.get("instance", 0)), dim)
        problem = self.problems.setdefault(key, {"landscape": record["landscape"], "dim": dim,
                                                 "instance": int(record.get("instance", 0)),
                                                 "dtypes": set()})
        problem["dtypes"].add(str(record.get("dtype", "float32")))
        if record.get("trajectory") is not None:
            self._gap(record)
        if not record.get("reference") and record.get("schedule") is not None:
            entry = self.schedules.setdefault(record["label"], {
                "family": record["family"], "schedule": record["schedule"], "steps": 0, "configs": {}})
            entry["steps"] = max(entry["steps"], int(record["steps"]))
            entry["configs"].setdefault(json.dumps(sorted(record["config"].items())), record["config"])

    def _gap(self, record: Record) -> None:
        record_id = record["record_id"]
        kept = self.old.gap(record_id)
        if kept is not None:
            self.gaps[record_id] = kept
            return
        try:
            function = figure_data.landscape_function(record["landscape"], int(record.get("instance", 0)),
                                                      record.get("dim"))
        except InputError as error:
            self.unavailable[record["landscape"]] = f"{record['landscape']}: {error}"
            return
        points = as_float(record["trajectory"])  # (runs, K, dim)
        values = function(points.reshape(-1, points.shape[-1])).reshape(points.shape[:2])
        self.gaps[record_id] = values - float(record["f_star"])


def _problem_entry(found: Mapping[str, Any], old: Mapping[str, Any] | None,
                   old_views: Views) -> tuple[dict[str, Any], np.ndarray | None]:
    """The index entry of one (landscape, instance, dim) and its contour grid (2-D only)."""
    import landscapes
    from landscapes.instances import instance_minimizers, instance_minimum, make_instance

    name, instance, dim = found["landscape"], found["instance"], found["dim"]
    land = landscapes.get_landscape(name)
    made = make_instance(land, instance, dim)
    floors = dict(old["floors"]) if old else {}
    for dtype in sorted(found["dtypes"]):
        if dtype not in floors:
            floors[dtype] = _finite_or_none(figure_data.precision_floor(name, instance, dim, dtype))
    entry = {"landscape": name, "instance": instance, "dim": dim,
             "f_star": float(instance_minimum(land, made)),
             "minimizers": np.asarray(instance_minimizers(land, made), float).tolist(),
             "box": land.box(made.dim).tolist(), "start_box": land.start_box(made.dim).tolist(),
             "floors": floors, "contour": None}
    grid = None
    if made.dim == 2:
        kept = old_views.contour(name, instance) if old else None
        grid = kept[1] if kept is not None else figure_data.contour_grid(name, instance)[1]
    return entry, grid


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class _FullPass(Exception):
    """Records added since the old views cannot be merged into them: read the whole file."""


def _schedule_rows(label: str, found: Mapping[str, Any], old_views: Views) -> tuple[dict, np.ndarray]:
    """The index entry and curves (configs, steps) of one label's distinct schedule configs; the
    old views' curves are kept, only new configs are computed."""
    keys = figure_data.schedule_keys(found["schedule"])
    configs: dict[str, dict[str, float]] = {}
    for config in found["configs"].values():
        configs.setdefault(schedule_config_key(config, keys), config)
    old = old_views.schedule(label)
    same = (old is not None and old["steps"] == found["steps"] and old["keys"] == keys
            and old_views.index["schedules"][label]["family"] == found["family"])
    kept = old["curves"] if same else {}
    every = sorted(set(configs) | set(found.get("kept", ())))
    missing = [k for k in every if k not in kept]
    if any(k not in configs for k in missing):
        raise _FullPass(label)
    rows = dict(kept)
    if missing:
        rows.update(zip(missing, figure_data.learning_rate_curves(
            found["family"], found["schedule"], [configs[k] for k in missing], found["steps"])))
    entry = {"family": found["family"], "schedule": found["schedule"], "steps": found["steps"],
             "keys": keys, "configs": every}
    return entry, np.stack([rows[k] for k in every])


def start_collecting(results) -> _Collector:
    """A collector fed by ``results.append`` from now on (:class:`bench.run.results.ResultsDir`,
    open for writing): :func:`collect_views` then reads back only what the run did not see, where
    the old views cover the file as it was."""
    collector = _Collector(load_views(results.path))
    collector.start_bytes = results.valid_bytes()

    def observe(record: Record) -> None:
        if collector.start_bytes is None:
            return
        try:
            collector.visit(_light(record))
        except Exception:  # noqa: BLE001 (never fail a job for its views: read back at the end)
            collector.start_bytes = None

    results.on_append.append(observe)
    return collector


def _light(record: Record) -> dict[str, Any]:
    """The fields the views read, as JSON would give them back (a written record holds numpy values)."""
    fields = ("landscape", "instance", "dim", "dtype", "record_id", "f_star", "reference", "schedule",
              "family", "label", "steps", "config", "kind")
    light = to_jsonable({k: record[k] for k in fields if k in record})
    if record.get("trajectory") is not None:
        light["trajectory"] = record["trajectory"]
    return light


def _seed(collector: _Collector, old: Views) -> None:
    """Start from the old views' entries (the records the file held before this run)."""
    for key, entry in old.index["problems"].items():
        collector.problems[key] = {"landscape": entry["landscape"], "instance": entry["instance"],
                                   "dim": entry["dim"], "dtypes": set(entry["floors"])}
    for record_id in old.index["gaps"]:
        collector.gaps[record_id] = old.gap(record_id)
    for label, entry in old.index["schedules"].items():
        collector.schedules[label] = {"family": entry["family"], "schedule": entry["schedule"],
                                      "steps": entry["steps"], "configs": {}, "kept": entry["configs"]}
    collector.unavailable.update({f"old {i}": note for i, note in enumerate(old.unavailable)})


def collect_views(results, old: Views, seen: _Collector | None = None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(index, arrays) of the views of ``results`` (a :class:`bench.run.results.ResultsDir`).
    ``seen``: the records this run appended (:func:`start_collecting`); where the file was new or
    the old views cover it as it was before them, they are merged into the old views and nothing
    is read back."""
    covered = seen is not None and seen.start_bytes is not None and (seen.start_bytes == 0 or (
        old.available and old.index.get("results_bytes") == seen.start_bytes))
    if covered:  # a new file, or one the old views describe up to this run's first record
        merged = _Collector(old)
        if seen.start_bytes:
            _seed(merged, old)
        merged.gaps.update(seen.gaps)
        for key, found in seen.problems.items():
            merged.problems[key] = dict(found, dtypes=found["dtypes"] | merged.problems.get(
                key, {"dtypes": set()})["dtypes"])
        for label, found in seen.schedules.items():
            kept = merged.schedules.get(label, {}).get("kept", ())
            merged.schedules[label] = dict(found, kept=kept)
        merged.unavailable.update(seen.unavailable)
        try:
            return _assemble(merged, old, results)
        except _FullPass:
            pass
    collector = _Collector(old)
    results.visit_records(collector.visit)
    return _assemble(collector, old, results)


def _assemble(collector: _Collector, old: Views, results) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    index: dict[str, Any] = {"problems": {}, "gaps": {}, "schedules": {}}
    arrays: dict[str, np.ndarray] = {}
    unavailable = dict(collector.unavailable)
    for key, found in collector.problems.items():
        try:
            entry, grid = _problem_entry(found, old.index["problems"].get(key), old)
        except InputError as error:
            unavailable[found["landscape"]] = f"{found['landscape']}: {error}"
            continue
        if grid is not None:
            entry["contour"] = f"contour_{len(index['problems'])}"
            arrays[entry["contour"]] = np.asarray(grid, np.float64)
        index["problems"][key] = entry
    offset, pieces = 0, []
    for record_id, gap in collector.gaps.items():
        index["gaps"][record_id] = [offset, *gap.shape]
        pieces.append(gap.ravel())
        offset += gap.size
    arrays[GAPS] = np.concatenate(pieces) if pieces else np.zeros(0)
    for label, found in collector.schedules.items():
        try:
            entry, rows = _schedule_rows(label, found, old)
        except InputError as error:
            unavailable[f"schedule {label}"] = f"{label}: {error}"
            continue
        entry["array"] = f"schedule_{len(index['schedules'])}"
        arrays[entry["array"]] = np.asarray(rows, np.float64)
        index["schedules"][label] = entry
    index["unavailable"] = sorted(set(unavailable.values()))
    index["results_bytes"] = results.file.stat().st_size if results.file.exists() else 0
    return index, arrays
