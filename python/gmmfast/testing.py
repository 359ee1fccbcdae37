"""Hypothesis strategies and assertion helpers for property-testing Gaussian-mixture code.

Public, so that projects building on gmmfast (or testing their own GMM code) can use them::

    from hypothesis import given
    from gmmfast.testing import mixtures, points, assert_log_density_close
    import gmmfast.reference as ref

    @given(mixtures(), st.data())
    def test_mine(mixture, data):
        X = data.draw(points(mixture.n_features))
        assert_log_density_close(my_score(mixture, X), ref.score_samples(mixture, X))

Requires ``hypothesis`` (installed with ``gmmfast[test]``).

The strategies draw the *structure* of a mixture (dimension, number of components, covariance
type, condition number, spread of the weights) with Hypothesis, so failures shrink towards small
simple cases, and draw the bulk values (rotations, means) from a NumPy generator seeded by
Hypothesis, which keeps example generation fast for K = 64 components in 6 dimensions.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from ._canonical import COVARIANCE_TYPES, precision_cholesky
from ._grid import Grid
from ._mixture import Mixture
from ._model import scoring_form
from .reference import weighted_log_prob

__all__ = [
    "assert_labels_consistent",
    "assert_log_density_close",
    "assert_proba_close",
    "grids",
    "mixtures",
    "points",
    "sklearn_mixtures",
    "to_sklearn",
]

_SEEDS = st.integers(0, 2**32 - 1)


def _as_strategy(value, name: str) -> SearchStrategy:
    if isinstance(value, SearchStrategy):
        return value
    if isinstance(value, (int, np.integer)):
        return st.just(int(value))
    if isinstance(value, tuple) and len(value) == 2:
        return st.integers(int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int, a (min, max) pair or a strategy, got {value!r}")


def _spd(rng: np.random.Generator, d: int, scale: float, log10_cond: float) -> np.ndarray:
    """A random symmetric positive definite d × d matrix of condition number 10**log10_cond
    (exactly, up to rounding) whose eigenvalues are spread log-uniformly around ``scale``."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    exponents = rng.uniform(0.0, 1.0, size=d)
    exponents[0], exponents[-1] = 0.0, 1.0  # make the condition number the one asked for
    eig = scale * 10.0 ** (log10_cond * (exponents[:d] - 0.5))
    cov = (q * eig) @ q.T
    return 0.5 * (cov + cov.T)


@st.composite
def _parameters(draw, n_features, n_components, covariance_types, max_condition, spread):
    d = draw(_as_strategy(n_features, "n_features"))
    k = draw(_as_strategy(n_components, "n_components"))
    covariance_type = draw(st.sampled_from(tuple(covariance_types)))
    log10_cond = draw(st.floats(0.0, float(np.log10(max_condition))))
    # Component scales between 1e-2 and 1e1 times the spread of the means, so that mixtures
    # range from well separated spikes to heavily overlapping blobs.
    log10_scale = draw(st.floats(-2.0, 1.0))
    weight_skew = draw(st.floats(0.0, 6.0))  # weights spread over up to 6 decades
    rng = np.random.default_rng(draw(_SEEDS))

    means = rng.uniform(-spread, spread, size=(k, d))
    raw = 10.0 ** rng.uniform(-weight_skew, 0.0, size=k)
    weights = raw / raw.sum()
    scale = (spread * 10.0**log10_scale) ** 2 / max(d, 1)
    if covariance_type == "full":
        covs = np.stack([_spd(rng, d, scale, log10_cond) for _ in range(k)])
    elif covariance_type == "tied":
        covs = _spd(rng, d, scale, log10_cond)
    elif covariance_type == "diag":
        covs = scale * 10.0 ** (log10_cond * (rng.uniform(size=(k, d)) - 0.5))
    else:
        covs = scale * 10.0 ** (log10_cond * (rng.uniform(size=k) - 0.5))
    return weights, means, covs, covariance_type, rng


