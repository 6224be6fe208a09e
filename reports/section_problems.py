"""Report sections drawn on the landscapes: contours with trajectories, gap against step, the
learning-rate schedules and the basins of attraction. Their data from problem code (contour grids,
gaps at the iterates, schedule curves, boxes, minimizers) is read from the run's views
(:mod:`bench.run.views`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis import aggregate
from bench.analysis.trajectories import median_gap_curve
from bench.run.views import schedule_config_key
from reports import figures
from reports.style import figure_legend, label_outer, legend_outside, slug, subplots

if TYPE_CHECKING:
    from reports.report import Builder


Record = Mapping[str, Any]
TRAJECTORIES_SHOWN = figures.MAX_PATHS_PER_LABEL  # starts per label drawn on a contour


def section_contours(report: Builder) -> None:
    doc = report.doc
    doc.heading("Landscapes and trajectories")
    two_d = [p for p in report.problems if report.records_of(p)[0]["dim"] == 2]
    if not two_d:
        doc.text("No 2-D landscape in these results: contours are drawn for 2-D landscapes only.")
        return
    if report.without_views("Contours"):
        return
    doc.text(f"Grey contours of log10(f − f* + 1e-12) of each landscape's first instance; the"
             f" first {TRAJECTORIES_SHOWN} starts of each label's selected config (test runs) on it in"
             " the label's colour, a dot at the start and a cross at the last iterate, or a thin cross"
             " where a run that diverged was last finite; white stars are the certified global minima.")
    for problem in two_d:
        records = report.records_of(problem)
        instance = min(r["instance"] for r in records)
        landscape = records[0]["landscape"]
        grid = report.views.contour(landscape, instance)
        if grid is None:
            report.missing.append(f"{problem}: no contour grid in the run's views (the run could not"
                                  " evaluate this landscape), so no contour.")
            continue
        trajectories = {}
        for label in report.labels:
            group = [r for r in report.by_problem_label.get((problem, label), [])
                     if r["instance"] == instance and r.get("trajectory") is not None]
            if group:
                trajectories[label] = aggregate.as_float(group[0]["trajectory"])[:TRAJECTORIES_SHOWN]
        if not trajectories:
            report.missing.append(f"{problem}: no trajectories recorded, the contour shows no paths"
                                  " (set `trajectory_every` in the suite).")
        fig, axes = subplots(1, 1, height_each=5.0)
        figures.plot_contour(*grid, trajectories, ax=axes[0, 0],
                             minimizers=report.views.problem(landscape, instance, 2)["minimizers"],
                             title=landscape if instance == 0 else f"{landscape}, instance {instance}")
        # the fill is rasterized inside the SVG (plot_contour): a vector fill was 0.4-1.2 MB
        report.save(fig, f"contour_{slug(problem)}", f"{problem}: contours and trajectories.")


def section_gaps(report: Builder) -> None:
    doc = report.doc
    doc.heading("Gap against step")
    if report.without_views("Gap-against-step curves"):
        return
    curves = {p: {label: median_gap_curve(report.by_problem_label.get((p, label), []), report.views)
                  for label in report.labels} for p in report.problems}
    unseen = [r for r in report.evaluation
              if r.get("trajectory") is not None and report.views.gap(r["record_id"]) is None]
    if unseen:  # records newer than the views: their runs are left out of the curves
        report.missing.append(f"gap against step: {len(unseen)} records with trajectories are not in the"
                              f" run's views, so their runs are left out; {report.views_note_text()}.")
    if not any(c is not None for per in curves.values() for c in per.values()):
        doc.text("No trajectories were recorded, so there is no gap-against-step curve; set"
                 " `trajectory_every` in the suite to record them.")
        report.missing.append("no trajectories recorded: gap-against-step curves are missing.")
        return
    cols = 2 if len(report.problems) > 1 else 1
    rows = -(-len(report.problems) // cols)
    fig, axes = subplots(rows, cols, height_each=3.0)
    for ax, problem in zip(axes.flat, report.problems):
        figures.plot_gap_vs_step(curves[problem], ax=ax, title=problem, legend=False)
    for ax in axes.flat[len(report.problems):]:
        ax.set_visible(False)
    drawn = [label for label in report.labels
             if any(per.get(label) is not None for per in curves.values())]
    figure_legend(fig, drawn)  # the reference rows record no iterates: no line, no entry
    undrawn = [label for label in report.labels if label not in drawn]
    if undrawn:
        doc.text(f"No curve for {', '.join(undrawn)}: no iterates were recorded for"
                 f" {'them' if len(undrawn) > 1 else 'it'} (scipy's reference rows never record"
                 " trajectories).")
    doc.text("Median f − f* over the test runs (all instances, seeds and starts) at the recorded"
             " steps, quartiles shaded; f is recomputed in float64 at the stored iterates."
             f" A gap of 0 is drawn at {figures.GAP_FLOOR:g}; diverged runs count as +∞, and a triangle at"
             " the top marks the step from which at least half of a label's runs had diverged (median"
             " +∞).")
    report.save(fig, "gap_vs_step", "Gap f − f* against the step, median and quartiles over runs.")


def section_schedules(report: Builder) -> None:
    doc = report.doc
    doc.heading("Learning-rate schedules")
    if report.without_views("Learning-rate schedules"):
        return
    panels = []
    for label in report.labels:
        chosen = [r for r in report.evaluation if r["label"] == label]
        tuned = [r for r in report.tune if r["label"] == label]
        first = (chosen or tuned)[0]
        if first.get("reference"):
            continue  # scipy's methods have no learning rate
        found = report.views.schedule(label)
        if found is None:
            report.missing.append(f"{label}: no schedule curve in the run's views, so none is drawn.")
            continue
        keys, rates = found["keys"], found["curves"]
        unique = list(dict.fromkeys(schedule_config_key(r["config"], keys) for r in tuned))
        # The selection is per landscape: one bold line per distinct selected config.
        selected: dict[str, list[str]] = {}
        for record in chosen:
            where = selected.setdefault(schedule_config_key(record["config"], keys), [])
            if aggregate.problem_name(record) not in where:
                where.append(aggregate.problem_name(record))
        if not set(unique) | set(selected) <= set(rates):
            report.missing.append(f"{label}: the run's views lack some of its schedule curves.")
            continue
        best = [(rates[key], ", ".join(where)) for key, where in selected.items()] or None
        panels.append((label, [rates[key] for key in unique], best))
    if not panels:
        doc.text("No schedule could be drawn.")
        return
    # one column, each panel's legend to its right: a legend inside covered the curves
    fig, axes = subplots(len(panels), 1, width=5.2, height_each=2.4, margins={"hspace": 0.75})
    for ax, (label, curves, best) in zip(axes.flat, panels):
        figures.plot_learning_rates(label, curves, best, ax=ax)
        legend_outside(ax)
    report.save(fig, "learning_rates", "Learning rate against the update step: every searched config"
              " (faint, distinct schedule parameters only) and the configs selected (bold), one line"
              " per distinct selection with the landscapes it was selected on.")


def section_basins(report: Builder) -> None:
    doc = report.doc
    land = aggregate.group_by(report.land, "problem", "label")
    first: dict[str, Record] = {}  # each landscape's first record
    for (problem, _), group in land.items():
        first.setdefault(problem, group[0])
    several = [p for p in report.problems if len(first[p]["minimizers"]) > 1 and first[p]["dim"] == 2]
    if not several:
        return
    doc.heading("Basins of attraction")
    doc.text("Each start point of the selected config (tuning and test seeds, first instance),"
             " coloured by the global minimum its run ends nearest to; grey crosses diverged.")
    from matplotlib.ticker import MaxNLocator

    for problem in several:
        labels = [lab for lab in report.labels if (problem, lab) in report.by_problem_label]
        if not labels:
            continue
        cols = min(3, len(labels))
        rows = -(-len(labels) // cols)
        # one start box for every panel: shared axes, tick labels on the outer panels only (they
        # were most of the draw time), so the panels can sit closer
        fig, axes = subplots(rows, cols, width=2.95 * cols + 0.95, height_each=3.0,
                             sharex=True, sharey=True, margins={"wspace": 0.2, "hspace": 0.62})
        for ax, label in zip(axes.flat, labels):
            chosen = report.by_problem_label[(problem, label)]
            instance = min(r["instance"] for r in chosen)
            config = chosen[0]["config"]
            group = [r for r in land.get((problem, label), ())
                     if r["instance"] == instance and r["config"] == config]
            x0 = np.concatenate([aggregate.as_float(r["x0"]) for r in group])
            basin = np.concatenate([np.asarray(r["runs"]["basin"], int) for r in group])
            # the start box from the run's views; without them the axes fit the starts
            entry = report.views.problem(group[0]["landscape"], instance, 2)
            box = None if entry is None else entry["start_box"]
            figures.plot_basin_map(x0, basin, aggregate.as_float(group[0]["minimizers"]), box=box,
                                   ax=ax, title=label, legend=ax is axes.flat[len(labels) - 1])
        for ax in axes.flat[len(labels):]:
            ax.set_visible(False)
        label_outer(axes)
        for axis in (axes[0, 0].xaxis, axes[0, 0].yaxis):  # shared by every panel: set once
            # a few ticks are plenty to place a start in its box (tick objects were created
            # per panel and tick: the bulk of the draw time)
            axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        fig.suptitle(problem)
        report.save(fig, f"basins_{slug(problem)}", f"{problem}: which minimum each start reaches.")


