"""Writing the user's files: atomic replacement, Zarr stores moved into place, and the
arguments of the picture writers."""

import os
import stat

import numpy as np
import pytest

import gmmfast
from gmmfast import _files
from gmmfast.image import contact_sheet, contour_figure


def test_replacing_writes_a_new_file_with_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with _files.replacing(tmp_path / "a.bin") as handle:
            handle.write(b"hello")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.bin").read_bytes() == b"hello"
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_replacing_keeps_the_old_file_on_failure(tmp_path, error):
    target = tmp_path / "a.bin"
    target.write_bytes(b"precious")

    def write():
        with _files.replacing(target) as handle:
            handle.write(b"half")
            raise error

    with pytest.raises(type(error)):
        write()
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_replacing_a_directory_fails_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError), _files.replacing(tmp_path / "d") as handle:
        handle.write(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_replacing_writes_devices_in_place(tmp_path):
    with _files.replacing(os.devnull) as handle:
        handle.write(b"nothing")
    assert not os.path.isfile(os.devnull)


def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path):
    with pytest.raises(IsADirectoryError):
        _files.open_regular(tmp_path)
    with pytest.raises(_files.NotRegularFileError, match="is a character device"):
        _files.open_regular(os.devnull)
    (tmp_path / "f").write_bytes(b"abc")
    with _files.open_regular(tmp_path / "f") as handle:
        assert handle.read() == b"abc"


def test_replacing_directory(tmp_path):
    target = tmp_path / "store"
    with _files.replacing_directory(target) as temporary:
        assert os.path.dirname(temporary) == str(tmp_path)
        (open(os.path.join(temporary, "x"), "w")).close()
    assert sorted(os.listdir(target)) == ["x"]
    with pytest.raises(FileExistsError):
        _files.replacing_directory(target).__enter__()

    def fill_and_fail():
        with _files.replacing_directory(target, overwrite=True) as temporary:
            (open(os.path.join(temporary, "y"), "w")).close()
            raise OSError("full")

    with pytest.raises(OSError, match="full"):
        fill_and_fail()
    assert sorted(os.listdir(target)) == ["x"]  # the old tree, untouched
    with _files.replacing_directory(target, overwrite=True) as temporary:
        (open(os.path.join(temporary, "y"), "w")).close()
    assert sorted(os.listdir(target)) == ["y"]
    assert sorted(os.listdir(tmp_path)) == ["store"]


# --- render_to_zarr ------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_failed_render_to_zarr_leaves_the_path_as_it_was(tmp_path, monkeypatch, overwrite):
    pytest.importorskip("zarr")
    import gmmfast.dask as gd

    model = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    grid = gmmfast.Grid(40, 30, (-3, 3), (-2, 2))
    path = tmp_path / "out.zarr"
    if overwrite:
        gd.render_to_zarr(model, path, grid, "labels", chunks=16)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    real_store = gd.da.store

    def store_half_then_fail(sources, targets, **kwargs):
        real_store(sources, targets, **kwargs)  # every block written: then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gd.da, "store", store_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        gd.render_to_zarr(model, path, grid, chunks=16, overwrite=overwrite)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    monkeypatch.setattr(gd.da, "store", real_store)
    group = gd.render_to_zarr(model, path, grid, chunks=16, overwrite=overwrite)
    np.testing.assert_array_equal(group["log_density"][...], gmmfast.log_density_grid(model, grid))
    assert os.listdir(tmp_path) == ["out.zarr"]


# --- arguments of the picture writers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"columns": 0}, ValueError, "columns must be >= 1, got 0"),
        ({"columns": 2.0}, TypeError, "columns must be an integer"),
        ({"tile_width": 0}, ValueError, "tile_width must be >= 1"),
        ({"background": 300.0}, TypeError, "background must be an integer, got 300.0"),
        ({"background": 300}, ValueError, r"background must be in \[0, 255\], got 300"),
        ({"background": -1}, ValueError, r"background must be in \[0, 255\]"),
        ({"background": True}, TypeError, "background must be an integer"),
    ],
)
def test_contact_sheet_refuses_bad_layouts(kwargs, error, match):
    # columns=0 was a ZeroDivisionError and background=300.0 a grey of 44 (300 mod 256).
    with pytest.raises(error, match=match):
        contact_sheet([np.zeros((4, 4), np.uint8)], ["a"], **kwargs)


def test_contact_sheet_background_is_the_grey_asked_for():
    sheet = contact_sheet(
        [np.zeros((4, 4), np.uint8)], ["a"], columns=1, tile_width=8, background=200
    )
    assert sheet[0, 0].tolist() == [200, 200, 200]
    assert sheet.shape == (8 + 8 + 18 + 8, 8 + 8 + 8, 3)


@pytest.mark.parametrize(
    ("dpi", "error"),
    [(0, ValueError), (-1.0, ValueError), (float("inf"), ValueError), ("100", TypeError)],
)
def test_contour_figure_refuses_a_bad_dpi(dpi, error):
    pytest.importorskip("matplotlib")
    model = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    with pytest.raises(error, match="dpi must be a positive"):
        contour_figure(model, gmmfast.Grid(8, 6, (-2, 2), (-2, 2)), dpi=dpi)
