"""What a sweep cost: compile and run seconds, and where its per-run inputs were made.

``CostMeter`` is what the engine's calls (``bench.core.engine.run_parts``) report to while they
run; ``Cost`` is its reading, which records carry (``bench.core.environment.cost_record``).
"""

from __future__ import annotations

import dataclasses
import time


@dataclasses.dataclass(frozen=True)
class Cost:
    """What a batch cost. Compile time is measured apart from run time (AOT lower/compile)."""

    compile_seconds: float
    run_seconds: float
    runs: int
    steps: int
    inputs: str = "device"  # where the per-run inputs were made: "device", "host" (or "mixed")

    @property
    def steps_per_second(self) -> float:
        return self.runs * self.steps / self.run_seconds if self.run_seconds > 0 else float("nan")


class CostMeter:
    """Compile and run seconds of the calls of one or more parts (see ``bench.core.engine.run_parts``), and
    where their per-run inputs were made (``bench.core.inputs.Runs.inputs``).

    Run seconds are the wall time during which at least one part was running (from its first
    dispatch, after its compile, to its last outputs on the host), less any compile inside that
    time: parts dispatched ahead overlap, and their overlap counts once."""

    def __init__(self) -> None:
        self.compile_seconds = 0.0
        self.run_seconds = 0.0
        self.runs = 0
        self.inputs = "device"
        self._open = 0  # parts dispatched whose last outputs are not yet on the host
        self._started = 0  # parts dispatched
        self._since = 0.0  # when the run seconds were last brought up to date
        self._compiled = 0.0  # compile_seconds then

    def cost(self, steps: int) -> Cost:
        return Cost(self.compile_seconds, self.run_seconds, self.runs, steps, self.inputs)

    def _bring_up_to_date(self) -> None:
        now = time.perf_counter()
        if self._open:
            self.run_seconds += max(0.0, now - self._since - (self.compile_seconds - self._compiled))
        self._since, self._compiled = now, self.compile_seconds

    def part_started(self, inputs: str) -> None:
        """A part's first call is dispatched; ``inputs``: where its per-run inputs were made."""
        self._bring_up_to_date()
        self.inputs = inputs if not self._started or self.inputs == inputs else "mixed"
        self._started += 1
        self._open += 1

    def part_done(self, runs: int) -> None:
        """A part's last outputs are on the host: its time is counted (before its records are
        made, so a record stamped with this meter's cost includes the part that made it)."""
        self._bring_up_to_date()
        self._open -= 1
        self.runs += runs
