"""Repeated timings of a job's compiled program (``landscape-bench run --timing-repeats N``).

A single wall time on a shared machine moves by tens of percent between runs of the same code, so
it cannot tell a slowdown from a busy neighbour. With ``N`` repeats a job runs its already-compiled
program ``N`` more times on the very inputs of its runs, for timing alone: their outputs are
discarded after a checksum shows they equal the run's own, and each repeat's seconds go to the
records' ``cost`` (``run_seconds_repeats``, with ``runs_repeated``: the runs those seconds cover).
``compare`` judges speed from them (``reports.compare``). Nothing else in a record changes, and
``record_id`` hashes the identity only, so a record with repeats is the same record.

The repeats of each streamed part of a job run just before the part itself, so the records the
part completes can carry them; with ``N = 0`` (the default) nothing extra runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from bench.core.cost import CostMeter
from bench.core.engine import run_parts
from landscapes.errors import InputError

MAX_TIMING_REPEATS = 100  # each repeat costs a whole run of the job again


def check_timing_repeats(repeats: Any) -> int:
    """``repeats`` (an int, or its digits as given on the command line) as an int in
    [0, MAX_TIMING_REPEATS], else a one-line InputError."""
    if isinstance(repeats, str) and repeats.strip().lstrip("+-").isdigit():
        repeats = int(repeats)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) \
            or not 0 <= repeats <= MAX_TIMING_REPEATS:
        raise InputError(f"--timing-repeats must be a whole number from 0 (no repeats) to"
                         f" {MAX_TIMING_REPEATS}; got {repeats!r}")
    return int(repeats)


def checksum(outputs: Mapping[str, Any], running: int = 0) -> int:
    """CRC-32 of a call's host outputs (every array's bytes, in key order), continuing ``running``."""
    for leaf in jax.tree.leaves(outputs):
        running = zlib.crc32(np.ascontiguousarray(leaf).tobytes(), running)
    return running


class RepeatedTimings:
    """The repeats of one job: seconds per repeat over the parts timed so far, and the runs they cover."""

    def __init__(self, repeats: int) -> None:
        self.seconds = [0.0] * repeats
        self.runs = 0

    def time_part(self, part, *, sharding, meter: CostMeter) -> dict[int, int] | None:
        """Run one part of a job (``(problem, shareds, runs, slots)``, as ``run_parts`` takes it)
        ``len(self.seconds)`` times and add each repeat's run seconds; compile time, if the first
        repeat compiled, goes to ``meter``. Returns the outputs' checksum per instance slot (None
        without repeats): :meth:`check` compares the part's own run to it."""
        found = None
        for repeat in range(len(self.seconds)):
            timer = CostMeter()
            totals: dict[int, int] = {}
            for _, slot, _, out in run_parts([part], sharding=sharding, meter=timer):
                totals[slot] = checksum(out, totals.get(slot, 0))
            meter.compile_seconds += timer.compile_seconds
            self.seconds[repeat] += timer.run_seconds
            if found is not None and totals != found:
                raise RuntimeError(f"timing repeat {repeat + 1} of a {part[0].landscape.name} job"
                                   " computed other numbers than repeat 1: the program is not"
                                   " deterministic, so its records would not be either")
            found = totals
        if found is not None:
            self.runs += part[2].runs * len(part[1])
        return found

    @staticmethod
    def check(expected: int | None, got: int, name: str) -> None:
        """Refuse a part whose run computed other numbers than its timing repeats."""
        if expected is not None and got != expected:
            raise RuntimeError(f"a {name} job's run computed other numbers than its timing repeats:"
                               " the program is not deterministic; its records are not written")

    def cost_fields(self) -> dict[str, Any]:
        """The fields a record's ``cost`` gains (none without repeats)."""
        if not self.seconds:
            return {}
        return dict(run_seconds_repeats=list(self.seconds), runs_repeated=self.runs)
