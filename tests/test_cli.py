"""The ``gmmfast`` command line, end to end.

Every command runs at least once in a subprocess (``python -m gmmfast``, as the console script
does) on small pictures made here; the many error cases run in-process through ``main(argv)``,
which returns the exit status, and a few of them in a subprocess too, to see that no traceback
reaches the terminal.
"""

import importlib.metadata
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import gmmfast
from gmmfast import cli, datasets, image
from gmmfast.cli.models import render_grid

WIDTH, HEIGHT = 32, 24


def run(*args, cwd):
    """``python -m gmmfast ARGS`` in ``cwd``; the completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "gmmfast", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def shapes_picture() -> np.ndarray:
    """32 × 24 RGB: a red gradient left to right and a blue one top to bottom, with a yellow
    disk and a green rectangle on top (hard edges)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.zeros((HEIGHT, WIDTH, 3))
    rgb[..., 0] = 40 + 200 * x / (WIDTH - 1)
    rgb[..., 1] = 60
    rgb[..., 2] = 200 - 150 * y / (HEIGHT - 1)
    rgb[(x - 10) ** 2 + (y - 12) ** 2 <= 36] = (250, 220, 30)
    rgb[(x >= 19) & (x <= 28) & (y >= 4) & (y <= 11)] = (20, 160, 60)
    return np.rint(rgb).astype(np.uint8)


def drawing_picture() -> np.ndarray:
    """32 × 24 black-and-white drawing: an L of lines and a filled circle, black on white."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    grey = np.full((HEIGHT, WIDTH), 255, np.uint8)
    grey[4:20, 6] = 0
    grey[4, 6:26] = 0
    grey[(x - 20) ** 2 + (y - 14) ** 2 <= 25] = 0
    return grey


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def read(path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with the two pictures and the models fitted on them by ``gmmfast fit``
    (in a subprocess: the end-to-end test of ``fit``), with the fits' outputs."""
    path = tmp_path_factory.mktemp("cli")
    Image.fromarray(shapes_picture()).save(path / "shapes.png")
    Image.fromarray(drawing_picture()).save(path / "drawing.png")
    color = run(
        "fit", "shapes.png", "--mode", "color", "-k", "30", "--progress", "-o", "shapes.npz",
        cwd=path,
    )  # fmt: skip
    bw = run("fit", "drawing.png", "--mode", "bw", "-k", "8", "-o", "drawing.npz", cwd=path)
    return path, color, bw


