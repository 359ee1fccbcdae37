"""``Mixture``: validated, immutable parameters of a Gaussian mixture."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import NoReturn

import numpy as np

from ._canonical import COVARIANCE_TYPES, Components, gaussian_form, precision_cholesky
from ._gaussian import full_covariances, ranking_log_prob, regressions, responsibilities
from ._validation import check_alpha_bar, check_dims, check_given, check_real, fitted_estimator

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

    New mixtures come from old ones in closed form: :meth:`marginal` and :meth:`condition`
    over some features, :meth:`affine` (A x + b), :meth:`convolve` (x plus independent
    Gaussian noise) and :meth:`diffuse` (the forward process of a diffusion model); the
    moments are :meth:`mean` and :meth:`covariance`, and a mixture of one feature has a
    :meth:`cdf`.
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

    def mean(self) -> np.ndarray:
        """The mixture's mean Σ_k w_k μ_k, shape (n_features,), in the features' units."""
        return self._weights @ self._means

    def covariance(self) -> np.ndarray:
        """The mixture's covariance, shape (n_features, n_features), in squared units.

        The law of total covariance: Σ_k w_k Σ_k (within the components) plus
        Σ_k w_k (μ_k − μ)(μ_k − μ)ᵀ (between them), with μ the mixture's :meth:`mean`. The means
        are centred before they are multiplied, which keeps the between part accurate for
        data far from the origin. Symmetric and positive definite.
        """
        w, d = self._weights, self.n_features
        cov, covariance_type = self._covariances, self._covariance_type
        if covariance_type == "full":
            within = np.einsum("k,kij->ij", w, cov)
        elif covariance_type == "tied":
            within = cov.copy()  # Σ_k w_k Σ = Σ, the weights summing to 1
        elif covariance_type == "diag":
            within = np.diag(w @ cov)
        else:
            within = (w @ cov) * np.eye(d)
        centred = self._means - self.mean()
        between = (centred * w[:, np.newaxis]).T @ centred
        total = within + between
        return 0.5 * (total + total.T)

    def affine(self, A, b=None) -> Mixture:
        """The mixture of ``A x + b`` for x drawn from this one.

        Component k becomes N(A μ_k + b, A Σ_k Aᵀ) with the same weight.

        Parameters
        ----------
        A : array-like of shape (m, n_features)
            Of full row rank m (so m <= n_features): a rank-deficient map would squeeze the
            mixture onto a subspace, where it has no density.
        b : array-like of shape (m,), optional
            The offset, zero by default.

        Returns
        -------
        Mixture over m features. The covariance type is kept where the map allows it: 'tied'
        and 'full' always; 'diag' when every row of A has a single non-zero entry (a scaling,
        possibly permuting or dropping features); 'spherical' when moreover those entries
        have equal magnitudes, or when A Aᵀ is a multiple of the identity to within rounding
        (a scaled rotation). Otherwise 'full'. A's covariance factor is carried through the
        map as a Gram matrix (A L)(A L)ᵀ with Σ_k = L Lᵀ, which stays symmetric positive
        semi-definite under rounding. The metadata is not carried over (the features have
        changed).

        Raises ``ValueError`` for A or b of the wrong shape, non-finite or complex values, A
        not of full row rank, and a map that overflows or is too close to singular for the
        covariances to stay positive definite in floating point.
        """
        d = self.n_features
        A = _as_float_array(A, "A")
        if A.ndim != 2 or A.shape[1] != d or A.shape[0] < 1:
            raise ValueError(
                f"A must have shape (m, {d}) with 1 <= m <= {d} for a mixture of {d} features, "
                f"got shape {A.shape}"
            )
        m = A.shape[0]
        if m > d:
            raise ValueError(
                f"A must have full row rank, but its {m} rows in {d} dimensions are linearly "
                f"dependent (A of shape {A.shape}; at most {d} rows)"
            )
        rank = int(np.linalg.matrix_rank(A))
        if rank < m:
            raise ValueError(
                f"A must have full row rank {m}, got rank {rank}: A x + b would lie on a "
                f"{rank}-dimensional subspace, where it has no density"
            )
        if b is None:
            offset = np.zeros(m)
        else:
            offset = _as_float_array(b, "b")
            if offset.shape != (m,):
                raise ValueError(
                    f"b must have shape ({m},) for A of shape {A.shape}, got {offset.shape}"
                )
        with _overflow_checked():
            means = self._means @ A.T + offset
            covariances, covariance_type = _mapped_covariances(
                A, self._covariances, self._covariance_type
            )
        return _derived(
            "A x + b", self._weights, means, covariances, covariance_type, metadata=None
        )

    def convolve(self, covariance) -> Mixture:
        """The mixture of ``x + ε``, ε ~ N(0, ``covariance``) independent of x.

        Component k becomes N(μ_k, Σ_k + C) with the same weight (the density is the
        convolution of this mixture's with the noise's).

        Parameters
        ----------
        covariance : float, array-like of shape (n_features,) or (n_features, n_features)
            The noise's covariance C, in squared units of the features: a variance c >= 0
            (C = c I), variances >= 0 per feature (C diagonal; 0 adds no noise to that
            feature), or a symmetric positive definite matrix (symmetric to a relative 1e-3,
            as :class:`Mixture` takes matrices; a diagonal matrix is taken as its diagonal).

        Returns
        -------
        Mixture of the same features, with this one's metadata. The covariance type is kept
        where it can be: a scalar keeps every type, a diagonal keeps 'full', 'tied' and 'diag'
        ('spherical' becomes 'diag', or stays 'spherical' for equal variances), a full matrix
        keeps 'full' and 'tied' ('diag' and 'spherical' become 'full'). Variances are added
        on the diagonals only, so off-diagonal entries keep their bits.

        Raises ``ValueError`` for a covariance of another shape, a negative, NaN or infinite
        variance, or a matrix that is not symmetric positive definite.
        """
        noise = _noise_covariance(covariance, self.n_features)
        with _overflow_checked():
            covariances, covariance_type = _convolved_covariances(
                self._covariances, self._covariance_type, noise, self.n_components
            )
        return _derived(
            "x + ε",
            self._weights,
            self._means,
            covariances,
            covariance_type,
            metadata=self._metadata,
        )

    def diffuse(self, alpha_bar) -> Mixture:
        """The marginal q(x_t) of the diffusion forward process started from this mixture:
        the mixture of ``√ᾱ x + √(1 − ᾱ) ε``, ε ~ N(0, I) independent of x.

        Component k becomes N(√ᾱ μ_k, ᾱ Σ_k + (1 − ᾱ) I) with the same weight; every
        covariance type is kept. At ᾱ = 1 this is the mixture itself (``diffuse(1)`` returns
        ``self``); as ᾱ → 0 it tends to the standard normal.

        Parameters
        ----------
        alpha_bar : float in (0, 1]
            ᾱ_t, the fraction of the data's variance kept after t steps (a value of a
            :mod:`gmmfast.diffusion` schedule).

        Returns
        -------
        Mixture of the same number of features, without metadata (the coordinates are
        scaled by √ᾱ), or ``self`` for ᾱ = 1.

        Raises ``ValueError`` for ᾱ outside (0, 1] or NaN, ``TypeError`` for a bool or
        something that is not a number.
        """
        values = check_alpha_bar(alpha_bar)
        if values.ndim != 0:
            raise ValueError(
                f"alpha_bar must be a single number, got an array of shape {values.shape}"
            )
        a = float(values)
        if a == 1.0:
            return self
        noise = 1.0 - a  # exact for a >= 0.5 (Sterbenz)
        d, covariance_type = self.n_features, self._covariance_type
        with _overflow_checked():  # ᾱ Σ may underflow where Σ is tiny; the noise keeps it > 0
            covariances = a * self._covariances
            if covariance_type in ("full", "tied"):
                covariances[..., np.arange(d), np.arange(d)] += noise
            else:
                covariances = covariances + noise
        return _derived(
            "√ᾱ x + √(1 − ᾱ) ε",
            self._weights,
            math.sqrt(a) * self._means,
            covariances,
            covariance_type,
            metadata=None,
        )

    def cdf(self, x) -> np.ndarray:
        """The cumulative distribution function P(X <= x) of a mixture of one feature.

        Σ_k w_k Φ((x − μ_k) / σ_k), Φ the standard normal CDF (``scipy.special.ndtr``,
        accurate in the lower tail), summed over components in a fixed order, so the result
        at x does not depend on the other values asked for. For a feature j of a larger
        mixture, ``model.marginal([j]).cdf(b) - model.marginal([j]).cdf(a)`` is the
        probability that it falls in (a, b].

        Parameters
        ----------
        x : float or array-like of any shape
            Values of the feature; −inf and +inf are allowed (0 and 1).

        Returns
        -------
        ndarray of the shape of ``x``, float64, in [0, 1] and non-decreasing in x (a NumPy
        float for a scalar ``x``).

        Raises ``ValueError`` for a mixture of more than one feature and for NaN, complex
        or text values.
        """
        if self.n_features != 1:
            raise ValueError(
                f"cdf is defined for mixtures of one feature, this one has {self.n_features}: "
                "take the marginal of one feature first, model.marginal([j]).cdf(x)"
            )
        from scipy.special import ndtr  # here: ``import gmmfast`` does not import SciPy

        check_real(x, "x")
        try:
            values = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"x must be numbers, got {x!r}") from exc
        if np.isnan(values).any():
            raise ValueError("x must not be NaN")
        variances = full_covariances(self._covariances, self._covariance_type, self.n_components, 1)
        sd = np.sqrt(variances[:, 0, 0])
        out = np.zeros(values.shape)
        for w, mu, s in zip(self._weights, self._means[:, 0], sd):
            out += w * ndtr((values - mu) / s)
        # The weights sum to 1 only within rounding.
        return np.clip(out, 0.0, 1.0)[()]

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


def _symmetrised(
    covariances: np.ndarray, covariance_type: str, name: str = "covariances"
) -> np.ndarray:
    """Variances checked positive; matrices checked symmetric to ``_SYMMETRY_RTOL`` and
    returned as their symmetric part (positive definiteness is checked by the Cholesky
    factorisation that follows). ``name`` is the argument named in the errors."""
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0):
            where = np.argwhere(covariances <= 0)[0]
            raise ValueError(
                f"{name} for covariance_type={covariance_type!r} must be positive, got "
                f"{float(covariances[tuple(where)])!r} at index {tuple(int(i) for i in where)}"
            )
        return covariances
    stack = covariances if covariance_type == "full" else covariances[np.newaxis]
    asymmetry = np.abs(stack - stack.swapaxes(1, 2)).max(axis=(1, 2))
    scale = np.abs(stack).max(axis=(1, 2))
    bad = np.flatnonzero(asymmetry > _SYMMETRY_RTOL * scale)
    if bad.size:
        where = name if covariance_type == "tied" else f"{name}[{bad[0]}]"
        raise ValueError(
            f"{where} must be symmetric, got a relative asymmetry of "
            f"{asymmetry[bad[0]] / scale[bad[0]]:.3g} (at most {_SYMMETRY_RTOL:g} is taken for "
            "rounding)"
        )
    # Symmetric entries keep their bits; halving first keeps entries near the largest float
    # from overflowing.
    transposed = covariances.swapaxes(-1, -2)
    return np.where(covariances == transposed, covariances, 0.5 * covariances + 0.5 * transposed)


def _raise_not_positive_definite(
    covariances: np.ndarray, covariance_type: str, name: str = "covariances"
) -> NoReturn:
    """Raise a ``ValueError`` naming the first matrix whose Cholesky factorisation fails
    (``name``: the argument, as the user calls it)."""
    stack = covariances if covariance_type == "full" else covariances[np.newaxis]
    for k, cov in enumerate(stack):
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            where = name if covariance_type == "tied" else f"{name}[{k}]"
            raise ValueError(
                f"{where} must be positive definite, but its Cholesky factorisation failed "
                f"(smallest eigenvalue {np.linalg.eigvalsh(cov).min():.3g})"
            ) from None
    raise ValueError(f"{name} must be positive definite")  # pragma: no cover


# Maps of a mixture compute their parameters under this and check them afterwards (see
# :func:`_derived`): a result that overflows is one ValueError, not warnings and then an error.
def _overflow_checked() -> np.errstate:
    return np.errstate(over="ignore", under="ignore", invalid="ignore")


def _derived(operation: str, weights, means, covariances, covariance_type, metadata) -> Mixture:
    """The Mixture a map of another one gives, with errors that say which map failed: the
    result's parameters overflowing, or its covariances no longer positive definite in
    floating point."""
    for name, array in (("means", means), ("covariances", covariances)):
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"the {name} of {operation} overflow (they are not finite in float64): the map "
                "is too large for this mixture"
            )
    try:
        return Mixture(weights, means, covariances, covariance_type, metadata=metadata)
    except ValueError as exc:
        raise ValueError(
            f"the mixture of {operation} is not valid in floating point: {exc} (the map is too "
            "large, too small or too close to singular for these covariances)"
        ) from exc


# A A ᵀ within this many rounding errors (per feature) of c I counts as c I: a rotation
# computed with cos and sin, or by a QR factorisation, is orthogonal only to rounding.
_ISOTROPY_ULPS = 16


def _row_columns(A: np.ndarray) -> np.ndarray | None:
    """The column of the one non-zero entry of each row of ``A``, or None if a row has more
    (A of full row rank: the columns are then distinct)."""
    nonzero = A != 0.0
    if np.all(nonzero.sum(axis=1) == 1):
        return nonzero.argmax(axis=1)
    return None


def _isotropic_gain(A: np.ndarray) -> float | None:
    """c if A Aᵀ = c I to within rounding (rows orthogonal, of equal norms), else None."""
    gram = A @ A.T
    c = float(np.mean(np.diagonal(gram)))
    tol = _ISOTROPY_ULPS * A.shape[1] * np.finfo(np.float64).eps * c
    if np.all(np.abs(gram - c * np.eye(A.shape[0])) <= tol):
        return c
    return None


def _mapped_covariances(A: np.ndarray, covariances: np.ndarray, covariance_type: str) -> tuple:
    """(covariances of A x, covariance type) for x with ``covariances`` of ``covariance_type``
    in scikit-learn's layout, A of full row rank (m, d): A Σ_k Aᵀ in the simplest layout."""
    m, d = A.shape
    columns = _row_columns(A)
    if covariance_type == "spherical":
        gain = _isotropic_gain(A)
        if gain is not None:
            return covariances * gain, "spherical"
    if covariance_type in ("diag", "spherical") and columns is not None:
        # Row i of A picks feature columns[i] and scales it by a_i: a variance times a_i².
        scale = np.square(A[np.arange(m), columns])
        variances = covariances[:, columns] if covariance_type == "diag" else covariances[:, None]
        return variances * scale, "diag"
    n_components = covariances.shape[0]
    if covariance_type == "tied":
        stack = covariances
    else:
        stack = full_covariances(covariances, covariance_type, n_components, d)
    # (A L)(A L)ᵀ: a Gram matrix, positive semi-definite whatever the rounding.
    mapped = A @ np.linalg.cholesky(stack)
    gram = mapped @ mapped.swapaxes(-1, -2)
    result_type = "tied" if covariance_type == "tied" else "full"
    return 0.5 * (gram + gram.swapaxes(-1, -2)), result_type


