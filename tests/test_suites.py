"""Suites: the built-ins parse, and every kind of bad suite is a one-line error before compiling."""

from __future__ import annotations

import pytest

from bench.suites import builtin_suites, load_suite, parse_suite
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
    (MINIMAL + "[optimizer.space]\nlearning_rate = { log_uniform = [1e-4, 1e-1] }", "num = N"),
])
def test_bad_suites_are_one_line_errors(text, message):
    with pytest.raises(InputError) as info:
        parse_suite(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_builtin_suite_lists_close_names():
    with pytest.raises(InputError, match="quick"):
        load_suite("quik")


def test_a_builtin_name_is_the_suite_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "quick").mkdir()  # e.g. inside results/, where a quick run writes results/quick
    monkeypatch.chdir(tmp_path)
    assert load_suite("quick").source == "builtin:quick"
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match=r"cannot read suite file 'mine' .*built-in suite \(default, quick\)"):
        load_suite("mine")