def call(argv, capsys) -> tuple:
    """``main(argv)`` in-process: (exit status, stdout, stderr)."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, expected_status, match):
    assert status == expected_status, err
    assert err.count("\n") == 1 and err.startswith("gmmfast: error: "), err
    assert match in err, err
    assert "Traceback" not in err


# --- fit ----------------------------------------------------------------------------------------


def test_fit_writes_models_with_what_render_needs(work):
    path, color, bw = work
    for result in (color, bw):
        assert result.returncode == 0, result.stderr
    assert color.stdout.startswith("wrote shapes.npz: K=30 full-covariance components")
    # --progress shows the EM on stderr; without it (stderr is a pipe) the fit is quiet.
    assert "fit: EM iteration 1/100" in color.stderr and "fit: converged" in color.stderr
    assert bw.stderr == ""
    model = gmmfast.load(path / "shapes.npz")
    assert (model.n_components, model.n_features) == (30, 5)
    metadata = dict(model.metadata)
    assert metadata.pop("converged") is True and metadata.pop("n_iter") >= 1
    assert metadata == {
        "mode": "color",
        "width": WIDTH,
        "height": HEIGHT,
        "source": "shapes.png",
        "n_training_points": WIDTH * HEIGHT,
    }
    drawing = gmmfast.load(path / "drawing.npz")
    assert drawing.n_features == 2 and drawing.metadata["mode"] == "bw"
    assert drawing.metadata["threshold"] == 128
    assert drawing.metadata["n_training_points"] == int((drawing_picture() < 128).sum())


def test_fit_saves_exactly_scikit_learns_fit(work):
    # The file holds the mixture image.fit makes with the same arguments, bit for bit: the
    # command line adds nothing to the fit and save -> load loses nothing.
    path, _, _ = work
    loaded = gmmfast.load(path / "shapes.npz")
    estimator = image.fit(image.color_points(shapes_picture()), 30, random_state=0)
    expected = gmmfast.Mixture.from_sklearn(estimator)
    assert loaded == expected
    np.testing.assert_array_equal(loaded.precisions_cholesky, expected.precisions_cholesky)


def test_fit_options(work, capsys):
    path, _, _ = work
    out = path / "options.npz"
    argv = ["fit", path / "drawing.png", "--mode", "bw", "-k", "3", "-o", out]
    status, stdout, _ = call(
        [*argv, "--threshold", "50", "--covariance-type", "diag", "--subsample", "40"], capsys
    )
    assert status == 0
    assert "fitted on 40 points" in stdout
    model = gmmfast.load(out)
    assert model.covariance_type == "diag" and model.metadata["threshold"] == 50
    status, _, err = call([*argv, "--max-iter", "1"], capsys)
    assert status == 0
    assert err == "gmmfast: warning: EM did not converge in 1 iterations (raise --max-iter)\n"
    assert gmmfast.load(out).metadata["converged"] is False


# --- render -------------------------------------------------------------------------------------


def test_colour_round_trip_reproduces_the_picture(work):
    # K=30 on the 768 pixels of the picture, rendered as E[r, g, b | x, y] at the source size.
    # Measured: 23.0 dB (22.7–23.0 dB over random states 0–5); the gradients come back within
    # one or two grey levels and all of the error is in the one-pixel blur of the hard edges of
    # the disk and the rectangle. A flat picture of the mean colour scores 11.8 dB.
    path, _, _ = work
    result = run("render", "shapes.npz", "--method", "mean", "-o", "mean.png", cwd=path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote mean.png: conditional mean E[r, g, b | x, y], K=30")
    mean = read(path / "mean.png")
    assert mean.shape == (HEIGHT, WIDTH, 3)  # the size of the picture it was fitted on
    assert psnr(mean, shapes_picture()) >= 21.0
    # Away from the edges the picture is reproduced closely.
    error = np.abs(mean.astype(int) - shapes_picture()).max(axis=2)
    assert np.median(error) <= 2


def test_render_from_a_loaded_model_matches_the_python_api(work, capsys):
    # What render writes is what the Python API gives on the model loaded from the file.
    path, _, _ = work
    model = gmmfast.load(path / "drawing.npz")
    log_density = gmmfast.log_density_grid(model, gmmfast.Grid(WIDTH, HEIGHT))
    knots = ((0.0, 0.0), (0.1, 0.0), (0.3, 1.0), (1.0, 1.0))
    cases = {
        "linear": ([], image.linear(log_density)),
        "log": (["--mapping", "log"], image.log(log_density)),
        "piecewise": (["--mapping", "piecewise"], image.piecewise(log_density)),
        "knots": (
            ["--mapping", "piecewise", "--knots", "0,0 0.1,0 0.3,1 1,1"],
            image.piecewise(log_density, knots),
        ),
    }
    for name, (options, expected) in cases.items():
        out = path / f"density_{name}.png"
        status, _, err = call(["render", path / "drawing.npz", *options, "-o", out], capsys)
        assert status == 0, err
        np.testing.assert_array_equal(read(out), expected, err_msg=name)
        assert expected.std() > 20  # not flat


def test_render_density_in_a_subprocess(work):
    path, _, _ = work
    result = run("render", "drawing.npz", "-o", "density.png", cwd=path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote density.png: density, linear mapping, K=8, 32x24")
    density = read(path / "density.png")
    assert density.shape == (HEIGHT, WIDTH) and density.dtype == np.uint8
    # Dense where the drawing is dark: darker on its lines than off them.
    lines = drawing_picture() < 128
    assert density[lines].mean() < density[~lines].mean() - 50


@pytest.mark.parametrize(
    ("model", "options", "shape"),
    [
        ("drawing.npz", ["--method", "contour", "--contour-style", "raster"], (24, 32)),
        ("drawing.npz", ["--method", "contour", "--contour-style", "matplotlib"], (24, 32, 3)),
        ("drawing.npz", ["--method", "contour", "--levels", "2", "--size", "37x23"], (23, 37, 3)),
        ("drawing.npz", ["--method", "samples", "--samples", "5000"], (24, 32)),
        ("drawing.npz", ["--method", "labels"], (24, 32, 3)),
        ("shapes.npz", ["--method", "samples", "--random-state", "3"], (24, 32, 3)),
        ("shapes.npz", ["--method", "labels"], (24, 32, 3)),
        ("shapes.npz", ["--method", "density", "--colormap", "viridis"], (24, 32, 3)),
        ("shapes.npz", ["--method", "mean", "--size", "64x48"], (48, 64, 3)),
        ("shapes.npz", ["--method", "mean", "--rtol", "1e-6"], (24, 32, 3)),
    ],
)
def test_render_methods_write_pictures_of_the_right_size(work, capsys, model, options, shape):
    path, _, _ = work
    out = path / "out.png"
    status, stdout, err = call(["render", path / model, *options, "-o", out], capsys)
    assert status == 0, err
    assert stdout.startswith(f"wrote {out}: ")
    pixels = read(out)
    assert pixels.shape == shape
    assert pixels.std() > 10  # not flat


def test_render_samples_and_mean_agree_with_the_python_api(work, capsys):
    path, _, _ = work
    model = gmmfast.load(path / "shapes.npz")
    grid = gmmfast.Grid(WIDTH, HEIGHT)
    out = path / "samples.png"
    status, _, _ = call(["render", path / "shapes.npz", "--method", "samples", "-o", out], capsys)
    assert status == 0
    colours, _ = gmmfast.sample_image(model, 10**6, grid, color_dims=(2, 3, 4), random_state=0)
    np.testing.assert_array_equal(read(out), image.to_uint8_rgb(colours))
    # Scaled up: the grid covers the same picture, so the mean image still looks like it.
    out = path / "mean_large.png"
    status, _, _ = call(
        ["render", path / "shapes.npz", "--method", "mean", "--size", "64x48", "-o", out], capsys
    )
    assert status == 0
    small = np.asarray(Image.fromarray(read(out)).resize((WIDTH, HEIGHT), Image.BOX))
    assert psnr(small, shapes_picture()) >= 21.0


def test_render_grid_at_the_source_size_is_the_source_grid():
    size = {"width": 640, "height": 427}
    model = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical", metadata=size)
    assert render_grid(model, None, "m.npz") == gmmfast.Grid(640, 427)
    grid = render_grid(model, (1280, 854), "m.npz")
    assert grid.x_range == (-0.25, 639.25) and grid.y_range == (-0.25, 426.25)


# --- info ---------------------------------------------------------------------------------------


def test_info_describes_the_file(work):
    path, _, _ = work
    result = run("info", "shapes.npz", cwd=path)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    lines = {key: value.strip() for key, value in lines.items()}
    assert lines["format"] == "gmmfast-mixture, version 1"
    assert lines["mixture"] == "K=30 components of 5 features, 'full' covariances"
    assert lines["mode"] == "colour: (x, y, r, g, b) of every pixel"
    assert lines["source image"] == "shapes.png, 32x24 pixels"
    assert lines["metadata n_training_points"] == "768"
    assert set(lines) >= {f"means of {name}" for name in "xyrgb"}


def test_info_on_a_model_saved_from_python(tmp_path, capsys):
    model = gmmfast.Mixture([0.5, 0.5], [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [1.0, 2.0], "spherical")
    gmmfast.save(model, tmp_path / "m.npz")
    status, out, _ = call(["info", tmp_path / "m.npz"], capsys)
    assert status == 0
    assert "unknown (no 'mode' in the metadata)" in out and "unknown, size unknown" in out
    # Without a source size, render asks for one.
    status, _, err = call(["render", tmp_path / "m.npz", "-o", tmp_path / "x.png"], capsys)
    assert_one_line_error(status, err, 1, "give --size WxH")
    status, _, _ = call(
        ["render", tmp_path / "m.npz", "--size", "8x6", "-o", tmp_path / "x.png"], capsys
    )
    assert status == 0 and read(tmp_path / "x.png").shape == (6, 8)


# --- demo ---------------------------------------------------------------------------------------

DEMO_FILES = {
    "china_edges.png": (427, 640),
    "china_density_linear.png": (427, 640),
    "china_density_piecewise.png": (427, 640),
    "china_contour.png": (427, 640, 3),
    "china_samples.png": (427, 640),
    "flower.png": (427, 640, 3),
    "flower_mean.png": (427, 640, 3),
    "flower_samples.png": (427, 640, 3),
    "flower_labels.png": (427, 640, 3),
}


def test_demo_writes_every_render_and_a_contact_sheet(tmp_path):
    result = run("demo", cwd=tmp_path)  # default --out: ./gmmfast-demo
    assert result.returncode == 0, result.stderr
    out = tmp_path / "gmmfast-demo"
    files = {
        **DEMO_FILES,
        "china_density_magma.png": (427, 640, 3),
        "china_diffusion.png": (427, 5 * 640 + 4 * 16, 3),  # 5 panels, 16-pixel gaps
    }
    for name, shape in files.items():
        pixels = read(out / name)
        assert pixels.shape == shape, name
        assert pixels.std() > 10, name
        # Each file is listed after its render time: "  12 ms  gmmfast-demo/NAME  what".
        listed = [line.split()[:3] for line in result.stdout.splitlines()]
        assert any(words[1:] == ["ms", f"gmmfast-demo/{name}"] for words in listed), name
    assert "log-density contours (matplotlib)" in result.stdout
    # The conditional-mean picture resembles the flower it was fitted on.
    assert psnr(read(out / "flower_mean.png"), datasets.flower()) > 20
    sheet = read(out / "contact_sheet.png")
    assert sheet.shape[0] > 400 and sheet.shape[1] > 1500 and sheet.shape[2] == 3
    assert sorted(p.name for p in out.iterdir()) == sorted([*files, "contact_sheet.png"])


def test_demo_without_matplotlib_and_with_refit(tmp_path, capsys, monkeypatch, no_matplotlib):
    # The core install (no matplotlib) still writes a contour plot and a colour-free density;
    # --refit fits the models anew, with progress (tiny K here, to keep the test fast).
    for name, k, subsample in (("china-bw", 3, None), ("flower-color", 4, 2000)):
        spec = {**datasets.DEMO_MODELS[name], "n_components": k, "subsample": subsample}
        monkeypatch.setitem(datasets.DEMO_MODELS, name, spec)
    status, out, err = call(["demo", "--out", tmp_path / "demo", "--refit"], capsys)
    assert status == 0, err
    assert "refitting china-bw: K=3 on china.jpg" in out
    assert "china-bw: K=3 full covariances" in out and "flower-color: K=4 full" in out
    assert "log-density contours (raster: matplotlib is not installed)" in out
    assert "fit: EM iteration 1/100" in err and err.count("fit: converged") == 2
    files = {**DEMO_FILES, "china_contour.png": (427, 640), "china_density_log.png": (427, 640)}
    for name, shape in files.items():
        assert read(tmp_path / "demo" / name).shape == shape, name
    assert not (tmp_path / "demo" / "china_density_magma.png").exists()
    contour = read(tmp_path / "demo" / "china_contour.png")
    assert set(np.unique(contour)) == {0, 255}


# --- errors: one line on stderr, no traceback -------------------------------------------------


@pytest.fixture
def bad_files(work, tmp_path):
    """Files that are not model files, and a bw model."""
    path, _, _ = work
    good = (path / "shapes.npz").read_bytes()
    files = {
        "text": tmp_path / "text.npz",
        "truncated": tmp_path / "cut.npz",
        "pickle": tmp_path / "model.pkl",
        "object": tmp_path / "object.npz",
        "unreadable": tmp_path / "bad.png",
    }
    files["text"].write_text("hello")
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["pickle"].write_bytes(pickle.dumps({"weights": np.ones(3)}))
    with np.load(path / "shapes.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["metadata"] = np.array([{"mode": "color"}], dtype=object)  # needs pickle to load
    np.savez(files["object"], **arrays)
    files["unreadable"].write_text("not a png")
    return files


@pytest.mark.parametrize("command", ["render", "info"])
@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("text", "is not a valid gmmfast model file: it is not a NumPy .npz archive"),
        ("truncated", "is not a valid gmmfast model file: it is a truncated or damaged archive"),
        ("pickle", "is not a valid gmmfast model file: it is a Python pickle"),
        ("object", "is not a valid gmmfast model file: Object arrays cannot be loaded"),
    ],
)
def test_foreign_truncated_and_pickled_model_files_are_refused(
    bad_files, capsys, tmp_path, command, kind, match
):
    output = ["-o", tmp_path / "x.png"] if command == "render" else []
    status, out, err = call([command, bad_files[kind], *output], capsys)
    assert_one_line_error(status, err, 1, match)
    assert out == "" and not (tmp_path / "x.png").exists()


def test_errors(work, bad_files, capsys, tmp_path):
    path, _, _ = work
    shapes, drawing = path / "shapes.png", path / "drawing.png"
    model, bw_model = path / "shapes.npz", path / "drawing.npz"
    out, m = tmp_path / "out.png", tmp_path / "m.npz"
    cases = [
        # missing files
        (["fit", tmp_path / "no.png", "--mode", "bw", "-k", "2", "-o", m], 1, "no such file"),
        (["render", tmp_path / "no.npz", "-o", out], 1, "no such file"),
        (["info", tmp_path / "no.npz"], 1, "no such file"),
        # an image where a model is expected, and the reverse
        (["render", shapes, "-o", out], 1, "is an image, not a gmmfast model file"),
        (["info", drawing], 1, "is an image, not a gmmfast model file"),
        (["fit", model, "--mode", "color", "-k", "2", "-o", m], 1,
         "is a gmmfast model file, not an image"),
        # an unreadable image
        (["fit", bad_files["unreadable"], "--mode", "bw", "-k", "2", "-o", m],
         1, "cannot read"),
        # K larger than the number of points
        (["fit", drawing, "--mode", "bw", "-k", "1000", "-o", m], 1,
         "-k 1000 is larger than the number of training points: "),
        (["fit", shapes, "--mode", "color", "-k", "50", "--subsample", "20", "-o",
          m], 1, "has 20 pixels after --subsample"),
        (["fit", shapes, "--mode", "bw", "--threshold", "0.5", "-k", "2", "-o",
          m], 1, "no pixel of the image is darker than threshold=0.5"),
        # bad sizes (usage errors)
        (["render", model, "--size", "0x5", "-o", out], 2, "argument --size: width and height"),
        (["render", model, "--size", "640", "-o", out], 2, "expected WIDTHxHEIGHT"),
        (["render", model, "--size=-3x5", "-o", out], 2, "expected WIDTHxHEIGHT"),
        (["render", model, "--size", "x5", "-o", out], 2, "expected WIDTHxHEIGHT"),
        (["render", model, "--size", "100000x10", "-o", out], 2, "is too large"),
        (["render", model, "--size", "10000x10000", "-o", out], 2, "is too large"),
        # methods and options that do not fit
        (["render", bw_model, "--method", "mean", "-o", out], 1,
         "--method mean needs a colour model (x, y, r, g, b)"),
        (["render", model, "--method", "mean", "--mapping", "log", "-o", out], 2,
         "--mapping applies to --method density only"),
        (["render", model, "--knots", "0,0 1,1", "-o", out], 2,
         "--knots applies to --mapping piecewise only"),
        (["render", model, "--mapping", "piecewise", "--knots", "0,0 1", "-o", out], 2,
         "argument --knots: expected pairs x,y"),
        (["render", model, "--colormap", "nope", "-o", out], 1, "not a matplotlib colour map"),
        (["render", model, "--rtol", "1", "-o", out], 2, "argument --rtol"),
        (["render", model, "--method", "banana", "-o", out], 2, "invalid choice: 'banana'"),
        (["fit", shapes, "--mode", "color", "--threshold", "9", "-k", "2", "-o", m], 2,
         "--threshold applies to --mode bw only"),
        (["fit", shapes, "--mode", "grey", "-k", "2", "-o", m], 2, "invalid choice"),
        (["fit", shapes, "--mode", "bw", "-k", "0", "-o", m], 2,
         "argument -k: expected a positive integer, got 0"),
        (["fit", shapes, "--mode", "bw", "-k", "2"], 2, "required: -o/--output"),
        # outputs that cannot be written
        (["render", model, "-o", tmp_path / "no" / "x.png"], 1, "cannot write"),
        (["render", model, "-o", tmp_path / "x.xyz"], 1, "unknown file extension"),
        (["fit", drawing, "--mode", "bw", "-k", "2", "-o", tmp_path / "no" / "m.npz"], 1,
         "cannot write"),
        (["demo", "--out", model], 1, "cannot create"),
        # no command
        ([], 2, "the following arguments are required: COMMAND"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    ]  # fmt: skip
    for argv, expected_status, match in cases:
        status, stdout, err = call(argv, capsys)
        assert_one_line_error(status, err, expected_status, match)
        assert stdout == "", argv


def test_oversized_inputs_are_refused(work, capsys, tmp_path, monkeypatch):
    path, _, _ = work
    # A model file may claim any source size: rendering it by default must not try to
    # allocate it.
    gmmfast.save(gmmfast.load(path / "shapes.npz"), tmp_path / "big.npz", width=10**6)
    status, _, err = call(["render", tmp_path / "big.npz", "-o", tmp_path / "x.png"], capsys)
    assert_one_line_error(status, err, 1, "records a source image of 1000000x24 pixels")
    # PIL's guard against decompression bombs (here: any picture over 200 pixels).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    argv = ["fit", path / "drawing.png", "--mode", "bw", "-k", "2", "-o", tmp_path / "m.npz"]
    status, _, err = call(argv, capsys)
    assert_one_line_error(status, err, 1, "decompression bomb")


def test_errors_in_a_subprocess_have_no_traceback(work, bad_files):
    path, _, _ = work
    for args, status, match in [
        (["render", "shapes.png", "-o", "x.png"], 1, "is an image, not a gmmfast model file"),
        (["info", bad_files["truncated"]], 1, "truncated or damaged"),
        (["render", "shapes.npz", "--size", "0x5", "-o", "x.png"], 2, "--size"),
        (["fit", "drawing.png", "--mode", "bw", "-k", "999", "-o", "m.npz"], 1, "-k 999"),
    ]:
        result = run(*args, cwd=path)
        assert_one_line_error(result.returncode, result.stderr, status, match)


# --- help and installation ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["demo"], ["fit"], ["render"], ["info"]])
def test_help_for_every_command(command, capsys):
    status, out, err = call([*command, "--help"], capsys)
    assert status == 0 and err == ""
    assert out.startswith(f"usage: gmmfast {' '.join(command)}".rstrip())
    assert "example" in out


def test_help_in_a_subprocess_and_the_console_script(tmp_path):
    result = run("render", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--method" in result.stdout
    (script,) = [
        entry
        for entry in importlib.metadata.entry_points(group="console_scripts")
        if entry.name == "gmmfast"
    ]
    assert script.value == "gmmfast.cli:main"


# --- render --zarr ------------------------------------------------------------------------------


def test_render_to_zarr_stores_the_numbers_block_by_block(work, tmp_path):
    zarr = pytest.importorskip("zarr")
    path, _, _ = work
    model = gmmfast.load(path / "shapes.npz")
    result = run(
        "render", path / "shapes.npz", "--method", "mean", "--size", "70x45", "--chunks", "32",
        "--zarr", tmp_path / "mean.zarr", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "blocks of 32x32" in result.stdout
    group = zarr.open_group(str(tmp_path / "mean.zarr"), mode="r")
    stored = np.asarray(group["mean"])
    grid = render_grid(model, (70, 45), "shapes.npz")
    # Bitwise the in-memory render of the same grid.
    np.testing.assert_array_equal(stored, gmmfast.conditional_mean_grid(model, grid))
    assert group["mean"].chunks[:2] == (32, 32)


@pytest.mark.parametrize(("method", "name"), [("density", "log_density"), ("labels", "labels")])
def test_render_to_zarr_density_and_labels(work, tmp_path, capsys, method, name):
    zarr = pytest.importorskip("zarr")
    path, _, _ = work
    model = gmmfast.load(path / "drawing.npz")
    store = tmp_path / f"{method}.zarr"
    status, out, err = call(
        ["render", path / "drawing.npz", "--method", method, "--rtol", "1e-9", "--zarr", store],
        capsys,
    )
    assert status == 0, err
    assert f"wrote {store}" in out
    grid = render_grid(model, None, "drawing.npz")
    expected = {
        "density": lambda: gmmfast.log_density_grid(model, grid, rtol=1e-9),
        "labels": lambda: gmmfast.label_grid(model, grid, rtol=1e-9),
    }[method]()
    np.testing.assert_array_equal(np.asarray(zarr.open_group(str(store))[name]), expected)


def test_render_to_zarr_errors(work, tmp_path, capsys):
    pytest.importorskip("zarr")
    path, _, _ = work
    model, bw_model = path / "shapes.npz", path / "drawing.npz"
    store, out = tmp_path / "s.zarr", tmp_path / "x.png"
    (tmp_path / "taken.zarr").mkdir()
    cases = [
        (["render", model, "--zarr", store, "-o", out], 2, "give exactly one of -o/--output"),
        (["render", model], 2, "give exactly one of -o/--output"),
        (["render", model, "--chunks", "64", "-o", out], 2, "--chunks applies to --zarr only"),
        (["render", model, "--method", "contour", "--zarr", store], 2, "contour is a picture"),
        (["render", model, "--mapping", "log", "--zarr", store], 2, "--mapping draws a picture"),
        (["render", model, "--zarr", store, "--chunks", "0"], 2, "argument --chunks"),
        (["render", bw_model, "--method", "mean", "--zarr", store], 1, "needs a colour model"),
        (["render", model, "--zarr", tmp_path / "taken.zarr"], 1, "exists already"),
        (["render", model, "--size", "2000000x10", "--zarr", store], 2, "is too large"),
    ]
    for argv, expected_status, match in cases:
        status, stdout, err = call(argv, capsys)
        assert_one_line_error(status, err, expected_status, match)
        assert stdout == "", argv
    assert not store.exists()
