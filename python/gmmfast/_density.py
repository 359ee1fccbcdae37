"""Log-densities, responsibilities and labels, on points and on pixel grids."""

from __future__ import annotations

import numpy as np

from . import _core
from ._grid import Grid
from ._model import marginal_form, scoring_form
from ._validation import check_points, empty


def _check_grid(grid) -> Grid:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a gmmfast.Grid, got {type(grid).__name__}")
    return grid


def score_samples(model, X) -> np.ndarray:
    """Log-likelihood of each sample, like ``model.score_samples(X)``.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        For a ``BayesianGaussianMixture``, the same quantity as its own ``score_samples``
        (which includes its digamma terms and is not the plug-in mixture's log-density).
    """
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = empty((X.shape[0],))
    _core.score_samples(*form, X, out)
    return out


def predict_proba(model, X) -> np.ndarray:
    """Responsibilities of each component for each sample, like ``model.predict_proba(X)``.

    Returns an array of shape (n_samples, n_components); each row sums to 1. Far from every
    component the nearest one (in Mahalanobis terms, with its weight) takes all of it.
    """
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = empty((X.shape[0], form.n_components))
    _core.predict_proba(*form, X, out)
    return out


def predict(model, X) -> np.ndarray:
    """Most responsible component of each sample, like ``model.predict(X)``.

    Returns an int64 array of shape (n_samples,); ties go to the lowest index, as with
    ``numpy.argmax``.
    """
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = empty((X.shape[0],), dtype=np.int64)
    _core.predict(*form, X, out)
    return out


def log_density_grid(model, grid: Grid, dims=(0, 1)) -> np.ndarray:
    """Log-density of the marginal of ``model`` over features ``dims`` at every pixel.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    grid : Grid
    dims : pair of int, default=(0, 1)
        The features that take a pixel's x and y. When they are all the model's features
        this equals ``model.score_samples(grid.points())`` reshaped (for a
        ``BayesianGaussianMixture`` too); otherwise it is the log-density of the plug-in
        mixture's marginal.

    Returns
    -------
    ndarray of shape (grid.height, grid.width), float64

    Memory: the output plus O(n_components) per thread; no point array is built.
    """
    grid = _check_grid(grid)
    form = marginal_form(model, dims, length=2)
    out = empty(grid.shape)
    _core.log_density_grid(*form, grid.xs, grid.ys, out)
    return out


def label_grid(model, grid: Grid, dims=(0, 1)) -> np.ndarray:
    """Most responsible component of the marginal over ``dims`` at every pixel.

    Returns an int64 array of shape (grid.height, grid.width). Same ``dims`` semantics as
    :func:`log_density_grid`.
    """
    grid = _check_grid(grid)
    form = marginal_form(model, dims, length=2)
    out = empty(grid.shape, dtype=np.int64)
    _core.label_grid(*form, grid.xs, grid.ys, out)
    return out
