"""Images as training points, fitting, tone mappings, contours and contact sheets."""

import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import gmmfast
from gmmfast import image


@pytest.fixture
def picture():
    """A 3 × 4 RGB picture: dark pixels at (row 0, col 1) and (row 2, col 3)."""
    rgb = np.full((3, 4, 3), 250, dtype=np.uint8)
    rgb[0, 1] = (10, 20, 30)
    rgb[2, 3] = (0, 0, 0)
    rgb[1, 2] = (255, 0, 0)  # red: luma 76, dark at threshold 128
    return rgb


def test_bw_points_are_x_column_y_row_in_row_major_order(picture):
    np.testing.assert_array_equal(image.bw_points(picture), [[1, 0], [2, 1], [3, 2]])
    np.testing.assert_array_equal(image.bw_points(picture, threshold=50), [[1, 0], [3, 2]])


def test_paths_pil_images_and_arrays_agree(picture, tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(picture).save(path)
    expected = image.bw_points(picture)
    np.testing.assert_array_equal(image.bw_points(path), expected)
    np.testing.assert_array_equal(image.bw_points(str(path)), expected)
    np.testing.assert_array_equal(image.bw_points(Image.fromarray(picture)), expected)
    np.testing.assert_array_equal(image.bw_points(picture / 255.0), expected)  # floats on 0–1
    rgba = np.concatenate([picture, np.full((3, 4, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(image.bw_points(rgba), expected)


def test_grey_matches_pil_luma(picture):
    pil = np.asarray(Image.fromarray(picture).convert("L"), dtype=float)
    assert np.abs(image.grey(picture) - pil).max() <= 0.5 + 1e-9  # PIL rounds to integers


def test_color_points_hold_every_pixel(picture):
    pts = image.color_points(picture)
    assert pts.shape == (12, 5)
    np.testing.assert_array_equal(pts[1], [1, 0, 10, 20, 30])
    np.testing.assert_array_equal(pts[11], [3, 2, 0, 0, 0])
    grey = image.color_points(np.arange(6, dtype=np.uint8).reshape(2, 3))
    np.testing.assert_array_equal(grey[4], [1, 1, 4, 4, 4])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((2, 2, 5)), "must have shape"),
        (np.zeros((0, 3)), "at least one pixel"),
        (np.array([[np.nan]]), "NaN"),
        (np.array([["a"]]), "must be numeric"),
    ],
)
def test_bad_images(bad, match):
    with pytest.raises(ValueError, match=match):
        image.color_points(bad)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "x.png").write_text("not a png")
    with pytest.raises(ValueError, match="cannot read"):
        image.bw_points(tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        image.bw_points(tmp_path / "missing.png")


def test_a_white_image_has_no_dark_points():
    with pytest.raises(ValueError, match="no pixel"):
        image.bw_points(np.full((4, 4), 255, np.uint8))


# --- images in, read as the user meant them: float scales, transparency -----------------------


def test_float_images_on_0_255_are_not_scaled_a_second_time(picture):
    # np.asarray(picture, dtype=float) is on 0–255: the same points as the uint8 picture (not
    # colours of 63750 and a single dark pixel, as when every float was taken for 0–1).
    as_float = picture.astype(np.float64)
    np.testing.assert_array_equal(image.bw_points(as_float), [[1, 0], [2, 1], [3, 2]])
    np.testing.assert_array_equal(image.color_points(as_float), image.color_points(picture))
    np.testing.assert_array_equal(image.color_points(as_float)[1], [1, 0, 10, 20, 30])
    # A PIL float image ("F", as convert("F") makes it) is on 0–255 as well.
    pil_float = Image.fromarray(picture).convert("L").convert("F")
    np.testing.assert_array_equal(image.grey(pil_float), np.asarray(pil_float))
    # 0–1 floats are still read as 0–1.
    np.testing.assert_array_equal(
        image.color_points(picture / 255.0)[:, 2:], picture.reshape(-1, 3)
    )


@pytest.mark.parametrize("kind", ["rgb", "grey", "sixteen-bit", "unit-floats"])
def test_as_array_of_its_own_output_changes_no_bit(picture, kind):
    given = {
        "rgb": picture,
        "grey": picture[:, :, 0],
        "sixteen-bit": picture[:, :, 1].astype(np.uint16) * 251,  # values off the 0–255 grid
        "unit-floats": picture / 255.0,
    }[kind]
    once = image.as_array(given)
    np.testing.assert_array_equal(image.as_array(once), once)
    np.testing.assert_array_equal(image.bw_points(once), image.bw_points(given))
    np.testing.assert_array_equal(image.color_points(once), image.color_points(given))


def test_explicit_scale_says_where_white_is():
    dark = np.array([[0.0, 1.0]])  # all in [0, 1]: read as 0–1 unless told otherwise
    np.testing.assert_array_equal(image.as_array(dark), [[0.0, 255.0]])
    np.testing.assert_array_equal(image.as_array(dark, scale=255), [[0.0, 1.0]])
    twelve_bit = np.array([[0, 819, 4095]], np.uint16)
    np.testing.assert_allclose(image.as_array(twelve_bit, scale=4095), [[0.0, 51.0, 255.0]])
    np.testing.assert_array_equal(image.bw_points(twelve_bit, scale=4095), [[0, 0], [1, 0]])
    np.testing.assert_array_equal(image.as_array(np.array([[100]]), scale=200), [[127.5]])
    for bad in (0, -1, np.nan, np.inf, "255", True):
        with pytest.raises(ValueError, match="scale must be None or a positive number"):
            image.as_array(dark, scale=bad)
    with pytest.raises(
        ValueError,
        match=r"with scale=255 the values must be in \[0, 255\], got "
        r"values from 0 to 300",
    ):
        image.as_array(np.array([[0.0, 300.0]]), scale=255)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.array([[0.0, 256.0]]), r"float image must be on 0–1 .* got values from 0 to 256"),
        (np.array([[-0.01, 0.5]]), r"got values from -0.01 to 0.5 \(clip them first\)"),
        (np.array([[-3.0, 200.0]]), "got values from -3 to 200"),
        (np.array([[0, 300]]), r"integer image must be on 0–255, got values from 0 to 300"),
        (np.array([[-1, 3]], np.int8), "integer image must be on 0–255, got values from -1"),
        (np.array([[0.5, np.nan]]), "NaN or inf"),
    ],
)
def test_values_out_of_every_scale_are_refused_with_what_was_found(bad, match):
    with pytest.raises(ValueError, match=match):
        image.as_array(bad)
    with pytest.raises(ValueError, match=match):
        image.bw_points(bad)


