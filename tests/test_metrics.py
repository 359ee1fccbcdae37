"""gmmfast.metrics: divergences, entropies and mutual information between mixtures.

Truths come from outside the code under test: closed forms written here with NumPy/SciPy,
``scipy.integrate`` quadrature, ``scipy.stats.multivariate_normal``. Monte Carlo estimates must
lie within 4 standard errors of them (false-failure probability 6e-5 per comparison for a
normal estimate), and the standard errors must be calibrated.
"""

import math
import textwrap
import warnings

import _subprocess
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
from gmmfast import metrics
from gmmfast import reference as ref
from gmmfast._metrics_mc import _chunks, _Strata, allocation
from gmmfast.testing import mixtures

LN2 = math.log(2.0)
SYMMETRIC_MC = (
    metrics.js_divergence,
    metrics.hellinger_distance,
    metrics.total_variation_distance,
)


def within(estimate, truth, k=4.0, slack=1e-12):
    """|value − truth| <= k standard errors (plus rounding slack)."""
    assert abs(estimate.value - truth) <= k * estimate.std_error + slack, (estimate, truth)


def random_mixture(rng, k, d, covariance_type="full", spread=5.0, scale=(0.5, 2.0)):
    weights = rng.dirichlet(np.ones(k))
    means = rng.uniform(-spread, spread, size=(k, d))
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        s = rng.uniform(*scale, size=(k, 1, 1))
        covs = s**2 * (a @ a.transpose(0, 2, 1) / d + 0.3 * np.eye(d))
    elif covariance_type == "tied":
        a = rng.normal(size=(d, d))
        covs = a @ a.T / d + 0.5 * np.eye(d)
    elif covariance_type == "diag":
        covs = rng.uniform(*scale, size=(k, d)) ** 2
    else:
        covs = rng.uniform(*scale, size=k) ** 2
    return gmmfast.Mixture(weights, means, covs, covariance_type)


def gaussian(mean, cov):
    mean = np.atleast_1d(np.asarray(mean, float))
    cov = np.asarray(cov, float).reshape(mean.size, mean.size)
    return gmmfast.Mixture([1.0], mean[None], cov[None])


def gaussian_kl(m1, s1, m2, s2):
    """KL(N(m1, s1) ‖ N(m2, s2)) with inverses and slogdet (independent of gmmfast)."""
    d = len(m1)
    inv = np.linalg.inv(s2)
    dm = np.asarray(m2) - np.asarray(m1)
    return 0.5 * (
        np.trace(inv @ s1) + dm @ inv @ dm - d + np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1]
    )


def density_1d(mixture):
    sd = np.sqrt(np.asarray(mixture.covariances).reshape(mixture.n_components))
    w, mu = mixture.weights, mixture.means[:, 0]
    return lambda x: float(np.sum(w * stats.norm.pdf(x, mu, sd)))


def quad(f, lo=-40.0, hi=40.0):
    value, _ = integrate.quad(f, lo, hi, limit=500, epsabs=1e-13, epsrel=1e-11)
    return value


def tv_1d(p, q):
    fp, fq = density_1d(p), density_1d(q)
    return 0.5 * quad(lambda x: abs(fp(x) - fq(x)))


def js_1d(p, q):
    fp, fq = density_1d(p), density_1d(q)

    def f(x):
        a, b = fp(x), fq(x)
        m = 0.5 * (a + b)
        return 0.5 * sum(v * math.log(v / m) for v in (a, b) if v > 0)

    return quad(f)


def kl_1d(p, q):
    fp, fq = density_1d(p), density_1d(q)

    def f(x):
        a = fp(x)
        return a * (math.log(a) - math.log(fq(x))) if a > 0 else 0.0

    return quad(f, -25.0, 25.0)


