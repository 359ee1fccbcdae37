"""sample / sample_image: distribution, layout, determinism, binning and bad input.

Statistical tests use fixed seeds, so they pass or fail the same way on every run; each states
the probability that it would fail for a correct sampler (over the choice of seed), and its
threshold is set to keep that at or below about 1e-6.
"""

import re
import subprocess
import sys
import textwrap

import _subprocess
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
import gmmfast.reference as ref
from gmmfast._grid import pixel_cells
from gmmfast._sampling import _counts
from gmmfast._validation import seed_from
from gmmfast.testing import grids, mixtures, to_sklearn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
# Per-test false-failure probability we aim for.
ALPHA = 1e-6


def make_mixture(covariance_type: str, d: int = 3) -> gmmfast.Mixture:
    """Four overlapping, correlated components of unequal weights (one of them 0.4)."""
    rng = np.random.default_rng(11)
    k = 4
    means = rng.uniform(-5, 5, size=(k, d))
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        cov = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(d)
    elif covariance_type == "tied":
        a = rng.normal(size=(d, d))
        cov = a @ a.T + 0.3 * np.eye(d)
    elif covariance_type == "diag":
        cov = rng.uniform(0.2, 4.0, size=(k, d))
    else:
        cov = rng.uniform(0.2, 4.0, size=k)
    return gmmfast.Mixture(weights, means, cov, covariance_type)


def full_covariances(mixture: gmmfast.Mixture) -> np.ndarray:
    """Σ_k as a (K, d, d) stack, whatever the covariance type."""
    k, d, cov = mixture.n_components, mixture.n_features, mixture.covariances
    return {
        "full": lambda: cov,
        "tied": lambda: np.broadcast_to(cov, (k, d, d)),
        "diag": lambda: cov[:, :, None] * np.eye(d),
        "spherical": lambda: cov[:, None, None] * np.eye(d),
    }[mixture.covariance_type]()


def analytic_moments(mixture: gmmfast.Mixture) -> tuple:
    """Mean and covariance of the mixture: m = Σ w μ, C = Σ w (Σ_k + (μ_k − m)(μ_k − m)ᵀ)."""
    w, mu = mixture.weights, mixture.means
    m = w @ mu
    centred = mu - m
    c = np.einsum("k,kij->ij", w, full_covariances(mixture))
    c += np.einsum("k,ki,kj->ij", w, centred, centred)
    return m, c


def chi_square_pvalue(observed: np.ndarray, weights: np.ndarray) -> float:
    """Pearson's test of multinomial counts; cells expecting fewer than 5 are pooled (the
    chi-square approximation needs it), cells of weight 0 must be empty and are left out."""
    observed, weights = np.asarray(observed), np.asarray(weights, dtype=float)
    assert np.all(observed[weights == 0] == 0), "a component of weight 0 was sampled"
    observed, weights = observed[weights > 0], weights[weights > 0]
    expected = observed.sum() * weights / weights.sum()
    small = expected < 5
    obs = np.append(observed[~small], observed[small].sum()).astype(float)
    exp = np.append(expected[~small], expected[small].sum())
    if not small.any():
        obs, exp = obs[:-1], exp[:-1]
    if len(obs) < 2:
        return 1.0
    return float(stats.chisquare(obs, exp).pvalue)


