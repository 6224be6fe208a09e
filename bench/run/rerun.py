"""A record recomputed alone from its stored identity: ``landscape-bench rerun`` and
``bench.tools.rerun_all``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

import landscapes
from bench.run.runner import Job, execute
from bench.run.suites import LandscapeEntry, OptimizerEntry, Suite


def rerun_record(record: Mapping[str, Any], *, sharding=None,
                 imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Recompute one record alone from its stored identity (for ``landscape-bench rerun``): the
    same computation as in its job, whatever else that job held.

    A scipy reference record is recomputed from its stored starts; its identity holds no suite
    settings, so ``imports`` (the modules its suite imported, from the other records) are imported
    for a landscape of the user's own."""
    from bench.run.suites import import_modules

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
