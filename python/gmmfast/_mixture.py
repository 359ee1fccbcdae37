"""``Mixture``: validated, immutable parameters of a Gaussian mixture."""

from __future__ import annotations

from types import MappingProxyType
from typing import NoReturn

import numpy as np

from ._canonical import COVARIANCE_TYPES, Components, gaussian_form, precision_cholesky
from ._gaussian import ranking_log_prob, regressions, responsibilities
from ._validation import check_dims, check_given, check_real, fitted_estimator

# Relative asymmetry (largest |Σ − Σᵀ| over largest |Σ|) tolerated in a covariance matrix.
# scikit-learn's fitted covariances are symmetric only to rounding, and its 'tied' covariance
# (X'X/n − μ'μ, a difference of large terms) loses symmetry with the data's offset: 1e-6 at an
# offset of 1e5, 1.5e-4 at 1e6. The matrices are symmetrised; what is left out is what no fit
# produces, such as a Cholesky factor given in place of a covariance (asymmetry of order 1).
_SYMMETRY_RTOL = 1e-3
# scikit-learn's own check for weights (``_check_weights``) is ``allclose(sum, 1)``, atol 1e-8,
# in float64; weights fitted in float32 sum to 1 only within float32 rounding.
_WEIGHT_SUM_ATOL = 1e-8


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, order="C", copy=True)
    array.flags.writeable = False
    return array


