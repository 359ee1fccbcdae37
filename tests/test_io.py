"""Model files: round trips, and files that must be refused."""

import errno
import io
import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
from gmmfast.testing import mixtures


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixtures(n_components=(1, 8)))
def test_round_trip_is_exact(tmp_path, mixture):
    path = tmp_path / "model.npz"
    gmmfast.save(mixture, path, mode="bw", width=640, height=427)
    loaded = gmmfast.load(path)
    assert loaded == mixture
    np.testing.assert_array_equal(loaded.precisions_cholesky, mixture.precisions_cholesky)
    assert dict(loaded.metadata) == {"mode": "bw", "width": 640, "height": 427}
    X = np.random.default_rng(0).normal(size=(20, mixture.n_features)) * 5
    np.testing.assert_array_equal(
        gmmfast.score_samples(loaded, X), gmmfast.score_samples(mixture, X)
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_estimators_are_saved_as_their_plug_in_mixture(tmp_path, cls):
    X = np.random.default_rng(0).normal(size=(200, 2))
    est = cls(n_components=2, random_state=0).fit(X)
    gmmfast.save(est, tmp_path / "m.npz")
    loaded = gmmfast.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.precisions_cholesky, est.precisions_cholesky_)
    assert loaded == gmmfast.Mixture.from_sklearn(est)
    if cls is GaussianMixture:  # the plug-in mixture is what it scores, to the last bit
        np.testing.assert_array_equal(
            gmmfast.score_samples(loaded, X), gmmfast.score_samples(est, X)
        )


def test_metadata_is_merged_and_kept_through_resaving(tmp_path):
    m = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical", metadata={"mode": "bw"})
    gmmfast.save(m, tmp_path / "a.npz", width=3)
    gmmfast.save(gmmfast.load(tmp_path / "a.npz"), tmp_path / "b.npz", height=2)
    assert dict(gmmfast.load(tmp_path / "b.npz").metadata) == {
        "mode": "bw",
        "width": 3,
        "height": 2,
    }
    with pytest.raises(TypeError, match="JSON"):
        gmmfast.save(m, tmp_path / "c.npz", bad=object())


def test_path_is_used_as_given(tmp_path):
    m = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    gmmfast.save(m, tmp_path / "model.gmm")
    assert (tmp_path / "model.gmm").exists() and not (tmp_path / "model.gmm.npz").exists()


