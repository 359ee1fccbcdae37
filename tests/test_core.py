"""The private ``_core`` bindings check layout, dtype and writeability themselves (defence in
depth: the public functions validate first), and never let a Rust panic through."""

import numpy as np
import pytest

from gmmfast import Mixture, _core
from gmmfast._conditional import kernel_regressions
from gmmfast._gaussian import covariance_factors
from gmmfast._model import marginal_form, scoring_form


@pytest.fixture(scope="module")
def mixture():
    return Mixture([0.3, 0.7], [[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], [1.0, 2.0], "spherical")


@pytest.fixture(scope="module")
def components(mixture):
    return scoring_form(mixture).components()


@pytest.fixture(scope="module")
def planar(mixture):
    return marginal_form(mixture, (0, 1), length=2).components()


def fortran(shape, dtype=np.float64):
    """A Fortran-ordered (or, in one dimension, strided) array: not C-contiguous."""
    if len(shape) == 1:
        return np.zeros(2 * shape[0], dtype=dtype)[::2]
    out = np.zeros(shape, dtype=dtype, order="F")
    assert not out.flags.c_contiguous
    return out


def read_only(shape, dtype=np.float64):
    out = np.zeros(shape, dtype=dtype)
    out.flags.writeable = False
    return out


X = np.arange(12.0).reshape(4, 3) / 4


def test_fortran_inputs_are_refused_not_read_transposed(components):
    """A Fortran array of the right shape was read in memory order, i.e. transposed."""
    out = np.empty(4)
    with pytest.raises(ValueError, match="X must be a C-contiguous, aligned array"):
        _core.score_samples(components, np.asfortranarray(X), out)
    _core.score_samples(components, X, out)
    expected = out.copy()
    with pytest.raises(ValueError, match="out must be a C-contiguous"):
        _core.score_samples(components, X, fortran((4,)))
    with pytest.raises(ValueError, match="means must be a C-contiguous"):
        _core.Components(np.zeros(2), np.zeros((2, 3), order="F"), np.zeros((2, 3, 3)))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, p, out: _core.score_samples(c, X, out((4,))),
        lambda c, p, out: _core.predict_proba(c, X, out((4, 2))),
        lambda c, p, out: _core.predict(c, X, out((4,), np.int64)),
        lambda c, p, out: _core.log_density_grid(p, np.arange(3.0), np.arange(2.0), out((2, 3))),
        lambda c, p, out: _core.log_density_grid(
            p, np.arange(3.0), np.arange(2.0), out((2, 3), np.float32)
        ),
        lambda c, p, out: _core.label_grid(
            p, np.arange(3.0), np.arange(2.0), out((2, 3), np.int64)
        ),
        lambda c, p, out: _core.candidate_counts(
            p, np.arange(3.0), np.arange(2.0), out((2, 3), np.int64)
        ),
        lambda c, p, out: _core.sample_counts(np.array([0.3, 0.7]), 10, 0, out((2,), np.uint64)),
    ],
)
@pytest.mark.parametrize("make", [read_only, fortran])
def test_outputs_must_be_writeable_and_c_contiguous(components, planar, call, make):
    """A read-only output leaked pyo3's PanicException (a BaseException, not even an
    Exception); a Fortran-ordered one was filled in the wrong order."""
    with pytest.raises(ValueError, match=r"must be a writeable array|must be a C-contiguous"):
        call(components, planar, make)


def test_conditional_and_sampling_outputs(mixture):
    comps, regressions = kernel_regressions(mixture, (0, 1))
    pts = np.zeros((4, 2))
    for bad in (read_only((4, 1)), np.zeros((4, 2))[:, :1]):
        with pytest.raises(ValueError, match=r"writeable|C-contiguous"):
            _core.conditional_mean(comps, regressions, pts, np.zeros((4, 1)), bad)
    with pytest.raises(ValueError, match="writeable"):
        _core.conditional_mean_grid(
            comps, regressions, np.arange(3.0), np.arange(2.0), read_only((2, 3, 1))
        )
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.conditional_mean_grid(
            comps, regressions, np.arange(3.0), np.arange(2.0), fortran((2, 3, 1))
        )
    factors = covariance_factors(mixture.covariances, mixture.covariance_type)
    counts = np.array([2, 2], dtype=np.uint64)
    args = (_core.Gaussians(mixture.means, factors, mixture.covariance_type), counts, 0)
    with pytest.raises(ValueError, match="writeable"):
        _core.sample(*args, read_only((4, 3)), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.sample(*args, fortran((4, 3)), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="writeable"):
        _core.sample_image(
            *args, (0, 1), [], (0.0, 1.0), (0.0, 1.0), read_only((2, 2), np.int64), None
        )


def test_the_same_array_twice_is_refused(mixture, components):
    """mean and std (or an input and an output) sharing memory: the kernels would alias."""
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="share memory"):
        _core.score_samples(components, x, x.reshape(-1)[:4])
    comps, regressions = kernel_regressions(mixture, (0, 1))
    both = np.zeros((2, 3, 1))
    with pytest.raises(ValueError, match="share memory"):
        _core.conditional_mean_grid(comps, regressions, np.arange(3.0), np.arange(2.0), both, both)


def test_wrong_dtypes_are_type_errors(components):
    with pytest.raises(TypeError):
        _core.score_samples(components, X.astype(np.float32), np.zeros(4))
    with pytest.raises(TypeError):
        _core.score_samples(components, X, np.zeros(4, dtype=np.float32))
