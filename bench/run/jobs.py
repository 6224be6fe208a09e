"""A job: the runs of one (landscape, optimizer entry, phase), its records' identities, the problem
each instance compiles, and its start points and noise keys (``bench.run.runner`` runs jobs)."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

import landscapes
from bench.core import environment
from bench.core.engine import check_fused
from bench.core.step import OptimizerBuilder, Problem, make_batch
from bench.run.records import TEST, TUNE
from bench.run.results import job_id, stable_hash
from bench.run.suites import LandscapeEntry, OptimizerEntry, Suite
from landscapes.errors import InputError
from landscapes.instances import instance_minimizers, instance_minimum, make_instance


def start_points(landscape, dim: int, seed: int, starts: int) -> np.ndarray:
    """(starts, dim) points drawn uniformly from the start box; the same for every config and
    instance of a seed (common random numbers make configs comparable run by run)."""
    rng = np.random.default_rng([seed, zlib.crc32(landscape.name.encode()), dim])
    box = landscape.start_box(dim)
    return rng.uniform(box[:, 0], box[:, 1], size=(starts, dim))


def noise_keys(seeds, starts: int) -> np.ndarray:
    """The gradient-noise key of each (seed, start) run, in the order of :func:`start_points` per
    seed: every run draws its own noise stream, the same one in every config."""
    return np.array([[s, j] for s in seeds for j in range(starts)], np.uint32)


def phase_settings(suite: Suite) -> dict[str, dict[str, Any]]:
    """The settings of each phase's records: those in their identity (the tuning runs on ``seeds``,
    the test runs on ``test_seeds``), and the success target, which picks the config a test phase
    re-runs although it is not part of a record's id."""
    return {TUNE: suite.settings() | {"success_target": suite.success_target},
            TEST: suite.settings() | {"seeds": list(suite.test_seeds),
                                      "success_target": suite.success_target}}


@dataclasses.dataclass(frozen=True)
class Job:
    """The work of one (landscape, optimizer entry, phase): configs x instances x seeds x starts."""

    suite: Suite
    landscape: LandscapeEntry
    optimizer: OptimizerEntry
    phase: str
    configs: Mapping[str, np.ndarray]  # name -> (C,)
    seeds: tuple[int, ...]

    @property
    def n_configs(self) -> int:
        return len(next(iter(self.configs.values())))

    @property
    def instances(self) -> tuple[int, ...]:
        return tuple(self.landscape.instances)

    def config(self, index: int) -> dict[str, float]:
        return {k: float(v[index]) for k, v in sorted(self.configs.items())}

    def identity(self, instance: int, index: int) -> dict[str, Any]:
        """Everything that determines a record's numbers (hence its id and a lone rerun): the run's
        own problem, optimizer, config, seeds and starts, the loop that runs it and the
        environment (device kind, versions). Not what shared its job: the other instances and
        configs, chunking, padding and the device count change no bit (tests/test_identity.py)."""
        return dict(self._base(instance), config=self.config(index))

    def _base(self, instance: int) -> dict[str, Any]:
        key = ("_base", instance)
        if key not in self.__dict__:
            self.__dict__[key] = dict(
                kind="sweep", settings=self.suite.settings() | {"seeds": list(self.seeds)},
                landscape=self.landscape.name, dim=self.landscape.dim, instance=instance,
                family=self.optimizer.family, schedule=self.optimizer.schedule, phase=self.phase,
                loop=self.loop(instance), environment=environment.identity())
        return self.__dict__[key]

    def loop(self, instance: int) -> str:
        """The step loop that runs this job's runs of ``instance`` (part of their identity)."""
        problem, shared, _ = self.problem(instance)
        one = batch_of(problem, {k: v[:1] for k, v in self.configs.items()},
                       np.zeros((1, self.landscape.dim)), shared)
        return chosen_loop(self.suite.loop, problem, one)

    def problem(self, instance: int):
        """(the scan problem, the shared inputs, the instance's moved minimizers) of ``instance``.
        Instance 0 is the plain function, any other the transformed one; a landscape with its own
        instances (BBOB) takes instance k's data, minimizers and f*: a run's program is a
        function of its own instance, not of which instances share its job."""
        key = ("_problem", instance)
        if key not in self.__dict__:
            self.__dict__[key] = self._make_problem(instance)
        return self.__dict__[key]

    def _make_problem(self, instance: int):
        suite, entry = self.suite, self.landscape
        landscape = landscapes.get_landscape(entry.name)
        made = make_instance(landscape, instance, entry.dim)
        with_data = made.data is not None
        transformed = made.instance_id != 0 and not with_data
        problem = Problem(landscape, OptimizerBuilder(self.optimizer.family, self.optimizer.schedule),
                          suite.steps, suite.targets, suite.dtype, transformed,
                          suite.trajectory_every, suite.unroll, with_data=with_data)
        moved = instance_minimizers(landscape, made)
        shared = dict(f_star=instance_minimum(landscape, made), minimizers=moved)
        if transformed:
            shared.update(shift=made.shift, matrix=made.matrix)
        if with_data:
            shared["data"] = made.data
        return problem, shared, moved

    def record_id(self, instance: int, index: int) -> str:
        return stable_hash(self.identity(instance, index))

    def record_ids(self) -> list[str]:
        """Ids in record order (instance, config); hashed once per job, they are asked for often."""
        if "_ids" not in self.__dict__:
            self.__dict__["_ids"] = [self.record_id(i, c)
                                     for i in self.instances for c in range(self.n_configs)]
        return list(self.__dict__["_ids"])

    def job_id(self) -> str:
        if "_job" not in self.__dict__:
            self.__dict__["_job"] = job_id(self.record_ids())
        return self.__dict__["_job"]


def batch_of(problem: Problem, hparams, x0, shared: Mapping[str, Any], **kwargs):
    """``make_batch`` with an instance's shared inputs (:meth:`Job.problem`)."""
    return make_batch(problem, hparams, x0, shared["f_star"], shared["minimizers"],
                      shift=shared.get("shift"), matrix=shared.get("matrix"),
                      data=shared.get("data"), **kwargs)


def starts_and_keys(job: Job) -> tuple[np.ndarray, np.ndarray]:
    """(S, dim) start points and (S, 2) noise keys of every (seed, start) of a job, seed-major."""
    landscape = landscapes.get_landscape(job.landscape.name)
    starts = np.concatenate([start_points(landscape, job.landscape.dim, s, job.suite.starts)
                             for s in job.seeds])
    return starts, noise_keys(job.seeds, job.suite.starts)


def chosen_loop(loop: str, problem: Problem, batch) -> str:
    """The step loop a job runs with: the suite's ``loop``, where "auto" is "fused" (the whole loop
    as one GPU kernel, ``bench.core.fused``) on a single GPU when the job's step can run fused (not with
    gradient noise), else "scan" (also over several devices, which the scan's
    sharding spreads the runs over and the kernel does not). "fused" on a step that cannot is a
    one-line InputError naming why; on a CPU it runs Pallas's interpreter, slowly (for checking)."""
    if loop == "scan":
        return "scan"
    if loop == "auto" and (jax.default_backend() != "gpu" or len(jax.devices()) != 1):
        return "scan"
    try:
        check_fused(problem, batch)
    except InputError:
        if loop == "fused":
            raise
        return "scan"
    return "fused"


def plan_jobs(suite: Suite) -> list[tuple[LandscapeEntry, OptimizerEntry]]:
    return [(land, opt) for land in suite.landscapes for opt in suite.optimizers]
