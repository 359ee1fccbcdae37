"""Pictures of a model's numbers that the command line and the demo draw: dots for sample
counts, empty pixels filled from their neighbours, a palette for component labels."""

from __future__ import annotations

import numpy as np


def dots(counts: np.ndarray, background=(255, 255, 255)) -> np.ndarray:
    """A count image as a drawing: black where at least one sample landed, ``background``
    (an (r, g, b), default white) elsewhere; (h, w) grey if the background is grey, else
    (h, w, 3) RGB."""
    r, g, b = background
    if r == g == b:
        return np.where(counts > 0, 0, r).astype(np.uint8)
    out = np.empty((*counts.shape, 3), np.uint8)
    out[...] = background
    out[counts > 0] = 0
    return out


def fill_empty(colours: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean sampled colours with every empty pixel filled from its neighbours.

    ``colours`` (h, w, c) and ``counts`` (h, w) as :func:`gmmfast.sample_image` returns them
    with ``color_dims`` (NaN where no sample landed). A pixel without samples gets the mean
    colour of all the samples in the smallest square around it, 3 × 3, 5 × 5, ..., that holds
    any (the pixels with samples keep their own mean). NaN remains only if no sample landed
    anywhere.
    """
    colours = np.asarray(colours, dtype=np.float64)
    counts = np.asarray(counts)
    has = counts > 0
    sums = np.where(has[..., np.newaxis], colours, 0.0) * counts[..., np.newaxis]
    filled = colours.copy()
    if not has.any():
        return filled
    empty = ~has
    radius = 1
    # Whole-image box sums while many pixels wait; the last few (typically tens, in the
    # sparsest places) one by one, each with its own growing window.
    while np.count_nonzero(empty) > 256:
        n = _box_sum(counts, radius)
        take = empty & (n > 0)
        filled[take] = _box_sum(sums, radius)[take] / n[take][:, np.newaxis]
        empty &= ~take
        radius += 1
    for row, col in zip(*np.nonzero(empty)):
        r = radius
        while True:
            window = (slice(max(row - r, 0), row + r + 1), slice(max(col - r, 0), col + r + 1))
            n = counts[window].sum()
            if n > 0:
                filled[row, col] = sums[window].sum(axis=(0, 1)) / n
                break
            r += 1
    return filled


def _box_sum(array: np.ndarray, radius: int) -> np.ndarray:
    """Sum of ``array`` over the (2·radius + 1)² square around each pixel (clipped at the
    edges), over the first two axes, by a summed-area table."""
    table = np.cumsum(np.cumsum(array, axis=0), axis=1)
    table = np.pad(table, [(1, 0), (1, 0)] + [(0, 0)] * (array.ndim - 2))
    height, width = array.shape[:2]
    rows, cols = np.arange(height), np.arange(width)
    r0, r1 = np.clip(rows - radius, 0, height), np.clip(rows + radius + 1, 0, height)
    c0, c1 = np.clip(cols - radius, 0, width), np.clip(cols + radius + 1, 0, width)
    return table[r1][:, c1] - table[r0][:, c1] - table[r1][:, c0] + table[r0][:, c0]


def label_colours(n_components: int) -> np.ndarray:
    """A fixed palette of distinct-looking colours, (n_components, 3) uint8 (seeded)."""
    rng = np.random.default_rng(0)
    return rng.integers(40, 256, size=(n_components, 3)).astype(np.uint8)
