"""The canonical per-component form in which the Rust kernels take a mixture.

Component k's weighted log-density at x is ``log_const[k] - ½‖(x − means[k]) @ prec_chol[k]‖²``,
with ``prec_chol[k]`` upper triangular and ``prec_chol[k] @ prec_chol[k].T`` the precision. This
file converts between scikit-learn's compact covariance layouts and that form.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

LOG_2PI = math.log(2.0 * math.pi)


class Components(NamedTuple):
    """``log_const`` (K,), ``means`` (K, d) and ``prec_chol`` (K, d, d), C-contiguous float64.

    The canonical form; the kernels take it as ``gmmfast._core.Components`` (Rust
    ``mixture::Components``): one name for one concept on both sides of the boundary.
    """

    log_const: np.ndarray
    means: np.ndarray
    prec_chol: np.ndarray

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def components(self):
        """This mixture as the kernels take it (``gmmfast._core.Components``)."""
        from . import _core

        return _core.Components(self.log_const, self.means, self.prec_chol)

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    def permuted(self, order: tuple) -> Components:
        """The same mixture with its features reordered to ``order`` (a permutation).

        The new factor U' must be upper triangular with U'U'ᵀ = P Λ Pᵀ. With J the exchange
        matrix, J Λ' J = L Lᵀ (ordinary Cholesky) gives U' = J L J.
        """
        columns = list(order)
        if columns == list(range(self.n_features)):
            return self
        precision = self.prec_chol @ self.prec_chol.swapaxes(1, 2)
        permuted = precision[:, columns][:, :, columns]
        flipped = permuted[:, ::-1, ::-1]
        lower = np.linalg.cholesky(flipped)
        upper = np.ascontiguousarray(lower[:, ::-1, ::-1])
        return Components(self.log_const, np.ascontiguousarray(self.means[:, columns]), upper)


def precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Compact precision Cholesky factors in scikit-learn's ``precisions_cholesky_`` layout:
    U = L⁻ᵀ with L L ᵀ = Σ (lower Cholesky), so that U Uᵀ = Σ⁻¹.

    Batched over components (scikit-learn loops over them with a triangular solve; the
    factors agree to rounding). Raises ``numpy.linalg.LinAlgError`` when a matrix is not
    positive definite.
    """
    if covariance_type in ("full", "tied"):
        chol = np.linalg.cholesky(covariances)
        eye = np.broadcast_to(np.eye(chol.shape[-1]), chol.shape)
        return np.linalg.solve(chol, eye).swapaxes(-1, -2)
    return 1.0 / np.sqrt(covariances)


def expand_prec_chol(prec_chol: np.ndarray, covariance_type: str, n_components: int, d: int):
    """The compact factors of any covariance type as a (K, d, d) stack of upper triangles."""
    if covariance_type == "full":
        full = prec_chol
    elif covariance_type == "tied":
        full = np.broadcast_to(prec_chol, (n_components, d, d))
    elif covariance_type == "diag":
        full = np.zeros((n_components, d, d))
        full[:, np.arange(d), np.arange(d)] = prec_chol
    else:
        full = prec_chol[:, np.newaxis, np.newaxis] * np.eye(d)
    return np.ascontiguousarray(full, dtype=np.float64)


def log_det_chol(prec_chol: np.ndarray, covariance_type: str, n_components: int, d: int):
    """Σ_i log U_k[i, i] per component (K,): half the log-determinant of each precision."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.full(n_components, np.sum(np.log(np.diag(prec_chol))))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return d * np.log(prec_chol)


def gaussian_form(
    log_weights: np.ndarray, means: np.ndarray, prec_chol: np.ndarray, covariance_type: str
) -> Components:
    """The canonical form of a plain mixture: c_k = log w_k − ½ d log 2π + Σ_i log U_k[i, i].

    ``log_weights`` may hold −inf (components of weight zero).
    """
    n_components, d = means.shape
    log_const = (
        log_weights - 0.5 * d * LOG_2PI + log_det_chol(prec_chol, covariance_type, n_components, d)
    )
    return Components(
        np.ascontiguousarray(log_const, dtype=np.float64),
        np.ascontiguousarray(means, dtype=np.float64),
        expand_prec_chol(prec_chol, covariance_type, n_components, d),
    )