# --- the pairwise kernel's twin ------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_pairwise_twin_against_scipy(covariance_type):
    rng = np.random.default_rng(1)
    p = random_mixture(rng, 7, 3, covariance_type)
    q = random_mixture(rng, 5, 3, "full")
    stack = lambda m: np.array(  # noqa: E731
        [np.diag(c) if c.ndim == 1 else c for c in _covariance_list(m)]
    )
    sp, sq = stack(p), stack(q)
    log_w = np.log(q.weights)
    overlap = ref.pairwise_logsumexp(p.means, sp, q.means, sq, log_w, "overlap")
    kl = ref.pairwise_logsumexp(p.means, sp, q.means, sq, log_w, "kl")
    for i in range(p.n_components):
        direct = sum(
            q.weights[j] * stats.multivariate_normal(q.means[j], sp[i] + sq[j]).pdf(p.means[i])
            for j in range(q.n_components)
        )
        np.testing.assert_allclose(overlap[i], math.log(direct), rtol=1e-10)
        direct = sum(
            q.weights[j] * math.exp(-gaussian_kl(p.means[i], sp[i], q.means[j], sq[j]))
            for j in range(q.n_components)
        )
        np.testing.assert_allclose(kl[i], math.log(direct), rtol=1e-9, atol=1e-12)


def _covariance_list(m):
    c = np.asarray(m.covariances)
    if m.covariance_type == "tied":
        return [c] * m.n_components
    if m.covariance_type == "spherical":
        return [np.full(m.n_features, v) for v in c]
    return list(c)


def test_pairwise_twin_is_chunked_the_same():
    """A block of rows gives the same result as the rows alone (no cross-row reduction)."""
    rng = np.random.default_rng(2)
    p, q = random_mixture(rng, 40, 2), random_mixture(rng, 30, 2)
    args = (p.means, p.covariances, q.means, q.covariances, np.log(q.weights))
    whole = ref.pairwise_logsumexp(*args, "overlap")
    part = ref.pairwise_logsumexp(p.means[5:9], p.covariances[5:9], *args[2:], "overlap")
    np.testing.assert_allclose(part, whole[5:9], rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(mixtures(n_features=(1, 10), n_components=(1, 20), max_condition=1e4), st.data())
def test_pairwise_kernel_matches_its_numpy_twin(p, data):
    """The compiled kernel (eight pairs at a time, up to 8 features; one pair at a time above)
    against the NumPy twin, for every kind and covariance type."""
    from gmmfast import _core
    from gmmfast._gaussian import full_covariances

    q = data.draw(mixtures(n_features=p.n_features, n_components=(1, 20), max_condition=1e4))
    args = []
    for m in (p, q):
        args += [
            np.ascontiguousarray(m.means),
            full_covariances(m.covariances, m.covariance_type, m.n_components, m.n_features),
        ]
    log_w = np.log(q.weights)
    for kind in ("overlap", "kl"):
        out = np.empty(p.n_components)
        _core.pairwise_logsumexp(*args, log_w, kind, out)
        want = ref.pairwise_logsumexp(*args, log_w, kind)
        np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)


# --- single Gaussians ---------------------------------------------------------------------------


GAUSSIAN_PAIRS = [
    ([0.0], [[1.0]], [1.0], [[2.0]]),
    ([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]], [1.0, -0.5], [[2.0, -0.4], [-0.4, 1.0]]),
    ([1.0, 2.0, 3.0], np.diag([1.0, 2.0, 0.5]), [1.5, 2.0, 2.0], np.eye(3)),
]


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), GAUSSIAN_PAIRS)
def test_kl_between_single_gaussians_is_the_exact_closed_form(m1, s1, m2, s2):
    truth = gaussian_kl(np.array(m1), np.array(s1), np.array(m2), np.array(s2))
    for method in ("mc", "variational"):
        est = metrics.kl_divergence(gaussian(m1, s1), gaussian(m2, s2), method=method)
        assert est.std_error == 0.0 and est.n_samples == 0
        assert est.value == pytest.approx(truth, rel=1e-12)
    p = gaussian(m1, s1)
    assert metrics.entropy(p).value == pytest.approx(
        stats.multivariate_normal(m1, s1).entropy(), rel=1e-12
    )
    assert metrics.cross_entropy(p, gaussian(m2, s2)).value == pytest.approx(
        stats.multivariate_normal(m1, s1).entropy() + truth, rel=1e-12
    )


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), GAUSSIAN_PAIRS)
def test_hellinger_against_the_bhattacharyya_closed_form(m1, s1, m2, s2):
    s1, s2, dm = np.array(s1), np.array(s2), np.array(m2) - np.array(m1)
    s = 0.5 * (s1 + s2)
    d_b = dm @ np.linalg.solve(s, dm) / 8 + 0.5 * (
        np.linalg.slogdet(s)[1] - 0.5 * (np.linalg.slogdet(s1)[1] + np.linalg.slogdet(s2)[1])
    )
    truth = math.sqrt(1.0 - math.exp(-d_b))
    est = metrics.hellinger_distance(gaussian(m1, s1), gaussian(m2, s2), random_state=3)
    assert est.method == "mc-importance-stratified" and est.n_samples == 100_000
    within(est, truth)
    assert est.std_error < 0.01


