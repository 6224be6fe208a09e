"""Suites: what to run, as TOML. ``default`` and ``quick`` ship with the package (bench/suite_files/).

A suite names landscapes (with dimension and instances), optimizer families with a schedule and a
search space, the starts and seeds, the step budget, the targets and the dtype. Everything is checked
here, before anything compiles, so a typo costs a one-line error rather than a half-finished run.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import sys
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

import landscapes
import optimizers
from bench.core.step import LOOPS as ENGINE_LOOPS
from bench.core.targets import COCO51_TARGETS, COCO_TARGETS
from bench.suite_files import builtin_suites
from bench.run.reference import check_methods
from landscapes.errors import InputError, unknown_name
from landscapes.instances import check_own_instance
from optimizers.spaces import (MAX_GRID_CONFIGS, Grid, LogUniform, Uniform, grid_configs,
                               random_configs)

SUITE_KEYS = {"name", "description", "steps", "targets", "success_target", "dtype", "seeds",
              "test_seeds", "starts", "instances", "trajectory_every", "landscapes", "optimizer",
              "mnist", "unroll", "loop", "chunk_size", "references", "imports"}
DEFAULT_GRID_POINTS = 5
MAX_SEED = 2**32 - 1  # the runner keys its random streams with uint32 seeds
# Runs of one job (configs x instances x seeds x starts): 1M runs took 560 MiB, so past this the
# per-run inputs and outputs alone would not fit a large host.
# Every 20th iterate of the test runs (the only records that keep paths): 101 points per run at
# 2,000 steps, enough for a smooth path on a contour and a gap curve, a few kB per record.
DEFAULT_TRAJECTORY_EVERY = 20
MAX_RUNS_PER_JOB = 1 << 25
MAX_CHUNK_SIZE = 1 << 22  # runs per device and call; a chunk is padded to it
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # the default results folder is results/NAME
OPTIMIZER_KEYS = {"family", "schedule", "search", "trials", "seed", "space", "label"}


@dataclasses.dataclass(frozen=True)
class LandscapeEntry:
    name: str
    dim: int
    instances: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class OptimizerEntry:
    """One optimizer family with a schedule and a search over its hyperparameters."""

    family: str
    schedule: str
    search: str  # "grid" or "random"
    trials: int  # random search: number of configs
    seed: int
    space: Mapping[str, Any]  # name -> optimizers.spaces dimension or fixed value
    label: str  # how tables and figures name this entry, "family/schedule" by default

    def configs(self) -> dict[str, np.ndarray]:
        """The concrete config batch (every hyperparameter, defaults filled in), validated."""
        if self.search == "grid":
            batch = grid_configs(self.space)
        else:
            batch = random_configs(self.space, self.trials, self.seed)
        size = len(next(iter(batch.values()))) if batch else 1
        defaults = optimizers.config_defaults(self.family, self.schedule)
        full = {k: np.full(size, v, np.float64) for k, v in defaults.items()}
        full.update(batch)
        optimizers.validate_config(self.family, self.schedule, full)
        return full


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    description: str
    steps: int
    targets: tuple[float, ...]
    success_target: float
    dtype: str
    seeds: tuple[int, ...]
    test_seeds: tuple[int, ...]
    starts: int
    landscapes: tuple[LandscapeEntry, ...]
    optimizers: tuple[OptimizerEntry, ...]
    trajectory_every: int
    unroll: int
    chunk_size: int | None
    mnist: Mapping[str, Any] | None
    source: str  # where the suite was read from
    references: tuple[str, ...] = ()  # scipy.optimize methods run as reference rows
    imports: tuple[str, ...] = ()  # the user's modules that register landscapes or optimizers
    import_dirs: tuple[str, ...] = ()  # where they are looked for first (the suite file's folder)
    loop: str = "auto"  # "scan", "fused" (one GPU kernel, bench.core.fused) or "auto" (fused where it can)

    def settings(self) -> dict[str, Any]:
        """The settings shared by every job: part of every record's identity (``imports`` only
        where there are some, so suites without them keep the ids they always had; a lone rerun
        imports them again)."""
        settings = dict(steps=self.steps, targets=list(self.targets), dtype=self.dtype,
                        seeds=list(self.seeds), starts=self.starts,
                        trajectory_every=self.trajectory_every, unroll=self.unroll)
        if self.imports:
            settings["imports"] = list(self.imports)
        if self.loop != "auto":  # only where chosen, so suites without it keep their ids
            settings["loop"] = self.loop
        return settings


def import_modules(names, dirs=(), where: str = "suite") -> None:
    """Import the user's modules that register landscapes, optimizer families or schedules (a
    suite's ``imports = ["my_landscapes"]``), looking in ``dirs`` (the suite file's folder) and the
    working directory before ``sys.path``. A module that cannot be imported is a one-line
    InputError naming it."""
    for name in names:
        if (not isinstance(name, str) or name.endswith(".py")
                or not all(part.isidentifier() for part in name.split("."))):
            stem = Path(str(name)).name.removesuffix(".py")
            raise InputError(f"{where}: {name!r} is not a module name; give the module's name"
                             f" without folder or .py (e.g. {stem!r}), with its file beside the"
                             " suite file, in the working directory or on PYTHONPATH")
    extra = [d for d in (*dirs, str(Path.cwd())) if d not in sys.path]
    sys.path[:0] = extra
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as error:
                beside = "next to the suite file, " if dirs else ""
                raise InputError(f"{where}: cannot import {name!r} ({error}); put {name}.py"
                                 f" {beside}in the working directory or on PYTHONPATH") from None
            except Exception as error:  # noqa: BLE001 (the user's module failed: say which and how)
                raise InputError(f"{where}: importing {name!r} failed:"
                                 f" {type(error).__name__}: {error}") from None
    finally:
        for entry in extra:
            if entry in sys.path:
                sys.path.remove(entry)


def load_suite(name_or_path: str | None = None) -> Suite:
    """A built-in suite by name (``default``, ``quick``) or a TOML file by path."""
    if name_or_path is None:
        name_or_path = "default"
    if not str(name_or_path).strip():
        raise InputError(f"the suite name is empty; give a built-in suite ({', '.join(builtin_suites())})"
                         " or a .toml file")
    path = Path(name_or_path)
    # A built-in name wins over a folder of that name (``results/quick`` is where a run of the
    # quick suite writes, so ``cd results && landscape-bench run quick`` must still mean the suite).
    if path.suffix == ".toml" or path.is_file() or (path.exists() and name_or_path not in builtin_suites()):
        try:
            text = path.read_bytes().decode("utf-8-sig")  # TOML is UTF-8; a BOM is tolerated
        except UnicodeDecodeError as error:
            raise InputError(f"suite file {name_or_path!r} is not UTF-8 text (byte {error.start});"
                             " save it as UTF-8") from None
        except OSError as error:
            raise InputError(f"cannot read suite file {name_or_path!r} ({error.strerror}); give a"
                             f" .toml file or a built-in suite ({', '.join(builtin_suites())})") from None
        source = str(path)
    else:
        if name_or_path not in builtin_suites():
            raise unknown_name("suite", name_or_path, builtin_suites())
        text = resources.files("bench.suite_files").joinpath(f"{name_or_path}.toml").read_text("utf-8")
        source = f"builtin:{name_or_path}"
    return parse_suite(text, source=source, default_name=path.stem)


def parse_suite(text: str, *, source: str = "<string>", default_name: str = "suite") -> Suite:
    """Parse and check a suite TOML document; every problem is an InputError naming the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"suite {source}: malformed TOML: {error}") from None
    return suite_from_doc(doc, source=source, default_name=default_name)


