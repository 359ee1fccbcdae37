"""Samples from a mixture, and samples scattered straight into the pixels of an image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from . import _core
from ._gaussian import covariance_factors
from ._grid import Grid, as_grid, pixel_cells
from ._mixture import Mixture
from ._model import ModelLike, as_mixture
from ._validation import check_image_dims, check_n_samples, empty, seed_from


def _gaussians(mixture: Mixture) -> _core.Gaussians:
    """The mixture's components as the samplers take them: means and covariance factors."""
    factors = covariance_factors(mixture.covariances, mixture.covariance_type)
    return _core.Gaussians(mixture.means, factors, mixture.covariance_type)


def _counts(mixture: Mixture, n: int, seed: int) -> np.ndarray:
    counts = empty((mixture.n_components,), dtype=np.uint64)
    _core.sample_counts(mixture.weights, n, seed, counts)
    return counts


def sample(model: ModelLike, n_samples=1, random_state=None) -> tuple:
    """Draw samples from the mixture, like the estimator's ``sample(n_samples)``.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
        A ``BayesianGaussianMixture`` is sampled through its plug-in mixture (``weights_``,
        ``means_``, ``covariances_``), as its own ``sample()`` does.
    n_samples : int >= 1, default=1
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        ``None`` draws fresh entropy; an int in [0, 2**64) is the seed; a generator gives one
        draw that becomes the seed (see :func:`seed_from`).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        Grouped by component, component 0 first, as scikit-learn returns them. The number of
        samples of each component is drawn from the multinomial of the weights, and each
        component's samples are μ_k + L_k z with z standard normal (L_k the Cholesky factor of
        Σ_k; per-feature standard deviations for 'diag' and 'spherical').
    labels : ndarray of shape (n_samples,), int64
        The component of each sample (non-decreasing).

    The same seed gives bitwise the same samples on every call and for any number of threads
    (``RAYON_NUM_THREADS``); the random stream is gmmfast's own (ChaCha8), so the samples are
    not those scikit-learn would draw with the same seed, only from the same distribution.
    ``ValueError`` for ``n_samples`` that is not an integer >= 1 and for a bad
    ``random_state``; ``MemoryError`` when the output does not fit in memory.
    """
    mixture = as_mixture(model)
    n = check_n_samples(n_samples)
    seed = seed_from(random_state)
    gaussians = _gaussians(mixture)
    counts = _counts(mixture, n, seed)
    X = empty((n, mixture.n_features))
    labels = empty((n,), dtype=np.int64)
    _core.sample(gaussians, counts, seed, X, labels)
    return X, labels


@overload
def sample_image(
    model: ModelLike,
    n_samples,
    grid: Grid,
    dims: Sequence[int] = ...,
    color_dims: None = ...,
    random_state=...,
) -> np.ndarray: ...
@overload
def sample_image(
    model: ModelLike,
    n_samples,
    grid: Grid,
    dims: Sequence[int],
    color_dims: Sequence[int],
    random_state=...,
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def sample_image(
    model: ModelLike,
    n_samples,
    grid: Grid,
    dims: Sequence[int] = ...,
    *,
    color_dims: Sequence[int],
    random_state=...,
) -> tuple[np.ndarray, np.ndarray]: ...
def sample_image(
    model: ModelLike,
    n_samples,
    grid: Grid,
    dims=(0, 1),
    color_dims=None,
    random_state=None,
) -> np.ndarray | tuple:
    """Draw ``n_samples`` samples and scatter them into the pixels of ``grid``.

    The samples are exactly those ``sample(model, n_samples, random_state)`` returns for the
    same seed, drawn in bounded batches and binned without ever being stored all at once: the
    memory used is the output plus about 10 MB (more with many threads), for any
    ``n_samples`` (1e9 runs, slowly).

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    n_samples : int >= 1
    grid : Grid
    dims : pair of int, default=(0, 1)
        The features that give a sample's x (column) and y (row).
    color_dims : sequence of int, optional
        Distinct features to average per pixel, e.g. (2, 3, 4) for the (r, g, b) of a colour
        model. They may include ``dims``.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        As for :func:`sample`.

    Returns
    -------
    counts : ndarray of shape (grid.height, grid.width), int64
        Without ``color_dims``: the number of samples in each pixel.
    (mean_colours, counts) : with ``color_dims``
        ``mean_colours`` of shape (grid.height, grid.width, len(color_dims)), float64: the mean
        of the ``color_dims`` features of the samples in each pixel, NaN where none landed.
        Colours are not clipped: a Gaussian's samples leave the valid range (0–255 for image
        colours), and clipping belongs to whoever turns the means into an image.

    Binning: a sample goes to the pixel whose centre (``grid.xs``, ``grid.ys``) is nearest on
    each axis. A side of n ≥ 2 pixels over ``(start, stop)`` has spacing
    s = (stop − start)/(n − 1) (negative for a reversed range), and pixel j's cell is
    [centre − s/2, centre + s/2) in index direction: column
    ``floor((x − start)·(n − 1)/(stop − start) + ½)``, the factor rounded once to a float, if
    it lies in [0, n), else the sample is dropped (a value exactly between two centres goes to
    the higher index). A side of one pixel has square pixels: its cell is centred on the
    range's start and as wide as the other side's spacing, or 1 unit when the grid is 1 × 1
    (the default ``Grid(1, 1)`` puts the pixel at 0 with cell [−½, ½)). A side of n ≥ 2
    pixels whose range has zero extent (every centre at the same point) has no cells:
    ``ValueError`` (also for a spacing too small or too large to invert in float64).

    The counts sum to the number of samples that fell inside the grid. Per-pixel colour sums
    are accumulated in the order of ``sample``'s output, so the result is bitwise the same for
    any number of threads and equals binning ``sample()``'s output (see
    :func:`gmmfast.reference.bin_samples`).
    """
    mixture = as_mixture(model)
    n = check_n_samples(n_samples)
    grid = as_grid(grid)
    dims, color_dims = check_image_dims(dims, color_dims, mixture.n_features)
    x_cells, y_cells = pixel_cells(grid)
    seed = seed_from(random_state)
    gaussians = _gaussians(mixture)
    counts = _counts(mixture, n, seed)
    image = empty(grid.shape, dtype=np.int64)
    colours = None if color_dims is None else empty((*grid.shape, len(color_dims)))
    _core.sample_image(
        gaussians,
        counts,
        seed,
        dims,
        list(color_dims or ()),
        x_cells,
        y_cells,
        image,
        colours,
    )
    return image if colours is None else (colours, image)
