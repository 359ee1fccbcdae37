"""gmmfast.plot: figures in data space, checked on matplotlib's Agg canvas.

Every value a figure shows is compared with scikit-learn's own methods (``score_samples``,
``predict``, ``predict_proba``) or its fitted parameters at the points the figure says it
shows: pixel centres recomputed here from the image's extent, contour vertices, ellipse
outlines. Orientation is checked on the rendered pixels: a model whose mode is at y = +5 in
a plane from −10 to 10 must put its ink in the upper half of the axes.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402
from sklearn.datasets import make_blobs, make_moons  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture  # noqa: E402
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky  # noqa: E402

import gmmfast  # noqa: E402
from gmmfast import image, plot  # noqa: E402

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FIELDS = ("density", "contours", "decision_regions", "responsibility")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def moons():
    X, _ = make_moons(400, noise=0.08, random_state=0)
    return X, GaussianMixture(4, random_state=0).fit(X)


@pytest.fixture(scope="module")
def blobs3():
    """A 3-feature model, for marginals over a strict subset of the features."""
    X, _ = make_blobs(300, n_features=3, centers=3, random_state=1)
    return X, GaussianMixture(3, random_state=0).fit(X)


def fitted(covariance_type: str, bayesian: bool = False):
    X, _ = make_blobs(300, centers=3, cluster_std=[1.0, 2.0, 0.5], random_state=2)
    X = X @ np.array([[1.0, 0.4], [0.0, 0.7]])  # correlated features
    if bayesian:
        return BayesianGaussianMixture(
            n_components=3, covariance_type=covariance_type, random_state=0, max_iter=500
        ).fit(X)
    return GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)


def draw(name: str, model, ax=None, **kwargs):
    if name == "responsibility":
        return plot.responsibility(model, 0, ax, **kwargs)
    return getattr(plot, name)(model, ax, **kwargs)


def pixel_centres(im: AxesImage) -> np.ndarray:
    """(height, width, 2) data coordinates of the centres of an ``imshow(origin='lower')``
    image's pixels, from its extent: row 0 is the lowest y."""
    assert im.origin == "lower"
    height, width = im.get_array().shape[:2]
    x0, x1, y0, y1 = im.get_extent()
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
    xx, yy = np.meshgrid(xs, ys)
    return np.stack([xx, yy], axis=-1)


def some_pixels(shape: tuple, n: int = 40, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    return rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)


def full_covariances(est) -> np.ndarray:
    """scikit-learn's ``covariances_`` of any type as a (K, d, d) stack."""
    k, d = est.means_.shape
    cov = est.covariances_
    return {
        "full": lambda: cov,
        "tied": lambda: np.broadcast_to(cov, (k, d, d)),
        "diag": lambda: np.stack([np.diag(c) for c in cov]),
        "spherical": lambda: cov[:, None, None] * np.eye(d),
    }[est.covariance_type]()


def marginal_estimator(est, dims) -> GaussianMixture:
    """A scikit-learn GaussianMixture holding ``est``'s ('full') marginal over ``dims``."""
    dims = list(dims)
    out = GaussianMixture(len(est.weights_), covariance_type="full")
    out.weights_ = est.weights_
    out.means_ = est.means_[:, dims]
    out.covariances_ = est.covariances_[:, dims][:, :, dims]
    out.precisions_cholesky_ = _compute_precision_cholesky(out.covariances_, "full")
    return out


# ---------------------------------------------------------------------------------------------
# Values against scikit-learn


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("bayesian", [False, True])
def test_density_pixels_are_score_samples_at_their_centres(covariance_type, bayesian):
    est = fitted(covariance_type, bayesian)
    ax = plot.density(est, resolution=(60, 50))
    im = ax.images[-1]
    values = im.get_array()
    assert values.shape == (50, 60)
    centres = pixel_centres(im)
    rows, cols = some_pixels(values.shape)
    expected = est.score_samples(centres[rows, cols])
    np.testing.assert_allclose(values[rows, cols], expected, rtol=1e-9, atol=1e-9)
    # Six decades below the peak, or the whole field when that is smaller.
    expected_all = est.score_samples(centres.reshape(-1, 2))
    floor = expected_all.max() - math.log(1e6)
    assert im.norm.vmin == pytest.approx(max(floor, expected_all.min()), abs=1e-9)