def suite_from_doc(doc: Mapping[str, Any], *, source: str = "<string>", default_name: str = "suite",
                   where: str | None = None) -> Suite:
    """The checks of :func:`parse_suite` on a suite already read into a dict (``rerun`` checks a
    record's stored settings with them); ``where`` begins every error (default: the suite's
    source)."""
    where = where or f"suite {source}"
    _no_unknown_keys(doc, SUITE_KEYS, where)
    imports = doc.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(m, str) and m for m in imports):
        raise InputError(f"{where}: imports must be a list of module names, e.g. [\"my_landscapes\"]")
    import_dirs = (str(Path(source).resolve().parent),) if Path(source).is_file() else ()
    import_modules(imports, import_dirs, where)  # before any name below is looked up
    steps = _int(doc, "steps", where, 1000, low=1, high=10_000_000)
    targets = _targets(doc, where)
    success_target, dtype = _success_and_dtype(doc, targets, where)
    seeds, test_seeds = _seeds(doc, where)
    starts = _int(doc, "starts", where, 8, low=1, high=1_000_000)
    land = _landscape_entries(doc, where)
    opt_entries = _optimizer_entries(doc, land, len(seeds) * starts, where)
    mnist = doc.get("mnist")
    if mnist is not None and not (isinstance(mnist, dict) or (
            isinstance(mnist, list) and all(isinstance(m, dict) for m in mnist))):
        raise InputError(f"{where}: mnist must be a [mnist] table or [[mnist]] tables")
    chunk = doc.get("chunk_size")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InputError(f"{where}: name must be 1-100 letters, digits, '_', '-' or '.' (not"
                         f" first), as it names the results folder; got {name!r}")
    return Suite(
        name=name,
        description=str(doc.get("description", "")),
        steps=steps, targets=targets, success_target=success_target, dtype=dtype, seeds=seeds,
        test_seeds=test_seeds, starts=starts, landscapes=land, optimizers=opt_entries,
        trajectory_every=_int(doc, "trajectory_every", where, min(DEFAULT_TRAJECTORY_EVERY, steps),
                              low=0, high=steps),
        unroll=_int(doc, "unroll", where, 2, low=1, high=256),
        loop=_loop(doc.get("loop", "auto"), where),
        chunk_size=None if chunk is None else _int(doc, "chunk_size", where, 0, low=1,
                                                   high=MAX_CHUNK_SIZE),
        mnist=mnist, source=source, references=check_methods(doc.get("references", [])),
        imports=tuple(imports), import_dirs=import_dirs)