def line_art() -> tuple:
    """Black line art on a transparent background, as drawing programs export it: a 6 × 8
    RGBA uint8 array (transparent pixels are "transparent black", (0, 0, 0, 0)) and the (x, y)
    of its lines in row-major order."""
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[1, 1:7, 3] = 255  # a horizontal line on row 1
    rgba[2:5, 3, 3] = 255  # a vertical one down column 3
    lines = [[x, 1] for x in range(1, 7)] + [[3, y] for y in (2, 3, 4)]
    return rgba, np.array(lines, dtype=np.float64)


def pil_transparent_pictures() -> dict:
    """The line art of :func:`line_art` in each of PIL's ways of being transparent."""
    rgba, _ = line_art()
    opaque = rgba[:, :, 3] == 255
    grey = np.where(opaque, 0, 90).astype(np.uint8)  # background grey 90: dark if not transparent
    la = Image.fromarray(np.stack([np.zeros_like(grey), rgba[:, :, 3]], axis=2), "LA")
    palette = Image.fromarray(opaque.astype(np.uint8), "P")  # index 1 = line, 0 = background
    palette.putpalette([30, 60, 90, 0, 0, 0])  # background dark blue, line black
    palette.info["transparency"] = 0
    keyed_grey = Image.fromarray(grey, "L")
    keyed_grey.info["transparency"] = 90
    keyed_rgb = Image.fromarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2), "RGB")
    keyed_rgb.info["transparency"] = (90, 90, 90)
    return {
        "RGBA": Image.fromarray(rgba, "RGBA"),
        "LA": la,
        "P": palette,
        "L with a transparent grey": keyed_grey,
        "RGB with a transparent colour": keyed_rgb,
    }


