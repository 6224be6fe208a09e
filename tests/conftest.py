"""Test-wide set-up: float64 on, the persistent compilation cache shared across runs."""

from bench.core.jax_setup import configure_jax

configure_jax()

import pytest
from suite_text import optimizer_toml, suite_toml


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The plain `pytest` run executes each benchmark once, untimed (so they cannot rot);
    `--benchmark-only` or `--benchmark-enable` time them. Set here rather than in addopts, where
    `--benchmark-disable` would make `--benchmark-only` an error."""
    if not (config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False)):
        config.option.benchmark_disable = True


@pytest.fixture
def program_store(tmp_path, monkeypatch):
    """A fresh cache root, as on a new machine: an empty store of compiled programs
    (``bench.core.programs``), an empty JAX cache and no program in memory. For tests that count traces
    or compiles (a store filled by an earlier session would serve them without tracing) and tests
    of the store (a program that JAX's cache serves is not stored). Yields the store's directory."""
    import jax
    from jax._src import compilation_cache  # private: JAX reads its cache settings once per process

    from bench.core import engine
    from bench.core.jax_setup import default_cache_dir

    monkeypatch.setenv("LANDSCAPE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LANDSCAPE_BENCH_NO_CACHE", raising=False)
    previous = jax.config.jax_compilation_cache_dir

    def fresh(cache_dir):
        engine._EXECUTABLES.clear()
        engine._COMPILE_LOCKS.clear()
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        compilation_cache.reset_cache()

    fresh(str(default_cache_dir()))
    yield tmp_path / "cache" / "programs"
    fresh(previous)


TINY_SUITE = suite_toml(
    "tiny", steps=120, success_target=1e-3, seeds=[0], test_seeds=[7], starts=3, trajectory_every=30,
    landscapes='["beale", { name = "himmelblau", instances = [0, 1] }]',
    optimizers=[optimizer_toml("sgd", "constant", learning_rate=[0.001, 0.01]),
                optimizer_toml("nesterov", "time_based", learning_rate=[0.001, 0.003], momentum=[0.9],
                               decay=[0.0, 0.001])])


@pytest.fixture(scope="session")
def tiny_suite_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("suites") / "tiny.toml"
    path.write_text(TINY_SUITE)
    return path


@pytest.fixture(scope="session")
def tiny_results(tiny_suite_path, tmp_path_factory):
    """The tiny suite run once per session (results only; tests must not modify it)."""
    from bench.run import runner
    from bench.run.results import ResultsDir
    from bench.run.suites import load_suite

    out = tmp_path_factory.mktemp("tiny_results")
    with ResultsDir(out) as results:
        runner.run_suite(load_suite(str(tiny_suite_path)), results)
    return out