def _success_and_dtype(doc: Mapping[str, Any], targets: tuple[float, ...], where: str) -> tuple[float, str]:
    success_target = _float(doc, "success_target", where, 1e-6, positive=True)
    dtype = doc.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise InputError(f"{where}: dtype must be 'float32' or 'float64'; got {dtype!r}")
    _held_in(targets, dtype, where)
    close = [t for t in targets if math.isclose(t, success_target, rel_tol=1e-9)]
    if not close:  # success is read off the per-target hits: it must be one of them
        raise InputError(f"{where}: success_target {success_target:g} must be one of the targets"
                         f" ({', '.join(f'{t:g}' for t in targets)}); add it to targets")
    return close[0], dtype


def _held_in(targets: tuple[float, ...], dtype: str, where: str) -> None:
    """Refuse targets the runs' dtype cannot hold apart: outside its normal range (inf or 0 there,
    or a few bits only) or two that become one number."""
    import numpy as np  # here: listing suites imports no numpy

    info = np.finfo(dtype)
    outside = [t for t in targets if not float(info.tiny) <= t <= float(info.max)]
    if outside:
        raise InputError(f"{where}: targets {', '.join(f'{t:g}' for t in outside)} cannot be held in"
                         f" {dtype} (from {info.tiny:.3g} to {info.max:.3g}); use targets in that"
                         " range, or dtype = \"float64\"")
    first: dict[float, float] = {}  # each number in the dtype -> the target that became it
    for target, held in zip(targets, np.asarray(targets, dtype).tolist()):
        a, b = first.setdefault(held, target), target
        if a == b:
            continue
        raise InputError(f"{where}: targets {a!r} and {b!r} are the same number in {dtype}; give"
                         " targets further apart, or dtype = \"float64\"")


