"""gmmfast.GaussianMixture: scikit-learn's EM, run by gmmfast's kernels.

Held to scikit-learn's own estimator (same initialisation, same iterates to rounding), to the
NumPy twin of one iteration (``gmmfast.reference.em_step``), and to what sample weights mean
(integer weights are repeated rows).
"""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gmmfast
import gmmfast.reference as ref
from gmmfast import _core, _fit
from gmmfast.testing import mixtures

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INITS = ["kmeans", "k-means++", "random", "random_from_data"]


def blobs(n_features=2, n=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(4, n_features))
    scales = rng.uniform(0.5, 2.0, size=4)
    X = np.vstack([c + s * rng.normal(size=(n // 4, n_features)) for c, s in zip(centres, scales)])
    return X + 3.0  # an offset, as image coordinates have


def precisions(mixture: gmmfast.Mixture):
    """``precisions_init`` of ``mixture`` in scikit-learn's layout for its covariance type."""
    cov = mixture.covariances
    return 1.0 / cov if mixture.covariance_type in ("diag", "spherical") else np.linalg.inv(cov)


def fit_both(X, sample_weight=None, X_sklearn=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = gmmfast.GaussianMixture(**params).fit(X, sample_weight=sample_weight)
        theirs = SkGaussianMixture(**params).fit(X if X_sklearn is None else X_sklearn)
    return ours, theirs


def assert_same_fit(ours, theirs, rtol=1e-8):
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-10, atol=0)
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)
    assert (ours.n_iter_, ours.converged_) == (theirs.n_iter_, theirs.converged_)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        mine, other = getattr(ours, name), getattr(theirs, name)
        assert mine.shape == other.shape and mine.dtype == other.dtype, name
        scale = np.abs(other).max()
        np.testing.assert_allclose(mine, other, rtol=rtol, atol=1e-12 * scale, err_msg=name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_twenty_iterations_are_scikit_learns(covariance_type, n_features):
    X = blobs(n_features)
    ours, theirs = fit_both(
        X, n_components=4, covariance_type=covariance_type, random_state=0, max_iter=20, tol=0
    )
    assert ours.n_iter_ == 20
    assert_same_fit(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convergence_is_scikit_learns(covariance_type):
    X = blobs(3, seed=1)
    ours, theirs = fit_both(X, n_components=5, covariance_type=covariance_type, random_state=2)
    assert ours.converged_
    assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("init_params", INITS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_initialisation_starts_where_scikit_learns_does(init_params, covariance_type):
    X = blobs(2, seed=3)
    # One iteration: lower_bounds_[0] is the initial parameters' log-likelihood. 'k-means++'
    # and 'random_from_data' start from one point per component, whose variance is reg_covar
    # alone: a larger reg_covar keeps that start well-conditioned (with 1e-6 scikit-learn's
    # own 'diag' formula, E[x²] − μ², cancels to 1e-7 of the variance).
    for random_state in (0, np.random.RandomState(5)):
        state = random_state if isinstance(random_state, int) else np.random.RandomState(5)
        ours, theirs = fit_both(
            X,
            n_components=4,
            covariance_type=covariance_type,
            init_params=init_params,
            random_state=random_state,
            max_iter=1,
            reg_covar=0.1,
        )
        if not isinstance(random_state, int):  # the instance was used: compare with a twin
            theirs = SkGaussianMixture(
                n_components=4,
                covariance_type=covariance_type,
                init_params=init_params,
                random_state=state,
                max_iter=1,
                reg_covar=0.1,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                theirs.fit(X)
        assert_same_fit(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_several_initialisations_and_warm_start_are_scikit_learns(covariance_type):
    X = blobs(2, seed=4)
    ours, theirs = fit_both(
        X, n_components=4, covariance_type=covariance_type, n_init=3, random_state=1
    )
    assert_same_fit(ours, theirs)
    params = dict(n_components=4, covariance_type=covariance_type, warm_start=True, max_iter=3)
    ours = gmmfast.GaussianMixture(random_state=0, **params)
    theirs = SkGaussianMixture(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
            assert_same_fit(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_are_repeated_rows(covariance_type):
    X = blobs(2, seed=5)
    weights = np.random.default_rng(0).integers(0, 4, size=len(X))  # zeros leave rows out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = SkGaussianMixture(4, covariance_type=covariance_type, random_state=0, max_iter=2)
        start = gmmfast.Mixture.from_sklearn(first.fit(X))
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        weights_init=start.weights,
        means_init=start.means,
        precisions_init=precisions(start),
        max_iter=15,
        tol=0,
    )
    ours, theirs = fit_both(
        X, sample_weight=weights.astype(float), X_sklearn=np.repeat(X, weights, axis=0), **params
    )
    assert_same_fit(ours, theirs)


def test_the_kmeans_initialisation_takes_the_weights():
    """With sample weights, k-means weighs the points: the first lower bound is that of the
    start scikit-learn's weighted k-means gives (``_fit.assigned_parameters`` of its labels),
    which the reference E-step evaluates independently."""
    from sklearn.cluster import KMeans

    X = blobs(2, seed=6)
    weights = np.random.default_rng(1).integers(0, 3, size=len(X)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = gmmfast.GaussianMixture(4, random_state=0, max_iter=1).fit(X, sample_weight=weights)
    kmeans = KMeans(4, n_init=1, random_state=np.random.RandomState(0))
    labels = kmeans.fit(X, sample_weight=weights).labels_
    mass = np.bincount(labels, weights=weights, minlength=4)
    means = np.array(
        [np.average(X[labels == j], axis=0, weights=weights[labels == j]) for j in range(4)]
    )
    covs = np.array(
        [
            np.cov(X[labels == j].T, aweights=weights[labels == j], bias=True) + 1e-6 * np.eye(2)
            for j in range(4)
        ]
    )
    start = gmmfast.Mixture(mass / mass.sum(), means, covs)
    lower_bound, _ = ref.em_step(start, X, sample_weight=weights)
    assert ours.lower_bounds_[0] == pytest.approx(lower_bound, rel=1e-9)
    # Unweighted k-means starts elsewhere.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = gmmfast.GaussianMixture(4, random_state=0, max_iter=1).fit(X)
    assert plain.lower_bounds_[0] != pytest.approx(lower_bound, rel=1e-6)


@settings(max_examples=25)
@given(
    mixtures(n_features=(1, 5), n_components=(1, 8), max_condition=1e3),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_one_iteration_is_the_reference_iteration(mixture, seed, weighted):
    X = gmmfast.sample(mixture, 400, random_state=seed)[0]
    weights = np.random.default_rng(seed).uniform(0, 2, size=len(X)) if weighted else None
    est = gmmfast.GaussianMixture(
        mixture.n_components,
        covariance_type=mixture.covariance_type,
        weights_init=mixture.weights,
        means_init=mixture.means,
        precisions_init=precisions(mixture),
        max_iter=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, sample_weight=weights)
    lower_bound, expected = ref.em_step(mixture, X, sample_weight=weights)
    assert est.lower_bounds_[0] == pytest.approx(lower_bound, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(est.weights_, expected.weights, rtol=1e-8, atol=1e-14)
    scale = np.abs(expected.means).max() + 1.0
    np.testing.assert_allclose(est.means_, expected.means, rtol=1e-8, atol=1e-10 * scale)
    cov_scale = np.abs(expected.covariances).max()
    np.testing.assert_allclose(
        est.covariances_, expected.covariances, rtol=1e-7, atol=1e-9 * cov_scale
    )


@settings(max_examples=25)
@given(
    mixtures(n_features=(1, 5), n_components=(2, 30)),
    st.sampled_from([1e-12, 1e-9, 1e-6, 1e-3, 0.1]),
    st.integers(0, 2**32 - 1),
)
def test_a_truncated_e_step_is_within_its_certificate(mixture, rtol, seed):
    X = gmmfast.sample(mixture, 3000, random_state=seed)[0]
    rng = np.random.default_rng(seed)
    X = np.vstack([X, rng.uniform(-40, 40, size=(500, mixture.n_features))])
    params = _fit.Parameters(
        mixture.weights, mixture.means, mixture.covariances, mixture.precisions_cholesky
    )
    kind = mixture.covariance_type
    exact = _fit.e_step(params, kind, X, None, 0.0)
    approx = _fit.e_step(params, kind, X, None, rtol)
    n = len(X)
    # The log-likelihood: (1 − rtol) p ≤ p̂ ≤ p at every point.
    slack = 1e-12 * abs(exact.log_lik)
    assert approx.log_lik <= exact.log_lik + slack
    assert approx.log_lik >= exact.log_lik + n * np.log1p(-rtol) - slack
    # Every point moves at most 2·rtol of responsibility (rtol dropped, as much gained by
    # renormalising the rest): so do the masses together.
    assert np.abs(approx.mass - exact.mass).sum() <= 2 * rtol * n + 1e-9 * n
    assert exact.log_lik == pytest.approx(np.sum(ref.score_samples(mixture, X)), rel=1e-12)


@settings(max_examples=20)
@given(
    mixtures(n_features=(1, 5), n_components=(2, 30)),
    mixtures(n_features=(1, 5), n_components=(2, 30)),
    st.sampled_from([0.0, 1e-6]),
    st.integers(0, 2**32 - 1),
)
def test_a_fits_reused_tree_gives_the_e_step_of_a_fresh_one(mixture, other, rtol, seed):
    # EM builds the kd-tree of its points once and reuses it at every iteration.
    X = gmmfast.sample(mixture, 3000, random_state=seed)[0]
    weights = np.random.default_rng(seed).uniform(0, 2, size=len(X))
    params = _fit.Parameters(
        mixture.weights, mixture.means, mixture.covariances, mixture.precisions_cholesky
    )
    kind = mixture.covariance_type
    fresh = _fit.e_step(params, kind, X, weights, rtol)
    rows = _fit.FitPoints(X)
    if rtol > 0 and mixture.n_features >= 3:
        # From three features on, a fit's E-steps truncate per point, with the candidates
        # each carries to the next: see the test below.
        return
    # The tree of the same mixture is the one the call would build: the same bits.
    for _ in range(2):
        reused = _fit.e_step(params, kind, rows, weights, rtol)
        assert reused.log_lik == fresh.log_lik
        for a, b in zip(reused[1:4], fresh[1:4]):
            np.testing.assert_array_equal(a, b)
    if other.n_features != mixture.n_features or rtol > 0:
        return
    # A tree split for another mixture (the first iteration's) sums in another order.
    rows = _fit.FitPoints(X)
    other_params = _fit.Parameters(
        other.weights, other.means, other.covariances, other.precisions_cholesky
    )
    _fit.e_step(other_params, other.covariance_type, rows, weights, 0.0)
    reused = _fit.e_step(params, kind, rows, weights, 0.0)
    assert reused.log_lik == pytest.approx(fresh.log_lik, rel=1e-12)
    np.testing.assert_allclose(reused.mass, fresh.mass, rtol=1e-10, atol=1e-12 * len(X))


@settings(max_examples=15, deadline=None)
@given(
    mixtures(n_features=(3, 5), n_components=(2, 30)),
    st.sampled_from([0.0, 1e-9, 1e-6, 1e-3]),
    st.integers(0, 2**32 - 1),
)
def test_carried_candidates_keep_every_e_step_of_a_fit_exact_or_certified(mixture, rtol, seed):
    """A fit's E-steps on one FitPoints carry each leaf's candidates to the next iteration
    and prove them again (points/carry.rs). At rtol = 0 every E-step is bitwise that of a
    fresh tree; at rtol > 0 within the certificate of the exact one. Six EM iterations, with
    a jump of the means at the fourth (the carried candidates no longer hold)."""
    rng = np.random.default_rng(seed)
    X = gmmfast.sample(mixture, 3000, random_state=seed)[0]
    X = np.vstack([X, rng.uniform(-40, 40, size=(300, mixture.n_features))])
    weights = rng.uniform(0, 2, size=len(X))
    params = _fit.Parameters(
        mixture.weights, mixture.means, mixture.covariances, mixture.precisions_cholesky
    )
    kind = mixture.covariance_type
    first = _fit.gaussian_form(
        np.log(params.weights), params.means, params.precisions_cholesky, kind
    ).components()
    rows = _fit.FitPoints(X)
    for iteration in range(6):
        if iteration == 3:
            params = params._replace(means=params.means + 3.0)
        carried = _fit.e_step(params, kind, rows, weights, rtol)
        fresh = _fit.FitPoints(X)
        fresh._tree = _core.PointTree(first, X)  # the same tree, nothing carried
        exact = _fit.e_step(params, kind, fresh, weights, 0.0)
        if rtol == 0:
            assert carried.log_lik == exact.log_lik
            for a, b in zip(carried[1:4], exact[1:4]):
                np.testing.assert_array_equal(a, b)
        else:
            total = weights.sum()
            slack = 1e-12 * abs(exact.log_lik)
            assert carried.log_lik <= exact.log_lik + slack
            assert carried.log_lik >= exact.log_lik + total * np.log1p(-rtol) - slack
            moved = np.abs(carried.mass - exact.mass).sum()
            assert moved <= 2 * rtol * total + 1e-9 * total
        try:
            params = _fit.m_step(carried, kind, 1e-6)
        except ValueError:  # an ill-defined covariance ends the fit, as in scikit-learn
            return


def test_a_point_tree_checks_its_features():
    mixture = gmmfast.Mixture(np.ones(1), np.zeros((1, 2)), np.eye(2)[None])
    params = _fit.Parameters(
        mixture.weights, mixture.means, mixture.covariances, mixture.precisions_cholesky
    )
    components = _fit.gaussian_form(
        np.log(mixture.weights), mixture.means, mixture.precisions_cholesky, "full"
    ).components()
    tree = _core.PointTree(components, np.zeros((5, 2)))
    assert (tree.n_points, tree.n_features) == (5, 2)
    with pytest.raises(ValueError, match="3 features"):
        _core.PointTree(components, np.zeros((5, 3)))
    wide = gmmfast.Mixture(np.ones(1), np.zeros((1, 3)), np.eye(3)[None])
    wide_params = _fit.Parameters(
        wide.weights, wide.means, wide.covariances, wide.precisions_cholesky
    )
    rows = _fit.FitPoints(np.zeros((5, 2)))
    _fit.e_step(params, "full", rows, None, 0.0)
    with pytest.raises(ValueError, match="the tree's points have 2 features"):
        _fit.e_step(wide_params, "full", rows, None, 0.0)
    with pytest.raises(ValueError, match="sample weights"):
        _fit.e_step(params, "full", rows, np.ones(4), 0.0)


@settings(max_examples=30)
@given(
    st.integers(1, 40),
    st.integers(1, 6),
    st.floats(-6, 6),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["full", "tied"]),
)
def test_the_m_steps_factors_are_scikit_learns(k, d, log_scale, seed, covariance_type):
    """The batched Rust factorisation against scikit-learn's per-component LAPACK calls."""
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, d, d)) * 10.0**log_scale
    covariances = a @ a.swapaxes(1, 2) + 1e-3 * 10.0 ** (2 * log_scale) * np.eye(d)
    if covariance_type == "tied":
        covariances = covariances[0]
    ours = _fit.precisions_cholesky(covariances, covariance_type)
    theirs = _compute_precision_cholesky(covariances, covariance_type)
    assert ours.shape == theirs.shape
    scale = np.abs(theirs).max(axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(ours / scale, theirs / scale, rtol=0, atol=1e-9)
    # U Uᵀ Σ = I, U upper triangular.
    np.testing.assert_array_equal(np.tril(ours, -1), 0.0)
    product = ours @ ours.swapaxes(-1, -2) @ covariances
    identity = np.broadcast_to(np.eye(d), product.shape)
    cond = np.linalg.cond(covariances)
    assert np.all(
        np.abs(product - identity) <= 1e-12 * np.reshape(cond, (*cond.shape, 1, 1)) + 1e-12
    )


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[[1.0, 2.0], [2.0, 1.0]]]),  # indefinite
        np.array([[[1.0, 1.0], [1.0, 1.0]]]),  # singular
        np.array([[[2.0, 0.0], [0.0, 2.0]], [[np.nan, 0.0], [0.0, 1.0]]]),  # NaN
    ],
)
def test_a_covariance_that_is_not_positive_definite_is_refused(bad):
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        _fit.precisions_cholesky(bad, "full")
    # scikit-learn refuses it too (its message names the ill-defined covariance; SciPy's
    # check names a NaN first).
    with pytest.raises(ValueError, match=r"ill-defined|infs or NaNs"):
        _compute_precision_cholesky(bad, "full")


@settings(max_examples=30)
@given(st.integers(1, 30), st.integers(1, 6), st.floats(-3, 3), st.integers(0, 2**32 - 1))
def test_the_scatter_is_the_numpy_expressions(k, d, log_scale, seed):
    """The M-step's scatter (Rust) against the broadcast NumPy expression it replaced: the
    same elementwise operations in the same order, so the same bits."""
    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    stats = _fit.Statistics(
        0.0,
        rng.exponential(size=k) * 100,
        rng.normal(size=(k, d)) * scale,
        rng.normal(size=(k, d, d)) * scale**2,
        rng.normal(size=(k, d)) * scale,
    )
    means = stats.shift + rng.normal(size=(k, d)) * scale * 0.1
    delta = means - stats.shift
    cross = stats.first[:, :, None] * delta[:, None, :]
    outer = delta[:, :, None] * delta[:, None, :]
    expected = stats.second - cross - cross.swapaxes(1, 2) + stats.mass[:, None, None] * outer
    np.testing.assert_array_equal(_fit._scatter(stats, means), expected)


def test_the_scatter_kernel_refuses_mismatched_shapes():
    k, d = 3, 2
    good = (np.ones(k), np.ones((k, d)), np.ones((k, d, d)), np.ones((k, d)))
    _core.scatter(*good, np.empty((k, d, d)))
    with pytest.raises(ValueError, match=r"mass must have shape \[3\]"):
        _core.scatter(np.ones(k + 1), *good[1:], np.empty((k, d, d)))
    with pytest.raises(ValueError, match=r"out must have shape \[3, 2, 2\]"):
        _core.scatter(*good, np.empty((k, d, d + 1)))
    with pytest.raises(ValueError, match="out"):
        _core.scatter(*good, np.empty((k, d, d))[:, ::-1])


def test_a_component_that_loses_its_points_behaves_as_scikit_learns():
    X = blobs(2, seed=7)
    start = gmmfast.Mixture(
        [0.3, 0.3, 0.4],
        [[X[:, 0].mean(), X[:, 1].mean()], [0.0, 0.0], [1e4, 1e4]],
        [4.0, 4.0, 1.0],
        "spherical",
    )
    params = dict(
        n_components=3,
        covariance_type="spherical",
        weights_init=start.weights,
        means_init=start.means,
        precisions_init=precisions(start),
        max_iter=5,
        tol=0,
    )
    ours, theirs = fit_both(X, **params)
    assert np.all(np.isfinite(ours.means_)) and np.all(np.isfinite(ours.covariances_))
    assert ours.weights_[2] < 1e-14
    assert_same_fit(ours, theirs)


def test_float32_data_gives_float32_parameters():
    X = blobs(2, seed=8).astype(np.float32)
    ours, theirs = fit_both(X, n_components=3, random_state=0)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(ours, name).dtype == getattr(theirs, name).dtype == np.float32
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-4)


@pytest.mark.parametrize(
    "case",
    [
        "nan",
        "inf",
        "too few points",
        "negative weight",
        "weights of the wrong length",
        "means_init shape",
        "weights_init shape",
        "precisions_init shape",
        "n_components 0",
    ],
)
def test_bad_input_raises_what_scikit_learn_raises(case):
    X = blobs(2, n=40)
    params, fit_kwargs = {"n_components": 2}, {}
    if case == "nan":
        X[0, 0] = np.nan
    elif case == "inf":
        X[3, 1] = np.inf
    elif case == "too few points":
        X, params = X[:3], {"n_components": 4}
    elif case == "negative weight":
        fit_kwargs = {"sample_weight": np.r_[-1.0, np.ones(len(X) - 1)]}
    elif case == "weights of the wrong length":
        fit_kwargs = {"sample_weight": np.ones(len(X) + 1)}
    elif case == "means_init shape":
        params["means_init"] = np.zeros((3, 2))
    elif case == "weights_init shape":
        params["weights_init"] = np.ones(3) / 3
    elif case == "precisions_init shape":
        params["precisions_init"] = np.ones((2, 3, 3))
    else:
        params["n_components"] = 0
    with pytest.raises(ValueError, match=r"\w") as ours:
        gmmfast.GaussianMixture(**params).fit(X, **fit_kwargs)
    if "sample_weight" not in fit_kwargs:
        with pytest.raises(type(ours.value)):
            SkGaussianMixture(**params).fit(X)


def test_it_is_a_scikit_learn_estimator():
    X = blobs(2)
    est = gmmfast.GaussianMixture(3, rtol=1e-6, random_state=0)
    assert isinstance(est, SkGaussianMixture)
    assert est.get_params()["rtol"] == 1e-6
    assert clone(est).get_params() == est.get_params()
    est.fit(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.score_samples(X), est.score_samples(X))
    np.testing.assert_allclose(est.score_samples(X), ref.score_samples(est, X), rtol=1e-12)
    assert est.bic(X) == pytest.approx(SkGaussianMixture.bic(est, X), rel=1e-12)
    pipe = make_pipeline(StandardScaler(), gmmfast.GaussianMixture(3, random_state=0)).fit(X)
    assert pipe.score(X) == pytest.approx(np.mean(pipe.score_samples(X)))
    search = GridSearchCV(gmmfast.GaussianMixture(random_state=0), {"n_components": [2, 4]}, cv=3)
    search.fit(X)
    assert search.best_params_["n_components"] in (2, 4)
    samples, labels = est.sample(50)
    assert samples.shape == (50, 2) and labels.shape == (50,)
    with pytest.raises(ValueError, match="rtol"):
        gmmfast.GaussianMixture(rtol=1.0).fit(X)


def test_never_an_n_by_k_array():
    """A fit at K = 2000 on 20,000 points holds far less than the 320 MB an n × K float64
    responsibility matrix would take (the E-step's sums are K × d × d)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1000, size=(20_000, 2))
    mixture = gmmfast.Mixture(
        np.full(2000, 1 / 2000), rng.uniform(0, 1000, (2000, 2)), np.full(2000, 100.0), "spherical"
    )
    est = gmmfast.GaussianMixture(
        2000,
        covariance_type="spherical",
        weights_init=mixture.weights,
        means_init=mixture.means,
        precisions_init=precisions(mixture),
        max_iter=2,
        tol=0,
    )
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("init_params", INITS)
def test_max_iter_zero_keeps_the_start_and_labels_by_it(init_params):
    """With max_iter=0 the start is the fit, even where scikit-learn's leaves weights that do
    not sum to 1 (one point per component: 'k-means++', 'random_from_data')."""
    X = blobs(2, seed=9)
    params = dict(n_components=4, init_params=init_params, random_state=0, max_iter=0)
    ours = gmmfast.GaussianMixture(**params).fit_predict(X)
    theirs = SkGaussianMixture(**params).fit_predict(X)
    np.testing.assert_array_equal(ours, theirs)
