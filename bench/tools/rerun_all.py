"""Recompute every record of a results directory alone and count those that reproduce bitwise.

    python3 -m bench.tools.rerun_all DIR [--sample N] [--seed S]

Each record is rebuilt from its stored identity by ``bench.run.rerun.rerun_record`` (the code behind
``landscape-bench rerun``), so this is that command over a whole folder: the check behind "rerun
reproduces every record of default and quick". MNIST records are skipped (a section is rerun by
running the suite into a new folder). Prints one line per differing record and a summary with the
time taken; exit code 1 if any record differs.
"""

from __future__ import annotations

import argparse
import sys
import time


def rerun_all(directory: str, sample: int | None = None, seed: int = 0) -> dict[str, object]:
    import numpy as np

    from bench.run.results import read_results, to_jsonable
    from bench.tools.same_records import json_text
    from bench.core.sharding import runs_sharding
    from bench.run.rerun import rerun_record, suite_imports
    from landscapes.errors import InputError

    records = [r for r in read_results(directory) if r.get("kind") != "mnist"]
    if sample is not None and sample < len(records):
        chosen = np.random.default_rng(seed).choice(len(records), sample, replace=False)
        records = [records[i] for i in sorted(chosen)]
    imports = suite_imports(records)
    sharding = runs_sharding()
    started = time.perf_counter()
    differing = []
    for record in records:
        try:
            new = rerun_record(record, sharding=sharding, imports=imports)
        except InputError as error:  # a damaged record: said, counted, and the others go on
            differing.append(record["record_id"])
            print(f"REFUSED {record['record_id']}: {error}", flush=True)
            continue
        # as JSON text, like same_records: bitwise (0.0 and -0.0 differ), not Python's ==
        same = all(json_text(to_jsonable(new.get(field))) == json_text(to_jsonable(record.get(field)))
                   for field in ("runs", "trajectory"))
        if not same:
            differing.append(record["record_id"])
            print(f"DIFFERS {record['record_id']} {record.get('landscape')} instance"
                  f" {record.get('instance')} {record.get('label')} {record.get('phase')}", flush=True)
    return dict(records=len(records), differing=len(differing),
                seconds=time.perf_counter() - started, ids=differing)


def main(argv: list[str] | None = None) -> int:
    from bench.core.jax_setup import configure_jax
    from landscapes.errors import InputError

    parser = argparse.ArgumentParser(prog="python3 -m bench.tools.rerun_all", description=__doc__.split("\n")[0])
    parser.add_argument("results")
    parser.add_argument("--sample", type=int, help="rerun this many records, drawn at random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    configure_jax()
    try:
        found = rerun_all(args.results, args.sample, args.seed)
    except InputError as error:
        print(f"rerun_all: error: {error}", file=sys.stderr)
        return 2
    print(f"{found['records'] - found['differing']} of {found['records']} records reproduce bitwise"
          f" ({found['seconds']:.1f} s)")
    return 1 if found["differing"] else 0


if __name__ == "__main__":
    sys.exit(main())