def test_js_and_tv_of_1d_gaussians_against_quadrature():
    p, q = gaussian([0.0], [[1.0]]), gaussian([1.3], [[0.49]])
    within(metrics.js_divergence(p, q, random_state=0), js_1d(p, q))
    within(metrics.total_variation_distance(p, q, random_state=0), tv_1d(p, q))


def test_js_and_tv_of_2d_gaussians_against_quadrature():
    m1, s1 = np.zeros(2), np.array([[1.0, 0.4], [0.4, 0.8]])
    m2, s2 = np.array([0.7, -0.3]), np.array([[0.6, -0.1], [-0.1, 1.2]])
    fp, fq = stats.multivariate_normal(m1, s1).pdf, stats.multivariate_normal(m2, s2).pdf

    def tv(y, x):
        return 0.5 * abs(fp((x, y)) - fq((x, y)))

    def js(y, x):
        a, b = fp((x, y)), fq((x, y))
        m = 0.5 * (a + b)
        return 0.5 * sum(v * math.log(v / m) for v in (a, b) if v > 0)

    opts = {"epsabs": 1e-7, "epsrel": 1e-7}
    tv_true = integrate.dblquad(tv, -9, 9, -9, 9, **opts)[0]
    js_true = integrate.dblquad(js, -9, 9, -9, 9, **opts)[0]
    p, q = gaussian(m1, s1), gaussian(m2, s2)
    within(metrics.total_variation_distance(p, q, random_state=1, n_samples=20_000), tv_true)
    within(metrics.js_divergence(p, q, random_state=1, n_samples=20_000), js_true)


def test_mixture_kl_and_entropies_against_quadrature():
    p = gmmfast.Mixture([0.3, 0.7], [[-2.0], [1.0]], [0.5, 1.5], "spherical")
    q = gmmfast.Mixture([0.6, 0.4], [[-1.0], [2.0]], [1.0, 0.8], "spherical")
    fp, fq = density_1d(p), density_1d(q)
    within(metrics.kl_divergence(p, q, random_state=4), kl_1d(p, q))
    entropy = -quad(lambda x: fp(x) * math.log(fp(x)) if fp(x) > 0 else 0.0, -25, 25)
    cross = -quad(lambda x: fp(x) * math.log(fq(x)), -25, 25)
    est = metrics.entropy(p, random_state=4)
    assert est.method == "mc-stratified-cv"
    within(est, entropy)
    within(metrics.cross_entropy(p, q, random_state=4), cross)


def test_mutual_information_against_quadrature():
    m = gmmfast.Mixture(
        [0.5, 0.5], [[0.0, 0.0], [2.0, 2.0]], [[[1.0, 0.5], [0.5, 1.0]], np.eye(2) * 0.5]
    )
    fa, fb = density_1d(m.marginal([0])), density_1d(m.marginal([1]))
    comps = [stats.multivariate_normal(mu, c) for mu, c in zip(m.means, m.covariances)]

    def f(y, x):
        joint = sum(w * c.pdf((x, y)) for w, c in zip(m.weights, comps))
        return joint * math.log(joint / (fa(x) * fb(y))) if joint > 0 else 0.0

    truth = integrate.dblquad(f, -8, 10, -8, 10, epsabs=1e-8, epsrel=1e-8)[0]
    within(metrics.mutual_information(m, [0], [1], random_state=2, n_samples=50_000), truth)


