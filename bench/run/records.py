"""Records: the phases, the target a record counts as success, and the tuning protocol.

One home for the rules that the runner applies while it runs and the analysis applies when it
reads: which target index is the success target, how a config's runs rank (the selection key),
which config is the tuned one, and which test records a table compares.

The tuning protocol: every config of the search runs on the tuning seeds and all instances; the
best config has the highest success rate at the success target, ties broken by the lower median
steps-to-target, then the lower median final gap; it is re-run on the suite's fresh test seeds
(``phase = "test"``), and those runs are what tables and figures compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from landscapes.errors import InputError

TUNE, TEST = "tune", "test"
Record = Mapping[str, Any]


def target_index(record: Record, target: float | None = None) -> int:
    """Index of ``target`` (default: the success target) in the record's targets. A target the
    record was not measured at is an error: the nearest one would be another success criterion."""
    targets = np.asarray(record["targets"], dtype=np.float64)
    target = float(record["success_target"] if target is None else target)
    found = np.flatnonzero(np.isclose(targets, target, rtol=1e-9, atol=0.0))
    if not found.size:
        raise InputError(f"target {target:g} is not among the record's targets"
                         f" ({', '.join(f'{t:g}' for t in targets)}); choose one of them")
    return int(found[0])


def is_landscape_record(record: Record) -> bool:
    """True for a landscape record; False for the MNIST track's records (no ``landscape`` key)."""
    return "landscape" in record and not str(record.get("kind", "")).startswith("mnist")


def as_float(values: Any) -> np.ndarray:
    """JSON values as float64, ``null`` (a stored non-finite number) as NaN."""
    if values is None:
        return np.array(np.nan)
    try:  # numpy reads None as NaN when converting straight to float64 (half the time of the below)
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    array = np.asarray(values, dtype=object)
    return np.where(array == None, np.nan, array).astype(np.float64)  # noqa: E711 (elementwise)


def _floats(values) -> np.ndarray:
    """A record's float column (JSON null for a non-finite value) as float64."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    return np.array([np.nan if v is None else v for v in values], np.float64)


def key_of(reached: np.ndarray, steps: np.ndarray, final_gaps: np.ndarray) -> tuple[float, float, float]:
    """The selection key of one config from its pooled runs at the success target (lower is
    better): minus the success rate, the median steps-to-target, the median final gap (a
    non-finite gap counts as +inf)."""
    gaps = np.where(np.isfinite(final_gaps), final_gaps, np.inf)
    return (-float(np.mean(reached)), float(np.median(steps)), float(np.median(gaps)))


def columns(record: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three columns the selection key reads from one record."""
    index = target_index(record)
    runs = record["runs"]
    return (np.asarray(runs["reached"], bool)[:, index],
            np.asarray(runs["steps_to_target"])[:, index], _floats(runs["final_gap"]))


class Selection:
    """The tuning protocol over a job's records as they stream. A config's columns are kept until
    its records of every instance are in, then reduced to its key, so a grid of a million configs
    is chosen from in bounded memory."""

    def __init__(self, instances: int) -> None:
        self.instances = instances
        self.columns: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.keys: dict[int, tuple[float, float, float]] = {}
        self.configs: dict[int, dict[str, float]] = {}

    def add(self, record: Record) -> None:
        self.add_columns(record["config_index"], record["config"], columns(record))

    def add_columns(self, config: int, values: Mapping[str, float],
                    cols: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """One record's part: its config index and values and its :func:`columns`."""
        self.columns.setdefault(config, []).append(cols)
        self.configs.setdefault(config, dict(values))
        if len(self.columns[config]) == self.instances:
            self.keys[config] = key_of(*(np.concatenate(c) for c in zip(*self.columns.pop(config))))

    def best(self) -> dict[str, float]:
        keys = dict(self.keys)
        keys.update({c: key_of(*(np.concatenate(x) for x in zip(*cols)))
                     for c, cols in self.columns.items()})
        best = min(sorted(keys), key=keys.__getitem__)
        return dict(self.configs[best])


def best_config(records: Iterable[Record]) -> dict[str, float]:
    """The tuned config of one (landscape, optimizer entry)'s tuning records."""
    records = list(records)
    selection = Selection(len({r["instance"] for r in records}))
    for record in records:
        selection.add(record)
    return selection.best()


def tuned_test_records(tune: Sequence[Record], test: Sequence[Record]) -> list[Record]:
    """The test records of one (landscape, optimizer label) that a table compares: those of the
    config the tuning records present choose. A folder that gained instances after a first run
    holds test records of the config tuned on the first instances too; they are not pooled."""
    configs = {tuple(sorted(dict(r["config"]).items())) for r in test}
    if not tune or len(configs) < 2:  # one tuned config: nothing to choose between
        return list(test)
    chosen = best_config(tune)
    return [r for r in test if dict(r["config"]) == chosen] or list(test)
