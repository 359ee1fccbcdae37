"""The command line on the pictures users actually have (transparent PNGs) and the options of
``render`` that say what is drawn (marginals of colour models, the background of samples)."""

import numpy as np
import pytest
from PIL import Image

import gmmfast
from gmmfast import cli
from gmmfast._pictures import fill_empty, label_colours
from gmmfast.cli.models import render_grid


def call(argv, capsys) -> tuple:
    """``main(argv)`` in-process: (exit status, stdout, stderr)."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def read(path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture)


def transparent_line_art() -> tuple:
    """A 40 × 30 RGBA drawing: a black L of lines on a fully transparent background (stored
    as transparent black, as drawing programs export it); and the (x, y) of its lines."""
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[5, 5:35, 3] = 255
    rgba[5:25, 5, 3] = 255
    rows, cols = np.nonzero(rgba[:, :, 3])
    return rgba, np.column_stack([cols, rows]).astype(np.float64)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_fit_bw_on_a_transparent_png_fits_the_lines(tmp_path, capsys, mode):
    rgba, lines = transparent_line_art()
    picture = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        picture = Image.fromarray(rgba[:, :, [0, 3]], "LA")
    picture.save(tmp_path / "art.png")
    model_path = tmp_path / "art.npz"
    status, out, err = call(
        ["fit", tmp_path / "art.png", "--mode", "bw", "-k", "2", "-o", model_path], capsys
    )
    assert status == 0, err
    assert f"fitted on {len(lines)} points" in out  # the 49 line pixels, not all 1200
    model = gmmfast.load(model_path)
    assert model.metadata["n_training_points"] == len(lines) == 49
    # Every component sits on the L: within the lines' bounding box, nowhere near the middle.
    assert np.all(model.means >= 4) and np.all(model.means[:, 0] <= 35)
    assert np.all((model.means[:, 0] < 8) | (model.means[:, 1] < 8))


def test_fit_color_on_a_transparent_png_sees_a_white_background(tmp_path, capsys):
    rgba, _ = transparent_line_art()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "art.png")
    status, _, err = call(
        ["fit", tmp_path / "art.png", "--mode", "color", "-k", "2", "-o", tmp_path / "c.npz"],
        capsys,
    )
    assert status == 0, err
    means = gmmfast.load(tmp_path / "c.npz").means
    # One component for the white background (1151 pixels), one for the black lines (49).
    colours = sorted(means[:, 2:].mean(axis=1))
    assert colours[0] < 10 and colours[1] > 245


# --- render on colour models: which marginal is drawn, --dims ---------------------------------


@pytest.fixture
def colour_model(tmp_path):
    """A 16 × 12 colour model file: a reddish component on the left, a greenish one on the
    right (its (x, y) marginal is two blobs; its (r, g) marginal two others)."""
    means = [[4.0, 6.0, 200.0, 40.0, 30.0], [12.0, 6.0, 30.0, 180.0, 60.0]]
    covariances = np.array([np.diag([4.0, 4.0, 400.0, 300.0, 200.0])] * 2)
    model = gmmfast.Mixture([0.3, 0.7], means, covariances, "full")
    path = tmp_path / "colour.npz"
    gmmfast.save(model, path, mode="color", width=16, height=12)
    return path, model


@pytest.mark.parametrize("method", ["density", "contour", "labels"])
def test_render_says_it_drew_the_xy_marginal_of_a_colour_model(colour_model, capsys, method):
    path, _ = colour_model
    out = path.parent / "out.png"
    status, stdout, err = call(["render", path, "--method", method, "-o", out], capsys)
    assert status == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith(f"wrote {out}: ")
    assert lines[1] == (
        "drew the (x, y) marginal of a 5-feature model (x, y, r, g, b); --dims chooses two "
        "other features"
    )


def test_render_of_a_bw_model_says_nothing_more(tmp_path, capsys):
    model = gmmfast.Mixture([1.0], [[5.0, 4.0]], [4.0], "spherical")
    gmmfast.save(model, tmp_path / "bw.npz", mode="bw", width=10, height=8)
    status, stdout, _ = call(["render", tmp_path / "bw.npz", "-o", tmp_path / "d.png"], capsys)
    assert status == 0
    assert len(stdout.splitlines()) == 1


def test_render_dims_draws_the_chosen_marginal_over_its_range(colour_model, capsys):
    path, model = colour_model
    out = path.parent / "rg.png"
    status, stdout, err = call(["render", path, "--dims", "r,g", "-o", out], capsys)
    assert status == 0, err
    # r across and g down, each over its 256 levels: pixel (i, j) is (r=j, g=i).
    grid = gmmfast.Grid(256, 256)
    assert grid.x_range == grid.y_range == (0.0, 255.0)
    expected = gmmfast.image.linear(gmmfast.log_density_grid(model, grid, dims=(2, 3)))
    np.testing.assert_array_equal(read(out), expected)
    # Darkest where the components' colours are: (r, g) = (30, 180) (the heavier one).
    row, col = np.unravel_index(np.argmin(read(out)), (256, 256))
    assert abs(col - 30) <= 2 and abs(row - 180) <= 2
    assert stdout.splitlines()[1] == (
        "drew the (r, g) marginal of a 5-feature model (x, y, r, g, b): r across from 0 to "
        "255, g down from 0 to 255"
    )
    # Indices work as names do; --size spans the same range; labels take --dims too.
    out2 = path.parent / "rg2.png"
    status, _, _ = call(["render", path, "--dims", "2,3", "-o", out2], capsys)
    assert status == 0
    np.testing.assert_array_equal(read(out2), read(out))
    status, _, _ = call(["render", path, "--dims", "r,g", "--size", "64x32", "-o", out2], capsys)
    assert status == 0
    grid = render_grid(gmmfast.load(path), (64, 32), "m", dims=(2, 3), mode="color")
    assert grid.x_range == (-0.5 + 2, 255.5 - 2) and grid.y_range == (-0.5 + 4, 255.5 - 4)
    expected = gmmfast.image.linear(gmmfast.log_density_grid(model, grid, dims=(2, 3)))
    np.testing.assert_array_equal(read(out2), expected)
    status, _, _ = call(["render", path, "--method", "labels", "--dims", "b,x", "-o", out2], capsys)
    assert status == 0
    labels = gmmfast.label_grid(model, gmmfast.Grid(256, 16, (0, 255), (0, 15)), dims=(4, 0))
    np.testing.assert_array_equal(read(out2), label_colours(2)[labels])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (["--dims", "r,r"], "--dims needs two different features, got r,r"),
        (["--dims", "r,q"], "has no feature 'q': it has 5 features (x, y, r, g, b or 0 to 4)"),
        (["--dims", "0,5"], "has no feature '5'"),
        (["--dims", "x"], "expected two features separated by a comma"),
        (["--dims", "x,y,r"], "expected two features separated by a comma"),
        (["--dims", "r,g", "--method", "mean"], "--dims applies to --method contour or"),
        (["--dims", "r,g", "--method", "samples"], "--dims applies to --method"),
    ],
)
def test_render_dims_is_checked(colour_model, capsys, options, match):
    path, _ = colour_model
    status, _, err = call(["render", path, *options, "-o", path.parent / "x.png"], capsys)
    assert status == 2, err
    assert err.startswith("gmmfast: error: ") and match in err
    assert not (path.parent / "x.png").exists()


def test_render_dims_of_a_bw_model_has_only_x_and_y(tmp_path, capsys):
    model = gmmfast.Mixture([1.0], [[5.0, 4.0]], [4.0], "spherical")
    gmmfast.save(model, tmp_path / "bw.npz", mode="bw", width=10, height=8)
    status, _, err = call(
        ["render", tmp_path / "bw.npz", "--dims", "r,g", "-o", tmp_path / "x.png"], capsys
    )
    assert status == 2 and "has no feature 'r': it has 2 features (x, y or 0 to 1)" in err
    # y across, x down: the picture transposed.
    status, out, _ = call(
        ["render", tmp_path / "bw.npz", "--dims", "y,x", "-o", tmp_path / "t.png"], capsys
    )
    assert status == 0
    straight = gmmfast.image.linear(gmmfast.log_density_grid(model, gmmfast.Grid(10, 8)))
    np.testing.assert_array_equal(read(tmp_path / "t.png"), straight.T)
    assert "drew features (y, x): y across from 0 to 7, x down from 0 to 9" in out


def test_render_dims_to_zarr(colour_model, capsys):
    zarr = pytest.importorskip("zarr")
    path, model = colour_model
    store = path.parent / "rg.zarr"
    status, out, err = call(["render", path, "--dims", "g,b", "--zarr", store], capsys)
    assert status == 0, err
    assert "drew the (g, b) marginal" in out
    expected = gmmfast.log_density_grid(model, gmmfast.Grid(256, 256), dims=(3, 4))
    stored = np.asarray(zarr.open_group(str(store), mode="r")["log_density"])
    np.testing.assert_array_equal(stored, expected)


# --- render samples: --background ---------------------------------------------------------------


def test_fill_empty_takes_the_mean_of_the_nearest_samples():
    # One row of 5 pixels: 2 samples of colour 10 at the left, 1 of colour 40 at the right.
    colours = np.array([[[10.0], [np.nan], [np.nan], [np.nan], [40.0]]])
    counts = np.array([[2, 0, 0, 0, 1]])
    filled = fill_empty(colours, counts)
    # Pixel 1: its 3-wide window holds the two samples of 10. Pixel 2: its 3-wide window
    # holds none, the 5-wide one all three: (2·10 + 40) / 3 = 20. Pixel 3: 40.
    np.testing.assert_allclose(filled[0, :, 0], [10, 10, 20, 40, 40], rtol=1e-15)
    assert np.isnan(fill_empty(colours * np.nan, counts * 0)).all()  # nothing to fill from


def brute_fill(colours, counts):
    """fill_empty by its definition, one pixel at a time."""
    out = colours.copy()
    for i, j in zip(*np.nonzero(counts == 0)):
        r = 1
        while True:
            window = (slice(max(i - r, 0), i + r + 1), slice(max(j - r, 0), j + r + 1))
            n = counts[window].sum()
            if n:
                c = np.nan_to_num(colours[window]) * counts[window][..., None]
                out[i, j] = c.sum(axis=(0, 1)) / n
                break
            r += 1
    return out


def test_fill_empty_matches_its_definition_on_sparse_samples():
    # Sparse enough that thousands of pixels wait for windows of several sizes (the vectorised
    # path) and a few for large ones (the per-pixel path).
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.08, size=(60, 90))
    counts[:, 70:] = 0  # a wide empty band on the right
    colours = np.where(counts[..., None] > 0, rng.uniform(0, 255, size=(60, 90, 3)), np.nan)
    np.testing.assert_allclose(fill_empty(colours, counts), brute_fill(colours, counts))


def test_render_samples_background(colour_model, capsys):
    path, model = colour_model
    grid = gmmfast.Grid(16, 12)
    n = 400  # sparse: many pixels without samples
    colours, counts = gmmfast.sample_image(model, n, grid, color_dims=(2, 3, 4), random_state=0)
    assert (counts == 0).sum() > 20
    out = path.parent / "s.png"
    base = ["render", path, "--method", "samples", "--samples", n, "-o", out]
    for option, background in (("black", (0, 0, 0)), ("#102030", (16, 32, 48))):
        status, stdout, err = call([*base, "--background", option], capsys)
        assert status == 0, err
        np.testing.assert_array_equal(read(out), gmmfast.image.to_uint8_rgb(colours, background))
        np.testing.assert_array_equal(read(out)[counts == 0], [background] * (counts == 0).sum())
    status, stdout, _ = call([*base, "--background", "fill"], capsys)
    assert status == 0 and "empty pixels filled from their neighbours" in stdout
    filled = read(out)
    np.testing.assert_array_equal(filled, gmmfast.image.to_uint8_rgb(brute_fill(colours, counts)))
    np.testing.assert_array_equal(filled[counts > 0], read(out)[counts > 0])
    # The default stays white where no sample landed.
    status, _, _ = call(base, capsys)
    assert status == 0
    np.testing.assert_array_equal(read(out)[counts == 0], [[255, 255, 255]] * (counts == 0).sum())


def test_render_bw_samples_on_a_coloured_background(tmp_path, capsys):
    model = gmmfast.Mixture([1.0], [[5.0, 4.0]], [4.0], "spherical")
    gmmfast.save(model, tmp_path / "bw.npz", mode="bw", width=10, height=8)
    counts = gmmfast.sample_image(model, 50, gmmfast.Grid(10, 8), random_state=0)
    out = tmp_path / "s.png"
    base = ["render", tmp_path / "bw.npz", "--method", "samples", "--samples", "50", "-o", out]
    status, _, _ = call([*base, "--background", "red"], capsys)
    assert status == 0
    expected = np.where(counts[..., None] > 0, [0, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(read(out), expected)
    status, _, _ = call([*base, "--background", "#808080"], capsys)  # grey stays grey
    np.testing.assert_array_equal(read(out), np.where(counts > 0, 0, 128))
    status, _, err = call([*base, "--background", "fill"], capsys)
    assert status == 2 and "--background fill fills colour samples" in err


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (["--background", "blurp"], "expected a colour (white, black, #rrggbb, ...) or fill"),
        (["--background", "#12345"], "expected a colour"),
        (["--method", "density", "--background", "black"], "--background applies to --method"),
    ],
)
def test_render_background_is_checked(colour_model, capsys, options, match):
    path, _ = colour_model
    argv = ["render", path, "--method", "samples", *options, "-o", path.parent / "x.png"]
    status, _, err = call(argv, capsys)
    assert status == 2 and match in err, err
