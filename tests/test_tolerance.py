"""rtol > 0 (error-bounded culling), float32 images and windows of grids."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gmmfast
import gmmfast.reference as ref
from gmmfast import _core
from gmmfast._gaussian import regressions
from gmmfast._model import marginal_form
from gmmfast.testing import grids, mixtures

RTOLS = st.sampled_from([1e-12, 1e-9, 1e-6, 1e-3, 0.1, 0.5])


@st.composite
def adversarial_mixtures(draw, n_features=2, n_components=(1, 48)):
    """Mixtures from gmmfast.testing, sometimes with their components piled onto a few
    points (heavy overlap) or spread far apart, weights over up to 6 decades, tiny and huge
    components."""
    mixture = draw(mixtures(n_features=n_features, n_components=n_components, max_condition=1e6))
    layout = draw(st.sampled_from(["as drawn", "piled", "spread"]))
    means = np.array(mixture.means)
    if layout == "piled":
        means = means[np.arange(len(means)) % draw(st.integers(1, 3))]
    elif layout == "spread":
        means = means * 20.0
    return gmmfast.Mixture(mixture.weights, means, mixture.covariances, mixture.covariance_type)


def wide_grids():
    return st.one_of(grids(span=20.0), grids(span=500.0), grids(max_width=70, max_height=70))


@given(adversarial_mixtures(), wide_grids(), RTOLS)
def test_density_is_within_rtol_below_the_exact_density(mixture, grid, rtol):
    exact = gmmfast.log_density_grid(mixture, grid)
    approx = gmmfast.log_density_grid(mixture, grid, rtol=rtol)
    assert np.isfinite(approx).all()
    # (1 − rtol) p ≤ p̂ ≤ p, up to rounding of log p.
    slack = 1e-12 * (1.0 + np.abs(exact))
    assert np.all(approx <= exact + slack)
    assert np.all(approx >= exact + np.log1p(-rtol) - slack)
    # and the exact mode is the NumPy reference's result
    np.testing.assert_allclose(exact, ref.log_density_grid(mixture, grid), rtol=1e-9, atol=1e-9)


@given(adversarial_mixtures(), wide_grids(), RTOLS)
def test_labels_are_exact_for_any_rtol(mixture, grid, rtol):
    np.testing.assert_array_equal(
        gmmfast.label_grid(mixture, grid, rtol=rtol), gmmfast.label_grid(mixture, grid)
    )


@st.composite
def adversarial_points(draw, mixture):
    """Points around and between the components, some far out, in clumps and spread."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 2000))
    d = mixture.n_features
    span = np.abs(mixture.means).max() + 1.0
    near = mixture.means[rng.integers(mixture.n_components, size=n)]
    near = near + rng.normal(size=(n, d)) * span * 10.0 ** rng.uniform(-3, 0, size=(n, 1))
    wide = rng.uniform(-3 * span, 3 * span, size=(n, d))
    return np.where(rng.random((n, 1)) < 0.7, near, wide)


