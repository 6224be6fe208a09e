"""Steps to COCO's 51 targets two ways: on a CPU a run keeps every step's best gap and reads the
first hits after the loop (``bench.core.step.stores_best``); elsewhere the carry counts a histogram of
levels each step. Both give the same records, bit for bit, whatever the runs do."""

from __future__ import annotations

import numpy as np
import pytest

import landscapes
from bench.core import step as step_module
from bench.core import engine
from bench.core.engine import run_batch
from bench.core.step import Problem, make_batch, program_key, stores_best
from bench.core.targets import COCO51_TARGETS, COCO_TARGETS
from bench.run.runner import OptimizerBuilder

STEPS = 120
NESTEROV = OptimizerBuilder("nesterov", "time_based")


def _metrics(name: str, dtype: str, every: int, *, kept: bool, monkeypatch) -> dict[str, np.ndarray]:
    """Every output of 24 runs on ``name``: learning rates from crawling to diverging, starts
    spread over the landscape's box (some outside it, where a bounded landscape counts +inf)."""
    monkeypatch.setattr(step_module, "STORED_BEST_MAX_STEPS", STEPS if kept else 0)
    # programs in memory are cached by problem, the same for both ways: drop them
    monkeypatch.setattr(engine, "_EXECUTABLES", {})
    land = landscapes.get_landscape(name)
    problem = Problem(land, NESTEROV, STEPS, targets=COCO51_TARGETS, dtype=dtype, trajectory_every=every)
    assert stores_best(problem.loop, problem.steps, len(problem.targets)) is kept
    box = np.asarray(land.box(2), float)
    rng = np.random.default_rng(7)
    runs = 24
    x0 = rng.uniform(box[:, 0] - 0.2 * np.ptp(box, axis=1), box[:, 1], size=(runs, 2))
    hparams = dict(learning_rate=np.logspace(-4, 0.5, runs), momentum=np.full(runs, 0.9),
                   decay=np.zeros(runs), warmup_steps=np.zeros(runs))
    batch = make_batch(problem, hparams, x0, land.minimum(2), land.minimizer_array(2))
    metrics, _ = run_batch(problem, batch)
    return {field: np.asarray(getattr(metrics, field)) for field in metrics.FIELDS}


@pytest.mark.parametrize("name, dtype, every", [("beale", "float32", 0), ("mccormick", "float64", 7),
                                                ("rastrigin", "float32", 20)])
def test_kept_best_gaps_give_the_histograms_records(name, dtype, every, monkeypatch):
    kept = _metrics(name, dtype, every, kept=True, monkeypatch=monkeypatch)
    counted = _metrics(name, dtype, every, kept=False, monkeypatch=monkeypatch)
    # the runs cross many of the 51 targets, some never, some diverge: the comparison tests something
    reached = kept["reached"]
    assert reached.any(axis=0).sum() > 10 and (~reached).any()
    assert kept["status"].tolist().count(2) > 0 or name == "mccormick"
    for field in kept:
        np.testing.assert_array_equal(kept[field], counted[field], err_msg=f"{name} {dtype} {field}")


def test_only_many_targets_on_a_cpu_scan_keep_the_gaps():
    assert stores_best("scan", 2000, len(COCO51_TARGETS))
    assert stores_best("auto", 2000, len(COCO51_TARGETS))
    assert not stores_best("scan", 2000, len(COCO_TARGETS))  # the default suite's programs: unchanged
    assert not stores_best("fused", 2000, len(COCO51_TARGETS))
    assert not stores_best("scan", step_module.STORED_BEST_MAX_STEPS + 1, len(COCO51_TARGETS))


def test_the_two_ways_are_two_programs(monkeypatch):
    """A stored program of one way is never loaded for the other."""
    problem = Problem(landscapes.get_landscape("beale"), NESTEROV, STEPS, targets=COCO51_TARGETS)
    kept = program_key(problem, "shapes")
    monkeypatch.setattr(step_module, "STORED_BEST_MAX_STEPS", 0)
    assert program_key(problem, "shapes") != kept
