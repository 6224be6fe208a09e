"""The MNIST section of the report: the refit's history and the cross-validation table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reports import figures
from reports.style import legend_outside, subplots

if TYPE_CHECKING:
    from reports.report import Builder

Record = Mapping[str, Any]


def section_mnist(report: Builder) -> None:
    mnist = report.mnist
    if not mnist:
        report.missing.append("no MNIST track in these results (the suite has no [mnist] section or it"
                            " was skipped).")
        return
    doc = report.doc
    doc.heading("MNIST track")
    histories = {_mnist_label(r): r["history"] for r in mnist if isinstance(r.get("history"), Mapping)}
    summary = [[_mnist_label(r), r.get("test_accuracy"), r.get("test_loss"),
                r.get("best_cv_score", r.get("mean_test_score")),
                ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                          for k, v in (r.get("best_params") or r.get("config") or {}).items())]
               for r in mnist if r.get("test_accuracy") is not None]
    if summary:
        doc.table(["label", "test accuracy", "test loss", "best CV score", "selected config"], summary)
    if histories:
        fig, axes = subplots(1, 3, width=11.0, height_each=3.4)
        figures.plot_mnist_history(histories, "loss", ax=axes[0, 0], legend=False)
        figures.plot_mnist_history(histories, "accuracy", ax=axes[0, 1], legend=False)
        figures.plot_mnist_history(histories, "learning_rate", ax=axes[0, 2], legend=False)
        handles, labels = axes[0, 1].get_legend_handles_labels()
        legend_outside(fig, handles, labels)
        report.save(fig, "mnist_history", "MNIST refit of the selected config: loss and accuracy (train"
                  " solid, test dashed) and learning rate against the epoch.")
    else:
        report.missing.append("MNIST: no per-epoch history in the records.")
    header, rows = _cv_table(mnist)
    if rows:
        doc.heading("Cross-validation (cv_results_)", 3)
        doc.table(header, rows)
    else:
        report.missing.append("MNIST: no cross-validation rows in the records.")


def _mnist_label(record: Record) -> str:
    if record.get("label"):
        return str(record["label"])
    return f"{record.get('family', 'mnist')}/{record.get('schedule', '?')}"


def _cv_table(mnist: Sequence[Record]) -> tuple[list[str], list[list[Any]]]:
    """cv_results_ rows: from records holding a ``cv_results`` dict, or one ``mnist_cv`` record per row."""
    rows: list[dict[str, Any]] = []
    for record in mnist:
        cv = record.get("cv_results")
        if isinstance(cv, Mapping) and cv.get("params") is not None:
            for i, params in enumerate(cv["params"]):
                rows.append({"label": _mnist_label(record), "params": params,
                             **{k: v[i] for k, v in cv.items() if k != "params" and not k.startswith("param_")
                                and isinstance(v, (list, tuple)) and i < len(v)}})
        elif str(record.get("kind")) == "mnist_cv":
            rows.append({"label": _mnist_label(record), **record})
    if not rows:
        return [], []
    splits = sorted({k for r in rows for k in r if k.startswith("split") and k.endswith("_test_score")},
                    key=lambda k: int("".join(c for c in k if c.isdigit()) or 0))
    header = ["label", "params", *splits, "mean_test_score", "std_test_score", "rank_test_score"]
    table = []
    for r in rows:
        params = r.get("params") or {}
        text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        table.append([r["label"], text, *[r.get(k) for k in splits], r.get("mean_test_score"),
                      r.get("std_test_score"), r.get("rank_test_score")])
    return header, table