# --------------------------------------------------------------------------------------------
# Distribution
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 1000, 10**6, 10**12])
def test_component_counts_follow_the_multinomial(n):
    # Pearson's chi-square at p > 1e-6: false-failure probability 1e-6 (asymptotically; every
    # cell expects >= 5 or is pooled). n = 1e12 checks the binomial draws far beyond the
    # samples anyone would store.
    weights = np.array([0.05, 0.0, 0.15, 0.3, 1e-4, 0.25, 0.2499])
    weights /= weights.sum()
    m = gmmfast.Mixture(weights, np.zeros((7, 1)), np.ones(7), "spherical")
    counts = _counts(m, n, seed=12345).astype(np.int64)
    assert counts.sum() == n and counts[1] == 0
    assert chi_square_pvalue(counts, weights) > ALPHA


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_labels_follow_the_weights(covariance_type):
    # Chi-square at p > 1e-6: false-failure probability 1e-6.
    m = make_mixture(covariance_type)
    _, labels = gmmfast.sample(m, 100_000, random_state=1)
    assert chi_square_pvalue(np.bincount(labels, minlength=4), m.weights) > ALPHA


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_mean_and_covariance_match_the_analytic_moments(covariance_type):
    m = make_mixture(covariance_type)
    n, d = 1_000_000, m.n_features
    X, _ = gmmfast.sample(m, n, random_state=2)
    mean, cov = analytic_moments(m)
    # Mean: n (x̄ − m)ᵀ C⁻¹ (x̄ − m) is chi-square with d degrees of freedom (CLT, n = 1e6);
    # threshold at its 1e-7 quantile: false-failure probability 1e-7.
    delta = X.mean(axis=0) - mean
    assert n * delta @ np.linalg.solve(cov, delta) < stats.chi2.isf(1e-7, d)
    # Covariance: each entry of the sample covariance is asymptotically normal around C_ij
    # with variance Var((x_i − m_i)(x_j − m_j)) / n, estimated from the sample. 5.7 standard
    # errors: two-sided 1.2e-8 per entry, 6 entries, so below 1e-7 in all.
    centred = X - X.mean(axis=0)
    sample_cov = centred.T @ centred / (n - 1)
    rows, cols = np.triu_indices(d)
    products = centred[:, rows] * centred[:, cols]
    standard_error = products.std(axis=0) / np.sqrt(n)
    z = np.abs(sample_cov[rows, cols] - cov[rows, cols]) / standard_error
    assert z.max() < 5.7, z


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_each_component_is_its_gaussian(covariance_type):
    m = make_mixture(covariance_type)
    # 2e6 samples: a standard deviation off by 1 % moves a variance ratio by 14 standard
    # errors or more, far past the thresholds below.
    X, labels = gmmfast.sample(m, 2_000_000, random_state=3)
    d = m.n_features
    directions = [np.eye(d)[i] for i in range(d)]
    directions += [np.eye(d)[i] + np.eye(d)[j] for i in range(d) for j in range(i + 1, d)]
    for k, sigma in enumerate(full_covariances(m)):
        Y = X[labels == k]
        n = len(Y)
        # Exact for Gaussian samples: n (ȳ − μ)ᵀ Σ⁻¹ (ȳ − μ) ~ χ²_d, and for a fixed direction
        # a, (n − 1) aᵀSa / aᵀΣa ~ χ²_{n−1} (the d axes and their pairwise sums pin down every
        # entry of Σ). Each check fails with probability 2e-8 (two-sided 1e-8 each tail for
        # the variances); 4 components × 7 checks: below 1e-6 in all.
        delta = Y.mean(axis=0) - m.means[k]
        assert n * delta @ np.linalg.solve(sigma, delta) < stats.chi2.isf(2e-8, d)
        sample_cov = np.cov(Y, rowvar=False)
        for a in directions:
            ratio = (n - 1) * (a @ sample_cov @ a) / (a @ sigma @ a)
            assert stats.chi2.sf(ratio, n - 1) > 1e-8 and stats.chi2.cdf(ratio, n - 1) > 1e-8


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_dimensional_marginals_pass_kolmogorov_smirnov(covariance_type):
    # The marginal of feature f is the 1-D mixture Σ w_k N(μ_kf, Σ_k[f, f]); KS at
    # p > 1e-6 per feature (exact for a continuous CDF), 3 features: 3e-6 in all.
    m = make_mixture(covariance_type)
    X, _ = gmmfast.sample(m, 200_000, random_state=4)
    sd = np.sqrt(np.diagonal(full_covariances(m), axis1=1, axis2=2))
    for f in range(m.n_features):

        def cdf(x, f=f):
            return stats.norm.cdf((np.asarray(x)[:, None] - m.means[:, f]) / sd[:, f]) @ m.weights

        assert stats.kstest(X[:, f], cdf).pvalue > ALPHA


