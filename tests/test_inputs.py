"""Per-run inputs made on the device from a description, outputs as small as their information and
unpacked lazily: the same numbers as per-run arrays made on the host, and the record says which."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import landscapes
from bench.core import engine
from bench.core.engine import run_batch
from bench.core.inputs import MIN_TABLE_ROWS, described, per_run
from bench.core.step import Metrics, Problem, Status, make_batch, narrowest_integer
from bench.run.runner import OptimizerBuilder

MOMENTUM = OptimizerBuilder("momentum", "constant")


@pytest.fixture(scope="module")
def beale():
    return landscapes.get_landscape("beale")


def _configs(n):
    return dict(learning_rate=np.geomspace(1e-3, 3e-2, n), momentum=np.linspace(0.0, 0.9, n),
                warmup_steps=np.zeros(n))


def _starts(n):
    return np.random.default_rng(7).uniform(-2.0, 2.0, size=(n, 2))


def _same(a: Metrics, b: Metrics):
    for name in Metrics.FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("steps", [60, 300])  # first hits as uint8, then uint16
def test_a_described_sweep_gives_the_bits_of_the_same_runs_as_host_arrays(beale, steps):
    problem = Problem(beale, MOMENTUM, steps, trajectory_every=20)
    configs, starts = _configs(5), _starts(3)
    keys = np.array([[0, j] for j in range(3)], np.uint32)
    order = np.array([4, 0, 2])  # a resumed job runs some configs, in its own order
    runs = described(problem, configs, starts, key=keys, configs=order)
    shared = make_batch(problem, {k: v[:1] for k, v in configs.items()}, starts[:1], 0.0,
                        beale.minimizer_array())["shared"]
    device, device_cost = run_batch(problem, dict(runs=runs, shared=shared))
    rows = np.arange(runs.runs)
    picked = order[rows // 3]
    host, host_cost = run_batch(problem, make_batch(
        problem, {k: v[picked] for k, v in configs.items()}, starts[rows % 3], 0.0,
        beale.minimizer_array(), key=keys[rows % 3]))
    _same(device, host)
    assert (device_cost.inputs, host_cost.inputs) == ("device", "host")
    assert device.steps_to_target.dtype == np.int32 and device.status.dtype == np.int8
    assert device.basin.dtype == np.int32 and device.reached.dtype == bool


def test_a_sweep_over_many_calls_fills_every_run_in_order(beale, monkeypatch):
    # Blocks of 8 rows with 6 of padding, 2 blocks a call: 4 runs a call, 21 runs in 6 calls.
    monkeypatch.setattr(engine, "CPU_RUNS_PER_DEVICE", 8)
    monkeypatch.setattr(engine, "CPU_TAIL_ROWS", 6)
    monkeypatch.setattr(engine, "CPU_BLOCKS", 2)
    problem = Problem(beale, MOMENTUM, 40)
    configs, starts = _configs(7), _starts(3)
    shared = make_batch(problem, {k: v[:1] for k, v in configs.items()}, starts[:1], 0.0,
                        beale.minimizer_array())["shared"]
    whole, _ = run_batch(problem, dict(runs=described(problem, configs, starts), shared=shared))
    for c in (0, 3, 6):
        alone, _ = run_batch(problem, dict(runs=described(problem, configs, starts,
                                                          configs=[c]), shared=shared))
        np.testing.assert_array_equal(alone.final_x, whole.final_x[3 * c:3 * c + 3])
    assert len(np.unique(whole.final_x, axis=0)) == 21  # every run its own, none a padding copy


def test_outputs_travel_packed_and_a_field_is_unpacked_only_when_read(beale):
    problem = Problem(beale, MOMENTUM, 300)
    starts = _starts(4)
    batch = make_batch(problem, _configs(4), starts, 0.0, beale.minimizer_array())
    metrics, _ = run_batch(problem, batch)
    raw = metrics._raw
    assert raw._parts[0][2]["first_hit"].dtype == np.uint16  # 0 .. 301 needs 9 bits
    assert raw._parts[0][2]["status"].dtype == np.uint8
    assert raw._parts[0][2]["basin"].dtype == np.int8
    assert "diverged" not in raw and "reached" not in raw  # both follow from status and first hits
    metrics.final_gap
    assert set(raw._done) == {"final_gap"}
    reached = metrics.reached
    assert set(raw._done) == {"final_gap", "first_hit", "status"}
    expected = np.where(metrics.diverged, Status.DIVERGED,
                        np.where(reached[:, -1], Status.CONVERGED, Status.BUDGET))
    np.testing.assert_array_equal(metrics.status, expected)
    np.testing.assert_array_equal(metrics.steps_to_target[~reached], 300)


def test_the_narrowest_integer_holds_its_largest_value():
    assert narrowest_integer(255) == np.uint8 and narrowest_integer(256) == np.uint16
    assert narrowest_integer(127, signed=True) == np.int8
    assert narrowest_integer(128, signed=True) == np.int16
    assert narrowest_integer(70_000) == np.uint32


def test_tables_are_padded_to_a_few_shapes_so_jobs_share_a_program(beale):
    problem = Problem(beale, MOMENTUM, 10)
    small = described(problem, _configs(3), _starts(4)).tables()
    one = described(problem, _configs(1), _starts(1)).tables()
    big = described(problem, _configs(300), _starts(4)).tables()
    shapes = [{k: np.shape(v) for k, v in t["hparams"].items()} | {"x0": t["x0"].shape}
              for t in (small, one, big)]
    assert shapes[0] == shapes[1] and shapes[0]["x0"] == (MIN_TABLE_ROWS, 2)
    assert shapes[2]["momentum"] == (512,)


def test_a_description_needs_one_config_count(beale):
    problem = Problem(beale, MOMENTUM, 10)
    with pytest.raises(ValueError, match="same number of configs"):
        described(problem, dict(learning_rate=np.ones(3), momentum=np.ones(2)), _starts(2))


def test_per_run_arrays_are_the_host_path(beale):
    problem = Problem(beale, MOMENTUM, 10)
    runs = per_run(make_batch(problem, _configs(5), _starts(5), 0.0, beale.minimizer_array()))
    assert runs.inputs == "host" and runs.runs == 5


def test_a_suite_job_describes_its_runs_and_its_records_say_so():
    from bench.run.runner import TUNE, Job, execute
    from bench.run.suites import parse_suite

    suite = parse_suite('steps = 30\nseeds = [0, 1]\ntest_seeds = [5]\nstarts = 3\nreferences = []\n'
                        'landscapes = ["himmelblau"]\n[[optimizer]]\nfamily = "sgd"\n'
                        'schedule = "constant"\n[optimizer.space]\nlearning_rate = [0.001, 0.01]\n')
    job = Job(suite, suite.landscapes[0], suite.optimizers[0], TUNE, suite.optimizers[0].configs(),
              suite.seeds)
    records = execute(job)
    assert [r["cost"]["inputs"] for r in records] == ["device", "device"]
    assert len(records[0]["runs"]["final_gap"]) == 6  # 2 seeds x 3 starts per config


def test_every_block_of_a_job_has_the_shapes_of_a_whole_block(beale):
    problem = Problem(beale, MOMENTUM, 10)
    whole = described(problem, _configs(300), _starts(4), min_rows=300).tables()
    last = described(problem, _configs(7), _starts(4), min_rows=300).tables()
    assert whole["configs"].shape == last["configs"].shape == (512,)
    assert whole["hparams"]["momentum"].shape == last["hparams"]["momentum"].shape == (512,)
    assert whole["x0"].shape == (MIN_TABLE_ROWS, 2)  # start tables keep their own length


def test_a_job_in_several_config_blocks_runs_one_program_with_the_numbers_of_one_block(monkeypatch):
    from bench.run import runner
    from bench.run.runner import TUNE, Job, execute
    from bench.run.suites import parse_suite

    suite = parse_suite('steps = 5\nseeds = [0]\ntest_seeds = [5]\nstarts = 1\nreferences = []\n'
                        'landscapes = ["himmelblau"]\n[[optimizer]]\nfamily = "sgd"\n'
                        'schedule = "constant"\n[optimizer.space]\n'
                        'learning_rate = { log_uniform = [1e-4, 1e-1], num = 700 }\n')
    job = Job(suite, suite.landscapes[0], suite.optimizers[0], TUNE, suite.optimizers[0].configs(),
              suite.seeds)
    whole = execute(job)
    # 300 configs a block: blocks of 300, 300 and 100, the last one padded as a whole block.
    monkeypatch.setattr(runner, "CONFIG_BLOCK_RUNS", 300)
    before = set(engine._EXECUTABLES)
    blocked = execute(job)
    assert len(set(engine._EXECUTABLES) - before) == 1
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_array_equal(a["runs"]["final_x"], b["runs"]["final_x"])


def test_instances_of_one_program_share_calls_each_in_blocks_of_its_own(monkeypatch):
    """A job's instances with one program (here BBOB's: instance data are inputs) run in one call,
    each instance's runs in whole blocks that take its own data, so every record's numbers equal
    those of its instance run alone; a call then keeps both devices busy where one instance's
    runs fill one block."""
    from bench.run.runner import TUNE, Job, execute
    from bench.run.suites import parse_suite

    monkeypatch.setattr(engine, "CPU_RUNS_PER_DEVICE", 8)  # 2 runs a block: instances span blocks
    monkeypatch.setattr(engine, "CPU_TAIL_ROWS", 6)
    monkeypatch.setattr(engine, "CPU_BLOCKS", 4)
    text = ('steps = 40\nseeds = [0]\ntest_seeds = [5]\nstarts = 3\nreferences = []\n'
            'instances = [1, 2, 3]\nlandscapes = [{ name = "bbob_f08", dim = 3 }]\n[[optimizer]]\n'
            'family = "sgd"\nschedule = "constant"\n[optimizer.space]\nlearning_rate = [1e-4, 1e-3]\n')
    suite = parse_suite(text)
    land, opt = suite.landscapes[0], suite.optimizers[0]
    job = Job(suite, land, opt, TUNE, opt.configs(), suite.seeds)
    calls, real_calls = [], engine._calls

    def counted(problem, shareds, *args, **kwargs):
        for call in real_calls(problem, shareds, *args, **kwargs):
            calls.append(len(shareds))
            yield call

    monkeypatch.setattr(engine, "_calls", counted)
    together = execute(job)
    # 3 instances x 6 runs, 3 blocks (6 runs) each: 18 runs, 8 a call on one device; the middle
    # call holds the end of instance 1 and the start of instance 2
    assert calls == [3, 3, 3]
    for record in together:
        alone = Job(suite, dataclasses.replace(land, instances=(record["instance"],)), opt, TUNE,
                    opt.configs(), suite.seeds)
        (same,) = [r for r in execute(alone) if r["config_index"] == record["config_index"]]
        assert same["record_id"] == record["record_id"]
        for name in ("final_x", "final_gap", "best_gap", "steps_to_target", "status"):
            np.testing.assert_array_equal(same["runs"][name], record["runs"][name], err_msg=name)


def test_a_job_s_parts_put_neighbouring_instances_of_one_program_together():
    """Instance 0 (the plain function) has a program of its own; transformed instances share one,
    and share a part when they have the same configs to do (a resumed job may not)."""
    from bench.run.runner import TUNE, Job, _job_parts, _programs
    from bench.run.suites import parse_suite

    suite = parse_suite('steps = 5\nseeds = [0]\ntest_seeds = [5]\nstarts = 2\nreferences = []\n'
                        'instances = [0, 1, 2, 3]\nlandscapes = ["himmelblau"]\n[[optimizer]]\n'
                        'family = "sgd"\nschedule = "constant"\n[optimizer.space]\n'
                        'learning_rate = [1e-4, 1e-3, 1e-2]\n')
    land, opt = suite.landscapes[0], suite.optimizers[0]
    job = Job(suite, land, opt, TUNE, opt.configs(), suite.seeds)
    hparams = {k: np.asarray(v, np.float32) for k, v in job.configs.items()}
    every = {i: np.arange(3) for i in job.instances}
    programs = _programs(job, hparams, np.zeros((2, 2)), every)

    def shape(parts):
        return [(instances, indices.tolist()) for instances, indices in parts]

    assert shape(_job_parts(job, programs, every, 3)) == [((0,), [0, 1, 2]), ((1, 2, 3), [0, 1, 2])]
    assert shape(_job_parts(job, programs, every, 2)) == [((0,), [0, 1]), ((1, 2, 3), [0, 1]),
                                                         ((0,), [2]), ((1, 2, 3), [2])]
    resumed = {**every, 2: np.array([1, 2])}  # instance 2's first config was done
    assert shape(_job_parts(job, programs, resumed, 3)) == [((0,), [0, 1, 2]), ((1,), [0, 1, 2]),
                                                           ((2,), [1, 2]), ((3,), [0, 1, 2])]
