"""Pictures of diffusion: ``gmmfast.image.diffusion_strip``, ``score_field``, ``reverse_gif`` and
``unit_square``."""

import io

import numpy as np
import pytest
from PIL import Image
from sklearn.mixture import BayesianGaussianMixture

import gmmfast
from gmmfast import image
from gmmfast._diffusion_pictures import ARROW_COLOUR, GAP_COLOUR
from gmmfast.diffusion import cosine_schedule, linear_schedule

# Three components over about [-1, 1]², the scale diffusion works at.
MODEL = gmmfast.Mixture(
    [0.2, 0.3, 0.5],
    [[-0.6, 0.0], [0.5, 0.4], [0.3, -0.5]],
    [[[0.02, 0.01], [0.01, 0.03]], [[0.01, 0.0], [0.0, 0.04]], [[0.03, -0.01], [-0.01, 0.02]]],
)
GRID = gmmfast.Grid(48, 32, (-1.2, 1.2), (-0.8, 0.8))
GAP, ARROW = GAP_COLOUR, ARROW_COLOUR


def panels(strip, width, count, gap=2):
    return [strip[:, i * (width + gap) : i * (width + gap) + width] for i in range(count)]


def test_strip_panels_are_the_noised_densities():
    alpha_bars = [1.0, 0.9, 0.5, 0.01]
    strip = image.diffusion_strip(MODEL, GRID, alpha_bars)
    assert strip.dtype == np.uint8
    assert strip.shape == (32, 4 * 48 + 3 * 2, 3)
    for panel, a in zip(panels(strip, 48, 4), alpha_bars):
        expected = image.linear(gmmfast.log_density_grid(MODEL.diffuse(a), GRID))
        for channel in range(3):
            np.testing.assert_array_equal(panel[..., channel], expected)
    for i in range(3):
        separator = strip[:, 48 + i * 50 : 50 + i * 50]
        assert (separator == GAP).all()
    # Noise spreads the density: fewer white pixels at each step.
    white = [np.mean(p[..., 0] == 255) for p in panels(strip, 48, 4)]
    assert white == sorted(white, reverse=True) and white[0] > white[-1]


def test_first_panel_at_alpha_one_is_the_models_own_picture():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(80, 2)) * 0.2, rng.normal(size=(80, 2)) * 0.2 + 0.5])
    bayesian = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    for model in (MODEL, bayesian):
        strip = image.diffusion_strip(model, GRID, [1.0, 0.3], mapping="piecewise", gap=5)
        own = image.piecewise(gmmfast.log_density_grid(model, GRID))
        np.testing.assert_array_equal(strip[:, :48, 0], own)
        assert (strip[:, 48:53] == GAP).all()


def test_strip_of_a_marginal():
    three = gmmfast.Mixture(
        [0.5, 0.5], [[0.0, 0.5, -0.5], [0.5, 0.0, 0.3]], [np.eye(3) * 0.05, np.eye(3) * 0.02]
    )
    strip = image.diffusion_strip(three, GRID, [1.0, 0.7], dims=(2, 0), mapping="log", gap=0)
    left, right = panels(strip, 48, 2, gap=0)
    np.testing.assert_array_equal(
        left[..., 1], image.log(gmmfast.log_density_grid(three, GRID, dims=(2, 0)))
    )
    noised = three.diffuse(0.7).marginal((2, 0))
    expected = image.log(gmmfast.log_density_grid(noised, GRID))
    assert np.abs(right[..., 1].astype(int) - expected).max() <= 1  # the same mixture, rounded


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha_bars": []}, ValueError, "alpha_bars"),
        ({"alpha_bars": [1.0, 0.0]}, ValueError, "alpha_bars"),
        ({"alpha_bars": [[1.0]]}, ValueError, "alpha_bars"),
        ({"alpha_bars": "x"}, ValueError, "alpha_bars"),
        ({"mapping": "magma"}, ValueError, "mapping"),
        ({"gap": -1}, ValueError, "gap"),
        ({"dims": (0, 0)}, ValueError, "dims"),
        ({"grid": "grid"}, TypeError, "Grid"),
    ],
)
def test_strip_refuses_bad_arguments(kwargs, error, match):
    arguments = {"model": MODEL, "grid": GRID, "alpha_bars": [1.0, 0.5], **kwargs}
    with pytest.raises(error, match=match):
        image.diffusion_strip(**arguments)


def test_unit_square_keeps_the_picture():
    # A model in pixel coordinates of a 64 × 40 picture.
    pixels = MODEL.affine(np.eye(2) * 30.0, [32.0, 20.0])
    grid = gmmfast.Grid(64, 40)
    unit_model, unit_grid = image.unit_square(pixels, grid)
    # The picture spans [-1, 1] along its longer side (64 pixels), its shape kept.
    assert unit_grid.shape == grid.shape
    step = 2.0 / 64
    assert unit_grid.x_range == pytest.approx((-1 + step / 2, 1 - step / 2))
    assert unit_grid.y_range == pytest.approx((-40 / 64 + step / 2, 40 / 64 - step / 2))
    before = image.linear(gmmfast.log_density_grid(pixels, grid))
    after = image.linear(gmmfast.log_density_grid(unit_model, unit_grid))
    assert np.abs(before.astype(int) - after).max() <= 1
    np.testing.assert_allclose(unit_model.means, (pixels.means - [31.5, 19.5]) / 32.0)
    with pytest.raises(ValueError, match="window"):
        image.unit_square(pixels, grid[0:5, 0:5])


