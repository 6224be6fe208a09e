"""Sweep programs stored on disk as serialized executables (``bench.core.programs``):
a later process loads them without tracing, gets bitwise the same results, and anything the key
cannot vouch for is compiled the ordinary way."""

from __future__ import annotations

import dataclasses

import numpy as np
import optax
import pytest

import landscapes
import jax

from bench.core import engine, programs
from bench.core.engine import run_batch
from bench.core.step import Metrics, Problem, make_batch, program_key
from bench.run.runner import OptimizerBuilder
from bench.core.sharding import runs_sharding

pytestmark = pytest.mark.slow  # a subprocess, a whole suite or many compiles: the full run only

NESTEROV = OptimizerBuilder("nesterov", "time_based")


def _batch(problem, landscape, runs=6):
    x0 = np.random.default_rng(5).uniform(-1.5, 1.5, size=(runs, 2))
    hparams = dict(learning_rate=np.geomspace(1e-3, 3e-2, runs), momentum=np.full(runs, 0.9),
                   decay=np.zeros(runs), warmup_steps=np.zeros(runs))
    return make_batch(problem, hparams, x0, 0.0, landscape.minimizer_array())


def _fresh_process(jax_caches=False):
    """What a new process starts with: no compiled program in memory (and with ``jax_caches``, no
    trace or executable in JAX's in-memory caches either: every later test in the session then
    compiles again, so only the test that needs JAX's persistent cache to be asked does it)."""
    engine._EXECUTABLES.clear()
    engine._COMPILE_LOCKS.clear()
    engine.compiled_sweep.cache_clear()
    if jax_caches:
        jax.clear_caches()


@pytest.fixture
def store(program_store):
    return program_store


def _same(a, b):
    for name in Metrics.FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("sharded", [False, True])
def test_a_stored_program_loads_without_tracing_and_gives_the_same_bits(store, monkeypatch, sharded):
    beale = landscapes.get_landscape("beale")
    problem = Problem(beale, NESTEROV, 150, dtype="float32", trajectory_every=50)
    batch = _batch(problem, beale)
    sharding = runs_sharding() if sharded else None
    compiled_first, _ = run_batch(problem, batch, sharding=sharding)
    assert len(list(store.iterdir())) == 1
    _fresh_process()
    traced = []
    original = engine.compiled_runs_sweep
    monkeypatch.setattr(engine, "compiled_runs_sweep",
                        lambda p, s=None, size=0: traced.append(p) or original(p, s, size))
    loaded, cost = run_batch(problem, batch, sharding=sharding)
    assert traced == []  # loaded from the store: nothing was traced or lowered
    assert cost.compile_seconds > 0  # loading is this run's compile cost, and is reported
    _same(compiled_first, loaded)


def test_a_damaged_stored_program_is_dropped_and_the_program_still_runs(store):
    beale = landscapes.get_landscape("beale")
    problem = Problem(beale, NESTEROV, 120)
    batch = _batch(problem, beale)
    first, _ = run_batch(problem, batch)
    (path,) = store.iterdir()
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])  # a disk full mid-copy, say
    _fresh_process()
    again, _ = run_batch(problem, batch)
    _same(first, again)
    assert not path.exists()  # not read again by every later process


