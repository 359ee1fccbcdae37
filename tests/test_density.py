"""score_samples / predict_proba / predict / log_density_grid / label_grid against the NumPy
reference and against scikit-learn itself."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
import gmmfast.reference as ref
from gmmfast.testing import (
    assert_labels_consistent,
    assert_log_density_close,
    assert_proba_close,
    grids,
    mixtures,
    points,
    sklearn_mixtures,
)

# Whether EM converged is irrelevant here: the tests compare against the estimator's state.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The bounds: log-densities to 1e-9 relative (1e-9 absolute near zero),
# responsibilities to 1e-9.
RTOL = ATOL = 1e-9


@given(mixtures(n_components=(1, 64)), st.data())
def test_points_match_the_reference(mixture, data):
    X = data.draw(points(mixture.n_features))
    assert_log_density_close(gmmfast.score_samples(mixture, X), ref.score_samples(mixture, X))
    assert_proba_close(gmmfast.predict_proba(mixture, X), ref.predict_proba(mixture, X))
    assert_labels_consistent(gmmfast.predict(mixture, X), mixture, X)


@given(sklearn_mixtures(n_components=(1, 64)), st.data())
def test_points_match_scikit_learn(estimator, data):
    X = data.draw(points(estimator.means_.shape[1]))
    assert_log_density_close(gmmfast.score_samples(estimator, X), estimator.score_samples(X))
    assert_proba_close(gmmfast.predict_proba(estimator, X), estimator.predict_proba(X))
    labels = gmmfast.predict(estimator, X)
    assert_labels_consistent(labels, estimator, X)
    # Where scikit-learn's choice is clear, it is ours.
    log_prob = ref.weighted_log_prob(gmmfast._model.scoring_form(estimator), X)
    top2 = np.sort(log_prob, axis=1)[:, -2:] if log_prob.shape[1] > 1 else None
    clear = np.ones(len(X), bool) if top2 is None else top2[:, 1] - top2[:, 0] > 1e-6
    np.testing.assert_array_equal(labels[clear], estimator.predict(X)[clear])


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    centres = rng.uniform(-8, 8, size=(6, 3))
    return np.concatenate([c + rng.normal(size=(150, 3)) * rng.uniform(0.2, 2) for c in centres])


FITTED = [
    (GaussianMixture, {}),
    (BayesianGaussianMixture, {"weight_concentration_prior_type": "dirichlet_process"}),
    (BayesianGaussianMixture, {"weight_concentration_prior_type": "dirichlet_distribution"}),
]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize(("cls", "kwargs"), FITTED)
def test_fitted_estimators_are_reproduced(blobs, cls, kwargs, covariance_type):
    est = cls(
        n_components=8, covariance_type=covariance_type, random_state=0, max_iter=300, **kwargs
    ).fit(blobs)
    X = np.concatenate([blobs[::7], blobs[:20] * 30.0])  # data and far outside it
    assert_log_density_close(gmmfast.score_samples(est, X), est.score_samples(X))
    assert_proba_close(gmmfast.predict_proba(est, X), est.predict_proba(X))
    np.testing.assert_array_equal(gmmfast.predict(est, X), est.predict(X))


def test_bayesian_score_is_not_the_plug_in_density(blobs):
    """The estimator's score has digamma terms; the Mixture from it is the plug-in model."""
    est = BayesianGaussianMixture(n_components=4, random_state=0, max_iter=500).fit(blobs)
    plug_in = gmmfast.Mixture.from_sklearn(est)
    ours, plug = gmmfast.score_samples(est, blobs), gmmfast.score_samples(plug_in, blobs)
    assert_log_density_close(ours, est.score_samples(blobs))
    assert np.abs(ours - plug).max() > 1e-3


@given(mixtures(n_features=2, n_components=(1, 64)), grids())
def test_grid_is_score_samples_on_the_pixel_centres(mixture, grid):
    density = gmmfast.log_density_grid(mixture, grid)
    labels = gmmfast.label_grid(mixture, grid)
    assert density.shape == labels.shape == grid.shape
    assert density.dtype == np.float64 and labels.dtype == np.int64
    pts = grid.points()
    # The grid kernel performs exactly the point kernel's arithmetic: bit for bit.
    np.testing.assert_array_equal(density.ravel(), gmmfast.score_samples(mixture, pts))
    np.testing.assert_array_equal(labels.ravel(), gmmfast.predict(mixture, pts))
    assert_log_density_close(density, ref.log_density_grid(mixture, grid))
    assert_labels_consistent(labels.ravel(), mixture, pts)