def test_mutual_information_of_one_gaussian_is_its_closed_form():
    cov = np.array([[2.0, 0.3, 0.5], [0.3, 1.0, -0.2], [0.5, -0.2, 1.5]])
    truth = 0.5 * (
        np.linalg.slogdet(cov[:2, :2])[1] + math.log(cov[2, 2]) - np.linalg.slogdet(cov)[1]
    )
    est = metrics.mutual_information(gaussian([0, 1, 2], cov), [0, 1], [2])
    assert est.method == "closed-form" and est.value == pytest.approx(truth, rel=1e-12)


# --- calibration --------------------------------------------------------------------------------


def z_scores(function, p, q, truth, n_samples):
    return np.array(
        [
            (est.value - truth) / est.std_error
            for est in (
                function(p, q, n_samples=n_samples, random_state=seed) for seed in range(200)
            )
        ]
    )


def test_standard_errors_are_calibrated():
    """|z| < 2 in 93–97 % of 200 seeded runs, for a bounded integrand under m (TV of single
    Gaussians) and an unbounded one under p (KL between mixtures). For exactly normal z
    the count is Binomial(200, 0.9545): outside [186, 194] with probability 0.15 per
    quantity; the seeds are fixed, so the outcome is the same on every run."""
    p, q = gaussian([0.0], [[1.0]]), gaussian([1.0], [[2.0]])
    z = z_scores(metrics.total_variation_distance, p, q, tv_1d(p, q), 2000)
    assert 0.93 <= np.mean(np.abs(z) < 2) <= 0.97, np.mean(np.abs(z) < 2)
    p = gmmfast.Mixture([0.3, 0.7], [[-2.0], [1.0]], [0.5, 1.5], "spherical")
    q = gmmfast.Mixture([0.6, 0.4], [[-1.0], [2.0]], [1.0, 0.8], "spherical")
    z = z_scores(metrics.kl_divergence, p, q, kl_1d(p, q), 2000)
    assert 0.93 <= np.mean(np.abs(z) < 2) <= 0.97, np.mean(np.abs(z) < 2)


# --- identities ---------------------------------------------------------------------------------


def all_measures(p, q, **kwargs):
    return {
        "kl": metrics.kl_divergence(p, q, **kwargs),
        "kl-variational": metrics.kl_divergence(p, q, method="variational"),
        "js": metrics.js_divergence(p, q, **kwargs),
        "hellinger": metrics.hellinger_distance(p, q, **kwargs),
        "tv": metrics.total_variation_distance(p, q, **kwargs),
        "l2": metrics.l2_distance(p, q),
        "cs": metrics.cauchy_schwarz_divergence(p, q),
    }


@settings(max_examples=15, deadline=None)
@given(mixtures(n_features=(1, 4), n_components=(1, 8), max_condition=1e3))
def test_a_mixture_is_at_distance_zero_from_itself(p):
    for name, est in all_measures(p, p, n_samples=2000, random_state=0).items():
        assert est.value == 0.0, name
    arrays = (p.weights.copy(), p.means.copy(), p.covariances.copy())
    same = gmmfast.Mixture(*arrays, p.covariance_type)
    assert metrics.js_divergence(p, same, n_samples=2000, random_state=0).value == 0.0
    ce = metrics.cross_entropy(p, p, n_samples=2000, random_state=5)
    assert ce == metrics.entropy(p, n_samples=2000, random_state=5)


def test_estimators_are_at_distance_zero_from_their_mixtures():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in (GaussianMixture, BayesianGaussianMixture):
            est = cls(n_components=3, random_state=0).fit(X)
            mixture = gmmfast.Mixture.from_sklearn(est)
            for name, value in all_measures(est, mixture, n_samples=500, random_state=0).items():
                assert value.value == 0.0, (cls, name)
            q = random_mixture(rng, 3, 2)
            assert metrics.kl_divergence(est, q, random_state=1) == metrics.kl_divergence(
                mixture, q, random_state=1
            )


