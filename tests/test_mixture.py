import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
import gmmfast.reference as ref
from gmmfast._mixture import canonical_form
from gmmfast.testing import mixtures

# Whether EM converged is irrelevant here: the tests compare against the estimator's state.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

W = [0.25, 0.75]
MEANS = [[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]]
FULL = [np.diag([1.0, 2.0, 3.0]), [[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.5]]]
SHAPES = {
    "full": FULL,
    "tied": FULL[1],
    "diag": [[1.0, 2.0, 3.0], [0.5, 0.25, 4.0]],
    "spherical": [1.5, 0.3],
}


@pytest.mark.parametrize("covariance_type", list(SHAPES))
def test_properties_are_read_only_copies(covariance_type):
    covs = np.array(SHAPES[covariance_type], dtype=float)
    m = gmmfast.Mixture(W, MEANS, covs, covariance_type)
    assert (m.n_components, m.n_features, m.covariance_type) == (2, 3, covariance_type)
    np.testing.assert_array_equal(m.covariances, covs)
    covs[...] = 99.0  # the caller's array is copied
    assert not np.any(m.covariances == 99.0)
    for array in (m.weights, m.means, m.covariances, m.precisions_cholesky):
        assert array.dtype == np.float64
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0.0


@pytest.mark.parametrize("covariance_type", list(SHAPES))
def test_precision_cholesky_inverts_the_covariances(covariance_type):
    m = gmmfast.Mixture(W, MEANS, SHAPES[covariance_type], covariance_type)
    form = canonical_form(m)
    for k in range(2):
        u = form.prec_chol[k]
        assert np.allclose(np.tril(u, -1), 0.0)
        cov = {
            "full": lambda k: np.asarray(FULL[k]),
            "tied": lambda k: np.asarray(FULL[1]),
            "diag": lambda k: np.diag(SHAPES["diag"][k]),
            "spherical": lambda k: SHAPES["spherical"][k] * np.eye(3),
        }[covariance_type](k)
        np.testing.assert_allclose(u @ u.T @ cov, np.eye(3), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [0.5, 0.6]}, "sum to 1"),
        ({"weights": [-0.5, 1.5]}, "non-negative"),
        ({"weights": [1.0]}, r"weights must have shape \(2,\)"),
        ({"weights": [0.5, np.nan]}, "finite"),
        ({"means": [[0.0, 1.0, 2.0]]}, "weights must have shape"),
        ({"means": [0.0, 1.0]}, r"means must have shape \(n_components, n_features\)"),
        ({"means": [[0.0, np.inf, 0.0], [0.0, 0.0, 0.0]]}, "finite"),
        ({"covariances": np.ones((2, 2, 2))}, r"must have shape \(2, 3, 3\), got \(2, 2, 2\)"),
        ({"covariances": [FULL[0], -np.eye(3)]}, r"covariances\[1\] must be positive definite"),
        (
            {"covariances": [FULL[0], [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]},
            r"covariances\[1\] must be symmetric",
        ),
        ({"covariance_type": "banana"}, "covariance_type must be one of"),
        ({"covariances": [["a"] * 3] * 3}, "array of numbers"),
    ],
)
def test_invalid_parameters_are_value_errors(kwargs, match):
    args = {"weights": W, "means": MEANS, "covariances": FULL, "covariance_type": "full"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gmmfast.Mixture(**args)


@pytest.mark.parametrize(
    ("covariance_type", "covariances", "match"),
    [
        ("diag", [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], "must be positive"),
        ("spherical", [1.0, -2.0], "must be positive"),
        ("tied", np.zeros((3, 3)), "covariances must be positive definite"),
        ("tied", np.eye(2), r"must have shape \(3, 3\)"),
    ],
)
def test_invalid_covariances_of_other_types(covariance_type, covariances, match):
    with pytest.raises(ValueError, match=match):
        gmmfast.Mixture(W, MEANS, covariances, covariance_type)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) * 0.4 + 3.0])


