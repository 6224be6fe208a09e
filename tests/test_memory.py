"""Memory is planned from shapes: jobs stream through one call at a time, records go out in
segments, instance matrices are shared, and a job over the budget is refused in one line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from bench.run import memory, runner
from bench.cli import main
from bench.run.results import ResultsDir, read_results
from bench.run.suites import load_suite
from landscapes.errors import InputError
from suite_text import optimizer_toml, suite_toml

def grid(instances, num: int) -> str:
    """A momentum grid of ``num`` x 3 configs on beale's ``instances``, 6 steps, one start."""
    return suite_toml("grid", steps=6, success_target=1e-1,
                      landscapes=f'[{{ name = "beale", instances = {instances} }}]',
                      optimizers=[optimizer_toml("momentum", "constant", momentum=[0.0, 0.5, 0.9],
                                                 learning_rate=f"{{ log_uniform = [1e-4, 1e-1], num = {num} }}")])


def test_a_trajectory_too_large_for_memory_is_refused_before_anything_is_made(tmp_path, capsys):
    suite = tmp_path / "traj.toml"
    suite.write_text(grid(instances=[0], num=2).replace("steps = 6", "steps = 10000000")
                     .replace("starts = 1", "starts = 1\ntrajectory_every = 1"))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "over the memory budget" in err and "trajectory_every" in err
    assert not out.exists()  # refused before the folder was made


def test_the_budget_is_a_setting_with_a_one_line_error(monkeypatch):
    assert memory.parse_size("2G") == 2 * 2**30 and memory.parse_size("512m") == 512 * 2**20
    assert memory.parse_size("1000") == 1000
    monkeypatch.setenv(memory.ENV_VAR, "lots")
    with pytest.raises(InputError, match="LANDSCAPE_BENCH_MEMORY must be a size such as 2G"):
        memory.budget_bytes()
    with pytest.raises(InputError, match="--memory-budget must be a size"):
        memory.budget_bytes("-1G")
    with pytest.raises(InputError, match="at least 1"):  # rounds to 0 bytes
        memory.budget_bytes("0.0001")
    monkeypatch.delenv(memory.ENV_VAR)
    assert 0 < memory.budget_bytes() < memory.available_bytes()


def test_a_small_budget_refuses_a_grid_and_names_the_configs(tmp_path):
    suite = tmp_path / "grid.toml"
    suite.write_text(grid(instances=[0], num=40000))
    with pytest.raises(InputError, match="most of it configs.*search fewer configs"):
        runner.check_memory(load_suite(str(suite)), budget="60M")


def test_a_large_grid_streams_in_segments_and_tunes_as_a_whole(tmp_path, monkeypatch):
    """Records reach the file in segments while the job runs, blocks of configs keep the tuning
    key only, and the tuned config is the one a whole-batch selection picks."""
    suite_path = tmp_path / "grid.toml"
    suite_path.write_text(grid(instances=[0, 1], num=400))
    suite = load_suite(str(suite_path))
    monkeypatch.setattr(runner, "SEGMENT_RECORDS", 150)
    monkeypatch.setattr(runner, "CONFIG_BLOCK_RUNS", 256)
    sizes = []
    real = ResultsDir.append

    def counting(self, records, **kwargs):
        records = list(records)
        sizes.append(len(records))
        return real(self, records, **kwargs)

    monkeypatch.setattr(ResultsDir, "append", counting)
    with ResultsDir(tmp_path / "out") as out:
        runner.run_suite(suite, out)
    assert max(sizes) <= 150 and sum(1 for s in sizes if s) >= 16  # 2,400 tuning records
    records = read_results(tmp_path / "out")
    tune = [r for r in records if r["phase"] == "tune"]
    (test_config,) = {tuple(sorted(r["config"].items())) for r in records if r["phase"] == "test"}
    assert len(tune) == 2400
    from bench.run.records import best_config

    assert dict(test_config) == best_config(tune)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measures peak memory from /proc/self/status, which only Linux has")