@settings(max_examples=10, deadline=None)
@given(
    mixtures(n_features=(1, 3), n_components=(1, 6), max_condition=1e3),
    mixtures(n_features=(1, 3), n_components=(1, 6), max_condition=1e3),
)
def test_symmetry_and_bounds(p, q):
    if p.n_features != q.n_features:
        with pytest.raises(ValueError, match="same number of features"):
            metrics.js_divergence(p, q)
        return
    forward = all_measures(p, q, n_samples=4000, random_state=3)
    backward = all_measures(q, p, n_samples=4000, random_state=3)
    for name in ("js", "hellinger", "tv", "l2", "cs"):
        assert forward[name] == backward[name], name
    js, h, tv, kl = (forward[n] for n in ("js", "hellinger", "tv", "kl"))
    assert 0 <= js.value <= LN2 and 0 <= h.value <= 1 and 0 <= tv.value <= 1
    # Sampled from the same m, the estimates themselves obey H² <= TV <= √2 H.
    assert h.value**2 <= tv.value * (1 + 1e-12) + 1e-15
    assert tv.value <= math.sqrt(2) * h.value * (1 + 1e-12) + 1e-15
    # Pinsker, between two estimates from different samples: with 4 standard errors of slack.
    kl_upper = max(kl.value + 4 * kl.std_error, 0.0)
    assert tv.value - 4 * tv.std_error <= math.sqrt(kl_upper / 2) + 1e-12
    assert forward["l2"].value >= 0 and forward["cs"].value >= 0


def test_invariance_under_the_same_affine_map():
    rng = np.random.default_rng(5)
    p, q = random_mixture(rng, 4, 3), random_mixture(rng, 3, 3, "diag")
    A = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    b = rng.normal(size=3) * 10
    pa, qa = p.affine(A, b), q.affine(A, b)
    for function in (metrics.kl_divergence, *SYMMETRIC_MC):
        before = function(p, q, random_state=1)
        after = function(pa, qa, random_state=2)
        se = math.hypot(before.std_error, after.std_error)
        assert abs(before.value - after.value) <= 4 * se, function.__name__
    for function in (metrics.cauchy_schwarz_divergence,):
        assert function(pa, qa).value == pytest.approx(function(p, q).value, rel=1e-8)
    variational = metrics.kl_divergence(pa, qa, method="variational").value
    assert variational == pytest.approx(
        metrics.kl_divergence(p, q, method="variational").value, rel=1e-8
    )
    det = abs(np.linalg.det(A))
    assert metrics.l2_distance(pa, qa).value == pytest.approx(
        metrics.l2_distance(p, q).value / det, rel=1e-8
    )
    h, ha = metrics.entropy(p, random_state=0), metrics.entropy(pa, random_state=0)
    assert abs(ha.value - h.value - math.log(det)) <= 4 * math.hypot(h.std_error, ha.std_error)


def test_mutual_information_is_zero_for_independent_features():
    rng = np.random.default_rng(3)
    a, b = random_mixture(rng, 3, 2), random_mixture(rng, 2, 1)
    # The product mixture a(x) b(y): components (i, j) with weight w_i v_j, block covariances.
    weights, means, covs = [], [], []
    for i in range(3):
        for j in range(2):
            weights.append(a.weights[i] * b.weights[j])
            means.append(np.concatenate([a.means[i], b.means[j]]))
            cov = np.zeros((3, 3))
            cov[:2, :2], cov[2, 2] = a.covariances[i], b.covariances[j, 0, 0]
            covs.append(cov)
    product = gmmfast.Mixture(weights, means, covs)
    est = metrics.mutual_information(product, [0, 1], [2], n_samples=20_000, random_state=0)
    assert abs(est.value) < 1e-12 and est.std_error < 1e-12
    block = gaussian([0, 0, 0], [[1.0, 0.3, 0.0], [0.3, 2.0, 0.0], [0.0, 0.0, 3.0]])
    assert abs(metrics.mutual_information(block, [0, 1], [2]).value) < 1e-14
    assert metrics.mutual_information(product, [0, 1], [2]).n_samples == 100_000


