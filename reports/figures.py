"""Figure functions: each draws one panel from aggregated data, takes ``ax=None`` and returns the Axes.

They read numbers only (records, :mod:`bench.analysis.aggregate` results, configs); none runs an optimizer.
Colours come from :func:`reports.style.color_for`, so a label looks the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D

from bench.analysis import aggregate
from bench.analysis.trajectories import GapCurve
from reports.style import (DIVERGED_COLOR, color_for, legend_outside, linestyle_for, mark_curves,
                           marker_for, new_axes)

GAP_FLOOR = 1e-16  # a gap of 0 (or a float64 rounding below f*) is drawn here on log axes
CONTOUR_EPS = 1e-12
EVALUATIONS = "gradient evaluations"
GAP = "f(x) − f*"
BASIN_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000")


def _log_y(ax, finite_positive: bool, message: str = "no finite value (all runs diverged)"):
    """Log y; with nothing positive and finite to show, fixed limits and a note (a log axis over no
    data would fail at draw time)."""
    ax.set_yscale("log")
    if not finite_positive:
        ax.set_ylim(GAP_FLOOR, 1.0)
        _empty(ax, message)


def _empty(ax, message: str):
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize="small",
            color="#555555", wrap=True)
    return ax


# 1 ------------------------------------------------------------------------------------------------
DIVERGED_MARKER = "x"  # thin cross in the label's colour: where a diverged run was last finite
MAX_PATHS_PER_LABEL = 3  # more paths of one colour on one contour read as a tangle
# Low-saturation greys: the landscape is the background, the labels' colours are the paths.
CONTOUR_FILL = "Greys"
CONTOUR_LINE = "#8c8c8c"


def plot_contour(box: np.ndarray, gap: np.ndarray, trajectories: Mapping[str, np.ndarray], *,
                 minimizers: np.ndarray, title: str | None = None, ax=None, legend: bool = True):
    """Grey contours of log10(f − f* + ε) of a 2-D landscape, with each label's trajectories in its
    colour (at most :data:`MAX_PATHS_PER_LABEL` per label).

    Args:
      box: (2, 2) the (low, high) of x₁ and x₂ the grid spans.
      gap: (n, n) f − f* on a regular grid over ``box``, row i at the i-th x₂ value
        (:func:`bench.run.figure_data.contour_grid`, written into the run's views).
      trajectories: label -> (runs, K, 2) iterates; NaN points (diverged) are not drawn, and a run
        that diverged gets a thin cross in its label's colour at its last finite point instead of the
        last-iterate marker.
      minimizers: (k, 2) certified global minimizers, marked with stars.
    """
    ax = new_axes(ax, height=5.0)
    box, minimizers = np.asarray(box, np.float64), np.asarray(minimizers, np.float64)
    rows, cols = np.shape(gap)
    grid_x, grid_y = np.meshgrid(np.linspace(box[0, 0], box[0, 1], cols),
                                 np.linspace(box[1, 0], box[1, 1], rows))
    gap = np.clip(np.asarray(gap, np.float64), 0.0, None)
    levels_of = np.log10(gap + CONTOUR_EPS)
    # light greys only (the top of the map is white, its bottom mid-grey), so no path colour is lost
    filled = ax.contourf(grid_x, grid_y, levels_of, levels=16, cmap=CONTOUR_FILL, vmin=levels_of.min(),
                         vmax=levels_of.max() + 0.6 * np.ptp(levels_of), alpha=0.4)
    filled.set_rasterized(True)  # the SVG holds the fill as one image: small, and the paths stay vector
    ax.contour(grid_x, grid_y, levels_of, levels=12, colors=CONTOUR_LINE, linewidths=0.4)
    ax.figure.colorbar(filled, ax=ax, label=f"log10({GAP} + 1e-12)", pad=0.02)
    diverged_any = False
    for label, points in trajectories.items():
        points = np.asarray(points, dtype=np.float64)[:MAX_PATHS_PER_LABEL]
        color = color_for(label)
        for i, run in enumerate(points):
            ax.plot(run[:, 0], run[:, 1], color=color, linestyle=linestyle_for(label), linewidth=1.4,
                    label=label if i == 0 else None)
            ax.plot(run[0, 0], run[0, 1], "o", color=color, markersize=4, markeredgecolor="white",
                    markeredgewidth=0.5)
            finite = run[np.isfinite(run).all(axis=1)]
            if np.isfinite(run[-1]).all():
                ax.plot(run[-1, 0], run[-1, 1], "X", color=color, markersize=6,
                        markeredgecolor="black", markeredgewidth=0.5)
            elif len(finite):  # diverged: it did not finish where its path ends on the plot
                diverged_any = True
                ax.plot(finite[-1, 0], finite[-1, 1], marker=DIVERGED_MARKER, color=color,
                        markersize=8, markeredgewidth=1.6, linestyle="none")
    ax.plot(minimizers[:, 0], minimizers[:, 1], "*", color="white", markersize=13,
            markeredgecolor="black", markeredgewidth=0.8, linestyle="none", label="certified minimum")
    ax.set_xlim(box[0]), ax.set_ylim(box[1])
    ax.set_xlabel("x₁"), ax.set_ylabel("x₂")
    if title:
        ax.set_title(title)
    if legend:
        _contour_legend(ax, diverged_any)
    return ax


def _contour_legend(ax, diverged_any: bool) -> None:
    """The labels' paths, then black start / last-iterate (/ diverged) markers, right of the colour bar."""
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], marker="o", color="black", linestyle="none", markersize=4),
                Line2D([], [], marker="X", color="black", linestyle="none", markersize=6)]
    labels += ["start", "last iterate"]
    if diverged_any:
        handles.append(Line2D([], [], marker=DIVERGED_MARKER, color="black", linestyle="none",
                              markersize=8, markeredgewidth=1.6))
        labels.append("diverged (last finite point)")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.25, 1.0), frameon=False,
              fontsize="small")


