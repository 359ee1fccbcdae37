"""Pure-NumPy Gaussian algebra on arrays: log-probabilities, log-sum-exp, responsibilities,
regressions of some features on others, and the factors samples are drawn with.

The ground floor under :class:`~gmmfast.Mixture`, :mod:`gmmfast.reference` and the kernel
wrappers: every function takes arrays (a :class:`~gmmfast._canonical.Components` form or
scikit-learn's parameter layout), never a model.

Products and sums run as element-wise NumPy operations in a fixed order (:func:`row_products`,
:func:`row_sums`), never through BLAS, which picks its kernels by shape and machine and rounds
them differently: a row's result does not depend on the other rows in the call, which is what
lets the reference claim bitwise agreement between chunkings, grids and their points.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._canonical import Components


def row_products(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``X @ M`` for X (n, a) and M (a, b), shape (n, b), as Σ_j X[:, j] M[j] summed in the
    order j = 0, 1, … by element-wise operations: each row's bits are independent of n."""
    out = X[:, 0:1] * M[0]
    for j in range(1, X.shape[1]):
        out = out + X[:, j : j + 1] * M[j]
    return out


def row_sums(A: np.ndarray) -> np.ndarray:
    """Σ over the last axis of A (..., m), left to right, shape (...): the same bits for a row
    whatever the other rows (``np.sum`` may pair or vectorise the terms by shape)."""
    out = A[..., 0].copy()
    for j in range(1, A.shape[-1]):
        out += A[..., j]
    return out


def weighted_log_prob(form: Components, X: np.ndarray) -> np.ndarray:
    """l[i, k] = log_const[k] − ½‖(X[i] − means[k]) @ U_k‖², shape (n, K).

    Every point is centred on a component's mean before it meets the precision factor
    (scikit-learn computes ``X @ U − μ @ U``, which cancels badly far from the mean).
    """
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], form.n_components))
    for k in range(form.n_components):
        centred = X - form.means[k]
        y = row_products(centred, np.triu(form.prec_chol[k]))
        with np.errstate(over="ignore"):  # beyond 1e154: −∞, ranked by ranking_log_prob
            out[:, k] = form.log_const[k] - 0.5 * row_sums(y * y)
    return out


def ranking_log_prob(form: Components, X: np.ndarray) -> np.ndarray:
    """:func:`weighted_log_prob` for ranking the components (labels, responsibilities),
    shape (n, K): the same, except at rows where every term is −∞ because every squared
    distance overflowed (a point beyond 1e154 of unit-scale components). There the components
    nearest in Mahalanobis terms get their ``log_const`` and the others −∞, so the nearest one
    takes all the responsibility (exact ties share it by weight; a weight of 0 never wins), as
    the kernels decide it. Distances are compared after scaling by a power of two, which
    cannot overflow."""
    X = np.asarray(X, dtype=np.float64)
    log_prob = weighted_log_prob(form, X)
    live = np.isfinite(form.log_const)
    lost = ~np.any(log_prob > -np.inf, axis=1)
    if not (live.any() and lost.any()):
        return log_prob
    points = X[lost]
    y = np.stack(
        [
            row_products(points - form.means[k], np.triu(form.prec_chol[k]))
            for k in live.nonzero()[0]
        ],
        axis=1,
    )  # (lost rows, live components, d)
    largest = np.abs(y).max(axis=(1, 2))
    scale = np.ldexp(1.0, -np.frexp(largest)[1])  # 2^-e with largest < 2^e
    distance = row_sums(np.square(y * scale[:, np.newaxis, np.newaxis]))
    nearest = distance == distance.min(axis=1, keepdims=True)
    ranked = np.full((points.shape[0], form.n_components), -np.inf)
    ranked[:, live] = np.where(nearest, form.log_const[live], -np.inf)
    log_prob[lost] = ranked
    return log_prob


def peak(log_prob: np.ndarray) -> tuple:
    """Row maxima (n,), first arg-maxima (n,) and ``log_prob`` with NaN as −∞: NaN never
    wins, a row of −∞ gives index 0."""
    cleaned = np.where(np.isnan(log_prob), -np.inf, log_prob)
    return cleaned.max(axis=1), cleaned.argmax(axis=1), cleaned


def _relative(log_prob: np.ndarray) -> tuple:
    """(l − max per row, ln Σ exp(l − max) per row, max, argmax, finite rows). Rows whose
    maximum is −∞ get a relative part of −∞ and a log-sum of 0."""
    top, arg, cleaned = peak(log_prob)
    finite = np.isfinite(top)
    safe_top = np.where(finite, top, 0.0)
    rel = cleaned - safe_top[:, None]
    rel[~finite] = -np.inf
    with np.errstate(divide="ignore"):
        log_sum = np.log(row_sums(np.exp(rel)))
    log_sum[~finite] = 0.0
    return rel, log_sum, top, arg, finite


