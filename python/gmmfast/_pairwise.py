"""Pairwise Gaussian integrals between the components of two mixtures, in NumPy.

The body of :func:`gmmfast.reference.pairwise_logsumexp` (the twin of the compiled
``_core.pairwise_logsumexp``), kept on the ground floor so that :mod:`gmmfast.metrics` can use
it until the kernel lands. Readable and chunked over the rows i: memory O(chunk · K_q · d²),
never the whole K_p × K_q × d × d array.
"""

from __future__ import annotations

import numpy as np

from ._canonical import LOG_2PI

PAIRWISE_KINDS = ("overlap", "kl")

# Elements of the largest (rows, K_q, d, d) block built at once: 2**21 float64 = 16 MiB.
_BLOCK_ELEMENTS = 2**21


def _log_det(chol: np.ndarray) -> np.ndarray:
    """log det Σ from its lower Cholesky factors (..., d, d): 2 Σ_i log L[i, i]."""
    return 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def _logsumexp_rows(terms: np.ndarray) -> np.ndarray:
    """log Σ_j exp(terms[:, j]) per row, −inf for a row of −inf (no NaN)."""
    from scipy.special import logsumexp

    with np.errstate(divide="ignore"):  # a row of −inf is −inf, not a warning
        return np.asarray(logsumexp(terms, axis=1))


def pairwise_logsumexp(
    means_p: np.ndarray,
    covariances_p: np.ndarray,
    means_q: np.ndarray,
    covariances_q: np.ndarray,
    log_weights_q: np.ndarray,
    kind: str,
) -> np.ndarray:
    """For every component i of p, a log-sum over the components j of q, shape (K_p,).

    Parameters
    ----------
    means_p : (K_p, d) float64
    covariances_p : (K_p, d, d) float64, symmetric positive definite (any covariance type as
        a stack: :func:`gmmfast._gaussian.full_covariances`)
    means_q : (K_q, d), covariances_q : (K_q, d, d)
    log_weights_q : (K_q,), may hold −inf
    kind : {'overlap', 'kl'}

    Returns
    -------
    out : (K_p,) float64
        'overlap': ``out[i] = log Σ_j exp(log_weights_q[j] + log N(μ_p,i; μ_q,j, Σ_p,i + Σ_q,j))``
        — the log of ∫ N_p,i(x) q(x) dx, so that log ∫ p q = logsumexp(log w_p + out).
        'kl': ``out[i] = log Σ_j exp(log_weights_q[j] − KL(N_p,i ‖ N_q,j))`` with
        KL(N_a ‖ N_b) = ½ [tr(Σ_b⁻¹ Σ_a) + (μ_b − μ_a)ᵀ Σ_b⁻¹ (μ_b − μ_a) − d + log det Σ_b
        − log det Σ_a] (nats).
    """
    if kind not in PAIRWISE_KINDS:
        raise ValueError(f"kind must be one of {PAIRWISE_KINDS}, got {kind!r}")
    means_p = np.asarray(means_p, dtype=np.float64)
    means_q = np.asarray(means_q, dtype=np.float64)
    covariances_p = np.asarray(covariances_p, dtype=np.float64)
    covariances_q = np.asarray(covariances_q, dtype=np.float64)
    log_weights_q = np.asarray(log_weights_q, dtype=np.float64)
    k_p, d = means_p.shape
    k_q = means_q.shape[0]
    rows = max(1, _BLOCK_ELEMENTS // max(1, k_q * d * d))
    out = np.empty(k_p)
    if kind == "kl":
        chol_q = np.linalg.cholesky(covariances_q)  # (K_q, d, d)
        log_det_q = _log_det(chol_q)
        log_det_p = _log_det(np.linalg.cholesky(covariances_p))
    for start in range(0, k_p, rows):
        block = slice(start, min(start + rows, k_p))
        # Centred differences μ_q,j − μ_p,i, (b, K_q, d): the means meet a factor only after
        # the subtraction, which keeps far-apart components accurate.
        diff = means_q[np.newaxis] - means_p[block, np.newaxis]
        if kind == "overlap":
            total = covariances_p[block, np.newaxis] + covariances_q[np.newaxis]
            chol = np.linalg.cholesky(total)  # (b, K_q, d, d)
            y = np.linalg.solve(chol, diff[..., np.newaxis])[..., 0]
            with np.errstate(over="ignore"):
                log_n = -0.5 * (d * LOG_2PI + _log_det(chol) + np.sum(y * y, axis=-1))
            terms = log_weights_q[np.newaxis] + log_n
        else:
            # tr(Σ_q⁻¹ Σ_p) = ‖L_q⁻¹ L_p‖²_F with Σ = L Lᵀ; the Mahalanobis term through L_q too.
            chol_p = np.linalg.cholesky(covariances_p[block])  # (b, d, d)
            ratio = np.linalg.solve(chol_q[np.newaxis], chol_p[:, np.newaxis])  # (b, K_q, d, d)
            trace = np.sum(ratio * ratio, axis=(-2, -1))
            y = np.linalg.solve(chol_q[np.newaxis], diff[..., np.newaxis])[..., 0]
            with np.errstate(over="ignore"):
                kl = 0.5 * (
                    trace
                    + np.sum(y * y, axis=-1)
                    - d
                    + log_det_q[np.newaxis]
                    - log_det_p[block, np.newaxis]
                )
            terms = log_weights_q[np.newaxis] - kl
        out[block] = _logsumexp_rows(terms)
    return out