# 2 ------------------------------------------------------------------------------------------------
def plot_gap_vs_step(curves: Mapping[str, GapCurve | None], *, ax=None, title: str | None = None,
                     legend: bool = True):
    """Median f − f* over runs against the step, quartile band shaded, log y."""
    ax = new_axes(ax)
    drawn = 0
    for label, curve in curves.items():
        if curve is None:
            continue
        color = color_for(label)
        median = np.clip(curve.median, GAP_FLOOR, None)
        ax.plot(curve.steps, median, color=color, linestyle=linestyle_for(label), label=label)
        ax.fill_between(curve.steps, np.clip(curve.q25, GAP_FLOOR, None),
                        np.clip(curve.q75, GAP_FLOOR, None), color=color, alpha=0.2, linewidth=0)
        drawn += int(np.isfinite(median).sum() > 1)
        lost = ~np.isfinite(curve.median)
        if lost.any() and np.isfinite(curve.median[0]):
            # From here on at least half the runs have diverged: the median is +inf, so mark where.
            ax.plot(curve.steps[np.argmax(lost)], 0.97, "^", color=color, markersize=8, clip_on=False,
                    transform=ax.get_xaxis_transform())
        ax.set_xlim(0, max(ax.get_xlim()[1], float(curve.steps[-1])))
    recorded = any(c is not None for c in curves.values())
    mark_curves(ax)
    _log_y(ax, drawn > 0, "median +∞: at least half the runs\ndiverged for every label" if recorded
           else "no trajectories recorded\n(set trajectory_every in the suite)")
    ax.set_xlabel(f"step ({EVALUATIONS})")
    ax.set_ylabel(GAP)
    if title:
        ax.set_title(title)
    if legend and recorded:
        legend_outside(ax)
    return ax