def _noise_covariance(covariance, d: int) -> tuple:
    """The noise covariance of :meth:`Mixture.convolve` checked and in its simplest form:
    ``('scalar', c)``, ``('diag', (d,) variances)`` or ``('full', (d, d) matrix)``."""
    noise = _as_float_array(covariance, "covariance")
    if noise.ndim == 2 and noise.shape == (d, d):
        noise = _symmetrised(noise, "tied", name="covariance")
        off_diagonal = noise[~np.eye(d, dtype=bool)]
        if np.any(off_diagonal != 0.0):
            try:
                np.linalg.cholesky(noise)
            except np.linalg.LinAlgError:
                _raise_not_positive_definite(noise, "tied", name="covariance")
            return "full", noise
        noise = np.diagonal(noise).copy()
    if noise.ndim == 0 or noise.shape == (d,):
        if np.any(noise < 0):
            raise ValueError(f"covariance must hold variances >= 0, got {float(noise.min())!r}")
        if noise.ndim == 0:
            return "scalar", float(noise)
        if np.all(noise == noise[0]):
            return "scalar", float(noise[0])
        return "diag", noise
    raise ValueError(
        f"covariance must be a number, an array of shape ({d},) (variances) or ({d}, {d}) (a "
        f"matrix) for a mixture of {d} features, got shape {noise.shape}"
    )


def _convolved_covariances(covariances, covariance_type: str, noise: tuple, n_components: int):
    """(covariances of x + ε, covariance type) for x with ``covariances`` of
    ``covariance_type`` and ε of covariance ``noise`` (from :func:`_noise_covariance`)."""
    kind, value = noise
    if kind == "scalar" or (kind == "diag" and covariance_type != "spherical"):
        if covariance_type in ("full", "tied"):
            d = covariances.shape[-1]
            out = covariances.copy()
            out[..., np.arange(d), np.arange(d)] += value
            return out, covariance_type
        return covariances + value, covariance_type
    if kind == "diag":  # spherical components, unequal noise variances
        return covariances[:, np.newaxis] + value, "diag"
    if covariance_type == "tied":
        return covariances + value, "tied"
    d = value.shape[0]
    return full_covariances(covariances, covariance_type, n_components, d) + value, "full"
