"""The packed level histogram that gives steps-to-target (bench.core.engine._TargetLevels) against a
brute-force first-hit search, for sorted, unsorted and repeated targets, NaN gaps, budgets that need
wide fields, and with and without 64-bit integers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.core.engine import _TargetLevels


def _brute_force(gaps, targets):
    """First step k with gaps[k] <= tau, else len(gaps)."""
    out = []
    for tau in targets:
        hits = np.flatnonzero(gaps <= tau)  # NaN compares False
        out.append(hits[0] if hits.size else len(gaps))
    return np.array(out)


def _run(gaps, targets, dtype=np.float32):
    levels = _TargetLevels(tuple(targets), len(gaps))
    descending = jnp.asarray(levels.descending, dtype)

    def body(carry, gap):
        words, best = carry
        best = jnp.fmin(best, gap)
        return (levels.add(words, best, descending), best), None

    (words, _), _ = jax.lax.scan(body, (levels.init(), jnp.asarray(jnp.inf, dtype)),
                                 jnp.asarray(gaps, dtype))
    return np.asarray(levels.first_hits(words)), levels


TARGET_SETS = {
    "coco": (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8),
    "unsorted": (1e-3, 1e-1, 1e-8, 1e-5),
    "repeated": (1e-2, 1e-2, 1e-4),
    "one": (1e-6,),
}


@pytest.mark.parametrize("name", sorted(TARGET_SETS))
@pytest.mark.parametrize("steps", [1, 37, 2000, 5000])
def test_first_hits_match_brute_force(name, steps):
    targets = TARGET_SETS[name]
    rng = np.random.default_rng(steps)
    # A noisy descent from 1 to 1e-10 (so every target is crossed somewhere, some repeatedly), with
    # NaNs sprinkled in: they must neither hit a target nor erase the best gap.
    gaps = np.logspace(0, -10, steps) * rng.uniform(0.3, 3.0, steps)
    gaps[rng.random(steps) < 0.05] = np.nan
    got, _ = _run(gaps, targets)
    np.testing.assert_array_equal(got, _brute_force(gaps.astype(np.float32), np.float32(targets)))


def test_never_reached_counts_the_whole_budget():
    got, _ = _run(np.full(300, 0.5), TARGET_SETS["coco"])
    assert (got == 300).all()


def test_fields_are_wide_enough_and_packed():
    levels = _TargetLevels(TARGET_SETS["coco"], 2000)
    assert levels.bits == 11 and levels.words == 2  # 5 fields per int64 word
    # A budget whose counts need more bits than a word holds at once still round-trips.
    gaps = np.concatenate([np.full(70000, 1.0), np.full(10, 1e-9)])
    got, levels = _run(gaps, (1e-1, 1e-9))
    assert levels.bits == 17
    np.testing.assert_array_equal(got, [70000, 70000])


def test_without_64_bit_integers_the_words_are_int32():
    with jax.enable_x64(False):
        gaps = np.logspace(0, -9, 2000)
        got, levels = _run(gaps, TARGET_SETS["coco"])
        assert levels.dtype == jnp.int32 and levels.per_word == 2
    np.testing.assert_array_equal(got, _brute_force(gaps.astype(np.float32),
                                                    np.float32(TARGET_SETS["coco"])))