def test_reference_sampler_has_the_same_distribution():
    # Two-sample KS between the compiled and the reference sampler on every feature, at
    # p > 1e-6 per feature, and chi-square of the reference's labels: below 1e-5 in all.
    m = make_mixture("full")
    X, _ = gmmfast.sample(m, 20_000, random_state=5)
    Xr, labels_r = ref.sample(m, 20_000, random_state=5)
    for f in range(m.n_features):
        assert stats.ks_2samp(X[:, f], Xr[:, f]).pvalue > ALPHA
    assert chi_square_pvalue(np.bincount(labels_r, minlength=4), m.weights) > ALPHA
    np.testing.assert_array_equal(labels_r, np.sort(labels_r))


# --------------------------------------------------------------------------------------------
# Layout, estimators, determinism
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_output_layout_is_scikit_learns(covariance_type):
    m = make_mixture(covariance_type)
    est = to_sklearn(m)
    est.random_state = 0
    Xs, ys = est.sample(5000)
    X, labels = gmmfast.sample(est, 5000, random_state=0)
    assert X.shape == Xs.shape and X.dtype == Xs.dtype == np.float64
    assert labels.shape == ys.shape and labels.dtype == ys.dtype == np.int64
    # Grouped by component in order, as scikit-learn returns them.
    for labs in (labels, ys):
        np.testing.assert_array_equal(labs, np.repeat(np.arange(4), np.bincount(labs, minlength=4)))
    assert X.flags.c_contiguous and np.all(np.isfinite(X))
    X1, l1 = gmmfast.sample(est, random_state=0)  # n_samples defaults to 1
    assert X1.shape == (1, 3) and l1.shape == (1,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weight_concentration_prior_type": "dirichlet_process"},
        {"weight_concentration_prior_type": "dirichlet_distribution"},
    ],
)
def test_bayesian_mixture_samples_its_plug_in_mixture(kwargs):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(300, 2)) + c for c in ([0, 0], [6, 1], [2, 7])])
    est = BayesianGaussianMixture(n_components=6, random_state=0, max_iter=300, **kwargs)
    est.fit(X)
    plug_in = gmmfast.Mixture.from_sklearn(est)
    ours, labels = gmmfast.sample(est, 50_000, random_state=9)
    again, labels_again = gmmfast.sample(plug_in, 50_000, random_state=9)
    np.testing.assert_array_equal(ours, again)
    np.testing.assert_array_equal(labels, labels_again)
    # The counts follow weights_ (chi-square, p > 1e-6: false-failure probability 1e-6).
    counts = _counts(plug_in, 10**9, seed=4).astype(np.int64)
    assert chi_square_pvalue(counts, est.weights_) > ALPHA


def test_fitted_gaussian_mixture_of_every_type_is_accepted():
    X = np.random.default_rng(1).normal(size=(400, 2))
    for covariance_type in COVARIANCE_TYPES:
        est = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
        a, la = gmmfast.sample(est, 1000, random_state=3)
        b, lb = gmmfast.sample(gmmfast.Mixture.from_sklearn(est), 1000, random_state=3)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)


def test_same_seed_same_samples_other_seed_other_samples():
    m = make_mixture("full")
    a, la = gmmfast.sample(m, 200_000, random_state=123)  # several blocks per component
    b, lb = gmmfast.sample(m, 200_000, random_state=123)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    c, _ = gmmfast.sample(m, 200_000, random_state=124)
    assert not np.any(a == c)
    # Fresh OS entropy for None: two calls differ.
    assert not np.array_equal(gmmfast.sample(m, 10)[0], gmmfast.sample(m, 10)[0])
    # The largest seed is valid.
    gmmfast.sample(m, 3, random_state=2**64 - 1)


def test_a_sample_does_not_depend_on_how_many_are_drawn_after_it():
    # The counts change with n, but a component's block b is always drawn from its own stream:
    # with the same counts, the first rows of a component agree. Draw with one component.
    m = gmmfast.Mixture([1.0], [[1.0, -2.0]], [[[2.0, 0.3], [0.3, 1.0]]])
    small, _ = gmmfast.sample(m, 1000, random_state=77)
    large, _ = gmmfast.sample(m, 150_000, random_state=77)
    np.testing.assert_array_equal(small, large[:1000])


