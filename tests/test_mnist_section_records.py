"""The suite's [mnist] section lands in the results file as one record, and is not redone."""

from __future__ import annotations

from bench import runner
from bench.results import ResultsDir, read_results
from bench.suites import parse_suite

SUITE = """
name = "mnist-tiny"
steps = 10
starts = 1
landscapes = ["sphere"]
[[optimizer]]
family = "sgd"
[optimizer.space]
learning_rate = [0.1]
[mnist]
family = "momentum"
schedule = "constant"
epochs = 1
folds = 2
hidden = [16]
batch_size = 128
save_model = false
[mnist.space]
learning_rate = [0.05, 0.1]
momentum = [0.9]
"""


def test_mnist_section_is_one_resumable_record(tmp_path):
    suite = parse_suite(SUITE)
    with ResultsDir(tmp_path) as results:
        assert runner.run_mnist(suite, results) == 1
        assert runner.run_mnist(suite, results) == 0  # resumed: already there
    (record,) = [r for r in read_results(tmp_path) if r.get("kind") == "mnist"]
    cv = record["cv_results"]
    assert len(cv["params"]) == 2 and len(cv["rank_test_score"]) == 2
    assert {"split0_test_score", "split1_test_score", "mean_test_score"} <= set(cv)
    assert record["label"] == "momentum/constant"
    assert record["config"]["learning_rate"] in (0.05, 0.1)
    assert len(record["history"]["test_accuracy"]) == 1
    assert 0.1 < record["test_accuracy"] <= 1.0
