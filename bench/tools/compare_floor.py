"""The floor of ``compare``'s speed half: pairs of runs of the same code, and a slowed copy of each.

    python3 -m bench.tools.compare_floor [SUITE] --pairs 10 --repeats 9 --out DIR
    python3 -m bench.tools.compare_floor --recount RUN1 RUN2 ... --out DIR

Runs SUITE (default ``quick``) twice per pair, back to back, with ``--timing-repeats`` (each run a
fresh process, as a user would), then ``landscape-bench compare`` of the two: a suite speed verdict
there is a false one. Folders already in DIR are resumed, not run again: the same command on the
same DIR counts again from the stored timings. It also compares each pair's first run with a copy of
its second whose timing repeats are doubled (a 2x slowdown with the noise of two real runs;
``--slowdown`` sets another factor) and says whether the suite was called slower. ``--recount`` runs
nothing: it judges each two consecutive results folders given (runs of the same code, one after the
other) the same way. Prints one line per pair and a summary; the numbers are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bench writes, reports reads: reports is imported where a comparison is made
    from reports.timings import SuiteSpeed


def _run(suite: str, out: Path, repeats: int) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "bench.cli", "run", suite, "--out", str(out), "--no-report",
                    "--skip-mnist", "--timing-repeats", str(repeats)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def slowed_copy(source: Path, target: Path, factor: float = 2.0) -> Path:
    """A copy of a results folder whose timing repeats take ``factor`` times as long."""
    target.mkdir(parents=True, exist_ok=True)
    with open(source / "results.jsonl", encoding="utf-8") as lines, \
            open(target / "results.jsonl", "w", encoding="utf-8") as out:
        for line in lines:
            record = json.loads(line)
            cost = record.get("cost") or {}
            if "run_seconds_repeats" in cost:
                cost["run_seconds_repeats"] = [factor * s for s in cost["run_seconds_repeats"]]
            out.write(json.dumps(record) + "\n")
    return target


def verdict(run_a: Path, run_b: Path, out: Path) -> tuple[str, SuiteSpeed]:
    """``compare`` of the two runs (written to ``out``) and its suite speed verdict as one word:
    faster, slower, none (no change shown) or loaded (no verdict: a run timed on a loaded machine)."""
    from bench.run.results import read_results
    from reports.compare import compare_runs
    from reports.timings import suite_speed

    compare_runs(run_a, run_b, out)
    suite = suite_speed(read_results(run_a), read_results(run_b))
    kind = suite.verdict.split(" (")[0]
    return {"B faster": "faster", "B slower": "slower", "no speed change shown": "none"}.get(
        kind, "loaded" if kind.startswith("no verdict: timed on a loaded") else "too few jobs"), suite


def _judge(a: Path, b: Path, out: Path, name: str, factor: float) -> tuple[str, str]:
    """One pair and its slowed copy: the two verdicts, and prints the pair's line."""
    same, suite = verdict(a, b, out / f"{name}_compare")
    slow, slowed = verdict(a, slowed_copy(b, out / f"{name}_b_slowed", factor), out / f"{name}_compare_slowed")
    print(f"{name}: same code: {same} (×{suite.ratio:.2f}, interval ×{suite.low:.2f} to ×{suite.high:.2f};"
          f" noise levels {suite.noise_levels[0]:.2f}, {suite.noise_levels[1]:.2f}); B slowed {factor:g}x: {slow}"
          f" (×{slowed.ratio:.2f}, interval ×{slowed.low:.2f} to ×{slowed.high:.2f})", flush=True)
    return same, slow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.tools.compare_floor", description=__doc__.split("\n")[0])
    parser.add_argument("suite", nargs="?", default="quick")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--slowdown", type=float, default=2.0, help="the factor of the slowed copy (default 2)")
    parser.add_argument("--recount", nargs="+", type=Path, metavar="RUN",
                        help="judge consecutive stored results folders instead of running pairs")
    parser.add_argument("--out", required=True, help="a folder for the runs and comparisons")
    args = parser.parse_args(argv)
    if args.recount is not None and len(args.recount) < 2:
        parser.error(f"--recount takes two or more results folders (consecutive runs); got {len(args.recount)}")
    root = Path(args.out)
    judged = []
    if args.recount:
        for number, (a, b) in enumerate(zip(args.recount, args.recount[1:]), start=1):
            judged.append(_judge(a, b, root, f"pair{number}", args.slowdown))
    else:
        for pair in range(1, args.pairs + 1):
            a, b = root / f"pair{pair}_a", root / f"pair{pair}_b"
            _run(args.suite, a, args.repeats)
            _run(args.suite, b, args.repeats)
            judged.append(_judge(a, b, root, f"pair{pair}", args.slowdown))
    quiet = [(same, slow) for same, slow in judged if same != "loaded"]
    print(f"{sum(same not in ('faster', 'slower') for same, _ in judged)} of {len(judged)} pairs of the same"
          f" code without a suite speed verdict ({len(quiet)} judged, the others timed on a loaded machine);"
          f" a {args.slowdown:g}x slowdown called in {sum(slow == 'slower' for _, slow in quiet)} of the"
          f" {len(quiet)} judged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
