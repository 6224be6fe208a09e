"""The suite's [mnist] section lands in the results file as one record, and is not redone."""

from __future__ import annotations

import numpy as np

from bench.run import mnist_track
from bench.cli import main
from bench.mnist.data import ENV_VAR
from bench.run.results import ResultsDir, read_results, stable_hash
from bench.run.suites import parse_suite

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
        assert mnist_track.run_mnist(suite, results) == 1
        assert mnist_track.run_mnist(suite, results) == 0  # resumed: already there
    (record,) = [r for r in read_results(tmp_path) if r.get("kind") == "mnist"]
    assert main(["rerun", str(tmp_path), record["record_id"]]) == 2  # one line, not a KeyError
    cv = record["cv_results"]
    assert len(cv["params"]) == 2 and len(cv["rank_test_score"]) == 2
    assert {"split0_test_score", "split1_test_score", "mean_test_score"} <= set(cv)
    assert record["label"] == "momentum/constant"
    assert record["config"]["learning_rate"] in (0.05, 0.1)
    assert len(record["history"]["test_accuracy"]) == 1
    assert 0.1 < record["test_accuracy"] <= 1.0


def _tiny_npz(folder):
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 10  # training folds of 160 images: the section's batch_size is 128
    images = (rng.random((400, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz", x_train=images[:320], y_train=labels[:320], x_test=images[320:],
             y_test=labels[320:])
    return folder


def test_the_data_is_part_of_a_sections_identity(tmp_path, monkeypatch):
    suite = parse_suite(SUITE)
    monkeypatch.delenv(ENV_VAR, raising=False)
    (embedded,) = mnist_track.mnist_sections(suite)
    assert "data_dir" not in embedded  # unchanged, so earlier results directories still resume
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    (from_env,) = mnist_track.mnist_sections(suite)
    assert from_env["data_dir"] == str((tmp_path / "env").resolve())
    (from_option,) = mnist_track.mnist_sections(suite, tmp_path / "option")  # the option wins
    assert from_option["data_dir"] == str((tmp_path / "option").resolve())
    ids = {stable_hash(dict(kind="mnist", spec=spec)) for spec in (embedded, from_env, from_option)}
    assert len(ids) == 3


def test_a_results_directory_is_not_resumed_on_other_mnist_data(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    suite = parse_suite(SUITE)
    with ResultsDir(tmp_path / "out") as results:
        assert mnist_track.run_mnist(suite, results) == 1
        monkeypatch.setenv(ENV_VAR, str(_tiny_npz(tmp_path / "data")))
        assert mnist_track.run_mnist(suite, results) == 1  # other data: run, not skipped as done
        assert mnist_track.run_mnist(suite, results) == 0
    sources = [r["data"]["source"] for r in read_results(tmp_path / "out") if r.get("kind") == "mnist"]
    assert len(sources) == 2 and not sources[0].startswith("npz:")
    assert sources[1] == f"npz:{(tmp_path / 'data' / 'mnist.npz').resolve()}"


def test_a_missing_mnist_dir_is_refused_before_anything_runs(tmp_path, capsys):
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(SUITE)
    code = main(["run", str(suite_file), "--out", str(tmp_path / "out"), "--mnist-dir",
                 str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "MNIST data" in err and "does not exist" in err and "--mnist-dir" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_mnist_settings_and_a_stray_mnist_dir_are_refused_before_anything_runs(tmp_path, capsys):
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(SUITE.replace("folds = 2", 'folds = "two"'))
    assert main(["run", str(suite_file), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().endswith("mnist: folds must be a whole number >= 2; got 'two'")
    suite_file.write_text(SUITE)
    assert main(["run", str(suite_file), "--out", str(tmp_path / "out"), "--skip-mnist",
                 "--mnist-dir", str(tmp_path)]) == 2
    assert "--mnist-dir is for the suite's MNIST section" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
