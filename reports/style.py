"""One look for every figure: a fixed colour per optimizer family, a line style per schedule, the Agg
backend, saving helpers.

The colour of a label depends on its family alone (never on which other labels a run holds), so every
"nesterov/..." label is the same colour in every figure of every report and comparison, and the
schedule is told by the line style (and the marker). The palette is Okabe & Ito's (2008) colour-blind
safe set, extended by Paul Tol's muted scheme for the families beyond seven. Labels outside the
registries get a colour of Tol's muted scheme from a hash of their family.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import matplotlib

matplotlib.use("Agg")  # reports are written to files, never shown; no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation, NullLocator  # noqa: E402

# Okabe-Ito without black (black and greys are the scipy references) and yellow (unreadable as a thin
# line on white), then Tol's muted wine, olive, indigo.
FAMILY_COLORS: dict[str, str] = {
    "sgd": "#0072B2", "momentum": "#E69F00", "nesterov": "#009E73", "adam": "#D55E00",
    "adamw": "#CC79A7", "rmsprop": "#56B4E9", "adagrad": "#882255", "adadelta": "#999933",
    "nadam": "#332288", "lion": "#AA4499",
}
# Schedule -> line style; the family's colour stays the same for all its schedules.
SCHEDULE_STYLES: dict[str, object] = {
    "constant": "-", "time_based": "--", "exponential": "-.", "step": ":",
    "cosine": (0, (5, 1, 1, 1)), "sgdr": (0, (3, 1, 1, 1, 1, 1)),
}
# Markers drawn every few points, at offsets that differ per label, so curves lying on top of each
# other (two schedules that select the same config) stay visible as two marker sequences.
SCHEDULE_MARKERS: dict[str, str] = {"constant": "o", "time_based": "s", "exponential": "^", "step": "v",
                                    "cosine": "D", "sgdr": "P"}
REFERENCE_MARKERS: dict[str, str] = {"L-BFGS-B": "s", "BFGS": "D", "CG": "v", "Nelder-Mead": "^",
                                     "trust-krylov": "P"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_FALLBACK = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933",
             "#AA4499")
# scipy reference rows ("scipy/METHOD (reference)"): dark neutrals outside the families' hues, drawn
# dotted, so a reference never shares a colour with an optimizer and reads as a reference at a glance.
REFERENCE_COLORS: dict[str, str] = {
    "L-BFGS-B": "#000000", "BFGS": "#5a5a5a", "CG": "#7b5a2e", "Nelder-Mead": "#4b4b4b",
    "trust-krylov": "#2e4a4a",
}
REFERENCE_LINESTYLE = ":"
DIVERGED_COLOR = "#9e9e9e"
FIGURE_WIDTH = 7.0  # inches: readable at README width (~700 px at 100 dpi)
DPI = 110


def _split(label: str) -> tuple[str, str]:
    family, _, schedule = label.partition("/")
    return family, schedule


def color_for(label: str) -> str:
    """The colour of ``label`` ("family/schedule[...]") in every figure: one per family."""
    family, schedule = _split(label)
    if family == "scipy":
        return REFERENCE_COLORS.get(schedule.removesuffix(" (reference)"), "#000000")
    if family in FAMILY_COLORS:
        return FAMILY_COLORS[family]
    return _FALLBACK[zlib.crc32(family.encode()) % len(_FALLBACK)]


def linestyle_for(label: str):
    """The line style of ``label``: one per schedule (the colour is the family's)."""
    family, schedule = _split(label)
    if family == "scipy":
        return REFERENCE_LINESTYLE
    if schedule in SCHEDULE_STYLES:
        return SCHEDULE_STYLES[schedule]
    styles = list(SCHEDULE_STYLES.values())
    return styles[zlib.crc32(schedule.encode()) % len(styles)]


def marker_for(label: str) -> str:
    """A marker per schedule (per method for a reference), drawn sparsely on curves to tell overlaps
    apart: with the family's colour and the schedule's line style, a fixed function of the label."""
    family, schedule = _split(label)
    table = REFERENCE_MARKERS if family == "scipy" else SCHEDULE_MARKERS
    name = schedule.removesuffix(" (reference)")
    return table.get(name) or MARKERS[zlib.crc32(name.encode()) % len(MARKERS)]


def mark_curves(ax, points: int = 6) -> None:
    """Sparse markers on the labelled curves of ``ax``, each label's at its own offset, so curves
    drawn on top of each other remain visible (a hidden curve still shows its markers)."""
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")
             and len(line.get_xdata()) > 2]
    for index, line in enumerate(lines):
        count = len(line.get_xdata())
        every = max(count // points, 1)
        line.set_marker(marker_for(line.get_label()))
        line.set_markersize(4)
        line.set_markevery((int(index * every / max(len(lines), 1)) % every, every))


# Fixed layout, in inches. A layout engine ("constrained") or bbox_inches="tight" measures every tick
# label of every Axes several times per saved file (most of the report's build time went there); these
# margins hold the tick labels, axis labels and titles of the report's figures instead, and ``save``
# only measures the few things whose size it cannot know in advance (legends outside the axes, a
# suptitle) and grows the canvas to hold them.
MARGINS: dict[str, float] = {"left": 0.85, "right": 0.3, "bottom": 0.62, "top": 0.38, "wspace": 0.85,
                             "hspace": 0.85}
# rc settings for the Axes of report figures: a title at a fixed height above the axes (an automatic
# title position measures the x tick labels of every Axes at every draw; no figure puts ticks on top).
AXES_RC = {"axes.titley": 1.0}
PAD = 0.08  # inches between a measured legend and the canvas edge
# SVG text as <text> elements, not glyph outlines: a third of the SVG's write time and most of its
# bytes went to outlining every label (the browser draws the text in its own sans-serif)
SAVE_RC = {"svg.fonttype": "none"}


def new_axes(ax=None, width: float = FIGURE_WIDTH, height: float = 4.2):
    """``ax`` itself, or the Axes of a new figure (the caller saves and closes it)."""
    if ax is not None:
        return ax
    fig, axes = subplots(1, 1, width=width, height_each=height)
    return axes[0, 0]


def subplots(rows: int, cols: int, width: float = FIGURE_WIDTH, height_each: float = 3.0, *,
             margins: dict[str, float] | None = None, tight: bool = False, **kwargs):
    """A figure with a grid of Axes, not registered with pyplot (no global state to leak).

    The layout is fixed: ``margins`` (inches: left, right, bottom, top, and wspace/hspace between
    panels) override :data:`MARGINS`. ``tight=True`` is for figures whose tick labels have no size known
    in advance (long category names): ``save`` then crops to the drawn extent (one extra layout pass).
    """
    fig = Figure(figsize=(width, max(height_each * rows, 2.5)), dpi=DPI)
    with matplotlib.rc_context(AXES_RC):
        axes = fig.subplots(rows, cols, squeeze=False, **kwargs)
    fig._report_margins = {**MARGINS, **(margins or {})}  # read by apply_margins and save
    fig._report_tight = tight
    apply_margins(fig)
    return fig, axes


def stacked(heights, gaps, cols: int = 1, width: float = FIGURE_WIDTH, *,
            margins: dict[str, float] | None = None):
    """A figure of rows of ``cols`` Axes, fixed layout as :func:`subplots`: row i is ``heights[i]``
    inches tall and ``gaps[i]`` inches above row i + 1. Each gap is a grid row holding no Axes, so it
    can be as tall as what hangs below its row needs (rotated tick labels and an axis label, or only
    the next row's title) instead of one spacing for all. Returns the figure and a (rows, cols)
    array of Axes."""

    heights, gaps = list(heights), list(gaps)
    if len(gaps) != max(len(heights) - 1, 0):
        raise ValueError(f"{len(heights)} rows need {len(heights) - 1} gaps, got {len(gaps)}")
    m = {**MARGINS, **(margins or {}), "hspace": 0.0}
    ratios = [size for pair in zip(heights, [*gaps, None]) for size in pair if size is not None]
    ratios = [max(float(r), 1e-3) for r in ratios]
    fig = Figure(figsize=(width, sum(ratios) + m["top"] + m["bottom"]), dpi=DPI)
    grid = fig.add_gridspec(len(ratios), cols, height_ratios=ratios)
    with matplotlib.rc_context(AXES_RC):
        axes = np.array([[fig.add_subplot(grid[2 * i, j]) for j in range(cols)] for i in range(len(heights))],
                        dtype=object).reshape(len(heights), cols)
    fig._report_margins = m
    fig._report_tight = False
    apply_margins(fig)
    return fig, axes


def apply_margins(fig: Figure) -> None:
    """Place the grid of ``fig`` by its margins in inches (see :func:`subplots`)."""
    m = getattr(fig, "_report_margins", None)
    if m is None or not fig.axes:
        return
    spec = next((ax.get_subplotspec() for ax in fig.axes if ax.get_subplotspec() is not None), None)
    if spec is None:
        return
    rows, cols = spec.get_topmost_subplotspec().get_gridspec().get_geometry()
    width, height = fig.get_size_inches()
    inner_w = max(width - m["left"] - m["right"], 0.5)
    inner_h = max(height - m["bottom"] - m["top"], 0.5)
    # subplots_adjust's wspace/hspace are fractions of the mean Axes width/height
    mean_w = max((inner_w - (cols - 1) * m["wspace"]) / cols, 0.2)
    mean_h = max((inner_h - (rows - 1) * m["hspace"]) / rows, 0.2)
    fig.subplots_adjust(left=m["left"] / width, right=1.0 - m["right"] / width,
                        bottom=m["bottom"] / height, top=1.0 - m["top"] / height,
                        wspace=m["wspace"] / mean_w, hspace=m["hspace"] / mean_h)


def fit(fig: Figure) -> None:
    """Grow the canvas of a fixed-layout figure so its outside legends and suptitle fit; the Axes keep
    their size in inches. Measures only those few texts, never the tick labels."""
    m = getattr(fig, "_report_margins", None)
    if m is None:
        return
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    dpi = fig.dpi
    width, height = fig.get_size_inches()
    right = bottom = top = 0.0
    for legend in fig.legends:  # below the grid (legend_outside fitted its columns to the width)
        bottom = max(bottom, legend.get_window_extent(renderer).height / dpi + PAD)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            right = max(right, legend.get_window_extent(renderer).x1 / dpi - width + PAD)
    if fig._suptitle is not None and fig._suptitle.get_text():
        top = fig._suptitle.get_window_extent(renderer).height / dpi + PAD
        fig._suptitle.set_y(1.0 - PAD / (height + top))
        fig._suptitle.set_va("top")
    right = max(right, 0.0)
    if right or bottom or top:
        m["right"] += right
        m["bottom"] += bottom
        m["top"] += top
        fig.set_size_inches(width + right, height + bottom + top)
        if fig._suptitle is not None:
            fig._suptitle.set_y(1.0 - PAD / (height + bottom + top))
        for legend in fig.legends:
            legend.set_bbox_to_anchor((0.5, PAD / (height + bottom + top)), transform=fig.transFigure)
        apply_margins(fig)


class _UnicodeLogFormatter(LogFormatterSciNotation):
    """LogFormatterSciNotation's labels as plain text ("10⁻⁴", "2×10⁻¹") instead of mathtext: the
    same look, without a mathtext parse per label and size (a large part of the draw time)."""

    _SUPERSCRIPT = str.maketrans("-−0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    _PATTERN = re.compile(r"\$\\mathdefault\{(?:([^{}$]+?)\\times)?(\d+)\^\{([^$]+?)\}\}\$")

    def __call__(self, x, pos=None):
        text = super().__call__(x, pos)
        match = self._PATTERN.fullmatch(text)
        if match is None:
            plain = re.fullmatch(r"\$\\mathdefault\{([-−]?[0-9.]+)\}\$", text)
            return plain.group(1) if plain else text
        coefficient, base, exponent = match.groups()
        exponent = exponent.replace("\\ ", "").replace("{", "").replace("}", "").replace("\\mathdefault", "")
        if not re.fullmatch(r"[-−]?\d+", exponent):
            return text
        return (f"{coefficient}×" if coefficient else "") + base + exponent.translate(self._SUPERSCRIPT)


def lighten_ticks(fig: Figure) -> None:
    """Plain-text log tick labels; no minor ticks on log axes spanning two decades or more (there
    the decades are labelled, and unlabelled minor ticks were hundreds of Tick objects per figure)."""
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim), (ax.yaxis, ax.get_ylim)):
            if axis.get_scale() != "log":
                continue
            for setter, formatter in ((axis.set_major_formatter, axis.get_major_formatter()),
                                      (axis.set_minor_formatter, axis.get_minor_formatter())):
                if type(formatter) is LogFormatterSciNotation:
                    setter(_UnicodeLogFormatter(base=formatter._base, labelOnlyBase=formatter.labelOnlyBase,
                                                minor_thresholds=formatter.minor_thresholds))
            low, high = sorted(abs(v) for v in limits())
            if low > 0 and high / low >= 100.0:
                axis.set_minor_locator(NullLocator())


