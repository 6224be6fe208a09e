"""The packed level histogram that gives steps-to-target (bench.core.targets._TargetLevels) against a
brute-force first-hit search, for sorted, unsorted and repeated targets, NaN gaps, budgets that need
wide fields, and with and without 64-bit integers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.core.targets import (COCO51_TARGETS, COCO_TARGETS, _TargetLevels, _TargetTable, _target_levels,
                                first_hits_of_best)


def _brute_force(gaps, targets):
    """First step k with gaps[k] <= tau, else len(gaps)."""
    out = []
    for tau in targets:
        hits = np.flatnonzero(gaps <= tau)  # NaN compares False
        out.append(hits[0] if hits.size else len(gaps))
    return np.array(out)


def _run(gaps, targets, dtype=np.float32, kind=_TargetLevels):
    levels = kind(tuple(targets), len(gaps))
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


def test_coco51_is_ten_to_two_down_to_ten_to_minus_eight_five_per_decade():
    assert len(COCO51_TARGETS) == 51 and COCO51_TARGETS[0] == 100.0 and COCO51_TARGETS[-1] == 1e-8
    np.testing.assert_allclose(np.log10(COCO51_TARGETS), 2 - np.arange(51) / 5, atol=1e-14)
    assert set(COCO_TARGETS) <= set(COCO51_TARGETS)  # the same floats as the 8 targets
    assert isinstance(_target_levels(COCO51_TARGETS, 2000, True), _TargetTable)
    assert not isinstance(_target_levels(COCO_TARGETS, 2000, True), _TargetTable)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("targets", [COCO51_TARGETS, COCO51_TARGETS[::-3] + (1e-2, 0.5, 3e-3)])
def test_the_table_gives_the_chains_first_hits(dtype, targets):
    """Noisy descents, gaps exactly at targets and one ulp either side, negative gaps, NaN."""
    rng = np.random.default_rng(len(targets))
    exact = np.asarray(targets, dtype)
    near = np.concatenate([exact, np.nextafter(exact, dtype(np.inf)), np.nextafter(exact, dtype(0))])
    for trial in range(4):
        gaps = (np.logspace(3, -10, 400) * rng.uniform(0.3, 3.0, 400)).astype(dtype)
        gaps[rng.integers(0, 400, 60)] = rng.choice(near, 60)
        gaps[rng.random(400) < 0.03] = np.nan
        if trial == 3:
            gaps[-20:] = -1e-7  # rounding below f*: every target
        table, levels = _run(gaps, targets, dtype, _TargetTable)
        assert levels.table
        np.testing.assert_array_equal(table, _brute_force(gaps, exact))
        np.testing.assert_array_equal(table, _run(gaps, targets, dtype)[0])
        # every step's best gap kept, searched after the loop (the CPU's way past 8 targets)
        bests = np.fmin.accumulate(np.concatenate([[np.inf], gaps]).astype(dtype))[1:]
        kept = first_hits_of_best(jnp.asarray(bests), jnp.asarray(exact))
        np.testing.assert_array_equal(kept, table)
