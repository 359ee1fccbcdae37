"""The NumPy twins of the exact score and of the reverse diffusion process
(``gmmfast.reference.score``, ``score_grid``, ``reverse_sample``), against finite differences of
``score_samples``, scipy, and the model itself."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg, stats
from sklearn.mixture import BayesianGaussianMixture

import gmmfast
import gmmfast.reference as ref
from gmmfast.diffusion import cosine_schedule, linear_schedule
from gmmfast.testing import mixtures, points

TWO = gmmfast.Mixture(
    [0.3, 0.7], [[0.0, 0.0], [3.0, 1.0]], [[[1.0, 0.5], [0.5, 2.0]], [[0.5, 0.0], [0.0, 0.3]]]
)


def finite_difference(model, X, h):
    """∇ log p by central differences of ``gmmfast.score_samples`` with Richardson's
    extrapolation (steps h and h/2): truncation error O(h⁴), rounding O(ε |log p| / h)."""

    def central(step):
        columns = []
        for e in np.eye(X.shape[1]):
            up = gmmfast.score_samples(model, X + step * e)
            down = gmmfast.score_samples(model, X - step * e)
            columns.append((up - down) / (2 * step))
        return np.column_stack(columns)

    return (4 * central(h / 2) - central(h)) / 3


def component_sizes(model, X):
    """‖Λ_k (x − μ_k)‖, shape (n, K): the size of each component's score."""
    full = model.covariances
    if model.covariance_type == "tied":
        full = np.broadcast_to(full, (model.n_components, *full.shape))
    elif model.covariance_type == "diag":
        full = np.stack([np.diag(v) for v in full])
    elif model.covariance_type == "spherical":
        full = full[:, None, None] * np.eye(model.n_features)
    return np.column_stack(
        [np.linalg.norm(np.linalg.solve(c, (X - m).T).T, axis=1) for m, c in zip(model.means, full)]
    )


def unsigned_size(model, X):
    """Σ_k r_k ‖Λ_k (x − μ_k)‖ per row: the size of the terms whose sum is the score, the
    scale of its rounding where they cancel (between two components)."""
    return np.sum(gmmfast.predict_proba(model, X) * component_sizes(model, X), axis=1)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_score_is_the_gradient_of_score_samples(covariance_type):
    rng = np.random.default_rng(1)
    k, d = 4, 3
    means = rng.uniform(-3, 3, size=(k, d))
    covariances = {
        "full": np.stack([a @ a.T + 0.5 * np.eye(d) for a in rng.normal(size=(k, d, d))]),
        "tied": np.eye(d) + 0.3,
        "diag": rng.uniform(0.3, 2.0, size=(k, d)),
        "spherical": rng.uniform(0.3, 2.0, size=k),
    }[covariance_type]
    model = gmmfast.Mixture(rng.dirichlet(np.ones(k)), means, covariances, covariance_type)
    X = rng.uniform(-6, 6, size=(200, d))
    score = ref.score(model, X)
    fd = finite_difference(model, X, 1e-3)
    error = np.linalg.norm(score - fd, axis=1)
    assert np.all(error <= 1e-6 * unsigned_size(model, X))
    # Relative to the score itself wherever the terms do not cancel much.
    plain = np.linalg.norm(score, axis=1) > 0.1 * unsigned_size(model, X)
    assert plain.mean() > 0.5
    np.testing.assert_allclose(score[plain], fd[plain], rtol=1e-6, atol=0)


@settings(deadline=None)
@given(mixtures(n_features=(1, 4), n_components=(1, 4), max_condition=100.0), st.integers(0, 99))
def test_score_against_finite_differences_on_random_mixtures(model, seed):
    X = np.random.default_rng(seed).uniform(-10, 10, size=(20, model.n_features))
    covariances = np.asarray(model.covariances)
    smallest = (
        np.sqrt(covariances.min())
        if model.covariance_type in ("diag", "spherical")
        else (np.sqrt(np.linalg.eigvalsh(covariances).min()))
    )
    fd = finite_difference(model, X, 1e-3 * smallest)
    error = np.linalg.norm(ref.score(model, X) - fd, axis=1)
    assert np.all(error <= 1e-6 * unsigned_size(model, X) + 1e-9)


