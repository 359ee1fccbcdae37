"""What ``gmmfast demo`` draws, and the README's picture of it (docs/contact_sheet.png), which
must be what the demo writes today."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmmfast import cli, datasets

DOCS_SHEET = Path(__file__).resolve().parents[1] / "docs" / "contact_sheet.png"
# The demo's contact sheet: 2 rows of 5 tiles 320 pixels wide (427 × 640 pictures: 214 high),
# 8-pixel margins, an 18-pixel label strip under each tile; then the diffusion strip across
# the sheet's width (5 panels of 640 and gaps of 16, at half size), with its label.
COLUMNS, TILE_WIDTH, TILE_HEIGHT, MARGIN, TEXT = 5, 320, 214, 8, 18
STRIP_TOP = MARGIN + 2 * (TILE_HEIGHT + TEXT + MARGIN)
REGENERATE = "gmmfast demo --out /tmp/demo && cp /tmp/demo/contact_sheet.png docs/"


def read(path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB")).astype(np.int64)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--out", str(out)]) == 0
    return out


def test_flower_samples_look_like_the_flower(demo):
    samples = read(demo / "flower_samples.png")
    flower = datasets.flower().astype(np.int64)
    # No white speckles where no sample landed (about 6 % of the pixels): the flower.jpg has
    # no white pixel, and the samples image has none either.
    assert not (flower == 255).all(axis=2).any()
    assert not (samples == 255).all(axis=2).any()
    mse = np.mean((samples - flower) ** 2)
    assert 10 * np.log10(255.0**2 / mse) > 21  # PSNR: 23.8 dB filled, 13.8 with the white speckles


def tiles(sheet: np.ndarray) -> list:
    """The ten pictures of a contact sheet, without their labels (whose font is Pillow's)."""
    out = []
    for index in range(10):
        row, column = divmod(index, COLUMNS)
        top = MARGIN + row * (TILE_HEIGHT + TEXT + MARGIN)
        left = MARGIN + column * (TILE_WIDTH + MARGIN)
        out.append(sheet[top : top + TILE_HEIGHT, left : left + TILE_WIDTH])
    return out


def strip_row(sheet: np.ndarray) -> np.ndarray:
    """The diffusion strip of a contact sheet, without its label."""
    return sheet[STRIP_TOP : STRIP_TOP + TILE_HEIGHT, MARGIN:-MARGIN]


def test_the_diffusion_strip_dissolves_the_drawing(demo):
    strip = read(demo / "china_diffusion.png")
    width = (strip.shape[1] - 4 * 16) // 5
    panels = [strip[:, i * (width + 16) : i * (width + 16) + width] for i in range(5)]
    # The first panel is the drawing's density, the last plain noise (one smooth blob: the
    # standard normal over [-1, 1]): dark at the centre, lighter at every corner.
    # (Rendered in the unit square's coordinates: the same densities up to rounding.)
    linear = read(demo / "china_density_linear.png")
    assert np.abs(panels[0] - linear).max() <= 1
    last = panels[-1][..., 0]
    centre = last[last.shape[0] // 2, last.shape[1] // 2]
    assert all(centre < last[r, c] for r in (0, -1) for c in (0, -1))
    # Each panel is smoother than the one before: less change from pixel to pixel.
    roughness = [np.abs(np.diff(p[..., 0], axis=1)).mean() for p in panels]
    assert roughness == sorted(roughness, reverse=True)
    # In the sheet it lies under the tiles, across the sheet's width.
    sheet = read(demo / "contact_sheet.png")
    assert strip_row(sheet).shape[1] == COLUMNS * TILE_WIDTH + (COLUMNS - 1) * MARGIN


def test_the_readme_contact_sheet_is_what_the_demo_writes(demo):
    pytest.importorskip("matplotlib")  # the README's sheet has matplotlib's contours
    fresh, shipped = read(demo / "contact_sheet.png"), read(DOCS_SHEET)
    assert shipped.shape == fresh.shape, f"docs/contact_sheet.png is stale: {REGENERATE}"
    names = [
        "china_edges", "china_density_linear", "china_density_piecewise", "china_contour",
        "china_samples", "flower", "flower_mean", "flower_samples", "flower_labels",
        "china_density_magma",
    ]  # fmt: skip
    # Tolerant of antialiasing in other matplotlib and Pillow versions; a changed render (a
    # new palette, a new background of the samples) moves whole tiles by tens of levels.
    pairs = [*zip(tiles(fresh), tiles(shipped)), (strip_row(fresh), strip_row(shipped))]
    for name, (new, old) in zip([*names, "diffusion strip"], pairs):
        difference = np.abs(new - old).max(axis=2)
        assert difference.mean() <= 3 and np.mean(difference > 32) <= 0.05, (
            f"the {name} tile of docs/contact_sheet.png differs from the demo's (mean "
            f"{difference.mean():.1f} levels): regenerate it with {REGENERATE}"
        )


def test_the_comparison_notices_a_stale_sheet(demo):
    # How the README's previous sheet was stale: the labels in other colours (here: the
    # channels rotated) and white speckles where no sample landed.
    fresh = tiles(read(demo / "contact_sheet.png"))
    stale = [tile.copy() for tile in fresh]
    stale[8] = stale[8][:, :, [1, 2, 0]]
    speckles = np.random.default_rng(0).random(stale[7].shape[:2]) < 0.06
    stale[7][speckles] = 255
    for new, old in ((fresh[8], stale[8]), (fresh[7], stale[7])):
        difference = np.abs(new - old).max(axis=2)
        assert difference.mean() > 3 or np.mean(difference > 32) > 0.05