def test_generators_are_drawn_from_as_scikit_learn_users_expect():
    m = make_mixture("diag")
    a, _ = gmmfast.sample(m, 100, random_state=np.random.default_rng(7))
    seed = int(np.random.default_rng(7).integers(0, 2**63))
    np.testing.assert_array_equal(a, gmmfast.sample(m, 100, random_state=seed)[0])
    b, _ = gmmfast.sample(m, 100, random_state=np.random.RandomState(7))
    seed = int(np.random.RandomState(7).randint(0, 2**63 - 1, dtype=np.int64))
    np.testing.assert_array_equal(b, gmmfast.sample(m, 100, random_state=seed)[0])
    # A generator advances: the second call draws other samples.
    rng = np.random.default_rng(7)
    first, second = gmmfast.sample(m, 100, rng)[0], gmmfast.sample(m, 100, rng)[0]
    assert not np.array_equal(first, second)
    assert seed_from(np.int64(5)) == 5


THREAD_SCRIPT = textwrap.dedent(
    """
    import hashlib, numpy as np, gmmfast
    from gmmfast import _core
    rng = np.random.default_rng(3)
    h = hashlib.sha256()
    for covariance_type, cov in [
        ("full", np.stack([a @ a.T + np.eye(3) for a in rng.normal(size=(3, 3, 3))])),
        ("diag", rng.uniform(0.5, 2.0, size=(3, 3))),
    ]:
        m = gmmfast.Mixture([0.2, 0.7, 0.1], rng.uniform(0, 20, (3, 3)), cov, covariance_type)
        X, labels = gmmfast.sample(m, 300_000, random_state=5)  # components of many blocks
        grid = gmmfast.Grid(40, 30, (-5, 25), (25, -5))
        # More samples than a batch: several batches, whose size depends on the threads.
        colours, counts = gmmfast.sample_image(m, 1_500_000, grid, (0, 2), (1, 2), 6)
        for out in (X, labels, colours, counts):
            h.update(np.ascontiguousarray(out).tobytes())
    print(_core.num_threads(), h.hexdigest())
    """
)


def run_with_threads(n: int) -> list:
    return _subprocess.run_with_threads(THREAD_SCRIPT, n)


def test_samples_are_bitwise_identical_for_any_thread_count():
    one, two = run_with_threads(1), run_with_threads(2)
    assert [one[0], two[0]] == ["1", "2"]  # the setting took effect
    assert one[1] == two[1]


# --------------------------------------------------------------------------------------------
# sample_image
# --------------------------------------------------------------------------------------------


@given(
    mixtures(n_features=(2, 4), n_components=(1, 12)),
    grids(),
    st.integers(1, 3000),
    st.integers(0, 2**64 - 1),
    st.data(),
)
def test_sample_image_bins_exactly_the_samples_of_sample(mixture, grid, n, seed, data):
    d = mixture.n_features
    dims = tuple(data.draw(st.permutations(range(d)))[:2])
    color_dims = data.draw(st.none() | st.permutations(range(d)).map(lambda p: tuple(p[:2])))
    try:
        pixel_cells(grid)
    except ValueError as exc:  # a side of zero (or subnormal) extent: no cells
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            gmmfast.sample_image(mixture, n, grid, dims, color_dims, seed)
        return
    X, _ = gmmfast.sample(mixture, n, random_state=seed)
    got = gmmfast.sample_image(mixture, n, grid, dims, color_dims, random_state=seed)
    want = ref.bin_samples(X, grid, dims, color_dims)
    if color_dims is None:
        counts = got
        np.testing.assert_array_equal(got, want)
    else:
        colours, counts = got
        np.testing.assert_array_equal(counts, want[1])
        # Bitwise, NaN where empty: both add each pixel's colours in sample order.
        np.testing.assert_array_equal(colours, want[0])
        assert colours.shape == (*grid.shape, 2) and colours.dtype == np.float64
        assert np.array_equal(np.isnan(colours[..., 0]), counts == 0)
    assert counts.shape == grid.shape and counts.dtype == np.int64
    assert 0 <= counts.sum() <= n


