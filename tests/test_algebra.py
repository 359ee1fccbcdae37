"""Gaussian algebra on mixtures: mean, covariance, affine, convolve, diffuse and cdf.

Every result is checked against truth computed here, from first principles, not by the code
under test: the parameters against the textbook formulas (A μ + b, A Σ Aᵀ, Σ + C, written out
with the covariances expanded to matrices by this file), densities against the change of
variables p_Y(y) = p_X(A⁻¹(y − b)) / |det A| and against numerical integration, and the
distributions against Monte Carlo: samples of the original pushed through the map against
samples of the result.

Statistical tests use fixed seeds, so they pass or fail the same way on every run; their
thresholds keep the probability that a correct implementation fails them (over the choice of
seed) at or below about 1e-6 per test.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
from gmmfast.testing import mixtures

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
# Per-test false-failure probability of the statistical tests.
ALPHA = 1e-6


def make_mixture(covariance_type: str, d: int = 3, seed: int = 7) -> gmmfast.Mixture:
    """Three overlapping, correlated components of unequal weights."""
    rng = np.random.default_rng(seed)
    k = 3
    means = rng.uniform(-4, 4, size=(k, d))
    weights = np.array([0.2, 0.5, 0.3])
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        cov = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(d)
    elif covariance_type == "tied":
        a = rng.normal(size=(d, d))
        cov = a @ a.T + 0.3 * np.eye(d)
    elif covariance_type == "diag":
        cov = rng.uniform(0.2, 3.0, size=(k, d))
    else:
        cov = rng.uniform(0.2, 3.0, size=k)
    return gmmfast.Mixture(weights, means, cov, covariance_type)


def dense(mixture: gmmfast.Mixture) -> np.ndarray:
    """Σ_k as a (K, d, d) stack of matrices, whatever the covariance type."""
    k, d, cov = mixture.n_components, mixture.n_features, mixture.covariances
    if mixture.covariance_type == "full":
        return np.array(cov)
    if mixture.covariance_type == "tied":
        return np.array([cov] * k)
    if mixture.covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(d) for c in cov])


def moments(mixture: gmmfast.Mixture) -> tuple:
    """E[x] = Σ w μ and Cov[x] = Σ w (Σ_k + μ_k μ_kᵀ) − E[x] E[x]ᵀ, by a loop over the
    components (the raw-moment form; the code under test centres first)."""
    d = mixture.n_features
    mean, second = np.zeros(d), np.zeros((d, d))
    for w, mu, cov in zip(mixture.weights, mixture.means, dense(mixture)):
        mean += w * mu
        second += w * (cov + np.outer(mu, mu))
    return mean, second - np.outer(mean, mean)


def assert_moments(Y: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """The sample mean and covariance of Y agree with ``mean`` and ``cov`` within their
    standard errors: Hotelling's n δᵀ C⁻¹ δ below the χ²_d quantile, and each covariance
    entry within z standard errors of its estimate (the empirical variance of the products of
    centred coordinates), with the level split over the d(d+1)/2 + 1 checks."""
    n, d = Y.shape
    checks = d * (d + 1) // 2 + 1
    delta = Y.mean(axis=0) - mean
    assert n * delta @ np.linalg.solve(cov, delta) < stats.chi2.isf(ALPHA / checks, d)
    centred = Y - mean
    products = centred[:, :, None] * centred[:, None, :]
    z = stats.norm.isf(ALPHA / checks / 2)
    se = products.std(axis=0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(products.mean(axis=0) - cov), z * se)


def assert_same_distribution(Y: np.ndarray, Z: np.ndarray, seed: int = 0) -> None:
    """Two-sample Kolmogorov-Smirnov tests on every coordinate and on three random
    directions (which see the correlations), Bonferroni-corrected to ALPHA in all."""
    rng = np.random.default_rng(seed)
    directions = np.vstack([np.eye(Y.shape[1]), rng.normal(size=(3, Y.shape[1]))])
    for u in directions:
        p = stats.ks_2samp(Y @ u, Z @ u).pvalue
        assert p > ALPHA / len(directions), f"direction {u}: p = {p:.3g}"


def assert_close_matrices(actual: np.ndarray, desired: np.ndarray, rtol: float = 1e-12) -> None:
    """Equal to within rounding relative to the largest entry of each matrix."""
    assert actual.shape == desired.shape, f"shape {actual.shape} != {desired.shape}"
    scale = np.abs(desired).max(axis=(-2, -1), keepdims=True)
    error = np.abs(actual - desired) / scale
    assert np.all(error <= rtol), f"largest relative error {error.max():.3g} > {rtol:g}"


# --------------------------------------------------------------------------------------------
# mean and covariance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mean_and_covariance_are_those_of_the_samples(covariance_type):
    m = make_mixture(covariance_type)
    X, _ = gmmfast.sample(m, 100_000, random_state=1)
    mean, cov = m.mean(), m.covariance()
    assert mean.shape == (3,) and cov.shape == (3, 3)
    assert_moments(X, mean, cov)


@given(mixtures(n_features=(1, 6), n_components=(1, 12)))
def test_mean_and_covariance_follow_the_law_of_total_covariance(m):
    mean, cov = moments(m)
    scale = np.abs(m.means).max() ** 2 + np.abs(dense(m)).max()
    np.testing.assert_allclose(m.mean(), mean, rtol=1e-12, atol=1e-12 * np.abs(m.means).max())
    np.testing.assert_allclose(m.covariance(), cov, rtol=0, atol=1e-12 * scale)
    result = m.covariance()
    np.testing.assert_array_equal(result, result.T)
    assert np.linalg.eigvalsh(result).min() > 0


def test_covariance_stays_accurate_far_from_the_origin():
    # Two unit components at 1e8 ± 1: the raw-moment formula would cancel to nothing.
    m = gmmfast.Mixture([0.5, 0.5], [[1e8 - 1.0], [1e8 + 1.0]], [1.0, 1.0], "spherical")
    assert m.mean()[0] == 1e8
    np.testing.assert_allclose(m.covariance(), [[2.0]], rtol=1e-15)


# --------------------------------------------------------------------------------------------
# affine
# --------------------------------------------------------------------------------------------

ROTATION = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
MAPS = {
    "general": np.array([[1.0, 0.5, -0.2], [0.3, -1.0, 0.4], [0.0, 0.7, 2.0]]),
    "wide": np.array([[1.0, 0.5, -0.2], [0.3, -1.0, 0.4]]),
    "row": np.array([[1.0, -2.0, 0.5]]),
    "scaling": np.diag([2.0, -0.5, 3.0]),
    "permuted scaling": np.array([[0.0, 3.0, 0.0], [0.0, 0.0, -1.5], [2.0, 0.0, 0.0]]),
    "selection": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
    "scaled rotation": 2.5 * ROTATION,
    "multiple of identity": -3.0 * np.eye(3),
}
# The covariance type each map keeps, per type of the original.
KEPT = {
    "full": dict.fromkeys(MAPS, "full"),
    "tied": dict.fromkeys(MAPS, "tied"),
    "diag": {
        "general": "full",
        "wide": "full",
        "row": "full",
        "scaling": "diag",
        "permuted scaling": "diag",
        "selection": "diag",
        "scaled rotation": "full",
        "multiple of identity": "diag",
    },
    "spherical": {
        "general": "full",
        "wide": "full",
        "row": "spherical",  # one feature: every 1 × 1 covariance is spherical
        "scaling": "diag",
        "permuted scaling": "diag",
        "selection": "spherical",
        "scaled rotation": "spherical",
        "multiple of identity": "spherical",
    },
}


@pytest.mark.parametrize("name", list(MAPS))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_affine_parameters_are_the_direct_formulas(covariance_type, name):
    m = make_mixture(covariance_type)
    A = MAPS[name]
    b = np.arange(1.0, A.shape[0] + 1.0) * 0.7
    result = m.affine(A, b)
    assert result.covariance_type == KEPT[covariance_type][name]
    assert (result.n_components, result.n_features) == (3, A.shape[0])
    np.testing.assert_array_equal(result.weights, m.weights)
    expected_means = np.array([A @ mu + b for mu in m.means])
    np.testing.assert_allclose(result.means, expected_means, rtol=1e-13, atol=1e-13)
    expected = np.array([A @ cov @ A.T for cov in dense(m)])
    assert_close_matrices(dense(result), expected)
    assert result.metadata == {}


@pytest.mark.parametrize("name", ["general", "permuted scaling", "scaled rotation"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_affine_density_is_the_change_of_variables(covariance_type, name):
    m = make_mixture(covariance_type)
    A, b = MAPS[name], np.array([1.0, -2.0, 0.5])
    result = m.affine(A, b)
    Y = np.random.default_rng(5).normal(scale=4.0, size=(200, 3))
    back = np.linalg.solve(A, (Y - b).T).T
    expected = gmmfast.score_samples(m, back) - np.log(abs(np.linalg.det(A)))
    np.testing.assert_allclose(gmmfast.score_samples(result, Y), expected, rtol=1e-10, atol=1e-10)


@given(mixtures(n_features=(1, 5), max_condition=1e4), st.integers(0, 2**32 - 1))
def test_affine_density_is_the_change_of_variables_on_random_mixtures(m, seed):
    rng = np.random.default_rng(seed)
    d = m.n_features
    # A well-conditioned map: a rotation between two scalings in [0.5, 2] (condition <= 16).
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    A = np.diag(rng.uniform(0.5, 2.0, d)) @ q @ np.diag(rng.uniform(0.5, 2.0, d))
    b = rng.uniform(-5, 5, d)
    result = m.affine(A, b)
    Y = rng.uniform(-15, 15, size=(20, d))
    back = np.linalg.solve(A, (Y - b).T).T
    expected = gmmfast.score_samples(m, back) - np.log(abs(np.linalg.det(A)))
    np.testing.assert_allclose(gmmfast.score_samples(result, Y), expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", ["general", "wide", "row", "permuted scaling"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_affine_against_monte_carlo(covariance_type, name):
    m = make_mixture(covariance_type)
    A = MAPS[name]
    b = np.full(A.shape[0], -1.5)
    result = m.affine(A, b)
    X, _ = gmmfast.sample(m, 20_000, random_state=11)
    pushed = X @ A.T + b
    Z, _ = gmmfast.sample(result, 20_000, random_state=12)
    assert_same_distribution(pushed, Z)
    mean, cov = moments(result)
    assert_moments(pushed, mean, cov)


def test_affine_without_offset_is_linear():
    m = make_mixture("full")
    np.testing.assert_array_equal(m.affine(MAPS["general"]).means, m.means @ MAPS["general"].T)


def test_affine_of_a_selection_is_the_marginal():
    m = make_mixture("full")
    picked = m.affine(MAPS["selection"])
    marginal = m.marginal([2, 0])
    np.testing.assert_array_equal(picked.means, marginal.means)
    assert_close_matrices(picked.covariances, marginal.covariances, rtol=1e-15)


@pytest.mark.parametrize(
    ("A", "b", "match"),
    [
        (np.eye(2), None, r"A must have shape \(m, 3\) with 1 <= m <= 3 .* got shape \(2, 2\)"),
        (np.ones(3), None, r"A must have shape \(m, 3\).*got shape \(3,\)"),
        (np.ones((4, 3)), None, r"full row rank, but its 4 rows in 3 dimensions"),
        ([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], None, "full row rank 2, got rank 1"),
        (np.zeros((1, 3)), None, "full row rank 1, got rank 0"),
        ([[1.0, np.nan, 0.0]], None, "A must be finite"),
        ([[1.0 + 1j, 0.0, 0.0]], None, "A must be an array of real numbers"),
        ([["a", "b", "c"]], None, "A must be an array of numbers"),
        (np.eye(3), [1.0, 2.0], r"b must have shape \(3,\) for A of shape \(3, 3\), got \(2,\)"),
        (np.eye(3), [1.0, np.inf, 2.0], "b must be finite"),
        (1e200 * np.eye(3), None, "covariances of A x \\+ b overflow"),
        (1e-170 * np.eye(3), None, "not valid in floating point.*must be positive"),
    ],
)
def test_bad_affine_maps_are_value_errors(A, b, match):
    m = make_mixture("spherical")
    with pytest.raises(ValueError, match=match):
        m.affine(A, b)


# --------------------------------------------------------------------------------------------
# convolve
# --------------------------------------------------------------------------------------------

NOISES = {
    "scalar": 0.8,
    "equal variances": np.full(3, 0.8),
    "variances": np.array([0.5, 1.0, 2.0]),
    "diagonal matrix": np.diag([0.5, 1.0, 2.0]),
    "matrix": np.array([[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 0.7]]),
}
CONVOLVED_TYPE = {
    "full": dict.fromkeys(NOISES, "full"),
    "tied": dict.fromkeys(NOISES, "tied"),
    "diag": {**dict.fromkeys(NOISES, "diag"), "matrix": "full"},
    "spherical": {
        "scalar": "spherical",
        "equal variances": "spherical",
        "variances": "diag",
        "diagonal matrix": "diag",
        "matrix": "full",
    },
}


def noise_matrix(noise, d: int = 3) -> np.ndarray:
    noise = np.asarray(noise, dtype=float)
    return {0: lambda: noise * np.eye(d), 1: lambda: np.diag(noise), 2: lambda: noise}[noise.ndim]()


@pytest.mark.parametrize("name", list(NOISES))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convolve_parameters_are_the_direct_formulas(covariance_type, name):
    p = make_mixture(covariance_type)
    m = gmmfast.Mixture(p.weights, p.means, p.covariances, covariance_type, metadata={"w": 640})
    result = m.convolve(NOISES[name])
    assert result.covariance_type == CONVOLVED_TYPE[covariance_type][name]
    np.testing.assert_array_equal(result.weights, m.weights)
    np.testing.assert_array_equal(result.means, m.means)
    expected = dense(m) + noise_matrix(NOISES[name])
    assert_close_matrices(dense(result), expected, rtol=1e-15)
    assert result.metadata == {"w": 640}  # same features: the metadata still holds


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_convolve_adds_only_to_the_diagonal(covariance_type):
    m = make_mixture(covariance_type)
    result = m.convolve([0.5, 1.0, 2.0])
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(dense(result)[:, off], dense(m)[:, off])


@pytest.mark.parametrize("name", ["scalar", "variances", "matrix"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convolve_against_monte_carlo(covariance_type, name):
    m = make_mixture(covariance_type)
    result = m.convolve(NOISES[name])
    X, _ = gmmfast.sample(m, 20_000, random_state=21)
    rng = np.random.default_rng(22)
    noisy = X + rng.multivariate_normal(np.zeros(3), noise_matrix(NOISES[name]), size=len(X))
    Z, _ = gmmfast.sample(result, 20_000, random_state=23)
    assert_same_distribution(noisy, Z)
    assert_moments(noisy, m.mean(), moments(m)[1] + noise_matrix(NOISES[name]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convolved_density_is_the_convolution_integral(covariance_type):
    # p_Y(y) = ∫ p_X(x) φ(y − x; 0, c) dx, by quadrature, for a mixture of one feature.
    m = make_mixture(covariance_type).marginal([1])
    c = 0.6
    result = m.convolve(c)

    def integrand(x, y):
        log_p = gmmfast.score_samples(m, np.array([[x]]))[0]
        return np.exp(log_p) * stats.norm.pdf(y - x, scale=np.sqrt(c))

    for y in (-6.0, -1.3, 0.0, 2.5, 7.0):
        value, error = integrate.quad(integrand, -40, 40, args=(y,), points=m.means[:, 0])
        density = np.exp(gmmfast.score_samples(result, np.array([[y]]))[0])
        assert abs(density - value) <= 1e-9 + 10 * error


@given(mixtures(n_features=(1, 5)), st.integers(0, 2**32 - 1), st.sampled_from(["s", "v", "m"]))
def test_convolve_adds_the_noise_covariance_on_random_mixtures(m, seed, kind):
    rng = np.random.default_rng(seed)
    d = m.n_features
    if kind == "s":
        noise = rng.uniform(0.0, 3.0)
    elif kind == "v":
        noise = rng.uniform(0.0, 3.0, d)
    else:
        a = rng.normal(size=(d, d))
        noise = a @ a.T + 0.1 * np.eye(d)
    result = m.convolve(noise)
    assert_close_matrices(dense(result), dense(m) + noise_matrix(noise, d), rtol=1e-15)
    np.testing.assert_array_equal(result.means, m.means)
    _, cov = moments(m)
    scale = np.abs(m.means).max() ** 2 + np.abs(cov).max()
    np.testing.assert_allclose(
        result.covariance(), cov + noise_matrix(noise, d), rtol=0, atol=1e-12 * scale
    )


def test_convolve_with_no_noise_changes_nothing():
    m = make_mixture("full")
    assert m.convolve(0.0) == m
    assert m.convolve(np.zeros(3)) == m


@pytest.mark.parametrize(
    ("covariance", "match"),
    [
        (-1.0, "covariance must hold variances >= 0, got -1.0"),
        ([1.0, -0.5, 1.0], "variances >= 0, got -0.5"),
        (np.nan, "covariance must be finite"),
        (np.ones(2), r"a number, an array of shape \(3,\) .* or \(3, 3\) .* got shape \(2,\)"),
        (np.eye(2), r"got shape \(2, 2\)"),
        (np.ones((3, 3, 3)), r"got shape \(3, 3, 3\)"),
        (np.ones((3, 3)), "covariance must be positive definite"),
        (
            [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            "covariance must be positive definite",
        ),
        ([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "covariance must be symmetric"),
        (1j, "real numbers"),
    ],
)
def test_bad_noise_covariances_are_value_errors(covariance, match):
    with pytest.raises(ValueError, match=match):
        make_mixture("full").convolve(covariance)


def test_noise_that_overflows_is_a_value_error():
    with pytest.raises(ValueError, match=r"covariances of x \+ ε overflow"):
        make_mixture("full").convolve(1e308).convolve(1e308)


# --------------------------------------------------------------------------------------------
# diffuse
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_diffuse_one_is_the_model_itself(covariance_type):
    m = make_mixture(covariance_type)
    assert m.diffuse(1) is m
    assert m.diffuse(1.0) is m
    assert m.diffuse(np.float32(1.0)) is m
    assert m.diffuse(np.array(1.0)) is m


@pytest.mark.parametrize("alpha_bar", [0.999, 0.5, 0.1, 1e-4])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_diffuse_parameters_are_the_direct_formulas(covariance_type, alpha_bar):
    m = make_mixture(covariance_type)
    result = m.diffuse(alpha_bar)
    assert result.covariance_type == covariance_type
    np.testing.assert_array_equal(result.weights, m.weights)
    np.testing.assert_allclose(result.means, np.sqrt(alpha_bar) * m.means, rtol=1e-15)
    expected = alpha_bar * dense(m) + (1 - alpha_bar) * np.eye(3)
    assert_close_matrices(dense(result), expected, rtol=1e-15)
    assert result.metadata == {}


@given(
    mixtures(n_features=(1, 5)),
    st.one_of(st.floats(1e-300, 1.0, exclude_min=False), st.sampled_from([1e-300, 0.5, 1.0])),
)
def test_diffuse_follows_the_formulas_on_random_mixtures(m, alpha_bar):
    result = m.diffuse(alpha_bar)
    if alpha_bar == 1.0:
        assert result is m
        return
    d = m.n_features
    assert result.covariance_type == m.covariance_type
    np.testing.assert_allclose(result.means, np.sqrt(alpha_bar) * m.means, rtol=1e-15)
    expected = alpha_bar * dense(m) + (1 - alpha_bar) * np.eye(d)
    assert_close_matrices(dense(result), expected, rtol=1e-15)
    assert np.all(np.isfinite(gmmfast.score_samples(result, np.zeros((1, d)))))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_diffuse_is_a_scaling_then_noise(covariance_type):
    m = make_mixture(covariance_type)
    a = 0.3
    two_steps = m.affine(np.sqrt(a) * np.eye(3)).convolve(1 - a)
    result = m.diffuse(a)
    assert two_steps.covariance_type == result.covariance_type
    np.testing.assert_allclose(result.means, two_steps.means, rtol=1e-15)
    assert_close_matrices(dense(result), dense(two_steps), rtol=1e-14)


@pytest.mark.parametrize("alpha_bar", [0.9, 0.2])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_diffuse_against_monte_carlo(covariance_type, alpha_bar):
    m = make_mixture(covariance_type)
    X, _ = gmmfast.sample(m, 20_000, random_state=31)
    rng = np.random.default_rng(32)
    noised = np.sqrt(alpha_bar) * X + np.sqrt(1 - alpha_bar) * rng.standard_normal(X.shape)
    Z, _ = gmmfast.sample(m.diffuse(alpha_bar), 20_000, random_state=33)
    assert_same_distribution(noised, Z)
    mean, cov = moments(m)
    assert_moments(noised, np.sqrt(alpha_bar) * mean, alpha_bar * cov + (1 - alpha_bar) * np.eye(3))


def test_diffuse_tends_to_the_standard_normal():
    m = make_mixture("full")
    result = m.diffuse(1e-20)  # means within 1e-9 of 0, covariances within 1e-19 of I
    X = np.random.default_rng(0).normal(size=(50, 3))
    expected = stats.multivariate_normal(np.zeros(3), np.eye(3)).logpdf(X)
    np.testing.assert_allclose(gmmfast.score_samples(result, X), expected, rtol=1e-8)


@pytest.mark.parametrize(
    ("alpha_bar", "error", "match"),
    [
        (0.0, ValueError, r"alpha_bar must be in \(0, 1\], got 0.0"),
        (-0.5, ValueError, r"alpha_bar must be in \(0, 1\], got -0.5"),
        (1.0000001, ValueError, r"alpha_bar must be in \(0, 1\]"),
        (np.nan, ValueError, r"alpha_bar must be in \(0, 1\], got nan"),
        (np.inf, ValueError, r"alpha_bar must be in \(0, 1\]"),
        ([0.5, 0.4], ValueError, r"a single number, got an array of shape \(2,\)"),
        (True, TypeError, "alpha_bar must be a number"),
        (None, TypeError, "alpha_bar must be a number"),
        ("0.5", ValueError, "alpha_bar must be an array of numbers"),
        (0.5j, ValueError, "real numbers"),
    ],
)
def test_bad_alpha_bar_is_refused(alpha_bar, error, match):
    with pytest.raises(error, match=match):
        make_mixture("diag").diffuse(alpha_bar)


# --------------------------------------------------------------------------------------------
# cdf
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cdf_is_the_integral_of_the_density(covariance_type):
    m = make_mixture(covariance_type).marginal([2])
    means, sd = m.means[:, 0], np.sqrt(dense(m)[:, 0, 0])
    lower = float(np.min(means - 40 * sd))

    def density(t):
        return np.exp(gmmfast.score_samples(m, np.array([[t]]))[0])

    xs = np.array([-8.0, -2.5, -0.3, 0.0, 1.7, 4.0, 9.0])
    result = m.cdf(xs)
    assert result.shape == xs.shape
    for x, value in zip(xs, result):
        inside = means[(means > lower) & (means < x)]
        integral, error = integrate.quad(
            density, lower, x, points=inside if inside.size else None, limit=200
        )
        assert abs(value - integral) <= 1e-9 + 10 * error


def test_cdf_on_a_fine_grid_is_a_trapezoid_integral_monotone_in_zero_one():
    m = make_mixture("full").marginal([0])
    x = np.linspace(-30, 30, 600_001)
    F = m.cdf(x)
    assert np.all(np.diff(F) >= 0)
    assert F.min() >= 0 and F.max() <= 1
    assert F[0] < 1e-12 and F[-1] > 1 - 1e-12
    p = np.exp(gmmfast.score_samples(m, x[:, None]))
    trapezoid = np.concatenate(([0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(x))))
    np.testing.assert_allclose(F, F[0] + trapezoid, rtol=0, atol=1e-8)


def test_cdf_limits_shapes_and_interval_probabilities():
    m = make_mixture("tied")
    one = m.marginal([1])
    np.testing.assert_array_equal(one.cdf([-np.inf, np.inf]), [0.0, 1.0])
    assert isinstance(one.cdf(0.5), float)
    assert one.cdf(np.zeros((2, 3))).shape == (2, 3)
    assert one.cdf([]).shape == (0,)
    # P(a < X_1 <= b) of the full model against the fraction of its samples in (a, b].
    X, _ = gmmfast.sample(m, 200_000, random_state=41)
    a, b = -1.0, 2.0
    p = one.cdf(b) - one.cdf(a)
    frequency = np.mean((X[:, 1] > a) & (X[:, 1] <= b))
    se = np.sqrt(p * (1 - p) / len(X))
    assert abs(frequency - p) < stats.norm.isf(ALPHA / 2) * se


@given(mixtures(n_features=1), st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30))
def test_cdf_of_random_mixtures_is_the_weighted_normal_cdfs(m, xs):
    x = np.sort(np.array(xs))
    F = m.cdf(x)
    sd = np.sqrt(dense(m)[:, 0, 0])
    expected = sum(
        w * stats.norm.cdf(x, loc=mu, scale=s) for w, mu, s in zip(m.weights, m.means[:, 0], sd)
    )
    np.testing.assert_allclose(F, expected, rtol=1e-12, atol=1e-15)
    assert np.all(np.diff(F) >= 0)
    assert np.all((F >= 0) & (F <= 1))


def test_cdf_of_a_single_gaussian_is_phi():
    m = gmmfast.Mixture([1.0], [[2.0]], [[[4.0]]])
    x = np.linspace(-10, 10, 41)
    np.testing.assert_allclose(m.cdf(x), stats.norm.cdf(x, loc=2.0, scale=2.0), rtol=1e-14)
    assert m.cdf(-60.0) > 0  # the lower tail is not rounded to 0: Φ, not 1 − Φ(−x)


@pytest.mark.parametrize(
    ("x", "match"),
    [(np.nan, "x must not be NaN"), ([0.0, np.nan], "NaN"), (1j, "real numbers"), ("a", "numbers")],
)
def test_bad_cdf_input_is_a_value_error(x, match):
    with pytest.raises(ValueError, match=match):
        make_mixture("full").marginal([0]).cdf(x)


def test_cdf_of_several_features_says_to_take_a_marginal():
    with pytest.raises(ValueError, match=r"one feature, this one has 3.*marginal\(\[j\]\)"):
        make_mixture("full").cdf(0.0)


# --------------------------------------------------------------------------------------------
# Results are mixtures like any other; estimators go through Mixture.from_sklearn
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) * 0.4 + 3.0])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_results_from_fitted_estimators_work_everywhere(blobs, cls, covariance_type, tmp_path):
    est = cls(n_components=3, covariance_type=covariance_type, random_state=0).fit(blobs)
    m = gmmfast.Mixture.from_sklearn(est)
    np.testing.assert_allclose(m.mean(), blobs.mean(axis=0), atol=0.1)
    A = MAPS["general"]
    for result in (m.affine(A, [1.0, 2.0, 3.0]), m.convolve(0.5), m.diffuse(0.3)):
        X, _ = gmmfast.sample(result, 500, random_state=0)
        assert np.all(np.isfinite(gmmfast.score_samples(result, X)))
        proba = gmmfast.predict_proba(result, X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        grid = gmmfast.Grid(16, 12, (-5, 8), (-5, 8))
        image = gmmfast.log_density_grid(result, grid)
        np.testing.assert_allclose(
            image.ravel(),
            gmmfast.score_samples(result.marginal([0, 1]), grid.points()),
            rtol=1e-9,
            atol=1e-9,
        )
        assert gmmfast.conditional_mean(result, X[:5, :2]).shape == (5, 1)
        path = tmp_path / "derived.npz"
        gmmfast.save(result, path)
        assert gmmfast.load(path) == result


def test_maps_of_a_mixture_need_neither_scipy_nor_scikit_learn():
    script = (
        "import sys, numpy as np, gmmfast\n"
        "m = gmmfast.Mixture([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [1.0, 2.0], 'spherical')\n"
        "m.mean(); m.covariance(); m.affine(np.eye(2)); m.convolve(1.0); m.diffuse(0.5)\n"
        "gmmfast.diffusion.forward(np.zeros((3, 2)), gmmfast.diffusion.cosine_schedule(4), 0)\n"
        "gmmfast.diffusion.linear_schedule(10)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