@pytest.mark.slow  # starts processes: the full run only
def test_a_rotated_instance_in_1000_dimensions_is_one_shared_matrix(tmp_path):
    """One run of rotated sphere in dim 1000 stays under 1 GB (the matrix was copied per run)."""
    suite = tmp_path / "sphere.toml"
    suite.write_text("""
name = "sphere1000"
steps = 5
seeds = [0]
test_seeds = [1]
starts = 1
landscapes = [{ name = "sphere", dim = 1000, instances = [1] }]
[[optimizer]]
family = "sgd"
schedule = "constant"
[optimizer.space]
learning_rate = [0.01]
""")
    # The child reports its own peak: VmHWM of its address space (ru_maxrss survives exec, so it
    # would report the forking test process's size).
    code = ("import sys; from bench.cli import main; rc = main(sys.argv[1:]);"
            " peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
            " print('PEAK_KB', peak); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "run", str(suite), "--out",
                           str(tmp_path / "out"), "--no-report"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kb = int(done.stdout.split("PEAK_KB")[1].split()[0])
    assert peak_kb < 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
    (record, *_) = [r for r in read_results(tmp_path / "out") if r["phase"] == "test"]
    assert np.asarray(record["runs"]["final_x"]).shape == (1, 1000)


def test_the_plan_counts_every_bbob_instance_s_data(tmp_path):
    """A BBOB job's instance data (rotations, Gallagher's peaks) is counted for every instance: 16
    bytes a number in float64 (the instance cache, and what its build leaves) and 6 copies in the
    suite's dtype (shared inputs, the background compile's, the stacked call inputs on host and
    device, and the next part's), above the bytes a number measured (docs/performance.md)."""
    from landscapes import bbob

    suite_path = tmp_path / "bbob.toml"
    suite_path.write_text(grid(instances=[0], num=2).replace(
        'landscapes = [{ name = "beale", instances = [0] }]',
        'landscapes = [{ name = "bbob_f21", dim = 20, instances = [1, 2, 3] }]'))
    suite = load_suite(str(suite_path))
    (land,), (opt,) = suite.landscapes, suite.optimizers
    plan = memory.plan_job(runner.Job(suite, land, opt, "tune", opt.configs(), suite.seeds))
    numbers = [sum(a.size for a in bbob.instance_data(21, i, 20)[0].values()) + 20 + 1
               for i in (1, 2, 3)]
    assert numbers[0] > 2 * 20 * 101  # the peaks' centres and scales at least
    assert plan.parts["instance data"] == sum(numbers) * (16 + 6 * 4)
    data_bytes = sum(a.nbytes for a in bbob.instance_data(21, 1, 20)[0].values()) + 20 * 8
    assert plan.parts["instance data"] >= 3 * data_bytes * 35 / 8  # f32: 35 bytes a number measured
    one = dataclasses.replace(land, instances=(1,))
    single = memory.plan_job(runner.Job(suite, one, opt, "tune", opt.configs(), suite.seeds))
    assert plan.parts["instance data"] > 2 * single.parts["instance data"]


def test_the_plan_counts_the_records_queued_for_the_writer_thread(tmp_path, monkeypatch):
    """Records wait for the writer thread (bench.run.write_behind) in at most QUEUED_WRITES segments,
    plus the one being filled and the one being written: the plan holds that many, never more
    records than the job has."""
    from bench.run import write_behind

    suite_path = tmp_path / "grid.toml"
    suite_path.write_text(grid(instances=[0], num=10_000))  # 30,000 configs: many segments
    suite = load_suite(str(suite_path))
    (land,), (opt,) = suite.landscapes, suite.optimizers
    job = runner.Job(suite, land, opt, "tune", opt.configs(), suite.seeds)
    plans = {}
    for queued in (1, 4, 9):
        monkeypatch.setattr(write_behind, "QUEUED_WRITES", queued)
        plans[queued] = memory.plan_job(job).parts["records"]
    per_segment = (plans[4] - plans[1]) / 3
    assert per_segment > 0 and plans[9] - plans[4] == pytest.approx(5 * per_segment)
    assert plans[4] == pytest.approx((4 + 2) * per_segment)
    small = runner.Job(suite, land, opt, "tune", {k: v[:3] for k, v in opt.configs().items()}, suite.seeds)
    assert memory.plan_job(small).parts["records"] == pytest.approx(3 * per_segment / runner.SEGMENT_RECORDS)


def test_planning_a_large_bbob_job_never_builds_its_data(tmp_path, monkeypatch):
    """The plan reads a BBOB instance's sizes from its shapes (``bbob.instance_shapes``): the data
    (a rotation is O(dim^3) to build) is never built, so planning is instant at any dim."""
    import time

    from landscapes import bbob, bbob_functions

    bbob.instance_shapes(15, 5)  # the shape templates, from builds at two small dims, cached

    def never(*args, **kwargs):
        raise AssertionError("the planner built instance data")

    monkeypatch.setattr(bbob, "instance_data", never)
    monkeypatch.setattr(bbob_functions, "rotation", never)
    monkeypatch.setattr(bbob_functions, "optimum_location", never)
    for name, dim in (("bbob_f15", bbob.MAX_ROTATED_DIM), ("bbob_f20", 10_000)):
        suite_path = tmp_path / f"{name}.toml"
        suite_path.write_text(grid(instances=[0], num=2).replace(
            'landscapes = [{ name = "beale", instances = [0] }]',
            f'landscapes = [{{ name = "{name}", dim = {dim}, instances = [1, 2] }}]'))
        suite = load_suite(str(suite_path))
        (land,), (opt,) = suite.landscapes, suite.optimizers
        started = time.perf_counter()
        plan = memory.plan_job(runner.Job(suite, land, opt, "tune", opt.configs(), suite.seeds))
        assert time.perf_counter() - started < 5.0
        shapes, x_opt = bbob.instance_shapes(int(name[-2:]), dim)
        numbers = sum(np.prod(shape) for shape in shapes.values()) + np.prod(x_opt) + 1
        assert plan.parts["instance data"] >= 2 * numbers * (4 + 8)  # two instances' at least


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measures peak memory from /proc/self/status, which only Linux has")
@pytest.mark.slow  # starts processes: the full run only
def test_the_plan_of_a_dim_10000_bbob_run_is_above_its_measured_peak(tmp_path):
    """One run of bbob_f20 in dim 10,000 on a CPU: a call's 8,192 rows of outputs dominate, and the
    plan (max over the tune and test jobs) must stay above the whole process's peak (VmHWM), the
    Python and JAX runtime included, without the 10x margin it once had (which refused jobs that
    fit)."""
    suite_path = tmp_path / "f20.toml"
    suite_path.write_text(grid(instances=[0], num=1).replace(
        'landscapes = [{ name = "beale", instances = [0] }]',
        'landscapes = [{ name = "bbob_f20", dim = 10000, instances = [1] }]')
        .replace("starts = 1", "starts = 1\ntrajectory_every = 0"))
    suite = load_suite(str(suite_path))
    (land,), (opt,) = suite.landscapes, suite.optimizers
    configs = opt.configs()
    one = {key: values[:1] for key, values in configs.items()}
    planned = max(memory.plan_job(runner.Job(suite, land, opt, "tune", configs, suite.seeds)).total,
                  memory.plan_job(runner.Job(suite, land, opt, "test", one, suite.test_seeds)).total)
    code = ("import sys; from bench.cli import main; rc = main(sys.argv[1:]);"
            " peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
            " print('PEAK_KB', peak); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "run", str(suite_path), "--out",
                           str(tmp_path / "out"), "--no-report", "--memory-budget", "64G"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stdout.split("PEAK_KB")[1].split()[0]) * 1024
    assert peak <= planned < 3 * peak, (memory.human(peak), memory.human(planned))


def test_a_suite_asking_for_a_rotation_too_large_to_build_is_refused_in_one_line(tmp_path, capsys):
    """bbob_f10 at dim 10,000 needs COCO's 10,000 x 10,000 rotation, O(dim^3) to build on the host:
    the suite is refused when read, naming the largest dim, instead of an hour's silent build."""
    from landscapes import bbob

    suite = tmp_path / "big.toml"
    suite.write_text(grid(instances=[0], num=1).replace(
        'landscapes = [{ name = "beale", instances = [0] }]',
        'landscapes = [{ name = "bbob_f10", dim = 10000, instances = [1] }]'))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"use dim <= {bbob.MAX_ROTATED_DIM}" in err and "bbob_f10" in err
    assert not out.exists()


def test_the_plan_counts_the_best_gaps_a_cpu_block_keeps_for_many_targets(tmp_path, monkeypatch):
    """With COCO's 51 targets a CPU block keeps every step's best gap for each of its rows
    (``bench.core.step.stores_best``): the plan holds them for the two calls alive at once."""
    from bench.core import step
    from bench.core.engine import CPU_RUNS_PER_DEVICE

    suite_path = tmp_path / "coco51.toml"
    suite_path.write_text(grid(instances=[0], num=2).replace("steps = 6", 'steps = 50000\ntargets = "coco51"'))
    suite = load_suite(str(suite_path))
    assert len(suite.targets) == 51
    (land,), (opt,) = suite.landscapes, suite.optimizers
    job = runner.Job(suite, land, opt, "tune", opt.configs(), suite.seeds)
    kept = memory.plan_job(job).total
    monkeypatch.setattr(step, "STORED_BEST_MAX_STEPS", 0)
    counted = memory.plan_job(job).total
    item = 8 if suite.dtype == "float64" else 4
    assert kept - counted >= 2 * CPU_RUNS_PER_DEVICE * 50000 * item


def test_a_coco51_budget_too_large_for_memory_is_refused_naming_steps_and_targets(tmp_path, capsys):
    """With COCO's 51 targets on a CPU most of a long budget's plan is every step's best gap; the
    refusal said "use a smaller dim" of a 2-D landscape, which changes next to nothing."""
    suite = tmp_path / "coco51.toml"
    suite.write_text(grid(instances=[0], num=2).replace(
        "steps = 6", 'steps = 60000\ntargets = "coco51"\ntrajectory_every = 0'))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--no-report", "--memory-budget", "10M"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "over the memory budget" in err and "smaller dim" not in err, err
    assert "fewer steps" in err and "coco8" in err, err
    assert not out.exists()
