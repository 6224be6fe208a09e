"""Suite files for tests, written from their settings: one place that knows a suite's TOML layout."""

from __future__ import annotations

from collections.abc import Sequence


def optimizer_toml(family: str, schedule: str, **space: object) -> str:
    """One ``[[optimizer]]`` table; ``space`` values are TOML text (``"[0.001, 0.01]"``) or lists."""
    lines = ["[[optimizer]]", f'family = "{family}"', f'schedule = "{schedule}"']
    if space:
        lines.append("[optimizer.space]")
        lines += [f"{name} = {value}" for name, value in space.items()]
    return "\n".join(lines) + "\n"


def suite_toml(name: str, *, steps: int, success_target: float, seeds: Sequence[int] = (0,),
               test_seeds: Sequence[int] = (1,), starts: int = 1, landscapes: str,
               optimizers: Sequence[str] = (), **settings: object) -> str:
    """A suite's text: its settings, ``landscapes`` (TOML text of the list) and optimizer tables.
    ``settings`` are further top-level keys, written as TOML text (strings quoted by the caller)."""
    lines = [f'name = "{name}"', f"steps = {steps}", f"success_target = {success_target}",
             f"seeds = {list(seeds)}", f"test_seeds = {list(test_seeds)}", f"starts = {starts}"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    lines.append(f"landscapes = {landscapes}")
    return "\n".join(lines) + "\n" + "".join("\n" + table for table in optimizers)
