"""Suites: the built-ins parse, and every kind of bad suite is a one-line error before compiling."""

from __future__ import annotations

import pytest

from bench.run.suites import builtin_suites, load_suite, parse_suite
from landscapes.errors import InputError

MINIMAL = """
landscapes = ["beale"]
[[optimizer]]
family = "sgd"
"""


@pytest.mark.parametrize("name", builtin_suites())
def test_builtin_suites_parse_and_validate(name):
    suite = load_suite(name)
    assert suite.landscapes and suite.optimizers
    for entry in suite.optimizers:
        configs = entry.configs()
        assert len({len(v) for v in configs.values()}) == 1


def test_default_and_quick_ship():
    assert {"default", "quick"} <= set(builtin_suites())


def test_minimal_suite_gets_defaults():
    suite = parse_suite(MINIMAL)
    assert suite.steps == 1000 and suite.dtype == "float32" and suite.landscapes[0].dim == 2
    assert suite.optimizers[0].schedule == "constant"
    assert suite.trajectory_every == 20  # paths on 2-D landscapes without asking for them
    assert parse_suite("steps = 5\n" + MINIMAL).trajectory_every == 5  # never above the budget


def test_random_search_draws_trials():
    suite = parse_suite(MINIMAL.replace('family = "sgd"', 'family = "sgd"\nsearch = "random"\n'
                                        'trials = 5\n[optimizer.space]\n'
                                        'learning_rate = { log_uniform = [1e-4, 1e-1] }'))
    lr = suite.optimizers[0].configs()["learning_rate"]
    assert len(lr) == 5 and (lr >= 1e-4).all() and (lr <= 1e-1).all()


@pytest.mark.parametrize("text, message", [
    ('landscapes = ["beal"]\n[[optimizer]]\nfamily = "sgd"', "did you mean beale"),
    ('landscapes = ["beale"]\n[[optimizer]]\nfamily = "nesterv"', "nesterov"),
    ('landscapes = ["beale"]\n[[optimizer]]\nfamily = "sgd"\nschedule = "cosin"', "cosine"),
    ('landscapes = ["beale"\n', "malformed TOML"),
    ('landscapes = [{ name = "beale", dim = 3 }]\n[[optimizer]]\nfamily = "sgd"', "2-dimensional"),
    (MINIMAL + 'dtype = "float16"', "dtype"),
    ("stepz = 3\n" + MINIMAL, "stepz"),
    ("steps = -1\n" + MINIMAL, "steps must be in"),
    ('landscapes = []\n[[optimizer]]\nfamily = "sgd"', "non-empty list"),
    ('landscapes = ["beale"]', "[[optimizer]]"),
    (MINIMAL + "[optimizer.space]\nlearning_rate = [-1.0]", "learning_rate must be"),
    (MINIMAL + "[optimizer.space]\nmomentum = [0.5]", "hyperparameter"),
    (MINIMAL + "[optimizer.space]\nlerning_rate = [0.5]",
     "unknown hyperparameter of sgd/constant in suite <string>, optimizer #1: 'lerning_rate'; did you"
     " mean learning_rate"),
    (MINIMAL + "[optimizer.space]\nlearning_rate = { log_uniform = [1e-4, 1e-1] }", "num = N"),
    # Found by the bad-input audit of session 5: each was accepted and gave wrong or lost numbers.
    ("targets = [1e-1, 1e-2]\nsuccess_target = 1e-8\n" + MINIMAL,
     "success_target 1e-08 must be one of the targets (0.1, 0.01); add it to targets"),
    ("seeds = [0, 1]\ntest_seeds = [1, 2]\n" + MINIMAL, "test_seeds must be fresh, not tuning seeds: [1]"),
    ('landscapes = ["beale", "beale"]\n[[optimizer]]\nfamily = "sgd"',
     "landscapes #1 and #2 are both 'beale' in dim 2; list every instance in one entry"),
    ('landscapes = ["beale"]\n[[optimizer]]\nfamily = "sgd"\n[[optimizer]]\nfamily = "sgd"\n'
     "[optimizer.space]\nlearning_rate = [0.1]",
     "optimizers #1 and #2 have the same label 'sgd/constant'; give each its own label"),
    ('name = "../../escaped"\n' + MINIMAL, "name must be 1-100 letters, digits"),
    ('name = ["a", "b"]\n' + MINIMAL, "name must be"),
    ('name = ""\n' + MINIMAL, "name must be"),
    ("instances = [99999999999999999999]\n" + MINIMAL, "instances must be a non-empty list of integers in"),
    ("chunk_size = 200000000\n" + MINIMAL, "chunk_size must be in [1, 4194304]"),
    ("starts = 100000\nseeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + MINIMAL
     + "[optimizer.space]\nlearning_rate = { log_uniform = [1e-4, 1e-1], num = 100 }",
     "beale x sgd/constant is 100,000,000 runs (configs x instances x seeds x starts), above the limit"),
    (MINIMAL + "trials = 5\n", 'trials and seed are for search = "random"'),
    (MINIMAL + 'search = "random"\n[optimizer.space]\nlearning_rate = { log_uniform = [1e-4, 1e-1], num = 3 }',
     "num is the number of grid points; random search draws trials = N configs"),
    # Found by the hostile tests of session 11.
    ("targets = [1e-2, 1e-3, 1e-2]\nsuccess_target = 1e-2\n" + MINIMAL, "targets repeat 0.01; give each"),
    (MINIMAL + 'label = " "\n', "label = ' ' names nothing"),
    # Found by the hostile tests of session 12: each repeat wrote its rows and job marker again.
    ('references = ["BFGS", "CG", "BFGS"]\n' + MINIMAL, "references repeat 'BFGS'; give each method once"),
    # a line break split the label's rows of report.md's tables in two
    (MINIMAL + 'label = "a\\nb"\n', "label = 'a\\nb' holds a line break or other control character"),
])
def test_bad_suites_are_one_line_errors(text, message):
    with pytest.raises(InputError) as info:
        parse_suite(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_suite_file_that_is_not_utf8_says_so_and_a_bom_is_fine(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(('name = "caf\u00e9"\n' + MINIMAL).encode("latin-1"))
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 11\); save it as UTF-8"):
        load_suite(str(path))
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_suite(str(path)).landscapes[0].name == "beale"


def test_unknown_builtin_suite_lists_close_names():
    with pytest.raises(InputError, match="quick"):
        load_suite("quik")


def test_a_builtin_name_is_the_suite_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "quick").mkdir()  # e.g. inside results/, where a quick run writes results/quick
    monkeypatch.chdir(tmp_path)
    assert load_suite("quick").source == "builtin:quick"
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match=r"cannot read suite file 'mine' .*built-in suite \(bbob, default, quick\)"):
        load_suite("mine")