@pytest.fixture
def good_file(tmp_path):
    m = gmmfast.Mixture([0.3, 0.7], [[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [0.5, 0.5]], "diag")
    path = tmp_path / "good.npz"
    gmmfast.save(m, path)
    return path


def rewrite(path, out, **changes):
    """Copy a model file, replacing (or with None, removing) entries."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": np.array("something-else")}, "format is 'something-else'"),
        ({"format_version": np.array(99)}, "format version 99 is not supported"),
        ({"weights": None}, r"entries \['weights'\] are missing"),
        ({"weights": np.array([0.5, 0.6])}, "weights must sum to 1"),
        ({"covariances": np.array([[1.0, -2.0], [0.5, 0.5]])}, "must be positive"),
        ({"covariance_type": np.array("banana")}, "covariance_type must be one of"),
        ({"precisions_cholesky": np.ones((2, 2))}, "does not match the covariances"),
        ({"metadata": np.array("[1, 2]")}, "metadata is not a JSON object"),
        ({"metadata": np.array("{not json")}, "Expecting property name"),
        ({"means": np.array([[0, 1], [2, 3]])}, "dtype int64, not float64"),
    ],
)
def test_tampered_files_are_refused(good_file, tmp_path, changes, match):
    bad = rewrite(good_file, tmp_path / "bad.npz", **changes)
    with pytest.raises(ValueError, match=match):
        gmmfast.load(bad)


def test_pickled_objects_are_never_loaded(good_file, tmp_path):
    # An object array in an .npz needs pickle to load; it must be refused, not executed.
    bad = rewrite(good_file, tmp_path / "evil.npz", metadata=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"not a valid gmmfast model file.*pickle"):
        gmmfast.load(bad)
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a valid gmmfast model file"):
        gmmfast.load(tmp_path / "evil.npy")


def test_truncated_foreign_and_missing_files(good_file, tmp_path):
    data = good_file.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid gmmfast model file"):
        gmmfast.load(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a valid gmmfast model file"):
        gmmfast.load(tmp_path / "text.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        gmmfast.load(tmp_path / "array.npy")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not numpy")
    (tmp_path / "zip.npz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a valid gmmfast model file"):
        gmmfast.load(tmp_path / "zip.npz")
    with pytest.raises(FileNotFoundError):
        gmmfast.load(tmp_path / "nope.npz")


def test_foreign_files_are_named_for_what_they_are(tmp_path):
    import pickle

    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"not a NumPy \.npz archive \(it starts with b'hello'\)"):
        gmmfast.load(tmp_path / "text.npz")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0]}))
    with pytest.raises(ValueError, match="a Python pickle, which gmmfast never loads"):
        gmmfast.load(tmp_path / "model.pkl")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="it is empty"):
        gmmfast.load(tmp_path / "empty.npz")


def test_a_header_declaring_more_data_than_stored_is_refused_before_allocating(good_file, tmp_path):
    # np.load allocates what an .npy header declares before reading: a tampered header could
    # ask for terabytes. The archive must be refused with a ValueError, not a MemoryError.
    with np.load(good_file) as data:
        arrays = {k: data[k] for k in data.files}
    buffer = io.BytesIO()
    np.save(buffer, arrays["weights"])
    raw = buffer.getvalue()
    header_end = raw.index(b"\n") + 1
    header = raw[10:header_end].decode("latin1").replace("(2,)", "(10000000000000,)").rstrip()
    header = header.ljust(header_end - 11) + "\n"
    tampered = raw[:8] + len(header).to_bytes(2, "little") + header.encode() + raw[header_end:]
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        for key, value in arrays.items():
            if key == "weights":
                archive.writestr("weights.npy", tampered)
            else:
                member = io.BytesIO()
                np.save(member, value)
                archive.writestr(f"{key}.npy", member.getvalue())
    with pytest.raises(ValueError, match=r"'weights.npy' declares 80000000000000 bytes"):
        gmmfast.load(tmp_path / "huge.npz")


def test_damaged_bytes_give_a_value_error_or_a_valid_model(good_file, tmp_path):
    # Bytes overwritten at random (fixed seed): damaged compressed data (zlib), unknown zip
    # flags (NotImplementedError) and broken .npy headers (TokenError) must all come out as
    # ValueError; a change that misses every checked byte may load, and is then valid.
    rng = np.random.default_rng(0)
    data = np.frombuffer(good_file.read_bytes(), dtype=np.uint8)
    path = tmp_path / "damaged.npz"
    refused = 0
    for _ in range(300):
        damaged = data.copy()
        where = rng.integers(0, len(data), size=rng.choice([1, 3, 10]))
        damaged[where] = rng.integers(0, 256, size=len(where))
        path.write_bytes(damaged.tobytes())
        try:
            loaded = gmmfast.load(path)
        except ValueError:
            refused += 1
        else:
            assert isinstance(loaded, gmmfast.Mixture)
    assert refused > 250


# --- hostile and odd files ----------------------------------------------------------------------


def write_archive(path, members, level=1):
    """A zip archive at ``path`` of .npy entries: ``members`` maps a key to an array, or to a
    (header bytes, number of zero bytes of data) pair streamed without building the array."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for key, value in members.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                if isinstance(value, tuple):
                    header, n_zeros = value
                    member.write(header)
                    chunk = bytes(2**22)
                    for start in range(0, n_zeros, len(chunk)):
                        member.write(chunk[: min(len(chunk), n_zeros - start)])
                else:
                    np.lib.format.write_array(member, np.asanyarray(value))
    return path


def npy_header(shape, dtype="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return b"\x93NUMPY\x01\x00" + buffer.getvalue()[8:]


def model_arrays(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_an_entry_larger_than_k_and_d_allow_is_refused_before_it_is_decompressed(
    good_file, tmp_path
):
    # A small archive whose means.npy honestly holds 256 MiB of zeros (the header and the
    # zip directory agree): K=2 as the weights say, but d=2^24 where the covariances say d=2.
    # It must be refused from the headers alone: before, load decompressed all of it (4.9 GB
    # of memory for a 4 GiB entry) before the shapes were compared.
    import tracemalloc

    arrays = model_arrays(good_file)
    n = 2**25  # 2 × 2^24 float64 = 256 MiB
    arrays["means"] = (npy_header((2, n // 2)), 8 * n)
    path = write_archive(tmp_path / "bomb.npz", arrays)
    assert path.stat().st_size < 2 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(
            ValueError,
            match=r"of 16777216 features must have shape \(2, 16777216\), got \(2, 2\)",
        ):
            gmmfast.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_covariances_that_k_and_d_do_not_allow_are_refused_before_reading(good_file, tmp_path):
    arrays = model_arrays(good_file)
    arrays["covariances"] = (npy_header((2, 2**22)), 8 * 2**23)  # 64 MiB, diag wants (2, 2)
    path = write_archive(tmp_path / "bomb.npz", arrays)
    with pytest.raises(ValueError, match=r"covariances for covariance_type='diag'.*\(2, 2\)"):
        gmmfast.load(path)


def test_a_model_declaring_more_than_max_bytes_is_refused(good_file, tmp_path):
    # An honest file: K=2, d=2, diag: 8 + 8·4·3 = 104 bytes... of parameters, 2·8 + 3·(4·8).
    assert gmmfast.load.__kwdefaults__["max_bytes"] == gmmfast._io.MAX_BYTES == 2**30
    with pytest.raises(ValueError, match=r"take 112 bytes, more than max_bytes=111"):
        gmmfast.load(good_file, max_bytes=111)
    assert gmmfast.load(good_file, max_bytes=112).n_components == 2
    assert gmmfast.load(good_file, max_bytes=None).n_components == 2
    with pytest.raises(TypeError, match="max_bytes"):
        gmmfast.load(good_file, max_bytes=1.5)
    with pytest.raises(ValueError, match="max_bytes"):
        gmmfast.load(good_file, max_bytes=-1)


def test_an_honest_model_of_gigabytes_is_refused_by_default(tmp_path):
    # K=1, d=2^25, diag: weights, means, covariances and factors declare 768 MiB (3 × 256
    # MiB + 8), within the default; at d=2^26 (1.5 GiB) the default refuses it unread.
    arrays = {
        "format": np.array("gmmfast-mixture"),
        "format_version": np.array(1),
        "covariance_type": np.array("diag"),
        "metadata": np.array("{}"),
        "weights": np.array([1.0]),
    }
    d = 2**26
    for key in ("means", "covariances", "precisions_cholesky"):
        arrays[key] = (npy_header((1, d)), 8 * d)
    path = write_archive(tmp_path / "big.npz", arrays)
    with pytest.raises(ValueError, match=r"1,610,612,744 bytes, more than max_bytes=1,073,741,824"):
        gmmfast.load(path)


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested 100001 levels deep"),
        ('{"a": "' + "[{" * 1000 + '"}', None),  # brackets inside a string do not count
        ('{"a": ' + "[" * 63 + "]" * 63 + "}", None),  # 64 levels with the object
        ('{"a": ' + "[" * 64 + "{}" + "]" * 64 + "}", "nested 66 levels deep, more than 64"),
    ],
)
def test_deeply_nested_metadata_is_refused(good_file, tmp_path, metadata, match):
    bad = rewrite(good_file, tmp_path / "deep.npz", metadata=np.array(metadata))
    if match is None:
        assert gmmfast.load(bad).metadata["a"] is not None
    else:
        with pytest.raises(ValueError, match=match):
            gmmfast.load(bad)


def test_oversized_scalars_are_refused_unread(good_file, tmp_path):
    bad = rewrite(
        good_file, tmp_path / "long.npz", metadata=np.array('{"a": "' + "x" * 2**20 + '"}')
    )
    with pytest.raises(ValueError, match=r"entry 'metadata' is 4,194,340 bytes long"):
        gmmfast.load(bad)
    bad = rewrite(good_file, tmp_path / "long.npz", covariance_type=np.array("full" * 100))
    with pytest.raises(ValueError, match=r"entry 'covariance_type' is 1,600 bytes long"):
        gmmfast.load(bad)


def test_save_refuses_metadata_that_load_would_refuse(tmp_path):
    m = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested 102 levels deep"):
        gmmfast.save(m, tmp_path / "m.npz", deep=deep)
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 64 levels deep"):
        gmmfast.save(m, tmp_path / "m.npz", deep=deep)
    with pytest.raises(ValueError, match="characters of JSON, more than 1,048,576"):
        gmmfast.save(m, tmp_path / "m.npz", text="x" * 2**20)
    assert list(tmp_path.iterdir()) == []


def load_in_a_subprocess(path) -> str:
    """What ``gmmfast.load(path)`` raises, run in a fresh interpreter with a time limit (a
    load that blocks must fail the test, not hang it)."""
    script = (
        "import sys, gmmfast\n"
        "try:\n"
        "    gmmfast.load(sys.argv[1])\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.npz")
    assert load_in_a_subprocess(tmp_path / "pipe.npz") == (
        f"NotRegularFileError {str(tmp_path / 'pipe.npz')!r} is a FIFO (named pipe), not a "
        "regular file"
    )
    with pytest.raises(ValueError, match="is a character device, not a regular file"):
        gmmfast.load(os.devnull)


def test_os_errors_are_reported_as_what_they_are(tmp_path, monkeypatch):
    with pytest.raises(IsADirectoryError):
        gmmfast.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        gmmfast.load(tmp_path / "nope.npz")
    (tmp_path / "secret.npz").write_bytes(b"PK\x03\x04")

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    monkeypatch.setattr(os, "open", denied)  # root reads any file: simulate the refusal
    with pytest.raises(PermissionError):
        gmmfast.load(tmp_path / "secret.npz")


# --- writing: nothing the user had is lost --------------------------------------------------------


def failing_savez(monkeypatch, after: int):
    """Make np.savez_compressed write ``after`` bytes and then fail as a full disk does."""

    def savez(handle, **arrays):
        handle.write(b"x" * after)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", savez)


def test_a_failed_save_keeps_the_file_it_would_replace(good_file, tmp_path, monkeypatch):
    before = good_file.read_bytes()
    m = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    failing_savez(monkeypatch, 100)
    with pytest.raises(OSError, match="No space left"):
        gmmfast.save(m, good_file)
    assert good_file.read_bytes() == before
    with pytest.raises(OSError, match="No space left"):
        gmmfast.save(m, tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz"]  # no partial, no temp


def test_an_interrupted_save_keeps_the_file_it_would_replace(good_file, tmp_path, monkeypatch):
    before = good_file.read_bytes()

    def savez(handle, **arrays):
        handle.write(b"x" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", savez)
    with pytest.raises(KeyboardInterrupt):
        gmmfast.save(gmmfast.load(good_file), good_file)
    assert good_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="resource limits are POSIX")
def test_a_save_over_the_file_size_limit_keeps_the_old_file(good_file, tmp_path):
    # The real failure: RLIMIT_FSIZE (with SIGXFSZ ignored, a write beyond it fails with
    # EFBIG). Before, save truncated good.npz first and left it cut at the limit.
    before = good_file.read_bytes()
    script = (
        "import resource, signal, sys, numpy as np, gmmfast\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "m = gmmfast.Mixture(np.full(400, 1 / 400), np.arange(800.0).reshape(400, 2), "
        "np.ones(400), 'spherical')\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "try:\n"
        "    gmmfast.save(m, sys.argv[1])\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(good_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(errno.EFBIG)
    assert good_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz"]


def test_save_replaces_atomically_and_keeps_links_and_permissions(good_file, tmp_path):
    m = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    os.chmod(good_file, 0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(good_file.name)
    gmmfast.save(m, link)
    assert link.is_symlink() and gmmfast.load(good_file) == m
    assert stat.S_IMODE(good_file.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz", "link.npz"]