# 3 ------------------------------------------------------------------------------------------------
def plot_learning_rates(label: str, curves: Sequence[np.ndarray],
                        best: np.ndarray | Sequence[tuple[np.ndarray, str]] | None = None, *, ax=None):
    """Learning rate against the step: every tuned config faint, the selected ones bold.

    ``best``: the selected config's curve, or (curve, where it was selected) pairs when the selection
    differs between landscapes (each gets its own line and legend entry)."""
    ax = new_axes(ax)
    color = color_for(label)
    for i, curve in enumerate(curves):
        ax.plot(np.arange(len(curve)), curve, color=color, alpha=0.3, linewidth=0.8,
                label="searched configs" if i == 0 else None)
    chosen = [] if best is None else [(best, "selected config")] if isinstance(best, np.ndarray) else [
        (curve, f"selected on {where}") for curve, where in best]
    widths = np.linspace(2.6, 1.4, len(chosen)) if len(chosen) > 1 else [2.2]
    styles = ["-", "--", ":", "-."]
    for index, ((curve, name), width) in enumerate(zip(chosen, widths)):
        ax.plot(np.arange(len(curve)), curve, color=color, linewidth=width, label=name,
                linestyle=linestyle_for(label) if len(chosen) == 1 else styles[index % len(styles)])
    _log_y(ax, any(np.any(np.asarray(c) > 0) for c in [*curves, *(c for c, _ in chosen)]),
           "no positive learning rate")
    ax.set_xlabel("update step")
    ax.set_ylabel("learning rate")
    ax.set_title(label, fontsize="medium")
    if not curves and not chosen:
        _empty(ax, "no configs")
    return ax


# 4 ------------------------------------------------------------------------------------------------
# Cell labels beyond this many make the figure unreadable and its layout slow (text extents dominated
# the default suite's report time); the colour bar carries the values then.
MAX_ANNOTATED_CELLS = 24


def plot_sensitivity_heatmap(x_values: Sequence[float], y_values: Sequence[float], grid: np.ndarray, *,
                             x_name: str, y_name: str, value_name: str, log_values: bool = False,
                             vmin: float | None = None, vmax: float | None = None, ax=None,
                             title: str | None = None, colorbar: bool = True, x_labels: bool = True,
                             y_labels: bool = True):
    """A heatmap of ``grid[i_y, i_x]`` with one cell per grid value; NaN cells are hatched grey.

    ``colorbar=False`` leaves the colour bar to the caller (one bar shared by a column of heatmaps
    drawn with the same ``vmin``/``vmax``, the image is ``ax.images[0]``). ``x_labels=False`` /
    ``y_labels=False``: no ticks, tick labels or axis label on that axis, for a heatmap
    whose neighbour in a grid (same values on that axis, aligned) carries them; tick labels were
    most of a sensitivity grid's draw time."""
    ax = new_axes(ax)
    grid = np.asarray(grid, dtype=np.float64)
    shown = grid.copy()
    if log_values:
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = np.log10(np.clip(grid, GAP_FLOOR, None))
        shown[~np.isfinite(grid)] = np.nan
    masked = np.ma.masked_invalid(shown)
    cmap = "viridis_r" if log_values else "viridis"
    ax.set_facecolor(DIVERGED_COLOR)
    image = ax.imshow(masked, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=heatmap_value_label(value_name, log_values), pad=0.02)
    if x_labels:
        ax.set_xticks(range(len(x_values)), [f"{v:.3g}" for v in x_values], rotation=45, ha="right",
                      fontsize="small")
        ax.set_xlabel(x_name.replace("_", " "))
    else:  # no ticks either: the cells mark the values, and each Tick costs as much as its label
        ax.set_xticks([])
    if y_labels:
        ax.set_yticks(range(len(y_values)), [f"{v:.3g}" for v in y_values], fontsize="small")
        ax.set_ylabel(y_name.replace("_", " "))
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            value = grid[i, j]
            text = "∞" if not np.isfinite(value) else (f"{value:.0e}" if log_values else f"{value:.2f}")
            if grid.size <= MAX_ANNOTATED_CELLS:
                # dark text on light cells, white on dark ones, so every number stays readable
                r, g, b, _ = image.cmap(image.norm(shown[i, j])) if np.isfinite(shown[i, j]) else (0, 0, 0, 1)
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=ink)
    return ax


def heatmap_value_label(value_name: str, log_values: bool) -> str:
    """The colour bar label of a sensitivity heatmap."""
    return f"log10({value_name})" if log_values else value_name