@pytest.mark.parametrize("kind", list(pil_transparent_pictures()))
def test_transparent_pngs_are_read_over_white(tmp_path, kind):
    _, lines = line_art()
    picture = pil_transparent_pictures()[kind]
    path = tmp_path / "art.png"
    picture.save(path)  # a real PNG, written by Pillow (tRNS chunk or alpha channel)
    with Image.open(path) as reread:
        assert reread.mode == picture.mode
    np.testing.assert_array_equal(image.bw_points(path), lines)
    np.testing.assert_array_equal(image.bw_points(picture), lines)
    colours = image.color_points(path)
    background = ~np.isin(np.arange(48), lines[:, 1] * 8 + lines[:, 0])
    np.testing.assert_array_equal(colours[background, 2:], 255.0)  # white, not black
    np.testing.assert_array_equal(colours[~background, 2:], 0.0)


@pytest.mark.parametrize("kind", ["uint8", "unit-floats", "floats on 0–255"])
def test_transparent_arrays_are_composited_over_white(kind):
    rgba, lines = line_art()
    given = {
        "uint8": rgba,
        "unit-floats": rgba / 255.0,
        "floats on 0–255": rgba.astype(np.float64),
    }[kind]
    np.testing.assert_array_equal(image.bw_points(given), lines)
    grey_alpha = given[:, :, [0, 3]]  # (H, W, 2): grey and alpha
    np.testing.assert_array_equal(image.bw_points(grey_alpha), lines)
    assert image.as_array(grey_alpha).shape == (6, 8)


