"""The floor of ``compare``'s speed half: pairs of runs of the same code, and a slowed copy of each.

    python3 -m bench.tools.compare_floor [SUITE] --pairs 10 --repeats 9 --out DIR

Runs SUITE (default ``quick``) twice per pair, back to back, with ``--timing-repeats`` (each run
a fresh process, as a user would), then ``landscape-bench compare`` of the two: a speed verdict
there is a false one. Folders already in DIR are resumed, not run again: the same command on the
same DIR counts again from the stored timings. It also compares each pair's first run with a copy of its second whose
timing repeats are doubled (a 2x slowdown with the noise of two real runs) and counts the jobs
called slower. Prints one line per pair and a summary; the numbers are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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


def verdicts(run_a: Path, run_b: Path, out: Path) -> dict[str, Any]:
    """Rows of the repeated-speed table of ``compare`` by verdict: faster, slower, no change, and
    loaded (no verdict: a run timed on a loaded machine)."""
    from reports.compare import compare_runs
    from bench.run.results import read_results
    from reports.timings import speed_rows

    compare_runs(run_a, run_b, out)
    rows = speed_rows(read_results(run_a), read_results(run_b))
    counts = dict(faster=0, slower=0, none=0, loaded=0)
    counts["levels"] = rows[0]["noise_levels"] if rows else (float("nan"), float("nan"))
    for row in rows:
        verdict = row["verdict"]
        counts["faster" if verdict.startswith("B faster") else "slower" if verdict.startswith("B slower")
               else "loaded" if verdict.startswith("no verdict: timed on a loaded") else "none"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.tools.compare_floor", description=__doc__.split("\n")[0])
    parser.add_argument("suite", nargs="?", default="quick")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", required=True, help="a folder for the runs and comparisons")
    args = parser.parse_args(argv)
    root = Path(args.out)
    clean = detected = jobs = judged = 0
    for pair in range(1, args.pairs + 1):
        a, b = root / f"pair{pair}_a", root / f"pair{pair}_b"
        _run(args.suite, a, args.repeats)
        _run(args.suite, b, args.repeats)
        same = verdicts(a, b, root / f"pair{pair}_compare")
        slow = verdicts(a, slowed_copy(b, root / f"pair{pair}_b_slowed"), root / f"pair{pair}_compare_slowed")
        clean += same["faster"] + same["slower"] == 0
        levels = same.pop("levels")
        slow.pop("levels")
        detected += slow["slower"]
        jobs += sum(slow.values())
        judged += same["loaded"] == 0
        print(f"pair {pair}: same code: {same['faster']} faster, {same['slower']} slower, {same['none']} no"
              f" change, {same['loaded']} not judged (a loaded run; noise levels {levels[0]:.2f},"
              f" {levels[1]:.2f}); B slowed 2x: {slow['slower']} of"
              f" {sum(slow.values())} jobs called slower", flush=True)
    print(f"{clean} of {args.pairs} pairs of the same code without a speed verdict ({judged} judged, the"
          f" others timed on a loaded machine); a 2x slowdown called in {detected} of {jobs} jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
