"""The command line on the pictures users actually have (transparent PNGs) and the options of
``render`` that say what is drawn (marginals of colour models, the background of samples)."""

import numpy as np
import pytest
from PIL import Image

import gmmfast
from gmmfast import cli


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
    rgba, lines = transparent_line_art()
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
