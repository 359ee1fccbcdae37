"""The command line on bad inputs: every subcommand, every file that can go wrong.

Each case must end with exit status 1 or 2 and exactly one line ``gmmfast: error: ...`` on
stderr (no traceback, no Python warning), and leave every file of the directory as it was:
same names, same bytes (no partial output, no temporary file left behind, no input
overwritten). Most cases run in-process through ``cli.main``; those that could block (FIFOs)
or need a fresh interpreter (resource limits, signals, Pillow's limit) run in a subprocess.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import gmmfast
from gmmfast import cli

HAVE_FIFO = hasattr(os, "mkfifo")


def snapshot(directory) -> dict:
    """{relative path: bytes} of the regular files under ``directory`` (FIFOs and
    directories by name only)."""
    files = {}
    for root, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = os.path.join(root, name)
            key = os.path.relpath(path, directory)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    files[key] = handle.read()
            else:
                files[key] = None
    return files


def assert_one_line_error(status, err, expected_status, match):
    assert status == expected_status, err
    assert err.count("\n") == 1 and err.startswith("gmmfast: error: "), err
    assert match in err, err


def deep_metadata_file(good, path, depth=100_000):
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["metadata"] = np.array('{"a": ' + "[" * depth + "]" * depth + "}")
    np.savez(path, **arrays)


def bomb_file(good, path):
    """means.npy holds 64 MiB of zeros (honestly declared) in a file of about 70 kB, while
    K=2, d=2."""
    import io
    import zipfile

    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                if key != "means":
                    np.lib.format.write_array(member, value)
                    continue
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f8", "fortran_order": False, "shape": (2, 2**22)}
                )
                member.write(b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
                for _ in range(16):
                    member.write(bytes(2**22))


@pytest.fixture
def work(tmp_path):
    """A directory of inputs good and bad, and outputs that already exist."""
    drawing = np.full((24, 32), 255, np.uint8)
    drawing[4:20, 6] = 0
    drawing[4, 6:26] = 0
    Image.fromarray(drawing).save(tmp_path / "drawing.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png")
    Image.fromarray(np.full((24, 32), 128, np.uint8)).save(tmp_path / "existing.png")
    size = {"width": 32, "height": 24}
    good = gmmfast.Mixture(
        [0.5, 0.5], [[6.0, 12.0], [16.0, 4.0]], [[4.0, 30.0], [40.0, 2.0]], "diag"
    )
    gmmfast.save(good, tmp_path / "good.npz", mode="bw", **size)
    gmmfast.save(good, tmp_path / "keep.npz", mode="bw", **size)
    # Zero density (log-density -inf) on the whole grid: a very narrow component far away.
    far = gmmfast.Mixture([1.0], [[1e200, 1e200]], [1e-300], "spherical")
    gmmfast.save(far, tmp_path / "far.npz", mode="bw", **size)
    colour = gmmfast.Mixture([1.0], [[1.0, 2.0, 3.0, 4.0, 5.0]], [2.0], "spherical")
    gmmfast.save(colour, tmp_path / "three.npz", mode="bw", **size)  # mode and d disagree
    deep_metadata_file(tmp_path / "good.npz", tmp_path / "deep.npz")
    bomb_file(tmp_path / "good.npz", tmp_path / "bomb.npz")
    good_bytes = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(good_bytes[: len(good_bytes) // 2])
    (tmp_path / "text.npz").write_text("hello")
    (tmp_path / "adir").mkdir()
    (tmp_path / "taken.zarr").mkdir()
    (tmp_path / "drawing-link.png").symlink_to("drawing.png")
    os.link(tmp_path / "good.npz", tmp_path / "good-hardlink.npz")
    if HAVE_FIFO:
        os.mkfifo(tmp_path / "pipe.npz")
        os.mkfifo(tmp_path / "pipe.png")
    return tmp_path


def call(argv, capsys) -> tuple:
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run(argv, cwd, prelude="", timeout=120):
    """``gmmfast ARGV`` in a fresh interpreter (after the Python statements ``prelude``)."""
    script = f"import sys\n{prelude}\nfrom gmmfast.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


FIT = ["--mode", "bw", "-k", "2"]
CASES = [
    # fit: pictures that cannot be fitted, inputs that are not pictures, outputs that are inputs
    (["fit", "one.png", *FIT[:-1], "1", "-o", "new.npz"], 1,
     "one.png has only 1 dark pixel: a mixture is fitted on at least 2 training points"),
    (["fit", "drawing.png", *FIT, "--subsample", "1", "-o", "new.npz"], 1,
     "has only 1 dark pixel after --subsample"),
    (["fit", "drawing.png", *FIT, "-o", "drawing.png"], 1,
     "the output drawing.png is the input drawing.png: gmmfast never overwrites its input"),
    (["fit", "drawing.png", *FIT, "-o", "drawing-link.png"], 1, "is the input drawing.png"),
    (["fit", "drawing.png", *FIT, "-o", "adir"], 1, "cannot write adir: it is a directory"),
    (["fit", "drawing.png", *FIT, "-o", "nodir/m.npz"], 1, "cannot write nodir/m.npz: no such"),
    (["fit", "missing.png", *FIT, "-o", "new.npz"], 1, "no such file: missing.png"),
    (["fit", "adir", *FIT, "-o", "new.npz"], 1, "cannot read adir: Is a directory"),
    (["fit", "text.npz", *FIT, "-o", "new.npz"], 1, "cannot read 'text.npz' as an image"),
    (["fit", "good.npz", *FIT, "-o", "new.npz"], 1, "good.npz is a gmmfast model file"),
    (["fit", "drawing.png", *FIT, "-k", "0", "-o", "new.npz"], 2, "argument -k"),
    # render: models that cannot be drawn, or are not models
    (["render", "far.npz", "-o", "existing.png"], 1,
     "the density of far.npz is zero (log-density -inf) at every pixel"),
    (["render", "far.npz", "--method", "contour", "-o", "existing.png"], 1, "-inf"),
    (["render", "far.npz", "--method", "contour", "--contour-style", "raster", "-o",
      "existing.png"], 1, "-inf"),
    (["render", "good.npz", "--method", "samples", "--samples", "18446744073709551616",
      "-o", "x.png"], 2, "argument --samples: expected a positive integer at most"),
    (["render", "good.npz", "--method", "contour", "--levels", "10" * 10, "-o", "x.png"], 2,
     "argument --levels"),
    (["render", "good.npz", "-o", "good.npz"], 1, "unknown file extension '.npz'"),
    (["render", "good.npz", "-o", "x.xyz"], 1, "unknown file extension '.xyz'"),
    (["render", "good.npz", "-o", "adir"], 1, "unknown file extension ''"),
    (["render", "good.npz", "-o", "nodir/x.png"], 1, "cannot write nodir/x.png: no such"),
    (["render", "deep.npz", "-o", "x.png"], 1, "metadata is nested 100001 levels deep"),
    (["render", "bomb.npz", "-o", "x.png"], 1, "must have shape (2, 4194304), got (2, 2)"),
    (["render", "cut.npz", "-o", "x.png"], 1, "truncated or damaged archive"),
    (["render", "text.npz", "-o", "x.png"], 1, "not a NumPy .npz archive"),
    (["render", "three.npz", "-o", "x.png"], 1, "says mode 'bw' (2 features)"),
    (["render", "drawing.png", "-o", "x.png"], 1, "is an image, not a gmmfast model file"),
    (["render", "adir", "-o", "x.png"], 1, "cannot read adir: Is a directory"),
    (["render", "missing.npz", "-o", "x.png"], 1, "no such file: missing.npz"),
    (["render", "good.npz", "--zarr", "taken.zarr"], 1, "taken.zarr exists already"),
    (["render", "good.npz", "--zarr", "good.npz"], 1, "good.npz exists already"),
    (["render", "good.npz", "--zarr", "nodir/z.zarr"], 1, "cannot write nodir/z.zarr: no such"),
    # info
    (["info", "deep.npz"], 1, "metadata is nested 100001 levels deep"),
    (["info", "bomb.npz"], 1, "must have shape (2, 4194304), got (2, 2)"),
    (["info", "adir"], 1, "cannot read adir: Is a directory"),
    (["info", "cut.npz"], 1, "truncated or damaged archive"),
    (["info", "drawing.png"], 1, "is an image, not a gmmfast model file"),
    (["info", "missing.npz"], 1, "no such file"),
    # demo
    (["demo", "--out", "good.npz"], 1, "cannot create good.npz"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "status", "match"), CASES)
def test_bad_inputs_give_one_line_and_touch_nothing(work, capsys, monkeypatch, argv, status, match):
    monkeypatch.chdir(work)
    before = snapshot(work)
    got, out, err = call(argv, capsys)
    assert_one_line_error(got, err, status, match)
    assert out == ""
    assert snapshot(work) == before


def test_an_output_that_is_a_hard_link_to_the_input_is_refused(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    os.link("drawing.png", "drawing-hardlink.npz")
    before = snapshot(work)
    status, _, err = call(["fit", "drawing.png", *FIT, "-o", "drawing-hardlink.npz"], capsys)
    assert_one_line_error(status, err, 1, "is the input drawing.png")
    assert snapshot(work) == before
    # A render to a picture that is a hard link of the model's file: refused too.
    os.link("good.npz", "good-hardlink.png")
    before = snapshot(work)
    status, _, err = call(["render", "good.npz", "-o", "good-hardlink.png"], capsys)
    assert_one_line_error(status, err, 1, "the output good-hardlink.png is the input good.npz")
    assert snapshot(work) == before


@pytest.mark.skipif(not HAVE_FIFO, reason="no FIFOs here")
@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["info", "pipe.npz"], "cannot read pipe.npz: 'pipe.npz' is a FIFO (named pipe)"),
        (["render", "pipe.npz", "-o", "x.png"], "is a FIFO (named pipe), not a regular file"),
        (["fit", "pipe.png", *FIT, "-o", "new.npz"], "cannot read pipe.png: 'pipe.png' is a FIFO"),
    ],
)
def test_a_fifo_is_refused_not_waited_on(work, argv, match):
    # Before, each of these blocked forever, waiting for a writer.
    before = snapshot(work)
    result = run(argv, cwd=work, timeout=60)
    assert_one_line_error(result.returncode, result.stderr, 1, match)
    assert snapshot(work) == before


def test_permission_errors_are_reported_as_such(work, capsys, monkeypatch):
    # Root reads any file, so the system's refusal is simulated where gmmfast opens inputs.
    monkeypatch.chdir(work)
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if os.fspath(path).endswith("secret.npz") or os.fspath(path).endswith("secret.png"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    (work / "secret.npz").write_bytes((work / "good.npz").read_bytes())
    (work / "secret.png").write_bytes((work / "drawing.png").read_bytes())
    monkeypatch.setattr(os, "open", guarded)
    before = snapshot(work)
    for argv in (
        ["info", "secret.npz"],
        ["render", "secret.npz", "-o", "x.png"],
        ["fit", "secret.png", *FIT, "-o", "new.npz"],
    ):
        status, _, err = call(argv, capsys)
        assert_one_line_error(status, err, 1, f"cannot read {argv[1]}: Permission denied")
    assert snapshot(work) == before


def test_info_escapes_control_characters_from_the_file(work, capsys, monkeypatch):
    # Terminal escapes in the metadata set the title, clear the screen and forge lines;
    # printed, they must come out as visible escapes.
    monkeypatch.chdir(work)
    evil = {
        "source": "x.png\x1b]0;owned\x07\x1b[2J\r\nforged line: ok",
        "note\x1b[31m": "red\u202eevil",
    }
    model = gmmfast.load("good.npz")
    gmmfast.save(model, "evil.npz", **evil)
    status, out, err = call(["info", "evil.npz"], capsys)
    assert status == 0, err
    assert all(c == "\n" or c.isprintable() for c in out), repr(out)
    assert "source image:" in out
    assert "x.png\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x0aforged line: ok, 32x24 pixels" in out
    assert "metadata note\\x1b[31m:" in out
    assert not any(line.startswith("forged") for line in out.splitlines())
    # Error messages that quote the file are escaped too.
    gmmfast.save(model, "mode.npz", mode="\x1b[2Jbw")
    status, _, err = call(["render", "mode.npz", "-o", "x.png"], capsys)
    assert_one_line_error(status, err, 1, "has an unknown mode")
    assert "\x1b" not in err


def test_a_failed_write_keeps_the_file_it_would_replace(work, capsys, monkeypatch):
    # A full disk half way through writing: the old model and picture stay as they were, and
    # a new output is not left half written.
    monkeypatch.chdir(work)

    def full_disk_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    def full_disk_save(self, fp, format=None, **params):
        fp.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full_disk_savez)
    monkeypatch.setattr(Image.Image, "save", full_disk_save)
    before = snapshot(work)
    for argv in (
        ["fit", "drawing.png", *FIT, "-o", "keep.npz"],
        ["fit", "drawing.png", *FIT, "-o", "new.npz"],
        ["render", "good.npz", "-o", "existing.png"],
        ["render", "good.npz", "-o", "new.png"],
        ["render", "good.npz", "--method", "labels", "-o", "existing.png"],
    ):
        status, _, err = call(argv, capsys)
        assert_one_line_error(status, err, 1, f"cannot write {argv[-1]}: No space left on device")
        assert snapshot(work) == before, argv


def test_demo_writes_atomically(tmp_path, capsys, monkeypatch):
    # The demo's pictures and contact sheet go through the same writer: a failure leaves the
    # previous run's files as they were.
    out = tmp_path / "demo"
    out.mkdir()
    (out / "china_edges.png").write_bytes(b"an earlier run")
    written = []

    def failing_save(self, fp, format=None, **params):
        written.append(format)
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    status, _, err = call(["demo", "--out", out], capsys)
    assert_one_line_error(status, err, 1, "No space left on device")
    assert written == ["PNG"]
    assert sorted(p.name for p in out.iterdir()) == ["china_edges.png"]
    assert (out / "china_edges.png").read_bytes() == b"an earlier run"


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="file-size limits are POSIX")
def test_fit_over_the_file_size_limit_keeps_the_old_model(work):
    # The real failure: a file-size limit smaller than the model (EFBIG once SIGXFSZ is
    # ignored). Before, keep.npz was truncated at the limit.
    prelude = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))\n"
    )
    before = snapshot(work)
    for output in ("keep.npz", "new.npz"):
        result = run(["fit", "drawing.png", "--mode", "bw", "-k", "8", "-o", output], work, prelude)
        assert_one_line_error(result.returncode, result.stderr, 1, f"cannot write {output}: ")
        assert "File too large" in result.stderr
        assert snapshot(work) == before
    result = run(["render", "good.npz", "--size", "300x300", "-o", "existing.png"], work, prelude)
    assert_one_line_error(result.returncode, result.stderr, 1, "cannot write existing.png: File")
    assert snapshot(work) == before


def test_out_of_memory_is_one_line(work, capsys, monkeypatch):
    # A 144-megapixel colour picture under a memory limit ended in a MemoryError traceback.
    from gmmfast import image

    monkeypatch.chdir(work)

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 5.36 GiB for an array with shape (144000000, 5)")

    monkeypatch.setattr(image, "color_points", no_memory)
    before = snapshot(work)
    status, _, err = call(
        ["fit", "drawing.png", "--mode", "color", "-k", "2", "-o", "m.npz"], capsys
    )
    assert_one_line_error(status, err, 1, "not enough memory: Unable to allocate 5.36 GiB")
    assert snapshot(work) == before


def test_a_picture_over_pillows_limit_is_refused_in_one_line(work):
    # Between Pillow's limit and twice that, Pillow only warns (two lines of
    # DecompressionBombWarning) and goes on; beyond, it raises. Both are one error line.
    before = snapshot(work)
    for limit in (500, 300):  # the drawing has 768 pixels: a warning, then an error
        prelude = f"from PIL import Image\nImage.MAX_IMAGE_PIXELS = {limit}\n"
        result = run(["fit", "drawing.png", *FIT, "-o", "new.npz"], work, prelude)
        assert_one_line_error(result.returncode, result.stderr, 1, "cannot read drawing.png: ")
        assert "decompression bomb" in result.stderr
        assert f"at most {limit:,} pixels" in result.stderr
    assert snapshot(work) == before


def test_errors_in_a_real_process_have_no_traceback(work):
    before = snapshot(work)
    for argv, status, match in [
        (["fit", "one.png", "--mode", "bw", "-k", "1", "-o", "m.npz"], 1, "has only 1 dark"),
        (["render", "far.npz", "-o", "existing.png"], 1, "-inf"),
        (["render", "good.npz", "--method", "samples", "--samples", str(2**64), "-o", "x.png"],
         2, "--samples"),
        (["info", "deep.npz"], 1, "nested"),
        (["render", "deep.npz", "-o", "x.png"], 1, "nested"),
    ]:  # fmt: skip
        result = run(argv, work)
        assert_one_line_error(result.returncode, result.stderr, status, match)
    assert snapshot(work) == before


# --- render --zarr --------------------------------------------------------------------------------


def test_an_interrupted_zarr_render_leaves_nothing(work):
    pytest.importorskip("zarr")
    # A render that would take hours, interrupted once its first blocks are written. Before,
    # the partial store stayed (363 MB in the report) and the re-run refused the path.
    before = snapshot(work)
    process = subprocess.Popen(
        [sys.executable, "-m", "gmmfast", "render", "good.npz", "--size", "200000x200000",
         "--chunks", "512", "--zarr", "big.zarr"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # SIGINT as at a terminal, even where this test runs as a background job (which
        # ignores it, and the child would inherit that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip

    def blocks_written() -> bool:
        for name in os.listdir(work):
            if "big.zarr" in name:
                for root, _, files in os.walk(work / name):
                    if root != str(work / name) and files:
                        return True
        return False

    try:
        deadline = time.monotonic() + 60
        while not blocks_written() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert blocks_written(), "no block was written in 60 s"
    except BaseException:
        process.kill()  # a render of hours must not outlive a failed test
        process.communicate()
        raise
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err == "gmmfast: interrupted: nothing was written to big.zarr\n"
    assert snapshot(work) == before


def test_a_failed_zarr_render_leaves_nothing(work, capsys, monkeypatch):
    pytest.importorskip("zarr")
    import gmmfast.dask as gd

    monkeypatch.chdir(work)
    real_store = gd.da.store

    def store_then_fail(sources, targets, **kwargs):
        real_store(sources, targets, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gd.da, "store", store_then_fail)
    before = snapshot(work)
    status, _, err = call(["render", "good.npz", "--chunks", "8", "--zarr", "z.zarr"], capsys)
    assert_one_line_error(status, err, 1, "cannot write z.zarr: No space left on device")
    assert "nothing was left at that path" in err
    assert snapshot(work) == before
    # And the re-run, once the disk has room, writes the store.
    monkeypatch.setattr(gd.da, "store", real_store)
    status, out, err = call(["render", "good.npz", "--chunks", "8", "--zarr", "z.zarr"], capsys)
    assert status == 0, err
    assert out.startswith("wrote z.zarr: density")
    names = set(snapshot(work)) - set(before)
    assert all(name == "z.zarr" or name.startswith("z.zarr" + os.sep) for name in names)


def test_info_json_output_of_an_ordinary_model_is_unchanged(work, capsys, monkeypatch):
    # Escaping changes nothing printable: metadata values are still shown as JSON.
    monkeypatch.chdir(work)
    gmmfast.save(gmmfast.load("good.npz"), "plain.npz", source="café.png", tags=["a", "b"])
    status, out, _ = call(["info", "plain.npz"], capsys)
    assert status == 0
    assert "source image:" in out and "café.png, 32x24 pixels" in out
    assert any(
        line.startswith("metadata tags:") and line.endswith(json.dumps(["a", "b"]))
        for line in out.splitlines()
    )
