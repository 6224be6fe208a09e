"""The command line: one-line errors with exit code 2, resume after kill -9, reproducible records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.cli import main
from bench.run.results import read_results

TIMING_FIELDS = {"cost", "created"}


def _without_timings(record):
    return {k: v for k, v in record.items() if k not in TIMING_FIELDS}


@pytest.mark.parametrize("argv, message", [
    (["run", "quik"], "did you mean quick"),
    (["certify", "beal"], "did you mean beale, noisy_beale? (one of your own? list its module in the suite's"
                          " imports = [...], or give certify and list --import MODULE)"),
    (["list", "--import", "lb_no_such_module"], "list --import: cannot import 'lb_no_such_module'"),
    (["certify", "--seed", "-1", "beale"], "certify --seed must be a whole number in [0, 4294967295]; got -1"),
    (["report", "/nonexistent/dir"], "no results at"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_malformed_suite_file_exit_2(tmp_path, capsys):
    suite = tmp_path / "bad.toml"
    suite.write_text("landscapes = [\n")
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    assert "malformed TOML" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_bare_command_prints_help_and_runs_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: landscape-bench" in out and "landscape-bench run" in out
    assert not (tmp_path / "results").exists()  # the default suite did not start


def test_list_names_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "beale" in out and "nesterov" in out and "time_based" in out and "quick" in out


def test_rerun_reproduces_a_record(tiny_results, capsys):
    record = read_results(tiny_results)[-1]
    assert main(["rerun", str(tiny_results), record["record_id"]]) == 0
    assert "bitwise" in capsys.readouterr().out


def test_rerun_takes_a_unique_prefix_and_explains_an_unknown_id(tiny_results, capsys):
    records = read_results(tiny_results)
    record = records[-1]
    prefix = next(record["record_id"][:n] for n in range(4, 17)
                  if sum(r["record_id"].startswith(record["record_id"][:n]) for r in records) == 1)
    assert main(["rerun", str(tiny_results), prefix]) == 0
    assert f"record {record['record_id']}:" in capsys.readouterr().out
    assert main(["rerun", str(tiny_results), "zz"]) == 2
    err = capsys.readouterr().err
    assert f"no record id 'zz' among the {len(records)} records of" in err
    assert f"the ids are the record_id field of results.jsonl, e.g. {records[0]['record_id']} (" in err
    assert err.count("\n") == 1
    assert main(["rerun", str(tiny_results), ""]) == 2  # every id starts with "": not a prefix
    assert "no record id ''" in capsys.readouterr().err


def test_list_imports_the_users_module(tmp_path, monkeypatch, capsys):
    import optimizers

    (tmp_path / "lb_list_user_optimizer.py").write_text(
        "import optax, optimizers\n"
        "from optimizers import OptimizerFamily\n"
        "optimizers.register_family(OptimizerFamily(name='lb_list_sgd',"
        " build=lambda h, lr: optax.sgd(lr), defaults={'learning_rate': 0.01}))\n")
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["list", "optimizers", "--import", "lb_list_user_optimizer"]) == 0
        assert "lb_list_sgd" in capsys.readouterr().out
    finally:
        optimizers.FAMILIES.pop("lb_list_sgd", None)
        sys.modules.pop("lb_list_user_optimizer", None)


def test_rerun_of_the_same_command_resumes_without_duplicates(tiny_suite_path, tiny_results,
                                                              tmp_path):
    out = tmp_path / "resumed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "bench.cli", "run", str(tiny_suite_path), "--out", str(out),
               "--no-report"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)  # kill -9 mid-run
    process.wait()
    partial = len(read_results(out))
    subprocess.run(command, env=env, check=True, capture_output=True)
    resumed = read_results(out)
    ids = [r["record_id"] for r in resumed]
    assert len(ids) == len(set(ids)), "a record was written twice"
    expected = read_results(tiny_results)
    assert sorted(ids) == sorted(r["record_id"] for r in expected)
    assert killed and partial < len(expected), "the run finished before it could be killed"
    # Same suite, seeds and device in another process: identical records but for timings.
    by_id = {r["record_id"]: _without_timings(r) for r in expected}
    for record in resumed:
        assert json.dumps(_without_timings(record), sort_keys=True) == json.dumps(
            by_id[record["record_id"]], sort_keys=True)


def test_import_ahead_imports_in_the_background_and_leaves_failures_to_the_user(monkeypatch):
    from bench.run import background

    for name in ("calendar", "no_such_module_anywhere"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    thread = background.import_ahead(["no_such_module_anywhere", "calendar"])
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "calendar" in sys.modules  # imported after the one that failed
    assert "no_such_module_anywhere" not in sys.modules


def test_a_script_without_a_main_guard_runs_its_suite_once(tmp_path):
    # The scipy references' spawn worker used to import the caller's script first and so ran the
    # suite a second time (and from stdin failed on '<stdin>').
    suite = tmp_path / "refs.toml"
    suite.write_text('name = "refs"\nsteps = 30\nstarts = 2\nseeds = [0]\ntest_seeds = [5]\n'
                     'landscapes = ["beale"]\nreferences = ["L-BFGS-B"]\n'
                     '[[optimizer]]\nfamily = "sgd"\n[optimizer.space]\nlearning_rate = [0.001]\n')
    script = tmp_path / "unguarded.py"
    script.write_text("from bench.cli import main\nprint('SCRIPT-TOP-LEVEL', flush=True)\n"
                      f"main(['run', {str(suite)!r}, '--out', {str(tmp_path / 'out')!r},"
                      " '--no-report', '--no-shard'])\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("SCRIPT-TOP-LEVEL") == 1
    assert "another landscape-bench run" not in done.stderr
    assert any(r.get("reference") for r in read_results(tmp_path / "out"))


def test_an_out_that_is_a_file_and_a_results_file_that_is_a_folder_are_one_line(tiny_results,
                                                                                  tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["report", str(tiny_results), "--out", str(a_file)]) == 2
    assert "is a file, not a folder; choose a folder" in capsys.readouterr().err
    assert main(["compare", str(tiny_results), str(tiny_results), "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "odd" / "results.jsonl").mkdir(parents=True)
    assert main(["report", str(tmp_path / "odd")]) == 2
    assert "results.jsonl is not a file (a folder?)" in capsys.readouterr().err


def test_an_out_that_is_a_link_to_nothing_is_one_line_naming_the_link(tiny_results, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    for out in (link, link / "deeper"):
        assert main(["report", str(tiny_results), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{str(link)!r} is a link to" in err and "which does not exist" in err, err
        assert "free space" not in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_a_bad_cpu_device_count_is_refused(monkeypatch):
    from bench.core.jax_setup import default_cpu_devices
    from landscapes.errors import InputError

    for bad in ("abc", "0", "-2", "1.5"):
        monkeypatch.setenv("LANDSCAPE_BENCH_CPU_DEVICES", bad)
        with pytest.raises(InputError, match="LANDSCAPE_BENCH_CPU_DEVICES must be a whole number >= 1"):
            default_cpu_devices()
    monkeypatch.setenv("LANDSCAPE_BENCH_CPU_DEVICES", "3")
    assert default_cpu_devices() == 3


def test_help_and_list_suites_start_without_jax():
    """`landscape-bench --help` and `list suites` import no JAX (they took 1.3 s, nearly all JAX)."""
    import subprocess
    import sys

    code = ("import sys; from bench.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "main(['list', 'suites'])\nprint('JAX_LOADED', 'jax' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "suites: bbob, default, quick" in done.stdout and "JAX_LOADED False" in done.stdout


def test_the_python_entry_point_runs_a_suite_as_the_command_does(tiny_suite_path, tmp_path):
    """bench.api.run: the command line's run from a notebook, returning the table as data."""
    from bench.api import run
    from bench.run.results import read_results

    result = run(str(tiny_suite_path), tmp_path / "out", report=False, mnist=False)
    assert result.results.exists() and result.counts["ran"] > 0 and result.report is None
    labels = {(row["problem"], row["label"]) for row in result.table}
    assert ("beale", "sgd/constant") in labels and ("himmelblau", "nesterov/time_based") in labels
    assert all(0.0 <= row["success_rate"] <= 1.0 and row["runs"] > 0 for row in result.table)
    again = run(str(tiny_suite_path), tmp_path / "out", report=False, mnist=False)  # resumes
    assert again.counts["ran"] == 0 and again.table == result.table
    assert len(read_results(tmp_path / "out")) == len(read_results(result.out))


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a read-only place to write into; /proc (Linux) is one, and this system has none")
def test_report_and_compare_into_a_read_only_place_are_one_line(tiny_results, capsys):
    for argv in (["report", str(tiny_results), "--out", "/proc/landscape-bench-report"],
                 ["compare", str(tiny_results), str(tiny_results), "--out", "/proc/lb-compare"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert ("cannot be written" in err or "could not write" in err) and "\n" not in err


def test_rerun_of_a_record_without_identity_is_one_line(tiny_results, tmp_path, capsys):
    import json
    import shutil

    out = tmp_path / "r"
    shutil.copytree(tiny_results, out)
    path = out / "results.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    del record["identity"]
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    assert main(["rerun", str(out), record["record_id"]]) == 2
    assert "has no identity, so it cannot be recomputed" in capsys.readouterr().err


@pytest.mark.slow  # starts processes: the full run only
def test_a_reader_that_goes_away_ends_the_listing_quietly(tmp_path):
    """`landscape-bench list landscapes | head -1`: no BrokenPipeError traceback on stderr, buffered
    output or not. The pipe's reader is gone before the listing starts, so no race decides it."""
    for unbuffered in ("", "1"):
        read_end, write_end = os.pipe()
        os.close(read_end)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        if unbuffered:
            env["PYTHONUNBUFFERED"] = unbuffered
        done = subprocess.run([sys.executable, "-m", "bench.cli", "list", "landscapes"], stdout=write_end,
                              stderr=subprocess.PIPE, env=env, timeout=120)
        os.close(write_end)
        assert done.returncode == 141 and done.stderr == b"", done.stderr[-2000:]


def test_empty_names_are_one_line_and_write_nothing(tiny_results, tiny_suite_path, tmp_path,
                                                     capsys, monkeypatch):
    """An empty --out would write into the working directory, an empty suite name would run the
    default suite, a blank label would name nothing in the tables: each is refused in one line."""
    monkeypatch.chdir(tmp_path)
    blank = tmp_path / "blank.toml"
    blank.write_text(tiny_suite_path.read_text().replace('schedule = "constant"',
                                                         'schedule = "constant"\nlabel = "  "', 1))
    cases = [(["run", str(tiny_suite_path), "--out", ""], "--out is empty"),
             (["run", ""], "the suite name is empty"),
             (["run", str(blank), "--out", "b"], "label = '  ' names nothing"),
             (["report", str(tiny_results), "--out", ""], "--out is empty"),
             (["compare", str(tiny_results), str(tiny_results), "--out", " "], "--out is empty"),
             (["export-coco", str(tiny_results), ""], "export folder is empty")]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.toml"]


def test_report_takes_the_results_file_as_compare_does(tiny_results, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(tiny_results / "results.jsonl"), "--out", str(out)]) == 0
    assert (out / "report.html").exists()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
def test_a_ctrl_c_python_swallowed_still_ends_the_run(tiny_suite_path, tmp_path, capsys, monkeypatch):
    """A SIGINT whose KeyboardInterrupt is raised inside a garbage-collection callback (where JAX's
    callback runs, and Python prints and drops it) still ends the run: exit 130, the usual line."""
    import gc
    import signal

    from bench.run import runner

    def swallowed_ctrl_c(phase, info):
        gc.callbacks.remove(swallowed_ctrl_c)
        signal.raise_signal(signal.SIGINT)  # the handler's KeyboardInterrupt is dropped by gc

    real_plan = runner.plan_jobs

    def plan_then_interrupt(*args, **kwargs):
        gc.callbacks.append(swallowed_ctrl_c)
        gc.collect()
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(runner, "plan_jobs", plan_then_interrupt)
    assert main(["run", str(tiny_suite_path), "--out", str(tmp_path / "out"), "--no-report",
                 "--skip-mnist"]) == 130
    assert "interrupted; finished jobs are saved" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_the_browser_check_on_a_missing_page_is_one_line(tmp_path, capsys):
    from reports import browser_check

    assert browser_check.main([str(tmp_path / "report.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such file" in err and "\n" not in err


def test_a_run_whose_report_cannot_be_written_keeps_its_records_and_says_how_to_build_it(
        tiny_suite_path, tmp_path, capsys, monkeypatch):
    import errno

    import reports

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(reports, "build_report", full)
    out = tmp_path / "out"
    assert main(["run", str(tiny_suite_path), "--out", str(out), "--skip-mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "could not write the report" in err and "No space left" in err, err
    assert f"the records are kept: free space, then `landscape-bench report {out}`" in err, err
    assert read_results(out)  # the run's records are there


@pytest.mark.slow  # starts processes: the full run only
def test_a_full_standard_output_is_one_line(tmp_path):
    """`landscape-bench list landscapes > /dev/full` (stdout on a full disk): one line on stderr and
    exit code 2, buffered output or not, not an OSError traceback nor Python's exit-time complaint."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full, the device that fails every write as a full disk does (Linux);"
                    " this system has none to point stdout at")
    for unbuffered in ("", "1"):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        if unbuffered:
            env["PYTHONUNBUFFERED"] = unbuffered
        with open("/dev/full", "wb") as full:
            done = subprocess.run([sys.executable, "-m", "bench.cli", "list", "landscapes"], stdout=full,
                                  stderr=subprocess.PIPE, env=env, timeout=120)
        lines = done.stderr.decode().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
        assert "standard output" in lines[0] and "No space left" in lines[0], lines


def test_a_ctrl_c_turned_into_another_error_still_ends_the_run(tmp_path, capsys, monkeypatch):
    """A SIGINT landing while a C extension initialises (jaxlib's, during the run's imports) comes
    back as an ImportError: still exit 130 and the usual line, not a traceback with exit 1."""
    import signal

    import bench.api

    def import_interrupted(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)  # the handler raises KeyboardInterrupt here
        except KeyboardInterrupt as error:
            raise ImportError("Encountered an error while initializing the extension.") from error

    monkeypatch.setattr(bench.api, "run", import_interrupted)
    assert main(["run", "quick", "--out", str(tmp_path / "out"), "--no-report", "--skip-mnist"]) == 130
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "interrupted; finished jobs are saved" in err[0], err


def test_a_ctrl_c_in_a_gc_callback_prints_no_ignored_traceback(tiny_suite_path, tmp_path, capsys,
                                                                 monkeypatch):
    """A SIGINT handled inside a garbage-collection callback (JAX's runs at every collection) is
    kept as the flag only: Python would drop a KeyboardInterrupt raised there anyway, after printing
    "Exception ignored in: <function _xla_gc_callback ...>" and its traceback above the one line."""
    import gc
    import signal

    from bench.run import runner

    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)

    def swallowed_ctrl_c(phase, info):  # stays registered while it runs, as JAX's does
        if phase == "start":
            signal.raise_signal(signal.SIGINT)

    real_plan = runner.plan_jobs

    def plan_then_interrupt(*args, **kwargs):
        gc.callbacks.append(swallowed_ctrl_c)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(swallowed_ctrl_c)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(runner, "plan_jobs", plan_then_interrupt)
    assert main(["run", str(tiny_suite_path), "--out", str(tmp_path / "out"), "--no-report",
                 "--skip-mnist"]) == 130
    assert dropped == []
    assert "interrupted; finished jobs are saved" in capsys.readouterr().err


def test_a_ctrl_c_inside_a_c_extensions_import_waits_for_it(monkeypatch):
    """A SIGINT handled while a C extension initialises (jaxlib's init importing numpy): raised
    there, numpy's import_array printed its traceback and jaxlib turned it into an ImportError. It
    is kept as the flag, which ends the command after the imports (cmd_run checks it)."""
    from importlib.machinery import ExtensionFileLoader

    from bench import cli

    monkeypatch.setattr(cli._interrupted, "seen", False)

    def exec_module(self):  # as importlib's frame is named, with an extension's loader as self
        cli._interrupted.handler(signal.SIGINT, sys._getframe())

    exec_module(ExtensionFileLoader("fake", "fake.so"))
    assert cli._interrupted.seen
    with pytest.raises(KeyboardInterrupt):
        cli._interrupted.check()
    with pytest.raises(KeyboardInterrupt):  # anywhere else: raised at once
        exec_module(object())


def test_report_of_another_file_is_one_line_naming_it(tiny_results, tmp_path, capsys):
    """`report DIR/views.npz` reported DIR as if its results.jsonl were given, and `report
    suite.toml` said "no results at '.'": a file other than results.jsonl is refused, by its name."""
    import shutil

    shutil.copytree(tiny_results, tmp_path / "run")
    for given in (tmp_path / "run" / "views.npz", tmp_path / "suite.toml"):
        given.touch()
        assert main(["report", str(given), "--out", str(tmp_path / "report")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and str(given) in err and "not a results folder" in err, err
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("argv", [["list", "nonexist"], ["run", "--timing-repeats"], ["nonexist"],
                                  ["report"], ["run", "--no-such-option"]])
def test_a_command_line_argparse_refuses_is_one_line(argv, capsys):
    """argparse's own refusals (an unknown choice or option, a missing value) printed the usage
    lines above the error: one line and exit code 2, as every other bad input."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("landscape-bench") and "error:" in err and "--help" in err, err


def test_an_interrupted_report_does_not_speak_of_jobs(tiny_results, tmp_path, capsys, monkeypatch):
    import reports

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reports, "build_report", interrupted)
    assert main(["report", str(tiny_results), "--out", str(tmp_path / "rep")]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "landscape-bench: interrupted; rerun the same command", err


def test_the_python_entry_point_takes_none_for_the_default_suite(monkeypatch, tmp_path):
    from bench.api import run
    from bench.run import suites
    from landscapes.errors import InputError

    asked = []

    def load_suite(name=None):
        asked.append(name)
        raise InputError("stop here")

    monkeypatch.setattr(suites, "load_suite", load_suite)
    with pytest.raises(InputError, match="stop here"):
        run(None, tmp_path / "out")
    assert asked == [None] and suites.load_suite is load_suite
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # starts two processes that import JAX
def test_the_command_exit_keeps_its_code_and_every_buffered_line(tiny_suite_path, tmp_path):
    """`console_main` ends the process without the interpreter's teardown once JAX is loaded: what
    stdout still buffered (a file, not a terminal) reaches the file, exit handlers run, and the
    exit code is main's, for a finished run and for a refused one."""
    out, log = tmp_path / "out", tmp_path / "stdout.txt"
    code = ("import atexit, sys; atexit.register(lambda: print('EXIT-HANDLER-RAN'));"
            " from bench.cli import console_main; sys.argv[0] = 'landscape-bench'; console_main()")
    with open(log, "w") as handle:
        done = subprocess.run([sys.executable, "-c", code, "run", str(tiny_suite_path), "--out", str(out),
                               "--no-report"], stdout=handle, stderr=subprocess.PIPE, text=True, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, done.stderr
    assert f"results: {out / 'results.jsonl'}" in text and text.endswith("EXIT-HANDLER-RAN\n"), text
    assert read_results(out), "no records"
    with open(log, "w") as handle:  # JAX loaded, then an input error: exit 2, one line
        done = subprocess.run([sys.executable, "-c", "import jax; " + code, "run", "no_such_suite_x"],
                              stdout=handle, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert log.read_text() == "EXIT-HANDLER-RAN\n"
