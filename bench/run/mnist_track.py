"""The MNIST track of a suite run: its ``[mnist]`` sections, each one resumable record.

The training and search live in ``bench.mnist``; this module turns a suite's sections into specs
(with the data each trains on) and each finished section into one ``kind = "mnist"`` record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import environment
from bench.run.results import SCHEMA, ResultsDir, stable_hash
from bench.run.suites import Suite


def mnist_sections(suite: Suite, data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The suite's ``[mnist]`` table or ``[[mnist]]`` tables, as a list of section specs, each with
    the MNIST data it will train on in ``data_dir``: the ``data_dir`` given here (``landscape-bench
    run --mnist-dir``) for every section, else the section's own, else ``$LANDSCAPE_BENCH_MNIST_DIR``,
    else None (the embedded 5k subset).

    The spec is the record's identity, so the data decides whether a results directory already holds
    a section: the same suite on other data is run again, not resumed. Directories named here or in
    the environment are made absolute, so the same data is recognised from any working directory.
    """
    from bench.mnist.data import ENV_VAR

    if not suite.mnist:
        return []
    fallback = os.environ.get(ENV_VAR) or None
    specs = []
    for section in (suite.mnist if isinstance(suite.mnist, list) else [suite.mnist]):
        spec = dict(section)
        chosen = data_dir if data_dir is not None else None if spec.get("data_dir") else fallback
        if chosen is not None:
            spec["data_dir"] = str(Path(chosen).resolve())
        specs.append(spec)
    return specs


def run_mnist(suite: Suite, out: ResultsDir, *, progress: Callable[[str], None] | None = None,
              model_dir=None, data_dir: str | os.PathLike | None = None) -> int:
    """Run the suite's MNIST sections not yet in ``out``; one ``kind = "mnist"`` record each.

    The record holds the search in scikit-learn's ``cv_results_`` shape, the best config, the refit's
    per-epoch history and its test accuracy (see ``bench.mnist.section``). ``data_dir``: the MNIST
    data of every section (see :func:`mnist_sections`).
    """
    from bench.mnist.section import run_mnist_section

    done = out.record_ids()
    written = 0
    for spec in mnist_sections(suite, data_dir):
        identity = dict(kind="mnist", spec=spec)
        record_id = stable_hash(identity)
        label = f"{spec.get('family', 'nesterov')}/{spec.get('schedule', 'time_based')}"
        if progress:
            progress(f"MNIST MLP x {label}")
        if record_id in done:
            continue
        rows = run_mnist_section(spec, model_dir)
        cv_rows = [r for r in rows if r["kind"] == "mnist_cv"]
        (best,) = [r for r in rows if r["kind"] == "mnist_best"]
        cv_keys = [k for k in cv_rows[0] if k == "params" or k.startswith(("split", "mean_", "std_",
                                                                          "rank_"))]
        cv_results = {k: [r[k] for r in cv_rows] for k in cv_keys}
        record = {k: v for k, v in best.items() if k not in ("kind", "date")}
        record.update(schema=SCHEMA, record_id=record_id, kind="mnist", suite=suite.name,
                      identity=identity, label=f"{best['family']}/{best['schedule']}",
                      config=best["best_params"], cv_results=cv_results,
                      optimizer_configs=[r["optimizer_config"] for r in cv_rows],
                      run_status=[r["run_status"] for r in cv_rows], **environment.stamp("float32"))
        out.append([record])
        written += 1
    return written
