"""The NumPy reference itself, against independent formulas and scikit-learn."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

import gmmfast
import gmmfast.reference as ref
from gmmfast.testing import (
    assert_log_density_close,
    assert_proba_close,
    grids,
    mixtures,
    points,
    to_sklearn,
)


def full_covariances(mixture):
    c, k, d = mixture.covariances, mixture.n_components, mixture.n_features
    return {
        "full": lambda: c,
        "tied": lambda: np.broadcast_to(c, (k, d, d)),
        "diag": lambda: np.stack([np.diag(v) for v in c]),
        "spherical": lambda: c[:, None, None] * np.eye(d),
    }[mixture.covariance_type]()


def scipy_log_prob(mixture, X):
    """log w_k + log N(x; μ_k, Σ_k) by scipy.stats, column k."""
    covs = full_covariances(mixture)
    return np.column_stack(
        [
            np.log(w) + multivariate_normal(mu, cov).logpdf(X).reshape(-1)
            for w, mu, cov in zip(mixture.weights, mixture.means, covs)
        ]
    )


@given(mixtures(n_components=(1, 12), max_condition=1e4), st.data())
def test_reference_matches_scipy_stats(mixture, data):
    X = data.draw(points(mixture.n_features, far=10.0))
    log_prob = scipy_log_prob(mixture, X)
    # scipy computes through an eigendecomposition: agreement to 1e-8 is all it offers.
    assert_log_density_close(ref.score_samples(mixture, X), logsumexp(log_prob, axis=1), 1e-8)
    expected = np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))
    assert_proba_close(ref.predict_proba(mixture, X), expected, atol=1e-8)


@given(mixtures(n_components=(1, 12)), st.data())
def test_reference_matches_scikit_learn(mixture, data):
    X = data.draw(points(mixture.n_features))
    est = to_sklearn(mixture)
    assert_log_density_close(ref.score_samples(mixture, X), est.score_samples(X))
    assert_proba_close(ref.predict_proba(mixture, X), est.predict_proba(X))


@given(mixtures(n_features=2), grids())
def test_reference_grid_is_its_points(mixture, grid):
    np.testing.assert_array_equal(
        ref.log_density_grid(mixture, grid, chunk_size=7).ravel(),
        ref.score_samples(mixture, grid.points()),
    )
    np.testing.assert_array_equal(
        ref.label_grid(mixture, grid).ravel(), ref.predict(mixture, grid.points())
    )


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1000, 2)) * 5
    est = GaussianMixture(n_components=5, random_state=0).fit(X)
    for chunk in (1, 7, 999, 5000):
        np.testing.assert_array_equal(
            ref.score_samples(est, X, chunk_size=chunk), ref.score_samples(est, X)
        )


def test_degenerate_rows():
    log_prob = np.array([[-np.inf, -np.inf], [np.nan, 0.0], [-1e300, -np.inf]])
    np.testing.assert_array_equal(ref.log_sum_exp(log_prob), [-np.inf, 0.0, -1e300])
    np.testing.assert_array_equal(ref.responsibilities(log_prob), [[1, 0], [0, 1], [1, 0]])


@pytest.mark.parametrize("function", [ref.score_samples, ref.predict_proba, ref.predict])
def test_reference_validates_like_the_compiled_functions(function):
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    with pytest.raises(ValueError, match="X has 3 features"):
        function(m, np.zeros((2, 3)))