def test_sample_image_over_many_batches_equals_binning_sample():
    # 6e5 samples: a few batches of 2**18, and the per-pixel sums continue across batches.
    m = make_mixture("full", d=5)
    grid = gmmfast.Grid(61, 47, (-12, 12), (10, -10))
    n = 600_000
    X, _ = gmmfast.sample(m, n, random_state=8)
    colours, counts = gmmfast.sample_image(m, n, grid, (3, 1), (0, 2, 4), random_state=8)
    want_colours, want_counts = ref.bin_samples(X, grid, (3, 1), (0, 2, 4), chunk_size=2**18)
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(colours, want_colours)
    inside = ref.bin_samples(X, grid, (3, 1)).sum()
    assert counts.sum() == inside and 0.5 * n < inside < n
    np.testing.assert_array_equal(
        gmmfast.sample_image(m, n, grid, (3, 1), random_state=8), want_counts
    )


def test_reference_sample_image_is_reference_sample_binned():
    m = make_mixture("tied")
    grid = gmmfast.Grid(30, 20, (-8, 8), (-6, 6))
    X, _ = ref.sample(m, 10_000, random_state=4)
    got = ref.sample_image(m, 10_000, grid, (0, 1), (2,), random_state=4, chunk_size=999)
    want = ref.bin_samples(X, grid, (0, 1), (2,))
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_cells_are_centred_on_the_pixels_half_open_in_index_direction():
    grid = gmmfast.Grid(3, 2, (0.0, 4.0), (10.0, 8.0))  # x spacing 2, y spacing −2
    X = np.array(
        [
            [-1.0, 10.0],  # x: left edge of column 0 (included)
            [0.999, 10.0],  # column 0
            [1.0, 10.0],  # between columns 0 and 1: the higher index
            [4.999, 10.0],  # column 2, whose cell is [3, 5)
            [5.0, 10.0],  # the right edge of the grid: dropped
            [2.0, 11.0],  # column 1; y: row 0 is [11, 9) going down
            [2.0, 9.0],  # row 1
            [2.0, 7.0001],  # row 1
            [2.0, 7.0],  # below the last row: dropped
            [2.0, 11.0001],  # above the first row: dropped
        ]
    )
    counts = ref.bin_samples(X, grid)
    np.testing.assert_array_equal(counts, [[2, 2, 1], [0, 2, 0]])
    _, col_counts = ref.bin_samples(X, grid, color_dims=(0,))
    np.testing.assert_array_equal(col_counts, counts)


def test_a_side_of_one_pixel_has_square_pixels():
    # One column: its cell is as wide as the rows' spacing (2), centred on x_range[0] = 3; the
    # range's stop is ignored, as linspace ignores it.
    grid = gmmfast.Grid(1, 5, (3.0, 99.0), (0.0, 8.0))
    assert pixel_cells(grid) == ((3.0, 0.5), (0.0, 0.5))
    X = np.array([[1.99, 0.0], [2.0, 0.0], [3.99, 0.0], [4.0, 0.0]])
    np.testing.assert_array_equal(ref.bin_samples(X, grid).ravel(), [2, 0, 0, 0, 0])
    # One row borrows the columns' spacing; a 1 × 1 grid has a cell of 1 unit: [−½, ½)².
    assert pixel_cells(gmmfast.Grid(4, 1, (0.0, -6.0), (5.0, 5.0))) == ((0.0, -0.5), (5.0, 0.5))
    one = gmmfast.Grid(1, 1)
    assert pixel_cells(one) == ((0.0, 1.0), (0.0, 1.0))
    X = np.array([[-0.5, 0.0], [0.49, -0.5], [0.5, 0.0], [0.0, 0.5]])
    np.testing.assert_array_equal(ref.bin_samples(X, one), [[2]])
    # The compiled kernel applies the same cells: a mixture straddling every edge.
    m = gmmfast.Mixture([0.5, 0.5], [[0.0, 0.0], [3.0, 4.0]], [0.3, 2.0], "spherical")
    for grid in (one, gmmfast.Grid(1, 5, (3.0, 99.0), (0.0, 8.0))):
        X, _ = gmmfast.sample(m, 20_000, random_state=1)
        counts = gmmfast.sample_image(m, 20_000, grid, random_state=1)
        np.testing.assert_array_equal(counts, ref.bin_samples(X, grid))
        assert 0 < counts.sum() < 20_000


