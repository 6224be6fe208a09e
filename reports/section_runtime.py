"""Report sections over all landscapes: runtime ECDFs, performance profiles and success against the
tuning budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bench.analysis import aggregate
from reports import figures
from reports.style import figure_legend, label_outer, subplots

if TYPE_CHECKING:
    from reports.report import Builder


def section_ecdf(report: Builder) -> None:
    doc = report.doc
    doc.heading("Runtime distributions (ECDF)")
    ecdfs = aggregate.runtime_ecdf(report.evaluation)
    fig, axes = subplots(1, 1, height_each=4.2)
    figures.plot_runtime_ecdf(ecdfs, ax=axes[0, 0])
    per_dimension = any(ecdf.per_dimension for ecdf in ecdfs.values())
    doc.text("Fraction of (run, target) pairs solved within a budget, over every (landscape, target)"
             " pair with targets 1e-1 … 1e-8 (COCO); 90% bootstrap bands over the runs. A label"
             " absent from a landscape counts as solving nothing there."
             + (" The landscapes have several dimensions, so the budget is gradient evaluations per"
                " coordinate (evaluations / dimension), as in COCO." if per_dimension else ""))
    report.save(fig, "runtime_ecdf", "Runtime ECDFs per label.")


def section_profiles(report: Builder) -> None:
    doc = report.doc
    doc.heading("Performance profiles")
    gradient = [r for r in report.evaluation if not r.get("reference")]
    with_references = len(gradient) < len(report.evaluation)
    profile = aggregate.performance_profile(report.evaluation)
    panels = [(aggregate.performance_profile(gradient) if with_references else profile,
               "gradient methods")]
    if with_references:
        panels.append((profile, "with the scipy references"))
    fig, axes = subplots(1, len(panels), width=6.0 * len(panels), height_each=4.2, sharey=True)
    for ax, (shown, name) in zip(axes.flat, panels):
        figures.plot_performance_profile(shown, ax=ax, legend=False,
                                         title=f"{name}, {len(shown.problems)} landscapes")
    label_outer(axes)
    figure_legend(fig, list(profile.rho))
    doc.text("Dolan–Moré profiles of ERT at the success target: ρ(1) is the fraction of landscapes"
             " where a label is the fastest; ρ(τ) the fraction it solves within τ times the best ERT."
             " Landscapes no label solves count against every label."
             + (" Left: the gradient methods alone (the best is the best gradient method); right: with"
                " the scipy references, whose quasi-Newton steps set the best ERT on smooth"
                " landscapes." if with_references else ""))
    unsolved = [p for p in profile.problems
                if not any(np.isfinite(profile.ratios[(p, label)]) for label in profile.rho)]
    if unsolved:
        report.missing.append(f"no label reached the success target on: {', '.join(unsolved)}.")
    report.save(fig, "performance_profile", "Performance profiles across landscapes"
              + (": gradient methods alone and with the scipy references." if with_references else "."))


def section_tuning_budget(report: Builder) -> None:
    curves = aggregate.tuning_budget_curves(report.tune)
    if not curves:
        return
    doc = report.doc
    doc.heading("Success against tuning budget")
    doc.text("For a budget of b configs drawn at random without replacement from the computed grid,"
             " the success rate (tuning seeds) of the one the selection rule would pick; median and"
             " quartiles over 200 draws. A flat curve means a small search finds as good a config.")
    problems = [p for p in report.problems if any(k[0] == p for k in curves)]
    cols = 2 if len(problems) > 1 else 1
    fig, axes = subplots(-(-len(problems) // cols), cols, height_each=2.8)
    for ax, problem in zip(axes.flat, problems):
        figures.plot_tuning_budget({label: c for (p, label), c in curves.items() if p == problem},
                                   ax=ax, title=problem, legend=False)
    for ax in axes.flat[len(problems):]:
        ax.set_visible(False)
    figure_legend(fig, [lab for lab in report.labels if any(k[1] == lab for k in curves)])
    report.save(fig, "tuning_budget", "Success rate of the selected config against the tuning budget.")