@pytest.mark.parametrize("covariance_type", list(SHAPES))
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_from_sklearn_keeps_the_estimator_parameters(blobs, cls, covariance_type):
    est = cls(n_components=3, covariance_type=covariance_type, random_state=0, max_iter=500)
    est.fit(blobs)
    m = gmmfast.Mixture.from_sklearn(est)
    np.testing.assert_array_equal(m.weights, est.weights_)
    np.testing.assert_array_equal(m.means, est.means_)
    # Matrices are kept as their symmetric part (scikit-learn's are symmetric to rounding).
    cov = est.covariances_
    if covariance_type in ("full", "tied"):
        cov = np.where(cov == cov.swapaxes(-1, -2), cov, (cov + cov.swapaxes(-1, -2)) / 2)
    np.testing.assert_array_equal(m.covariances, cov)
    np.testing.assert_allclose(m.covariances, est.covariances_, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(m.precisions_cholesky, est.precisions_cholesky_)
    assert m.covariance_type == covariance_type


OFFSET_A = np.array([[1.0, 0.9, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])


def offset_blobs(offset, dtype=np.float64):
    r = np.random.RandomState(0)
    X = np.vstack([r.randn(300, 3), r.randn(300, 3) @ OFFSET_A + 4]) + offset
    return X.astype(dtype)


@pytest.mark.parametrize("offset", [1e3, 1e5, 1e6])
def test_tied_model_fitted_far_from_the_origin_is_accepted(offset):
    # scikit-learn's tied covariance X'X/n − μ'μ is symmetric only to 1e-6 (relative) at an
    # offset of 1e5 and 1.5e-4 at 1e6: every gmmfast function must still take the model.
    X = offset_blobs(offset)
    est = GaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
    asymmetry = np.abs(est.covariances_ - est.covariances_.T).max()
    m = gmmfast.Mixture.from_sklearn(est)
    np.testing.assert_array_equal(m.covariances, m.covariances.T)
    assert np.abs(m.covariances - est.covariances_).max() <= asymmetry * (0.5 + 1e-12)
    np.testing.assert_allclose(gmmfast.score_samples(est, X), est.score_samples(X), rtol=1e-9)
    np.testing.assert_array_equal(gmmfast.predict(m, X), est.predict(X))
    samples, _ = gmmfast.sample(est, 20_000, random_state=0)
    np.testing.assert_allclose(samples.mean(axis=0) - offset, X.mean(axis=0) - offset, atol=0.1)
    mean = gmmfast.conditional_mean(est, X[:5, :2], given=(0, 1))
    assert np.all(np.abs(mean[:, 0] - offset) < 8)


def test_a_grossly_asymmetric_matrix_is_still_refused():
    # A Cholesky factor given in place of a covariance: asymmetric at order 1.
    with pytest.raises(ValueError, match=r"relative asymmetry of 0\.9 \(at most 0\.001"):
        gmmfast.Mixture([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.9, 1.0]]])


@pytest.mark.parametrize("covariance_type", list(SHAPES))
def test_model_fitted_in_float32_is_accepted_everywhere(covariance_type):
    X = offset_blobs(0.0, np.float32)
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert est.weights_.dtype == np.float32
    m = gmmfast.Mixture.from_sklearn(est)  # sum(weights_) is 1 only to float32 rounding
    assert abs(m.weights.sum() - 1.0) <= 4e-16
    np.testing.assert_allclose(m.weights, est.weights_, rtol=1e-6)
    samples, labels = gmmfast.sample(est, 1000, random_state=1)
    assert samples.dtype == np.float64
    assert np.bincount(labels, minlength=3).sum() == 1000
    mean, std = gmmfast.conditional_mean(est, X[:4, :2], given=(0, 1), return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)


def test_weights_off_by_more_than_their_own_rounding_are_refused():
    w32 = np.array([0.5, 0.5001], dtype=np.float32)
    with pytest.raises(ValueError, match=r"weights must sum to 1 \(within 2\.38e-07\)"):
        gmmfast.Mixture(w32, [[0.0], [1.0]], [1.0, 1.0], "spherical")
    # float32 rounding is accepted and renormalised; float64 within its rounding keeps its bits.
    w32 = np.array([0.3, 0.7 + 6e-8], dtype=np.float32)
    assert float(np.sum(w32, dtype=np.float64)) != 1.0
    m = gmmfast.Mixture(w32, [[0.0], [1.0]], [1.0, 1.0], "spherical")
    assert abs(m.weights.sum() - 1.0) <= 2.3e-16
    w64 = np.array([0.1, 0.2, 0.7000000000000001])
    np.testing.assert_array_equal(
        gmmfast.Mixture(w64, [[0.0], [1.0], [2.0]], [1.0] * 3, "spherical").weights, w64
    )


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32, np.float16, np.int64])
@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
def test_result_dtype_is_scikit_learns(fit_dtype, x_dtype):
    X = offset_blobs(0.0)
    est = GaussianMixture(3, random_state=0).fit(X.astype(fit_dtype))
    Xq = (X[:50] * 2).astype(x_dtype)
    # The values are compared on float64 X: scikit-learn 1.9 computes integer and float16 X in
    # a lower precision (0.5 and 0.01 off in log p here), gmmfast converts them exactly.
    exact = Xq.astype(np.float64)
    for name in ("score_samples", "predict_proba", "predict"):
        ours = getattr(gmmfast, name)(est, Xq)
        assert ours.dtype == getattr(est, name)(Xq).dtype
        theirs = getattr(est, name)(exact)
        if ours.dtype == np.float32:
            np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-6)
        else:
            # A float32 model: scikit-learn's float32 parameters against ours rounded from them.
            tol = 1e-6 if fit_dtype == np.float32 else 1e-12
            np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_from_sklearn_refuses_unfitted_and_foreign_objects():
    with pytest.raises(NotFittedError):
        gmmfast.Mixture.from_sklearn(GaussianMixture(2))
    with pytest.raises(NotFittedError):
        gmmfast.Mixture.from_sklearn(BayesianGaussianMixture(n_components=2))
    with pytest.raises(TypeError, match="expected a fitted GaussianMixture"):
        gmmfast.Mixture.from_sklearn("not a model")