def mixtures(
    *,
    n_features=(1, 6),
    n_components=(1, 16),
    covariance_types=COVARIANCE_TYPES,
    max_condition: float = 1e6,
    spread: float = 10.0,
) -> SearchStrategy[Mixture]:
    """Random valid :class:`~gmmfast.Mixture` objects.

    Parameters
    ----------
    n_features, n_components : int, (min, max) or strategy of int
    covariance_types : iterable of {'full', 'tied', 'diag', 'spherical'}
    max_condition : float
        Largest condition number of a covariance matrix ('full', 'tied'), or ratio between the
        largest and smallest variance of a component ('diag') or between components
        ('spherical').
    spread : float
        Means are uniform in [-spread, spread]^d; component scales range from 1e-2 to 10 times
        ``spread``.
    """
    return _parameters(n_features, n_components, covariance_types, max_condition, spread).map(
        lambda p: Mixture(*p[:4])
    )


def _fitted_attributes(est, mixture: Mixture) -> None:
    est.weights_ = np.array(mixture.weights)
    est.means_ = np.array(mixture.means)
    est.covariances_ = np.array(mixture.covariances)
    est.precisions_cholesky_ = precision_cholesky(est.covariances_, mixture.covariance_type)
    if mixture.covariance_type in ("full", "tied"):
        est.precisions_ = est.precisions_cholesky_ @ np.swapaxes(est.precisions_cholesky_, -1, -2)
    else:
        est.precisions_ = est.precisions_cholesky_**2
    est.n_features_in_ = mixture.n_features
    est.converged_ = True
    est.n_iter_ = 1
    est.lower_bound_ = 0.0


def to_sklearn(
    mixture: Mixture,
    bayesian: bool = False,
    *,
    prior_type: str = "dirichlet_process",
    random_state=None,
):
    """A scikit-learn estimator that behaves as if fitted to ``mixture``'s parameters.

    ``bayesian=False`` gives a ``GaussianMixture``. ``bayesian=True`` gives a
    ``BayesianGaussianMixture`` whose ``weights_``, ``means_`` and ``covariances_`` are the
    mixture's and whose variational parameters (concentrations, degrees of freedom, mean
    precisions) are drawn at random from ``random_state``, consistently with the weights. Its
    ``score_samples`` then includes the digamma terms that a plain mixture does not have. For
    ``prior_type='dirichlet_process'`` the weights are those of the stick-breaking
    parameters, so they may differ from ``mixture.weights`` in the last bits.
    """
    d, k = mixture.n_features, mixture.n_components
    if not bayesian:
        est = GaussianMixture(n_components=k, covariance_type=mixture.covariance_type)
        _fitted_attributes(est, mixture)
        return est
    rng = np.random.default_rng(random_state)
    est = BayesianGaussianMixture(
        n_components=k,
        covariance_type=mixture.covariance_type,
        weight_concentration_prior_type=prior_type,
    )
    w = np.array(mixture.weights)
    total = rng.uniform(1.0, 1e3, size=k)
    if prior_type == "dirichlet_process":
        # Stick breaking: w_k = v_k Π_{j<k} (1 − v_j) with v_k = α_k / (α_k + β_k).
        remaining = np.clip(1.0 - np.concatenate(([0.0], np.cumsum(w)[:-1])), 1e-300, None)
        v = np.clip(w / remaining, 1e-12, 1.0 - 1e-12)
        alpha, beta = v * total, (1.0 - v) * total
        est.weight_concentration_ = (alpha, beta)
        stick = alpha / (alpha + beta) * np.hstack((1.0, np.cumprod(beta / (alpha + beta))[:-1]))
        w = stick / stick.sum()
    else:
        est.weight_concentration_ = w * total.sum()
    mixture = Mixture(w, mixture.means, mixture.covariances, mixture.covariance_type)
    _fitted_attributes(est, mixture)
    est.degrees_of_freedom_ = d - 1.0 + rng.uniform(1.0, 100.0, size=k)
    est.mean_precision_ = 10.0 ** rng.uniform(-2.0, 3.0, size=k)
    return est