def plot_sensitivity_curve(x_values: Sequence[float] | Mapping[str, Sequence[float]],
                           series: Mapping[str, Sequence[float]], *, x_name: str, value_name: str,
                           log_y: bool = False, ax=None, title: str | None = None):
    """A value against one hyperparameter (log x), one line per label; NaN/inf values not drawn.

    ``x_values``: the hyperparameter's values, shared by every series or per label (a mapping)."""
    ax = new_axes(ax)
    every_x = []
    for label, values in series.items():
        xs = x_values[label] if isinstance(x_values, Mapping) else x_values
        every_x.extend(xs)
        values = np.asarray(values, dtype=np.float64)
        if log_y:
            values = np.where(np.isfinite(values), np.clip(values, GAP_FLOOR, None), np.nan)
        ax.plot(xs, values, marker=marker_for(label), color=color_for(label), linestyle=linestyle_for(label),
                label=label)
    ax.set_xscale("log")
    if every_x:
        ax.set_xlim(min(every_x) / 1.3, max(every_x) * 1.3)
    if log_y:
        finite = [np.isfinite(np.asarray(v, dtype=np.float64)).any() for v in series.values()]
        # The values are medians: +∞ once half the runs diverged, not only when all did.
        _log_y(ax, any(finite), "median +∞ everywhere: at least half\nthe runs diverged at every value")
    ax.set_xlabel(x_name.replace("_", " "))
    ax.set_ylabel(value_name)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


