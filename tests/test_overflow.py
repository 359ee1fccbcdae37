"""Far beyond the range of squared distances: the nearest component still wins, nothing panics.

Where ‖(x − μ_k)ᵀ U_k‖² overflows for every component, every log-density is −∞ in float64.
The kernels then compare the squared distances in a scaled form that does not overflow, so
labels, responsibilities and conditional means keep the promise that the nearest component (in
Mahalanobis terms, with its weight) takes all the responsibility far away. The log-density
itself is −∞ there: its true value is below −1.8e308.

The oracle of these tests divides the problem by the distance scale t first: for a point X·t,
q_k(X·t) = t²·‖(X − μ_k/t)ᵀ U_k‖², so the ranking of the q_k is that of the scaled distances,
computed in ordinary float64.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gmmfast
from gmmfast._model import scoring_form
from gmmfast.testing import mixtures

CORRELATED = [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]


def scaled_distances(mixture, X, t):
    """‖(X − μ_k/t)ᵀ U_k‖² = q_k(X·t)/t², shape (n, K)."""
    form = scoring_form(mixture)
    out = np.empty((len(X), form.n_components))
    for k in range(form.n_components):
        y = (X - form.means[k] / t) @ np.triu(form.prec_chol[k])
        out[:, k] = np.einsum("ij,ij->i", y, y)
    return out


def assert_nearest(labels, distances, t):
    """Each label's scaled distance is the smallest, up to the rounding of both routes, where
    the true squared distances are huge (> 1e100: the weights cannot matter)."""
    far = distances.min(axis=1) > 1e100 / t / t
    chosen = distances[np.arange(len(labels)), labels]
    ok = chosen <= distances.min(axis=1) * (1 + 1e-9)
    assert np.all(ok[far]), (labels, distances)


def test_issue_example_wider_component_wins_at_every_distance():
    m = gmmfast.Mixture([0.5, 0.5], [[0, 0], [0, 0]], [1.0, 4.0], "spherical")
    X = np.array([[1e153, 1e153], [1e155, 1e155], [1e300, -1e300], [-1.7e308, 1e10]])
    np.testing.assert_array_equal(gmmfast.predict(m, X), [1, 1, 1, 1])
    np.testing.assert_array_equal(gmmfast.predict_proba(m, X), [[0.0, 1.0]] * 4)
    log_p = gmmfast.score_samples(m, X)
    assert log_p[0] == pytest.approx(np.log(0.5 / (2 * np.pi * 4)) - 0.25 * 1e306, rel=1e-14)
    np.testing.assert_array_equal(log_p[1:], -np.inf)
    for v in (1e153, 1e155, 1e300):
        grid = gmmfast.Grid(3, 2, (v, 2 * v), (-v, v))
        np.testing.assert_array_equal(gmmfast.label_grid(m, grid), np.ones((2, 3)))


def test_issue_example_conditional_means_follow_the_winner():
    # Feature 2 regresses on feature 0 with gain 0.5 in the wide component, -0.5 in the narrow.
    narrow = [[1.0, 0.0, -0.5], [0.0, 1.0, 0.0], [-0.5, 0.0, 1.0]]
    wide = [[4.0, 0.0, 2.0], [0.0, 4.0, 0.0], [2.0, 0.0, 4.0]]
    m = gmmfast.Mixture([0.5, 0.5], [[0, 0, 1], [0, 0, 2]], [narrow, wide])
    for v in (1e153, 1e155, 1e300):
        X = np.array([[v, v]])
        mean, std = gmmfast.conditional_mean(m, X, return_std=True)
        np.testing.assert_allclose(mean, [[2 + 0.5 * v]], rtol=1e-14)
        np.testing.assert_allclose(std, [[np.sqrt(3.0)]], rtol=1e-14)
        grid = gmmfast.Grid(1, 1, (v, v), (v, v))
        grid_mean, grid_std = gmmfast.conditional_mean_grid(m, grid, return_std=True)
        np.testing.assert_allclose(grid_mean.ravel(), [2 + 0.5 * v], rtol=1e-14)
        # The losing candidate's regression is ~v away: its zero weight must not make NaN.
        np.testing.assert_allclose(grid_std.ravel(), [np.sqrt(3.0)], rtol=1e-14)
        np.testing.assert_array_equal(gmmfast.conditional_mean_grid(m, grid), grid_mean)


def test_correlated_component_at_overflow_is_finite_and_no_panic():
    m = gmmfast.Mixture([1.0], [[0, 0, 0]], [CORRELATED])
    grid = gmmfast.Grid(1, 1, (2e154, 2e154), (2e154, 2e154))
    np.testing.assert_array_equal(gmmfast.label_grid(m, grid), [[0]])
    np.testing.assert_array_equal(gmmfast.log_density_grid(m, grid), [[-np.inf]])
    mean, std = gmmfast.conditional_mean_grid(m, grid, return_std=True)
    # Feature 2 is independent of the others: mean 0, std 1 wherever the pixel is.
    np.testing.assert_array_equal(mean, [[[0.0]]])
    np.testing.assert_array_equal(std, [[[1.0]]])
    np.testing.assert_array_equal(gmmfast.predict(m, [[2e154, 2e154, 0.0]]), [0])


@pytest.mark.parametrize("rho", [0.5, -0.9, 0.0])
def test_tiny_covariances_on_a_moderate_grid_pick_the_nearest(rho):
    """Covariances of 1e-300 make every squared distance overflow at coordinates of 1e5."""
    cov2 = np.array([[1.0, rho], [rho, 1.0]])
    cov3 = np.eye(3)
    cov3[:2, :2] = cov2
    cov3[2, :2] = cov3[:2, 2] = [0.3, -0.2]
    means = np.array([[-2e4, 1e4, 5.0], [3e4, -1e4, -5.0]])
    tiny = gmmfast.Mixture([0.5, 0.5], means, np.stack([cov3, cov3]) * 1e-300)
    unit = gmmfast.Mixture([0.5, 0.5], means / 1e5, np.stack([cov3, cov3]))
    grid = gmmfast.Grid(64, 64, (-1e5, 1e5), (-1e5, 1e5))
    pts = grid.points()
    expected = scaled_distances(unit.marginal((0, 1)), pts / 1e5, 1.0).argmin(axis=1)
    assert 0 < expected.sum() < len(expected)  # both components win somewhere
    labels = gmmfast.label_grid(tiny, grid)
    np.testing.assert_array_equal(labels.ravel(), expected)
    np.testing.assert_array_equal(gmmfast.predict(tiny.marginal((0, 1)), pts), expected)
    # Near a mean a squared distance of ~1e306 is still finite: a huge negative log-density.
    assert np.all(gmmfast.log_density_grid(tiny, grid) < -1e300)
    # The conditional mean of feature 2 is the winner's regression (gain = Σ_rg Σ_gg⁻¹).
    gain = np.linalg.solve(cov2, cov3[:2, 2])
    regression = means[expected, 2] + np.einsum("j,ij->i", gain, pts - means[expected, :2])
    for return_std in (False, True):
        out = gmmfast.conditional_mean_grid(tiny, grid, return_std=return_std)
        mean = out[0] if return_std else out
        np.testing.assert_allclose(mean.ravel(), regression, rtol=1e-9, atol=1e-9 * 1e5)
    point_mean = gmmfast.conditional_mean(tiny, pts)
    np.testing.assert_allclose(point_mean.ravel(), regression, rtol=1e-9, atol=1e-9 * 1e5)


def test_exact_ties_share_the_responsibility_by_weight():
    """Two components with the same mean and covariance: responsibilities are the weights,
    near or far."""
    m = gmmfast.Mixture([0.3, 0.7], [[0, 0], [0, 0]], [1.0, 1.0], "spherical")
    near, far = gmmfast.predict_proba(m, [[1.0, 1.0], [1e200, -1e200]])
    np.testing.assert_allclose(near, [0.3, 0.7], rtol=1e-15)
    np.testing.assert_array_equal(far, near)
    np.testing.assert_array_equal(gmmfast.predict(m, [[1e200, -1e200]]), [1])


def test_zero_weight_components_never_win_at_overflow():
    m = gmmfast.Mixture([0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]], [100.0, 1.0], "spherical")
    X = [[1e200, 1e200]]
    np.testing.assert_array_equal(gmmfast.predict(m, X), [1])
    np.testing.assert_array_equal(gmmfast.predict_proba(m, X), [[0.0, 1.0]])
    grid = gmmfast.Grid(1, 1, (1e200, 1e200), (1e200, 1e200))
    np.testing.assert_array_equal(gmmfast.label_grid(m, grid), [[1]])


@given(
    mixtures(n_features=(1, 6), n_components=(1, 16)),
    st.sampled_from([1e152, 1e160, 1e250]),
    st.integers(0, 2**32 - 1),
)
def test_far_points_go_to_the_nearest_component(mixture, t, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, mixture.n_features))
    distances = scaled_distances(mixture, X, t)
    labels = gmmfast.predict(mixture, X * t)
    assert_nearest(labels, distances, t)
    proba = gmmfast.predict_proba(mixture, X * t)
    assert not np.isnan(proba).any()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)
    log_p = gmmfast.score_samples(mixture, X * t)
    assert not np.isnan(log_p).any() and np.all(log_p < -1e200)
    if mixture.n_features >= 3:
        mean, std = gmmfast.conditional_mean(mixture, X[:, :2] * t, return_std=True)
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))


@given(
    mixtures(n_features=(2, 4), n_components=(1, 16)),
    st.sampled_from([1e152, 1e160, 1e250]),
    st.integers(1, 12),
    st.integers(1, 12),
)
def test_far_grids_go_to_the_nearest_component(mixture, t, width, height):
    grid = gmmfast.Grid(width, height, (-3 * t, 2 * t), (4 * t, -t))
    marginal = mixture.marginal((0, 1))
    labels = gmmfast.label_grid(mixture, grid)
    assert_nearest(labels.ravel(), scaled_distances(marginal, grid.points() / t, t), t)
    density = gmmfast.log_density_grid(mixture, grid)
    assert not np.isnan(density).any()
    if mixture.n_features == 2:
        # The grid's cold path performs the point kernel's arithmetic: bit for bit.
        pts = grid.points()
        np.testing.assert_array_equal(labels.ravel(), gmmfast.predict(mixture, pts))
        np.testing.assert_array_equal(density.ravel(), gmmfast.score_samples(mixture, pts))
    if mixture.n_features >= 3:
        mean, std = gmmfast.conditional_mean_grid(mixture, grid, return_std=True)
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))


@given(
    mixtures(n_features=(2, 5), n_components=(1, 12)),
    st.sampled_from([1e160, 1e250]),
    st.integers(0, 2**32 - 1),
)
def test_the_reference_and_mixture_condition_rank_as_the_kernels_do(mixture, t, seed):
    """The NumPy reference states the same far-away rule (its own scaled comparison), and
    ``Mixture.condition``, which is built on it, weighs the components the same way."""
    import gmmfast.reference as ref

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(8, mixture.n_features)) * t
    ours, theirs = gmmfast.predict_proba(mixture, X), ref.predict_proba(mixture, X)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    distances = scaled_distances(mixture, X / t, t)
    assert_nearest(ref.predict(mixture, X), distances, t)
    if mixture.n_features >= 3:
        np.testing.assert_allclose(
            gmmfast.conditional_mean(mixture, X[:, :2]),
            ref.conditional_mean(mixture, X[:, :2]),
            rtol=1e-9,
        )
        weights = mixture.condition((0, 1), X[0, :2]).weights
        marginal = mixture.marginal((0, 1))
        np.testing.assert_allclose(
            weights, gmmfast.predict_proba(marginal, X[:1, :2])[0], atol=1e-15
        )