def sklearn_mixtures(*, bayesian: bool | None = None, **mixture_kwargs) -> SearchStrategy:
    """scikit-learn estimators set to random parameters (see :func:`to_sklearn`).

    ``bayesian=None`` draws ``GaussianMixture`` and both kinds of ``BayesianGaussianMixture``;
    the other keyword arguments go to :func:`mixtures`.
    """
    kinds = {None: (False, True), False: (False,), True: (True,)}[bayesian]

    @st.composite
    def build(draw):
        mixture = draw(mixtures(**mixture_kwargs))
        is_bayesian = draw(st.sampled_from(kinds))
        prior = draw(st.sampled_from(("dirichlet_process", "dirichlet_distribution")))
        return to_sklearn(mixture, is_bayesian, prior_type=prior, random_state=draw(_SEEDS))

    return build()


def _ranges(span: float) -> SearchStrategy:
    ends = st.floats(-span, span, allow_nan=False, allow_infinity=False)
    return st.tuples(ends, ends)


def grids(*, max_width: int = 40, max_height: int = 40, span: float = 20.0) -> SearchStrategy[Grid]:
    """Random grids of 1 × 1 to ``max_height`` × ``max_width`` pixels whose ranges lie in
    [-span, span], reversed or not, possibly of zero extent."""
    return st.builds(
        Grid,
        st.integers(1, max_width),
        st.integers(1, max_height),
        _ranges(span),
        _ranges(span),
    )


def points(
    n_features: int, *, max_points: int = 50, spread: float = 10.0, far: float = 1e3
) -> SearchStrategy[np.ndarray]:
    """Arrays of shape (n, n_features), n in [1, max_points]: about half uniform in
    [-spread, spread]^d (where :func:`mixtures` puts its means) and half far away, at distances
    up to ``far × spread`` in random directions."""

    @st.composite
    def build(draw):
        n = draw(st.integers(1, max_points))
        rng = np.random.default_rng(draw(_SEEDS))
        near = rng.uniform(-spread, spread, size=(n, n_features))
        direction = rng.standard_normal((n, n_features))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-300
        distance = spread * 10.0 ** rng.uniform(0.0, np.log10(far), size=(n, 1))
        is_far = rng.uniform(size=(n, 1)) < 0.5
        return np.where(is_far, direction * distance, near)

    return build()


def assert_log_density_close(actual, desired, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    """Log-densities agree: |actual − desired| ≤ atol + rtol·|desired| elementwise, no NaN,
    infinities in the same places."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, f"shape {actual.shape} != {desired.shape}"
    assert not np.isnan(actual).any(), "actual log-density contains NaN"
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def assert_proba_close(actual, desired, atol: float = 1e-9) -> None:
    """Responsibilities agree to ``atol`` and every row of ``actual`` sums to 1."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, f"shape {actual.shape} != {desired.shape}"
    assert not np.isnan(actual).any(), "responsibilities contain NaN"
    np.testing.assert_allclose(actual.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(actual, desired, rtol=0, atol=atol)


def assert_labels_consistent(labels, model, X, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    """Every label names a component whose weighted log-density at its point is the maximum,
    up to rounding: l[i, labels[i]] ≥ max_k l[i, k] − (atol + rtol·|max|), with l from the
    NumPy reference. Exact equality of labels cannot be asked of two correct implementations
    where two components tie to the last bits.
    """
    labels = np.asarray(labels)
    X = np.asarray(X, dtype=np.float64)
    assert labels.shape == X.shape[:1], f"labels shape {labels.shape} for {X.shape[0]} points"
    form = scoring_form(model)
    log_prob = weighted_log_prob(form, X)
    assert labels.min() >= 0 and labels.max() < form.n_components, "label out of range"
    best = log_prob.max(axis=1)
    chosen = log_prob[np.arange(len(labels)), labels]
    slack = atol + rtol * np.abs(best)
    bad = np.flatnonzero(chosen < best - slack)
    assert bad.size == 0, (
        f"{bad.size} labels are not a most responsible component, first at point {bad[0]}: "
        f"label {labels[bad[0]]} has {chosen[bad[0]]!r}, the best {best[bad[0]]!r}"
    )