@pytest.mark.parametrize(
    "grid",
    [
        gmmfast.Grid(5, 3, (2.0, 2.0), (0.0, 1.0)),
        gmmfast.Grid(5, 3, (0.0, 1.0), (-1.0, -1.0)),
    ],
)
def test_a_side_of_zero_extent_is_a_value_error(grid):
    m = make_mixture("diag")
    with pytest.raises(ValueError, match="zero extent"):
        gmmfast.sample_image(m, 10, grid)
    with pytest.raises(ValueError, match="zero extent"):
        ref.sample_image(m, 10, grid)


def test_tiny_or_huge_pixels_are_value_errors():
    m = make_mixture("diag")
    with pytest.raises(ValueError, match="pixels of size"):
        gmmfast.sample_image(m, 10, gmmfast.Grid(3, 3, (0.0, 1e-320)))
    # A range whose extent overflows is refused by Grid itself (tests/test_grid.py); the
    # huge one that it accepts still bins.
    huge = gmmfast.Grid(3, 3, (-1e300, 1e300), (-1e300, 1e300))
    assert gmmfast.sample_image(m, 10, huge, random_state=0).sum() == 10


def test_colours_are_per_pixel_means_unclipped_and_nan_where_empty():
    # A "colour" model: x, y on a 20 × 10 image, the colour around 250 with sd 20, so many
    # samples and some pixel means exceed 255: the kernel does not clip.
    m = gmmfast.Mixture(
        [1.0], [[10.0, 5.0, 250.0, 0.0, 128.0]], [[9.0, 4.0, 400.0, 400.0, 1.0]], "diag"
    )
    grid = gmmfast.Grid(20, 10)
    colours, counts = gmmfast.sample_image(m, 20_000, grid, color_dims=(2, 3, 4), random_state=3)
    filled = counts > 0
    assert filled.sum() > 100 and (~filled).sum() > 0
    assert np.all(np.isnan(colours[~filled])) and not np.any(np.isnan(colours[filled]))
    assert colours[..., 0][filled].max() > 255 and colours[..., 1][filled].min() < 0
    # color_dims may include dims: the mean x of a pixel's samples lies inside its cell.
    mean_xy, counts_xy = gmmfast.sample_image(m, 20_000, grid, color_dims=(0, 1), random_state=3)
    np.testing.assert_array_equal(counts_xy, counts)
    cols, rows = np.meshgrid(np.arange(20), np.arange(10))
    assert np.all(np.abs(mean_xy[..., 0][filled] - cols[filled]) <= 0.5)
    assert np.all(np.abs(mean_xy[..., 1][filled] - rows[filled]) <= 0.5)


def test_counts_follow_the_cell_probabilities():
    # A standard normal on a 9 × 9 grid of unit cells centred on the origin: each count is
    # multinomial with the cell's probability mass. Chi-square at p > 1e-6 (1e-6).
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    grid = gmmfast.Grid(9, 9, (-4, 4), (-4, 4))
    n = 1_000_000
    counts = gmmfast.sample_image(m, n, grid, random_state=21)
    edges = np.arange(-4.5, 5.0)
    mass = np.diff(stats.norm.cdf(edges))
    cells = np.outer(mass, mass).ravel()
    observed = np.append(counts.ravel(), n - counts.sum())  # the last cell: outside the grid
    assert chi_square_pvalue(observed, np.append(cells, 1 - cells.sum())) > ALPHA