# --- the grid -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_grid_quadrature_agrees_with_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    kinds = ["full", "tied", "diag", "spherical"]
    p = random_mixture(rng, rng.integers(1, 6), 2, kinds[seed])
    q = random_mixture(rng, rng.integers(1, 6), 2, kinds[-seed - 1])
    grid = gmmfast.Grid(600, 600, (-16, 16), (-16, 16))
    for function in SYMMETRIC_MC:
        on_grid = function(p, q, method="grid", grid=grid)
        assert on_grid.method == "grid" and 0 <= on_grid.std_error < 1e-6
        mc = function(p, q, random_state=seed)
        within(mc, on_grid.value, slack=on_grid.std_error)
        assert function(p, p, method="grid", grid=grid).value == 0.0
    for function in (metrics.kl_divergence, metrics.cross_entropy):
        on_grid = function(p, q, method="grid", grid=grid)
        assert on_grid.method in ("grid", "closed-form") and 0 <= on_grid.std_error < 1e-6
        within(function(p, q, random_state=seed), on_grid.value, slack=on_grid.std_error + 1e-4)
    on_grid = metrics.entropy(p, method="grid", grid=grid)
    within(metrics.entropy(p, random_state=seed), on_grid.value, slack=on_grid.std_error + 1e-4)


def test_grid_bound_covers_a_grid_that_is_too_small():
    p, q = gaussian([0.0, 0.0], np.eye(2)), gaussian([1.0, 0.0], np.eye(2))
    wide = metrics.total_variation_distance(
        p, q, method="grid", grid=gmmfast.Grid(800, 800, (-12, 12), (-12, 12))
    )
    small = gmmfast.Grid(200, 200, (-1.5, 2.5), (-2, 2))
    narrow = metrics.total_variation_distance(p, q, method="grid", grid=small)
    assert narrow.std_error > 1e-3
    assert narrow.value <= wide.value <= narrow.value + narrow.std_error
    truth = 2 * stats.norm.cdf(0.5) - 1  # equal covariances: 2Φ(Δ/2) − 1
    assert wide.value == pytest.approx(truth, abs=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_grid_bounds_of_kl_and_entropies_cover_the_truth(seed):
    """On grids cut ever closer around two mixtures, the truth (a wide grid's value) stays
    within the reported bound of the narrow grids' values."""
    rng = np.random.default_rng(10 + seed)
    p = random_mixture(rng, 3, 2, spread=2.0)
    q = random_mixture(rng, 2, 2, "diag", spread=2.0)
    wide = gmmfast.Grid(800, 800, (-18, 18), (-18, 18))
    functions = {
        "kl": lambda g: metrics.kl_divergence(p, q, method="grid", grid=g),
        "kl-reverse": lambda g: metrics.kl_divergence(q, p, method="grid", grid=g),
        "cross": lambda g: metrics.cross_entropy(p, q, method="grid", grid=g),
        "entropy": lambda g: metrics.entropy(p, method="grid", grid=g),
    }
    for name, function in functions.items():
        truth = function(wide)
        assert truth.std_error < 1e-6, name
        for half in (8.0, 5.0, 3.0, 1.5):
            step = 36.0 / 800  # the same pixel size, so the discretisation is the same
            n = round(2 * half / step) + 1
            narrow = function(gmmfast.Grid(n, n, (-half, half), (-half, half)))
            slack = narrow.std_error + truth.std_error + 1e-6
            assert abs(narrow.value - truth.value) <= slack, (name, half)
            if half == 1.5:
                assert narrow.std_error > 1e-3, name


def test_grid_takes_two_dims_of_a_larger_model():
    rng = np.random.default_rng(8)
    p, q = random_mixture(rng, 3, 4), random_mixture(rng, 2, 4)
    grid = gmmfast.Grid(300, 300, (-16, 16), (-16, 16))
    on_grid = metrics.hellinger_distance(p, q, method="grid", grid=grid, dims=(2, 0))
    marginal = metrics.hellinger_distance(
        p.marginal([2, 0]), q.marginal([2, 0]), method="grid", grid=grid
    )
    assert on_grid == marginal
    with pytest.raises(ValueError, match="2 features"):
        metrics.hellinger_distance(p, q, method="grid", grid=grid)


def test_variance_reduction_beats_plain_sampling():
    """On well-separated components the between-component variance that stratification and
    the control variate remove is most of it: the reported standard errors are several times
    below plain Monte Carlo's (computed here from gmmfast.sample and score_samples)."""
    p = gmmfast.Mixture([0.2, 0.5, 0.3], [[-10.0], [0.0], [12.0]], [1.0, 0.3, 2.0], "spherical")
    q = gmmfast.Mixture([0.4, 0.6], [[-9.0], [8.0]], [2.0, 5.0], "spherical")
    n = 20_000
    X, _ = gmmfast.sample(p, n, random_state=0)
    lp, lq = gmmfast.score_samples(p, X), gmmfast.score_samples(q, X)
    plain = {"kl": np.std(lp - lq), "entropy": np.std(lp), "cross": np.std(lq)}
    ours = {
        "kl": metrics.kl_divergence(p, q, n_samples=n, random_state=1),
        "entropy": metrics.entropy(p, n_samples=n, random_state=1),
        "cross": metrics.cross_entropy(p, q, n_samples=n, random_state=1),
    }
    for name, est in ours.items():
        assert est.std_error * math.sqrt(n) < plain[name] / 2, name
    assert ours["entropy"].std_error * math.sqrt(n) < plain["entropy"] / 100


# --- engine, reproducibility and errors ---------------------------------------------------------


def test_stratified_allocation_and_chunks():
    weights = np.array([0.5, 0.0, 1e-9, 0.3, 0.2 - 1e-9])
    counts = allocation(weights, 1001)
    assert counts.sum() == 1001 and counts[1] == 0 and counts[2] == 2
    assert np.all(np.abs(counts[[0, 3, 4]] - 2 - weights[[0, 3, 4]] * (1001 - 8)) <= 1)
    assert allocation(weights, 7) is None
    chunks = list(_chunks(np.array([5, 0, 12, 3], dtype=np.uint64), 8))
    assert all(c.sum() <= 8 for c in chunks)
    np.testing.assert_array_equal(sum(chunks), [5, 0, 12, 3])


def test_strata_merge_chunks_like_one_pass():
    rng = np.random.default_rng(0)
    values = rng.normal(size=30) + 1e6
    labels = np.repeat([0, 2, 3], [10, 15, 5])
    strata = _Strata(4)
    for part in (slice(0, 12), slice(12, 20), slice(20, 30)):
        strata.add(labels[part], values[part])
    for k in (0, 2, 3):
        v = values[labels == k]
        assert strata.count[k] == v.size
        assert strata.mean[k] == pytest.approx(v.mean(), rel=1e-15)
        assert strata.m2[k] == pytest.approx(((v - v.mean()) ** 2).sum(), rel=1e-9)


def test_few_samples_fall_back_to_plain_sampling():
    rng = np.random.default_rng(0)
    p, q = random_mixture(rng, 50, 2), random_mixture(rng, 40, 2)
    est = metrics.kl_divergence(p, q, n_samples=60, random_state=0)
    assert est.method == "mc" and est.n_samples == 60 and est.std_error > 0
    assert metrics.js_divergence(p, q, n_samples=100, random_state=0).method == "mc-importance"
    assert float(est) == est.value


def test_large_sample_counts_run_in_chunks():
    rng = np.random.default_rng(1)
    p, q = random_mixture(rng, 3, 5), random_mixture(rng, 4, 5)
    a = metrics.kl_divergence(p, q, n_samples=300_000, random_state=9)
    b = metrics.kl_divergence(p, q, n_samples=300_000, random_state=9)
    assert a == b and a.n_samples == 300_000
    assert metrics.kl_divergence(p, q, n_samples=300_000, random_state=10) != a


SCRIPT = textwrap.dedent(
    """
    import numpy as np, gmmfast
    from gmmfast import _core, metrics
    rng = np.random.default_rng(4)
    k = 60
    a = rng.normal(size=(k, 3, 3))
    p = gmmfast.Mixture(rng.dirichlet(np.ones(k)), rng.uniform(0, 30, (k, 3)),
                        a @ a.transpose(0, 2, 1) + 0.5 * np.eye(3))
    q = gmmfast.Mixture(np.full(40, 1 / 40), rng.uniform(0, 30, (40, 3)), np.ones(40), "spherical")
    values = []
    for f in (metrics.kl_divergence, metrics.js_divergence, metrics.cross_entropy):
        values += list(f(p, q, n_samples=150_000, random_state=11)[:2])
    values += list(metrics.mutual_information(p, [0], [1, 2], random_state=3)[:2])
    values += [metrics.cauchy_schwarz_divergence(p, q).value]
    print(_core.num_threads(), " ".join(v.hex() for v in values))
    """
)


def test_results_are_bitwise_identical_for_any_thread_count():
    one, two, three = (_subprocess.run_with_threads(SCRIPT, n) for n in (1, 2, 3))
    assert [one[0], two[0], three[0]] == ["1", "2", "3"]
    assert one[1:] == two[1:] == three[1:]


def test_bad_arguments_are_refused_as_scikit_learn_would():
    p = gaussian([0.0, 0.0], np.eye(2))
    q = random_mixture(np.random.default_rng(0), 2, 2)
    with pytest.raises(ValueError, match="same number of features"):
        metrics.kl_divergence(p, gaussian([0.0], [[1.0]]))
    with pytest.raises(ValueError, match="method must be one of"):
        metrics.js_divergence(p, q, method="exact")
    with pytest.raises(ValueError, match="method must be one of"):
        metrics.mutual_information(q, [0], [1], method="grid")
    with pytest.raises(ValueError, match="needs grid="):
        metrics.kl_divergence(p, q, method="grid")
    with pytest.raises(ValueError, match="needs grid="):
        metrics.total_variation_distance(p, q, method="grid")
    with pytest.raises(ValueError, match="only used with method='grid'"):
        metrics.total_variation_distance(p, q, grid=gmmfast.Grid(5, 5))
    with pytest.raises(ValueError, match="non-zero size"):
        metrics.total_variation_distance(p, q, method="grid", grid=gmmfast.Grid(1, 5))
    with pytest.raises(TypeError, match=r"gmmfast\.Grid"):
        metrics.total_variation_distance(p, q, method="grid", grid=(5, 5))
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        metrics.kl_divergence(q, p, n_samples=0)
    with pytest.raises(ValueError, match="random_state"):
        metrics.kl_divergence(q, p, random_state="x")
    with pytest.raises(ValueError, match="must not share"):
        metrics.mutual_information(q, [0, 1], [1])
    with pytest.raises(ValueError, match="a_dims"):
        metrics.mutual_information(q, [5], [1])
    with pytest.raises(NotFittedError):
        metrics.entropy(GaussianMixture())
    with pytest.raises(TypeError, match="expected a fitted"):
        metrics.l2_distance(p, "model")


# --- image.psnr ---------------------------------------------------------------------------------


def test_psnr_values_by_dtype():
    from gmmfast.image import psnr

    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 16  # MSE = 16² / 16 = 16
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 16), rel=1e-14)
    assert psnr(a, a) == math.inf
    # Differences in float64, not wrapped around in uint8: MSE = 255².
    assert psnr(np.zeros(3, np.uint8), np.full(3, 255, np.uint8)) == pytest.approx(0.0, abs=1e-12)
    assert psnr(np.zeros(2, np.uint16), np.array([0, 65535], np.uint16)) == pytest.approx(
        10 * math.log10(2), rel=1e-12
    )
    f = np.array([0.0, 0.5, 1.0])
    assert psnr(f, f + 0.1) == pytest.approx(20.0, rel=1e-12)  # range 1: 10 log10(1 / 0.01)
    assert psnr(f - 0.5, f - 0.4) == pytest.approx(10 * math.log10(4 / 0.01), rel=1e-12)
    assert psnr(f * 255, f * 255 + 25.5, data_range=255) == pytest.approx(20.0, rel=1e-12)
    rgb = np.zeros((2, 3, 3), np.uint8)
    assert psnr(rgb, rgb.astype(float) + 5.0) == pytest.approx(10 * math.log10(255**2 / 25))


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), r"same shape, got \(4, 4\) and \(4, 5\)"),
        (np.zeros((4, 4, 3)), np.zeros((4, 4)), "same shape"),
        (np.zeros(0), np.zeros(0), "empty"),
        (np.array([0.0, np.nan]), np.zeros(2), "finite"),
        (np.array([0.0, 200.0]), np.zeros(2), "give data_range"),
        (np.array(["a", "b"]), np.zeros(2), "strings"),
        (np.array([1 + 1j, 0]), np.zeros(2), "complex"),
    ],
)
def test_psnr_refuses_bad_pictures(a, b, match):
    from gmmfast.image import psnr

    with pytest.raises(ValueError, match=match):
        psnr(a, b)
