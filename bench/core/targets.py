"""Steps-to-target counted in the scan carry: the COCO target sets and the packed level histogram.

The targets are nested, so a run's level (how many targets its best gap has reached) only grows;
the step adds one to a histogram field per level, and the first hit of every target is read from
the histogram after the loop (``_TargetLevels``; ``_TargetTable`` for many targets).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

COCO_TARGETS: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
# COCO's 51 targets (cocopp's runtime ECDFs): 10^2 down to 10^-8, five per decade. The exponents are
# multiples of 0.2 made from integers, so 1e2 .. 1e-8 are the very floats written so (a test checks).
COCO51_TARGETS: tuple[float, ...] = tuple(10.0 ** ((10 - k) / 5) for k in range(51))


class _TargetLevels:
    """Steps-to-target of every target from a histogram of ``levels``, packed into a few integers.

    The targets are nested (gap <= 1e-8 implies gap <= 1e-7 ...), so with the best gap so far the
    number of targets reached, the level, only grows, and target j is first hit after exactly as many
    steps as were spent below its level. Each step therefore adds 1 to the field of its level in a
    histogram whose fields (each wide enough for the budget: 11 bits for 2,000 steps) are packed into
    int64 words, one scalar per word (2 for COCO's 8 targets). Against one counter per target
    (a compare, a test and a select per target each step) this made the headline sweep 1.12-1.14x
    faster on the 2-core CPU, same-process A/B, identical results (docs/performance.md).
    """

    def __init__(self, targets: tuple[float, ...], steps: int):
        t = np.asarray(targets, np.float64)
        self.count = len(t)
        self.descending = np.sort(t)[::-1]  # level l is reached when best <= descending[l - 1]
        # rank_j: targets at least t_j; target j is reached <=> level >= rank_j.
        self.rank = np.array([int((t >= tj).sum()) for tj in t])
        self.bits = max(1, int(steps).bit_length())  # a field counts 0 .. steps
        wide = bool(jax.config.jax_enable_x64)
        self.dtype = jnp.int64 if wide else jnp.int32
        self.per_word = (63 if wide else 31) // self.bits  # never the sign bit
        if self.per_word == 0:
            raise ValueError(f"steps={steps} is too large a budget to count (at most 2**31 - 1)")
        # Fields for levels 0 .. count - 1; at level == count every target is reached already.
        self.words = max(1, -(-self.count // self.per_word))

    def _increment(self, level: int, word: int) -> int:
        """What a step at ``level`` adds to ``word``."""
        if level >= self.count or level // self.per_word != word:
            return 0
        return 1 << (self.bits * (level % self.per_word))

    def init(self) -> tuple[jax.Array, ...]:
        return tuple(jnp.zeros((), self.dtype) for _ in range(self.words))

    def add(self, words: tuple[jax.Array, ...], best: jax.Array, targets: jax.Array):
        """Count one step at the level of ``best`` (NaN reaches no level)."""
        new = []
        for w, word in enumerate(words):
            increment = jnp.asarray(self._increment(0, w), self.dtype)
            for level in range(1, self.count + 1):  # nested conditions: the last true one wins
                if self._increment(level, w) != self._increment(level - 1, w):
                    increment = jnp.where(best <= targets[level - 1],
                                          jnp.asarray(self._increment(level, w), self.dtype),
                                          increment)
            new.append(word + increment)
        return tuple(new)

    def first_hits(self, words: tuple[jax.Array, ...]) -> jax.Array:
        """(count,) steps taken before each target was reached; ``steps`` if it never was."""
        mask = (1 << self.bits) - 1
        spent = [(words[level // self.per_word] >> (self.bits * (level % self.per_word))) & mask
                 for level in range(self.count)]
        below = jnp.cumsum(jnp.stack([jnp.zeros((), self.dtype), *spent]))
        return below[jnp.asarray(self.rank)]


class _TargetTable(_TargetLevels):
    """The same histogram for many targets (COCO's 51), found by table look-ups instead of chains.

    The chain of ``_TargetLevels.add`` costs a compare and a select per target and word each step:
    with 51 targets the headline sweep ran 1.70x slower than with 8 (docs/performance.md). Here the
    level comes from the bit pattern of the best gap, which orders positive floats as integers: its
    top bits (sign, exponent and ``mantissa_bits`` more) pick a bucket holding at most one target
    value, so level = levels below the bucket + (best <= that target). The increment of every word
    at once is then one row of a (levels + 1, words) table, added to the words kept as one array.
    Exact: the same first hits as the chain (tests/test_target_levels.py).
    """

    MAX_MANTISSA_BITS = 8  # finer buckets than 2^-8 of a binade: the chain instead
    MAX_BUCKETS = 1 << 16  # entries of one table

    def __init__(self, targets: tuple[float, ...], steps: int):
        super().__init__(targets, steps)
        self._tables: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        self.increments = np.array([[self._increment(level, w) for w in range(self.words)]
                                    for level in range(self.count + 1)], dtype=np.int64)
        # Both float widths, so the carry's form does not depend on the dtype.
        self.table = all(self.buckets(t) is not None for t in (np.float32, np.float64))

    def buckets(self, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """(levels below each bucket, its target or -inf, that target's multiplicity, the shift
        from the bit pattern to the bucket) for gaps of ``dtype``; None if no bucket size works."""
        dtype = np.dtype(dtype)
        if dtype.name not in self._tables:
            self._tables[dtype.name] = self._make_buckets(dtype)
        return self._tables[dtype.name]

    def _make_buckets(self, dtype: np.dtype):
        unsigned = np.dtype(f"uint{8 * dtype.itemsize}")
        mantissa = np.finfo(dtype).nmant
        values = self.descending.astype(dtype)  # the values the chain compares against
        if not np.all(values > 0):
            return None
        patterns = values.view(unsigned).astype(np.uint64)
        for extra in range(self.MAX_MANTISSA_BITS + 1):
            shift = mantissa - extra
            index = (patterns >> np.uint64(shift)).astype(np.int64)
            size = 1 << (8 * dtype.itemsize - shift)
            if size > self.MAX_BUCKETS:
                break
            if any(len(set(values[index == b].tolist())) > 1 for b in set(index.tolist())):
                continue  # two different targets share a bucket: finer buckets
            below = np.zeros(size, np.int32)
            threshold = np.full(size, -np.inf, dtype)
            multiplicity = np.zeros(size, np.int32)
            counts = np.bincount(index, minlength=size)
            # Levels reached by every value in bucket b: the targets in buckets above it.
            below[:size // 2] = (self.count - np.cumsum(counts[:size // 2])).astype(np.int32)
            below[size // 2:] = self.count  # negative gaps (rounding below f*) reach every level
            for b in set(index.tolist()):
                threshold[b] = values[index == b][0]
                multiplicity[b] = counts[b]
            return below, threshold, multiplicity, shift
        return None

    def init(self):
        if not self.table:
            return super().init()
        return (jnp.zeros((self.words,), self.dtype),)

    def add(self, words, best, targets):
        if not self.table:
            return super().add(words, best, targets)
        below, threshold, multiplicity, shift = self.buckets(targets.dtype)
        unsigned = jnp.dtype(f"uint{8 * best.dtype.itemsize}")
        bucket = (jax.lax.bitcast_convert_type(best, unsigned) >> shift).astype(jnp.int32)
        level = jnp.asarray(below)[bucket] + jnp.where(best <= jnp.asarray(threshold)[bucket],
                                                       jnp.asarray(multiplicity)[bucket], 0)
        return (words[0] + jnp.asarray(self.increments, self.dtype)[level],)

    def first_hits(self, words):
        if self.table:
            words = tuple(words[0][w] for w in range(self.words))
        return super().first_hits(words)


def first_hits_of_best(bests: jax.Array, targets: jax.Array) -> jax.Array:
    """(count,) steps taken before each target was reached, from every step's best gap so far
    (``bests``, (steps,), which only falls and is never NaN); ``steps`` if it never was. The same
    as ``_TargetLevels.first_hits`` of the histogram those steps would have counted."""
    # The steps whose best is above the target: -best rises, so a binary search. Unrolled, its 11
    # rounds for 51 targets cost a quarter of the loop form's time (2-core CPU, docs/performance.md).
    return jnp.searchsorted(-bests, -targets, side="left", method="scan_unrolled")


# Past this many targets the level histogram is found by table look-ups (``_TargetTable``).
CHAIN_MAX_TARGETS = 8


@functools.lru_cache(maxsize=64)
def _target_levels(targets: tuple[float, ...], steps: int, wide: bool) -> _TargetLevels:
    """One ``_TargetLevels`` per (targets, budget, integer width), shared by the step and the
    read-out after the loop (``wide``: whether 64-bit integers are on, which sets its words)."""
    if len(targets) > CHAIN_MAX_TARGETS:
        return _TargetTable(targets, steps)
    return _TargetLevels(targets, steps)