MEMORY_SCRIPT = textwrap.dedent(
    """
    import numpy as np, gmmfast
    def hwm():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    m = gmmfast.Mixture([0.5, 0.5], [[10.0, 10.0, 1.0], [30.0, 20.0, 2.0]], [4.0, 9.0],
                        "spherical")
    grid = gmmfast.Grid(40, 30)
    gmmfast.sample_image(m, 1000, grid, color_dims=(2,), random_state=0)
    before = hwm()
    colours, counts = gmmfast.sample_image(m, 30_000_000, grid, color_dims=(2,),
                                           random_state=0)
    print(counts.sum(), (hwm() - before) * 1024)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_sample_image_memory_does_not_grow_with_the_samples():
    # 3e7 samples of 3 features would take 720 MB as an array (plus 240 MB of labels);
    # sample_image's batches need about 10 MB.
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, check=True
    )
    total, growth = map(int, out.stdout.split())
    assert total > 20_000_000
    assert growth < 50 * 2**20, f"peak memory grew by {growth / 2**20:.0f} MiB"


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples", [0, -3, 0.0, False])
def test_n_samples_below_one_is_a_value_error(n_samples):
    # scikit-learn's message begins "Invalid value for 'n_samples'".
    m = make_mixture("full")
    with pytest.raises(ValueError, match=r"^Invalid value for 'n_samples': n_samples must be >= 1"):
        gmmfast.sample(m, n_samples)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        gmmfast.sample_image(m, n_samples, gmmfast.Grid(3, 3))


@pytest.mark.parametrize(
    ("n_samples", "n"), [(2.0, 2), (np.float64(3.0), 3), (True, 1), (1e3, 1000)]
)
def test_integral_numbers_are_taken_as_scikit_learn_takes_them(n_samples, n):
    m = make_mixture("full")
    X, _ = gmmfast.sample(m, n_samples, random_state=5)
    assert X.shape == (n, 3)
    np.testing.assert_array_equal(X, gmmfast.sample(m, n, random_state=5)[0])
    assert gmmfast.sample_image(m, n_samples, gmmfast.Grid(3, 3, (-50, 50), (-50, 50))).sum() == n


@pytest.mark.parametrize("n_samples", [1.5, np.float64(4.25), "10", None, [3], float("nan")])
def test_non_integer_n_samples_is_a_value_error(n_samples):
    m = make_mixture("full")
    with pytest.raises(ValueError, match="n_samples must be an integer"):
        gmmfast.sample(m, n_samples)
    with pytest.raises(ValueError, match="n_samples must be an integer"):
        gmmfast.sample_image(m, n_samples, gmmfast.Grid(3, 3))
    with pytest.raises(ValueError, match="n_samples must be an integer"):
        ref.sample(m, n_samples)


def test_numpy_integers_are_accepted_and_too_many_samples_are_refused():
    m = make_mixture("spherical")
    assert gmmfast.sample(m, np.int32(5))[0].shape == (5, 3)
    with pytest.raises(ValueError, match="at most 2\\*\\*63 - 1"):
        gmmfast.sample(m, 2**63)
    # Counts fit, the output does not: MemoryError from the allocation, not a crash.
    with pytest.raises(MemoryError):
        gmmfast.sample(m, 2**62)


@pytest.mark.parametrize(
    ("dims", "match"),
    [
        ((0,), "exactly 2 features"),
        ((0, 1, 2), "exactly 2 features"),
        ((1, 1), "must not repeat"),
        ((0, 3), r"feature indices in \[0, 3\)"),
        ((-1, 0), r"feature indices in \[0, 3\)"),
    ],
)
def test_bad_dims_are_value_errors(dims, match):
    with pytest.raises(ValueError, match=match):
        gmmfast.sample_image(make_mixture("full"), 10, gmmfast.Grid(3, 3), dims=dims)


@pytest.mark.parametrize(
    ("color_dims", "match"),
    [
        ((), "at least one feature"),
        ((2, 2), "must not repeat"),
        ((0, 5), r"color_dims must be feature indices in \[0, 3\)"),
    ],
)
def test_bad_color_dims_are_value_errors(color_dims, match):
    with pytest.raises(ValueError, match=match):
        gmmfast.sample_image(make_mixture("full"), 10, gmmfast.Grid(3, 3), color_dims=color_dims)


def test_a_one_feature_model_has_no_image():
    m = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    assert gmmfast.sample(m, 4, random_state=0)[0].shape == (4, 1)
    with pytest.raises(ValueError, match="feature indices"):
        gmmfast.sample_image(m, 10, gmmfast.Grid(3, 3))


@pytest.mark.parametrize("random_state", [-1, 2**64, 1.5, "seed", True, object()])
def test_bad_random_states_are_value_errors(random_state):
    with pytest.raises(ValueError, match="random_state"):
        gmmfast.sample(make_mixture("diag"), 3, random_state=random_state)


def test_bad_models_and_grids():
    with pytest.raises(NotFittedError):
        gmmfast.sample(GaussianMixture(2), 3)
    with pytest.raises(TypeError, match="expected a fitted GaussianMixture"):
        gmmfast.sample("model", 3)
    with pytest.raises(TypeError, match=r"grid must be a gmmfast\.Grid"):
        gmmfast.sample_image(make_mixture("diag"), 3, (640, 427))


def test_the_compiled_kernels_check_their_arguments_again():
    from gmmfast import _core

    means, factors = np.zeros((2, 3)), np.ones((2, 3))
    gaussians = _core.Gaussians(means, factors, "diag")
    assert (gaussians.n_components, gaussians.n_features) == (2, 3)
    assert gaussians.covariance_type == "diag"
    counts = np.array([2, 3], dtype=np.uint64)
    x, labels = np.empty((5, 3)), np.empty(5, dtype=np.int64)
    _core.sample(gaussians, counts, 1, x, labels)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="covariance_type"):
        _core.Gaussians(means, factors, "round")
    with pytest.raises(ValueError, match=r"must have shape \[2, 3, 3\]"):
        _core.Gaussians(means, factors, "full")
    with pytest.raises(ValueError, match="finite"):
        _core.Gaussians(means, factors * np.nan, "diag")
    with pytest.raises(ValueError, match="means must be a C-contiguous"):
        _core.Gaussians(np.zeros((2, 3), order="F"), factors, "diag")
    with pytest.raises(ValueError, match="samples has 12 elements, expected 15"):
        _core.sample(gaussians, counts, 1, np.empty((4, 3)), labels)
    with pytest.raises(ValueError, match="x has 2 features"):
        _core.sample(gaussians, counts, 1, np.empty((5, 2)), labels)
    with pytest.raises(ValueError, match="counts has 3 elements"):
        _core.sample(gaussians, np.ones(3, dtype=np.uint64), 1, x, labels)
    image = np.empty((4, 6), dtype=np.int64)
    cells = (0.0, 1.0)
    with pytest.raises(ValueError, match="feature index 3 out of range"):
        _core.sample_image(gaussians, counts, 1, (0, 3), [], cells, cells, image, None)
    with pytest.raises(ValueError, match="colours must have shape"):
        _core.sample_image(gaussians, counts, 1, (0, 1), [2], cells, cells, image, None)
    with pytest.raises(ValueError, match="non-zero scale"):
        _core.sample_image(gaussians, counts, 1, (0, 1), [], cells, (0.0, 0.0), image, None)
    with pytest.raises(ValueError, match="weights must"):
        _core.sample_counts(np.array([0.5, -0.5]), 10, 1, np.empty(2, dtype=np.uint64))


def test_a_window_gets_the_same_pixels_as_the_whole_image():
    m = make_mixture("full")
    grid = gmmfast.Grid(40, 30, (-4.0, 4.0), (3.0, -3.0))
    whole = gmmfast.sample_image(m, 20_000, grid, random_state=5)
    window = gmmfast.sample_image(m, 20_000, grid[7:22, 1:33], random_state=5)
    np.testing.assert_array_equal(window, whole[7:22, 1:33])
    assert 0 < window.sum() < whole.sum()


def test_pixels_near_the_smallest_size_bin_like_the_kernel():
    # A 9-pixel side over 5e-307: scale 1.6e307, so samples away from the start overflow to
    # ±inf in the reference's cell arithmetic (found by the thorough profile). Both drop them.
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [np.eye(2)])
    grid = gmmfast.Grid(9, 1, (0.0, 5.0384005467268996e-307), (0.0, 0.0))
    X, _ = gmmfast.sample(m, 50, random_state=0)
    got = gmmfast.sample_image(m, 50, grid, random_state=0)
    np.testing.assert_array_equal(got, ref.bin_samples(X, grid))
    assert got.sum() == 0
