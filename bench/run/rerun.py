"""A record recomputed alone from its stored identity: ``landscape-bench rerun`` and
``bench.tools.rerun_all``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

import landscapes
from bench.run.records import TEST, TUNE
from bench.run.runner import Job, execute
from bench.run.suites import LandscapeEntry, OptimizerEntry, Suite, suite_from_doc
from landscapes.errors import InputError


def rerun_record(record: Mapping[str, Any], *, sharding=None,
                 imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Recompute one record alone from its stored identity (for ``landscape-bench rerun``): the
    same computation as in its job, whatever else that job held.

    A scipy reference record is recomputed from its stored starts; its identity holds no suite
    settings, so ``imports`` (the modules its suite imported, from the other records) are imported
    for a landscape of the user's own."""
    from bench.run.suites import import_modules

    check_identity(record, imports)
    ident = record["identity"]
    if ident.get("kind") == "reference":
        from bench.run.reference import run_reference

        import_modules(imports, where="rerun")
        runs, _, _ = run_reference(landscapes.get_landscape(ident["landscape"]), ident["dim"],
                                   ident["instance"], ident["method"],
                                   np.asarray(record["x0"], float), ident["steps"], ident["targets"],
                                   noise_seeds=ident.get("noise_seeds"))
        return dict(record, runs=runs)
    settings = ident["settings"]
    import_modules(settings.get("imports", ()), where="rerun")  # the suite's own landscapes
    suite = Suite(name=record["suite"], description="", steps=settings["steps"],
                  targets=tuple(settings["targets"]), success_target=record["success_target"],
                  dtype=settings["dtype"], seeds=tuple(settings["seeds"]), test_seeds=(),
                  starts=settings["starts"],
                  landscapes=(), optimizers=(), trajectory_every=settings["trajectory_every"],
                  unroll=settings["unroll"], chunk_size=None, mnist=None, source="rerun",
                  imports=tuple(settings.get("imports", ())), loop=settings.get("loop", "auto"))
    land = LandscapeEntry(ident["landscape"], ident["dim"], (ident["instance"],))
    label = record.get("label", f"{ident['family']}/{ident['schedule']}")
    opt = OptimizerEntry(ident["family"], ident["schedule"], "grid", 1, 0,
                         {k: v for k, v in ident["config"].items()}, label)
    job = Job(suite, land, opt, ident["phase"], {k: np.array([v]) for k, v in ident["config"].items()},
              tuple(settings["seeds"]))
    if job.loop(ident["instance"]) != ident.get("loop"):
        suite = dataclasses.replace(suite, loop=ident.get("loop", "scan"))
        job = dataclasses.replace(job, suite=suite)
    (new,) = execute(job, sharding=sharding)
    return dict(new, config_index=record["config_index"])


def check_identity(record: Mapping[str, Any], imports: tuple[str, ...] = ()) -> None:
    """Refuse, in one line naming the field, an identity a suite file could not have given (a
    record edited by hand or damaged): its settings, landscape, optimizer and config go through
    the same checks as a suite's (:func:`bench.run.suites.suite_from_doc`), so a rerun never starts
    what a run would have refused (a step count of 10^12, no starts, a negative seed, a config
    value out of range, an unknown name). ``imports``: the modules a reference record's landscape
    may need (a sweep record's own settings name its)."""
    where = f"record {str(record.get('record_id'))[:12]}'s identity"
    ident = record["identity"]
    entry = {"name": ident.get("landscape"), "dim": ident.get("dim"), "instances": [ident.get("instance")]}
    if ident.get("kind") == "reference":  # its settings are the test phase's; any optimizer will do
        seeds = ident.get("seeds")
        doc = dict(steps=ident.get("steps"), targets=ident.get("targets"), seeds=[_fresh(seeds)],
                   test_seeds=seeds, starts=ident.get("starts"), references=[ident.get("method")],
                   landscapes=[entry], optimizer=[{"family": "sgd"}], imports=list(imports))
        suite = _checked(doc, record, where, ("steps", "targets", "test_seeds", "starts"), ident)
        x0 = record.get("x0")
        try:
            x0 = np.asarray(x0, np.float64)
        except (TypeError, ValueError):
            x0 = None
        shape = (len(suite.test_seeds) * suite.starts, suite.landscapes[0].dim)
        if x0 is None or x0.shape != shape or not np.isfinite(x0).all():
            raise InputError(f"{where}: x0 must be {shape[0]} finite starts of dimension {shape[1]}"
                             f" (seeds x starts); got {np.shape(record.get('x0'))}")
        return
    settings, config = ident.get("settings"), ident.get("config")
    if not isinstance(settings, dict):
        raise InputError(f"{where}: settings must be the table of the suite's settings; got {settings!r}")
    if not isinstance(config, dict):
        raise InputError(f"{where}: config must be a table of hyperparameter values; got {config!r}")
    if ident.get("phase") not in (TUNE, TEST):
        raise InputError(f"{where}: phase must be {TUNE!r} or {TEST!r}; got {ident.get('phase')!r}")
    seeds = settings.get("seeds")
    doc = {key: settings[key] for key in ("steps", "targets", "dtype", "starts", "trajectory_every",
                                          "unroll", "loop", "imports") if key in settings}
    doc.update(seeds=seeds, test_seeds=[_fresh(seeds)], landscapes=[entry],
               optimizer=[{"family": ident.get("family"), "schedule": ident.get("schedule"),
                           "space": {k: [v] for k, v in config.items()}}])
    _checked(doc, record, where, ("steps", "targets", "dtype", "seeds", "starts", "trajectory_every",
                                  "unroll"), ident)


def _checked(doc: dict[str, Any], record: Mapping[str, Any], where: str, required, ident) -> Suite:
    """The suite ``doc`` describes, checked; ``required`` keys (which a suite may leave out, but a
    record's rerun reads) must be there."""
    if "success_target" in record:
        doc["success_target"] = record["success_target"]
    for key in required:
        if doc.get(key) is None:
            raise InputError(f"{where}: {key} is missing")
    suite = suite_from_doc(doc, where=where)
    if suite.landscapes[0].dim != ident.get("dim"):  # a suite may leave dim out; a record may not
        raise InputError(f"{where}: dim must be {suite.landscapes[0].dim} for {ident.get('landscape')};"
                         f" got {ident.get('dim')!r}")
    return suite


def _fresh(seeds: Any) -> int:
    """A seed not in ``seeds`` (the checks want the other phase's seeds apart from these)."""
    taken = set(seeds) if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds) else set()
    return next(i for i in range(len(taken) + 1) if i not in taken)
