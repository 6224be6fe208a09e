"""A record recomputed alone from its stored identity: ``landscape-bench rerun`` and
``bench.tools.rerun_all``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

import landscapes
import optimizers
from bench.core.step import LOOPS
from bench.run.records import TEST, TUNE
from bench.run.runner import Job, execute
from bench.run.suites import LandscapeEntry, OptimizerEntry, Suite, suite_from_doc
from landscapes.errors import InputError, unknown_name

# The keys of a sweep record's identity settings (bench.run.suites.Suite.settings).
SETTINGS_KEYS = ("steps", "targets", "dtype", "seeds", "starts", "trajectory_every", "unroll", "loop",
                 "imports")


def rerun_record(record: Mapping[str, Any], *, sharding=None,
                 imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Recompute one record alone from its stored identity (for ``landscape-bench rerun``): the
    same computation as in its job, whatever else that job held.

    A scipy reference record is recomputed from its stored starts; its identity holds no suite
    settings, so ``imports`` (the modules its suite imported, from the other records) are imported
    for a landscape of the user's own."""
    checked = check_identity(record, imports)  # imports the modules its landscape needs, too
    ident = record["identity"]
    if ident.get("kind") == "reference":
        from bench.run.reference import run_reference

        runs, _, _ = run_reference(landscapes.get_landscape(ident["landscape"]), ident["dim"],
                                   ident["instance"], ident["method"],
                                   np.asarray(record["x0"], float), ident["steps"], checked.targets,
                                   noise_seeds=ident.get("noise_seeds"))
        return dict(record, runs=runs)
    name = record.get("suite") if isinstance(record.get("suite"), str) else "rerun"  # a label only
    suite = dataclasses.replace(checked, name=name, success_target=record["success_target"],
                                test_seeds=(), landscapes=(), optimizers=(), source="rerun")
    land = LandscapeEntry(ident["landscape"], ident["dim"], (ident["instance"],))
    label = record.get("label", f"{ident['family']}/{ident['schedule']}")
    opt = OptimizerEntry(ident["family"], ident["schedule"], "grid", 1, 0,
                         {k: v for k, v in ident["config"].items()}, label)
    job = Job(suite, land, opt, ident["phase"], {k: np.array([float(v)]) for k, v in ident["config"].items()},
              suite.seeds)
    if job.loop(ident["instance"]) != ident.get("loop"):
        suite = dataclasses.replace(suite, loop=ident.get("loop", "scan"))
        job = dataclasses.replace(job, suite=suite)
    (new,) = execute(job, sharding=sharding)
    return dict(new, config_index=record["config_index"])


def check_identity(record: Mapping[str, Any], imports: tuple[str, ...] = ()) -> Suite:
    """Refuse, in one line naming the field, an identity a suite file could not have given (a
    record edited by hand or damaged): its settings, landscape, optimizer and config go through
    the same checks as a suite's (:func:`bench.run.suites.suite_from_doc`), so a rerun never starts
    what a run would have refused (a step count of 10^12, no starts, a negative seed, a config
    value out of range, an unknown name); the seeds x starts must be the record's own number of
    runs, a config must hold every hyperparameter, a reference's noise seeds must be the ones its
    run derives. A reference's landscape may be the user's own: ``imports`` (as for
    :func:`rerun_record`) are imported first. Returns the checked settings as a one-landscape,
    one-config suite."""
    where = f"record {str(record.get('record_id'))[:12]}'s identity"
    ident = record.get("identity")
    if not isinstance(ident, dict):
        raise InputError(f"{where} is missing, so it cannot be recomputed (a record written by hand"
                         " or damaged); rerun takes records that landscape-bench wrote")
    entry = {"name": ident.get("landscape"), "dim": ident.get("dim"), "instances": [ident.get("instance")]}
    if ident.get("kind") == "reference":  # its settings are the test phase's; any optimizer will do
        seeds = ident.get("seeds")
        doc = dict(steps=ident.get("steps"), targets=ident.get("targets"), seeds=[_fresh(seeds)],
                   test_seeds=seeds, starts=ident.get("starts"), references=[ident.get("method")],
                   landscapes=[entry], optimizer=[{"family": "sgd"}], imports=list(imports))
        suite = _checked(doc, record, where, ("steps", "targets", "test_seeds", "starts"), ident)
        _check_runs(record, len(suite.test_seeds) * suite.starts, where)
        _check_x0(record, (len(suite.test_seeds) * suite.starts, suite.landscapes[0].dim), where)
        expected = None
        if landscapes.get_landscape(suite.landscapes[0].name).noise_scale:  # as reference_identity
            expected = [[s, j] for s in suite.test_seeds for j in range(suite.starts)]
        if ident.get("noise_seeds") != expected:
            want = ("absent (the landscape has no gradient noise)" if expected is None else
                    "[test seed, start] for each test seed and start, in order")
            raise InputError(f"{where}: noise_seeds must be {want}; got {ident.get('noise_seeds')!r:.80}")
        return suite
    settings, config = ident.get("settings"), ident.get("config")
    if not isinstance(settings, dict):
        raise InputError(f"{where}: settings must be the table of the suite's settings; got {settings!r}")
    for key in settings:
        if key not in SETTINGS_KEYS:
            raise unknown_name(f"key in {where}'s settings:", key, SETTINGS_KEYS)
    if not isinstance(config, dict):
        raise InputError(f"{where}: config must be a table of hyperparameter values; got {config!r}")
    if ident.get("phase") not in (TUNE, TEST):
        raise InputError(f"{where}: phase must be {TUNE!r} or {TEST!r}; got {ident.get('phase')!r}")
    if ident.get("loop", LOOPS[0]) not in LOOPS:  # the loop chosen (old records have none: scan)
        raise InputError(f"{where}: loop must be one of {', '.join(map(repr, LOOPS))};"
                         f" got {ident.get('loop')!r}")
    index = record.get("config_index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise InputError(f"record {str(record.get('record_id'))[:12]}: config_index must be an integer"
                         f" >= 0; got {index!r}")
    seeds = settings.get("seeds")
    doc = {key: settings[key] for key in SETTINGS_KEYS if key in settings}
    doc.update(seeds=seeds, test_seeds=[_fresh(seeds)], landscapes=[entry],
               optimizer=[{"family": ident.get("family"), "schedule": ident.get("schedule"),
                           "space": {k: [v] for k, v in config.items()}}])
    suite = _checked(doc, record, where, ("steps", "targets", "dtype", "seeds", "starts",
                                          "trajectory_every", "unroll"), ident)
    opt = suite.optimizers[0]
    missing = sorted(set(optimizers.config_defaults(opt.family, opt.schedule)) - set(config))
    if missing:  # a run fills the defaults in, so its record holds them all
        raise InputError(f"{where}: config lacks {', '.join(missing)}; a record holds every"
                         f" hyperparameter of {opt.family}/{opt.schedule}")
    _check_runs(record, len(suite.seeds) * suite.starts, where)
    return suite


