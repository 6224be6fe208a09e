"""A suite's ``imports``: the user's own landscapes (and optimizers) through the command line.

docs/extending_landscapes.md registers a landscape in the user's module; ``imports = ["module"]``
in a suite makes ``landscape-bench run suite.toml`` see it: the suite's checks, the sweeps, the
scipy references in their worker process, a lone rerun and the report.
"""

from __future__ import annotations

import sys

import pytest

import landscapes
from bench.cli import main
from bench.run.results import read_results
from bench.run.suites import load_suite
from landscapes.errors import InputError

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

MODULE = "lb_test_user_landscapes"
NAME = "lb_test_user_bowl"

MODULE_SOURCE = f'''
import landscapes
from landscapes import Landscape


def _bowl(x, xp):
    return (x[0] - 1.0) ** 2 + 2.0 * (x[1] + 0.5) ** 2


landscapes.register(Landscape(name="{NAME}", formula=_bowl, dim=2,
                              bounds=((-3.0, 3.0), (-3.0, 3.0)), minimizers=((1.0, -0.5),),
                              f_star=0.0, source="a test"), replace=True)
'''

SUITE = f'''
name = "user-landscape"
imports = ["{MODULE}"]
steps = 40
starts = 2
trajectory_every = 10
landscapes = ["{NAME}"]
references = ["L-BFGS-B"]
[[optimizer]]
family = "sgd"
[optimizer.space]
learning_rate = [0.05, 0.1]
'''


@pytest.fixture
def user_suite(tmp_path, monkeypatch):
    """The suite file with the user's module beside it; the registration and module are undone."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(MODULE_SOURCE)
    (folder / "suite.toml").write_text(SUITE)
    monkeypatch.chdir(tmp_path)  # not the suite's folder: the module is found beside the suite
    yield folder / "suite.toml"
    sys.modules.pop(MODULE, None)
    landscapes.LANDSCAPES.pop(NAME, None)


def test_the_suite_imports_its_modules_before_checking_names(user_suite):
    assert NAME not in landscapes.LANDSCAPES
    suite = load_suite(str(user_suite))
    assert suite.imports == (MODULE,) and suite.landscapes[0].name == NAME
    assert suite.settings()["imports"] == [MODULE]
    assert "imports" not in load_suite("quick").settings()  # built-in suites keep their record ids


def test_a_module_that_cannot_be_imported_is_one_line(tmp_path):
    (tmp_path / "suite.toml").write_text(SUITE.replace(MODULE, "no_such_module_here"))
    with pytest.raises(InputError, match=r"cannot import 'no_such_module_here' .*next to the suite file"):
        load_suite(str(tmp_path / "suite.toml"))
    (tmp_path / "broken_module_here.py").write_text("raise RuntimeError('half-written')\n")
    (tmp_path / "suite.toml").write_text(SUITE.replace(MODULE, "broken_module_here"))
    with pytest.raises(InputError, match=r"importing 'broken_module_here' failed: RuntimeError: half-written"):
        load_suite(str(tmp_path / "suite.toml"))
    sys.modules.pop("broken_module_here", None)


@pytest.mark.parametrize("given, stem", [("my_landscapes.py", "my_landscapes"),
                                         ("./my_landscapes.py", "my_landscapes"),
                                         ("lib/my_landscapes", "my_landscapes")])
def test_a_file_path_instead_of_a_module_name_says_so(given, stem):
    from bench.run.suites import import_modules

    with pytest.raises(InputError, match=rf"certify: '{given}' is not a module name; give the"
                                         rf" module's name without folder or .py \(e.g. '{stem}'\)"):
        import_modules([given], where="certify")


def test_outside_a_suite_the_hint_does_not_mention_a_suite_file():
    from bench.run.suites import import_modules

    with pytest.raises(InputError) as error:
        import_modules(["no_such_module_here"], where="rerun")
    assert "suite file" not in str(error.value) and "working directory" in str(error.value)


def test_run_rerun_and_report_with_the_users_landscape(user_suite, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(user_suite), "--out", str(out), "--no-shard"]) == 0
    records = read_results(out)
    labels = {(r["landscape"], r["label"]) for r in records}
    assert labels == {(NAME, "sgd/constant"), (NAME, "scipy/L-BFGS-B (reference)")}
    reference = next(r for r in records if r.get("reference"))
    assert min(reference["runs"]["final_gap"]) < 1e-8  # scipy solved the user's bowl
    report = (out / "report" / "report.md").read_text()
    assert "cannot draw the contour" not in report and "gap_vs_step" in report
    tuned = next(r for r in records if r["phase"] == "tune")
    # A lone rerun in a fresh state: the registration is gone until the rerun imports the module.
    sys.modules.pop(MODULE, None)
    landscapes.LANDSCAPES.pop(NAME, None)
    capsys.readouterr()
    assert main(["rerun", str(out), tuned["record_id"]]) == 2  # run from elsewhere: not found
    assert f"cannot import '{MODULE}'" in capsys.readouterr().err
    sys.path.insert(0, str(user_suite.parent))
    try:
        assert main(["rerun", str(out), tuned["record_id"]]) == 0
        assert "reproduces" in capsys.readouterr().out
        # The scipy reference row too: its identity has no suite settings, so the modules come
        # from the other records of the directory.
        sys.modules.pop(MODULE, None)
        landscapes.LANDSCAPES.pop(NAME, None)
        assert main(["rerun", str(out), reference["record_id"]]) == 0
    finally:
        sys.path.remove(str(user_suite.parent))
    out_text = capsys.readouterr().out
    assert "scipy/L-BFGS-B" in out_text and "reproduces the stored runs bitwise" in out_text


def test_the_report_without_the_users_module_says_what_is_missing(user_suite, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(user_suite), "--out", str(out), "--no-shard", "--no-report"]) == 0
    sys.modules.pop(MODULE, None)
    landscapes.LANDSCAPES.pop(NAME, None)
    capsys.readouterr()
    assert main(["report", str(out)]) == 0  # from a folder without the module: no failure
    assert f"landscape-bench report: note: the results' suite: cannot import '{MODULE}'" in (
        capsys.readouterr().err)  # said on the terminal too, not only inside the page
    missing = (out / "report" / "report.md").read_text().split("## What is missing")[1]
    assert f"cannot import '{MODULE}'" in missing and f"{NAME}: cannot draw the contour" in missing


def test_certify_imports_the_users_module(user_suite, monkeypatch, capsys):
    monkeypatch.chdir(user_suite.parent)
    assert main(["certify", "--import", MODULE, NAME]) == 0
    table = capsys.readouterr().out
    assert NAME in table and "certified" in table
    assert main(["certify", "--import", "no_such_module_here", NAME]) == 2
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