# 5 ------------------------------------------------------------------------------------------------
def plot_runtime_ecdf(ecdfs: Mapping[str, aggregate.ECDF], *, ax=None, legend: bool = True):
    """COCO-style runtime ECDFs: fraction of (run, target) pairs solved against the budget (log x)."""
    ax = new_axes(ax)
    for label, ecdf in ecdfs.items():
        color = color_for(label)
        ax.step(ecdf.budgets, ecdf.fraction, where="post", color=color, linestyle=linestyle_for(label),
                label=label, linewidth=1.8)
        ax.fill_between(ecdf.budgets, ecdf.low, ecdf.high, step="post", color=color, alpha=0.2,
                        linewidth=0)
    mark_curves(ax)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    per_dimension = any(ecdf.per_dimension for ecdf in ecdfs.values())
    ax.set_xlabel(f"budget ({EVALUATIONS} / dimension)" if per_dimension else f"budget ({EVALUATIONS})")
    ax.set_ylabel("fraction of (run, target) pairs solved")
    pairs = next(iter(ecdfs.values())).pairs if ecdfs else 0
    ax.set_title(f"runtime ECDF over {pairs} (landscape, target) pairs", fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    if not ecdfs:
        _empty(ax, "no test-phase records")
    elif legend:
        legend_outside(ax)
    return ax


# 6 ------------------------------------------------------------------------------------------------
def plot_performance_profile(profile: aggregate.PerformanceProfile, *, ax=None, legend: bool = True,
                             title: str | None = None):
    """Dolan–Moré performance profiles: ρ(τ) against τ (log x)."""
    ax = new_axes(ax)
    for label, rho in profile.rho.items():
        ax.step(profile.taus, rho, where="post", color=color_for(label), linestyle=linestyle_for(label),
                label=label, linewidth=1.8)
    mark_curves(ax)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("performance ratio τ (ERT / best ERT on the landscape)")
    ax.set_ylabel("fraction of landscapes ρ(τ)")
    ax.set_title(title or f"performance profiles over {len(profile.problems)} landscapes", fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    if not profile.rho:
        _empty(ax, "no test-phase records")
    elif legend:
        legend_outside(ax)
    return ax


# 7 ------------------------------------------------------------------------------------------------
def plot_basin_map(x0: np.ndarray, basin: np.ndarray, minimizers: np.ndarray, *, box: np.ndarray | None = None,
                   ax=None, title: str | None = None, legend: bool = True):
    """Start points coloured by the minimum their run ends in (diverged runs grey crosses)."""
    ax = new_axes(ax)
    x0 = np.asarray(x0, dtype=np.float64)
    basin = np.asarray(basin, dtype=int)
    minimizers = np.asarray(minimizers, dtype=np.float64)
    cmap = ListedColormap(BASIN_COLORS)
    for k, point in enumerate(minimizers):
        color = cmap(k % len(BASIN_COLORS))
        chosen = basin == k
        ax.scatter(x0[chosen, 0], x0[chosen, 1], color=color, s=18, label=f"minimum {k}")
        ax.plot(point[0], point[1], "*", color=color, markersize=14, markeredgecolor="black")
    lost = basin < 0
    if lost.any():
        ax.scatter(x0[lost, 0], x0[lost, 1], color=DIVERGED_COLOR, marker="x", s=18, label="diverged")
    ax.plot([], [], "*", color="white", markeredgecolor="black", markersize=10, linestyle="none",
            label="certified minimum")
    if box is not None:
        margin = 0.04 * (box[:, 1] - box[:, 0])
        ax.set_xlim(box[0, 0] - margin[0], box[0, 1] + margin[0])
        ax.set_ylim(box[1, 0] - margin[1], box[1, 1] + margin[1])
    ax.set_xlabel("x₁ of the start"), ax.set_ylabel("x₂ of the start")
    if title:
        ax.set_title(title, fontsize="medium", color=color_for(title))
    if legend:
        legend_outside(ax)
    return ax


# tuning budget ---------------------------------------------------------------------------------------
def plot_tuning_budget(curves: Mapping[str, aggregate.TuningCurve], *, ax=None, title: str | None = None,
                       legend: bool = True):
    """Success rate of the config picked from b random configs of the grid, against b (quartile band)."""
    ax = new_axes(ax)
    for label, curve in curves.items():
        color = color_for(label)
        ax.plot(curve.budgets, curve.median, color=color,
                linestyle=linestyle_for(label), label=label)
        ax.fill_between(curve.budgets, curve.q25, curve.q75, color=color, alpha=0.2, linewidth=0)
    mark_curves(ax)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("tuning budget (configs tried)")
    ax.set_ylabel("success rate of the pick")
    if title:
        ax.set_title(title, fontsize="medium")
    if legend and curves:
        legend_outside(ax)
    return ax


# 9 ------------------------------------------------------------------------------------------------
def plot_mnist_history(histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str, *, ax=None,
                       legend: bool = True):
    """``metric`` ("loss", "accuracy" or "learning_rate") against the epoch; train solid, test dashed."""
    ax = new_axes(ax)
    for label, history in histories.items():
        epochs = np.asarray(history.get("epoch", []), dtype=np.float64)
        color = color_for(label)
        if metric == "learning_rate":
            values = aggregate.as_float(history.get("learning_rate", []))
            if values.size:
                ax.plot(epochs[:len(values)], values, color=color, marker="o", markersize=3, label=label)
            continue
        for split, style in (("train", "-"), ("test", "--")):
            values = aggregate.as_float(history.get(f"{split}_{metric}", []))
            if values.size:
                ax.plot(epochs[:len(values)], values, color=color, linestyle=style, marker="o",
                        markersize=3, label=f"{label} ({split})")
    ax.set_xlabel("epoch")
    ax.set_ylabel({"loss": "cross-entropy loss", "accuracy": "accuracy",
                   "learning_rate": "learning rate"}.get(metric, metric))
    if metric in ("loss", "learning_rate"):
        finite = [np.nanmax(np.where(np.isfinite(y := line.get_ydata().astype(float)), y, np.nan), initial=0.0) > 0
                  for line in ax.get_lines()]
        _log_y(ax, any(finite), "no history")
    if legend:
        legend_outside(ax)
    return ax


# 10 -----------------------------------------------------------------------------------------------
def plot_comparison(rows: Sequence[Mapping], value: str, *, ax=None, log: bool = True,
                    xlabel: str | None = None):
    """Horizontal bars of ``row[value]`` (a B/A ratio or a difference) per (landscape, label) row."""
    ax = new_axes(ax, height=max(2.5, 0.28 * len(rows) + 1.0))
    names = [f"{r['problem']} · {r['label']}" for r in rows]
    values = np.array([r.get(value, np.nan) for r in rows], dtype=np.float64)
    shown = np.where(np.isfinite(values), values, np.nan)
    base = 1.0 if log else 0.0
    positions = np.arange(len(rows))
    ax.barh(positions, np.nan_to_num(shown - base), left=base,
            color=[color_for(r["label"]) for r in rows])
    for y, v in zip(positions, values):
        if not np.isfinite(v):
            ax.text(base, y, "  n/a", va="center", fontsize="small", color="#555555")
    ax.axvline(base, color="black", linewidth=0.8)
    ax.set_yticks(positions, names, fontsize="small")
    if not ax.yaxis_inverted():  # a shared y axis is inverted once for all panels
        ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or value)
    return ax