def test_partial_transparency_is_alpha_times_colour_plus_the_rest_white():
    # (r, g, b) = (0, 100, 255) at opacity 0.2: 0.2·c + 0.8·255 = (204, 224, 255); opaque and
    # fully transparent pixels are exact.
    rgba = np.array([[[0, 100, 255, 51], [10, 20, 30, 255], [10, 20, 30, 0]]], np.uint8)
    expected = [[[204.0, 224.0, 255.0], [10.0, 20.0, 30.0], [255.0, 255.0, 255.0]]]
    np.testing.assert_allclose(image.as_array(rgba), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(image.as_array(Image.fromarray(rgba, "RGBA")), expected, atol=1e-12)
    # Black at opacity 128/255 is grey 255 − 128 = 127: dark at the default threshold 128,
    # not at 126.
    half = np.array([[[0, 0, 0, 128], [0, 0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(image.grey(half), [[127.0, 0.0]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(image.bw_points(half), [[0, 0], [1, 0]])
    np.testing.assert_array_equal(image.bw_points(half, threshold=126), [[1, 0]])


def test_sixteen_bit_grey_with_a_transparent_level(tmp_path):
    deep = np.full((2, 3), 40000, np.uint16)
    deep[0, 1] = 0
    picture = Image.fromarray(deep)
    picture.info["transparency"] = 40000
    np.testing.assert_array_equal(image.bw_points(picture), [[1, 0]])
    np.testing.assert_array_equal(image.as_array(picture)[1], [255.0] * 3)


# --- fit: scikit-learn's own fit, with progress on stderr -----------------------------------


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 5.0], [20.0, 8.0], [12.0, 20.0]])
    return np.vstack([rng.normal(c, 1.5, size=(150, 2)) for c in centres])


def fitted_state(estimator) -> dict:
    return {k: v for k, v in vars(estimator).items() if k.endswith("_") and k != "n_features_in_"}


def assert_same_fit(ours, theirs):
    """gmmfast's estimator fitted as scikit-learn's: the same settings, attributes, iterations
    and convergence, parameters and lower bounds to rounding."""
    assert isinstance(ours, gmmfast.GaussianMixture)
    params = ours.get_params()
    assert params.pop("rtol") == 0.0
    assert params == theirs.get_params()
    assert set(vars(ours)) - {"rtol"} == set(vars(theirs))  # no hook left on the instance
    mine, reference = fitted_state(ours), fitted_state(theirs)
    assert set(mine) == set(reference)
    for key, value in reference.items():
        if key == "lower_bounds_":
            np.testing.assert_allclose(mine[key], value, rtol=1e-10, err_msg=key)
        elif isinstance(value, np.ndarray):
            scale = np.abs(value).max()
            np.testing.assert_allclose(mine[key], value, rtol=1e-8, atol=1e-12 * scale)
        elif isinstance(value, float):
            assert mine[key] == pytest.approx(value, rel=1e-10), key
        else:
            assert mine[key] == value, key


@pytest.mark.parametrize("progress", [True, False])
@pytest.mark.parametrize(
    "options",
    [
        {"covariance_type": "full"},
        {"covariance_type": "diag", "n_init": 2},
        {"covariance_type": "spherical", "tol": 1e-6, "init_params": "random"},
    ],
)
def test_fit_follows_scikit_learns_iterates(blobs, capsys, progress, options):
    ours = image.fit(blobs, 3, random_state=1, progress=progress, **options)
    theirs = GaussianMixture(
        n_components=3, random_state=1, reg_covar=image.PIXEL_VARIANCE, **options
    ).fit(blobs)
    assert_same_fit(ours, theirs)
    assert ours.converged_
    err = capsys.readouterr().err
    if progress:
        assert f"EM iteration {ours.n_iter_}/100  lower bound {ours.lower_bound_:.6f}" in err
        assert "fit: converged" in err
        assert err.count("fit: initialisation") == options.get("n_init", 1)
    else:
        assert err == ""


def test_fit_that_does_not_converge_warns_as_scikit_learn_does(blobs, capsys):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours = image.fit(blobs, 3, max_iter=2, tol=1e-12, random_state=0, progress=True)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        theirs = GaussianMixture(
            3, max_iter=2, tol=1e-12, random_state=0, reg_covar=image.PIXEL_VARIANCE
        ).fit(blobs)
    assert_same_fit(ours, theirs)
    assert (ours.n_iter_, ours.converged_) == (2, False)
    assert "fit: did not converge" in capsys.readouterr().err


def test_fit_progress_auto_is_quiet_off_a_terminal(blobs, capsys):
    image.fit(blobs, 2, random_state=0)  # progress="auto"; pytest's stderr is no terminal
    assert capsys.readouterr().err == ""


def test_fit_refuses_more_components_than_points_and_bad_progress(blobs):
    with pytest.raises(
        ValueError, match=r"n_components=5 is larger than the number of points \(4\)"
    ):
        image.fit(blobs[:4], 5)
    with pytest.raises(ValueError, match="progress must be True, False or 'auto'"):
        image.fit(blobs, 2, progress="yes")


# --- tone mappings against their definitions ------------------------------------------------


def log_of(density, offset=-7.3):
    """Log-densities with a constant offset: every mapping is relative to the maximum."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(density, dtype=float)) + offset


def test_linear_is_density_over_its_maximum_dark_is_dense():
    # grey = round(255 (1 − p/p_max)): 255·0.6 = 153, 255·0.8 = 204
    out = image.linear(log_of([[1.0, 0.4], [0.2, 0.0]]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 153], [204, 255]])


def test_log_scales_log_density_between_bounds():
    # t = (L − low)/(high − low) clipped: with low=-5, high=0: 1, 0.8, 0.6, 0 → 0, 51, 102, 255
    out = image.log(np.array([0.0, -1.0, -2.0, -9.0]), low=-5.0, high=0.0)
    np.testing.assert_array_equal(out, [0, 51, 102, 255])
    # defaults: high = max, low = max − ln 1000, so p/p_max = 10^-1 → t = 2/3 → 85
    np.testing.assert_array_equal(image.log(log_of([1.0, 0.1, 0.01, 1e-4])), [0, 85, 170, 255])
    with pytest.raises(ValueError, match="low must be below high"):
        image.log(np.zeros(3), low=1.0, high=1.0)


def test_piecewise_matches_hand_computed_values_of_the_default_curve():
    # DEFAULT_KNOTS (0,0) (0.05,0) (0.3,0.9) (1,1). At p/p_max = 0.65: ink = 0.9 + 0.1·0.35/0.7
    # = 0.95 → 12.75 → 13; at 0.2: 0.9·0.15/0.25 = 0.54 → 117.3 → 117; at 0.1: 0.9·0.05/0.25
    # = 0.18 → 209.1 → 209; at 0.02 (below 0.05): white.
    assert image.DEFAULT_KNOTS == ((0.0, 0.0), (0.05, 0.0), (0.3, 0.9), (1.0, 1.0))
    out = image.piecewise(log_of([1.0, 0.65, 0.2, 0.1, 0.02, 0.0]))
    np.testing.assert_array_equal(out, [0, 13, 117, 209, 255, 255])


def test_piecewise_with_user_knots():
    rng = np.random.default_rng(0)
    log_density = rng.normal(-10, 2, size=(7, 9))
    # The diagonal curve is the linear mapping.
    np.testing.assert_array_equal(
        image.piecewise(log_density, [(0, 0), (1, 1)]), image.linear(log_density)
    )
    # Held at the end values outside the knots: below x=0.2 the ink is 0.4 → 153.
    knots = [(0.2, 0.4), (0.6, 1.0)]
    out = image.piecewise(log_of([1.0, 0.6, 0.4, 0.1]), knots)
    np.testing.assert_array_equal(out, [0, 0, 77, 153])  # 0.4 → ink 0.7 → 76.5 → 77 (even)


@pytest.mark.parametrize(
    ("knots", "match"),
    [
        ([(0, 0)], "shape"),
        ([(0, 0, 0), (1, 1, 1)], "shape"),
        ([(0, 0), (1.5, 1)], r"in \[0, 1\]"),
        ([(0, 0), (1, -0.1)], r"in \[0, 1\]"),
        ([(0.5, 0), (0.5, 1)], "strictly increasing"),
        ("abc", "pairs of numbers"),
    ],
)
def test_bad_knots(knots, match):
    with pytest.raises(ValueError, match=match):
        image.piecewise(np.zeros(3), knots)


@pytest.mark.parametrize("mapping", [image.linear, image.log, image.piecewise])
def test_mappings_refuse_nan_and_all_minus_inf(mapping):
    with pytest.raises(ValueError, match="NaN"):
        mapping(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="at least one finite"):
        mapping(np.array([-np.inf, -np.inf]))
    np.testing.assert_array_equal(mapping(np.array([0.0, -np.inf])), [0, 255])


def test_colormap_is_matplotlibs_map_at_the_ink():
    import matplotlib

    log_density = np.random.default_rng(1).normal(-5, 1, size=(4, 6))
    out = image.colormap(log_density, "viridis")
    expected = matplotlib.colormaps["viridis"](image.relative_density(log_density))
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rint(255 * expected[..., :3]).astype(np.uint8))
    # 'gray_r' takes ink to grey as the grey mappings do, up to its 256-entry table.
    knots = ((0, 0), (0.5, 1), (1, 1))
    grey = image.colormap(log_density, "gray_r", mapping="piecewise", knots=knots)[..., 0]
    difference = grey.astype(int) - image.piecewise(log_density, knots)
    assert np.abs(difference).max() <= 1
    with pytest.raises(ValueError, match="not a matplotlib colour map"):
        image.colormap(log_density, "no-such-map")
    with pytest.raises(ValueError, match="mapping must be one of"):
        image.colormap(log_density, mapping="cubic")


def test_to_uint8_rgb_rounds_clips_and_paints_nan_as_background():
    colours = np.array([[[-5.0, 300.0, 127.4], [np.nan, 10.0, 10.0], [0.5, 1.5, 254.6]]])
    np.testing.assert_array_equal(
        image.to_uint8_rgb(colours), [[[0, 255, 127], [255, 255, 255], [0, 2, 255]]]
    )
    np.testing.assert_array_equal(image.to_uint8_rgb(colours, (1, 2, 3))[0, 1], [1, 2, 3])
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        image.to_uint8_rgb(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="background must be three ints"):
        image.to_uint8_rgb(colours, (0, 0, 256))


# --- contours ---------------------------------------------------------------------------------


def test_contour_levels():
    log_density = np.array([[0.0, -20.0]])
    np.testing.assert_allclose(
        image.contour_levels(log_density, 3), -np.log(1000.0) * np.array([3, 2, 1]) / 3
    )
    np.testing.assert_array_equal(image.contour_levels(log_density, [-3, -1]), [-3.0, -1.0])
    for bad in (0, [-1, -3], [], [np.inf]):
        with pytest.raises(ValueError, match="levels"):
            image.contour_levels(log_density, bad)


def test_contour_image_draws_the_inside_edge_of_each_level_set():
    log_density = np.zeros((5, 6))
    log_density[1:4, 1:5] = 1.0  # a 3 × 4 plateau
    log_density[2, 2] = 2.0
    out = image.contour_image(log_density, [0.5])
    expected = np.full((5, 6), 255)
    expected[1:4, 1:5] = 0
    expected[2, 2:4] = 255  # inside the plateau, all four neighbours are above the level
    np.testing.assert_array_equal(out, expected)
    # Two levels: the peak pixel is the whole of {L >= 1.5} and its own edge.
    expected[2, 2] = 0
    np.testing.assert_array_equal(image.contour_image(log_density, [0.5, 1.5]), expected)


def blob_in_the_top_left():
    """A 40 × 30 grid and a mixture with one round component centred at (x=8, y=6)."""
    model = gmmfast.Mixture([1.0], [[8.0, 6.0]], [2.25], "spherical")
    return model, gmmfast.Grid(40, 30)


def test_contour_figure_is_grid_sized_in_image_orientation(tmp_path):
    from matplotlib.figure import Figure

    model, grid = blob_in_the_top_left()
    fig = image.contour_figure(model, grid, levels=3)
    assert isinstance(fig, Figure)
    fig.savefig(tmp_path / "c.png")
    pixels = np.asarray(Image.open(tmp_path / "c.png").convert("L"))
    assert pixels.shape == (30, 40)
    rows, cols = np.nonzero(pixels < 128)
    # Row 0 at the top, x to the right: the rings are around row 6, column 8.
    assert abs(rows.mean() - 6) < 1.5 and abs(cols.mean() - 8) < 1.5
    raster = image.contour_image(gmmfast.log_density_grid(model, grid), levels=3)
    rows, cols = np.nonzero(raster == 0)
    assert abs(rows.mean() - 6) < 1.5 and abs(cols.mean() - 8) < 1.5
    np.testing.assert_array_equal(image.figure_to_rgb(fig).shape, (30, 40, 3))
    with pytest.raises(ValueError, match="at least 2 × 2"):
        image.contour_figure(model, gmmfast.Grid(1, 5))


def test_without_matplotlib_figures_say_how_to_get_it(no_matplotlib):
    model, grid = blob_in_the_top_left()
    with pytest.raises(ImportError, match=r"gmmfast\[plot\]"):
        image.contour_figure(model, grid)
    with pytest.raises(ImportError, match=r"gmmfast\[plot\]"):
        image.colormap(np.zeros(3))
    image.contour_image(gmmfast.log_density_grid(model, grid))  # needs no matplotlib


def test_contact_sheet_places_labelled_tiles():
    grey = np.zeros((10, 20), np.uint8)
    rgb = np.full((20, 20, 3), (255, 0, 0), np.uint8)
    sheet = image.contact_sheet([grey, rgb, grey], ["a", "b", "c"], columns=2, tile_width=40)
    # Two columns of 40 px with 8 px margins; the tallest tile (40 px) sets the row height.
    assert sheet.shape == (8 + 2 * (40 + 18 + 8), 8 + 2 * (40 + 8), 3)
    np.testing.assert_array_equal(sheet[8 + 20, 8 + 48 + 20], [255, 0, 0])  # the red tile
    np.testing.assert_array_equal(sheet[8 + 10, 8 + 20], [0, 0, 0])  # the first black tile
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        image.contact_sheet([grey, rgb, grey], ["a", "b"])


def test_fit_progress_on_a_terminal_rewrites_one_line(blobs, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fitted = image.fit(blobs, 3, random_state=0)  # progress="auto" on a terminal: shown
    lines = terminal.getvalue().split("\n")
    # The initialisation, then one line rewritten (\r) by every iteration, then the verdict.
    assert len(lines) == 4 and lines[3] == ""
    assert lines[0] == (
        "\rfit: initialisation (kmeans) of K=3 full-covariance components on 450 points of "
        "2 features"
    )
    iterations = lines[1].split("\r")[1:]
    assert len(iterations) == fitted.n_iter_
    assert iterations[-1].startswith(f"fit: EM iteration {fitted.n_iter_}/100  lower bound")
    assert lines[2].startswith("\rfit: converged")


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5957).astype(np.uint16)  # 0..65527
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    expected = ramp / 257.0
    np.testing.assert_allclose(image.grey(tmp_path / "deep.png"), expected)
    np.testing.assert_allclose(image.grey(ramp), expected)
    # The dark half of the ramp is dark, not everything above 255 white.
    assert len(image.bw_points(tmp_path / "deep.png")) == int((expected < 128).sum()) == 6
