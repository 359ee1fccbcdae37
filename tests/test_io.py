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