@pytest.mark.parametrize("covariance_type", list(SHAPES))
def test_marginal_takes_the_sub_blocks_in_the_given_order(covariance_type):
    m = gmmfast.Mixture(W, MEANS, SHAPES[covariance_type], covariance_type)
    sub = m.marginal((2, 0))
    assert (sub.n_features, sub.covariance_type) == (2, covariance_type)
    np.testing.assert_array_equal(sub.means, np.asarray(MEANS)[:, [2, 0]])
    np.testing.assert_array_equal(sub.weights, m.weights)
    full = np.asarray(SHAPES[covariance_type])
    expected = {
        "full": lambda: full[:, [2, 0]][:, :, [2, 0]],
        "tied": lambda: full[[2, 0]][:, [2, 0]],
        "diag": lambda: full[:, [2, 0]],
        "spherical": lambda: full,
    }[covariance_type]()
    np.testing.assert_array_equal(sub.covariances, expected)


@pytest.mark.parametrize(
    ("dims", "match"),
    [((0, 3), r"in \[0, 3\)"), ((1, 1), "repeat"), ((), "at least one"), ((-1,), r"in \[0, 3\)")],
)
def test_marginal_rejects_bad_dims(dims, match):
    m = gmmfast.Mixture(W, MEANS, FULL)
    with pytest.raises(ValueError, match=match):
        m.marginal(dims)


@settings(max_examples=15)
@given(mixtures(n_features=2, n_components=(1, 4), max_condition=1e3), st.floats(-12, 12))
def test_marginal_density_is_the_integral_of_the_joint(mixture, y):
    """log p(y) of the marginal over feature 1 equals log ∫ p(x, y) dx by quadrature."""
    marginal = mixture.marginal((1,))

    def joint(x):
        return np.exp(ref.score_samples(mixture, [[x, y]])[0])

    # Each component's profile along x at this y peaks at its conditional mean with its
    # conditional spread: split the integral there so that quadrature sees every peak.
    k, cov = mixture.n_components, mixture.covariances
    full = {
        "full": lambda: cov,
        "tied": lambda: np.broadcast_to(cov, (k, 2, 2)),
        "diag": lambda: cov[:, :, None] * np.eye(2),
        "spherical": lambda: cov[:, None, None] * np.eye(2),
    }[mixture.covariance_type]()
    slope = full[:, 0, 1] / full[:, 1, 1]
    centre = mixture.means[:, 0] + slope * (y - mixture.means[:, 1])
    spread = np.sqrt(full[:, 0, 0] - slope * full[:, 0, 1])
    steps = np.array([-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0])
    breakpoints = np.unique(centre[:, None] + spread[:, None] * steps)
    sd = np.sqrt(full[:, 0, 0].max())
    lo, hi = breakpoints[0] - 40 * sd - 10, breakpoints[-1] + 40 * sd + 10
    total, error = integrate.quad(joint, lo, hi, points=breakpoints, limit=1000, epsabs=0)
    expected = ref.score_samples(marginal, [[y]])[0]
    if total > 1e-250:  # quad cannot resolve densities below that
        assert abs(np.log(total) - expected) < 1e-6 + 10 * error / total


def test_pickle_keeps_factors_and_metadata(blobs):
    est = GaussianMixture(n_components=2, random_state=0).fit(blobs)
    m = gmmfast.Mixture.from_sklearn(est)
    again = pickle.loads(pickle.dumps(m))
    assert again == m
    np.testing.assert_array_equal(again.precisions_cholesky, est.precisions_cholesky_)
    tagged = gmmfast.Mixture(W, MEANS, FULL, metadata={"mode": "bw", "width": 4})
    assert pickle.loads(pickle.dumps(tagged)).metadata == {"mode": "bw", "width": 4}
    with pytest.raises(TypeError):
        tagged.metadata["mode"] = "color"


def test_equality_and_repr():
    a = gmmfast.Mixture(W, MEANS, FULL)
    assert a == gmmfast.Mixture(W, MEANS, [np.asarray(c) for c in FULL])
    assert a != gmmfast.Mixture(W, MEANS, SHAPES["tied"], "tied")
    assert repr(a) == "Mixture(n_components=2, n_features=3, covariance_type='full')"