def _seeds(doc: Mapping[str, Any], where: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    seeds = tuple(_ints(doc, "seeds", where, (0,), low=0, high=MAX_SEED))
    test_seeds = tuple(_ints(doc, "test_seeds", where, (1000,), low=0, high=MAX_SEED))
    reused = sorted(set(seeds) & set(test_seeds))
    if reused:
        raise InputError(f"{where}: test_seeds must be fresh, not tuning seeds: {reused} are in"
                         " both; the tuned config is judged on starts it was not chosen on")
    return seeds, test_seeds


def _landscape_entries(doc: Mapping[str, Any], where: str) -> tuple[LandscapeEntry, ...]:
    # None: not given, so each landscape takes its own first instance (0, or 1 for BBOB's).
    default_instances = (tuple(_ints(doc, "instances", where, (0,), low=0, high=MAX_SEED))
                         if "instances" in doc else None)
    entries = doc.get("landscapes", [])
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where}: 'landscapes' must be a non-empty list of names or"
                         " {name=..., dim=..., instances=[...]} tables")
    land = tuple(_landscape_entry(e, default_instances, where) for e in entries)
    seen: dict[tuple[str, int], int] = {}
    for index, entry in enumerate(land):
        first = seen.setdefault((entry.name, entry.dim), index)
        if first != index:
            raise InputError(f"{where}: landscapes #{first + 1} and #{index + 1} are both"
                             f" {entry.name!r} in dim {entry.dim}; list every instance in one entry")
    return land


def _optimizer_entries(doc: Mapping[str, Any], land: tuple[LandscapeEntry, ...], runs_per_config: int,
                       where: str) -> tuple[OptimizerEntry, ...]:
    """The [[optimizer]] tables, checked: labels unique, every job within MAX_RUNS_PER_JOB."""
    opts = doc.get("optimizer", [])
    if not isinstance(opts, list) or not opts:
        raise InputError(f"{where}: add at least one [[optimizer]] table with a 'family'")
    checked = [_optimizer_entry(o, i, where) for i, o in enumerate(opts)]  # (entry, its configs)
    opt_entries = tuple(entry for entry, _ in checked)
    labels: dict[str, int] = {}
    for index, entry in enumerate(opt_entries):
        first = labels.setdefault(entry.label, index)
        if first != index:  # tables, tuning and reports group runs by label
            raise InputError(f"{where}: optimizers #{first + 1} and #{index + 1} have the same label"
                             f" {entry.label!r}; give each its own label = \"...\"")
    for entry, n_configs in checked:
        for land_entry in land:
            runs = n_configs * len(land_entry.instances) * runs_per_config
            if runs > MAX_RUNS_PER_JOB:
                raise InputError(
                    f"{where}: {land_entry.name} x {entry.label} is {runs:,} runs (configs x instances"
                    f" x seeds x starts), above the limit {MAX_RUNS_PER_JOB:,}; use fewer")
    return opt_entries


LOOPS = ("auto", *ENGINE_LOOPS)


def _loop(value: Any, where: str) -> str:
    if value not in LOOPS:
        raise InputError(f"{where}: loop must be one of {', '.join(map(repr, LOOPS))}; got {value!r}")
    return value


