"""One look for every figure: a fixed colour and line style per label, the Agg backend, saving helpers.

The colour of a label depends on the label alone (never on which other labels a run holds), so
"nesterov/time_based" has the same colour in every figure of every report and comparison: the family
picks the hue, the schedule the shade and the line style. Labels outside the registries get a colour
from a hash of their name.
"""

from __future__ import annotations

import colorsys
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports are written to files, never shown; no display needed

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Hues of tab10 without its grey (grey means "diverged" in basin maps).
FAMILY_COLORS: dict[str, str] = {
    "sgd": "#1f77b4", "momentum": "#ff7f0e", "nesterov": "#2ca02c", "adam": "#d62728",
    "adamw": "#9467bd", "rmsprop": "#8c564b", "adagrad": "#e377c2", "adadelta": "#bcbd22",
    "nadam": "#17becf", "lion": "#393b79",
}
# Schedule -> (lightness change, line style). Shades stay far enough apart to tell on a white page.
SCHEDULE_SHADES: dict[str, tuple[float, str]] = {
    "constant": (0.0, "-"), "time_based": (-0.12, "--"), "exponential": (0.15, "-."),
    "step": (-0.22, ":"), "cosine": (0.25, (0, (5, 1, 1, 1))), "sgdr": (-0.05, (0, (3, 1, 1, 1, 1, 1))),
}
_FALLBACK = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
             "#17becf", "#393b79", "#637939", "#843c39")
# scipy reference rows ("scipy/METHOD (reference)"): dark neutrals outside the families' hues, drawn
# dotted, so a reference never shares a colour with an optimizer and reads as a reference at a glance.
REFERENCE_COLORS: dict[str, str] = {
    "L-BFGS-B": "#000000", "BFGS": "#5a5a5a", "CG": "#7b5a2e", "Nelder-Mead": "#4b2e83",
    "trust-krylov": "#2e5a5a",
}
REFERENCE_LINESTYLE = ":"
DIVERGED_COLOR = "#9e9e9e"
FIGURE_WIDTH = 7.0  # inches: readable at README width (~700 px at 100 dpi)
DPI = 110


def _split(label: str) -> tuple[str, str]:
    family, _, schedule = label.partition("/")
    return family, schedule


def _shade(color: str, change: float) -> str:
    r, g, b = mcolors.to_rgb(color)
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    return mcolors.to_hex(colorsys.hls_to_rgb(h, min(max(lightness + change, 0.12), 0.85), s))


def color_for(label: str) -> str:
    """The colour of ``label`` ("family/schedule[...]") in every figure: a fixed function of the label."""
    family, schedule = _split(label)
    if family == "scipy":
        return REFERENCE_COLORS.get(schedule.removesuffix(" (reference)"), "#000000")
    if family in FAMILY_COLORS:
        change = SCHEDULE_SHADES.get(schedule, (0.0, "-"))[0] if schedule in SCHEDULE_SHADES else (
            (zlib.crc32(schedule.encode()) % 5 - 2) * 0.08)
        return _shade(FAMILY_COLORS[family], change)
    return _FALLBACK[zlib.crc32(label.encode()) % len(_FALLBACK)]


def linestyle_for(label: str):
    """The line style of ``label``: one per schedule, so shades of one family stay apart."""
    family, schedule = _split(label)
    if family == "scipy":
        return REFERENCE_LINESTYLE
    return SCHEDULE_SHADES.get(schedule, (0.0, "-"))[1]


def new_axes(ax=None, width: float = FIGURE_WIDTH, height: float = 4.2):
    """``ax`` itself, or the Axes of a new figure (the caller saves and closes it)."""
    if ax is not None:
        return ax
    fig = Figure(figsize=(width, height), dpi=DPI)
    return fig.add_subplot()


def subplots(rows: int, cols: int, width: float = FIGURE_WIDTH, height_each: float = 3.0,
             **kwargs):
    """A figure with a grid of Axes, not registered with pyplot (no global state to leak)."""
    fig = Figure(figsize=(width, max(height_each * rows, 2.5)), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kwargs)
    return fig, axes


def legend_outside(ax_or_fig, handles=None, labels=None, title: str | None = None):
    """A legend to the right of the axes (or below a whole figure), where it covers no data."""
    if handles is None:
        handles, labels = ax_or_fig.get_legend_handles_labels()
    if not handles:
        return None
    if isinstance(ax_or_fig, Figure):
        return ax_or_fig.legend(handles, labels, loc="outside lower center",
                                ncol=min(len(handles), 4), title=title, frameon=False, fontsize="small")
    return ax_or_fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                            borderaxespad=0.0, frameon=False, title=title, fontsize="small")


def save(fig: Figure, directory: Path, stem: str, formats: tuple[str, ...] = ("png", "svg")) -> dict[str, Path]:
    """Write ``fig`` as DIRECTORY/STEM.png (and .svg) and close it; returns the paths by format."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        # "tight" keeps figure-level legends placed outside the axes inside the image.
        fig.savefig(path, bbox_inches="tight", dpi=DPI)
        paths[fmt] = path
    plt.close(fig)
    return paths