def _weight_sum_tolerance(weights, n_components: int) -> float:
    """How far from 1 the sum of ``weights`` may be: 1e-8, or K rounding errors of their own
    floating-point type when that is coarser (2.4e-7 for two float32 weights)."""
    dtype = getattr(weights, "dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.floating):
        return _WEIGHT_SUM_ATOL
    return max(_WEIGHT_SUM_ATOL, n_components * float(np.finfo(dtype).eps))


def _as_float_array(value, name: str) -> np.ndarray:
    check_real(value, name)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers, got {value!r}") from exc
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return array


def _covariance_shape(covariance_type: str, n_components: int, d: int) -> tuple:
    return {
        "full": (n_components, d, d),
        "tied": (d, d),
        "diag": (n_components, d),
        "spherical": (n_components,),
    }[covariance_type]


class Mixture:
    """A Gaussian mixture: weights, means and covariances, validated and immutable.

    Parameters
    ----------
    weights : array-like of shape (n_components,)
        Non-negative mixing weights summing to 1, within 1e-8 or, for a floating-point array
        of a coarser type (weights fitted in float32), within K of its rounding errors. Weights
        that sum to 1 only that far are divided by their sum.
    means : array-like of shape (n_components, n_features)
    covariances : array-like
        In scikit-learn's layout for ``covariance_type``: 'full' (n_components, n_features,
        n_features), 'tied' (n_features, n_features), 'diag' (n_components, n_features),
        'spherical' (n_components,). Matrices must be positive definite and symmetric to a
        relative 1e-3 (scikit-learn's fitted 'tied' covariances are symmetric only to rounding
        that grows with the data's offset); they are replaced by their symmetric part
        (Σ + Σᵀ)/2, which leaves symmetric matrices unchanged. Variances must be positive.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    metadata : mapping, optional
        Free-form, JSON-serialisable information carried along (for example the size of the
        image the model was fitted on); saved and loaded with the model, ignored by ``==``.

    Every function of gmmfast accepts a ``Mixture`` wherever it accepts a fitted scikit-learn
    estimator. The arrays returned by the properties are read-only copies of the parameters.
    """

    __slots__ = (
        "_canonical",
        "_covariance_type",
        "_covariances",
        "_means",
        "_metadata",
        "_prec_chol",
        "_weights",
    )
    _canonical: Components | None

    def __init__(
        self, weights, means, covariances, covariance_type="full", *, metadata=None
    ) -> None:
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
            )
        weight_atol = _weight_sum_tolerance(weights, np.size(weights))
        weights = _as_float_array(weights, "weights")
        means = _as_float_array(means, "means")
        covariances = _as_float_array(covariances, "covariances")

        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(
                f"means must have shape (n_components, n_features) with both >= 1, "
                f"got shape {means.shape}"
            )
        n_components, d = means.shape
        if weights.shape != (n_components,):
            raise ValueError(
                f"weights must have shape ({n_components},) to match means of shape "
                f"{means.shape}, got {weights.shape}"
            )
        if np.any(weights < 0):
            raise ValueError(f"weights must be non-negative, got minimum {weights.min()!r}")
        total = float(np.sum(weights))
        if not abs(total - 1.0) <= weight_atol:
            raise ValueError(
                f"weights must sum to 1 (within {weight_atol:.3g}), got sum(weights) = {total!r}"
            )
        if abs(total - 1.0) > n_components * np.finfo(np.float64).eps:
            # Off by more than float64 rounding (fitted in float32): renormalise. Weights that
            # sum to 1 within float64 rounding keep their bits, and so their log-densities.
            weights = weights / total

        expected = _covariance_shape(covariance_type, n_components, d)
        if covariances.shape != expected:
            raise ValueError(
                f"covariances for covariance_type={covariance_type!r} with "
                f"{n_components} components of {d} features must have shape {expected}, "
                f"got {covariances.shape}"
            )
        covariances = _symmetrised(covariances, covariance_type)
        try:
            prec_chol = precision_cholesky(covariances, covariance_type)
        except np.linalg.LinAlgError:
            _raise_not_positive_definite(covariances, covariance_type)

        self._weights = _frozen(weights)
        self._means = _frozen(means)
        self._covariances = _frozen(covariances)
        self._covariance_type = covariance_type
        self._prec_chol = _frozen(prec_chol)
        self._canonical = None
        self._metadata = MappingProxyType(dict(metadata or {}))

    @classmethod
    def from_sklearn(cls, estimator) -> Mixture:
        """The mixture of a fitted ``GaussianMixture`` or ``BayesianGaussianMixture``.

        Takes ``weights_``, ``means_``, ``covariances_`` and ``covariance_type`` and keeps the
        estimator's own ``precisions_cholesky_``, so that densities match the estimator's to the
        last bits. For a ``BayesianGaussianMixture`` this is the plug-in mixture (what its
        ``sample()`` draws from); its ``score_samples`` adds digamma terms that a plain mixture
        does not have, which :func:`gmmfast.score_samples` reproduces when given the estimator
        itself.

        Raises ``sklearn.exceptions.NotFittedError`` for an unfitted estimator and ``TypeError``
        for anything else.
        """
        est = fitted_estimator(estimator)
        mixture = cls(est.weights_, est.means_, est.covariances_, est.covariance_type)
        return mixture._with_precisions_cholesky(est.precisions_cholesky_)

    def _with_precisions_cholesky(self, prec_chol) -> Mixture:
        """Use ``prec_chol`` (computed elsewhere from the same covariances, e.g. by
        scikit-learn) instead of our own factors, so results match its source bit for bit."""
        prec_chol = _frozen(prec_chol)
        if prec_chol.shape != self._prec_chol.shape:
            raise ValueError(
                f"precisions_cholesky must have shape {self._prec_chol.shape}, "
                f"got {prec_chol.shape}"
            )
        self._prec_chol = prec_chol
        self._canonical = None
        return self

    @property
    def n_components(self) -> int:
        return self._means.shape[0]

    @property
    def n_features(self) -> int:
        return self._means.shape[1]

    @property
    def covariance_type(self) -> str:
        return self._covariance_type

    @property
    def weights(self) -> np.ndarray:
        """Mixing weights, shape (n_components,)."""
        return self._weights

    @property
    def means(self) -> np.ndarray:
        """Component means, shape (n_components, n_features)."""
        return self._means

    @property
    def covariances(self) -> np.ndarray:
        """Covariances in scikit-learn's layout for ``covariance_type``."""
        return self._covariances

    @property
    def precisions_cholesky(self) -> np.ndarray:
        """Cholesky factors of the precisions, in scikit-learn's ``precisions_cholesky_``
        layout (upper triangular U with U Uᵀ = Σ⁻¹)."""
        return self._prec_chol

    @property
    def metadata(self) -> MappingProxyType:
        """Read-only mapping of the information given as ``metadata``."""
        return self._metadata

    def marginal(self, dims) -> Mixture:
        """The marginal mixture over features ``dims``, in that order.

        The weights are unchanged; each component keeps the entries of its mean and
        covariance that belong to ``dims``. Raises ``ValueError`` for indices out of range or
        repeated.
        """
        dims = list(check_dims(dims, self.n_features))
        cov = self._covariances
        if self._covariance_type == "full":
            sub = cov[:, dims][:, :, dims]
        elif self._covariance_type == "tied":
            sub = cov[dims][:, dims]
        elif self._covariance_type == "diag":
            sub = cov[:, dims]
        else:
            sub = cov
        return Mixture(self._weights, self._means[:, dims], sub, self._covariance_type)

    def condition(self, given, values) -> Mixture:
        """The conditional mixture over the remaining features given ``values`` of ``given``.

        Parameters
        ----------
        given : sequence of int
            Distinct feature indices, not all of them.
        values : array-like of shape (len(given),)
            Values of those features, in the order of ``given``.

        Returns
        -------
        Mixture over the remaining features in their original order, of the same covariance
        type: weights are the responsibilities of the marginal over ``given`` at ``values``,
        means the components' linear regressions, covariances the Schur complements (for
        'diag' and 'spherical' only the weights change). Far from every component the nearest
        one gets weight 1.
        """
        given = check_given(given, self.n_features)
        check_real(values, "values")
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(given),):
            raise ValueError(
                f"values must have shape ({len(given)},) for given={given}, got {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"values must be finite, got {values}")
        marginal, reg = conditional_parts(self, given)
        weights = responsibilities(ranking_log_prob(marginal, values[np.newaxis]))[0]
        centred = values - marginal.means
        means = reg.means_rest + np.einsum("kmg,kg->km", reg.gain, centred)
        return Mixture(weights, means, reg.cond_cov, self._covariance_type)

    def __repr__(self) -> str:
        return (
            f"Mixture(n_components={self.n_components}, n_features={self.n_features}, "
            f"covariance_type={self._covariance_type!r})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, Mixture):
            return NotImplemented
        return (
            self._covariance_type == other._covariance_type
            and np.array_equal(self._weights, other._weights)
            and np.array_equal(self._means, other._means)
            and np.array_equal(self._covariances, other._covariances)
        )

    __hash__ = None  # type: ignore[assignment]  # arrays inside: like ndarray, not hashable

    def __reduce__(self) -> tuple:
        return (
            _unpickle,
            (
                self._weights,
                self._means,
                self._covariances,
                self._covariance_type,
                dict(self._metadata),
                self._prec_chol,
            ),
        )


def canonical_form(mixture: Mixture) -> Components:
    """The kernels' form of ``mixture`` (computed once and kept)."""
    if mixture._canonical is None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(mixture._weights)
        mixture._canonical = gaussian_form(
            log_weights, mixture._means, mixture._prec_chol, mixture._covariance_type
        )
    return mixture._canonical


def conditional_parts(mixture: Mixture, given: tuple) -> tuple:
    """What every conditional of ``mixture`` given the features ``given`` (validated indices,
    a strict subset) needs: ``(canonical form of the marginal over given, Regressions of the
    remaining features on them)``."""
    reg = regressions(mixture._means, mixture._covariances, mixture._covariance_type, tuple(given))
    return canonical_form(mixture.marginal(given)), reg


def _unpickle(weights, means, covariances, covariance_type, metadata, prec_chol) -> Mixture:
    mixture = Mixture(weights, means, covariances, covariance_type, metadata=metadata)
    return mixture._with_precisions_cholesky(prec_chol)


def _symmetrised(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Variances checked positive; matrices checked symmetric to ``_SYMMETRY_RTOL`` and
    returned as their symmetric part (positive definiteness is checked by the Cholesky
    factorisation that follows)."""
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0):
            where = np.argwhere(covariances <= 0)[0]
            raise ValueError(
                f"covariances for covariance_type={covariance_type!r} must be positive, got "
                f"{covariances[tuple(where)]!r} at index {tuple(int(i) for i in where)}"
            )
        return covariances
    stack = covariances if covariance_type == "full" else covariances[np.newaxis]
    asymmetry = np.abs(stack - stack.swapaxes(1, 2)).max(axis=(1, 2))
    scale = np.abs(stack).max(axis=(1, 2))
    bad = np.flatnonzero(asymmetry > _SYMMETRY_RTOL * scale)
    if bad.size:
        where = "covariances" if covariance_type == "tied" else f"covariances[{bad[0]}]"
        raise ValueError(
            f"{where} must be symmetric, got a relative asymmetry of "
            f"{asymmetry[bad[0]] / scale[bad[0]]:.3g} (at most {_SYMMETRY_RTOL:g} is taken for "
            "rounding)"
        )
    # Symmetric entries keep their bits; halving first keeps entries near the largest float
    # from overflowing.
    transposed = covariances.swapaxes(-1, -2)
    return np.where(covariances == transposed, covariances, 0.5 * covariances + 0.5 * transposed)


def _raise_not_positive_definite(covariances: np.ndarray, covariance_type: str) -> NoReturn:
    """Raise a ``ValueError`` naming the first matrix whose Cholesky factorisation fails."""
    stack = covariances if covariance_type == "full" else covariances[np.newaxis]
    for k, cov in enumerate(stack):
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            where = "covariances" if covariance_type == "tied" else f"covariances[{k}]"
            raise ValueError(
                f"{where} must be positive definite, but its Cholesky factorisation failed "
                f"(smallest eigenvalue {np.linalg.eigvalsh(cov).min():.3g})"
            ) from None
    raise ValueError("covariances must be positive definite")  # pragma: no cover
