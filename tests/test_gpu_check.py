"""bench.gpu_check's XLA flag variants: each in its own interpreter, a flag XLA does not know is
recorded as that variant's error and the other variants' figures are kept."""

import json

import pytest

from bench import gpu_check


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


def test_mnist_part_times_both_weight_updates_and_compares_their_losses(tmp_path):
    assert gpu_check.main(["--quick", "--out", str(tmp_path), "--skip", "agreement", "engine", "baselines",
                           "suite", "--mnist-tiles", "16x16", "32X16", "--mnist-profile"]) == 0
    mnist = json.loads((tmp_path / "gpu_check.json").read_text())["mnist"]
    assert len(mnist["kernel_check"]) == 3  # the kernel against optax on this device (the interpreter here)
    for check in mnist["kernel_check"].values():
        assert check["max_rel_diff"] < 1e-4 and check["inactive_run_unchanged"], check
    rows = mnist["2"]["batch_64"]
    assert sorted(rows) == ["fused_16x16", "fused_32x16", "xla"]
    assert rows["xla"]["update"] == "xla" and rows["fused_32x16"]["update_tile"] == [32, 16]
    for name in ("fused_16x16", "fused_32x16"):
        assert rows[name]["vmapped_per_config_s"] > 0
        assert rows[name]["agreement"]["final_loss_within_1pct"] == 1.0
    for row in rows.values():  # --mnist-profile: where one vmapped call spent its time, per XLA op
        ops = row["ops"]["ops"]
        assert row["ops"]["total_ms"] > 0 and ops and all(op["calls"] >= 1 for op in ops)
        assert [op["ms"] for op in ops] == sorted((op["ms"] for op in ops), reverse=True)
        assert ops[0]["share"] == pytest.approx(ops[0]["ms"] / row["ops"]["total_ms"])


def test_an_empty_mnist_tiles_times_the_xla_update_only(tmp_path):
    assert gpu_check.main(["--quick", "--out", str(tmp_path), "--skip", "agreement", "engine", "baselines",
                           "suite", "--mnist-tiles"]) == 0
    assert list(json.loads((tmp_path / "gpu_check.json").read_text())["mnist"]["2"]["batch_64"]) == ["xla"]


def test_a_malformed_mnist_tile_is_refused_before_anything_runs(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        gpu_check.main(["--out", str(tmp_path), "--mnist-tiles", "64by64"])
    assert stop.value.code == 2
    assert "--mnist-tiles takes ROWSxCOLUMNS values such as 64x64; got 64by64" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_check.main(["--out", str(tmp_path), "--mnist-tiles", "48x64"])
    assert "--mnist-tiles: update_tile sizes must be powers of two in [16, 256]; got (48, 64)" in (
        capsys.readouterr().err)
    assert not (tmp_path / "gpu_check.json").exists()
