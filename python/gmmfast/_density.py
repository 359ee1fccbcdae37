"""Log-densities, responsibilities and labels, on points and on pixel grids."""

from __future__ import annotations

import numpy as np

from . import _core
from ._canonical import Components
from ._grid import Grid, as_grid, kernel_axes
from ._model import ModelLike, check_model_points, marginal_form, scoring_form
from ._validation import check_float_dtype, check_int, check_rtol, empty


def score_samples(model: ModelLike, X, *, rtol=0.0) -> np.ndarray:
    """Log-likelihood of each sample, like ``model.score_samples(X)``.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    X : array-like of shape (n_samples, n_features)
    rtol : float in [0, 1), default=0
        Relative error allowed on the density, traded for speed: the density returned
        satisfies (1 − rtol)·p ≤ p̂ ≤ p at every sample (see Notes).

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
        For a ``BayesianGaussianMixture``, the same quantity as its own ``score_samples``
        (which includes its digamma terms and is not the plug-in mixture's log-density).
        float64, or float32 where scikit-learn's would be: an estimator fitted in float32
        given float32 ``X`` (computed in float64 and rounded once).

    Notes
    -----
    The samples are grouped into small blocks by a kd-tree; each component's log-density is
    bounded over each block's bounding box, and only the components that can matter there are
    evaluated. ``rtol=0`` (the default) is exact: the components left out are those whose
    terms fall below 2⁻⁵³ of the running sum, which cannot change a bit of the result, so a
    sample's value is bitwise the same whatever the other samples in the call, their order or
    the number of threads. With ``rtol`` > 0 components are also dropped, weakest first,
    while their total over the block stays within ``rtol`` of the largest term; the result
    then depends (within the bound) on the block a sample lands in.

    An estimator's feature names are checked as its own methods check them.
    """
    form = scoring_form(model)
    X, dtype = check_model_points(model, X, form.n_features)
    rtol = check_rtol(rtol)
    out = empty((X.shape[0],))
    _core.score_samples(form.components(), X, out, rtol)
    return out.astype(dtype, copy=False)


def predict_proba(model: ModelLike, X, *, rtol=0.0) -> np.ndarray:
    """Responsibilities of each component for each sample, like ``model.predict_proba(X)``.

    Returns an array of shape (n_samples, n_components); each row sums to 1. Every
    responsibility that is not provably below 2⁻⁵³ of the sample's largest is computed; the
    others are 0 (an absolute error below 1.2e-16, within scikit-learn's own rounding). Far
    from every component the nearest one (in Mahalanobis terms, with its weight) takes all of
    it. Of the type :func:`score_samples` returns (float32 only where scikit-learn's would be).

    With ``rtol`` > 0, components that together weigh at most ``rtol`` of the density over a
    block of samples (see :func:`score_samples`) are left out and get 0; the others are
    normalised among themselves.
    """
    form = scoring_form(model)
    X, dtype = check_model_points(model, X, form.n_features)
    rtol = check_rtol(rtol)
    out = empty((X.shape[0], form.n_components))
    _core.predict_proba(form.components(), X, out, rtol)
    return out.astype(dtype, copy=False)


def predict(model: ModelLike, X, *, rtol=0.0) -> np.ndarray:
    """Most responsible component of each sample, like ``model.predict(X)``.

    Returns an int64 array of shape (n_samples,); ties go to the lowest index, as with
    ``numpy.argmax``. Exact for any ``rtol`` in [0, 1) (accepted for symmetry with the other
    kernels): a component is left out of a block of samples only when it cannot be the most
    responsible one anywhere in it.
    """
    form = scoring_form(model)
    X, _ = check_model_points(model, X, form.n_features)
    rtol = check_rtol(rtol)
    out = empty((X.shape[0],), dtype=np.int64)
    _core.predict(form.components(), X, out, rtol)
    return out


