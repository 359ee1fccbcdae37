"""Images as training points."""

import numpy as np
import pytest
from PIL import Image

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
