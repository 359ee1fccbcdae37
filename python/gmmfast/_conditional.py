"""Conditional mixtures and conditional means: E[rest | given] at points and on pixel grids.

The conditional of a Gaussian mixture given features g at x_g is a mixture over the remaining
features r (in their original order): component k keeps weight r_k ∝ w_k N(x_g; μ_g,k, Σ_gg,k)
(the responsibilities of the marginal over g), mean μ_r,k + G_k (x_g − μ_g,k) with the regression
gain G_k = Σ_rg,k Σ_gg,k⁻¹, and covariance Σ_rr,k − G_k Σ_gr,k (the Schur complement). For
'diag' and 'spherical' components the remaining features are independent of the given ones:
G_k = 0 and only the weights change.

All functions use the plug-in mixture of the model (for a ``BayesianGaussianMixture``:
``weights_``, ``means_``, ``covariances_``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np

from . import _core
from ._grid import Grid, as_grid, kernel_axes
from ._mixture import Mixture, conditional_parts
from ._model import ModelLike, as_mixture
from ._validation import (
    check_float_dtype,
    check_given,
    check_points,
    check_return_std,
    check_rtol,
    empty,
)


def kernel_regressions(mixture: Mixture, given: tuple) -> tuple:
    """``(components, regressions)`` as the kernels take them: the marginal of ``mixture``
    over ``given`` (``_core.Components``) and the regressions of the remaining features
    (``_core.Regressions``)."""
    marginal, reg = conditional_parts(mixture, given)
    components = marginal.components()
    return components, _core.Regressions(components, reg.means_rest, reg.gain, reg.cond_var)


def _outputs(shape: tuple, return_std: bool, dtype=np.float64) -> tuple:
    mean = empty(shape, dtype)
    std = empty(shape, dtype) if return_std else None
    return mean, std


def _result(mean, std, return_std: bool) -> np.ndarray | tuple:
    return (mean, std) if return_std else mean


@overload
def conditional_mean(
    model: ModelLike,
    X_given,
    given: Sequence[int] = ...,
    return_std: Literal[False] = ...,
    *,
    rtol: float = ...,
) -> np.ndarray: ...
@overload
def conditional_mean(
    model: ModelLike,
    X_given,
    given: Sequence[int] = ...,
    *,
    return_std: Literal[True],
    rtol: float = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def conditional_mean(
    model: ModelLike,
    X_given,
    given: Sequence[int],
    return_std: Literal[True],
    *,
    rtol: float = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
def conditional_mean(
    model: ModelLike, X_given, given=(0, 1), return_std=False, *, rtol=0.0
) -> np.ndarray | tuple:
    """E[rest | given features = X_given] at every row of ``X_given`` (Gaussian mixture
    regression).

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    X_given : array-like of shape (n_samples, len(given))
        Values of the given features, in the order of ``given``.
    given : sequence of int, default=(0, 1)
        Indices of the given features: distinct, in range, not all of them.
    return_std : bool, default=False
        Also return the conditional standard deviation of each remaining feature, from the
        law of total variance: diag(Σ_k r_k (C_k + m_k m_kᵀ) − m mᵀ), square-rooted.
    rtol : float in [0, 1), default=0
        0 is exact: only components that together weigh less than 2⁻⁵³ of the total are
        skipped. With rtol > 0, components whose responsibility is below rtol / K of the
        largest are skipped too (less work per point, not fewer density evaluations); they
        weigh at most rtol of the total together, so the mean moves by at most rtol times the
        distance from their regressions to the result.

    Returns
    -------
    mean : ndarray of shape (n_samples, n_features − len(given))
        In the units of the data, remaining features in their original order.
    std : ndarray of the same shape, if ``return_std``.

    Far from every component the nearest one (in Mahalanobis terms, with its weight) decides:
    the result is its regression, never NaN.
    """
    mixture = as_mixture(model)
    given = check_given(given, mixture.n_features)
    return_std = check_return_std(return_std)
    rtol = check_rtol(rtol)
    X = check_points(X_given, len(given), name="X_given")
    components, regressions = kernel_regressions(mixture, given)
    mean, std = _outputs((X.shape[0], mixture.n_features - len(given)), return_std)
    _core.conditional_mean(components, regressions, X, mean, std, rtol)
    return _result(mean, std, return_std)


def grid_arguments(model: ModelLike, grid, given, return_std, rtol, dtype) -> tuple:
    """The arguments of :func:`conditional_mean_grid` checked, in the order its users see
    their errors: (grid, plug-in Mixture, given, return_std, rtol, dtype)."""
    grid = as_grid(grid)
    mixture = as_mixture(model)
    given = check_given(given, mixture.n_features, length=2)
    return (
        grid,
        mixture,
        given,
        check_return_std(return_std),
        check_rtol(rtol),
        check_float_dtype(dtype),
    )


@overload
def conditional_mean_grid(
    model: ModelLike,
    grid: Grid,
    given: Sequence[int] = ...,
    return_std: Literal[False] = ...,
    *,
    rtol: float = ...,
    dtype=...,
) -> np.ndarray: ...
@overload
def conditional_mean_grid(
    model: ModelLike,
    grid: Grid,
    given: Sequence[int] = ...,
    *,
    return_std: Literal[True],
    rtol: float = ...,
    dtype=...,
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def conditional_mean_grid(
    model: ModelLike,
    grid: Grid,
    given: Sequence[int],
    return_std: Literal[True],
    *,
    rtol: float = ...,
    dtype=...,
) -> tuple[np.ndarray, np.ndarray]: ...
def conditional_mean_grid(
    model: ModelLike,
    grid: Grid,
    given=(0, 1),
    return_std=False,
    *,
    rtol=0.0,
    dtype=np.float64,
) -> np.ndarray | tuple:
    """E[rest | given] at every pixel of ``grid``, the pixel's x and y being the values of the
    features ``given[0]`` and ``given[1]``.

    For a colour model over (x, y, r, g, b) this renders the conditional-mean picture:
    ``conditional_mean_grid(model, Grid(640, 427))`` is (427, 640, 3). Values are in the units
    of the data (0–255 for colours) and not clipped.

    Returns ``mean`` of shape (grid.height, grid.width, n_features − 2), and ``std`` of the
    same shape if ``return_std``, of ``dtype`` (numpy.float64 or numpy.float32; computation is
    in float64 either way). Memory: the outputs plus O(K) per thread.

    ``rtol`` = 0 (default) is exact: blocks of pixels skip only components that could not
    change a bit of the result. With rtol > 0, a block of pixels drops, weakest first,
    components whose weights at every pixel of the block provably sum to at most rtol of the
    total (the bound of :func:`gmmfast.log_density_grid`), so the mean moves by at most
    rtol / (1 − rtol) times the distance from the dropped components' regressions to the
    result, and the standard deviation by a comparable amount.
    """
    grid, mixture, given, return_std, rtol, dtype = grid_arguments(
        model, grid, given, return_std, rtol, dtype
    )
    components, regressions = kernel_regressions(mixture, given)
    mean, std = _outputs((*grid.shape, mixture.n_features - len(given)), return_std, dtype)
    xs, ys, origin = kernel_axes(grid)
    _core.conditional_mean_grid(components, regressions, xs, ys, mean, std, rtol, origin)
    return _result(mean, std, return_std)
