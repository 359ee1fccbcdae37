"""Behaving as scikit-learn's estimators do: feature names, and a quick ``import gmmfast``."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast

pd = pytest.importorskip("pandas")

SCORING = ["score_samples", "predict", "predict_proba"]


@pytest.fixture(scope="module", params=[GaussianMixture, BayesianGaussianMixture])
def named(request):
    """An estimator fitted on a DataFrame with columns ["a", "b"], and that DataFrame."""
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.randn(120, 2) * [1.0, 3.0], columns=["a", "b"])
    return request.param(n_components=2, random_state=0).fit(frame), frame


@pytest.mark.parametrize("name", SCORING)
def test_reordered_columns_are_refused_as_scikit_learn_refuses_them(named, name):
    est, frame = named
    with pytest.raises(ValueError, match="The feature names should match"):
        getattr(est, name)(frame[["b", "a"]])
    with pytest.raises(ValueError, match="The feature names should match"):
        getattr(gmmfast, name)(est, frame[["b", "a"]])


@pytest.mark.parametrize("name", SCORING)
def test_unnamed_data_gets_scikit_learns_warning(named, name):
    est, frame = named
    plain = frame.to_numpy()
    with pytest.warns(UserWarning, match="X does not have valid feature names") as theirs:
        expected = getattr(est, name)(plain)
    with pytest.warns(UserWarning, match="X does not have valid feature names") as ours:
        got = getattr(gmmfast, name)(est, plain)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SCORING)
def test_named_data_is_taken_without_warning(named, name):
    est, frame = named
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = getattr(gmmfast, name)(est, frame)
    np.testing.assert_allclose(got, getattr(est, name)(frame), rtol=1e-12, atol=1e-12)


def test_named_data_given_to_an_unnamed_fit_gets_scikit_learns_warning():
    rng = np.random.RandomState(1)
    est = GaussianMixture(2, random_state=0).fit(rng.randn(50, 2))
    frame = pd.DataFrame(rng.randn(5, 2), columns=["a", "b"])
    with pytest.warns(UserWarning, match="X has feature names, but GaussianMixture was fitted"):
        gmmfast.score_samples(est, frame)


def test_a_mixture_takes_data_frames_by_position():
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    frame = pd.DataFrame([[1.0, 2.0]], columns=["y", "x"])
    np.testing.assert_allclose(gmmfast.score_samples(m, frame), -np.log(2 * np.pi) - 2.5)


def test_import_leaves_scikit_learn_and_scipy_out():
    # scikit-learn takes about a second to import; a model file or a Mixture needs none of it.
    script = (
        "import sys, gmmfast\n"
        "m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], 'spherical')\n"
        "gmmfast.log_density_grid(m, gmmfast.Grid(4, 4))\n"
        "gmmfast.sample(m, 10, random_state=0)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_line_starts_without_scikit_learn(tmp_path):
    model = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    path = tmp_path / "m.npz"
    gmmfast.save(model, path)
    script = (
        "import sys\n"
        "from gmmfast.cli import main\n"
        f"main(['info', {str(path)!r}])\n"
        "print('LOADED', sorted(k for k in sys.modules if k.split('.')[0] == 'sklearn'))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "LOADED []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("X", [[], [[]], [1.0, 2.0], np.zeros((0, 2))])
@pytest.mark.parametrize("name", SCORING)
def test_malformed_data_is_a_value_error_before_the_names_are_checked(named, name, X):
    # scikit-learn's feature-name check assumes a 2-D X (an IndexError on []): shape first.
    est, _ = named
    with pytest.raises(ValueError, match=r"Expected 2D array|0 feature|0 sample"):
        getattr(gmmfast, name)(est, X)