def test_nothing_is_stored_when_the_caches_are_off(store, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_BENCH_NO_CACHE", "1")
    beale = landscapes.get_landscape("beale")
    problem = Problem(beale, NESTEROV, 110)
    run_batch(problem, _batch(problem, beale))
    assert not store.exists()


def test_programs_from_outside_the_project_have_no_key(store):
    beale = landscapes.get_landscape("beale")
    shapes = "x"
    assert program_key(Problem(beale, NESTEROV, 100), shapes) is not None
    # A bare function as the optimizer: its code could change without the key noticing.
    assert program_key(Problem(beale, lambda h: optax.sgd(h["learning_rate"]), 100), shapes) is None
    # A landscape whose formula lives in user code (this test module).
    def formula(x, xp):
        return xp.sum(x ** 2)
    mine = dataclasses.replace(beale, name="mine", formula=formula)
    assert program_key(Problem(mine, NESTEROV, 100), shapes) is None
    problem = Problem(mine, NESTEROV, 100)
    run_batch(problem, _batch(problem, mine))  # still runs, through the ordinary path
    assert not store.exists()


def test_the_key_follows_everything_that_shapes_the_program(store, monkeypatch):
    beale = landscapes.get_landscape("beale")
    base = Problem(beale, NESTEROV, 100)
    key = program_key(base, "s")
    variants = [
        program_key(dataclasses.replace(base, steps=101), "s"),
        program_key(dataclasses.replace(base, dtype="float64"), "s"),
        program_key(dataclasses.replace(base, targets=(1e-1, 1e-3)), "s"),
        program_key(dataclasses.replace(base, transformed=True), "s"),
        program_key(dataclasses.replace(base, trajectory_every=10), "s"),
        program_key(dataclasses.replace(base, unroll=1), "s"),
        program_key(dataclasses.replace(base, build=OptimizerBuilder("nesterov", "sgdr")), "s"),
        program_key(dataclasses.replace(base, landscape=landscapes.get_landscape("noisy_beale")), "s"),
        program_key(base, "t"),
    ]
    assert key not in variants and len(set(variants)) == len(variants)
    quadratic = landscapes.make_quadratic(2, 10.0)
    assert program_key(dataclasses.replace(base, landscape=quadratic), "s") != program_key(
        dataclasses.replace(base, landscape=landscapes.make_quadratic(2, 1000.0)), "s")
    # An edit to any source file of the project, or another JAX, changes every stored program's file.
    path = programs.stored_path(key)
    monkeypatch.setattr(programs, "source_fingerprint", lambda: "edited")
    assert programs.stored_path(key) != path
    monkeypatch.undo()
    monkeypatch.setattr(jax, "__version__", "0.0.1")
    assert programs.stored_path(key) != path
    # A program placed on other devices is another program.
    assert programs.stored_path(key, runs_sharding()) != path


def test_a_user_registered_family_is_not_stored():
    from optimizers import register_family
    from optimizers.core import OptimizerFamily

    def build(hparams, learning_rate):
        return optax.sgd(learning_rate)

    import optimizers

    family = OptimizerFamily("plain_mine", build, {"learning_rate": 0.01})
    register_family(family)
    try:
        assert OptimizerBuilder("plain_mine", "constant").program_key() is None
        assert OptimizerBuilder("sgd", "constant").program_key() is not None
    finally:
        optimizers.FAMILIES.pop("plain_mine", None)



def test_a_program_served_by_jax_cache_is_not_stored(store):
    # Such an executable does not re-serialize into one that runs (jax 0.10 CPU: "Function ... not
    # found" at its first call), so it must never reach the store.
    beale = landscapes.get_landscape("beale")
    problem = Problem(beale, NESTEROV, 130)
    batch = _batch(problem, beale)
    first, _ = run_batch(problem, batch)  # compiled afresh: stored, and written to JAX's cache
    (path,) = store.iterdir()
    path.unlink()
    _fresh_process(jax_caches=True)
    again, _ = run_batch(problem, batch)  # JAX's cache serves it now
    assert list(store.iterdir()) == []
    _same(first, again)
    _fresh_process()
    third, _ = run_batch(problem, batch)  # and the next process still runs it correctly
    _same(first, third)


def test_after_a_source_edit_the_program_is_stored_again(store, monkeypatch):
    # JAX's cache still holds the unchanged program; the program's name carries its key, so JAX
    # misses too and the fresh compile is stored (else the store would stay empty from then on).
    beale = landscapes.get_landscape("beale")
    problem = Problem(beale, NESTEROV, 140)
    batch = _batch(problem, beale)
    first, _ = run_batch(problem, batch)
    assert len(list(store.iterdir())) == 1
    monkeypatch.setattr(programs, "source_fingerprint", lambda: "edited")
    _fresh_process()
    again, _ = run_batch(problem, batch)
    assert len(list(store.iterdir())) == 2
    _same(first, again)


def test_program_sources_cover_everything_the_programs_import():
    # A stored program is keyed by the hash of PROGRAM_SOURCES; a module they import from this
    # project but that is not among them could change a program without changing its key.
    import ast
    from pathlib import Path

    files = programs.program_source_files()
    root = Path(programs.__file__).resolve().parents[2]
    covered = {str(f.resolve().relative_to(root)) for f in files}
    assert {"bench/core/engine.py", "bench/mnist/train.py", "landscapes/core.py",
            "optimizers/families.py"} <= covered
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.split(".")[0] not in programs.OWN_PACKAGES:
                    continue
                module = root.joinpath(*name.split("."))
                candidates = [module.with_suffix(".py"), module / "__init__.py"]
                assert any(str(c.relative_to(root)) in covered for c in candidates if c.exists()), (
                    f"{path.relative_to(root)} imports {name}, which PROGRAM_SOURCES does not cover")