def _landscape_entry(entry: Any, default_instances, where: str) -> LandscapeEntry:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise InputError(f"{where}: each landscapes entry is a name or a table with 'name'; got {entry!r}")
    _no_unknown_keys(entry, {"name", "dim", "instances"}, f"{where}, landscape {entry['name']!r}")
    landscape = landscapes.get_landscape(str(entry["name"]))
    dim = entry.get("dim")
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool)):
        raise InputError(f"{where}: landscape {landscape.name!r}: dim must be an integer; got {dim!r}")
    dim = landscape.resolve_dim(dim)
    own = landscape.instance_data is not None  # COCO's instance numbers, from 1
    if default_instances is None:
        default_instances = (1,) if own else (0,)
    instances = tuple(_ints(entry, "instances", f"{where}, landscape {landscape.name!r}",
                            default_instances, low=-MAX_SEED if own else 0, high=MAX_SEED))
    if own:
        for instance in instances:
            try:
                check_own_instance(landscape, instance)
            except InputError as error:
                raise InputError(f"{where}: {error}") from None
    if own and landscape.instance_shapes is not None:
        try:  # a dim the data cannot be built at (a BBOB rotation past bbob.MAX_ROTATED_DIM)
            landscape.instance_shapes(dim)
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
    return LandscapeEntry(landscape.name, dim, instances)


def _optimizer_entry(entry: Any, index: int, where: str) -> tuple[OptimizerEntry, int]:
    """The entry, checked, and how many configs its search runs."""
    here = f"{where}, optimizer #{index + 1}"
    if not isinstance(entry, dict) or "family" not in entry:
        raise InputError(f"{here}: needs a 'family' (known: {', '.join(sorted(optimizers.FAMILIES))})")
    _no_unknown_keys(entry, OPTIMIZER_KEYS, here)
    family = optimizers.get_family(str(entry["family"])).name
    schedule = optimizers.get_schedule(str(entry.get("schedule", "constant"))).name
    search = entry.get("search", "grid")
    if search not in ("grid", "random"):
        raise InputError(f"{here}: search must be 'grid' or 'random'; got {search!r}")
    if search == "grid" and ({"trials", "seed"} & set(entry)):
        raise InputError(f"{here}: trials and seed are for search = \"random\"; remove them or"
                         " set search = \"random\" (a grid runs every combination)")
    raw_space = entry.get("space")
    if raw_space is None:
        space = dict(optimizers.default_space(family, schedule))
        if search == "grid":  # a default continuous range becomes DEFAULT_GRID_POINTS values
            space = {k: v.grid(DEFAULT_GRID_POINTS) if hasattr(v, "grid") else v
                     for k, v in space.items()}
    elif isinstance(raw_space, dict):
        known = set(optimizers.config_defaults(family, schedule))
        for key in raw_space:
            if key not in known:
                raise unknown_name(f"hyperparameter of {family}/{schedule} in {here}:", key, known)
        space = {k: _dimension(v, f"{here}, space.{k}", search) for k, v in raw_space.items()}
    else:
        raise InputError(f"{here}: space must be a table of hyperparameter = values")
    label = entry.get("label", f"{family}/{schedule}")
    if not isinstance(label, str) or not label.strip():
        raise InputError(f"{here}: label = {label!r} names nothing; give a non-empty string such as"
                         f" \"{family}/{schedule}\" (or leave label out)")
    if not label.isprintable():  # a line break split its rows of report.md's tables in two
        raise InputError(f"{here}: label = {label!r} holds a line break or other control character;"
                         " give one line of text")
    out = OptimizerEntry(family, schedule, search,
                         _int(entry, "trials", here, 32, low=1, high=10_000_000),
                         _int(entry, "seed", here, 0, low=0), space, label)
    try:
        configs = out.configs()  # validate the values now, before anything compiles
    except InputError as error:
        raise InputError(f"{here}: {error}") from None
    return out, len(next(iter(configs.values())))


