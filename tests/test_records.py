"""The tuning protocol has one home (bench.run.records): the runner, streaming, and the analysis,
reading, choose the same config; tables compare the test records of that config only."""

from __future__ import annotations

import numpy as np

from bench.run.records import Selection, best_config, key_of, tuned_test_records
from suite_text import optimizer_toml, suite_toml


def _record(config_index, instance, reached, steps, gaps, phase="tune"):
    reached = np.asarray(reached, bool)[:, None]
    return dict(config_index=config_index, instance=instance, phase=phase,
                config={"learning_rate": 0.1 * (config_index + 1)}, targets=[1e-3],
                success_target=1e-3,
                runs=dict(reached=reached, steps_to_target=np.asarray(steps)[:, None],
                          final_gap=[None if g is None else g for g in gaps]))


def test_the_key_ranks_success_then_steps_then_gap():
    assert key_of(np.array([True, False]), np.array([5, 9]), np.array([1.0, np.nan])) == (-0.5, 7.0, np.inf)
    better = key_of(np.array([True, True]), np.array([50, 90]), np.array([1.0, 2.0]))
    faster = key_of(np.array([True, True]), np.array([5, 9]), np.array([1.0, 2.0]))
    assert faster < better


def test_streaming_selection_chooses_what_all_records_at_once_choose():
    rng = np.random.default_rng(0)
    records = [_record(c, i, rng.random(4) < 0.5, rng.integers(1, 100, 4), rng.random(4).tolist())
               for c in range(30) for i in range(3)]
    streamed = Selection(3)
    for record in sorted(records, key=lambda r: (r["instance"], -r["config_index"])):
        streamed.add(record)
    assert not streamed.columns  # every config reduced to its key once its instances were in
    assert streamed.best() == best_config(records)


def test_tables_compare_only_the_test_records_of_the_config_the_tuning_chooses():
    """A folder that gained an instance holds test records of the config tuned without it."""
    tune = [_record(0, 0, [True, True], [5, 5], [0.1, 0.1]), _record(1, 0, [True, True], [9, 9], [0.1, 0.1]),
            _record(0, 1, [False, False], [9, 9], [1.0, 1.0]), _record(1, 1, [True, True], [9, 9], [0.1, 0.1])]
    assert best_config(tune[:2]) == {"learning_rate": 0.1}  # tuned on instance 0 alone
    assert best_config(tune) == {"learning_rate": 0.2}  # on instances 0 and 1
    old = _record(0, 0, [True], [5], [0.1], phase="test")
    new = [_record(1, i, [True], [9], [0.1], phase="test") for i in (0, 1)]
    assert tuned_test_records(tune, [old, *new]) == new


def test_adding_an_instance_to_a_folder_adds_runs_and_the_report_pools_one_tuned_config(tmp_path):
    """The reported break: `run` with instances [0] then [0, 1] gave two records for one run and
    the report pooled them. Now instance 0's records keep their ids and numbers, the second run
    adds instance 1, and the report compares one tuned config per (landscape, label)."""
    from bench.analysis import aggregate
    from bench.cli import main
    from bench.run.results import read_results
    from reports.report import evaluation_records

    suite = tmp_path / "s.toml"
    def text(instances):
        return suite_toml("grow", steps=60, success_target=1e-2, test_seeds=[3], starts=4,
                          landscapes=f'[{{ name = "rastrigin", instances = {instances} }}]',
                          optimizers=[optimizer_toml("sgd", "constant", learning_rate=[0.0005, 0.002, 0.008])])
    out = tmp_path / "out"
    suite.write_text(text(instances=[0]))
    assert main(["run", str(suite), "--out", str(out), "--no-report"]) == 0
    first = {r["record_id"]: r for r in read_results(out)}
    suite.write_text(text(instances=[0, 1]))
    assert main(["run", str(suite), "--out", str(out), "--no-report"]) == 0
    both = {r["record_id"]: r for r in read_results(out)}
    assert first.keys() <= both.keys()  # nothing of the first run was run again or replaced
    chosen, _ = evaluation_records(list(both.values()))
    for (_, _), group in aggregate.group_by(chosen, "problem", "label").items():
        assert len({tuple(sorted(r["config"].items())) for r in group}) == 1
        assert sorted(r["instance"] for r in group) == [0, 1]