def test_density_without_log_is_the_density(moons):
    _, est = moons
    ax = plot.density(est, log=False, resolution=30)
    im = ax.images[-1]
    rows, cols = some_pixels(im.get_array().shape)
    expected = np.exp(est.score_samples(pixel_centres(im)[rows, cols]))
    np.testing.assert_allclose(im.get_array()[rows, cols], expected, rtol=1e-9)
    assert im.colorbar is not None and im.colorbar.ax.get_ylabel() == "density"


def test_density_of_a_marginal_is_that_of_the_marginal_mixture(blobs3):
    _, est = blobs3
    ax = plot.density(est, dims=(2, 0), resolution=40)
    im = ax.images[-1]
    rows, cols = some_pixels(im.get_array().shape)
    expected = marginal_estimator(est, (2, 0)).score_samples(pixel_centres(im)[rows, cols])
    np.testing.assert_allclose(im.get_array()[rows, cols], expected, rtol=1e-9, atol=1e-9)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("feature 2", "feature 0")


def test_contours_lie_on_their_levels(moons):
    _, est = moons
    ax = plot.contours(est, levels=5, resolution=300)
    (cs,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    # The levels: five, evenly spaced over three decades below the field's maximum.
    field = est.score_samples(plot_grid_points(ax, 300))
    top = field.max()
    np.testing.assert_allclose(cs.levels, top - math.log(1000) * np.arange(5, 0, -1) / 5)
    for level, path in zip(cs.levels, cs.get_paths()):
        vertices = path.vertices
        assert len(vertices) > 10
        # Linear interpolation between pixel centres 1/300 of the plane apart.
        np.testing.assert_allclose(est.score_samples(vertices), level, atol=0.02)
    # Labelled: each label is one of the levels, written to one decimal (levels 1.4 apart).
    assert len(ax.texts) >= 5
    written = {float(t.get_text().replace("−", "-")) for t in ax.texts}
    assert written <= {round(float(v), 1) for v in cs.levels}
    assert all(float(t.get_text().replace("−", "-")) < 0 for t in ax.texts)
    assert len(ax.figure.axes) == 1  # no colour bar unless filled or asked


def plot_grid_points(ax, resolution: int) -> np.ndarray:
    """Pixel centres of a square field of the axes' current limits (set by the plot)."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    xs = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    ys = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def test_filled_contours_have_a_colour_bar_and_labelled_lines(moons):
    _, est = moons
    levels = [-6.0, -4.0, -2.0, -1.0]
    ax = plot.contours(est, levels=levels, filled=True)
    sets = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(sets) == 2  # the bands, then the lines on their edges
    assert sets[0].filled and not sets[1].filled
    np.testing.assert_array_equal(sets[1].levels, levels)
    assert sets[0].colorbar is not None
    assert sets[0].colorbar.ax.get_ylabel() == "log-density"
    assert {t.get_text().replace("−", "-") for t in ax.texts} <= {"-6", "-4", "-2", "-1"}
    assert len(ax.texts) >= 4
    plot.contours(est, levels=levels, colorbar=True)
    assert len(plt.gcf().axes) == 2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_decision_regions_are_predict_and_boundaries_separate_them(covariance_type):
    est = fitted(covariance_type)
    ax = plot.decision_regions(est, resolution=(80, 70))
    im = ax.images[-1]
    labels = im.get_array()
    centres = pixel_centres(im)
    np.testing.assert_array_equal(labels, est.predict(centres.reshape(-1, 2)).reshape(70, 80))
    assert len(np.unique(labels)) == 3
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    assert len(segments) > 20
    # Each boundary edge separates two pixels that scikit-learn labels differently.
    x0, x1, y0, y1 = im.get_extent()
    step = np.array([(x1 - x0) / 80, (y1 - y0) / 70])
    for a, b in segments[:: max(1, len(segments) // 30)]:
        middle = (a + b) / 2
        normal = np.abs((b - a)[::-1]) / np.linalg.norm(b - a)  # across the edge
        sides = np.array([middle - normal * step / 2, middle + normal * step / 2])
        first, second = est.predict(sides)
        assert first != second


@pytest.mark.parametrize("bayesian", [False, True])
def test_responsibility_is_predict_proba(bayesian):
    # For a BayesianGaussianMixture over all its features the weights are its expected
    # log-weights with the Wishart terms, not weights_: its own predict_proba says which.
    est = fitted("full", bayesian)
    for k in range(3):
        ax = plot.responsibility(est, k, resolution=50)
        im = ax.images[-1]
        expected = est.predict_proba(pixel_centres(im).reshape(-1, 2))[:, k].reshape(50, 50)
        np.testing.assert_allclose(im.get_array(), expected, atol=1e-12)
        assert im.colorbar.ax.get_ylabel() == f"responsibility of component {k}"
        assert (im.norm.vmin, im.norm.vmax) == (0.0, 1.0)


def test_responsibility_of_a_marginal_uses_the_plug_in_weights(blobs3):
    _, est = blobs3
    ax = plot.responsibility(est, 1, dims=(0, 2), resolution=40)
    im = ax.images[-1]
    marginal = marginal_estimator(est, (0, 2))
    expected = marginal.predict_proba(pixel_centres(im).reshape(-1, 2))[:, 1].reshape(40, 40)
    np.testing.assert_allclose(im.get_array(), expected, atol=1e-12)


def ellipse_points(patch: Ellipse) -> np.ndarray:
    """Points of the ellipse an Ellipse patch draws: its transform applied to the unit circle
    (the path's own vertices include Bézier control points off the curve)."""
    t = np.linspace(0, 2 * np.pi, 50)
    return patch.get_patch_transform().transform(np.column_stack([np.cos(t), np.sin(t)]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ellipses_are_mahalanobis_circles(covariance_type):
    est = fitted(covariance_type)
    n_std = (1, 2.5)
    ax = plot.ellipses(est, n_std=n_std)
    patches = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(patches) == 3 * len(n_std)
    precisions = np.linalg.inv(full_covariances(est))
    for index, patch in enumerate(patches):
        k, n = divmod(index, len(n_std))
        centred = ellipse_points(patch) - est.means_[k]
        squared = np.einsum("ni,ij,nj->n", centred, precisions[k], centred)
        np.testing.assert_allclose(squared, n_std[n] ** 2, rtol=1e-9)
    # The heaviest component at alpha 0.25, the others in proportion to their weight.
    alphas = np.array([patches[k * len(n_std)].get_alpha() for k in range(3)])
    np.testing.assert_allclose(alphas, 0.25 * est.weights_ / est.weights_.max())


def test_ellipses_of_a_marginal_and_of_a_bayesian_mixture(blobs3):
    _, est = blobs3
    ax = plot.ellipses(est, dims=(1, 2), n_std=2, alpha_by_weight=False)
    patches = ax.patches
    assert len(patches) == 3
    cov = est.covariances_[:, [1, 2]][:, :, [1, 2]]
    for k, patch in enumerate(patches):
        centred = ellipse_points(patch) - est.means_[k, [1, 2]]
        squared = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov[k]), centred)
        np.testing.assert_allclose(squared, 4.0, rtol=1e-9)
        assert patch.get_alpha() == 0.25
    bgm = fitted("diag", bayesian=True)
    ax = plot.ellipses(bgm, n_std=(1, 2, 3))
    assert len(ax.patches) == 3 * 3
    centred = ellipse_points(ax.patches[3 * 2 + 1]) - bgm.means_[2]
    squared = np.sum(centred**2 / bgm.covariances_[2], axis=1)
    np.testing.assert_allclose(squared, 4.0, rtol=1e-9)


def test_mixture_1d_is_score_samples_and_its_components_add_up():
    X = np.concatenate([np.random.default_rng(0).normal(m, s, 200) for m, s in [(0, 1), (5, 2)]])
    est = GaussianMixture(2, random_state=0).fit(X[:, None])
    ax = plot.mixture_1d(est, X=X)
    (curve,) = [line for line in ax.lines if line.get_label() == "mixture"]
    xs, ys = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(ys, np.exp(est.score_samples(xs[:, None])), rtol=1e-9)
    (collection,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = collection.get_segments()
    assert len(segments) == 2
    np.testing.assert_allclose(sum(s[:, 1] for s in segments), ys, rtol=1e-9)
    # The histogram is normalised as a density, the x range covers the data.
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert len(heights) > 5 and np.sum(heights * widths) == pytest.approx(1.0)
    assert ax.get_xlim()[0] <= X.min() and ax.get_xlim()[1] >= X.max()
    assert ax.get_legend() is not None
    assert any(line.get_marker() == "|" for line in ax.lines)  # the rug


def test_mixture_1d_of_a_feature_of_a_2d_model(moons):
    X, est = moons
    ax = plot.mixture_1d(est, dim=1, X=X, rug=False, components=False)
    (curve,) = ax.lines
    xs, ys = curve.get_xdata(), curve.get_ydata()
    sd = np.sqrt(est.covariances_[:, 1, 1])
    z = (xs[:, None] - est.means_[:, 1]) / sd
    expected = (est.weights_ * np.exp(-0.5 * z**2) / (sd * math.sqrt(2 * math.pi))).sum(axis=1)
    np.testing.assert_allclose(ys, expected, rtol=1e-9)
    assert not ax.collections
    # X may be the values of that feature alone.
    ax = plot.mixture_1d(est, dim=1, X=X[:, 1])
    assert len(ax.patches) > 5


def test_samples_are_shuffled_seeded_and_from_the_model():
    model = gmmfast.Mixture([0.5, 0.5], [[-3.0, 0.0], [3.0, 0.0]], [0.25, 0.25], "spherical")
    ax = plot.samples(model, 2000, random_state=7)
    (scatter,) = ax.collections
    assert isinstance(scatter, PathCollection)
    points = scatter.get_offsets()
    assert points.shape == (2000, 2)
    # Shuffled: the first 100 come from both components, in roughly equal numbers.
    left = points[:100, 0] < 0
    assert 25 < left.sum() < 75  # Binomial(100, ½): outside with probability < 1e-6
    # Coloured by component: the left component's points all in C0, the right ones in C1.
    colours = scatter.get_facecolors()
    for side, colour in ((points[:, 0] < 0, "C0"), (points[:, 0] > 0, "C1")):
        expected = np.tile(matplotlib.colors.to_rgba(colour), (side.sum(), 1))
        np.testing.assert_allclose(colours[side], expected)
    # Seeded: the same picture again; another seed, another picture.
    again = plot.samples(model, 2000, random_state=7).collections[0].get_offsets()
    np.testing.assert_array_equal(points, again)
    other = plot.samples(model, 2000, random_state=8).collections[0].get_offsets()
    assert not np.array_equal(points, other)
    # Means within 6 standard errors (σ = 0.5 per coordinate, 1000 per side).
    for side, centre in ((points[:, 0] < 0, -3.0), (points[:, 0] > 0, 3.0)):
        np.testing.assert_allclose(points[side].mean(axis=0), [centre, 0.0], atol=6 * 0.5 / 30)


def test_tone_curve_draws_the_mappings():
    knots = [(0.0, 0.0), (0.2, 0.1), (0.6, 0.8), (1.0, 1.0)]
    ax = plot.tone_curve(knots)
    by_label = {line.get_label(): line for line in ax.lines}
    assert set(by_label) == {"piecewise", "knots", "linear", "log (3 decades)"}
    x = by_label["piecewise"].get_xdata()
    xs, ys = np.array(knots).T
    np.testing.assert_allclose(by_label["piecewise"].get_ydata(), np.interp(x, xs, ys))
    np.testing.assert_allclose(by_label["knots"].get_xydata(), knots)
    np.testing.assert_allclose(by_label["linear"].get_ydata(), x)
    with np.errstate(divide="ignore"):
        log_ink = np.clip((np.log(x) + math.log(1000)) / math.log(1000), 0, 1)
    np.testing.assert_allclose(by_label["log (3 decades)"].get_ydata(), log_ink, atol=1e-12)
    default = plot.tone_curve(mappings=["piecewise"])
    np.testing.assert_allclose(default.lines[1].get_xydata(), image.DEFAULT_KNOTS)
    assert len(default.lines) == 2


# ---------------------------------------------------------------------------------------------
# Orientation, extent, ax= and kwargs


def two_components():
    """Component 0 heavy at y = +5, component 1 light at y = −5."""
    return gmmfast.Mixture([0.8, 0.2], [[0.0, 5.0], [0.0, -5.0]], [1.0, 1.0], "spherical")


def inner_pixels(ax) -> tuple:
    """The rendered RGB pixels inside the axes (3 pixels in from the frame), and the canvas
    row of the axes' middle in that crop (canvas rows run downward)."""
    fig = ax.figure
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(float)
    box = ax.get_window_extent()
    height = rgb.shape[0]
    top, bottom = int(height - box.y1) + 3, int(height - box.y0) - 3
    left, right = int(box.x0) + 3, int(box.x1) - 3
    crop = rgb[top:bottom, left:right]
    return crop, crop.shape[0] / 2


def assert_upper_half(mask: np.ndarray, middle: float) -> None:
    rows = np.nonzero(mask)[0]
    assert rows.size > 20
    assert rows.mean() < middle, (rows.mean(), middle)


@pytest.mark.parametrize(
    "name", ["density", "contours", "decision_regions", "responsibility", "ellipses", "samples"]
)
def test_y_points_upward(name):
    model = two_components()
    kwargs = {"xlim": (-10, 10), "ylim": (-10, 10)}
    if name == "samples":
        ax = plot.samples(model, 3000, random_state=0, **kwargs)
    else:
        ax = draw(name, model, **kwargs)
    assert ax.get_ylim() == (-10, 10)
    crop, middle = inner_pixels(ax)
    if name in ("density", "responsibility"):
        top = np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255
        bright = np.abs(crop - top).sum(axis=2) < 60
        assert_upper_half(bright, middle)
        # And in the image's array: the row of y = +5 holds the peak (density) or component
        # 0's territory (responsibility), the row of y = −5 does not.
        im = ax.images[-1]
        values, ys = im.get_array(), pixel_centres(im)[:, 0, 1]
        up, down = np.argmin(np.abs(ys - 5)), np.argmin(np.abs(ys + 5))
        if name == "density":
            assert np.unravel_index(np.argmax(values), values.shape)[0] == up
        else:
            assert values[up].min() > 0.99 and values[down].max() < 0.01
    elif name == "decision_regions":
        blue = np.abs(crop - np.array(matplotlib.colors.to_rgb("C0")) * 255).sum(axis=2) < 30
        assert_upper_half(blue, middle)
    else:
        ink = crop.sum(axis=2) < 3 * 250  # anything not white
        assert_upper_half(ink, middle)


def test_reversed_limits_draw_y_downward():
    # A model fitted on an image's pixel coordinates (row y = 0 at the top) is drawn the
    # right way up with ylim=(height, 0).
    ax = plot.density(two_components(), xlim=(-10, 10), ylim=(10, -10), colorbar=False)
    assert ax.yaxis_inverted()
    crop, middle = inner_pixels(ax)
    top = np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255
    rows = np.nonzero(np.abs(crop - top).sum(axis=2) < 60)[0]
    assert rows.mean() > middle


def test_the_default_extent_is_three_standard_deviations_around_the_components():
    model = gmmfast.Mixture(
        [0.6, 0.3999, 1e-4], [[0.0, 5.0], [10.0, 0.0], [1e3, 1e3]], [[1.0, 4.0]] * 3, "diag"
    )
    # The third component weighs less than 1/1000 of the first: it does not count.
    assert plot.limits(model) == ((-3.0, 13.0), (-6.0, 11.0))
    for name in FIELDS:
        ax = draw(name, model)
        assert ax.get_xlim() == (-3.0, 13.0) and ax.get_ylim() == (-6.0, 11.0)
        if ax.images:
            assert ax.images[-1].get_extent() == [-3.0, 13.0, -6.0, 11.0]
    ax = plot.density(model, xlim=(0, 1), ylim=(2, 3))
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (2, 3)
    ax = plot.ellipses(model, n_std=3)
    x0, x1 = ax.get_xlim()
    assert x0 <= -3.0 and x1 >= 13.0 and x1 < 100  # autoscaled to the ellipses


@pytest.mark.parametrize(
    "name",
    [*FIELDS, "ellipses", "samples", "mixture_1d", "tone_curve"],
)
def test_ax_is_honoured(name, moons):
    _, est = moons
    _, (first, second) = plt.subplots(1, 2)
    if name == "samples":
        returned = plot.samples(est, 50, second, random_state=0)
    elif name == "tone_curve":
        returned = plot.tone_curve(None, second)
    else:
        returned = draw(name, est, second)
    assert returned is second
    assert second.has_data() or second.images or second.lines
    assert not (first.has_data() or first.images or first.lines or first.texts)


def test_without_ax_a_new_figure_is_made(moons):
    _, est = moons
    before = plt.get_fignums()
    ax = plot.density(est, resolution=10)
    assert ax.figure.number not in before


def test_kwargs_reach_the_wrapped_call(moons):
    _, est = moons
    ax = plot.density(est, resolution=20, alpha=0.5, interpolation="bilinear")
    assert ax.images[-1].get_alpha() == 0.5
    assert ax.images[-1].get_interpolation() == "bilinear"
    ax = plot.contours(est, colors="red", linewidths=3.0)
    (cs,) = ax.collections
    np.testing.assert_allclose(cs.get_edgecolor()[0], matplotlib.colors.to_rgba("red"))
    assert cs.get_linewidth()[0] == 3.0
    ax = plot.contours(est, filled=True, cmap="magma", labels=False)
    assert ax.collections[0].get_cmap().name == "magma" and not ax.texts
    ax = plot.decision_regions(est, resolution=20, alpha=0.3, boundaries=False)
    assert ax.images[-1].get_alpha() == 0.3 and not ax.collections
    ax = plot.responsibility(est, 2, resolution=20, cmap="gray")
    assert ax.images[-1].get_cmap().name == "gray"
    ax = plot.ellipses(est, n_std=1, linestyle="--", fill=False, alpha=0.9)
    assert all(p.get_linestyle() == "--" and not p.get_fill() for p in ax.patches)
    assert max(p.get_alpha() for p in ax.patches) == pytest.approx(0.9)
    ax = plot.samples(est, 30, random_state=0, s=25, marker="x", c="k")
    np.testing.assert_array_equal(ax.collections[0].get_sizes(), [25])
    ax = plot.mixture_1d(est, color="red", linestyle=":")
    (curve,) = [line for line in ax.lines if line.get_label() == "mixture"]
    assert curve.get_color() == "red" and curve.get_linestyle() == ":"
    ax = plot.tone_curve(linewidth=5)
    assert ax.lines[0].get_linewidth() == 5


def test_feature_names_label_the_axes():
    pd = pytest.importorskip("pandas")
    X, _ = make_moons(200, noise=0.1, random_state=0)
    est = GaussianMixture(3, random_state=0).fit(pd.DataFrame(X, columns=["width", "height"]))
    ax = plot.contours(est)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("width", "height")
    _, ax = plt.subplots()
    ax.set_xlabel("mine")
    plot.ellipses(est, ax)
    assert ax.get_xlabel() == "mine"


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_arguments_say_what_was_expected(moons):
    _, est = moons
    with pytest.raises(ValueError, match=r"dims must be feature indices in \[0, 2\)"):
        plot.density(est, dims=(0, 2))
    with pytest.raises(ValueError, match="dims must name exactly 2 features"):
        plot.contours(est, dims=(0,))
    with pytest.raises(ValueError, match="dims must not repeat"):
        plot.ellipses(est, dims=(1, 1))
    with pytest.raises(ValueError, match=r"k must be a component index in \[0, 4\).*got 4"):
        plot.responsibility(est, 4)
    with pytest.raises(ValueError, match="k must be >= 0, got -1"):
        plot.responsibility(est, -1)
    with pytest.raises(TypeError, match="k must be an integer"):
        plot.responsibility(est, 1.0)
    with pytest.raises(ValueError, match=r"n_std must be a positive finite number, got 0\.0"):
        plot.ellipses(est, n_std=(1, 0))
    with pytest.raises(TypeError, match="n_std must be a positive number"):
        plot.ellipses(est, n_std=[None])
    with pytest.raises(ValueError, match="n_std must be a positive number or a sequence"):
        plot.ellipses(est, n_std=())
    with pytest.raises(ValueError, match=r"resolution \(width\) must be >= 2, got 1"):
        plot.density(est, resolution=1)
    with pytest.raises(TypeError, match=r"resolution \(height\) must be an integer"):
        plot.density(est, resolution=(10, 2.5))
    with pytest.raises(ValueError, match="xlim must span a non-empty interval"):
        plot.decision_regions(est, xlim=(1, 1))
    with pytest.raises(ValueError, match="ylim must be a pair of numbers"):
        plot.density(est, ylim=(1, 2, 3))
    with pytest.raises(ValueError, match="ylim must be finite"):
        plot.samples(est, 10, ylim=(0, np.inf))
    with pytest.raises(TypeError, match="log must be True or False, got 'yes'"):
        plot.density(est, log="yes")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes or None, got str"):
        plot.contours(est, "axes")
    with pytest.raises(ValueError, match="rtol must be in"):
        plot.density(est, rtol=1.0)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        plot.samples(est, 0)
    with pytest.raises(ValueError, match=r"dim must be feature indices in \[0, 2\)"):
        plot.mixture_1d(est, dim=2)
    with pytest.raises(ValueError, match="X has 3 features, but the model is expecting 2"):
        plot.mixture_1d(est, X=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="knots must lie in"):
        plot.tone_curve([(0, 0), (2, 1)])
    with pytest.raises(ValueError, match="mappings must name some of"):
        plot.tone_curve(mappings=["cubic"])
    with pytest.raises(TypeError, match="mappings must be a sequence"):
        plot.tone_curve(mappings="log")
    with pytest.raises(ValueError, match=r"levels must be finite and strictly increasing"):
        plot.contours(est, levels=[-1.0, -2.0])
    with pytest.raises(TypeError, match="expected a fitted GaussianMixture"):
        plot.density(object())
    with pytest.raises(NotFittedError):
        plot.ellipses(GaussianMixture(2))
    assert plt.get_fignums() == []  # every check before a figure is made


def test_without_matplotlib_the_error_says_how_to_get_it(moons, no_matplotlib):
    _, est = moons
    with pytest.raises(ImportError, match=r"gmmfast\[plot\]"):
        plot.density(est, resolution=10)


def test_importing_gmmfast_plot_does_not_import_matplotlib():
    script = (
        "import sys, gmmfast, gmmfast.plot\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'matplotlib', 'sklearn'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_contour_figure_points_to_the_data_space_plots():
    assert "gmmfast.plot" in image.contour_figure.__doc__
