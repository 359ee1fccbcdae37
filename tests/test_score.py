"""The score ∇ₓ log p(x): on points, on grids, far away; and the reverse diffusion process."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
from gmmfast import datasets, diffusion
from gmmfast.testing import mixtures


def direct_score(model: gmmfast.Mixture, X: np.ndarray) -> tuple:
    """−Σ_k r_k Σ_k⁻¹ (x − μ_k) with NumPy and SciPy (an implementation independent of
    gmmfast's kernels), and Σ_k r_k ‖Σ_k⁻¹ (x − μ_k)‖, the scale of its rounding errors."""
    K, d = model.n_components, model.n_features
    covs = model.covariances
    if model.covariance_type == "tied":
        covs = np.repeat(covs[np.newaxis], K, 0)
    elif model.covariance_type == "diag":
        covs = np.stack([np.diag(c) for c in covs])
    elif model.covariance_type == "spherical":
        covs = covs[:, np.newaxis, np.newaxis] * np.eye(d)
    log_terms = np.stack(
        [
            np.log(model.weights[k]) + stats.multivariate_normal(model.means[k], covs[k]).logpdf(X)
            for k in range(K)
        ],
        axis=-1,
    ).reshape(len(X), K)
    r = np.exp(log_terms - logsumexp(log_terms, axis=1, keepdims=True))
    grads = np.stack([-np.linalg.solve(covs[k], (X - model.means[k]).T).T for k in range(K)], 1)
    score = np.einsum("nk,nkd->nd", r, grads)
    scale = np.einsum("nk,nk->n", r, np.linalg.norm(grads, axis=2))
    return score, scale


@settings(max_examples=60, deadline=None)
@given(mixtures(max_condition=1e3), st.integers(0, 2**32 - 1))
def test_score_matches_a_direct_computation(model, seed):
    X = gmmfast.sample(model, 40, random_state=seed)[0]
    got = gmmfast.score(model, X)
    want, scale = direct_score(model, X)
    assert got.shape == X.shape and got.dtype == np.float64
    err = np.linalg.norm(got - want, axis=1)
    assert np.all(err <= 1e-9 * (scale + 1e-300)), np.max(err / scale)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_score_is_the_gradient_of_score_samples(covariance_type):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(300, 3)) * [1, 2, 0.5] + [c, 0, -c] for c in (0, 4)])
    est = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    P = rng.normal(size=(60, 3)) * 3
    h = 1e-5
    fd = np.stack(
        [
            (est.score_samples(P + h * e) - est.score_samples(P - h * e)) / (2 * h)
            for e in np.eye(3)
        ],
        axis=1,
    )
    got = gmmfast.score(est, P)
    _, scale = direct_score(gmmfast.Mixture.from_sklearn(est), P)
    assert np.all(np.linalg.norm(got - fd, axis=1) <= 1e-6 * np.maximum(scale, 1.0))


def test_bayesian_mixture_score_is_the_gradient_of_its_own_score_samples():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(200, 2)) + c for c in (0, 5)])
    est = BayesianGaussianMixture(n_components=3, random_state=0, max_iter=200).fit(X)
    P = rng.normal(size=(30, 2)) * 4
    h = 1e-5
    fd = np.stack(
        [
            (est.score_samples(P + h * e) - est.score_samples(P - h * e)) / (2 * h)
            for e in np.eye(2)
        ],
        axis=1,
    )
    np.testing.assert_allclose(gmmfast.score(est, P), fd, rtol=1e-6, atol=1e-6)


def test_single_gaussian_score_is_minus_precision_times_offset():
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    m = gmmfast.Mixture([1.0], [[1.0, -2.0]], [cov])
    X = np.array([[0.0, 0.0], [1.0, -2.0], [30.0, 7.0]])
    want = -np.linalg.solve(cov, (X - [1.0, -2.0]).T).T
    np.testing.assert_allclose(gmmfast.score(m, X), want, rtol=1e-13, atol=1e-15)


