"""Compare the records of two results directories field by field: the before/after check of a change.

    python3 -m bench.tools.same_records DIR_A DIR_B [--ignore FIELD ...]

Records are matched by ``record_id`` (the hash of a run's identity). Every field must be equal,
bitwise for numbers, except the ones that record when, where and how fast a run was made: ``cost``,
``created``, ``timings`` and ``model_dir`` (an MNIST section's wall times and its output folder), the
``*_time`` columns of an MNIST search's ``cv_results`` (scikit-learn's fit and score seconds), plus any
named with ``--ignore`` (a field a change adds on purpose). Job markers (``kind = "job_end"``) are not records and are skipped.
Prints one line per record only one side holds or whose fields differ, then a summary; exit code 1
if anything differs, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

ALWAYS_IGNORED = ("cost", "created", "timings", "model_dir")


def _records(directory: str) -> dict[str, Mapping[str, Any]]:
    from bench.run.results import read_results

    return {r["record_id"]: r for r in read_results(directory) if r.get("kind") != "job_end"}


def json_text(value: Any) -> str:
    # Compared as canonical JSON text, not as Python values: 0.0 == -0.0 in Python, and the records
    # hold floats in their shortest round-tripping form, so equal text is bitwise-equal numbers.
    return json.dumps(value, sort_keys=True, allow_nan=True)


def _without_times(value: Any) -> Any:
    """``cv_results`` without its wall-time columns (``mean_fit_time`` ...)."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if not k.endswith("_time")}
    return value


def _differing_fields(a: Mapping[str, Any], b: Mapping[str, Any], ignored: Iterable[str]) -> list[str]:
    fields = sorted((set(a) | set(b)) - set(ignored))

    def text(record, field):
        value = record.get(field)
        return json_text(_without_times(value) if field == "cv_results" else value)

    return [f for f in fields if text(a, f) != text(b, f)]


def same_records(dir_a: str, dir_b: str, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """{"only_a", "only_b", "differing": {record_id: [fields]}, "compared"} for two directories."""
    a, b = _records(dir_a), _records(dir_b)
    ignored = (*ALWAYS_IGNORED, *ignore)
    differing = {}
    for record_id in sorted(set(a) & set(b)):
        fields = _differing_fields(a[record_id], b[record_id], ignored)
        if fields:
            differing[record_id] = fields
    return dict(only_a=sorted(set(a) - set(b)), only_b=sorted(set(b) - set(a)),
                differing=differing, compared=len(set(a) & set(b)))


def main(argv: list[str] | None = None) -> int:
    from landscapes.errors import InputError

    parser = argparse.ArgumentParser(prog="python3 -m bench.tools.same_records",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("dir_a")
    parser.add_argument("dir_b")
    parser.add_argument("--ignore", action="append", default=[], metavar="FIELD",
                        help="a top-level record field to leave out of the comparison (repeatable)")
    args = parser.parse_args(argv)
    try:
        found = same_records(args.dir_a, args.dir_b, args.ignore)
    except InputError as error:
        print(f"same_records: error: {error}", file=sys.stderr)
        return 2
    for record_id in found["only_a"]:
        print(f"ONLY IN A {record_id}")
    for record_id in found["only_b"]:
        print(f"ONLY IN B {record_id}")
    for record_id, fields in found["differing"].items():
        print(f"DIFFERS {record_id}: {', '.join(fields)}")
    bad = len(found["only_a"]) + len(found["only_b"]) + len(found["differing"])
    print(f"{found['compared'] - len(found['differing'])} of {found['compared']} shared records equal"
          f" (ignoring {', '.join((*ALWAYS_IGNORED, *args.ignore))}); {len(found['only_a'])} only in A,"
          f" {len(found['only_b'])} only in B")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
