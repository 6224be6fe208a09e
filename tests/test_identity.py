"""A run's numbers are a function of its identity alone.

Nothing that merely shares its job may change a bit: the other instances, configs or landscapes of
the job, the chunking and padding of the calls, the device count. ``record_id`` hashes that
identity and ``landscape-bench rerun`` recomputes it (trajectories included).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import landscapes
import optimizers
from bench.core.engine import run_batch
from bench.core.step import Problem, make_batch
from bench.run.results import ResultsDir, read_results, to_jsonable
from bench.run.rerun import rerun_record
from bench.run.runner import OptimizerBuilder, run_suite
from bench.core.sharding import runs_sharding
from bench.run.suites import load_suite
from suite_text import optimizer_toml, suite_toml

def composed(rastrigin, rosenbrock, rates) -> str:
    """Momentum on rastrigin and 3-D rosenbrock at the given instances, over the given rates."""
    return suite_toml(
        "compose", steps=80, success_target=1e-3, test_seeds=[5], starts=3, trajectory_every=20,
        landscapes=f'[{{ name = "rastrigin", instances = {rastrigin} }}, '
                   f'{{ name = "rosenbrock", dim = 3, instances = {rosenbrock} }}]',
        optimizers=[optimizer_toml("momentum", "constant", learning_rate=rates, momentum=[0.9])])


def _numbers(record):
    return to_jsonable({"runs": record["runs"], "trajectory": record.get("trajectory")})


def test_a_run_gives_the_same_bits_alone_and_anywhere_in_a_large_batch():
    """The shared instance matrix enters as one (dim, dim) array, not a copy per run; a run's
    position in its call and the batch around it change nothing."""
    land = landscapes.get_landscape("rastrigin")  # multimodal: rounding changes the basin
    problem = Problem(land, OptimizerBuilder("momentum", "constant"), 60, transformed=True)
    runs = 1200
    rng = np.random.default_rng(0)
    hparams = optimizers.complete_config("momentum", "constant", {
        "learning_rate": 10 ** rng.uniform(-3, -1, runs), "momentum": rng.uniform(0, 0.95, runs)})
    box = land.start_box(2)
    x0 = rng.uniform(box[:, 0], box[:, 1], (runs, 2))
    shared = dict(f_star=land.minimum(2), minimizers=land.minimizer_array(2),
                  shift=np.full(2, 0.3), matrix=np.array([[0.9, 0.2], [-0.1, 0.5]]))

    def batch(rows):
        return make_batch(problem, {k: np.asarray(v)[rows] for k, v in hparams.items()}, x0[rows],
                          shared["f_star"], shared["minimizers"], shift=shared["shift"],
                          matrix=shared["matrix"])

    assert batch(slice(0, runs))["shared"]["matrix"].shape == (2, 2)
    whole, _ = run_batch(problem, batch(slice(0, runs)), sharding=runs_sharding())
    for rows, sharding in ((slice(700, 732), runs_sharding()), (slice(700, 732), None),
                           (slice(699, 1200), None)):
        alone, _ = run_batch(problem, batch(rows), sharding=sharding)
        for field in ("steps_to_target", "final_gap", "best_gap", "final_x", "distance", "basin"):
            np.testing.assert_array_equal(getattr(alone, field), getattr(whole, field)[rows],
                                          err_msg=field)


def _run(tmp_path, name, rastrigin, rosenbrock, rates, chunk_size, devices):
    path = tmp_path / f"{name}.toml"
    text = composed(rastrigin, rosenbrock, rates)
    if chunk_size:
        text = text.replace('name = "compose"', f'name = "compose"\nchunk_size = {chunk_size}')
    path.write_text(text)
    out = tmp_path / name
    sharding = runs_sharding() if devices == 2 else None
    with ResultsDir(out) as results:
        run_suite(load_suite(str(path)), results, sharding=sharding)
    return {r["record_id"]: r for r in read_results(out)}


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_job_compositions_give_the_same_numbers_for_every_shared_run(tmp_path_factory, data):
    """Property: two suites that share some runs (other instances, configs beside them, chunk
    sizes, one or two devices) give those runs the same ids and bitwise the same numbers."""
    tmp_path = tmp_path_factory.mktemp("compose")
    runs, first = [], None
    for name in ("a", "b"):
        # b's rastrigin instances overlap a's, so the two share at least the tuning runs of rate
        # 0.001 (in every rate list) there: the property is never checked on nothing.
        options = [[0], [1], [0, 1], [1, 2], [0, 1, 2]]
        rastrigin = data.draw(st.sampled_from([o for o in options if first is None or set(o) & set(first)]))
        first = rastrigin if first is None else first
        rosenbrock = data.draw(st.sampled_from([[0], [0, 1], [2]]))
        rates = data.draw(st.sampled_from([[0.001], [0.001, 0.003], [0.003, 0.001, 0.01]]))
        chunk = data.draw(st.sampled_from([None, 5, 64]))
        devices = data.draw(st.sampled_from([1, 2]))
        runs.append(_run(tmp_path, name, rastrigin, rosenbrock, rates, chunk, devices))
    shared = runs[0].keys() & runs[1].keys()
    assert shared
    for record_id in shared:
        assert _numbers(runs[0][record_id]) == _numbers(runs[1][record_id]), record_id


def test_instances_alone_and_together_share_ids_and_numbers(tmp_path):
    """The reported break: instances [0] and [0, 1] gave one id to different runs."""
    alone = _run(tmp_path, "alone", [0], [0], [0.001, 0.003], None, 2)
    together = _run(tmp_path, "together", [0, 1], [0, 1], [0.001, 0.003], 5, 1)
    tuned = [i for i, r in alone.items() if r["phase"] == "tune"]
    assert tuned and all(i in together for i in tuned)
    for record_id in tuned:
        assert _numbers(alone[record_id]) == _numbers(together[record_id])


def test_rerun_recomputes_every_record_bitwise_trajectories_included(tmp_path):
    records = _run(tmp_path, "r", [0, 1], [2], [0.001, 0.003], None, 2)
    for record in records.values():
        new = rerun_record(record, sharding=runs_sharding())
        assert _numbers(new) == _numbers(record), record["record_id"]
    test = next(r for r in records.values() if r["phase"] == "test")
    assert test.get("trajectory") is not None


def test_rerun_notices_a_changed_trajectory(tmp_path, capsys):
    from bench.cli import main

    records = _run(tmp_path, "t", [0], [0], [0.001], None, 2)
    test = next(r for r in records.values() if r["phase"] == "test" and r["landscape"] == "rastrigin")
    path = tmp_path / "t" / "results.jsonl"
    lines = path.read_text().splitlines()
    import json

    for k, line in enumerate(lines):
        record = json.loads(line)
        if record.get("record_id") == test["record_id"]:
            record["trajectory"][1][0][0] += 1e-3
            lines[k] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["rerun", str(tmp_path / "t"), test["record_id"]]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "trajectory" in out


def test_identity_names_the_environment_and_the_loop(tiny_results):
    from bench.core import environment

    record = next(r for r in read_results(tiny_results) if r["identity"].get("kind") == "sweep")
    assert record["identity"]["environment"] == to_jsonable(environment.identity())
    assert record["identity"]["loop"] == "scan"


@pytest.mark.parametrize("field", ["settings", "config", "instance"])
def test_record_id_changes_with_each_part_of_the_identity(tiny_results, field):
    from bench.run.results import stable_hash

    record = next(r for r in read_results(tiny_results) if r["identity"].get("kind") == "sweep")
    identity = dict(record["identity"])
    assert stable_hash(identity) == record["record_id"]
    changed = dict(identity)
    changed[field] = {"other": 1}
    assert stable_hash(changed) != record["record_id"]


def test_the_gpu_check_of_composition_runs_and_finds_every_run_equal_on_the_cpu(tmp_path):
    """bench.tools.gpu_user_path's composition part (run on a GPU by hand) holds here too."""
    from bench.tools.gpu_user_path import composition

    for name, found in composition("scan", 1024).items():
        assert found["bitwise_equal"] == found["runs"], name


def test_the_same_run_gives_the_same_bits_at_every_row_of_its_calls():
    """The reported break behind default's rosenbrock reruns: XLA's CPU code for the last rows of a
    device's block (a vector loop's remainder) rounded differently (rows 248-255 of 256 ended 1e-6
    apart); those rows now hold padding only."""
    land = landscapes.get_landscape("rosenbrock")
    problem = Problem(land, OptimizerBuilder("nesterov", "time_based"), 2000, trajectory_every=20)
    runs = 600
    hparams = {"learning_rate": np.full(runs, 0.0007196856730011522), "momentum": np.full(runs, 0.9),
               "decay": np.full(runs, 0.001), "warmup_steps": np.zeros(runs)}
    x0 = np.tile(np.random.default_rng(0).uniform(-2, 2, (1, 2)), (runs, 1))
    batch = make_batch(problem, hparams, x0, land.minimum(2), land.minimizer_array(2))
    for sharding in (runs_sharding(), None):
        metrics, _ = run_batch(problem, batch, sharding=sharding)
        assert len(np.unique(metrics.final_x, axis=0)) == 1
        assert len(np.unique(metrics.trajectory.reshape(runs, -1), axis=0)) == 1