def red(picture):
    return (picture == ARROW).all(axis=2)


def test_score_field_draws_arrows_towards_the_density():
    one = gmmfast.Mixture([1.0], [[1.0, 0.0]], [0.3], "spherical")
    grid = gmmfast.Grid(41, 41, (-2, 2), (-2, 2))
    # One arrow, at the centre pixel (20, 20), where the score points to +x (the mean).
    field = image.score_field(one, grid, step=41)
    background = image.linear(gmmfast.log_density_grid(one, grid))
    drawn = red(field)
    assert drawn.any()
    np.testing.assert_array_equal(field[~drawn][:, 0], background[~drawn])
    rows, columns = np.nonzero(drawn)
    assert columns.mean() > 20  # the head is on the right
    assert columns.min() >= 20 - 19 and columns.max() <= 20 + 19
    assert np.abs(rows - 20).max() <= 7  # a horizontal arrow, barbs included
    # A reversed x axis draws it pointing left (where the mean is drawn).
    flipped = gmmfast.Grid(41, 41, (2, -2), (-2, 2))
    _, columns = np.nonzero(red(image.score_field(one, flipped, step=41)))
    assert columns.mean() < 20


def test_score_field_of_noised_mixtures():
    field = image.score_field(MODEL, GRID, alpha_bar=0.3, step=8)
    assert field.shape == (32, 48, 3) and field.dtype == np.uint8
    assert red(field).mean() > 0.05
    background = image.linear(gmmfast.log_density_grid(MODEL.diffuse(0.3), GRID))
    np.testing.assert_array_equal(field[~red(field)][:, 0], background[~red(field)])
    with pytest.raises(ValueError, match="alpha_bar"):
        image.score_field(MODEL, GRID, alpha_bar=[0.5, 0.2])
    with pytest.raises(ValueError, match="step"):
        image.score_field(MODEL, GRID, step=0)


def gif_frames(source) -> list:
    with Image.open(source) as gif:
        assert gif.format == "GIF"
        out = []
        for index in range(gif.n_frames):
            gif.seek(index)
            out.append(np.asarray(gif.convert("L")))
        return out


def test_reverse_gif_frames(tmp_path):
    path = tmp_path / "reverse.gif"
    schedule = cosine_schedule(20)
    samples = image.reverse_gif(
        MODEL, GRID, path, schedule=schedule, n_samples=3000, random_state=0, frames=6
    )
    assert samples.shape == (3000, 2)
    frames = gif_frames(path)
    assert len(frames) == 6
    assert all(f.shape == (32 + 4, 48) for f in frames)
    # The progress bar fills up; the last frame shows the samples.
    bars = [np.mean(f[-2] == 0) for f in frames]
    assert bars == sorted(bars) and bars[0] == 0 and bars[-1] == 1
    last = frames[-1][:32]
    inside = (np.abs(samples[:, 0]) <= 1.2) & (np.abs(samples[:, 1]) <= 0.8)
    assert 0 < np.count_nonzero(last == 0) <= np.count_nonzero(inside)
    # The samples land where the model's density is: most dark pixels are where it is high.
    density = gmmfast.log_density_grid(MODEL, GRID)
    assert np.median(density[last == 0]) > np.median(density)


def test_reverse_gif_to_a_file_object_and_options():
    buffer = io.BytesIO()
    image.reverse_gif(
        MODEL,
        GRID,
        buffer,
        schedule=linear_schedule(10, beta_end=0.3),
        n_samples=200,
        method="ode",
        random_state=1,
        frames=11,
        duration=20,
    )
    buffer.seek(0)
    assert len(gif_frames(buffer)) == 11


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"frames": 1}, ValueError, "frames"),
        ({"frames": 12}, ValueError, "frames"),
        ({"schedule": [0.5, 0.9]}, ValueError, "schedule"),
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"method": "sde"}, ValueError, "method"),
        ({"duration": 0}, ValueError, "duration"),
        ({"path_or_file": 3}, TypeError, "path_or_file"),
    ],
)
def test_reverse_gif_refuses_bad_arguments(tmp_path, kwargs, error, match):
    arguments = {
        "model": MODEL,
        "grid": GRID,
        "path_or_file": tmp_path / "out.gif",
        "schedule": cosine_schedule(10),
        "n_samples": 10,
        "frames": 5,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        image.reverse_gif(**arguments)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_gif_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "reverse.gif"
    path.write_bytes(b"old")

    def full_disk(self, fp, format=None, **params):
        fp.write(b"GIF89a partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        image.reverse_gif(MODEL, GRID, path, schedule=cosine_schedule(5), n_samples=10, frames=2)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["reverse.gif"]
