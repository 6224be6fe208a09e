"""Small synthetic results records for the report and aggregate tests (plus a check of the generator).

Records follow bench/run/runner.py ``execute``: himmelblau (4 minima) and beale, labels sgd/constant (a
learning-rate grid) and momentum/constant (learning rate × momentum), phases tune and test, trajectories
that walk from the start to the nearest minimum, and some diverged runs (nulls in the JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.run.results import SCHEMA, to_jsonable

TARGETS = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
STEPS = 100
EVERY = 20
MINIMA = {"himmelblau": [[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]],
          "beale": [[3.0, 0.5]]}
SPACES = {"sgd/constant": [{"learning_rate": lr} for lr in (1e-3, 1e-2)],
          "momentum/constant": [{"learning_rate": lr, "momentum": m} for lr in (1e-3, 1e-2) for m in (0.5, 0.9)]}


def make_record(landscape: str, label: str, config: dict, config_index: int, phase: str, *,
                steps_to_success: list[int | None], diverged: list[bool] | None = None,
                trajectory: bool = True, seed: int = 0, instance: int = 0) -> dict:
    """One record whose run r reaches every target up to 1e-4 at ``steps_to_success[r]`` (None: never),
    the deeper targets later; ``diverged[r]`` marks a diverged run."""
    rng = np.random.default_rng(seed)
    runs = len(steps_to_success)
    diverged = diverged or [False] * runs
    minima = np.array(MINIMA[landscape])
    x0 = rng.uniform(-4.0, 4.0, size=(runs, 2))
    nearest = np.argmin(((x0[:, None] - minima[None]) ** 2).sum(-1), axis=1)
    reached = np.zeros((runs, len(TARGETS)), bool)
    steps = np.full((runs, len(TARGETS)), STEPS)
    for r, s in enumerate(steps_to_success):
        if s is not None and not diverged[r]:
            reached[r, :4] = True
            steps[r, :4] = [max(s - 10 * (3 - t), 1) for t in range(4)]
    final_gap = np.where(reached[:, 3], 1e-6, 0.5)
    final_gap = np.where(diverged, np.nan, final_gap)
    final_x = np.where(np.array(diverged)[:, None], np.nan, minima[nearest])
    record = dict(
        schema=SCHEMA, record_id=f"{landscape}-{label}-{phase}-{config_index}-{instance}", suite="synthetic",
        phase=phase, landscape=landscape, dim=2, instance=instance, family=label.split("/")[0],
        schedule=label.split("/")[1], label=label, config={**config, "warmup_steps": 0.0},
        config_index=config_index, steps=STEPS, targets=TARGETS, success_target=1e-4, dtype="float32",
        seeds=[seed], starts=runs, f_star=0.0, minimizers=minima, x0=x0,
        identity={"settings": {"trajectory_every": EVERY if trajectory else 0}},
        runs=dict(steps_to_target=steps, reached=reached, final_gap=final_gap, best_gap=final_gap,
                  distance=np.where(diverged, np.nan, 0.0), basin=np.where(diverged, -1, nearest),
                  status=np.where(diverged, 2, np.where(reached[:, 3], 0, 1)), final_x=final_x),
        cost=dict(compile_seconds=1.5, run_seconds=0.01, runs=runs, steps=STEPS, steps_per_second=1e6,
                  flops_per_step=100.0, peak_flops=1e11, roofline_fraction=1e-3),
        versions={"jax": "test"}, device={"platform": "cpu"}, created="2026-01-01T00:00:00+00:00")
    if trajectory:
        fraction = np.concatenate([np.arange(0, STEPS, EVERY), [STEPS]]) / STEPS
        path = x0[:, None] + (minima[nearest] - x0)[:, None] * (1 - (1 - fraction[None, :, None]) ** 3)
        path[np.array(diverged)] = np.nan
        record["trajectory"] = path
    return record


def synthetic_records(*, trajectory: bool = True, drop: tuple[tuple[str, str], ...] = (),
                      all_diverged: tuple[tuple[str, str], ...] = ()) -> list[dict]:
    """Tune and test records for both landscapes and labels, less ``drop``; ``all_diverged`` pairs
    have every run diverged."""
    records = []
    for landscape in MINIMA:
        for label, space in SPACES.items():
            if (landscape, label) in drop:
                continue
            dead = (landscape, label) in all_diverged
            for index, config in enumerate(space):
                good = config["learning_rate"] > 5e-3
                successes = [30, 50, None, 40] if good else [None, 90, None, None]
                records.append(make_record(landscape, label, config, index, "tune",
                                           steps_to_success=successes, diverged=[dead, dead, not good or dead, dead],
                                           trajectory=trajectory, seed=index))
            best = space[-1]
            records.append(make_record(landscape, label, best, 0, "test", steps_to_success=[20, 60, None, 35],
                                       diverged=[dead, dead, True, dead], trajectory=trajectory, seed=100))
    return records


def mnist_records() -> list[dict]:
    history = {"epoch": [1, 2, 3], "train_loss": [0.9, 0.5, 0.3], "train_accuracy": [0.7, 0.85, 0.9],
               "test_loss": [0.8, 0.55, 0.4], "test_accuracy": [0.72, 0.83, 0.88],
               "learning_rate": [0.01, 0.009, 0.008]}
    cv = {"params": [{"learning_rate": 0.01}, {"learning_rate": 0.03}],
          "split0_test_score": [0.8, 0.85], "split1_test_score": [0.82, 0.84],
          "mean_test_score": [0.81, 0.845], "std_test_score": [0.01, 0.005], "rank_test_score": [2, 1]}
    return [dict(schema=SCHEMA, record_id="mnist-1", kind="mnist", label="nesterov/time_based",
                 config={"learning_rate": 0.03}, cv_results=cv, history=history, test_accuracy=0.88)]


def write_results(directory: Path, records: list[dict], *, views: bool = True) -> Path:
    """A results directory of ``records``, with the views a run writes after its jobs (or, with
    ``views=False``, without them: a folder of an older version)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "results.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(to_jsonable(record), sort_keys=True) + "\n")
    if views:
        from bench.run.results import ResultsDir
        from bench.run.views import write_views

        write_views(ResultsDir(directory))
    return directory


def test_synthetic_records_read_back(tmp_path):
    from bench.run.results import read_results

    records = synthetic_records()
    back = read_results(write_results(tmp_path, records))
    assert len(back) == len(records) == 2 * (2 + 1) + 2 * (4 + 1)
    assert back[0]["runs"]["final_gap"][2] is None  # a diverged run's NaN is stored as null