def _dimension(value: Any, where: str, search: str) -> Any:
    """TOML -> search dimension: a list is a grid, {log_uniform=[lo, hi], num=n} a distribution."""
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a number, a list or a distribution table; got {value!r}")
    if isinstance(value, (int, float)):
        return _as_float(value, where)
    if isinstance(value, list):
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise InputError(f"{where}: a list of values must hold numbers only; got {value!r}")
        return Grid(tuple(_as_float(v, where) for v in value))
    if isinstance(value, dict):
        _no_unknown_keys(value, {"log_uniform", "uniform", "num"}, where)
        kinds = [k for k in ("log_uniform", "uniform") if k in value]
        if len(kinds) != 1:
            raise InputError(f"{where}: give exactly one of log_uniform=[low, high] or uniform=[low, high]")
        bounds = value[kinds[0]]
        if (not isinstance(bounds, list) or len(bounds) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
            raise InputError(f"{where}: {kinds[0]} needs [low, high]; got {bounds!r}")
        try:  # the bounds' own checks, with the key in front
            dimension = (LogUniform if kinds[0] == "log_uniform" else Uniform)(
                *(_as_float(b, where) for b in bounds))
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
        if search == "random" and "num" in value:
            raise InputError(f"{where}: num is the number of grid points; random search draws"
                             " trials = N configs from the range, so remove num")
        if search == "grid":
            num = value.get("num")
            if not isinstance(num, int) or isinstance(num, bool) or not 1 <= num <= MAX_GRID_CONFIGS:
                raise InputError(f"{where}: grid search over a {kinds[0]} range needs num = N"
                                 f" in [1, {MAX_GRID_CONFIGS}]; got {num!r}")
            return dimension.grid(num)
        return dimension
    raise InputError(f"{where}: expected a number, a list or a distribution table; got {value!r}")


def _no_unknown_keys(table: Mapping, known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise unknown_name(f"key in {where}:", key, known)


def _int(doc, key, where, default, *, low=None, high=None) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{where}: {key} must be an integer; got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{where}: {key} must be in [{low}, {high if high is not None else 'inf'}];"
                         f" got {value}")
    return value


def _ints(doc, key, where, default, *, low=0, high=None) -> list[int]:
    value = doc.get(key, list(default))
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low
                       and (high is None or v <= high) for v in value)):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"{where}: {key} must be a non-empty list of integers {bound}; got {value!r}")
    if len(set(value)) != len(value):
        raise InputError(f"{where}: {key} has repeated values: {value!r}")
    return value


def _as_float(value: int | float, where: str) -> float:
    try:  # TOML integers are unbounded in tomllib; float() of a huge one overflows
        return float(value)
    except OverflowError:
        raise InputError(f"{where}: {value!r:.40} is too large for a float") from None


def _float(doc, key, where, default, *, positive=False) -> float:
    value = doc.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = _as_float(value, f"{where}: {key}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{where}: {key} must be a finite number; got {value!r}")
    if positive and value <= 0:
        raise InputError(f"{where}: {key} must be > 0; got {value}")
    return float(value)


# Named target sets a suite can give as ``targets = "name"``.
TARGET_SETS = {"coco8": COCO_TARGETS, "coco51": COCO51_TARGETS}


def _targets(doc, where) -> tuple[float, ...]:
    value = doc.get("targets")
    if isinstance(value, str):
        if value not in TARGET_SETS:
            raise InputError(f"{where}: targets must be a list of numbers or one of"
                             f" {', '.join(map(repr, TARGET_SETS))}; got {value!r}")
        return TARGET_SETS[value]
    targets = _floats(doc, "targets", where, COCO_TARGETS, positive=True)
    repeated = sorted({t for t in targets if targets.count(t) > 1}, reverse=True)
    if repeated:  # each target is a column of the records: one column per level
        raise InputError(f"{where}: targets repeat {', '.join(f'{t:g}' for t in repeated)}; give each"
                         " target once")
    return tuple(targets)


def _floats(doc, key, where, default, *, positive=False) -> list[float]:
    value = doc.get(key, list(default))
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: {key} must be a non-empty list of numbers; got {value!r}")
    return [_float({key: v}, key, where, None, positive=positive) for v in value]