@given(mixtures(n_features=(2, 5), n_components=(1, 24)), grids(), st.data())
def test_grid_over_chosen_dims_is_the_marginal(mixture, grid, data):
    dims = tuple(data.draw(st.permutations(range(mixture.n_features)))[:2])
    density = gmmfast.log_density_grid(mixture, grid, dims=dims)
    marginal = mixture.marginal(dims)
    assert_log_density_close(density, ref.log_density_grid(marginal, grid))
    assert_log_density_close(density, ref.log_density_grid(mixture, grid, dims=dims))
    labels = gmmfast.label_grid(mixture, grid, dims=dims)
    assert_labels_consistent(labels.ravel(), marginal, grid.points())


@given(mixtures(n_features=(2, 12), n_components=(1, 12)), grids(), st.data(), st.booleans())
def test_grid_kernels_match_the_reference_up_to_twelve_features(mixture, grid, data, rtol):
    dims = tuple(data.draw(st.permutations(range(mixture.n_features)))[:2])
    rtol = 1e-3 if rtol else 0.0
    density = gmmfast.log_density_grid(mixture, grid, dims=dims, rtol=rtol)
    expected = ref.log_density_grid(mixture, grid, dims=dims)
    if rtol:
        # (1 − rtol)·p ≤ p̂ ≤ p, plus the reference's rounding.
        assert np.all(density <= expected + 1e-9 * (1 + np.abs(expected)))
        assert np.all(density >= expected + np.log1p(-rtol) - 1e-9 * (1 + np.abs(expected)))
    else:
        assert_log_density_close(density, expected)
    labels = gmmfast.label_grid(mixture, grid, dims=dims, rtol=rtol)
    assert_labels_consistent(labels.ravel(), mixture.marginal(dims), grid.points())
    np.testing.assert_array_equal(labels, gmmfast.label_grid(mixture, grid, dims=dims))


@pytest.mark.parametrize(("cls", "kwargs"), FITTED)
def test_two_feature_estimator_grid_equals_its_score_samples(cls, kwargs):
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) * 0.5 + [4, 1]])
    est = cls(n_components=3, random_state=0, **kwargs).fit(X)
    grid = gmmfast.Grid(31, 17, (-4, 8), (5, -3))
    expected = est.score_samples(grid.points()).reshape(grid.shape)
    assert_log_density_close(gmmfast.log_density_grid(est, grid), expected)
    # Swapping the axes renders the transposed problem, still with the estimator's own score.
    swapped = gmmfast.Grid(17, 31, (5, -3), (-4, 8))
    assert_log_density_close(
        gmmfast.log_density_grid(est, swapped, dims=(1, 0)), expected.T, rtol=1e-9
    )
    np.testing.assert_array_equal(
        gmmfast.label_grid(est, grid), est.predict(grid.points()).reshape(grid.shape)
    )


def test_bayesian_marginal_over_a_strict_subset_uses_the_plug_in_mixture(blobs):
    est = BayesianGaussianMixture(n_components=4, random_state=0, max_iter=500).fit(blobs)
    grid = gmmfast.Grid(20, 10, (-10, 10), (-10, 10))
    expected = ref.log_density_grid(gmmfast.Mixture.from_sklearn(est).marginal((2, 1)), grid)
    assert_log_density_close(gmmfast.log_density_grid(est, grid, dims=(2, 1)), expected)