def test_far_from_every_component_the_nearest_one_pulls_back_finitely():
    m = gmmfast.Mixture([0.5, 0.5], [[0.0, 0.0], [10.0, 0.0]], [1.0, 4.0], "spherical")
    X = np.array([[1e200, 0.0], [-1e300, 3.0], [0.0, 1e160]])
    assert np.all(gmmfast.score_samples(m, X) == -np.inf)
    s = gmmfast.score(m, X)
    assert np.all(np.isfinite(s))
    nearest = gmmfast.predict(m, X)
    var = m.covariances[nearest][:, np.newaxis]
    np.testing.assert_allclose(s, -(X - m.means[nearest]) / var, rtol=1e-12)


def test_score_with_rtol_stays_within_its_bound():
    rng = np.random.default_rng(2)
    k = 300
    m = gmmfast.Mixture(
        np.full(k, 1 / k), rng.uniform(0, 100, (k, 2)), np.full(k, 9.0), "spherical"
    )
    X = rng.uniform(0, 100, (5000, 2))
    exact = gmmfast.score(m, X)
    _, scale = direct_score(m, X)
    for rtol in (1e-9, 1e-6, 1e-3):
        approx = gmmfast.score(m, X, rtol=rtol)
        err = np.linalg.norm(approx - exact, axis=1)
        # The largest gradient among the components that matter bounds the scale; 3 standard
        # deviations out, ‖Σ⁻¹(x − μ)‖ ≤ 40 / 9 for the components kept within rtol.
        assert np.all(err <= 2 * rtol * 40 + 1e-12 * scale), rtol


@settings(max_examples=30, deadline=None)
@given(mixtures(n_features=(2, 5), max_condition=1e3), st.integers(0, 2**32 - 1))
def test_score_grid_is_score_at_the_pixel_centres_bitwise(model, seed):
    rng = np.random.default_rng(seed)
    dims = tuple(int(i) for i in rng.choice(model.n_features, 2, replace=False))
    lo, hi = model.means.min() - 5, model.means.max() + 5
    grid = gmmfast.Grid(23, 17, (lo, hi), (hi, lo))
    marginal = model.marginal(list(dims))
    field = gmmfast.score_grid(marginal, grid)
    assert field.shape == (17, 23, 2)
    points = gmmfast.score(marginal, grid.points()).reshape(field.shape)
    np.testing.assert_array_equal(field, points)
    np.testing.assert_array_equal(gmmfast.score_grid(marginal, grid[3:11, 5:20]), field[3:11, 5:20])
    # The marginal taken inside score_grid factors its precisions its own way: to rounding.
    _, scale = direct_score(marginal, grid.points())
    err = np.linalg.norm(gmmfast.score_grid(model, grid, dims) - field, axis=2).ravel()
    assert np.all(err <= 1e-9 * scale)


def test_score_grid_of_a_demo_model_equals_the_point_kernel():
    m = datasets.demo_model("china-bw")
    grid = gmmfast.Grid(m.metadata["width"], m.metadata["height"])[100:180, 200:330]
    field = gmmfast.score_grid(m, grid)
    np.testing.assert_array_equal(field, gmmfast.score(m, grid.points()).reshape(field.shape))
    far = gmmfast.Grid(8, 8, (1e170, 2e170), (1e170, 2e170))
    assert np.all(np.isfinite(gmmfast.score_grid(m, far)))


def test_score_rejects_bad_input():
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    with pytest.raises(ValueError, match="features"):
        gmmfast.score(m, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"finite|NaN|infinity"):
        gmmfast.score(m, [[np.nan, 0.0]])
    with pytest.raises(ValueError, match="rtol"):
        gmmfast.score(m, [[0.0, 0.0]], rtol=1.0)
    one = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    with pytest.raises(ValueError, match="dims"):
        gmmfast.score_grid(one, gmmfast.Grid(4, 4))


# The reverse process.

TWO_D = gmmfast.Mixture(
    [0.3, 0.5, 0.2],
    [[-1.0, 0.0], [1.0, 0.5], [0.0, -1.5]],
    [np.diag([0.1, 0.05]), [[0.08, 0.03], [0.03, 0.06]], np.diag([0.04, 0.2])],
)


