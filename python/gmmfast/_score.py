"""The score ∇ₓ log p(x) of a mixture, on points and on pixel grids."""

from __future__ import annotations

import numpy as np

from . import _core
from ._grid import Grid, as_grid, kernel_axes
from ._model import ModelLike, check_model_points, marginal_form, scoring_form
from ._validation import check_rtol, empty


def score(model: ModelLike, X, *, rtol=0.0) -> np.ndarray:
    """The score ∇ₓ log p(x) of the mixture at each sample, exact.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
        A ``BayesianGaussianMixture`` gives the gradient of its own ``score_samples``.
    X : array-like of shape (n_samples, n_features)
    rtol : float in [0, 1), default=0
        As in :func:`score_samples`: components that together weigh at most ``rtol`` of the
        density over a block of samples may be left out; the score is then that of the
        mixture without them, which moves it by at most about 2·rtol times the largest
        ‖Σ_k⁻¹(x − μ_k)‖ among the components that matter at x.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        −Σ_k r_k(x) Σ_k⁻¹ (x − μ_k), with r_k the responsibilities, in units of 1 / (the
        features' units). float32 where :func:`score_samples` returns float32.

    Notes
    -----
    Computed on the culled point driver of :func:`score_samples`: at ``rtol=0`` only terms
    below 2⁻⁵³ of a sample's largest are skipped (each moves the score by less than e⁻³⁷
    times its own gradient), and a sample's score does not depend on the other samples or the
    number of threads. Far from every component, where the density underflows to 0 and
    ``score_samples`` is −∞, the score is still finite: the nearest components (ranked as
    :func:`predict_proba` ranks them) pull the point back, −Σ⁻¹(x − μ).
    """
    form = scoring_form(model)
    X, dtype = check_model_points(model, X, form.n_features)
    rtol = check_rtol(rtol)
    out = empty(X.shape)
    _core.score(form.components(), X, out, rtol)
    return out.astype(dtype, copy=False)


def score_grid(model: ModelLike, grid: Grid, dims=(0, 1), *, rtol=0.0) -> np.ndarray:
    """The score field of the marginal over ``dims`` at every pixel centre.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    grid : Grid
    dims : pair of int, default=(0, 1)
        The features that take a pixel's x and y (as in :func:`log_density_grid`).
    rtol : float in [0, 1), default=0
        As in :func:`score`.

    Returns
    -------
    ndarray of shape (grid.height, grid.width, 2), float64
        ``out[i, j]`` = (∂/∂x, ∂/∂y) log p at the centre of pixel (row i, column j): equal to
        ``score(marginal, grid.points())`` reshaped, bitwise at ``rtol=0``.

    Computed on the grid driver of :func:`log_density_grid` (per tile and sub-tile, only
    the components that can matter), with the sums of :func:`score`. Memory: the output plus
    O(n_components) per thread.
    """
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    rtol = check_rtol(rtol)
    out = empty((*grid.shape, 2))
    xs, ys, origin = kernel_axes(grid)
    _core.score_grid(form.components(), xs, ys, out, rtol, origin)
    return out