def test_the_readme_suite_example_parses_as_documented():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    suite = parse_suite(block)
    assert suite.name == "mine" and suite.steps == 2000 and suite.success_target in suite.targets
    assert suite.references == ("L-BFGS-B",) and [o.label for o in suite.optimizers] == ["nesterov/time_based"]
    assert suite.mnist["epochs"] == 10


@pytest.mark.parametrize("given, first", [("bbob_f1", "bbob_f01"), ("BBOB_F07", "bbob_f07"),
                                          ("Beale", "beale")])
def test_a_name_off_by_case_or_leading_zeros_is_the_first_suggestion(given, first):
    from landscapes import get_landscape

    with pytest.raises(InputError) as error:
        get_landscape(given)
    message = str(error.value)
    assert f"did you mean {first}" in message and "\n" not in message, message


@pytest.mark.parametrize("targets, dtype, says", [
    ("[1e300, 1e-2]", "float32", "targets 1e+300 cannot be held in float32"),
    ("[1e-2, 1e-50]", "float32", "targets 1e-50 cannot be held in float32"),
    ("[1.0, 1.00000001, 1e-2]", "float32", "targets 1.0 and 1.00000001 are the same number in float32"),
])
def test_targets_the_dtype_cannot_hold_apart_are_refused_in_one_line(targets, dtype, says):
    text = (f'targets = {targets}\nsuccess_target = 1e-2\ndtype = "{dtype}"\nlandscapes = ["beale"]\n'
            '[[optimizer]]\nfamily = "sgd"')
    with pytest.raises(InputError) as error:
        parse_suite(text)
    message = str(error.value)
    assert says in message and "\n" not in message, message
    parse_suite(text.replace('dtype = "float32"', 'dtype = "float64"'))  # float64 holds them