def test_reverse_sample_is_seeded_and_returns_its_path():
    schedule = diffusion.linear_schedule(20, beta_end=0.3)
    x1, path = diffusion.reverse_sample(TWO_D, schedule, 500, random_state=3, return_path=True)
    x2 = diffusion.reverse_sample(TWO_D, schedule, 500, random_state=3)
    np.testing.assert_array_equal(x1, x2)
    assert path.shape == (21, 500, 2)
    np.testing.assert_array_equal(path[-1], x1)
    assert not np.array_equal(diffusion.reverse_sample(TWO_D, schedule, 500, random_state=4), x1)
    # The ODE sampler is deterministic given its start: the same seed, the same start.
    _, ode = diffusion.reverse_sample(
        TWO_D, schedule, 500, method="ode", random_state=3, return_path=True
    )
    np.testing.assert_array_equal(ode[0], path[0])


@pytest.mark.parametrize("method", ["ddpm", "ode"])
def test_reverse_sample_with_many_steps_reproduces_the_model(method):
    n = 20_000
    schedule = diffusion.cosine_schedule(400)
    x = diffusion.reverse_sample(TWO_D, schedule, n, method=method, random_state=11)
    # Mean and covariance within 5 standard errors of the model's.
    mean, cov = TWO_D.mean(), TWO_D.covariance()
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * se), (x.mean(0), mean)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.05 * np.abs(cov).max())
    # Component counts (the most responsible component of each sample) against those of the
    # model's own samples: a χ² test of homogeneity.
    y = gmmfast.sample(TWO_D, n, random_state=12)[0]
    counts = np.stack([np.bincount(gmmfast.predict(TWO_D, s), minlength=3) for s in (x, y)])
    assert stats.chi2_contingency(counts).pvalue > 1e-3, counts
    # Two-sample tests on both coordinates and a diagonal projection.
    for v in ([1, 0], [0, 1], [1, 1]):
        assert stats.ks_2samp(x @ v, y @ v).pvalue > 1e-3, v


def test_the_last_ddpm_step_samples_the_exact_posterior():
    """DDPM's last step draws from q(x₀ | x₁): with one step the process is an exact sampler
    of the model, whatever the noise level; its Gaussian approximation would not be."""
    n = 20_000
    y = gmmfast.sample(TWO_D, n, random_state=21)[0]
    for alpha_bar in (0.9, 0.05):
        x = diffusion.reverse_sample(TWO_D, [alpha_bar], n, random_state=22)
        counts = np.stack([np.bincount(gmmfast.predict(TWO_D, s), minlength=3) for s in (x, y)])
        assert stats.chi2_contingency(counts).pvalue > 1e-3, (alpha_bar, counts)
        for v in ([1, 0], [0, 1], [1, -1]):
            assert stats.ks_2samp(x @ v, y @ v).pvalue > 1e-3, (alpha_bar, v)
    # No noise at the first level: the step is the identity.
    x, path = diffusion.reverse_sample(TWO_D, [1.0], 50, random_state=1, return_path=True)
    np.testing.assert_array_equal(path[0], path[1])


def test_reverse_sample_is_the_same_for_any_thread_count():
    from _subprocess import run_with_threads

    script = (
        "import hashlib, numpy as np, gmmfast, gmmfast.datasets\n"
        "from gmmfast import diffusion, _core\n"
        "m = gmmfast.datasets.demo_model('china-bw')\n"
        "x, p = diffusion.reverse_sample(m, diffusion.linear_schedule(10), 20000,"
        " random_state=5, return_path=True)\n"
        "s = gmmfast.score(m, x)\n"
        "print(_core.num_threads(), hashlib.sha256(p.tobytes() + s.tobytes()).hexdigest())\n"
    )
    one, two, three = (run_with_threads(script, n) for n in (1, 2, 3))
    assert [one[0], two[0], three[0]] == ["1", "2", "3"]
    assert one[1] == two[1] == three[1]


def test_reverse_sample_rejects_bad_input():
    s = diffusion.linear_schedule(5)
    with pytest.raises(ValueError, match="non-increasing"):
        diffusion.reverse_sample(TWO_D, s[::-1], 10)
    with pytest.raises(ValueError, match="schedule"):
        diffusion.reverse_sample(TWO_D, [], 10)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        diffusion.reverse_sample(TWO_D, [1.5, 0.5], 10)
    with pytest.raises(ValueError, match="method"):
        diffusion.reverse_sample(TWO_D, s, 10, method="euler")
    with pytest.raises(ValueError, match="n_samples"):
        diffusion.reverse_sample(TWO_D, s, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(diffusion.reverse_sample(TWO_D, [1.0], 5, random_state=0)))
