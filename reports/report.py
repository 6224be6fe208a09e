"""``build_report``: a results directory -> report.md, report.html and figures (PNG + SVG).

Everything is read from ``results.jsonl``; nothing is re-run. What the results lack (a label missing on
a landscape, no trajectories, all runs diverged, no test phase, no MNIST track) is listed in a
"What is missing" section instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis import aggregate
from bench.analysis.aggregate import TEST, TUNE
from reports import figures, style
from reports.document import Document
from reports.style import legend_outside, save, subplots

# This module imports no JAX at its top (bench.run.results and landscapes are imported where used): the
# helper process that builds some sections imports it and must stay free of JAX.

Record = Mapping[str, Any]
TRAJECTORIES_SHOWN = figures.MAX_PATHS_PER_LABEL  # starts per label drawn on a contour
# Sections a helper process builds, start to finish, while this process builds the others: those
# that need no JAX (the contours, gap curves, schedules and basin maps evaluate landscapes or schedules
# through JAX), so both processes take about as long on the default suite (docs/performance.md).
HELPER_SECTIONS = ("sensitivity", "ecdf", "profiles", "tuning_budget", "mnist")
PARALLEL_MIN_BYTES = 4_000_000  # smaller results files: a helper's start costs more than it saves
PARALLEL_MIN_IDLE = 1.5  # idle CPUs (now, not the load average) a helper needs to be worth starting
IDLE_SAMPLE_SECONDS = 0.15  # how long /proc/stat is watched to tell how idle the CPUs are
HELPER_TIMEOUT = 60.0  # seconds (at least) to wait for the helper once this process is done


def evaluation_records(records: Sequence[Record]) -> tuple[list[Record], list[tuple[str, str]]]:
    """The records tables and figures compare: phase "test"; where a (landscape, label) has no test
    records (an interrupted run), its best tuning config instead. Returns them and those fallbacks."""
    from bench.run.records import tuned_test_records

    land = aggregate.landscape_records(records)
    tuning = aggregate.group_by(aggregate.landscape_records(land, TUNE), "problem", "label")
    testing = aggregate.group_by([r for r in land if r["phase"] == TEST], "problem", "label")
    chosen = []
    for key, test in testing.items():
        # Sweeps' test records of the config the tuning records choose; reference rows as they are.
        sweeps = [r for r in test if not r.get("reference")]
        chosen += tuned_test_records(tuning.get(key, []), sweeps) + [r for r in test if r.get("reference")]
    tested = set(testing)
    fallbacks = []
    for (problem, label), group in tuning.items():
        if (problem, label) in tested:
            continue
        by_config = aggregate.group_by(group, "config_index")
        best = min(sorted(by_config), key=lambda c: aggregate.selection_key(by_config[c]))
        chosen += by_config[best]
        fallbacks.append((problem, label))
    return chosen, fallbacks


def build_report(results_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                 formats: tuple[str, ...] = ("png", "svg"), workers: int | None = None) -> Path:
    """Write the report of ``results_dir`` into ``out_dir``; returns the path of report.html.

    ``workers``: processes building the sections. 2 or more: a helper process reads the results too
    and builds :data:`HELPER_SECTIONS` (figures and tables) while this one builds the rest; by default
    :func:`default_workers` (1 for small results or busy CPUs, where the helper is slower); 0 or 1
    builds every section here. The files and the page are the same either way: the blocks are put
    together in the sections' order, and the sections of a helper that fails, dies, times out or read
    other records (a run appending meanwhile) are built here.

    Raises InputError when ``results_dir`` holds no results file or one of another schema.
    """
    from bench.run.results import RESULTS_FILE, read_results

    results_dir, out = Path(results_dir), Path(out_dir)
    file = (results_dir.parent if results_dir.is_file() else results_dir) / RESULTS_FILE
    if workers is None:
        workers = default_workers(file.stat().st_size if file.is_file() else 0)
    helper = _Helper(file, out, formats) if workers >= 2 else None
    try:
        if helper is not None:
            helper.start()
        records = read_results(results_dir)
        suites = sorted({str(r.get("suite")) for r in records if r.get("suite")})
        doc = Document(f"landscape-bench report: {', '.join(suites) or results_dir.name}")
        builder = _Builder(records, doc, out, formats, results_dir=results_dir)
        builder.import_suite_modules()
        for note in builder.missing:  # the suite's own modules: said here too, not only in the page
            print(f"landscape-bench report: note: {note}", file=sys.stderr)
        builder.build(helper)
    finally:
        if helper is not None:
            helper.close()
    return doc.write(out, "report")


def idle_cpus(interval: float = IDLE_SAMPLE_SECONDS) -> float:
    """CPUs idle now: the idle share of /proc/stat's CPU time over ``interval`` seconds times the CPU
    count. Unlike the 1-minute load average it does not count a job that has just finished (a
    ``landscape-bench run``'s own sweeps, right before its report). Where /proc/stat is missing: the
    CPU count minus the load average, or 0."""
    cpus = os.cpu_count() or 1

    def sample() -> tuple[int, int]:
        with open("/proc/stat", "rb") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        busy = sum(fields[:3]) + sum(fields[5:8])
        idle = sum(fields[3:5])
        return idle, idle + busy

    try:
        idle0, total0 = sample()
        time.sleep(interval)
        idle1, total1 = sample()
        if total1 > total0:
            return cpus * (idle1 - idle0) / (total1 - total0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return cpus - os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return 0.0


def default_workers(results_bytes: int, idle: float | None = None) -> int:
    """Processes building the sections for a results file of ``results_bytes`` bytes: 2 where it is
    large (:data:`PARALLEL_MIN_BYTES`) and the CPUs idle enough (``idle``, by default
    :func:`idle_cpus`, at least :data:`PARALLEL_MIN_IDLE`), else 1. On the shared 2-core machine the
    helper cut ``landscape-bench report`` of the default suite (47 MB, 4,264 records) from 21.6 s to
    13.6 s (medians of 3, quiet machine); while other jobs held the cores (load average 3-4) two
    processes were slower (26.4, 26.0, 15.7 s against 23.7, 19.7, 23.9 s in one): the helper's start
    and its second read of the results are then lost time."""
    cpus = os.cpu_count() or 1
    if results_bytes < PARALLEL_MIN_BYTES or cpus < 2:
        return 1
    if idle is None:
        idle = idle_cpus()
    return 2 if idle >= PARALLEL_MIN_IDLE else 1


class _Helper:
    """A second process (a fresh interpreter, so it imports no JAX and nothing of the caller's main
    module) that reads the results file itself and builds :data:`HELPER_SECTIONS` into ``out``,
    returning each section's document blocks and "missing" notes. :meth:`result` gives them, or
    None where the helper failed, so the caller builds those sections itself."""

    def __init__(self, file: Path, out: Path, formats: tuple[str, ...],
                 sections: Sequence[str] | None = None):
        self.sections = tuple(HELPER_SECTIONS if sections is None else sections)
        self.request = {"file": str(file), "out": str(out), "formats": list(formats),
                        "sections": list(self.sections), "path": list(sys.path)}
        self.process: subprocess.Popen | None = None
        self.imported_jax: bool | None = None  # what the helper's reply said (the tests check it)

    def start(self) -> None:
        code = ("import sys, json; request = json.loads(sys.argv[1]); sys.path[:] = request['path'];"
                " from reports.report import _helper_main; _helper_main(request)")
        try:
            self.process = subprocess.Popen([sys.executable, "-c", code, json.dumps(self.request)],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        except Exception:  # noqa: BLE001 (no helper, for whatever reason: build here)
            self.process = None

    def result(self, records: Sequence[Record], timeout: float) -> dict[str, Any] | None:
        """The helper's sections, by name, if it built them from the same records; else None."""
        if self.process is None:
            return None
        try:
            import pickle

            reply, _ = self.process.communicate(timeout=timeout)
            if self.process.returncode != 0:
                return None
            reply = pickle.loads(reply)
            self.imported_jax = reply["jax"]
            if reply["records"] != _fingerprint(records):
                return None  # the file changed between the two reads
            return reply["parts"]
        except Exception:  # noqa: BLE001 (timed out, died, or garbled: build here)
            return None
        finally:
            self.close()

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.communicate()
            self.process = None


def _fingerprint(records: Sequence[Record]) -> str:
    ids = "\n".join(str(r.get("record_id")) for r in records)
    return f"{len(records)}:{hashlib.sha1(ids.encode()).hexdigest()}"


def _read_records(file: Path) -> list[dict[str, Any]]:
    """The records of a results file as :func:`bench.run.results.read_results` reads them (complete lines,
    orjson with json for what it refuses), without its checks: the caller has checked the file. Here
    because bench.run.results imports the landscapes, and with them JAX."""
    import json as json_module

    try:
        import orjson
    except ImportError:  # pragma: no cover (orjson is optional)
        orjson = None

    def decode(line: bytes) -> Any:
        if orjson is not None:
            try:
                return orjson.loads(line)
            except ValueError:
                pass
        return json_module.loads(line)

    lines = file.read_bytes().split(b"\n")[:-1]  # after the last newline: an unfinished write
    return [decode(line) for line in lines if line.strip()]


def _helper_main(request: dict[str, Any]) -> None:
    """The helper process: build the requested sections, write the pickled reply to stdout."""
    import pickle

    reply_fd = os.dup(1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the reply
    sys.stdout = sys.stderr
    records = _read_records(Path(request["file"]))
    builder = _Builder(records, Document(""), Path(request["out"]), tuple(request["formats"]))
    parts = {}
    for name in request["sections"]:
        if name in builder.sections():
            try:
                parts[name] = builder.run_section(name)
            except Exception:  # noqa: BLE001 (the caller builds it, and reports what fails there)
                pass
    reply = {"records": _fingerprint(records), "parts": parts, "jax": "jax" in sys.modules}
    with os.fdopen(reply_fd, "wb") as handle:
        pickle.dump(reply, handle)
    # done: skip the interpreter's teardown (freeing the records took ~0.5 s the caller would wait)
    sys.stderr.flush()
    os._exit(0)


class _Builder:
    """Holds what the sections share; each ``section_*`` adds blocks and notes what it could not show."""

    def __init__(self, records: Sequence[Record], doc: Document, out: Path, formats: tuple[str, ...], *,
                 results_dir: Path | None = None):
        self.records = list(records)
        self.results_dir = results_dir
        self.mnist = [r for r in self.records if aggregate.is_mnist_record(r)]
        self.doc = doc
        self.out = out
        self.figures_dir = out / "figures"
        self.formats = formats
        self.missing: list[str] = []
        self.land = aggregate.landscape_records(records)
        self.tune = aggregate.landscape_records(records, TUNE)
        self.evaluation, fallbacks = evaluation_records(records)
        self.problems = aggregate.problems_in(self.land)
        self.labels = aggregate.labels_in(self.land)
        self.by_problem_label = aggregate.group_by(self.evaluation, "problem", "label")
        self._floors: dict[tuple[str, str], float] = {}
        tuning = aggregate.group_by(self.tune, "problem", "label")
        self.edges = {key: aggregate.edge_flags(tuning.get(key, []), group[0]["config"])
                      for key, group in self.by_problem_label.items() if not group[0].get("reference")}
        for problem, label in fallbacks:
            self.missing.append(f"{problem} × {label}: no test-phase records (the run stopped before the"
                                " best config was re-run on fresh seeds); its best tuning config is shown.")

    def import_suite_modules(self) -> None:
        """Import the modules the results' suite registered its own landscapes and optimizers with
        (its ``imports``, kept in the records' identity), from the working directory or the path;
        where that fails, the sections that evaluate them say so instead of the report failing."""
        names = sorted({name for r in self.records
                        for name in (r.get("identity") or {}).get("settings", {}).get("imports", ())})
        if not names:
            return
        from bench.run.suites import import_modules
        from landscapes.errors import InputError

        try:
            import_modules(names, where="the results' suite")
        except InputError as error:
            self.missing.append(f"{error} (run the report from the suite's folder or with its modules"
                                " on PYTHONPATH to draw its landscapes).")

    def save(self, fig, stem: str, caption: str) -> None:
        """Every figure as PNG (shown on the page) and SVG (linked beside it)."""
        self.doc.figure(save(fig, self.figures_dir, stem, self.formats), caption, self.out)

    # -------------------------------------------------------------------------------------------
    def sections(self) -> list[str]:
        """The sections, in the page's order (``section_NAME``); "missing" always comes last and is
        not listed (it reads what the others noted)."""
        if not self.records:
            return ["nothing"]
        land = ["tables", "edges", "contours", "gaps", "schedules", "sensitivity", "ecdf", "profiles", "tuning_budget",
                "basins", "cost"] if self.land else ["no_landscapes"]
        return ["summary", *land, "mnist"]

    def run_section(self, name: str) -> tuple[list[tuple], list[str]]:
        """Build one section; returns (and takes out of the document and the notes) the blocks it
        added and what it noted as missing."""
        blocks, missing = len(self.doc.blocks), len(self.missing)
        try:
            getattr(self, f"section_{name}")()
            return self.doc.blocks[blocks:], self.missing[missing:]
        finally:
            del self.doc.blocks[blocks:], self.missing[missing:]

    def build(self, helper: _Helper | None = None) -> None:
        """Every section in order; those ``helper`` builds (started already) are taken from it, or
        built here where it gives none."""
        names = self.sections()
        remote = [n for n in names if helper is not None and n in helper.sections]
        started = time.perf_counter()
        parts = {name: self.run_section(name) for name in names if name not in remote}
        if remote:
            timeout = max(HELPER_TIMEOUT, 4 * (time.perf_counter() - started))
            built = helper.result(self.records, timeout) or {}
            for name in remote:
                parts[name] = built[name] if name in built else self.run_section(name)
        for name in names:
            blocks, missing = parts[name]
            self.doc.blocks += blocks
            self.missing += missing
        self.section_missing()

    def section_nothing(self) -> None:
        self.doc.text(f"Nothing is there: `{self.results_dir / 'results.jsonl'}` holds no records. Run"
                      " `landscape-bench run --out DIR` (or let a running suite finish a job) and build"
                      " the report again.")
        self.missing.append("no records at all")

    def section_no_landscapes(self) -> None:
        self.missing.append("no landscape records (only the MNIST track, or nothing finished)")

    # -------------------------------------------------------------------------------------------
    def section_summary(self) -> None:
        doc, results_dir, mnist = self.doc, self.results_dir, self.mnist
        doc.heading("Summary")
        first = self.land[0] if self.land else self.records[0]
        items = [f"results: `{results_dir}` ({len(self.records)} records: {len(self.tune)} tuning,"
                 f" {len(aggregate.landscape_records(self.records, TEST))} test,"
                 f" {len(mnist)} MNIST)",
                 f"landscapes: {', '.join(self.problems) or 'none'}",
                 f"optimizer labels: {', '.join(self.labels) or 'none'}"]
        if self.land:
            items.append(f"budget: {first['steps']} steps; targets {', '.join(f'{t:g}' for t in first['targets'])};"
                         f" success target {first['success_target']:g}; dtype {first.get('dtype')}")
        device = first.get("device")
        if device:
            items.append("device: " + ", ".join(f"{k} {v}" for k, v in device.items()))
        versions = first.get("versions")
        if versions:
            items.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        if first.get("created"):
            items.append(f"created: {first['created']}")
        doc.bullets(items)
        doc.text("Tables and comparisons use the phase `test` records: the best config of each search"
                 " (highest success rate on the tuning seeds, ties by median steps-to-target, then median"
                 " final gap) re-run on fresh seeds. Steps count gradient evaluations (function"
                 " evaluations for scipy's Nelder-Mead). The scipy reference rows run in float64 on the"
                 " same starts, whatever the suite's dtype.")

    # 8 --------------------------------------------------------------------------------------------
    def section_tables(self) -> None:
        doc = self.doc
        doc.heading("Results per landscape")
        doc.text("★ marks the best row of each landscape: the highest success rate, ties broken by the"
                 " lower ERT, then the lower median final gap. A gap below what the dtype resolves near"
                 " the minimizers shows as \"< floor (dtype)\"; a selected hyperparameter at the top or"
                 " bottom of its searched values is flagged (the best value may lie outside the search).")
        tuning = aggregate.group_by(self.tune, "problem", "label")
        for problem in self.problems:
            rows, keys = [], []
            for label in self.labels:
                group = self.by_problem_label.get((problem, label))
                if group is None:
                    rows.append([label, "absent", None, None, None, None, None, "", ""])
                    keys.append(None)
                    continue
                runs = aggregate.pooled_runs(group)
                solved = runs.solved_at[:, aggregate.target_index(group[0])]
                success = solved[np.isfinite(solved)]
                config = ", ".join(f"{k}={v:.4g}" for k, v in group[0]["config"].items()
                                   if not (k == "warmup_steps" and v == 0))
                config += _selection_caveat(tuning.get((problem, label), []), group[0]["config"])
                edges = self.edges.get((problem, label), [])
                rate, cost = aggregate.success_rate(group), aggregate.ert(group)
                median_gap = float(np.median(runs.final_gap))
                rows.append([label, group[0]["phase"], rate, cost,
                             float(np.median(success)) if success.size else float("nan"),
                             self._gap_text(problem, group[0], median_gap),
                             f"{int((runs.status == 2).sum())}/{runs.count}", config,
                             "; ".join(flag.text() for flag in edges)])
                keys.append((-_nan_to(rate, -1.0), _nan_to(cost, np.inf), _nan_to(median_gap, np.inf)))
                if runs.count and (runs.status == 2).all():
                    self.missing.append(f"{problem} × {label}: every run diverged.")
            ranked = [i for i, key in enumerate(keys) if key is not None and np.isfinite(key[0])]
            best = min(ranked, key=lambda i: keys[i]) if ranked else None
            if best is not None:
                rows[best][0] = f"★ {rows[best][0]}"
            target = self._success_target(problem)
            doc.heading(problem, 3)
            doc.table(["label", "phase", f"success rate (f − f* ≤ {target:g})", "ERT (evaluations)",
                       "median steps-to-target (successes)", "median final gap", "diverged",
                       "best config", "edge of the search"], rows,
                      highlight=[] if best is None else [best])
            note = self._precision_note(problem)
            if note:
                doc.text(note)

    def _gap_text(self, problem: str, record: Record, value: float):
        """The median final gap as a table shows it: below the dtype's floor as "< floor (dtype)"."""
        dtype = str(record.get("dtype", "float32"))
        return aggregate.gap_text(value, self._floor(problem, dtype), dtype)

    def _floor(self, problem: str, dtype: str) -> float:
        key = (problem, dtype)
        if key not in self._floors:
            records = {(r["landscape"], r["instance"]): r for r in self._records_of(problem)}.values()
            try:
                self._floors[key] = max(aggregate.precision_floor(r["landscape"], int(r["instance"]),
                                                                  r.get("dim"), dtype) for r in records)
            except Exception:  # noqa: BLE001 (a landscape this process cannot build: no floor)
                self._floors[key] = float("nan")
        return self._floors[key]

    def section_edges(self) -> None:
        doc = self.doc
        flagged = [(problem, label, flags) for (problem, label), flags in self.edges.items() if flags]
        doc.heading("Selected values at the edge of the search")
        if not flagged:
            doc.text("No selected hyperparameter lies at the top or bottom of its searched values.")
            return
        doc.text("The selected config's value is the lowest or highest value the search tried: the best"
                 " value may lie outside the searched range, so widen the search there.")
        doc.bullets([f"{problem} × {label}: " + "; ".join(flag.text() for flag in flags)
                     for problem, label, flags in flagged])

    def _precision_note(self, problem: str) -> str | None:
        """Where the runs' dtype cannot resolve some targets near this problem's minimizers: say
        which, and whether the success target is among them (``aggregate.precision_floor``)."""
        sweeps = [r for r in self.land if aggregate.problem_name(r) == problem and not r.get("reference")]
        if not sweeps:
            return None
        dtype = str(sweeps[0].get("dtype", "float32"))
        floor = self._floor(problem, dtype)
        below = [t for t in sweeps[0]["targets"] if t < floor]
        if not np.isfinite(floor) or not below:
            return None
        success = float(sweeps[0]["success_target"])
        return (f"Precision: in {dtype}, f − f* near this landscape's minimizers is resolved to about"
                f" {floor:.1g} (rounding of f and of the points near the minimizers). Targets below it"
                f" ({', '.join(f'{t:g}' for t in below)}) are decided by rounding, not by progress"
                + (f"; that includes the success target {success:g}, so the success rates above are"
                   " not a measure of precision here." if success < floor else ".")
                + " Run the suite in float64 to measure them.")

    def _success_target(self, problem: str) -> float:
        for record in self.land:
            if aggregate.problem_name(record) == problem:
                return float(record["success_target"])
        return float("nan")

    # 1 --------------------------------------------------------------------------------------------
    def section_contours(self) -> None:
        from landscapes.errors import InputError

        doc = self.doc
        doc.heading("Landscapes and trajectories")
        two_d = [p for p in self.problems if self._records_of(p)[0]["dim"] == 2]
        if not two_d:
            doc.text("No 2-D landscape in these results: contours are drawn for 2-D landscapes only.")
            return
        doc.text(f"Grey contours of log10(f − f* + 1e-12) of each landscape's first instance; the"
                 f" first {TRAJECTORIES_SHOWN} starts of each label's selected config (test runs) on it in"
                 " the label's colour, a dot at the start and a cross at the last iterate, or a thin cross"
                 " where a run that diverged was last finite; white stars are the certified global minima.")
        for problem in two_d:
            first = self._records_of(problem)[0]
            instance = min(r["instance"] for r in self._records_of(problem))
            trajectories = {}
            for label in self.labels:
                group = [r for r in self.by_problem_label.get((problem, label), [])
                         if r["instance"] == instance and r.get("trajectory") is not None]
                if group:
                    trajectories[label] = aggregate.as_float(group[0]["trajectory"])[:TRAJECTORIES_SHOWN]
            if not trajectories:
                self.missing.append(f"{problem}: no trajectories recorded, the contour shows no paths"
                                    " (set `trajectory_every` in the suite).")
            fig, axes = subplots(1, 1, height_each=5.0)
            try:
                figures.plot_contour(first["landscape"], trajectories, instance=instance,
                                     minimizers=np.asarray(first["minimizers"], float)
                                     if instance == first["instance"] else None, ax=axes[0, 0])
            except InputError as error:  # a landscape this version does not know
                self.missing.append(f"{problem}: cannot draw the contour ({error}).")
                continue
            # the fill is rasterized inside the SVG (plot_contour): a vector fill was 0.4-1.2 MB
            self.save(fig, f"contour_{_slug(problem)}", f"{problem}: contours and trajectories.")

    def _records_of(self, problem: str) -> list[Record]:
        return [r for r in self.land if aggregate.problem_name(r) == problem]

    # 2 --------------------------------------------------------------------------------------------
    def section_gaps(self) -> None:
        doc = self.doc
        doc.heading("Gap against step")
        from landscapes.errors import InputError

        curves, unknown = {}, []
        for p in self.problems:
            try:
                curves[p] = {label: aggregate.median_gap_curve(self.by_problem_label.get((p, label), []))
                             for label in self.labels}
            except InputError as error:  # a landscape this process does not know (not imported)
                curves[p] = {label: None for label in self.labels}
                unknown.append(p)
                self.missing.append(f"{p}: no gap-against-step curve ({error}).")
        if len(unknown) == len(self.problems):
            doc.text("No landscape of these results is known to this process; see what is missing.")
            return
        if not any(c is not None for per in curves.values() for c in per.values()):
            doc.text("No trajectories were recorded, so there is no gap-against-step curve; set"
                     " `trajectory_every` in the suite to record them.")
            self.missing.append("no trajectories recorded: gap-against-step curves are missing.")
            return
        cols = 2 if len(self.problems) > 1 else 1
        rows = -(-len(self.problems) // cols)
        fig, axes = subplots(rows, cols, height_each=3.0)
        for ax, problem in zip(axes.flat, self.problems):
            figures.plot_gap_vs_step(curves[problem], ax=ax, title=problem, legend=False)
        for ax in axes.flat[len(self.problems):]:
            ax.set_visible(False)
        drawn = [label for label in self.labels
                 if any(per.get(label) is not None for per in curves.values())]
        _figure_legend(fig, drawn)  # the reference rows record no iterates: no line, no entry
        undrawn = [label for label in self.labels if label not in drawn]
        if undrawn:
            doc.text(f"No curve for {', '.join(undrawn)}: no iterates were recorded for"
                     f" {'them' if len(undrawn) > 1 else 'it'} (scipy's reference rows never record"
                     " trajectories).")
        doc.text("Median f − f* over the test runs (all instances, seeds and starts) at the recorded"
                 " steps, quartiles shaded; f is recomputed in float64 at the stored iterates."
                 f" A gap of 0 is drawn at {figures.GAP_FLOOR:g}; diverged runs count as +∞, and a triangle at"
                 " the top marks the step from which at least half of a label's runs had diverged (median"
                 " +∞).")
        self.save(fig, "gap_vs_step", "Gap f − f* against the step, median and quartiles over runs.")

    # 3 --------------------------------------------------------------------------------------------
    def section_schedules(self) -> None:
        from landscapes.errors import InputError

        doc = self.doc
        doc.heading("Learning-rate schedules")
        panels = []
        for label in self.labels:
            chosen = [r for r in self.evaluation if r["label"] == label]
            tuned = [r for r in self.tune if r["label"] == label]
            first = (chosen or tuned)[0]
            if first.get("reference"):
                continue  # scipy's methods have no learning rate
            try:
                import optimizers

                schedule = optimizers.get_schedule(first["schedule"])
                keys = {"learning_rate", "warmup_steps", *schedule.defaults}
                unique = {tuple(sorted((k, v) for k, v in r["config"].items() if k in keys)): r
                          for r in tuned}
                steps = int(first["steps"])
                # The selection is per landscape: one bold line per distinct selected config.
                selected: dict[tuple, list[str]] = {}
                for record in chosen:
                    key = tuple(sorted((k, v) for k, v in record["config"].items() if k in keys))
                    where = selected.setdefault(key, [])
                    if aggregate.problem_name(record) not in where:
                        where.append(aggregate.problem_name(record))
                configs = [r["config"] for r in unique.values()] + [dict(k) for k in selected]
                rates = figures.learning_rate_curves(first["family"], first["schedule"], configs, steps)
                curves = list(rates[:len(unique)])
                best = [(curve, ", ".join(where)) for curve, where in
                        zip(rates[len(unique):], selected.values())] or None
            except InputError as error:
                self.missing.append(f"{label}: schedule curve not drawn ({error}).")
                continue
            panels.append((label, curves, best))
        if not panels:
            doc.text("No schedule could be drawn.")
            return
        # one column, each panel's legend to its right: a legend inside covered the curves
        fig, axes = subplots(len(panels), 1, width=5.2, height_each=2.4, margins={"hspace": 0.75})
        for ax, (label, curves, best) in zip(axes.flat, panels):
            figures.plot_learning_rates(label, curves, best, ax=ax)
            legend_outside(ax)
        self.save(fig, "learning_rates", "Learning rate against the update step: every searched config"
                  " (faint, distinct schedule parameters only) and the configs selected (bold), one line"
                  " per distinct selection with the landscapes it was selected on.")

    # 4 --------------------------------------------------------------------------------------------
    def section_sensitivity(self) -> None:
        doc = self.doc
        doc.heading("Hyperparameter sensitivity")
        doc.text("Success rate and median final gap of every config of the search (tuning seeds, all"
                 " instances). Where more hyperparameters vary than the two axes show, each cell shows"
                 " the best value over the others; the heatmaps of a column share one colour scale, the bar"
                 " above it, and heatmaps stacked over the same values share the tick labels of the lowest"
                 " one. Labels tuned over one hyperparameter share a row, a line each. Grey cells (∞): at"
                 " least half the runs diverged, so the median final gap is +∞.")
        summaries = aggregate.config_summaries(self.tune, TUNE)
        if not summaries:
            doc.text("No tuning records.")
            self.missing.append("no tuning-phase records: sensitivity plots are missing.")
            return
        for problem in self.problems:
            per_label = {label: [s for s in summaries if s.problem == problem and s.label == label]
                         for label in self.labels}
            rows = [_sensitivity_data(label, items) for label, items in per_label.items() if items]
            if not rows:
                continue
            fig = _sensitivity_figure(rows)
            fig.suptitle(problem)
            self.save(fig, f"sensitivity_{_slug(problem)}", f"{problem}: sensitivity to the hyperparameters.",
)

    # 5 --------------------------------------------------------------------------------------------
    def section_ecdf(self) -> None:
        doc = self.doc
        doc.heading("Runtime distributions (ECDF)")
        ecdfs = aggregate.runtime_ecdf(self.evaluation)
        fig, axes = subplots(1, 1, height_each=4.2)
        figures.plot_runtime_ecdf(ecdfs, ax=axes[0, 0])
        per_dimension = any(ecdf.per_dimension for ecdf in ecdfs.values())
        doc.text("Fraction of (run, target) pairs solved within a budget, over every (landscape, target)"
                 " pair with targets 1e-1 … 1e-8 (COCO); 90% bootstrap bands over the runs. A label"
                 " absent from a landscape counts as solving nothing there."
                 + (" The landscapes have several dimensions, so the budget is gradient evaluations per"
                    " coordinate (evaluations / dimension), as in COCO." if per_dimension else ""))
        self.save(fig, "runtime_ecdf", "Runtime ECDFs per label.")

    # 6 --------------------------------------------------------------------------------------------
    def section_profiles(self) -> None:
        doc = self.doc
        doc.heading("Performance profiles")
        gradient = [r for r in self.evaluation if not r.get("reference")]
        with_references = len(gradient) < len(self.evaluation)
        profile = aggregate.performance_profile(self.evaluation)
        panels = [(aggregate.performance_profile(gradient) if with_references else profile,
                   "gradient methods")]
        if with_references:
            panels.append((profile, "with the scipy references"))
        fig, axes = subplots(1, len(panels), width=6.0 * len(panels), height_each=4.2, sharey=True)
        for ax, (shown, name) in zip(axes.flat, panels):
            figures.plot_performance_profile(shown, ax=ax, legend=False,
                                             title=f"{name}, {len(shown.problems)} landscapes")
        _label_outer(axes)
        _figure_legend(fig, list(profile.rho))
        doc.text("Dolan–Moré profiles of ERT at the success target: ρ(1) is the fraction of landscapes"
                 " where a label is the fastest; ρ(τ) the fraction it solves within τ times the best ERT."
                 " Landscapes no label solves count against every label."
                 + (" Left: the gradient methods alone (the best is the best gradient method); right: with"
                    " the scipy references, whose quasi-Newton steps set the best ERT on smooth"
                    " landscapes." if with_references else ""))
        unsolved = [p for p in profile.problems
                    if not any(np.isfinite(profile.ratios[(p, label)]) for label in profile.rho)]
        if unsolved:
            self.missing.append(f"no label reached the success target on: {', '.join(unsolved)}.")
        self.save(fig, "performance_profile", "Performance profiles across landscapes"
                  + (": gradient methods alone and with the scipy references." if with_references else "."))

    # tuning budget -------------------------------------------------------------------------------
    def section_tuning_budget(self) -> None:
        curves = aggregate.tuning_budget_curves(self.tune)
        if not curves:
            return
        doc = self.doc
        doc.heading("Success against tuning budget")
        doc.text("For a budget of b configs drawn at random without replacement from the computed grid,"
                 " the success rate (tuning seeds) of the one the selection rule would pick; median and"
                 " quartiles over 200 draws. A flat curve means a small search finds as good a config.")
        problems = [p for p in self.problems if any(k[0] == p for k in curves)]
        cols = 2 if len(problems) > 1 else 1
        fig, axes = subplots(-(-len(problems) // cols), cols, height_each=2.8)
        for ax, problem in zip(axes.flat, problems):
            figures.plot_tuning_budget({label: c for (p, label), c in curves.items() if p == problem},
                                       ax=ax, title=problem, legend=False)
        for ax in axes.flat[len(problems):]:
            ax.set_visible(False)
        _figure_legend(fig, [lab for lab in self.labels if any(k[1] == lab for k in curves)])
        self.save(fig, "tuning_budget", "Success rate of the selected config against the tuning budget.")

    # 7 --------------------------------------------------------------------------------------------
    def section_basins(self) -> None:
        doc = self.doc
        land = aggregate.group_by(self.land, "problem", "label")
        first: dict[str, Record] = {}  # each landscape's first record
        for (problem, _), group in land.items():
            first.setdefault(problem, group[0])
        several = [p for p in self.problems if len(first[p]["minimizers"]) > 1 and first[p]["dim"] == 2]
        if not several:
            return
        doc.heading("Basins of attraction")
        doc.text("Each start point of the selected config (tuning and test seeds, first instance),"
                 " coloured by the global minimum its run ends nearest to; grey crosses diverged.")
        from matplotlib.ticker import MaxNLocator

        from landscapes.errors import InputError

        for problem in several:
            labels = [lab for lab in self.labels if (problem, lab) in self.by_problem_label]
            if not labels:
                continue
            cols = min(3, len(labels))
            rows = -(-len(labels) // cols)
            # one start box for every panel: shared axes, tick labels on the outer panels only (they
            # were most of the draw time), so the panels can sit closer
            fig, axes = subplots(rows, cols, width=2.95 * cols + 0.95, height_each=3.0,
                                 sharex=True, sharey=True, margins={"wspace": 0.2, "hspace": 0.62})
            for ax, label in zip(axes.flat, labels):
                chosen = self.by_problem_label[(problem, label)]
                instance = min(r["instance"] for r in chosen)
                config = chosen[0]["config"]
                group = [r for r in land.get((problem, label), ())
                         if r["instance"] == instance and r["config"] == config]
                x0 = np.concatenate([aggregate.as_float(r["x0"]) for r in group])
                basin = np.concatenate([np.asarray(r["runs"]["basin"], int) for r in group])
                box = None
                try:
                    import landscapes

                    box = landscapes.get_landscape(group[0]["landscape"]).start_box(2)
                except InputError:
                    pass
                figures.plot_basin_map(x0, basin, aggregate.as_float(group[0]["minimizers"]), box=box,
                                       ax=ax, title=label, legend=ax is axes.flat[len(labels) - 1])
            for ax in axes.flat[len(labels):]:
                ax.set_visible(False)
            _label_outer(axes)
            for axis in (axes[0, 0].xaxis, axes[0, 0].yaxis):  # shared by every panel: set once
                # a few ticks are plenty to place a start in its box (tick objects were created
                # per panel and tick: the bulk of the draw time)
                axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
            fig.suptitle(problem)
            self.save(fig, f"basins_{_slug(problem)}", f"{problem}: which minimum each start reaches.")

    # 8 (cost) -----------------------------------------------------------------------------------
    def section_cost(self) -> None:
        doc = self.doc
        doc.heading("Cost")
        jobs: dict[tuple, list] = {}
        for record in self.land:
            if record.get("cost"):
                key = (aggregate.problem_name(record), record["label"], record["phase"])
                jobs.setdefault(key, []).append(record)
        rows = []
        for key, records in jobs.items():
            cost = records[0]["cost"]  # a sweep job's records share its cost
            if records[0].get("reference"):  # a reference record is one instance: add them up
                seconds = sum(float(r["cost"].get("run_seconds") or 0.0) for r in records)
                made = sum(float(r["cost"].get("evaluations") or 0.0) for r in records)
                cost = dict(cost, run_seconds=seconds, runs=sum(int(r["cost"].get("runs") or 0)
                                                                for r in records),
                            steps_per_second=made / seconds if seconds > 0 else None)
            rows.append([*key, cost.get("compile_seconds"), cost.get("run_seconds"), cost.get("runs"),
                         cost.get("steps_per_second"), cost.get("flops_per_step"),
                         cost.get("roofline_fraction")])
        if not rows:
            doc.text("No cost data in these records.")
            return
        doc.text("One row per compiled job (all configs × instances × seeds × starts of a landscape and"
                 " label run as one program). steps/s counts run-steps (every run advances one step);"
                 " for a scipy reference row, evaluations per second over all its instances. A test"
                 " phase reuses its tuning phase's compiled program (compile 0 s) on a batch padded to"
                 " that program's shape; its steps/s counts its real runs only.")
        doc.table(["landscape", "label", "phase", "compile s", "run s", "runs", "steps/s", "FLOPs/step",
                   "roofline fraction"], rows)

    # 9 --------------------------------------------------------------------------------------------
    def section_mnist(self) -> None:
        mnist = self.mnist
        if not mnist:
            self.missing.append("no MNIST track in these results (the suite has no [mnist] section or it"
                                " was skipped).")
            return
        doc = self.doc
        doc.heading("MNIST track")
        histories = {_mnist_label(r): r["history"] for r in mnist if isinstance(r.get("history"), Mapping)}
        summary = [[_mnist_label(r), r.get("test_accuracy"), r.get("test_loss"),
                    r.get("best_cv_score", r.get("mean_test_score")),
                    ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                              for k, v in (r.get("best_params") or r.get("config") or {}).items())]
                   for r in mnist if r.get("test_accuracy") is not None]
        if summary:
            doc.table(["label", "test accuracy", "test loss", "best CV score", "selected config"], summary)
        if histories:
            fig, axes = subplots(1, 3, width=11.0, height_each=3.4)
            figures.plot_mnist_history(histories, "loss", ax=axes[0, 0], legend=False)
            figures.plot_mnist_history(histories, "accuracy", ax=axes[0, 1], legend=False)
            figures.plot_mnist_history(histories, "learning_rate", ax=axes[0, 2], legend=False)
            handles, labels = axes[0, 1].get_legend_handles_labels()
            legend_outside(fig, handles, labels)
            self.save(fig, "mnist_history", "MNIST refit of the selected config: loss and accuracy (train"
                      " solid, test dashed) and learning rate against the epoch.")
        else:
            self.missing.append("MNIST: no per-epoch history in the records.")
        header, rows = _cv_table(mnist)
        if rows:
            doc.heading("Cross-validation (cv_results_)", 3)
            doc.table(header, rows)
        else:
            self.missing.append("MNIST: no cross-validation rows in the records.")

    # 11 -------------------------------------------------------------------------------------------
    def section_missing(self) -> None:
        doc = self.doc
        for problem in self.problems:
            absent = [label for label in self.labels if (problem, label) not in self.by_problem_label]
            if absent:
                self.missing.insert(0, f"{problem}: no records for {', '.join(absent)}.")
        doc.heading("What is missing")
        if self.missing:
            doc.bullets(list(dict.fromkeys(self.missing)), "missing")
        else:
            doc.text("Nothing: every landscape has every label, trajectories and a test phase.")


# -- helpers -----------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _label_outer(axes: np.ndarray) -> None:
    """Tick labels and axis labels of a grid of shared Axes only where no visible panel is left of
    (y) or below (x) the panel; unlike ``Axes.label_outer`` a panel above a hidden one keeps its x
    labels."""
    rows, cols = axes.shape
    for (i, j), ax in np.ndenumerate(axes):
        if not ax.get_visible():
            continue
        below = i + 1 < rows and axes[i + 1, j].get_visible()
        ax.xaxis.set_tick_params(labelbottom=not below)
        if below:
            ax.set_xlabel("")
        ax.yaxis.set_tick_params(labelleft=j == 0)
        if j:
            ax.set_ylabel("")


def _selection_caveat(tuned: Sequence[Record], chosen: Mapping[str, float]) -> str:
    """What the 'best config' of a search is worth when nothing separated the configs.

    The search keeps the highest tuning success rate, then the lowest median final gap, so the
    chosen config's own tuning runs tell: no success there means none anywhere, and a median gap of
    +inf there (half its runs diverged) means the same for every config."""
    if len({r["config_index"] for r in tuned}) < 2:
        return ""
    mine = [r for r in tuned if r["config"] == chosen]
    if not mine or aggregate.success_rate(mine) > 0:
        return ""
    if not np.isfinite(np.median(aggregate.pooled_runs(mine).final_gap)):
        return (" (a tie: in tuning no config reached the success target and at least half the runs"
                " of every config diverged; this is the first of the grid)")
    return " (no config reached the success target in tuning: chosen by median final gap)"


def _nan_to(value: float, replacement: float) -> float:
    return replacement if value is None or np.isnan(value) else float(value)


def _figure_legend(fig, labels: Sequence[str]) -> None:
    from matplotlib.lines import Line2D

    from reports.style import color_for, linestyle_for, marker_for

    handles = [Line2D([], [], color=color_for(lab), linestyle=linestyle_for(lab), linewidth=2,
                      marker=marker_for(lab), markersize=4) for lab in labels]
    legend_outside(fig, handles, list(labels))


def _varying(items: Sequence[aggregate.ConfigSummary]) -> list[str]:
    names = sorted({k for s in items for k in s.config})
    varying = [n for n in names if len({s.config.get(n) for s in items}) > 1]
    # learning rate and momentum first: the two axes the tutorial asks about
    return sorted(varying, key=lambda n: (n != "learning_rate", n != "momentum", n))


SUCCESS = "success rate"
FINAL_GAP = "median final f − f*"


def _sensitivity_data(label: str, items: Sequence[aggregate.ConfigSummary]) -> dict[str, Any]:
    """One row of the sensitivity figure: what varies, and the best success rate / final gap per cell."""
    varying = _varying(items)
    if not varying:
        return {"label": label, "kind": "single"}
    if len(varying) == 1:
        name = varying[0]
        xs = sorted({s.config[name] for s in items})
        rates = [max(s.success_rate for s in items if s.config[name] == x) for x in xs]
        gaps = [min(s.median_final_gap for s in items if s.config[name] == x) for x in xs]
        return {"label": label, "kind": "curve", "name": name, "xs": xs, "rates": rates, "gaps": gaps}
    x_name, y_name = varying[0], varying[1]
    xs = sorted({s.config[x_name] for s in items})
    ys = sorted({s.config[y_name] for s in items})
    rates = np.full((len(ys), len(xs)), np.nan)
    gaps = np.full((len(ys), len(xs)), np.nan)
    for s in items:
        i, j = ys.index(s.config[y_name]), xs.index(s.config[x_name])
        rates[i, j] = np.fmax(rates[i, j], s.success_rate)
        gaps[i, j] = np.fmin(gaps[i, j], s.median_final_gap)
    others = f" (best over {', '.join(varying[2:])})" if len(varying) > 2 else ""
    return {"label": label, "kind": "heatmap", "x_name": x_name, "y_name": y_name, "xs": xs, "ys": ys,
            "rates": rates, "gaps": gaps, "title": f"{label}{others}"}


# Sensitivity grid layout, in inches.
SENSITIVITY_WIDTH = 9.0
SENSITIVITY_PANEL = 1.6  # a curve panel; a heatmap of SENSITIVITY_PANEL / SENSITIVITY_CELL values or more
SENSITIVITY_CELL = 0.27  # height of a heatmap row of cells (a heatmap of 2 values needs no 1.6 in)
SENSITIVITY_MIN_PANEL = 0.8
SENSITIVITY_BAR = 0.11  # the shared colour bars
GAP_BELOW_BARS = 0.75  # their tick labels, and the first row's title
GAP_BELOW_LABELS = 1.15  # a row's x tick labels (rotated) and axis label, and the next row's title
GAP_BELOW_CURVES = 0.85  # a row of curves: its log tick labels are level, not rotated
GAP_BELOW_BARE = 0.42  # a heatmap whose x tick labels the aligned heatmap below carries: the title only


def _sensitivity_panels(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a sensitivity figure: labels tuned over one hyperparameter share one row per
    hyperparameter (a line per label: two panels of one line each repeated the axes for little
    information), first; then the heatmaps in label order; then the labels with one config."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] == "curve":
            curves.setdefault(row["name"], []).append(row)
    return ([{"kind": "curves", "name": name, "rows": group} for name, group in curves.items()]
            + [r for r in rows if r["kind"] == "heatmap"] + [r for r in rows if r["kind"] == "single"])


def _same_x(upper: dict[str, Any], lower: dict[str, Any]) -> bool:
    """Two heatmap rows, one under the other, with the same x values: the lower one's x tick labels
    serve both (the cells line up)."""
    return (upper["kind"] == lower["kind"] == "heatmap" and upper["x_name"] == lower["x_name"]
            and list(upper["xs"]) == list(lower["xs"]))


def _sensitivity_figure(rows: Sequence[dict[str, Any]]):
    """One figure per landscape: a row per label (success rate left, median final gap right); labels
    tuned over one hyperparameter share a row. The heatmaps of a column share one colour scale,
    drawn once as a bar above the column; a heatmap's y tick labels are on the left panel of its row
    only, and its x tick labels only where no heatmap with the same x values is right below it (tick
    labels were most of the draw time; the cells line up, so nothing is lost)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    panels = _sensitivity_panels(rows)
    heat = [row for row in panels if row["kind"] == "heatmap"]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.concatenate([np.log10(np.clip(r["gaps"], figures.GAP_FLOOR, None)).ravel() for r in heat]
                              ) if heat else np.zeros(0)
    logs = logs[np.isfinite(logs)]
    low, high = (float(logs.min()), float(logs.max())) if logs.size else (-1.0, 0.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    bar = 1 if heat else 0
    heights = [SENSITIVITY_BAR] * bar
    gaps = [GAP_BELOW_BARS] * bar
    bare = [i + 1 < len(panels) and _same_x(row, panels[i + 1]) for i, row in enumerate(panels)]
    for i, row in enumerate(panels):
        if row["kind"] == "heatmap":
            cells = SENSITIVITY_CELL * len(row["ys"])
            heights.append(min(SENSITIVITY_PANEL, max(SENSITIVITY_MIN_PANEL, cells)))
        else:
            heights.append(SENSITIVITY_PANEL if row["kind"] == "curves" else SENSITIVITY_MIN_PANEL)
        if i + 1 < len(panels):
            gaps.append(GAP_BELOW_BARE if bare[i] else GAP_BELOW_CURVES if row["kind"] == "curves"
                        else GAP_BELOW_LABELS)
    fig, axes = style.stacked(heights, gaps, 2, width=SENSITIVITY_WIDTH,
                              margins={"bottom": 0.95, "wspace": 1.0})
    if heat:
        for cax, norm, cmap, name, log in ((axes[0, 0], Normalize(0.0, 1.0), "viridis", SUCCESS, False),
                                           (axes[0, 1], Normalize(low, high), "viridis_r", FINAL_GAP, True)):
            fig.colorbar(ScalarMappable(norm, cmap), cax=cax, orientation="horizontal",
                         label=figures.heatmap_value_label(name, log) + " (heatmaps)")
            cax.xaxis.set_label_position("top")
            # at most ~6 labels: the default could print 8 two-decimal ones that ran into each other
            cax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    for (rate_ax, gap_ax), row, no_x in zip(axes[bar:], panels, bare):
        _sensitivity_row((rate_ax, gap_ax), row, gap_range=(low, high), x_labels=not no_x)
    return fig


def _sensitivity_row(axes, row: dict[str, Any], gap_range: tuple[float, float], x_labels: bool = True) -> None:
    rate_ax, gap_ax = axes
    if row["kind"] == "single":
        label = row["label"]
        for ax in axes:
            figures._empty(ax, f"{label}: one config only")
            ax.set_title(label, fontsize="medium")
            ax.set_xticks([]), ax.set_yticks([])
        return
    if row["kind"] == "curves":
        name, group = row["name"], row["rows"]
        xs = {r["label"]: r["xs"] for r in group}
        title = (group[0]["label"] if len(group) == 1
                 else f"{len(group)} labels tuned over {name.replace('_', ' ')} only")
        figures.plot_sensitivity_curve(xs, {r["label"]: r["rates"] for r in group}, x_name=name,
                                       value_name=SUCCESS, ax=rate_ax, title=title)
        rate_ax.set_ylim(-0.02, 1.02)
        figures.plot_sensitivity_curve(xs, {r["label"]: r["gaps"] for r in group}, x_name=name,
                                       value_name=FINAL_GAP, log_y=True, ax=gap_ax, title=title)
        if len(group) > 1:  # right of the row, outside both panels: inside it covered curves
            handles, labels = rate_ax.get_legend_handles_labels()
            legend_outside(gap_ax, handles, labels)
        return
    common = dict(x_name=row["x_name"], y_name=row["y_name"], colorbar=False, title=row["title"],
                  x_labels=x_labels)
    figures.plot_sensitivity_heatmap(row["xs"], row["ys"], row["rates"], value_name=SUCCESS,
                                     vmin=0.0, vmax=1.0, ax=rate_ax, **common)
    # same cells as the success-rate heatmap left of it: its y tick labels serve both
    figures.plot_sensitivity_heatmap(row["xs"], row["ys"], row["gaps"], value_name=FINAL_GAP,
                                     log_values=True, vmin=gap_range[0], vmax=gap_range[1], ax=gap_ax,
                                     y_labels=False, **common)


def _mnist_label(record: Record) -> str:
    if record.get("label"):
        return str(record["label"])
    return f"{record.get('family', 'mnist')}/{record.get('schedule', '?')}"


def _cv_table(mnist: Sequence[Record]) -> tuple[list[str], list[list[Any]]]:
    """cv_results_ rows: from records holding a ``cv_results`` dict, or one ``mnist_cv`` record per row."""
    rows: list[dict[str, Any]] = []
    for record in mnist:
        cv = record.get("cv_results")
        if isinstance(cv, Mapping) and cv.get("params") is not None:
            for i, params in enumerate(cv["params"]):
                rows.append({"label": _mnist_label(record), "params": params,
                             **{k: v[i] for k, v in cv.items() if k != "params" and not k.startswith("param_")
                                and isinstance(v, (list, tuple)) and i < len(v)}})
        elif str(record.get("kind")) == "mnist_cv":
            rows.append({"label": _mnist_label(record), **record})
    if not rows:
        return [], []
    splits = sorted({k for r in rows for k in r if k.startswith("split") and k.endswith("_test_score")},
                    key=lambda k: int("".join(c for c in k if c.isdigit()) or 0))
    header = ["label", "params", *splits, "mean_test_score", "std_test_score", "rank_test_score"]
    table = []
    for r in rows:
        params = r.get("params") or {}
        text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        table.append([r["label"], text, *[r.get(k) for k in splits], r.get("mean_test_score"),
                      r.get("std_test_score"), r.get("rank_test_score")])
    return header, table
