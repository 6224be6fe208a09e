"""The hyperparameter-sensitivity section: per landscape, success rate and median final gap of
every searched config, as curves (one hyperparameter) or heatmaps (two or more)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis import aggregate
from bench.analysis.aggregate import TUNE
from reports import figures, style
from reports.style import legend_outside, slug

if TYPE_CHECKING:
    from reports.report import Builder


SUCCESS = "success rate"
FINAL_GAP = "median final f − f*"


# Sensitivity grid layout, in inches.
SENSITIVITY_WIDTH = 9.0
SENSITIVITY_PANEL = 1.6  # a curve panel; a heatmap of SENSITIVITY_PANEL / SENSITIVITY_CELL values or more
SENSITIVITY_CELL = 0.27  # height of a heatmap row of cells (a heatmap of 2 values needs no 1.6 in)
SENSITIVITY_MIN_PANEL = 0.8
SENSITIVITY_BAR = 0.11  # the shared colour bars
GAP_BELOW_BARS = 0.75  # their tick labels, and the first row's title
GAP_BELOW_LABELS = 1.15  # a row's x tick labels (rotated) and axis label, and the next row's title
GAP_BELOW_CURVES = 0.85  # a row of curves: its log tick labels are level, not rotated
GAP_BELOW_BARE = 0.42  # a heatmap whose x tick labels the aligned heatmap below carries: the title only


def section_sensitivity(report: Builder) -> None:
    doc = report.doc
    doc.heading("Hyperparameter sensitivity")
    doc.text("Success rate and median final gap of every config of the search (tuning seeds, all"
             " instances). Where more hyperparameters vary than the two axes show, each cell shows"
             " the best value over the others; the heatmaps of a column share one colour scale, the bar"
             " above it, and heatmaps stacked over the same values share the tick labels of the lowest"
             " one. Labels tuned over one hyperparameter share a row, a line each. Grey cells (∞): at"
             " least half the runs diverged, so the median final gap is +∞.")
    summaries = aggregate.config_summaries(report.tune, TUNE)
    if not summaries:
        doc.text("No tuning records.")
        report.missing.append("no tuning-phase records: sensitivity plots are missing.")
        return
    for problem in report.problems:
        per_label = {label: [s for s in summaries if s.problem == problem and s.label == label]
                     for label in report.labels}
        rows = [_sensitivity_data(label, items) for label, items in per_label.items() if items]
        if not rows:
            continue
        fig = _sensitivity_figure(rows)
        fig.suptitle(problem)
        report.save(fig, f"sensitivity_{slug(problem)}", f"{problem}: sensitivity to the hyperparameters.")


def _varying(items: Sequence[aggregate.ConfigSummary]) -> list[str]:
    names = sorted({k for s in items for k in s.config})
    varying = [n for n in names if len({s.config.get(n) for s in items}) > 1]
    # learning rate and momentum first: the two axes the tutorial asks about
    return sorted(varying, key=lambda n: (n != "learning_rate", n != "momentum", n))


def _sensitivity_data(label: str, items: Sequence[aggregate.ConfigSummary]) -> dict[str, Any]:
    """One row of the sensitivity figure: what varies, and the best success rate / final gap per cell."""
    varying = _varying(items)
    if not varying:
        return {"label": label, "kind": "single"}
    if len(varying) == 1:
        name = varying[0]
        xs = sorted({s.config[name] for s in items})
        rates = [max(s.success_rate for s in items if s.config[name] == x) for x in xs]
        gaps = [min(s.median_final_gap for s in items if s.config[name] == x) for x in xs]
        return {"label": label, "kind": "curve", "name": name, "xs": xs, "rates": rates, "gaps": gaps}
    x_name, y_name = varying[0], varying[1]
    xs = sorted({s.config[x_name] for s in items})
    ys = sorted({s.config[y_name] for s in items})
    rates = np.full((len(ys), len(xs)), np.nan)
    gaps = np.full((len(ys), len(xs)), np.nan)
    for s in items:
        i, j = ys.index(s.config[y_name]), xs.index(s.config[x_name])
        rates[i, j] = np.fmax(rates[i, j], s.success_rate)
        gaps[i, j] = np.fmin(gaps[i, j], s.median_final_gap)
    others = f" (best over {', '.join(varying[2:])})" if len(varying) > 2 else ""
    return {"label": label, "kind": "heatmap", "x_name": x_name, "y_name": y_name, "xs": xs, "ys": ys,
            "rates": rates, "gaps": gaps, "title": f"{label}{others}"}


def _sensitivity_panels(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a sensitivity figure: labels tuned over one hyperparameter share one row per
    hyperparameter (a line per label: two panels of one line each repeated the axes for little
    information), first; then the heatmaps in label order; then the labels with one config."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] == "curve":
            curves.setdefault(row["name"], []).append(row)
    return ([{"kind": "curves", "name": name, "rows": group} for name, group in curves.items()]
            + [r for r in rows if r["kind"] == "heatmap"] + [r for r in rows if r["kind"] == "single"])


def _same_x(upper: dict[str, Any], lower: dict[str, Any]) -> bool:
    """Two heatmap rows, one under the other, with the same x values: the lower one's x tick labels
    serve both (the cells line up)."""
    return (upper["kind"] == lower["kind"] == "heatmap" and upper["x_name"] == lower["x_name"]
            and list(upper["xs"]) == list(lower["xs"]))


def _sensitivity_figure(rows: Sequence[dict[str, Any]]):
    """One figure per landscape: a row per label (success rate left, median final gap right); labels
    tuned over one hyperparameter share a row. The heatmaps of a column share one colour scale,
    drawn once as a bar above the column; a heatmap's y tick labels are on the left panel of its row
    only, and its x tick labels only where no heatmap with the same x values is right below it (tick
    labels were most of the draw time; the cells line up, so nothing is lost)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    panels = _sensitivity_panels(rows)
    heat = [row for row in panels if row["kind"] == "heatmap"]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.concatenate([np.log10(np.clip(r["gaps"], figures.GAP_FLOOR, None)).ravel() for r in heat]
                              ) if heat else np.zeros(0)
    logs = logs[np.isfinite(logs)]
    low, high = (float(logs.min()), float(logs.max())) if logs.size else (-1.0, 0.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    bar = 1 if heat else 0
    heights = [SENSITIVITY_BAR] * bar
    gaps = [GAP_BELOW_BARS] * bar
    bare = [i + 1 < len(panels) and _same_x(row, panels[i + 1]) for i, row in enumerate(panels)]
    for i, row in enumerate(panels):
        if row["kind"] == "heatmap":
            cells = SENSITIVITY_CELL * len(row["ys"])
            heights.append(min(SENSITIVITY_PANEL, max(SENSITIVITY_MIN_PANEL, cells)))
        else:
            heights.append(SENSITIVITY_PANEL if row["kind"] == "curves" else SENSITIVITY_MIN_PANEL)
        if i + 1 < len(panels):
            gaps.append(GAP_BELOW_BARE if bare[i] else GAP_BELOW_CURVES if row["kind"] == "curves"
                        else GAP_BELOW_LABELS)
    fig, axes = style.stacked(heights, gaps, 2, width=SENSITIVITY_WIDTH,
                              margins={"bottom": 0.95, "wspace": 1.0})
    if heat:
        for cax, norm, cmap, name, log in ((axes[0, 0], Normalize(0.0, 1.0), "viridis", SUCCESS, False),
                                           (axes[0, 1], Normalize(low, high), "viridis_r", FINAL_GAP, True)):
            fig.colorbar(ScalarMappable(norm, cmap), cax=cax, orientation="horizontal",
                         label=figures.heatmap_value_label(name, log) + " (heatmaps)")
            cax.xaxis.set_label_position("top")
            # at most ~6 labels: the default could print 8 two-decimal ones that ran into each other
            cax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    for (rate_ax, gap_ax), row, no_x in zip(axes[bar:], panels, bare):
        _sensitivity_row((rate_ax, gap_ax), row, gap_range=(low, high), x_labels=not no_x)
    return fig


def _sensitivity_row(axes, row: dict[str, Any], gap_range: tuple[float, float], x_labels: bool = True) -> None:
    rate_ax, gap_ax = axes
    if row["kind"] == "single":
        label = row["label"]
        for ax in axes:
            figures._empty(ax, f"{label}: one config only")
            ax.set_title(label, fontsize="medium")
            ax.set_xticks([]), ax.set_yticks([])
        return
    if row["kind"] == "curves":
        name, group = row["name"], row["rows"]
        xs = {r["label"]: r["xs"] for r in group}
        title = (group[0]["label"] if len(group) == 1
                 else f"{len(group)} labels tuned over {name.replace('_', ' ')} only")
        figures.plot_sensitivity_curve(xs, {r["label"]: r["rates"] for r in group}, x_name=name,
                                       value_name=SUCCESS, ax=rate_ax, title=title)
        rate_ax.set_ylim(-0.02, 1.02)
        figures.plot_sensitivity_curve(xs, {r["label"]: r["gaps"] for r in group}, x_name=name,
                                       value_name=FINAL_GAP, log_y=True, ax=gap_ax, title=title)
        if len(group) > 1:  # right of the row, outside both panels: inside it covered curves
            handles, labels = rate_ax.get_legend_handles_labels()
            legend_outside(gap_ax, handles, labels)
        return
    common = dict(x_name=row["x_name"], y_name=row["y_name"], colorbar=False, title=row["title"],
                  x_labels=x_labels)
    figures.plot_sensitivity_heatmap(row["xs"], row["ys"], row["rates"], value_name=SUCCESS,
                                     vmin=0.0, vmax=1.0, ax=rate_ax, **common)
    # same cells as the success-rate heatmap left of it: its y tick labels serve both
    figures.plot_sensitivity_heatmap(row["xs"], row["ys"], row["gaps"], value_name=FINAL_GAP,
                                     log_values=True, vmin=gap_range[0], vmax=gap_range[1], ax=gap_ax,
                                     y_labels=False, **common)
