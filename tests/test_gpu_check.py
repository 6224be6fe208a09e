"""bench.tools.gpu_check's XLA flag variants: each in its own interpreter, a flag XLA does not know is
recorded as that variant's error and the other variants' figures are kept."""

import json

import pytest

from bench.tools import gpu_check

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only


def test_flag_variants_keep_figures_and_record_a_rejected_flag(tmp_path):
    found = gpu_check.flag_variants(
        {"unknown_flag": "--xla_no_such_flag_in_any_version=1",
         "cpu_fast_math_off": "--xla_cpu_enable_fast_math=false"},
        tmp_path, unrolls=[1], sizes=[64], quick=True)
    assert found["unknown_flag"]["error"].startswith("exit code")
    assert "xla_no_such_flag_in_any_version" in found["unknown_flag"]["stderr_tail"]
    rows = found["cpu_fast_math_off"]["engine"]
    assert [(r["runs"], r["unroll"]) for r in rows] == [(64, 1)]
    assert rows[0]["steps_per_second"] > 0
    child = json.loads((tmp_path / "variants" / "cpu_fast_math_off" / "gpu_check.json").read_text())
    assert "--xla_cpu_enable_fast_math=false" in child["xla_flags"]


def test_unknown_variant_is_refused_before_anything_runs(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        gpu_check.main(["--out", str(tmp_path), "--variants", "comand_buffer_while"])
    assert stop.value.code == 2
    assert "unknown variant comand_buffer_while: choose from command_buffer_while" in (
        capsys.readouterr().err)
    assert not (tmp_path / "gpu_check.json").exists()


def test_quick_is_a_cpu_smoke_test(tmp_path):
    # --quick used 65,536 runs at unroll 8: 194 s of engine on this CPU (documentation check).
    assert gpu_check.main(["--quick", "--out", str(tmp_path), "--skip", "agreement", "baselines",
                           "mnist", "suite"]) == 0
    rows = json.loads((tmp_path / "gpu_check.json").read_text())["engine"]
    assert [(r["runs"], r["loop"], r["unroll"] if r["loop"] == "scan" else r["block"]) for r in rows] == [
        (256, "scan", 1), (256, "scan", 2), (256, "fused", 32),
        (4096, "scan", 1), (4096, "scan", 2), (4096, "fused", 32)]
    assert all(r["steps_per_second"] > 0 and r["steps"] == 2000 for r in rows)


def test_mnist_part_times_each_batch_size_and_profiles(tmp_path):
    assert gpu_check.main(["--quick", "--out", str(tmp_path), "--skip", "agreement", "engine", "baselines",
                           "suite", "--mnist-batch-sizes", "32", "64", "--mnist-profile"]) == 0
    mnist = json.loads((tmp_path / "gpu_check.json").read_text())["mnist"]
    assert sorted(mnist) == ["2"] and sorted(mnist["2"]) == ["batch_32", "batch_64"]
    for size, row in mnist["2"].items():
        assert row["batch_size"] == int(size.removeprefix("batch_"))
        assert row["vmapped_per_config_s"] > 0 and row["sequential_per_config_s"] > 0
        ops = row["ops"]["ops"]  # --mnist-profile: where one vmapped call spent its time, per XLA op
        assert row["ops"]["total_ms"] > 0 and ops and all(op["calls"] >= 1 for op in ops)
        assert [op["ms"] for op in ops] == sorted((op["ms"] for op in ops), reverse=True)
        assert ops[0]["share"] == pytest.approx(ops[0]["ms"] / row["ops"]["total_ms"])

