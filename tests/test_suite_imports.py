"""A suite's ``imports``: the user's own landscapes (and optimizers) through the command line.

docs/extending_landscapes.md registers a landscape in the user's module; ``imports = ["module"]``
in a suite makes ``landscape-bench run suite.toml`` see it: the suite's checks, the sweeps, the
scipy references in their worker process, a lone rerun, and the views the report reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import landscapes
from bench.cli import main
from bench.run.results import read_results
from bench.run.suites import load_suite
from landscapes.errors import InputError

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

REPOSITORY = Path(__file__).resolve().parents[1]
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
    assert f"contour_{NAME}.png" in report and "gap_vs_step" in report
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


REPORT_CHILD = f"""
import json, sys
from reports import build_report
build_report(sys.argv[1], sys.argv[2], formats=("png", "svg"), workers=0)
print(json.dumps({{"jax": sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "optax")),
                  "user": "{MODULE}" in sys.modules,
                  "problem code": sorted(m for m in sys.modules if m in ("landscapes.registry", "optimizers",
                                                                       "bench.core", "bench.run.suites"))}}))
"""


def test_a_report_reads_files_only_and_is_the_same_from_any_folder(user_suite, tmp_path):
    # A report rebuilt from another folder once lost the user's contour: it imported the user's
    # module to evaluate the landscape. Now the run writes what figures need (views.npz), and a
    # report imports neither JAX nor the user's modules, wherever it is built.
    out = tmp_path / "out"
    assert main(["run", str(user_suite), "--out", str(out), "--no-shard", "--no-report"]) == 0
    assert (out / "views.npz").is_file()
    (out / "views.npz").unlink()  # a resumed run with nothing left to do writes them again
    assert main(["run", str(user_suite), "--out", str(out), "--no-shard", "--no-report"]) == 0
    assert (out / "views.npz").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pages = {}
    for where in (user_suite.parent, elsewhere):  # beside the user's module, and far from it
        built = subprocess.run([sys.executable, "-c", REPORT_CHILD, str(out), str(where / "report")],
                               cwd=where, env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
                               capture_output=True, text=True, check=True)
        assert json.loads(built.stdout.splitlines()[-1]) == {"jax": [], "user": False, "problem code": []}
        pages[where] = where / "report"
    first, second = pages.values()
    assert (first / "report.md").read_bytes() == (second / "report.md").read_bytes()
    assert (first / "report.html").read_bytes() == (second / "report.html").read_bytes()
    figures = sorted(p.name for p in (first / "figures").iterdir())
    assert figures == sorted(p.name for p in (second / "figures").iterdir())
    assert f"contour_{NAME}.png" in figures and "gap_vs_step.png" in figures
    for name in figures:
        if name.endswith(".png"):
            assert (first / "figures" / name).read_bytes() == (second / "figures" / name).read_bytes()
    missing = (first / "report.md").read_text().split("## What is missing")[1]
    assert "views" not in missing and "cannot" not in missing


def test_certify_imports_the_users_module(user_suite, monkeypatch, capsys):
    monkeypatch.chdir(user_suite.parent)
    assert main(["certify", "--import", MODULE, NAME]) == 0
    table = capsys.readouterr().out
    assert NAME in table and "certified" in table
    assert main(["certify", "--import", "no_such_module_here", NAME]) == 2
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