def _checked(doc: dict[str, Any], record: Mapping[str, Any], where: str, required, ident) -> Suite:
    """The suite ``doc`` describes, checked; ``required`` keys (which a suite may leave out, but a
    record's rerun reads) must be there, and so must the record's success target."""
    if record.get("success_target") is None:
        raise InputError(f"record {str(record.get('record_id'))[:12]}: success_target is missing")
    doc["success_target"] = record["success_target"]
    for key in required:
        if doc.get(key) is None:
            raise InputError(f"{where}: {key} is missing")
    try:
        suite = suite_from_doc(doc, where=where)
    except InputError as error:  # a registry's unknown name or a landscape's dim: name the record
        if str(error).startswith(where):
            raise
        raise type(error)(f"{where}: {error}") from None
    if suite.landscapes[0].dim != ident.get("dim"):  # a suite may leave dim out; a record may not
        raise InputError(f"{where}: dim must be {suite.landscapes[0].dim} for {ident.get('landscape')};"
                         f" got {ident.get('dim')!r}")
    return suite


def _check_runs(record: Mapping[str, Any], runs: int, where: str) -> None:
    """The identity's seeds x starts must be the stored record's number of runs: what the rerun
    compares against (and a bound on what it allocates)."""
    stored = record.get("runs")
    lengths = {len(v) for v in stored.values() if isinstance(v, list)} if isinstance(stored, dict) else set()
    if lengths and lengths != {runs}:
        raise InputError(f"{where}: seeds x starts must be {sorted(lengths)[0]}, the record's number"
                         f" of runs; got {runs}")


def _check_x0(record: Mapping[str, Any], shape: tuple[int, int], where: str) -> None:
    """A reference record's starts: ``shape`` finite numbers."""
    try:
        x0 = np.asarray(record.get("x0"), np.float64)
    except (TypeError, ValueError):  # not numbers, or rows of different lengths
        x0 = None
    if x0 is None or x0.shape != shape or not np.isfinite(x0).all():
        got = "not a table of numbers" if x0 is None else f"shape {x0.shape}"
        raise InputError(f"{where}: x0 must be {shape[0]} finite starts of dimension {shape[1]}"
                         f" (seeds x starts); got {got}")


def _fresh(seeds: Any) -> int:
    """A seed not in ``seeds`` (the checks want the other phase's seeds apart from these)."""
    taken = set(seeds) if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds) else set()
    return next(i for i in range(len(taken) + 1) if i not in taken)


def suite_imports(records) -> tuple[str, ...]:
    """The modules the suites of ``records`` imported (a reference record's landscape may need
    them: its identity names none); a damaged record's are none, as rerun checks its own."""
    def imports_of(record) -> list[str]:
        settings = (record.get("identity") or {}).get("settings")
        names = settings.get("imports", ()) if isinstance(settings, dict) else ()
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    return tuple(sorted({name for record in records for name in imports_of(record)}))