@given(adversarial_mixtures(n_features=(1, 6)), st.data(), RTOLS)
def test_points_are_within_rtol_and_labels_exact(mixture, data, rtol):
    X = data.draw(adversarial_points(mixture))
    exact = gmmfast.score_samples(mixture, X)
    approx = gmmfast.score_samples(mixture, X, rtol=rtol)
    assert np.isfinite(approx).all()
    slack = 1e-12 * (1.0 + np.abs(exact))
    assert np.all(approx <= exact + slack)
    assert np.all(approx >= exact + np.log1p(-rtol) - slack)
    np.testing.assert_allclose(exact, ref.score_samples(mixture, X), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(
        gmmfast.predict(mixture, X, rtol=rtol), gmmfast.predict(mixture, X)
    )
    # Responsibilities of the kept components, renormalised: each moves by at most
    # rtol / (1 − rtol), the dropped ones weigh at most rtol.
    proba = gmmfast.predict_proba(mixture, X, rtol=rtol)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    bound = rtol / (1 - rtol) + 1e-12
    assert np.all(np.abs(proba - gmmfast.predict_proba(mixture, X)) <= bound)


def regression_spread(mixture, given_dims, points, mean):
    """max_k |m_k(x) − mean(x)| per point and feature: how far any component's regression is
    from the result (bounds the effect of dropping components)."""
    reg = regressions(mixture.means, mixture.covariances, mixture.covariance_type, given_dims)
    centred = points[:, None, :] - mixture.means[:, list(given_dims)][None]
    comp = reg.means_rest[None] + np.einsum("kmg,nkg->nkm", reg.gain, centred)
    return np.abs(comp - mean[:, None, :]).max(axis=1)


@given(adversarial_mixtures(n_features=4, n_components=(1, 32)), wide_grids(), RTOLS)
def test_conditional_mean_moves_by_at_most_rtol_times_the_spread(mixture, grid, rtol):
    exact = gmmfast.conditional_mean_grid(mixture, grid)
    approx = gmmfast.conditional_mean_grid(mixture, grid, rtol=rtol)
    assert np.isfinite(approx).all()
    m = exact.shape[-1]
    spread = regression_spread(mixture, (0, 1), grid.points(), exact.reshape(-1, m))
    bound = rtol / (1 - rtol) * spread + 1e-9 * (1 + np.abs(exact.reshape(-1, m)))
    assert np.all(np.abs(approx - exact).reshape(-1, m) <= bound)
    # Points: same bound for the per-point skipping.
    pts = grid.points()
    approx_pts = gmmfast.conditional_mean(mixture, pts, rtol=rtol)
    assert np.all(np.abs(approx_pts - exact.reshape(-1, m)) <= bound)


@given(adversarial_mixtures(n_features=3), grids(max_width=70, max_height=70), st.data())
def test_windows_render_bitwise_the_same_pixels(mixture, grid, data):
    rtol = data.draw(st.sampled_from([0.0, 1e-9, 1e-3]))
    r0 = data.draw(st.integers(0, grid.height - 1))
    r1 = data.draw(st.integers(r0 + 1, grid.height))
    c0 = data.draw(st.integers(0, grid.width - 1))
    c1 = data.draw(st.integers(c0 + 1, grid.width))
    window = grid[r0:r1, c0:c1]
    full = gmmfast.log_density_grid(mixture, grid, rtol=rtol)
    np.testing.assert_array_equal(
        gmmfast.log_density_grid(mixture, window, rtol=rtol), full[r0:r1, c0:c1]
    )
    labels = gmmfast.label_grid(mixture, grid, rtol=rtol)
    np.testing.assert_array_equal(
        gmmfast.label_grid(mixture, window, rtol=rtol), labels[r0:r1, c0:c1]
    )
    mean, std = gmmfast.conditional_mean_grid(mixture, grid, rtol=rtol, return_std=True)
    wmean, wstd = gmmfast.conditional_mean_grid(mixture, window, rtol=rtol, return_std=True)
    np.testing.assert_array_equal(wmean, mean[r0:r1, c0:c1])
    np.testing.assert_array_equal(wstd, std[r0:r1, c0:c1])


@given(mixtures(n_features=3, n_components=(1, 16)), grids())
def test_float32_images_are_the_float64_images_rounded(mixture, grid):
    d64 = gmmfast.log_density_grid(mixture, grid, dims=(2, 0))
    d32 = gmmfast.log_density_grid(mixture, grid, dims=(2, 0), dtype=np.float32)
    assert d32.dtype == np.float32
    np.testing.assert_array_equal(d32, d64.astype(np.float32))
    m64, s64 = gmmfast.conditional_mean_grid(mixture, grid, return_std=True)
    m32, s32 = gmmfast.conditional_mean_grid(mixture, grid, return_std=True, dtype="float32")
    assert m32.dtype == s32.dtype == np.float32
    np.testing.assert_array_equal(m32, m64.astype(np.float32))
    np.testing.assert_array_equal(s32, s64.astype(np.float32))


def test_culling_evaluates_few_components_of_a_localised_mixture():
    """On a mixture of many small separated blobs only a handful are evaluated per pixel, and
    never fewer than needed for the tolerance (the result's accuracy is tested above)."""
    rng = np.random.default_rng(0)
    k = 400
    mixture = gmmfast.Mixture(
        np.full(k, 1 / k), rng.uniform(0, 200, (k, 2)), np.full(k, 4.0), "spherical"
    )
    grid = gmmfast.Grid(200, 200)
    form = marginal_form(mixture, (0, 1))
    counts = {}
    for rtol in (0.0, 1e-9, 1e-3):
        out = np.empty(grid.shape, np.int64)
        _core.candidate_counts(form.components(), grid.xs, grid.ys, out, rtol)
        counts[rtol] = out.mean()
    assert counts[0.0] < k / 10
    assert counts[1e-3] <= counts[1e-9] <= counts[0.0]


@pytest.mark.parametrize("function", [gmmfast.log_density_grid, gmmfast.label_grid])
@pytest.mark.parametrize(
    ("rtol", "error", "match"),
    [
        (-1e-3, ValueError, r"rtol must be in \[0, 1\)"),
        (1.0, ValueError, r"rtol must be in \[0, 1\)"),
        (np.nan, ValueError, r"rtol must be in \[0, 1\)"),
        ("0.1", TypeError, "rtol must be a number"),
        (True, TypeError, "rtol must be a number"),
    ],
)
def test_bad_rtol(function, rtol, error, match):
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    with pytest.raises(error, match=match):
        function(m, gmmfast.Grid(3, 3), rtol=rtol)
    with pytest.raises(error, match=match):
        gmmfast.conditional_mean(
            gmmfast.Mixture([1.0], [[0.0, 0.0, 0.0]], [1.0], "spherical"), [[0.0, 0.0]], rtol=rtol
        )


@pytest.mark.parametrize(
    ("dtype", "error"), [(np.int64, ValueError), (np.float16, ValueError), ("banana", TypeError)]
)
def test_bad_dtype(dtype, error):
    m = gmmfast.Mixture([1.0], [[0.0, 0.0, 0.0]], [1.0], "spherical")
    with pytest.raises(error, match=r"dtype must be numpy\.float64 or numpy\.float32"):
        gmmfast.log_density_grid(m, gmmfast.Grid(3, 3), dtype=dtype)
    with pytest.raises(error, match=r"dtype must be numpy\.float64 or numpy\.float32"):
        gmmfast.conditional_mean_grid(m, gmmfast.Grid(3, 3), dtype=dtype)