def legend_outside(ax_or_fig, handles=None, labels=None, title: str | None = None):
    """A legend to the right of the axes (or below a whole figure), where it covers no data."""
    if handles is None:
        handles, labels = ax_or_fig.get_legend_handles_labels()
    if not handles:
        return None
    if isinstance(ax_or_fig, Figure):
        fig = ax_or_fig
        if not hasattr(fig.canvas, "get_renderer"):
            FigureCanvasAgg(fig)
        # as many columns (up to 4) as fit the figure's width: a legend box is laid out once, so
        # a legend that is too wide is made again with fewer columns
        for ncol in range(min(len(handles), 4), 0, -1):
            legend = fig.legend(handles, labels, loc="outside lower center", ncol=ncol, title=title,
                                frameon=False, fontsize="small")
            width = legend.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
            if ncol == 1 or width <= fig.get_size_inches()[0] - 2 * PAD:
                return legend
            legend.remove()
    return ax_or_fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                            borderaxespad=0.0, frameon=False, title=title, fontsize="small")


def save(fig: Figure, directory: Path, stem: str, formats: tuple[str, ...] = ("png", "svg")) -> dict[str, Path]:
    """Write ``fig`` as DIRECTORY/STEM.png (and .svg) and close it; returns the paths by format.

    A figure from :func:`subplots` keeps its fixed layout (grown by :func:`fit` for outside legends);
    any other figure, or one made with ``tight=True``, is cropped to its drawn extent instead.
    """
    directory.mkdir(parents=True, exist_ok=True)
    lighten_ticks(fig)
    measured = getattr(fig, "_report_margins", None) is not None and not getattr(fig, "_report_tight", False)
    if measured:
        fit(fig)
    paths = {}
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        extra = {} if measured else {"bbox_inches": "tight"}
        if fmt == "png":  # zlib level 1: a fifth of level 6's encode time, files ~20 % larger
            extra["pil_kwargs"] = {"compress_level": 1}
        with matplotlib.rc_context(SAVE_RC):
            fig.savefig(path, dpi=DPI, **extra)
        paths[fmt] = path
    plt.close(fig)
    return paths


def slug(text: str) -> str:
    """A file stem of ``text``: lower case, runs of other characters as "_"."""
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def label_outer(axes: np.ndarray) -> None:
    """Tick labels and axis labels of a grid of shared Axes only where no visible panel is left of
    (y) or below (x) the panel; unlike ``Axes.label_outer`` a panel above a hidden one keeps its x
    labels."""
    rows, cols = axes.shape
    for (i, j), ax in np.ndenumerate(axes):
        if not ax.get_visible():
            continue
        below = i + 1 < rows and axes[i + 1, j].get_visible()
        ax.xaxis.set_tick_params(labelbottom=not below)
        if below:
            ax.set_xlabel("")
        ax.yaxis.set_tick_params(labelleft=j == 0)
        if j:
            ax.set_ylabel("")


def figure_legend(fig, labels: Sequence[str]) -> None:
    """One legend for the figure, right of its panels: a line per label in its colour and style."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=color_for(lab), linestyle=linestyle_for(lab), linewidth=2,
                      marker=marker_for(lab), markersize=4) for lab in labels]
    legend_outside(fig, handles, list(labels))