def test_far_from_everything_the_nearest_component_takes_all():
    # Two unit-variance components at x = 0 and x = 10 (weights 0.9 / 0.1) in 2-D.
    m = gmmfast.Mixture([0.9, 0.1], [[0.0, 0.0], [10.0, 0.0]], [1.0, 1.0], "spherical")
    X = np.array([[-1e5, 0.0], [1e5, 3.0], [8.0, 1e4]])
    log_p = gmmfast.score_samples(m, X)
    expected = [
        np.log(0.9) - np.log(2 * np.pi) - 0.5 * 1e10,
        np.log(0.1) - np.log(2 * np.pi) - 0.5 * ((1e5 - 10) ** 2 + 9),
    ]
    np.testing.assert_allclose(log_p[:2], expected, rtol=1e-14)
    assert np.all(np.isfinite(log_p))
    proba = gmmfast.predict_proba(m, X)
    np.testing.assert_array_equal(proba[:2], [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(gmmfast.predict(m, X), [0, 1, 1])
    grid = gmmfast.Grid(3, 2, (-1e6, 1e6), (-1e6, 1e6))
    assert np.all(np.isfinite(gmmfast.log_density_grid(m, grid)))
    np.testing.assert_array_equal(gmmfast.label_grid(m, grid), [[0, 0, 1], [0, 0, 1]])


def test_zero_weight_components_never_win():
    m = gmmfast.Mixture([0.0, 1.0], [[0.0], [50.0]], [1.0, 1.0], "spherical")
    np.testing.assert_array_equal(gmmfast.predict(m, [[0.0], [-1e3]]), [1, 1])
    np.testing.assert_array_equal(gmmfast.predict_proba(m, [[0.0]]), [[0.0, 1.0]])
    assert np.isfinite(gmmfast.score_samples(m, [[0.0]])[0])


@pytest.fixture(scope="module")
def model3():
    return gmmfast.Mixture(
        [0.2, 0.3, 0.5],
        [[0.0, 0.0, 1.0], [2.0, 1.0, 0.0], [-1.0, 3.0, 2.0]],
        [[1.0, 0.5, 2.0], [0.3, 0.3, 0.3], [2.0, 1.0, 1.0]],
        "diag",
    )


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.astype(np.float32),
        lambda X: np.round(X).astype(np.int32),
        np.asfortranarray,
        lambda X: np.repeat(X, 2, axis=0)[::2],  # non-contiguous view
        lambda X: X.tolist(),
    ],
    ids=["float32", "int32", "fortran", "strided", "list"],
)
def test_any_numeric_array_layout_is_accepted(model3, convert):
    X = np.random.default_rng(0).normal(size=(40, 3)) * 3
    Y = convert(X)
    expected = ref.score_samples(model3, np.asarray(Y, dtype=np.float64))
    assert_log_density_close(gmmfast.score_samples(model3, Y), expected)
    assert_proba_close(
        gmmfast.predict_proba(model3, Y), ref.predict_proba(model3, np.asarray(Y, float))
    )


BAD_X = [
    (np.zeros((4, 2)), r"X has 2 features, but the model is expecting 3 features"),
    (np.zeros(3), "Expected 2D array"),
    (np.zeros((2, 2, 3)), "Found array with dim 3"),
    (np.array([[0.0, np.nan, 0.0]]), "Input X contains NaN"),
    (np.array([[0.0, np.inf, 0.0]]), "Input X contains infinity"),
    (np.zeros((0, 3)), "0 sample"),
    ([["a", "b", "c"]], "could not convert"),
]


@pytest.mark.parametrize(
    "function", [gmmfast.score_samples, gmmfast.predict_proba, gmmfast.predict]
)
@pytest.mark.parametrize(("X", "match"), BAD_X)
def test_bad_points_are_value_errors(model3, function, X, match):
    with pytest.raises(ValueError, match=match):
        function(model3, X)


@pytest.mark.parametrize(
    "function",
    [gmmfast.score_samples, gmmfast.predict_proba, gmmfast.predict],
)
def test_models_must_be_fitted_mixtures(function):
    with pytest.raises(NotFittedError):
        function(GaussianMixture(2), [[0.0]])
    with pytest.raises(NotFittedError):
        function(BayesianGaussianMixture(n_components=2), [[0.0]])
    with pytest.raises(TypeError, match="expected a fitted GaussianMixture"):
        function(object(), [[0.0]])


@pytest.mark.parametrize("function", [gmmfast.log_density_grid, gmmfast.label_grid])
@pytest.mark.parametrize(
    ("dims", "error", "match"),
    [
        ((0, 3), ValueError, r"in \[0, 3\)"),
        ((1, 1), ValueError, "must not repeat"),
        ((0,), ValueError, "exactly 2 features"),
        ((0, 1, 2), ValueError, "exactly 2 features"),
        ((-1, 0), ValueError, r"in \[0, 3\)"),
        ((0.0, 1), TypeError, "must be an integer"),
        ("01", TypeError, "sequence of feature indices"),
    ],
)
def test_bad_dims(model3, function, dims, error, match):
    with pytest.raises(error, match=match):
        function(model3, gmmfast.Grid(4, 4), dims=dims)


@pytest.mark.parametrize("function", [gmmfast.log_density_grid, gmmfast.label_grid])
def test_grid_must_be_a_grid_and_fit_in_memory(model3, function):
    with pytest.raises(TypeError, match=r"grid must be a gmmfast\.Grid"):
        function(model3, (10, 10))
    with pytest.raises(MemoryError):
        function(model3, gmmfast.Grid(10**6, 10**6))  # 8 TB of output


def test_sizes_beyond_the_address_space_are_memory_errors():
    # NumPy reports these as ValueError("array is too big"); a user expects MemoryError.
    with pytest.raises(MemoryError, match=r"cannot allocate an array of shape"):
        gmmfast._validation.empty((2**40, 2**40))
