"""The built-in suites, as TOML files (``default.toml``, ``quick.toml``); read by
:func:`bench.run.suites.load_suite`. Naming them needs nothing but this package."""

from __future__ import annotations

from importlib import resources


def builtin_suites() -> list[str]:
    """The names of the built-in suites."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))
