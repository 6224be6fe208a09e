"""The BBOB measurement tool (bench.tools.bbob_measure) on a tiny suite: every optimizer entry is
tuned then tested, and the roofline counts more FLOPs for a rotated Rastrigin than for a sphere."""

from __future__ import annotations

from bench.tools import bbob_measure

SUITE = """
name = "tiny_bbob"
steps = 4
targets = "coco51"
success_target = 1e-6
seeds = [0]
test_seeds = [1000]
starts = 2
instances = [1, 2]
landscapes = [{ name = "bbob_f01", dim = 2 }, { name = "bbob_f15", dim = 2 }]

[[optimizer]]
family = "sgd"
schedule = "constant"
[optimizer.space]
learning_rate = [1e-3, 1e-2]

[[optimizer]]
family = "adam"
schedule = "constant"
[optimizer.space]
learning_rate = [1e-2]
"""


def test_pair_times_every_entry_tuned_then_tested(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    rows = bbob_measure.pair_times(1, 2, str(path))
    assert [(r["label"], r["configs"]) for r in rows] == [("sgd/constant", 2), ("adam/constant", 1)]
    assert all(r["tune_seconds"] > 0 and r["test_seconds"] > 0 for r in rows)


def test_roofline_counts_the_step_s_flops(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    sphere, rastrigin = bbob_measure.roofline(2, [1, 15], steps=3, blocks=1, repeats=1,
                                              suite_name=str(path))
    assert sphere["runs"] == rastrigin["runs"] > 0 and len(sphere["seconds"]) == 1
    assert rastrigin["flops_per_step"] > 2 * sphere["flops_per_step"] > 0
    assert 0 < rastrigin["roofline_fraction"] < 1
    assert bbob_measure._functions("2-4") == [2, 3, 4] and bbob_measure._functions("1,9") == [1, 9]