def test_score_of_one_gaussian_is_scipys():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 3))
    cov, mean = a @ a.T + np.eye(3), rng.normal(size=3)
    model = gmmfast.Mixture([1.0], [mean], [cov])
    X = rng.normal(size=(50, 3)) * 4
    expected = -linalg.cho_solve(linalg.cho_factor(cov), (X - mean).T).T
    np.testing.assert_allclose(ref.score(model, X), expected, rtol=1e-12, atol=1e-12)
    # And the gradient of scipy's own log-density.
    h = 1e-5
    logpdf = stats.multivariate_normal(mean, cov).logpdf
    fd = np.column_stack([(logpdf(X + h * e) - logpdf(X - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(ref.score(model, X), fd, rtol=1e-6, atol=1e-8)


def test_score_of_a_bayesian_mixture_is_the_gradient_of_its_score_samples():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 4])
    bgm = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    points = rng.uniform(-3, 7, size=(40, 2))
    fd = finite_difference(bgm, points, 1e-3)
    np.testing.assert_allclose(ref.score(bgm, points), fd, rtol=1e-6, atol=1e-9)


def test_score_far_away_is_the_nearest_components_and_finite():
    X = np.array([[1e200, 0.0], [-1e300, 1e300], [1e160, -1e155]])
    score = ref.score(TWO, X)
    assert np.all(np.isfinite(score))
    nearest = ref.predict(TWO, X)
    for row, k in zip(range(len(X)), nearest):
        single = gmmfast.Mixture([1.0], [TWO.means[k]], [TWO.covariances[k]])
        np.testing.assert_allclose(score[row], ref.score(single, X[row : row + 1])[0], rtol=1e-12)


@settings(deadline=None)
@given(st.data())
def test_score_is_finite_everywhere_on_random_mixtures(data):
    # Ill-conditioned mixtures, points up to 1e5 times their spread away: no NaN, no inf
    # (Λ (x − μ) stays far below 1e308), and far away the nearest component's score.
    model = data.draw(mixtures(max_condition=1e6))
    X = data.draw(points(model.n_features, far=1e5))
    score = ref.score(model, X)
    assert np.all(np.isfinite(score))
    # Each row alone gives the same bits (the other rows do not matter).
    np.testing.assert_array_equal(ref.score(model, X[-1:]), score[-1:])


def test_chunking_changes_no_bit():
    X = np.random.default_rng(4).normal(size=(37, 2)) * 3
    np.testing.assert_array_equal(ref.score(TWO, X, chunk_size=5), ref.score(TWO, X))


def test_score_grid_is_score_at_the_pixel_centres():
    grid = gmmfast.Grid(7, 5, (-2, 5), (4, -1))
    field = ref.score_grid(TWO, grid)
    assert field.shape == (5, 7, 2)
    np.testing.assert_array_equal(field.reshape(-1, 2), ref.score(TWO, grid.points()))
    # Over two of three features: the score of that marginal, in the order of dims.
    three = gmmfast.Mixture(
        [0.5, 0.5], [[0, 0, 0], [1, 2, 3]], [np.eye(3) + 0.2, np.diag([1.0, 2.0, 0.5])]
    )
    marginal = three.marginal((2, 0))
    np.testing.assert_allclose(
        ref.score_grid(three, grid, dims=(2, 0)).reshape(-1, 2),
        ref.score(marginal, grid.points()),
        rtol=1e-12,
        atol=1e-12,
    )


def test_score_refuses_bad_points():
    with pytest.raises(ValueError, match="features"):
        ref.score(TWO, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        ref.score(TWO, [[np.nan, 0.0]])


# A 2-D model of three well-separated components of different shapes, unit scale (where a
# diffusion's unit noise is of the data's size).
SEPARATED = gmmfast.Mixture(
    [0.2, 0.3, 0.5],
    [[-1.5, 0.0], [1.0, 1.2], [0.8, -1.0]],
    [[[0.10, 0.05], [0.05, 0.08]], [[0.05, 0.0], [0.0, 0.2]], [[0.15, -0.06], [-0.06, 0.06]]],
)


@pytest.mark.parametrize("method", ["ddpm", "ode"])
def test_reverse_sample_reproduces_the_model(method):
    n = 20_000
    samples = ref.reverse_sample(SEPARATED, cosine_schedule(200), n, method=method, random_state=0)
    assert samples.shape == (n, 2) and np.all(np.isfinite(samples))
    # Mean within 4 standard errors (false failure about 6e-5 per coordinate); the fixed seed
    # makes the test deterministic.
    mean, cov = SEPARATED.mean(), SEPARATED.covariance()
    standard_error = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(samples.mean(axis=0) - mean) < 4 * standard_error)
    # Covariance entries within 4 standard errors of a sample covariance (Var of x_i x_j
    # estimated from the exact samples).
    exact, _ = gmmfast.sample(SEPARATED, n, random_state=1)
    centred = exact - mean
    products = centred[:, :, None] * centred[:, None, :]
    cov_error = products.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(np.cov(samples.T) - cov) < 4 * cov_error + 1e-3)
    # Per-component counts (most responsible component) against exact samples: χ² test of
    # homogeneity, refused below p = 1e-4.
    table = np.stack(
        [np.bincount(gmmfast.predict(SEPARATED, x), minlength=3) for x in (samples, exact)]
    )
    assert stats.chi2_contingency(table).pvalue > 1e-4
    # And a two-sample test on each coordinate.
    for j in range(2):
        assert stats.ks_2samp(samples[:, j], exact[:, j]).pvalue > 1e-4


def test_reverse_sample_path():
    schedule = linear_schedule(30, beta_end=0.2)
    samples, path = ref.reverse_sample(SEPARATED, schedule, 500, random_state=3, return_path=True)
    assert path.shape == (31, 500, 2)
    np.testing.assert_array_equal(path[-1], samples)
    again = ref.reverse_sample(SEPARATED, schedule, 500, random_state=3)
    np.testing.assert_array_equal(again, samples)
    # The ODE is deterministic given its start: one step from x_T by hand.
    x, path = ref.reverse_sample(
        SEPARATED, schedule[:1], 200, method="ode", random_state=5, return_path=True
    )
    a = schedule[0]
    s = ref.score(SEPARATED.diffuse(a), path[0])
    np.testing.assert_allclose(x, (path[0] + (1 - a) * s) / np.sqrt(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("schedule", "error"),
    [
        ([], ValueError),
        ([0.5, 0.7], ValueError),
        ([1.5, 0.5], ValueError),
        ([[0.9, 0.5]], ValueError),
        ("0.5", ValueError),
    ],
)
def test_reverse_sample_refuses_bad_schedules(schedule, error):
    with pytest.raises(error, match="schedule"):
        ref.reverse_sample(SEPARATED, schedule, 10)


def test_reverse_sample_refuses_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        ref.reverse_sample(SEPARATED, [0.9, 0.5], 10, method="sde")
    with pytest.raises(ValueError, match="n_samples"):
        ref.reverse_sample(SEPARATED, [0.9, 0.5], 0)


# --- the twins against the compiled kernels -------------------------------------------------


@settings(deadline=None)
@given(st.data())
def test_the_kernels_score_is_the_twins(data):
    model = data.draw(mixtures(n_features=(1, 5), n_components=(1, 8), max_condition=1e4))
    X = data.draw(points(model.n_features, far=1e3))
    error = np.linalg.norm(gmmfast.score(model, X) - ref.score(model, X), axis=1)
    # Sums in another order: within rounding of the terms' sizes; and the kernel skips terms
    # of responsibility below 2⁻⁵³ of the largest (each moves the score by less than that
    # fraction of its own component's score, which may be larger than the winners').
    bound = 1e-10 * unsigned_size(model, X) + 2.0**-52 * component_sizes(model, X).max(axis=1)
    assert np.all(error <= bound + 1e-300)


def test_the_kernels_score_grid_is_the_twins():
    three = gmmfast.Mixture(
        [0.2, 0.3, 0.5],
        [[0.0, 0.0, 1.0], [2.0, 1.0, -1.0], [-1.0, 2.0, 0.0]],
        [np.eye(3) * 0.5 + 0.1, np.diag([0.3, 1.0, 2.0]), np.eye(3)],
    )
    grid = gmmfast.Grid(33, 21, (-3, 4), (5, -2))
    for dims in ((0, 1), (2, 0)):
        ours, twin = gmmfast.score_grid(three, grid, dims), ref.score_grid(three, grid, dims)
        scale = np.linalg.norm(twin, axis=-1, keepdims=True) + 1.0
        assert np.all(np.abs(ours - twin) <= 1e-12 * scale)


@pytest.mark.parametrize("method", ["ddpm", "ode"])
def test_the_kernels_reverse_process_has_the_twins_distribution(method):
    schedule = cosine_schedule(50)
    n = 5000
    ours = gmmfast.diffusion.reverse_sample(SEPARATED, schedule, n, method=method, random_state=0)
    twin = ref.reverse_sample(SEPARATED, schedule, n, method=method, random_state=0)
    for j in range(2):
        assert stats.ks_2samp(ours[:, j], twin[:, j]).pvalue > 1e-4
    table = np.stack(
        [np.bincount(gmmfast.predict(SEPARATED, x), minlength=3) for x in (ours, twin)]
    )
    assert stats.chi2_contingency(table).pvalue > 1e-4


def test_the_ode_from_the_same_start_is_the_twins():
    # Deterministic given x_T: the kernel's path from its own start, replayed by the twin's
    # formulas one step at a time, agrees to rounding.
    schedule = linear_schedule(12, beta_end=0.3)
    _, path = gmmfast.diffusion.reverse_sample(
        SEPARATED, schedule, 300, method="ode", random_state=4, return_path=True
    )
    x = path[0]
    for step, index in enumerate(range(len(schedule) - 1, -1, -1), start=1):
        now, before = schedule[index], (schedule[index - 1] if index else 1.0)
        s = ref.score(SEPARATED.diffuse(now), x)
        x0 = (x + (1 - now) * s) / np.sqrt(now)
        x = np.sqrt(before) * x0 - np.sqrt(1 - before) * np.sqrt(1 - now) * s
        np.testing.assert_allclose(x, path[step], rtol=1e-9, atol=1e-9)
