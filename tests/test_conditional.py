"""Conditional mixtures and conditional means against the NumPy reference, an independent
per-component formula, and known closed forms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
import gmmfast.reference as ref
from gmmfast.testing import grids, mixtures, points

# The bounds: means to 1e-9 relative, standard deviations to 1e-7.
MEAN_RTOL, STD_RTOL = 1e-9, 1e-7


def assert_means_close(actual, desired, rtol=MEAN_RTOL):
    """|a − d| ≤ rtol·(|d| + spread), spread being the scale of the values (a conditional mean
    near zero is a difference of values of that size)."""
    assert actual.shape == desired.shape
    assert not np.isnan(actual).any()
    scale = np.abs(desired) + np.abs(desired).max() + 1e-300
    assert np.all(np.abs(actual - desired) <= rtol * scale), np.abs(actual - desired).max()


@st.composite
def conditional_problems(draw, n_features=(2, 6), max_condition=1e6, **kwargs):
    mixture = draw(mixtures(n_features=n_features, max_condition=max_condition, **kwargs))
    d = mixture.n_features
    order = draw(st.permutations(range(d)))
    n_given = draw(st.integers(1, d - 1))
    given_dims = tuple(order[:n_given])
    X = draw(points(n_given, max_points=30))
    return mixture, given_dims, X


@given(conditional_problems(n_components=(1, 64)))
def test_points_match_the_reference(problem):
    mixture, given_dims, X = problem
    mean, std = gmmfast.conditional_mean(mixture, X, given=given_dims, return_std=True)
    ref_mean, ref_std = ref.conditional_mean(mixture, X, given=given_dims, return_std=True)
    assert_means_close(mean, ref_mean)
    assert_means_close(std, ref_std, STD_RTOL)
    np.testing.assert_array_equal(gmmfast.conditional_mean(mixture, X, given=given_dims), mean)


def direct_moments(mixture, given_dims, x):
    """Conditional mean and std at one point, component by component with explicit inverses
    (a different route from the Cholesky-based kernels and reference)."""
    d = mixture.n_features
    g = list(given_dims)
    r = [i for i in range(d) if i not in given_dims]
    cov_type, covs = mixture.covariance_type, mixture.covariances
    log_w, means, variances = [], [], []
    for k in range(mixture.n_components):
        cov = {
            "full": lambda k: covs[k],
            "tied": lambda k: covs,
            "diag": lambda k: np.diag(covs[k]),
            "spherical": lambda k: covs[k] * np.eye(d),
        }[cov_type](k)
        s_gg, s_rg, s_rr = cov[np.ix_(g, g)], cov[np.ix_(r, g)], cov[np.ix_(r, r)]
        inv = np.linalg.inv(s_gg)
        delta = x - mixture.means[k, g]
        _, logdet = np.linalg.slogdet(s_gg)
        log_w.append(
            np.log(mixture.weights[k])
            - 0.5 * (len(g) * np.log(2 * np.pi) + logdet + delta @ inv @ delta)
        )
        means.append(mixture.means[k, r] + s_rg @ inv @ delta)
        variances.append(np.diag(s_rr - s_rg @ inv @ s_rg.T))
    log_w = np.array(log_w)
    w = np.exp(log_w - logsumexp(log_w))
    means, variances = np.array(means), np.array(variances)
    mean = w @ means
    var = w @ (variances + (means - mean) ** 2)
    return mean, np.sqrt(var)


@given(conditional_problems(n_components=(1, 12), max_condition=1e4, spread=5.0))
def test_points_match_a_direct_per_component_formula(problem):
    mixture, given_dims, X = problem
    X = X[:5] / 20.0  # near the components, where every term matters
    mean, std = gmmfast.conditional_mean(mixture, X, given=given_dims, return_std=True)
    for i, x in enumerate(X):
        direct_mean, direct_std = direct_moments(mixture, given_dims, x)
        # Explicit inverses lose up to cond × eps: these bounds hold for cond ≤ 1e4.
        assert_means_close(mean[i], direct_mean, 1e-9)
        assert_means_close(std[i], direct_std, 1e-7)


@given(mixtures(n_features=(3, 5), n_components=(1, 32)), grids(), st.data())
def test_grid_is_the_points_of_its_pixels(mixture, grid, data):
    given_dims = tuple(data.draw(st.permutations(range(mixture.n_features)))[:2])
    mean, std = gmmfast.conditional_mean_grid(mixture, grid, given=given_dims, return_std=True)
    m = mixture.n_features - 2
    assert mean.shape == std.shape == (*grid.shape, m)
    pts_mean, pts_std = gmmfast.conditional_mean(
        mixture, grid.points(), given=given_dims, return_std=True
    )
    # The grid kernel evaluates each block's regressions at the block's centre and adds the
    # pixel's offset: the point kernel's values up to rounding.
    assert_means_close(mean.reshape(-1, m), pts_mean, 1e-12)
    assert_means_close(std.reshape(-1, m), pts_std, 1e-10)
    ref_mean, ref_std = ref.conditional_mean_grid(mixture, grid, given=given_dims, return_std=True)
    assert_means_close(mean, ref_mean)
    assert_means_close(std, ref_std, STD_RTOL)


@given(mixtures(n_features=(3, 12), n_components=(1, 12)), grids(), st.data())
def test_grid_matches_points_and_reference_up_to_twelve_features(mixture, grid, data):
    """Every number of remaining features (1 to 10: the fixed-size kernels up to 4, the
    general one beyond), with and without standard deviations."""
    given_dims = tuple(data.draw(st.permutations(range(mixture.n_features)))[:2])
    m = mixture.n_features - 2
    mean_only = gmmfast.conditional_mean_grid(mixture, grid, given=given_dims)
    mean, std = gmmfast.conditional_mean_grid(mixture, grid, given=given_dims, return_std=True)
    # The mean is computed the same way whether or not the std is asked for.
    np.testing.assert_array_equal(mean_only, mean)
    pts = grid.points()
    pts_mean, pts_std = gmmfast.conditional_mean(mixture, pts, given=given_dims, return_std=True)
    np.testing.assert_array_equal(
        gmmfast.conditional_mean(mixture, pts, given=given_dims), pts_mean
    )
    assert_means_close(mean.reshape(-1, m), pts_mean, 1e-12)
    assert_means_close(std.reshape(-1, m), pts_std, 1e-10)
    ref_mean, ref_std = ref.conditional_mean_grid(mixture, grid, given=given_dims, return_std=True)
    assert_means_close(mean, ref_mean)
    assert_means_close(std, ref_std, STD_RTOL)


@pytest.mark.parametrize("d", range(3, 13))
def test_grid_std_for_any_number_of_remaining_features(d):
    """The issue's reproduction: the general kernel (five or more remaining features) indexed
    past its scratch space with return_std=True."""
    m = gmmfast.Mixture(
        [0.4, 0.6], [np.zeros(d), np.arange(d, dtype=float)], [np.eye(d), 2 * np.eye(d)]
    )
    grid = gmmfast.Grid(3, 2, (-1, 2), (0, 3))
    mean, std = gmmfast.conditional_mean_grid(m, grid, return_std=True)
    pts_mean, pts_std = gmmfast.conditional_mean(m, grid.points(), return_std=True)
    assert_means_close(mean.reshape(-1, d - 2), pts_mean, 1e-12)
    assert_means_close(std.reshape(-1, d - 2), pts_std, 1e-10)
    one = gmmfast.Mixture([1.0], [[0.0] * d], [np.eye(d)])
    _, std = gmmfast.conditional_mean_grid(one, gmmfast.Grid(2, 2), return_std=True)
    np.testing.assert_array_equal(std, np.ones((2, 2, d - 2)))


def test_dask_grid_std_with_many_remaining_features():
    """The issue's other routes to the general kernel's panic: gmmfast.dask (and with it
    render_to_zarr(method="mean", return_std=True))."""
    pytest.importorskip("dask")
    import gmmfast.dask

    m = gmmfast.Mixture([1.0], [[0.0] * 7], [np.eye(7)])
    grid = gmmfast.Grid(5, 3)
    mean, std = gmmfast.dask.conditional_mean_grid(m, grid, return_std=True, chunks=2)
    np.testing.assert_array_equal(mean.compute(scheduler="synchronous"), np.zeros((3, 5, 5)))
    np.testing.assert_array_equal(std.compute(scheduler="synchronous"), np.ones((3, 5, 5)))


@given(conditional_problems(n_components=(1, 16)))
def test_condition_agrees_with_conditional_mean(problem):
    mixture, given_dims, X = problem
    x = X[0]
    cond = mixture.condition(given_dims, x)
    rest = [i for i in range(mixture.n_features) if i not in given_dims]
    assert cond.n_features == len(rest) and cond.covariance_type == mixture.covariance_type
    mean, std = gmmfast.conditional_mean(mixture, x[None], given=given_dims, return_std=True)
    mixture_mean = cond.weights @ cond.means
    assert_means_close(mixture_mean, mean[0])
    # Law of total variance over the conditional mixture's own components.
    variances = {
        "full": lambda c: np.diagonal(c.covariances, axis1=1, axis2=2),
        "tied": lambda c: np.broadcast_to(np.diag(c.covariances), c.means.shape),
        "diag": lambda c: c.covariances,
        "spherical": lambda c: np.repeat(c.covariances[:, None], c.n_features, axis=1),
    }[cond.covariance_type](cond)
    var = cond.weights @ (variances + (cond.means - mixture_mean) ** 2)
    assert_means_close(np.sqrt(var), std[0], STD_RTOL)


def test_one_component_is_linear_regression_with_constant_std():
    cov = np.array([[4.0, 1.2, -0.8], [1.2, 1.0, 0.3], [-0.8, 0.3, 2.0]])
    mu = np.array([1.0, -2.0, 0.5])
    m = gmmfast.Mixture([1.0], [mu], [cov])
    X = np.array([[0.0], [3.0], [-1e4]])
    mean, std = gmmfast.conditional_mean(m, X, given=(0,), return_std=True)
    gain = cov[1:, :1] / cov[0, 0]
    np.testing.assert_allclose(mean, mu[1:] + (X - mu[0]) @ gain.T, rtol=1e-14, atol=1e-12)
    expected_std = np.sqrt(np.diag(cov[1:, 1:] - gain @ cov[:1, 1:]))
    np.testing.assert_allclose(std, np.broadcast_to(expected_std, std.shape), rtol=1e-14)


def test_diagonal_components_average_their_means_by_responsibility():
    m = gmmfast.Mixture(
        [0.3, 0.7],
        [[0.0, 0.0, 10.0, 20.0], [2.0, 1.0, 30.0, 40.0]],
        [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]],
        "diag",
    )
    X = np.array([[0.5, 0.2], [1.5, 1.0], [100.0, -50.0]])
    resp = gmmfast.predict_proba(m.marginal((0, 1)), X)
    mean, std = gmmfast.conditional_mean(m, X, return_std=True)
    np.testing.assert_allclose(mean, resp @ m.means[:, 2:], rtol=1e-14)
    var = resp @ m.covariances[:, 2:] + resp @ m.means[:, 2:] ** 2 - mean**2
    np.testing.assert_allclose(std, np.sqrt(var), rtol=1e-9)
    c = m.condition((0, 1), X[0])
    np.testing.assert_array_equal(c.covariances, m.covariances[:, 2:])
    np.testing.assert_array_equal(c.means, m.means[:, 2:])


def test_far_from_one_component_the_other_decides():
    m = gmmfast.Mixture([0.5, 0.5], [[0.0, 100.0], [50.0, 200.0]], [[1.0, 0.5], [0.5, 1.0]], "tied")
    X = np.array([[-1e6], [1e6], [-30.0]])
    mean, std = gmmfast.conditional_mean(m, X, given=[0], return_std=True)
    np.testing.assert_allclose(mean[:, 0], [100 - 0.5e6, 200 + 0.5 * (1e6 - 50), 100 - 15])
    np.testing.assert_allclose(std, np.sqrt(0.75), rtol=1e-14)
    assert np.isfinite(mean).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_estimators_use_their_plug_in_mixture(cls):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    est = cls(n_components=3, random_state=0).fit(X)
    plug_in = gmmfast.Mixture.from_sklearn(est)
    np.testing.assert_array_equal(
        gmmfast.conditional_mean(est, X[:, [3, 1]], given=(3, 1)),
        gmmfast.conditional_mean(plug_in, X[:, [3, 1]], given=(3, 1)),
    )
    grid = gmmfast.Grid(7, 5, (-3, 3), (-3, 3))
    np.testing.assert_array_equal(
        gmmfast.conditional_mean_grid(est, grid), gmmfast.conditional_mean_grid(plug_in, grid)
    )


@pytest.fixture(scope="module")
def m4():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 4))
    covariances = a @ a.transpose(0, 2, 1) + np.eye(4)
    return gmmfast.Mixture([0.2, 0.3, 0.5], rng.normal(size=(3, 4)), covariances)


@pytest.mark.parametrize(
    ("given_dims", "match"),
    [
        ((0, 4), r"given must be feature indices in \[0, 4\)"),
        ((1, 1), "must not repeat"),
        ((), "at least one feature"),
        ((0, 1, 2, 3), "must leave at least one of the 4 features"),
    ],
)
def test_bad_given(m4, given_dims, match):
    with pytest.raises(ValueError, match=match):
        gmmfast.conditional_mean(m4, np.zeros((2, len(given_dims))), given=given_dims)
    with pytest.raises(ValueError, match=match):
        m4.condition(given_dims, np.zeros(len(given_dims)))


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((3, 3)), "X_given has 3 features, but the model is expecting 2"),
        (np.array([[0.0, np.nan]]), "Input X_given contains NaN"),
        (np.array([[np.inf, 0.0]]), "Input X_given contains infinity"),
        (np.zeros(2), "Expected 2D array"),
    ],
)
def test_bad_points(m4, X, match):
    with pytest.raises(ValueError, match=match):
        gmmfast.conditional_mean(m4, X)


def test_bad_condition_values_and_grid_arguments(m4):
    with pytest.raises(ValueError, match=r"values must have shape \(2,\)"):
        m4.condition((0, 1), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="values must be finite"):
        m4.condition((0, 1), [1.0, np.nan])
    grid = gmmfast.Grid(4, 3)
    with pytest.raises(ValueError, match="given must name exactly 2 features"):
        gmmfast.conditional_mean_grid(m4, grid, given=(0,))
    with pytest.raises(TypeError, match="return_std must be True or False"):
        gmmfast.conditional_mean_grid(m4, grid, return_std="yes")
    with pytest.raises(TypeError, match="grid must be a gmmfast"):
        gmmfast.conditional_mean_grid(m4, (4, 3))
    with pytest.raises(MemoryError):
        gmmfast.conditional_mean_grid(m4, gmmfast.Grid(10**6, 10**6))
