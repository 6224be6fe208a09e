"""The ``landscape-bench`` command line: run, list, certify, report, compare, rerun, export-coco.

Bad input (unknown names, malformed suites, unusable directories) ends in one line on stderr and exit
code 2; results already written stay as they are.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from pathlib import Path

from bench.cli_guards import StdoutError, interrupted_exit, interrupts_kept, stdout_watched
from bench.cli_guards import interrupted as _interrupted  # the tests reach it here too
from landscapes.errors import InputError

EXIT_INPUT = 2


def _progress_printer(total: int | None = None):
    """A progress bar on stderr, drawn from the first job on: a run refused before any job (bad
    input, the memory plan) prints its one line and nothing else."""
    bar = None

    def progress(message: str) -> None:
        nonlocal bar
        _interrupted.check()  # each job starts here: a swallowed Ctrl-C ends the run before it
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="job", dynamic_ncols=True, file=sys.stderr)
        bar.set_description_str(message[:70])
        bar.update(1)

    progress.close = lambda: bar is not None and bar.close()  # type: ignore[attr-defined]
    return progress


def cmd_run(args) -> int:
    from bench.api import run
    from bench.run import mnist_track, runner
    from bench.run.suites import load_suite
    from bench.run.timing import check_timing_repeats

    timing_repeats = check_timing_repeats(args.timing_repeats)  # before anything is loaded or written
    if timing_repeats:
        from reports.timings import MIN_REPEATS

        if timing_repeats < MIN_REPEATS:
            print(f"landscape-bench: note: --timing-repeats {timing_repeats} times each job"
                  f" {timing_repeats} more time(s), but compare judges speed only from"
                  f" {MIN_REPEATS} repeats up; give {MIN_REPEATS} or more for a speed verdict",
                  file=sys.stderr)
    suite = load_suite(args.suite)
    _interrupted.check()  # a Ctrl-C during the imports just done (JAX's): before any worker starts
    total = (2 * len(runner.plan_jobs(suite)) + (0 if args.skip_mnist else len(
        mnist_track.mnist_sections(suite, args.mnist_dir))) + len(suite.landscapes) * len(suite.references))
    progress = _progress_printer(total)
    try:
        result = run(args.suite, args.out, report=False, mnist=not args.skip_mnist,
                     mnist_dir=args.mnist_dir, shard=not args.no_shard,
                     memory_budget=args.memory_budget, timing_repeats=timing_repeats,
                     progress=progress)
    finally:
        progress.close()
    counts = result.counts
    print(f"suite {suite.name!r}: {counts['ran']} jobs run, {counts['skipped']} already done"
          f" (resumed), {counts['records']} records written in {result.seconds:.1f} s")
    print(f"results: {result.results}")
    if not args.no_report:
        from reports import build_report

        out = result.out / "report"
        fix = f"the records are kept: free space, then `landscape-bench report {result.out}`"
        print(f"report:  {_written('report', out, lambda: build_report(result.out, out), fix=fix)}")
    return 0


def cmd_list(args) -> int:
    what = args.what
    if what == "suites" and not args.imports:  # no registry needed: starts without JAX
        from bench.suite_files import builtin_suites

        print("suites: " + ", ".join(builtin_suites()))
        return 0
    import landscapes
    import optimizers
    from bench.run.suites import builtin_suites, import_modules

    import_modules(args.imports, where="list --import")
    if what in ("landscapes", "all"):
        print("landscapes:")
        for name, land in sorted(landscapes.LANDSCAPES.items()):
            dim = land.dim if land.dim is not None else f"N (default {land.default_dim})"
            print(f"  {name:28s} dim {dim!s:16s} f* = {land.minimum():.10g}"
                  f"  minima: {len(land.minimizer_array())}")
    if what in ("optimizers", "all"):
        print("optimizer families:")
        for name, family in sorted(optimizers.FAMILIES.items()):
            print(f"  {name:12s} hyperparameters: {', '.join(family.hparams)}")
        print("schedules:")
        for name, schedule in sorted(optimizers.SCHEDULES.items()):
            print(f"  {name:12s} hyperparameters: {', '.join(schedule.hparams) or '-'}")
    if what in ("suites", "all"):
        print("suites: " + ", ".join(builtin_suites()))
    return 0


def cmd_certify(args) -> int:
    import landscapes
    from bench.core.jax_setup import configure_jax
    from landscapes.ground_truth import certify, format_certificates

    if not 0 <= args.seed <= 2**32 - 1:
        raise InputError(f"certify --seed must be a whole number in [0, {2**32 - 1}]; got {args.seed}")
    configure_jax()
    from bench.run.suites import import_modules

    import_modules(args.imports, where="certify --import")
    names = args.names or sorted(landscapes.LANDSCAPES)
    chosen = [landscapes.get_landscape(n) for n in names]  # all names checked before any work
    certificates = []
    for land in chosen:
        certificates.append(certify(land, seed=args.seed))
    print(format_certificates(certificates))
    failed = [c.name for c in certificates if not c.certified]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _folder(path: str | Path, option: str = "--out") -> Path:
    """An output folder given with ``option``: refused in one line when it is empty, a file or cannot
    be written (checked on the nearest folder that exists; nothing is created here)."""
    if not str(path).strip():
        raise InputError(f"{option} is empty; give a folder (\".\" for this one)")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a file, not a folder; choose a folder")
    for link in (path, *path.parents):  # a link to nothing: mkdir would say "File exists"
        if link.is_symlink() and not link.exists():
            raise InputError(f"{option} {str(path)!r}: {str(link)!r} is a link to"
                             f" {os.readlink(link)!r}, which does not exist; create that folder or"
                             " choose another")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise InputError(f"{option} {str(path)!r} lies under {str(existing)!r}, which is a file, not a"
                         " folder; choose a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {str(path)!r} cannot be written ({str(existing)!r} is read-only);"
                         " choose a folder you can write to")
    return path


def _written(what: str, out: Path, write, option: str = "--out", fix: str | None = None):
    """Run ``write()``; a failure to write (a full disk, a folder made read-only meanwhile) is one
    line naming the folder and ``fix`` (default: free space or choose another ``option``), not a
    traceback."""
    try:
        return write()
    except OSError as error:
        raise InputError(f"could not write the {what} to {str(out)!r} ({error.strerror});"
                         f" {fix or f'free space or choose another {option}'}") from None


def cmd_report(args) -> int:
    from reports import build_report

    results = Path(args.results)
    if results.is_file():  # the results.jsonl itself, as compare and export-coco take it
        if results.name != "results.jsonl":
            raise InputError(f"{str(results)!r} is a file, not a results folder; give the folder a"
                             " run wrote (or its results.jsonl)")
        results = results.parent
    out = _folder(args.out if args.out is not None else results / "report")
    print(_written("report", out, lambda: build_report(results, out)))
    return 0


def cmd_compare(args) -> int:
    from reports import compare_runs

    out = _folder(args.out if args.out is not None else Path("comparison"))
    print(_written("comparison", out,
                   lambda: compare_runs(Path(args.run_a), Path(args.run_b), out)).resolve())
    return 0


def _record_id(given: str, records: dict[str, dict], where: str) -> str:
    """The record id ``given`` names: the id itself or a unique prefix of it (as git takes hashes)."""
    if given in records:
        return given
    found = [i for i in records if i.startswith(given)] if given else []
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(f"record id prefix {given!r} matches {len(found)} records"
                         f" ({', '.join(sorted(found)[:4])}, ...); give more of it")
    examples = "; ".join(
        f"{i} ({r.get('landscape', r.get('kind'))} instance {r.get('instance')} {r.get('label')}"
        f" {r.get('phase')})" for i, r in list(records.items())[:2])
    raise InputError(f"no record id {given!r} among the {len(records)} records of {where!r}; the"
                     f" ids are the record_id field of results.jsonl, e.g. {examples}")


def cmd_rerun(args) -> int:
    import numpy as np

    from bench.core.jax_setup import configure_jax
    from bench.run.results import read_results, to_jsonable
    from bench.run.rerun import rerun_record, suite_imports

    configure_jax()
    records = {r["record_id"]: r for r in read_results(args.results)}
    record_id = _record_id(args.record_id, records, args.results)
    old = records[record_id]
    if old.get("kind") == "mnist":
        raise InputError(f"record {record_id} is an MNIST section: rerun recomputes landscape and"
                         " reference records; to redo the section, run the suite into a new --out")
    from bench.core.sharding import runs_sharding

    if not isinstance(old.get("identity"), dict):
        raise InputError(f"record {record_id} has no identity, so it cannot be recomputed (a record"
                         " written by hand or damaged); rerun takes records that landscape-bench wrote")
    from bench.core import environment

    new = rerun_record(old, sharding=runs_sharding(), imports=suite_imports(records.values()))
    compared = {f"runs.{k}": (v, new["runs"].get(k)) for k, v in old["runs"].items()}
    if "trajectory" in old or "trajectory" in new:
        compared["trajectory"] = (old.get("trajectory"), new.get("trajectory"))
    differs = [k for k, (a, b) in compared.items() if to_jsonable(a) != to_jsonable(b)]
    print(f"record {record_id}: {new.get('landscape')} instance {new.get('instance')}"
          f" {new.get('family')}/{new.get('schedule')} {new.get('config')}")
    here = environment.identity()
    there = old["identity"].get("environment")
    if there is not None and to_jsonable(there) != to_jsonable(here):
        on = (f"{there.get('device_kind')} with {there.get('versions')}" if isinstance(there, dict)
              else f"{there!r:.60}")  # a hand-edited environment is only reported
        print(f"note: recorded on {on}, rerun on"
              f" {here['device_kind']} with {here['versions']}: bitwise equality is promised only"
              " on the same device kind and versions")
    print("rerun reproduces the stored runs bitwise" if not differs
          else "rerun DIFFERS from the stored runs")
    for key in differs:
        a, b = compared[key]
        try:
            diff = np.nanmax(np.abs(np.asarray(to_jsonable(a), float) - np.asarray(to_jsonable(b), float)))
            print(f"  differs: {key} (max abs diff {diff:.3g})")
        except (TypeError, ValueError):  # shapes or presence differ
            print(f"  differs: {key} (not the same shape or missing)")
    return 0 if not differs else 1


def cmd_export_coco(args) -> int:
    from bench.analysis.coco_export import export_coco
    from landscapes.bbob import start_gap

    out = _folder(args.out, "export folder")
    counts = _written("COCO export", out, lambda: export_coco(args.results, out, start_gap=start_gap),
                      "export folder")
    print(f"wrote {counts['trials']} trials ({counts['records']} records, {counts['labels']}"
          f" optimizer folders) in COCO's format to {args.out}; view with: python -m cocopp"
          f" {args.out}/*")
    return 0


def _import_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help=f"a module of yours that registers {what} (repeatable; looked for in"
                             " the working directory and on PYTHONPATH), as a suite's imports")


class _Parser(argparse.ArgumentParser):
    """argparse's refusals as one line (not the usage lines above it), exit code 2; the
    subcommands' parsers are of this class too (argparse makes them of their parent's)."""

    def error(self, message):
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    # Over 60 lines on purpose: the argparse declarations of every subcommand, read as one list.
    parser = _Parser(
        prog="landscape-bench",
        description="Benchmark optimizers on test landscapes with certified minima.",
        epilog="Start with `landscape-bench run` (the default suite: results and a report in"
               " results/default/) or `landscape-bench run quick` (a smaller suite).")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a suite (default: the built-in 'default' suite)")
    run.add_argument("suite", nargs="?", default="default",
                     help="a built-in suite name (default, quick, bbob) or a path to a suite TOML file")
    run.add_argument("--out", help="results directory (default: results/SUITE)")
    run.add_argument("--no-report", action="store_true", help="do not build the report afterwards")
    run.add_argument("--skip-mnist", action="store_true", help="skip the suite's MNIST section")
    run.add_argument("--mnist-dir", metavar="DIR",
                     help="MNIST data for the suite's MNIST section: the four IDX files (plain or .gz)"
                          " or Keras's mnist.npz (default: $LANDSCAPE_BENCH_MNIST_DIR, else the"
                          " embedded 5,000-image subset)")
    run.add_argument("--memory-budget", metavar="SIZE",
                     help="most memory one job may hold, e.g. 2G (default: $LANDSCAPE_BENCH_MEMORY,"
                          " else half the free memory); a job over it is refused before it runs")
    run.add_argument("--no-shard", action="store_true",
                     help="do not shard the runs axis over the available devices")
    run.add_argument("--timing-repeats", default=0, metavar="N",  # checked by check_timing_repeats
                     help="time every job's compiled program N more times (0 to 100; default 0) and"
                          " store the timings in its records, so `compare` can judge speed; costs N"
                          " extra runs of every job, no compiles, and keeps the machine to its timings"
                          " (scipy references after the sweeps, no compile ahead)")
    run.set_defaults(func=cmd_run)

    lst = sub.add_parser("list", help="list landscapes, optimizers, schedules and suites")
    lst.add_argument("what", nargs="?", default="all",
                     choices=["all", "landscapes", "optimizers", "suites"])
    _import_option(lst, "landscapes, optimizer families or schedules")
    lst.set_defaults(func=cmd_list)

    cert = sub.add_parser("certify", help="check stored minima against scipy.optimize (float64)")
    cert.add_argument("names", nargs="*", help="landscapes to certify (default: all)")
    cert.add_argument("--seed", type=int, default=0, help="seed of the random starts (0 .. 2**32-1)")
    _import_option(cert, "landscapes")
    cert.set_defaults(func=cmd_certify)

    rep = sub.add_parser("report", help="build the report of a results directory")
    rep.add_argument("results", help="results directory (holding results.jsonl)")
    rep.add_argument("--out", help="report directory (default: RESULTS/report)")
    rep.set_defaults(func=cmd_report)

    cmp_ = sub.add_parser("compare", help="compare two results directories (quality and speed)")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    cmp_.add_argument("--out", help="where to write the comparison (default: ./comparison)")
    cmp_.set_defaults(func=cmd_compare)

    rer = sub.add_parser("rerun", help="recompute one stored record alone and check it reproduces")
    rer.add_argument("results", help="results directory")
    rer.add_argument("record_id")
    rer.set_defaults(func=cmd_rerun)

    exp = sub.add_parser("export-coco", help="write BBOB records in COCO's data format (for cocopp)")
    exp.add_argument("results", help="results directory")
    exp.add_argument("out", help="a new or empty folder; one subfolder per optimizer label")
    exp.set_defaults(func=cmd_export_coco)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a first look, not a minutes-long run: the suite runs with `run`
        parser.print_help()
        return 0
    try:
        with interrupts_kept(), stdout_watched():
            code = args.func(args)
            _interrupted.check()  # a Ctrl-C Python swallowed after the last job still ends it so
            sys.stdout.flush()  # here, so a reader gone away is seen below, not at the exit's flush
        return code
    except InputError as error:
        print(f"landscape-bench: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return interrupted_exit(args.command)
    except BrokenPipeError:  # the reader went away (`landscape-bench list | head`): as `cat` does
        _stdout_to_devnull()
        return 141
    except StdoutError as error:  # stdout on a full disk (`> /dev/full`): one line, as other outputs
        _stdout_to_devnull()
        print(f"landscape-bench: error: could not write to standard output ({error.strerror});"
              " free space or send it elsewhere", file=sys.stderr)
        return EXIT_INPUT
    except Exception:  # a Ctrl-C another error carries (one in a C extension's import: ImportError)
        if not _interrupted.seen:
            raise
        return interrupted_exit(args.command)


def _stdout_to_devnull() -> None:
    """Point stdout at the null device, so the exit's flush of what it could not write raises no
    more."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def console_main() -> None:
    """The ``landscape-bench`` command: :func:`main`, then the exit. Once JAX is loaded, the
    interpreter's own teardown (freeing every object and each loaded XLA program) takes about a
    second after the last line of work (docs/performance.md, "Thirteenth session"), so where no other
    thread is waited for the exit handlers run, the streams are flushed and the process ends at
    once. Anything else (other threads alive, a stream that cannot be flushed) exits as usual."""
    code = main()
    if "jax" in sys.modules and _only_daemons_beside_main():
        atexit._run_exitfuncs()  # what a normal exit runs first (multiprocessing's reaping among them)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 (the ordinary exit reports it as before)
            sys.exit(code)
        if _only_daemons_beside_main():
            os._exit(code)
    sys.exit(code)


def _only_daemons_beside_main() -> bool:
    """Whether an exit now waits on no thread (daemon threads, tqdm's monitor, are not waited for)."""
    main_thread = threading.main_thread()
    return all(t is main_thread or t.daemon for t in threading.enumerate())


if __name__ == "__main__":
    console_main()
