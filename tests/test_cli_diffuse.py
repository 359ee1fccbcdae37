"""``gmmfast diffuse``: the strip of the forward process and the GIF of the reverse one, from a
model file; its errors, one line each, touching nothing."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import gmmfast
from gmmfast import cli, image
from gmmfast.cli.diffuse import panel_steps, schedule_of
from gmmfast.diffusion import cosine_schedule

WIDTH, HEIGHT = 40, 24


def call(argv, capsys) -> tuple:
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, expected_status, match):
    assert status == expected_status, err
    assert err.count("\n") == 1 and err.startswith("gmmfast: error: "), err
    assert match in err, err
    assert "Traceback" not in err


def snapshot(directory) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def work(tmp_path):
    """A directory with a black-and-white model of a 40 × 24 picture (as ``gmmfast fit``
    writes it: pixel coordinates, the picture's size in the metadata), a colour one, a
    model without a size and an old picture."""
    drawing = gmmfast.Mixture(
        [0.3, 0.3, 0.4],
        [[8.0, 6.0], [30.0, 8.0], [20.0, 18.0]],
        [[[6.0, 2.0], [2.0, 3.0]], [[2.0, 0.0], [0.0, 8.0]], [[12.0, -3.0], [-3.0, 2.0]]],
    )
    gmmfast.save(drawing, tmp_path / "drawing.npz", mode="bw", width=WIDTH, height=HEIGHT)
    colour = gmmfast.Mixture(
        [0.5, 0.5],
        [[10.0, 10.0, 200.0, 30.0, 30.0], [30.0, 12.0, 20.0, 30.0, 200.0]],
        [np.eye(5) * 20.0, np.eye(5) * 30.0],
    )
    gmmfast.save(colour, tmp_path / "photo.npz", mode="color", width=WIDTH, height=HEIGHT)
    gmmfast.save(drawing, tmp_path / "nosize.npz")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "existing.png")
    return tmp_path


def read(path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture)


def test_strip_is_the_python_apis(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    status, out, err = call(["diffuse", "drawing.npz", "--steps", "5", "-o", "strip.png"], capsys)
    assert status == 0, err
    assert out.startswith("wrote strip.png: 5 densities of the forward process, t = 0, ")
    assert "cosine schedule of 100 steps" in out
    model = gmmfast.load("drawing.npz")
    grid = gmmfast.Grid(WIDTH, HEIGHT)
    unit_model, unit_grid = image.unit_square(model, grid)
    schedule = cosine_schedule(100)
    steps = panel_steps(schedule, 5)
    assert steps[0] == 0 and steps[-1] == 100 and len(steps) == 5
    expected = image.diffusion_strip(
        unit_model, unit_grid, np.concatenate([[1.0], schedule])[steps]
    )
    np.testing.assert_array_equal(read("strip.png"), expected)
    # The first panel is the model's own picture (up to the rounding of the unit square).
    own = image.linear(gmmfast.log_density_grid(model, grid))
    assert np.abs(expected[:, :WIDTH, 0].astype(int) - own).max() <= 1


def test_panel_steps_spread_over_the_signal_to_noise_ratio():
    schedule = schedule_of("cosine", 100)
    steps = panel_steps(schedule, 8)
    assert list(steps[:2]) == [0, 1] and steps[-1] == 100
    assert len(steps) == 8 and np.all(np.diff(steps) > 0)
    # Linear in t would be 0, 14, 29, ...: most panels on noise. These crowd the start.
    assert steps[3] < 20
    assert list(panel_steps(schedule_of("linear", 3), 8)) == [0, 1, 2, 3]
    assert list(panel_steps(schedule, 2)) == [0, 100]


def test_gif_and_options(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    status, out, err = call(
        [
            "diffuse", "photo.npz", "--steps", "3", "--schedule", "linear", "--timesteps", "40",
            "--size", "20x12", "-o", "strip.png", "--gif", "reverse.gif", "--samples", "500",
            "--method", "ode", "--frames", "5", "--random-state", "3",
        ],
        capsys,
    )  # fmt: skip
    assert status == 0, err
    assert read("strip.png").shape == (12, 3 * 20 + 2 * 2, 3)
    assert "linear schedule of 40 steps" in out
    assert "wrote reverse.gif: 500 samples of the reverse process (ode" in out
    with Image.open("reverse.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (20, 12 + 4)


def test_a_short_process_has_a_frame_per_state(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    argv = ["diffuse", "drawing.npz", "--timesteps", "6", "-o", "s.png", "--gif", "r.gif"]
    status, out, err = call([*argv, "--samples", "50"], capsys)
    assert status == 0, err
    assert "7 frames" in out
    with Image.open("r.gif") as gif:
        assert gif.n_frames == 7


def test_diffuse_in_a_subprocess(work):
    result = subprocess.run(
        [sys.executable, "-m", "gmmfast", "diffuse", "drawing.npz", "-o", "s.png", "--gif",
         "r.gif", "--samples", "300", "--timesteps", "20", "--frames", "4"],
        cwd=work, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read(work / "s.png").shape == (HEIGHT, 8 * WIDTH + 7 * 2, 3)
    with Image.open(work / "r.gif") as gif:
        assert gif.n_frames == 4


CASES = [
    (["diffuse", "drawing.npz"], 2, "the following arguments are required: -o/--output"),
    (["diffuse", "drawing.npz", "--steps", "1", "-o", "x.png"], 2, "--steps must be at least 2"),
    (["diffuse", "drawing.npz", "--steps", "0", "-o", "x.png"], 2, "argument --steps"),
    (["diffuse", "drawing.npz", "--steps", "65", "-o", "x.png"], 2, "at most 64"),
    (["diffuse", "drawing.npz", "--timesteps", "0", "-o", "x.png"], 2, "argument --timesteps"),
    (["diffuse", "drawing.npz", "--schedule", "sqrt", "-o", "x.png"], 2, "invalid choice"),
    (["diffuse", "drawing.npz", "--samples", "9", "-o", "x.png"], 2,
     "--samples applies to --gif only"),
    (["diffuse", "drawing.npz", "--method", "ode", "-o", "x.png"], 2,
     "--method applies to --gif only"),
    (["diffuse", "drawing.npz", "-o", "x.png", "--gif", "r.png"], 2, "--gif writes a GIF"),
    (["diffuse", "drawing.npz", "-o", "x.png", "--gif", "r.gif", "--frames", "1"], 2,
     "--frames must be at least 2"),
    (["diffuse", "drawing.npz", "-o", "x.png", "--gif", "r.gif", "--timesteps", "5",
      "--frames", "7"], 2, "--frames 7 is more than the 6 states"),
    (["diffuse", "drawing.npz", "--steps", "64", "--size", "1000x10", "-o", "x.png"], 2,
     "too large for a picture"),
    (["diffuse", "drawing.npz", "-o", "drawing.npz"], 1, "unknown file extension '.npz'"),
    (["diffuse", "drawing.npz", "-o", "x.png", "--gif", "x.png"], 2, "--gif writes a GIF"),
    (["diffuse", "drawing.npz", "-o", "x.gif", "--gif", "./x.gif"], 2,
     "-o and --gif name the same file"),
    (["diffuse", "drawing.npz", "-o", "nodir/x.png"], 1, "cannot write nodir/x.png: no such"),
    (["diffuse", "missing.npz", "-o", "x.png"], 1, "no such file: missing.npz"),
    (["diffuse", "existing.png", "-o", "x.png"], 1, "is an image, not a gmmfast model file"),
    (["diffuse", "nosize.npz", "-o", "x.png"], 1, "does not record the size of its source"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "status", "match"), CASES)
def test_errors_are_one_line_and_touch_nothing(work, capsys, monkeypatch, argv, status, match):
    monkeypatch.chdir(work)
    before = snapshot(work)
    got, out, err = call(argv, capsys)
    assert_one_line_error(got, err, status, match)
    assert out == ""
    assert snapshot(work) == before


def test_an_existing_output_is_replaced_whole_or_not_at_all(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    (work / "old.gif").write_bytes(b"old gif")

    def full_disk(self, fp, format=None, **params):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    before = snapshot(work)
    monkeypatch.setattr(Image.Image, "save", full_disk)
    status, _, err = call(["diffuse", "drawing.npz", "-o", "existing.png"], capsys)
    assert_one_line_error(status, err, 1, "cannot write existing.png: No space left on device")
    assert snapshot(work) == before
    monkeypatch.undo()
    monkeypatch.chdir(work)
    real_save = Image.Image.save

    def gif_disk_full(self, fp, format=None, **params):
        if format == "GIF":
            return full_disk(self, fp, format, **params)
        return real_save(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", gif_disk_full)
    status, _, err = call(
        ["diffuse", "drawing.npz", "-o", "new.png", "--gif", "old.gif", "--samples", "100"],
        capsys,
    )
    assert_one_line_error(status, err, 1, "cannot write old.gif: No space left on device")
    assert (work / "old.gif").read_bytes() == b"old gif"
    assert sorted(os.listdir(work)) == sorted([*before, "new.png"])


def test_help(capsys):
    status, out, err = call(["diffuse", "--help"], capsys)
    assert status == 0 and err == ""
    assert out.startswith("usage: gmmfast diffuse") and "example" in out
    status, out, _ = call(["--help"], capsys)
    assert "gmmfast diffuse" in out
