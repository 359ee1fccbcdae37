"""The Monte Carlo engine behind :mod:`gmmfast.metrics`: stratified draws in bounded chunks.

An expectation E_s[f(X)] under a mixture s = Σ_k W_k s_k is estimated *stratified by
component*: component k gets a fixed share n_k ≈ n·W_k of the samples (at least 2, so that its
variance can be estimated), and the estimate is Σ_k W_k · mean_k(f), unbiased for any
allocation with n_k ≥ 1, with the standard error √(Σ_k W_k² s_k² / n_k) from the within-stratum
sample variances s_k². Against plain sampling (a multinomial number of samples per component)
this removes the variance *between* components, which for divergences between multi-modal
mixtures is most of it. Below 2 samples per component the engine falls back to plain sampling.

Samples are drawn by the compiled sampler (``_core.sample``, keyed by a 64-bit seed) and
evaluated by the caller's integrand in chunks of at most ``chunk_rows`` samples, so memory is
bounded whatever ``n`` (no n × K array; the integrand calls the culled point driver). Every
chunk has its own seed derived from (seed, chunk index) and the per-component sums are merged
in chunk order, so the result depends only on the seed and ``n``: bitwise the same for any
number of threads (the kernels are).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from . import _core
from ._validation import empty

# Samples per chunk (and fewer when d is large, see chunk_rows): 2**16 five-feature samples and
# their per-sample arrays are a few MiB.
CHUNK = 2**16


def chunk_rows(d: int) -> int:
    """Samples per chunk for d features: a (rows, d, d) gather stays below 16 MiB."""
    return int(min(CHUNK, max(1024, 2**21 // (d * d))))


class Result(NamedTuple):
    """``value``, ``std_error``, ``n_samples`` (drawn in all) and ``stratified`` (bool)."""

    value: float
    std_error: float
    n_samples: int
    stratified: bool


def allocation(weights: np.ndarray, n: int) -> np.ndarray | None:
    """Deterministic stratum sizes (K,) uint64 summing to ``n``: 2 per component of positive
    weight plus the rest in proportion to the weights (largest remainders, ties to the lower
    index); None when ``n`` is below 2 per such component (then sample plainly)."""
    live = weights > 0
    n_live = int(np.count_nonzero(live))
    if n < 2 * n_live:
        return None
    extra = n - 2 * n_live
    share = weights / math.fsum(weights) * extra
    base = np.floor(share).astype(np.int64)
    fraction = share - base
    missing = extra - int(base.sum())
    order = np.argsort(-fraction, kind="stable")
    if missing >= 0:
        base[order[:missing]] += 1
    else:  # the floors summed past ``extra`` by rounding (n near 2**53): take back the smallest
        for k in order[::-1]:
            if missing == 0:
                break
            if base[k] > 0:
                base[k] -= 1
                missing += 1
    counts = np.where(live, base + 2, 0)
    return counts.astype(np.uint64)


def derived_seed(seed: int, *key: int) -> int:
    """A 64-bit seed for the stream ``key`` of ``seed`` (NumPy's SeedSequence hashing)."""
    words = np.random.SeedSequence(entropy=seed, spawn_key=key).generate_state(2, np.uint32)
    return int(words[0]) | (int(words[1]) << 32)


def _chunks(counts: np.ndarray, rows: int) -> Iterator[np.ndarray]:
    """Per-chunk counts (K,) in component order, each chunk at most ``rows`` samples: whole
    components together, a large one split across chunks."""
    current = np.zeros(counts.shape, dtype=np.uint64)
    filled = 0
    for k in np.flatnonzero(counts):
        left = int(counts[k])
        while left:
            take = min(left, rows - filled)
            current[k] += take
            filled += take
            left -= take
            if filled == rows:
                yield current
                current = np.zeros(counts.shape, dtype=np.uint64)
                filled = 0
    if filled:
        yield current


class _Strata:
    """Per-component count, mean and sum of squared deviations, merged chunk after chunk
    (Chan et al.'s pairwise update: no cancellation from sums of squares)."""

    def __init__(self, k: int) -> None:
        self.count = np.zeros(k)
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)

    def add(self, labels: np.ndarray, values: np.ndarray) -> None:
        # The sampler groups its output by component: each label is one contiguous segment.
        starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
        which = labels[starts]
        count = np.diff(np.append(starts, labels.size)).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            mean = np.add.reduceat(values, starts) / count
            deviation = values - np.repeat(mean, count.astype(np.int64))
            m2 = np.add.reduceat(deviation * deviation, starts)
            n_a = self.count[which]
            total = n_a + count
            delta = mean - self.mean[which]
            self.mean[which] = np.where(n_a > 0, self.mean[which] + delta * count / total, mean)
            self.m2[which] = np.where(
                n_a > 0, self.m2[which] + m2 + delta * delta * n_a * count / total, m2
            )
        self.count[which] = total


def estimate(
    means: np.ndarray,
    factors: np.ndarray,
    covariance_type: str,
    weights: np.ndarray,
    n: int,
    seed: int,
    integrand: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Result:
    """E_s[f(X)] for s the mixture (``weights``, ``means``, covariance ``factors`` in the layout
    of ``covariance_type``, see :func:`gmmfast._gaussian.covariance_factors`), from ``n``
    samples drawn with ``seed``; ``integrand(X (m, d), labels (m,))`` gives f at a chunk of
    samples (labels: the component each was drawn from, non-decreasing)."""
    k, d = means.shape
    gaussians = _core.Gaussians(means, factors, covariance_type)
    counts = allocation(weights, n)
    stratified = counts is not None
    if counts is None:
        counts = empty((k,), dtype=np.uint64)
        _core.sample_counts(weights, n, derived_seed(seed, 0), counts)
    strata = _Strata(k)
    for index, chunk in enumerate(_chunks(counts, chunk_rows(d))):
        m = int(chunk.sum())
        X = empty((m, d))
        labels = empty((m,), dtype=np.int64)
        _core.sample(gaussians, chunk, derived_seed(seed, 1, index), X, labels)
        strata.add(labels, np.asarray(integrand(X, labels), dtype=np.float64))
    value, std_error = _combine(strata, weights, stratified)
    return Result(value, std_error, int(counts.sum()), stratified)


def _combine(strata: _Strata, weights: np.ndarray, stratified: bool) -> tuple:
    """(estimate, standard error) from the per-component statistics."""
    drawn = strata.count > 0
    w, n_k = weights[drawn], strata.count[drawn]
    mean, m2 = strata.mean[drawn], strata.m2[drawn]
    with np.errstate(invalid="ignore", over="ignore"):
        if stratified:
            value = float(np.sum(w * mean) / np.sum(w))
            variance = float(np.sum(w * w * (m2 / (n_k - 1.0)) / n_k) / np.sum(w) ** 2)
        else:
            n = float(n_k.sum())
            value = float(np.sum(n_k * mean) / n)
            spread = m2.sum() + np.sum(n_k * (mean - value) ** 2)
            variance = float(spread / (n - 1.0) / n) if n > 1 else math.inf
    if not math.isfinite(value):
        return value, math.inf
    return value, math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else math.inf
