"""Errors for bad user input, shared by every package.

The command line turns an :class:`InputError` into one line on stderr and exit code 2; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(ValueError):
    """A value the user gave is invalid; the message says what was wrong and how to fix it."""


class UnknownNameError(InputError, KeyError):
    """A name that is not in a registry. Subclasses KeyError so ``name in registry`` idioms still fit."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown ``name`` of ``kind``, listing the close matches from ``choices``."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(choices)}"
    return UnknownNameError(f"unknown {kind} {name!r}; {hint}")