def log_density_grid(
    model: ModelLike, grid: Grid, dims=(0, 1), *, rtol=0.0, dtype=np.float64
) -> np.ndarray:
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
    rtol : float in [0, 1), default=0
        Relative error allowed on the density, traded for speed (see below).
    dtype : numpy.float64 (default) or numpy.float32
        Of the image. Computation and log-sum-exp are in float64 either way; float32 only
        rounds the result (relative error ≤ 2⁻²⁴ on log p, e.g. 6e-6 for log p ≈ −100) and
        halves the memory.

    Returns
    -------
    ndarray of shape (grid.height, grid.width)

    Notes
    -----
    With ``rtol`` > 0 the density returned satisfies (1 − rtol)·p ≤ p̂ ≤ p at every pixel,
    so log p − log p̂ ≤ −log(1 − rtol) ≈ rtol. The guarantee is derived per block of pixels:
    each component's log-density is bounded above and below over the block (a convex
    quadratic's minimum over a rectangle lies at its centre or on an edge, its maximum at a
    corner); the best lower bound B bounds every pixel's largest term from below; components
    are dropped, weakest first, while the sum of exp(upper bound − B) stays within rtol, so at
    any pixel the dropped density is at most rtol times the largest term. ``rtol=0`` (the
    default) is exact: it drops only terms below 2⁻⁵³ of the running sum, which cannot change a
    bit of the result.

    Memory: the output plus O(n_components) per thread; no point array is built.
    """
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    rtol = check_rtol(rtol)
    out = empty(grid.shape, dtype=check_float_dtype(dtype))
    xs, ys, origin = kernel_axes(grid)
    _core.log_density_grid(form.components(), xs, ys, out, rtol, origin)
    return out


def label_grid(model: ModelLike, grid: Grid, dims=(0, 1), *, rtol=0.0) -> np.ndarray:
    """Most responsible component of the marginal over ``dims`` at every pixel.

    Returns an int64 array of shape (grid.height, grid.width). Same ``dims`` semantics as
    :func:`log_density_grid`. ``rtol`` only speeds the computation up: a component can be
    dropped from a block of pixels only if it is below the block's best lower bound, where it
    cannot be the most responsible one, so labels are exact for any rtol < 1.
    """
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    rtol = check_rtol(rtol)
    out = empty(grid.shape, dtype=np.int64)
    xs, ys, origin = kernel_axes(grid)
    _core.label_grid(form.components(), xs, ys, out, rtol, origin)
    return out


def responsibility_grid(
    model: ModelLike, k: int, grid: Grid, dims=(0, 1), *, rtol=0.0
) -> np.ndarray:
    """Responsibility of component ``k`` for the marginal over ``dims`` at every pixel.

    The column ``k`` of ``predict_proba`` over the grid's points, without the
    (n_pixels, n_components) array: two grid renders, the log of component k's own weighted
    term ``c_k − ½‖(x − μ_k) U_k‖²`` (one component, so exact) and the mixture's log-density;
    the responsibility is ``exp(term − log-density)``. The weights are those of
    :func:`log_density_grid` for the same ``dims``: a ``BayesianGaussianMixture`` over all its
    features uses its own expected log-weights and Wishart terms (as its ``predict_proba``), a
    strict subset of the features the plug-in ``weights_``.

    Returns float64 of shape (grid.height, grid.width), in [0, 1]. ``rtol`` applies to the
    mixture's density (the term is exact): the result is then within a factor
    1 / (1 − rtol) above the exact one, clipped at 1. Where every log-density overflows to −∞
    (pixels about 1e154 away from unit-scale components) the nearest component, as
    :func:`predict_proba` ranks them, takes a responsibility of 1 (exact ties share by weight).
    """
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    k = check_int(k, "k", minimum=0)
    if k >= form.n_components:
        raise ValueError(
            f"k must be a component index in [0, {form.n_components}) for a model of "
            f"{form.n_components} components, got {k}"
        )
    rtol = check_rtol(rtol)
    xs, ys, origin = kernel_axes(grid)
    total = empty(grid.shape)
    _core.log_density_grid(form.components(), xs, ys, total, rtol, origin)
    one = Components(form.log_const[k : k + 1], form.means[k : k + 1], form.prec_chol[k : k + 1])
    term = empty(grid.shape)
    _core.log_density_grid(one.components(), xs, ys, term, 0.0, origin)
    with np.errstate(invalid="ignore"):  # −∞ − (−∞) is handled below
        out = np.exp(term - total)
    np.minimum(out, 1.0, out=out)
    rows, cols = np.nonzero(~np.isfinite(total))
    # Rare (a view ~1e154 wide): there the kernels rank by scaled distances, as predict_proba
    # does, in blocks small enough that (block, K) stays a few MiB.
    block = max(1, 2**19 // form.n_components)
    for start in range(0, rows.size, block):
        r, c = rows[start : start + block], cols[start : start + block]
        points = np.column_stack([grid.xs[c], grid.ys[r]])
        proba = empty((r.size, form.n_components))
        _core.predict_proba(form.components(), points, proba)
        out[r, c] = proba[:, k]
    return out
