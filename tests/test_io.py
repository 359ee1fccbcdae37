"""Model files: round trips, and files that must be refused."""

import io
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
