"""Errors for bad user input, shared by every package.

The command line turns an :class:`InputError` into one line on stderr and exit code 2; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class InputError(ValueError):
    """A value the user gave is invalid; the message says what was wrong and how to fix it."""


class UnknownNameError(InputError, KeyError):
    """A name that is not in a registry. Subclasses KeyError so ``name in registry`` idioms still fit."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


# Where a registry can hold the user's own entries, the error says how to make them visible.
YOUR_OWN = (" (one of your own? list its module in the suite's imports = [...], or give certify"
            " and list --import MODULE)")


def unknown_name(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the error for an unknown ``name`` of ``kind``, listing the close matches from ``choices``
    (``hint`` is appended, e.g. :data:`YOUR_OWN`)."""
    choices = sorted(choices)
    if not isinstance(name, str):
        article = "an" if kind[:1] in "aeiou" else "a"
        return UnknownNameError(f"{article} {kind} is named by a string; got {name!r}"
                                f" (known: {', '.join(choices)})")
    # the same name but for case or leading zeros ("bbob_f1", "BBOB_F07") first, then spelling
    same = [c for c in choices if _loose(c) == _loose(name)]
    close = same + [c for c in difflib.get_close_matches(name, choices, n=5, cutoff=0.5) if c not in same]
    close = close[:5]
    near = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(choices)}"
    return UnknownNameError(f"unknown {kind} {name!r}; {near}{hint}")


def _loose(name: str) -> str:
    """``name`` in lower case with each number's leading zeros dropped."""
    return re.sub(r"\d+", lambda m: str(int(m.group())), name.lower())