def log_sum_exp(log_prob: np.ndarray) -> np.ndarray:
    """log Σ_k exp(l[i, k]) per row of ``log_prob`` (n, K), shape (n,); −∞ where every entry
    is −∞."""
    _, log_sum, top, _, finite = _relative(log_prob)
    return np.where(finite, top + log_sum, -np.inf)


def responsibilities(log_prob: np.ndarray) -> np.ndarray:
    """exp(l − log Σ exp l) per row, shape (n, K); a row that is all −∞ puts everything on
    component 0."""
    rel, log_sum, _, arg, finite = _relative(log_prob)
    # (l − max) − ln Σ exp(l − max): subtracting the peak first keeps nearby values exact,
    # where l − log p would lose the digits hidden by ulp(log p).
    out = np.exp(rel - log_sum[:, None])
    out[~finite, arg[~finite]] = 1.0
    return out


class Regressions(NamedTuple):
    """The linear regressions of the remaining features on the given ones, per component.

    ``given`` and ``rest``: feature indices (``rest`` in their original order, m of them);
    ``means_rest`` (K, m); ``gain`` (K, m, g), G_k = Σ_rg,k Σ_gg,k⁻¹; ``cond_cov``: the
    conditional covariances Σ_rr,k − G_k Σ_gr,k in the layout of the covariance type;
    ``cond_var`` (K, m): their diagonals. Component k's conditional mean at x_g is
    ``means_rest[k] + gain[k] @ (x_g − μ_g,k)``.
    """

    given: tuple
    rest: tuple
    means_rest: np.ndarray
    gain: np.ndarray
    cond_cov: np.ndarray
    cond_var: np.ndarray


def regressions(
    means: np.ndarray, covariances: np.ndarray, covariance_type: str, given: tuple
) -> Regressions:
    """The per-component regressions of the remaining features on ``given`` (validated
    indices, a strict subset), from parameters in scikit-learn's layout: ``means`` (K, d),
    ``covariances`` of ``covariance_type``. For 'diag' and 'spherical' the remaining features
    are independent of the given ones: zero gain."""
    k, d = means.shape
    g = list(given)
    r = [i for i in range(d) if i not in given]
    means_rest = np.ascontiguousarray(means[:, r])
    if covariance_type in ("full", "tied"):
        stack = covariances if covariance_type == "full" else covariances[np.newaxis]
        s_gg = stack[:, g][:, :, g]
        s_gr = stack[:, g][:, :, r]
        s_rr = stack[:, r][:, :, r]
        # G = Σ_rg Σ_gg⁻¹  ⇔  Σ_gg Gᵀ = Σ_gr (Σ_gg symmetric positive definite).
        gain = np.linalg.solve(s_gg, s_gr).transpose(0, 2, 1)
        cond = s_rr - gain @ s_gr
        cond = 0.5 * (cond + cond.transpose(0, 2, 1))
        # Rounding may leave a tiny negative variance where the given features determine a
        # remaining one almost exactly.
        cond_var = np.maximum(np.diagonal(cond, axis1=1, axis2=2), 0.0)
        if covariance_type == "tied":
            gain = np.broadcast_to(gain, (k, len(r), len(g)))
            cond_var = np.broadcast_to(cond_var, (k, len(r)))
            cond = cond[0]
    else:
        gain = np.zeros((k, len(r), len(g)))
        if covariance_type == "diag":
            cond = covariances[:, r]
            cond_var = cond
        else:
            cond = covariances
            cond_var = np.repeat(covariances[:, np.newaxis], len(r), axis=1)
    return Regressions(
        tuple(given),
        tuple(r),
        means_rest,
        np.ascontiguousarray(gain, dtype=np.float64),
        np.ascontiguousarray(cond, dtype=np.float64),
        np.ascontiguousarray(cond_var, dtype=np.float64),
    )


def covariance_factors(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """What a sampler multiplies standard normals by, in the layout of the covariance type.

    'full': the lower Cholesky factors L_k of the covariances (K, d, d), Σ_k = L_k L_kᵀ;
    'tied': the one factor (d, d); 'diag': the standard deviations (K, d); 'spherical': the
    standard deviations (K,).
    """
    if covariance_type in ("full", "tied"):
        return np.ascontiguousarray(np.linalg.cholesky(covariances))
    return np.ascontiguousarray(np.sqrt(covariances))


def full_covariances(covariances: np.ndarray, covariance_type: str, n_components: int, d: int):
    """The covariances of any covariance type as a (K, d, d) stack of matrices (a new array).

    'tied' repeats its matrix, 'diag' and 'spherical' put their variances on the diagonal
    (off-diagonal entries exactly 0).
    """
    if covariance_type == "full":
        return np.array(covariances, dtype=np.float64)
    if covariance_type == "tied":
        return np.repeat(np.asarray(covariances, dtype=np.float64)[np.newaxis], n_components, 0)
    full = np.zeros((n_components, d, d))
    variances = covariances if covariance_type == "diag" else covariances[:, np.newaxis]
    full[:, np.arange(d), np.arange(d)] = variances
    return full
