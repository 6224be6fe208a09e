"""Figures, the report page, comparisons and the benchmark table on small synthetic results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_reports_data import STEPS, make_record, mnist_records, synthetic_records, write_results

import reports
from bench.analysis import aggregate
from landscapes.errors import InputError
from reports import figures
from reports.style import color_for

pytestmark = pytest.mark.slow  # whole reports / scipy solvers / benchmark workloads: the full run only

LABELS = ["sgd/constant", "momentum/constant"]


def _saved(ax, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 1000
    return path


def _legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_color_for_is_one_colour_per_family_and_the_schedule_is_the_line_style():
    from reports.style import FAMILY_COLORS, linestyle_for, marker_for

    import optimizers

    assert color_for("nesterov/time_based") == color_for("nesterov/sgdr") == FAMILY_COLORS["nesterov"]
    assert linestyle_for("nesterov/constant") != linestyle_for("nesterov/time_based")
    assert marker_for("nesterov/constant") != marker_for("nesterov/time_based")
    families = sorted(optimizers.FAMILIES)
    assert len({color_for(f"{f}/constant") for f in families}) == len(families)
    # Okabe-Ito's colour-blind safe set first (the default suite's families)
    okabe_ito = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"}
    assert {color_for(f"{f}/constant") for f in ("sgd", "momentum", "nesterov", "adam")} <= okabe_ito
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", color_for("my-own-optimizer"))


def _himmelblau_contour(trajectories, resolution):
    """plot_contour on Himmelblau's grid as the run's views hold it."""
    import landscapes
    from bench.run.figure_data import contour_grid

    box, gap = contour_grid("himmelblau", 0, resolution)
    return figures.plot_contour(box, gap, trajectories, title="himmelblau",
                                minimizers=landscapes.get_landscape("himmelblau").minimizer_array())


def test_contour_draws_trajectories_and_minima(tmp_path):
    record = synthetic_records()[0]
    ax = _himmelblau_contour({"sgd/constant": aggregate.as_float(record["trajectory"])}, 40)
    assert ax.get_xlabel() == "x₁" and ax.get_title() == "himmelblau"
    assert {"sgd/constant", "certified minimum", "start"} <= set(_legend_texts(ax))
    assert "diverged (last finite point)" not in _legend_texts(ax)
    _saved(ax, tmp_path, "contour")
    # A run that diverged is not drawn as if it had ended where its path stops (the report audit
    # found its "last iterate" cross sitting on its start point).
    paths = np.array([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], [[-1.0, 0.5], [np.nan, np.nan], [np.nan, np.nan]]])
    ax = _himmelblau_contour({"sgd/constant": paths}, 20)
    assert "diverged (last finite point)" in _legend_texts(ax)
    crosses = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert [tuple(line.get_xydata()[0]) for line in crosses] == [(3.0, 3.0)]
    lost = [line for line in ax.get_lines() if line.get_marker() == figures.DIVERGED_MARKER]
    assert [tuple(line.get_xydata()[0]) for line in lost] == [(-1.0, 0.5)]
    assert lost[0].get_color() == crosses[0].get_color() == color_for("sgd/constant")  # the label's colour
    # contours are grey (no colour of their own), at most MAX_PATHS_PER_LABEL paths per label
    many = np.repeat(paths[:1], 10, axis=0)
    ax = _himmelblau_contour({"sgd/constant": many}, 20)
    drawn = [line for line in ax.get_lines() if line.get_color() == color_for("sgd/constant")
             and line.get_linestyle() != "None"]
    assert len(drawn) == figures.MAX_PATHS_PER_LABEL
    fill = ax.collections[0]
    assert fill.get_rasterized()  # the SVG holds the fill as one image
    from matplotlib.colors import rgb_to_hsv, to_rgb

    assert all(rgb_to_hsv(to_rgb(c[:3]))[1] < 0.05 for c in fill.get_facecolor())


def test_gap_vs_step_lines_and_missing_trajectories(tmp_path):
    from bench.analysis.trajectories import median_gap_curve
    from bench.run.views import load_views

    records = synthetic_records()
    views = load_views(write_results(tmp_path / "results", records))
    curves = {label: median_gap_curve([r for r in records if r["label"] == label
                                       and r["phase"] == "test" and r["landscape"] == "beale"], views)
              for label in LABELS}
    ax = figures.plot_gap_vs_step(curves)
    assert ax.get_ylabel() == "f(x) − f*" and "gradient evaluations" in ax.get_xlabel()
    assert ax.get_yscale() == "log" and _legend_texts(ax) == LABELS
    assert len([line for line in ax.get_lines() if line.get_label() in LABELS]) == 2
    _saved(ax, tmp_path, "gap")
    empty = figures.plot_gap_vs_step({"sgd/constant": None})
    assert "no trajectories recorded" in " ".join(t.get_text() for t in empty.texts)
    _saved(empty, tmp_path, "gap_empty")


def test_learning_rate_curves(tmp_path):
    from bench.run.figure_data import learning_rate_curves

    curve = learning_rate_curves("nesterov", "time_based", [{"learning_rate": 0.1, "decay": 0.01}], 50)[0]
    np.testing.assert_allclose(curve, 0.1 / (1 + 0.01 * np.arange(50)), rtol=1e-6)
    ax = figures.plot_learning_rates("nesterov/time_based", [curve, curve / 2], curve)
    assert ax.get_ylabel() == "learning rate" and len(ax.get_lines()) == 3
    _saved(ax, tmp_path, "lr")
    # The selection is per landscape: each distinct selected config is drawn and says where.
    ax = figures.plot_learning_rates("nesterov/time_based", [curve], [(curve, "beale, branin"),
                                                                      (curve / 3, "himmelblau")])
    ax.legend()
    assert _legend_texts(ax) == ["searched configs", "selected on beale, branin", "selected on himmelblau"]


def test_the_schedule_figure_draws_each_landscapes_selection(tmp_path):
    records = synthetic_records()
    for record in records:  # beale and himmelblau select other learning rates
        if record["phase"] == "test" and record["landscape"] == "himmelblau":
            record["config"] = dict(record["config"], learning_rate=0.5)
    page = reports.build_report(write_results(tmp_path / "results", records), tmp_path / "out",
                                formats=("png",))
    assert page.is_file()
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "one line per distinct selection with the landscapes it was selected on" in markdown


def test_sensitivity_heatmap_and_curve(tmp_path):
    grid = np.array([[0.0, 0.5], [1.0, np.nan]])
    ax = figures.plot_sensitivity_heatmap([1e-3, 1e-2], [0.5, 0.9], grid, x_name="learning_rate",
                                          y_name="momentum", value_name="success rate")
    assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "momentum"
    assert "∞" in [t.get_text() for t in ax.texts]
    _saved(ax, tmp_path, "heat")
    ax = figures.plot_sensitivity_curve([1e-3, 1e-2], {"sgd/constant": [np.inf, np.inf]},
                                        x_name="learning_rate", value_name="median final f − f*", log_y=True)
    assert len(ax.get_lines()) == 1
    _saved(ax, tmp_path, "curve_all_diverged")


def test_ecdf_and_profile_figures(tmp_path):
    records = synthetic_records()
    ax = figures.plot_runtime_ecdf(aggregate.runtime_ecdf(records, bootstrap=20))
    assert ax.get_xlabel() == "budget (gradient evaluations)" and _legend_texts(ax) == LABELS
    _saved(ax, tmp_path, "ecdf")
    mixed = [{**r, "dim": 10} if r["landscape"] == "himmelblau" else r for r in records]
    ax = figures.plot_runtime_ecdf(aggregate.runtime_ecdf(mixed, bootstrap=20))
    assert ax.get_xlabel() == "budget (gradient evaluations / dimension)"
    _saved(ax, tmp_path, "ecdf_per_dimension")
    ax = figures.plot_performance_profile(aggregate.performance_profile(records))
    assert ax.get_ylabel() == "fraction of landscapes ρ(τ)" and _legend_texts(ax) == LABELS
    assert len(ax.get_lines()) == 2
    _saved(ax, tmp_path, "profile")


def test_basin_map_and_tuning_budget(tmp_path):
    record = synthetic_records()[0]
    ax = figures.plot_basin_map(aggregate.as_float(record["x0"]), np.asarray(record["runs"]["basin"]),
                                aggregate.as_float(record["minimizers"]), title="sgd/constant")
    assert "diverged" in _legend_texts(ax) and "x₁" in ax.get_xlabel()
    _saved(ax, tmp_path, "basins")
    curves = aggregate.tuning_budget_curves(synthetic_records(), resamples=20)
    ax = figures.plot_tuning_budget({label: c for (p, label), c in curves.items() if p == "beale"})
    assert ax.get_xlabel() == "tuning budget (configs tried)" and _legend_texts(ax) == LABELS
    _saved(ax, tmp_path, "budget")


def test_mnist_and_comparison_figures(tmp_path):
    history = mnist_records()[0]["history"]
    ax = figures.plot_mnist_history({"nesterov/time_based": history}, "accuracy")
    assert ax.get_xlabel() == "epoch" and len(ax.get_lines()) == 2
    _saved(ax, tmp_path, "mnist")
    rows = [dict(problem="beale", label="sgd/constant", ert_ratio=0.5),
            dict(problem="beale", label="momentum/constant", ert_ratio=float("nan"))]
    ax = figures.plot_comparison(rows, "ert_ratio", xlabel="ERT ratio B / A")
    assert ax.get_xlabel() == "ERT ratio B / A" and len(ax.patches) == 2
    _saved(ax, tmp_path, "comparison")


def _links_resolve(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"#]+)"', text)
    for link in links:
        assert (page.parent / link).is_file(), link
    return links


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    records = synthetic_records(drop=(("beale", "momentum/constant"),),
                                all_diverged=(("himmelblau", "momentum/constant"),)) + mnist_records()
    # PNG only to keep the suite fast; the SVG links are checked on the comparison page
    return reports.build_report(write_results(root / "results", records), root / "out", formats=("png",))


def test_report_page_links_resolve_and_sections_present(full_report):
    links = _links_resolve(full_report)
    images = [link for link in links if link.endswith(".png")]
    assert len(images) >= 8
    markdown = (full_report.parent / "report.md").read_text(encoding="utf-8")
    for heading in ("Results per landscape", "Landscapes and trajectories", "Gap against step",
                    "Learning-rate schedules", "Hyperparameter sensitivity", "Runtime distributions",
                    "Performance profiles", "Basins of attraction", "Cost", "MNIST track",
                    "Cross-validation", "What is missing"):
        assert f"# {heading}" in markdown or f"## {heading}" in markdown, heading
    for image in re.findall(r"\]\(([^)]+\.png)\)", markdown):
        assert (full_report.parent / image).is_file()


def test_report_states_what_is_missing(full_report):
    markdown = (full_report.parent / "report.md").read_text(encoding="utf-8")
    missing = markdown.split("What is missing")[1]
    assert "beale: no records for momentum/constant" in missing
    assert "himmelblau × momentum/constant: every run diverged" in missing
    assert "| momentum/constant | absent |" in markdown


def test_report_without_trajectories_or_test_phase(tmp_path):
    records = [r for r in synthetic_records(trajectory=False) if r["phase"] == "tune"]
    page = reports.build_report(write_results(tmp_path / "results", records), tmp_path / "out",
                                formats=("png",))
    _links_resolve(page)
    text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "no trajectories recorded" in text
    assert "no test-phase records" in text
    assert "no MNIST track" in text


def test_empty_results_say_nothing_is_there(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.jsonl").write_text("")
    page = reports.build_report(tmp_path / "results", tmp_path / "out")
    assert "Nothing is there" in page.read_text(encoding="utf-8")
    assert (tmp_path / "out" / "report.md").is_file()


def test_unknown_schema_and_missing_dir_raise_input_error(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.jsonl").write_text(json.dumps({"schema": "other/9"}) + "\n")
    with pytest.raises(InputError):
        reports.build_report(tmp_path / "results", tmp_path / "out")
    with pytest.raises(InputError):
        reports.build_report(tmp_path / "nothing", tmp_path / "out")


def test_compare_runs(tmp_path):
    a = write_results(tmp_path / "a", synthetic_records())
    slower = synthetic_records(drop=(("beale", "sgd/constant"),))
    for record in slower:
        record["cost"] = dict(record["cost"], steps_per_second=5e5)
    b = write_results(tmp_path / "b", slower)
    page = reports.compare_runs(a, b, tmp_path / "cmp")
    assert {Path(link).suffix for link in _links_resolve(page)} == {".png", ".svg"}
    markdown = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    quality, speed = markdown.split("## Speed")
    assert "## Quality per landscape × label" in quality and "steps/s" not in quality
    assert "| himmelblau | sgd/constant |" in quality
    assert "learning_rate = 0.01: top of the searched range" in quality  # B's edge flags
    # timed once per job: half the speed is shown, but no verdict is given
    assert "not measured repeatedly: no speed verdict" in speed
    assert "faster" not in speed and "slower" not in speed
    assert "compile s" in speed  # the synthetic records have compile times
    assert "beale × sgd/constant: only in A" in markdown
    assert "other settings" not in markdown
    longer = synthetic_records()
    for record in longer:
        record["steps"] = record["steps"] * 2
    c = write_results(tmp_path / "c", longer)
    reports.compare_runs(a, c, tmp_path / "cmp2")
    markdown = (tmp_path / "cmp2" / "compare.md").read_text(encoding="utf-8")
    assert "**The two runs were made with other settings** (steps" in markdown


def test_compare_gives_a_speed_verdict_only_outside_the_noise_band(tmp_path):
    from reports.compare import REPEATED_TIMINGS, speed_verdict
    from reports.timings import REPEATED_RUNS

    assert speed_verdict(1.02, 0.01).startswith("no change beyond the noise band ÷1.05 to ×1.05")
    assert speed_verdict(1.5, 0.1).startswith("B faster (×1.50")
    assert speed_verdict(2.0, 0.1, higher_is_faster=False).startswith("B slower (×0.50")
    assert speed_verdict(1.5, 0.6).startswith("no change")  # inside a wide band
    assert speed_verdict(0.5, 0.6).startswith("B slower (×0.50")  # the band is symmetric in ratio
    records_a, records_b = synthetic_records(), synthetic_records()
    for records, seconds in ((records_a, 0.02), (records_b, 0.01)):
        for record in records:
            record["cost"] = dict(record["cost"], compile_seconds=None, **{
                REPEATED_RUNS: record["cost"]["runs"],
                REPEATED_TIMINGS: [seconds * 1.02, seconds, seconds * 1.04, seconds * 1.3]})
    for record in records_b:  # one job of B timed once: listed apart, without a verdict
        if (record["landscape"], record["label"], record["phase"]) == ("beale", "sgd/constant", "test"):
            record["cost"].pop(REPEATED_TIMINGS)
    reports.compare_runs(write_results(tmp_path / "a", records_a), write_results(tmp_path / "b", records_b),
                         tmp_path / "cmp")
    speed = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8").split("## Speed")[1]
    repeated, once = speed.split("Timed once per job")
    # one verdict, on the suite: 2 landscapes x 2 labels x 2 phases, less one, each exactly twice as fast
    assert repeated.count("B faster") == 1 and "**Suite: B faster (suite speed ×2.00" in repeated
    assert "over 7 jobs" in repeated and repeated.count("| ÷1.03 to ×1.03 |") == 7  # the repeats' spreads, A + B
    assert "| beale | sgd/constant | tuned config" not in repeated
    assert "no speed verdict" in once and "| beale | sgd/constant |" in once
    assert "compile s" not in speed  # never filled: no column


def test_comparison_figure_names_landscapes_and_keeps_its_labels_on_the_canvas(tmp_path):
    from reports.compare import _quality_figure
    from reports.style import lighten_ticks

    rows = [dict(problem=p, label=lab, success_change=0.1 * i, ert_ratio=0.5 + 0.3 * i)
            for i, (p, lab) in enumerate([("six_hump_camel", "nesterov/time_based"),
                                          ("rosenbrock 10-D", "scipy/Nelder-Mead (reference)")])]
    fig = _quality_figure(rows)
    lighten_ticks(fig)
    path = tmp_path / "c.png"
    fig.savefig(path, bbox_inches="tight")  # as style.save does for tight figures
    left = fig.axes[0]
    names = [t.get_text() for t in left.get_yticklabels()]
    assert names == ["six_hump_camel · nesterov/time_based", "rosenbrock 10-D · scipy/Nelder-Mead (reference)"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:  # no two x tick labels overlap
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        assert all(a.x1 <= b.x0 + 1 for a, b in zip(boxes, boxes[1:])), ax.get_xlabel()


def test_benchmark_report(tmp_path):
    def bench_file(name, median, steps, iqr=0.1e-3, rounds=5):
        info = {"compile_seconds": 1.2, "median_steps_to_target": steps, "success_rate": 0.75,
                "median_final_gap": 1e-7, "diverged_fraction": 0.0, "landscape": "beale",
                "label": "sgd/constant", "runs": 320, "steps": 2000, "peak_flops": 1e11, "unroll": 2}
        data = {"benchmarks": [{"name": "test_beale_sgd", "group": "engine",
                                "stats": {"median": median, "iqr": iqr, "rounds": rounds},
                                "extra_info": info}]}
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    page = reports.benchmark_report([bench_file("a.json", 2e-3, 40), bench_file("b.json", 1e-3, 38)],
                                    tmp_path / "bench")
    markdown = (tmp_path / "bench" / "benchmarks.md").read_text(encoding="utf-8")
    quality, speed = markdown.split("## Speed")
    assert "| test_beale_sgd | beale × sgd/constant, 320 runs × 2,000 steps | 0.75 | 38 | 1.00e-07 | 0 |" in quality
    assert "| test_beale_sgd | engine | 2 ms | 1 ms | 0.5 | ÷1.10 to ×1.10 | B faster (×2.00" in speed
    widths = [line.count("|") - 1 for line in markdown.splitlines() if line.startswith("|")]
    assert max(widths) <= 8  # a page wide, not a column per extra_info key
    assert "peak_flops" not in markdown
    same = reports.benchmark_report([bench_file("c.json", 2e-3, 40, iqr=1e-3),
                                     bench_file("d.json", 2.2e-3, 40, iqr=1e-3)], tmp_path / "same")
    assert "no change beyond the noise band ÷1.50 to ×1.50" in same.with_suffix(".md").read_text(encoding="utf-8")
    once = reports.benchmark_report([bench_file("e.json", 2e-3, 40, rounds=1),
                                     bench_file("f.json", 1e-3, 40, rounds=1)], tmp_path / "once")
    assert "not measured repeatedly: no speed verdict" in once.with_suffix(".md").read_text(encoding="utf-8")
    assert page.is_file()
    # compare_runs of two pytest-benchmark files is this table
    assert reports.compare_runs(tmp_path / "a.json", tmp_path / "b.json", tmp_path / "cmp").name == "benchmarks.html"
    with pytest.raises(InputError):
        reports.benchmark_report([tmp_path / "missing.json"], tmp_path / "bench")


def test_reference_rows_never_share_a_colour_with_an_optimizer():
    from reports.style import color_for, linestyle_for
    from bench.run.reference import METHODS, reference_label
    import optimizers

    optimizer_colours = {color_for(f"{family}/{schedule}") for family in optimizers.FAMILIES
                         for schedule in optimizers.SCHEDULES}
    reference_colours = [color_for(reference_label(m)) for m in METHODS]
    assert len(set(reference_colours)) == len(METHODS)
    assert not optimizer_colours & set(reference_colours)
    assert all(linestyle_for(reference_label(m)) == ":" for m in METHODS)


def test_learning_rate_curves_match_one_curve_per_config():
    from bench.run.figure_data import learning_rate_curves

    configs = [{"learning_rate": 0.1, "period": 50.0, "warmup_steps": 5.0}, {"learning_rate": 0.05}]
    batch = learning_rate_curves("nesterov", "sgdr", configs, 300)
    assert batch.shape == (2, 300)
    for row, config in zip(batch, configs):
        np.testing.assert_allclose(row, learning_rate_curves("nesterov", "sgdr", [config], 300)[0],
                                   rtol=1e-6)
    assert learning_rate_curves("sgd", "constant", [], 10).shape == (0, 10)


def test_log_tick_labels_are_plain_text():
    from matplotlib.figure import Figure

    from reports.style import lighten_ticks

    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([1, 2], [1e-6, 1e2])
    ax.set_yscale("log")
    lighten_ticks(fig)
    formatter = ax.yaxis.get_major_formatter()
    assert formatter(1e-4) == "10⁻⁴" and formatter(1e2) == "10²"
    assert len(ax.yaxis.get_minor_locator()()) == 0  # 8 decades: decades labelled, no minor ticks


def _drawn_outside_canvas(fig) -> list[str]:
    """Texts and legends (with the Axes' tick labels) that the fixed layout put off the canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = canvas.get_width_height()
    out = []
    for artist in [*fig.legends, *fig.texts, *fig.axes]:
        if not artist.get_visible():
            continue
        # an Axes' tight box holds its drawn tick labels, axis labels, title and legend
        box = artist.get_tightbbox(renderer) if hasattr(artist, "get_subplotspec") else \
            artist.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            name = artist.get_title() if hasattr(artist, "get_title") else type(artist).__name__
            out.append(f"{name}: {box.bounds} outside {width}x{height}")
    return out


def test_every_report_figure_fits_its_canvas(tmp_path, monkeypatch):
    """The layout is fixed (no layout engine, no tight crop): every label, tick label and legend of
    every figure the report saves must still be inside the image."""
    from reports import report, style

    problems = {}
    real_save = style.save

    def checking_save(fig, directory, stem, formats=("png", "svg")):
        style.lighten_ticks(fig)
        style.fit(fig)
        problems[stem] = _drawn_outside_canvas(fig)
        return real_save(fig, directory, stem, formats)

    monkeypatch.setattr(report, "save", checking_save)
    records = synthetic_records() + mnist_records()
    reports.build_report(write_results(tmp_path / "results", records), tmp_path / "out", formats=("png",),
                         workers=0)
    assert {"gap_vs_step", "runtime_ecdf", "mnist_history"} <= set(problems)
    assert any(stem.startswith("sensitivity_") for stem in problems)
    assert {stem: bad for stem, bad in problems.items() if bad} == {}


def test_figure_legend_fits_the_width_with_fewer_columns():
    from matplotlib.lines import Line2D

    from reports.style import fit, legend_outside, subplots

    fig, axes = subplots(2, 2)
    labels = [f"a-rather-long-optimizer-name/number-{i} (reference)" for i in range(7)]
    legend = legend_outside(fig, [Line2D([], []) for _ in labels], labels)
    assert legend._ncols < 4
    fit(fig)
    assert _drawn_outside_canvas(fig) == []


def test_sensitivity_writes_one_figure_per_landscape(full_report):
    figures_dir = full_report.parent / "figures"
    markdown = (full_report.parent / "report.md").read_text(encoding="utf-8")
    problems = {r["landscape"] for r in synthetic_records()}
    assert {p.stem for p in figures_dir.glob("sensitivity_*.png")} == {f"sensitivity_{p}" for p in problems}
    assert markdown.count("sensitivity to the hyperparameters.*") == len(problems)  # one caption each


def test_every_figure_is_written_as_svg_beside_the_png_and_linked(tmp_path):
    page = reports.build_report(write_results(tmp_path / "results", synthetic_records()), tmp_path / "out",
                                workers=0)
    figures_dir = tmp_path / "out" / "figures"
    pngs = {p.stem for p in figures_dir.glob("*.png")}
    assert {"contour_beale", "sensitivity_beale", "basins_himmelblau", "gap_vs_step"} <= pngs
    assert {p.stem for p in figures_dir.glob("*.svg")} == pngs
    links = _links_resolve(page)
    assert {f"figures/{stem}.svg" for stem in pngs} <= set(links)


def _heatmap_row(label, xs, ys):
    grid = np.linspace(0.0, 1.0, len(xs) * len(ys)).reshape(len(ys), len(xs))
    return {"label": label, "kind": "heatmap", "x_name": "learning_rate", "y_name": "momentum", "xs": xs,
            "ys": ys, "rates": grid, "gaps": grid + 1.0, "title": label}


def test_sensitivity_grid_labels_each_axis_once():
    """One-hyperparameter labels share a row; a heatmap's y tick labels are on the left panel of its
    row only, its x tick labels only where no heatmap with the same x values is right below."""
    from reports import section_sensitivity

    lrs = [1e-3, 1e-2, 1e-1]
    curve = {"kind": "curve", "name": "learning_rate", "xs": lrs, "rates": [0.0, 0.5, 1.0],
             "gaps": [1.0, 0.1, 0.01]}
    rows = [{**curve, "label": "sgd/constant"},
            _heatmap_row("momentum/constant", lrs, [0.5, 0.9]),
            _heatmap_row("nesterov/constant", lrs, [0.5, 0.9, 0.99]),
            {**curve, "label": "adam/constant", "xs": [1e-4, 1e-3], "rates": [0.2, 0.3], "gaps": [0.5, 0.4]},
            _heatmap_row("nesterov/sgdr", [1e-2, 1e-1], [0.9])]
    fig = section_sensitivity._sensitivity_figure(rows)
    panels = np.array([ax for ax in fig.axes if ax.get_subplotspec() is not None]).reshape(-1, 2)
    bars, curves, upper, lower, last = panels
    assert {line.get_label() for line in curves[0].get_lines()} == {"sgd/constant", "adam/constant"}
    assert curves[0].get_xlim()[0] < 1e-4 < 1e-1 < curves[0].get_xlim()[1]  # both labels' values
    # the legend is right of the row, outside both panels (inside it covered curves)
    assert curves[0].get_legend() is None
    assert [t.get_text() for t in curves[1].get_legend().get_texts()] == ["sgd/constant", "adam/constant"]
    assert curves[1].get_legend().get_bbox_to_anchor().x0 >= curves[1].get_window_extent().x1

    def tick_labels(axis):
        return [t.get_text() for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]

    assert upper[0].get_title() == "momentum/constant" and lower[0].get_title() == "nesterov/constant"
    assert tick_labels(upper[0].xaxis) == [] and upper[0].get_xlabel() == ""  # lower one labels them
    assert tick_labels(lower[0].xaxis) == ["0.001", "0.01", "0.1"] and lower[0].get_xlabel() == "learning rate"
    assert tick_labels(last[0].xaxis) == ["0.01", "0.1"]  # other x values: labelled anew
    for left, right in (upper, lower, last):
        assert tick_labels(left.yaxis) and left.get_ylabel() == "momentum"
        assert tick_labels(right.yaxis) == [] and right.get_ylabel() == ""
    # the gap under a row without x tick labels is smaller than under one with them
    def gap(top, bottom):
        return (top.get_position().y0 - bottom.get_position().y1) * fig.get_size_inches()[1]

    assert gap(upper[0], lower[0]) < gap(lower[0], last[0])


def test_basin_grid_labels_only_outer_panels():
    from reports.style import label_outer, subplots

    fig, axes = subplots(3, 3, sharex=True, sharey=True)
    for ax in axes.flat:
        ax.set_xlabel("x₁ of the start"), ax.set_ylabel("x₂ of the start")
    for ax in axes.flat[7:]:
        ax.set_visible(False)
    label_outer(axes)
    xlabelled = {(i, j) for (i, j), ax in np.ndenumerate(axes) if ax.get_visible() and ax.get_xlabel()}
    ylabelled = {(i, j) for (i, j), ax in np.ndenumerate(axes) if ax.get_visible() and ax.get_ylabel()}
    assert xlabelled == {(2, 0), (1, 1), (1, 2)}  # the bottom panel of each column, hidden ones aside
    assert ylabelled == {(0, 0), (1, 0), (2, 0)}
    assert axes[1, 2].xaxis.get_tick_params()["labelbottom"]
    assert not axes[0, 2].xaxis.get_tick_params()["labelbottom"]


def test_the_cost_of_a_reference_row_adds_up_its_instances(tmp_path):
    # A reference record holds one instance; the Cost table showed the first instance's only.
    records = []
    for instance, seconds in ((0, 0.5), (1, 1.5)):
        record = make_record("beale", "scipy/L-BFGS-B", {}, 0, "test", steps_to_success=[20, 30],
                             trajectory=False, instance=instance)
        record.update(reference=True, label="scipy/L-BFGS-B (reference)",
                      cost=dict(compile_seconds=None, run_seconds=seconds, runs=2, steps=STEPS,
                                evaluations=100, steps_per_second=100 / seconds))
        records.append(record)
    reports.build_report(write_results(tmp_path / "results", records), tmp_path / "out", formats=("png",))
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| beale | scipy/L-BFGS-B (reference) | test | — | 2 | 4 | 100 | — | — |" in markdown
    assert "A test phase reuses its tuning phase's compiled program (compile 0 s)" in markdown


def test_a_tied_search_and_labels_without_curves_are_said(tmp_path):
    # Found by the report audit: a "best config" printed where every config tied (all diverged),
    # and gap-plot legend entries for reference rows that never have a curve.
    records = synthetic_records(all_diverged=(("beale", "sgd/constant"),))
    reference = make_record("beale", "scipy/L-BFGS-B", {}, 0, "test", steps_to_success=[20, 30],
                            trajectory=False)
    reference.update(reference=True, label="scipy/L-BFGS-B (reference)")
    reports.build_report(write_results(tmp_path / "results", records + [reference]), tmp_path / "out",
                         formats=("png",))
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    beale = markdown.split("### beale")[1].split("###")[0]
    assert "(a tie: in tuning no config reached the success target" in beale.split("| sgd/constant |")[1]
    assert "(a tie" not in beale.split("| momentum/constant |")[1]
    assert "No curve for scipy/L-BFGS-B (reference): no iterates were recorded for it" in markdown
    assert "The scipy reference rows run in float64" in markdown
