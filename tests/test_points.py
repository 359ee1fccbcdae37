"""The culled point driver: a point's result does not depend on the other points of the call.

At rtol = 0 every point kernel (score_samples, predict, predict_proba, conditional_mean) must
give, bitwise, the result of evaluating the point alone (a call with one point evaluates every
component: too few points to bound), whatever the other points, their order and the blocks of
the kd-tree; and agree with scikit-learn's formulas (the NumPy reference) to rounding.
The rtol bounds on points are tested with the grid's in ``test_tolerance.py``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gmmfast
import gmmfast.reference as ref
from gmmfast import _core
from gmmfast._model import scoring_form
from gmmfast.testing import assert_proba_close, mixtures

KINDS = ["uniform", "clustered", "duplicated", "far", "samples"]


def point_set(mixture, kind: str, n: int, seed: int) -> np.ndarray:
    """n points of one of the layouts the driver must not care about."""
    rng = np.random.default_rng(seed)
    d = mixture.n_features
    span = 1.5 * np.abs(mixture.means).max() + 1.0
    if kind == "uniform":
        return rng.uniform(-span, span, size=(n, d))
    if kind == "clustered":
        centres = rng.uniform(-span, span, size=(rng.integers(1, 5), d))
        scale = span * 10.0 ** rng.uniform(-4, -1)
        return centres[rng.integers(len(centres), size=n)] + scale * rng.normal(size=(n, d))
    if kind == "duplicated":
        distinct = rng.uniform(-span, span, size=(rng.integers(1, 6), d))
        return distinct[rng.integers(len(distinct), size=n)]
    if kind == "far":
        # Near points mixed with points far out, up to where squared distances overflow.
        scale = 10.0 ** rng.uniform(0, 200, size=(n, 1))
        return rng.uniform(-1, 1, size=(n, d)) * np.where(rng.random((n, 1)) < 0.5, span, scale)
    return gmmfast.sample(mixture, n, random_state=seed)[0]


def kernels(mixture, X):
    """Every point kernel's result at X."""
    results = {
        "score_samples": gmmfast.score_samples(mixture, X),
        "predict": gmmfast.predict(mixture, X),
        "predict_proba": gmmfast.predict_proba(mixture, X),
    }
    if mixture.n_features >= 2:
        mean, std = gmmfast.conditional_mean(mixture, X[:, :1], given=(0,), return_std=True)
        results["conditional_mean"] = mean
        results["conditional_std"] = std
    return results


def assert_rows_equal(results: dict, expected: dict, rows) -> None:
    for name, values in results.items():
        np.testing.assert_array_equal(values, expected[name][rows], err_msg=name)


@given(
    mixtures(n_features=(1, 6), n_components=(1, 40)),
    st.sampled_from(KINDS),
    st.integers(1, 3000),
    st.integers(0, 2**32 - 1),
)
def test_a_point_does_not_depend_on_the_others(mixture, kind, n, seed):
    X = point_set(mixture, kind, n, seed)
    full = kernels(mixture, X)
    rng = np.random.default_rng(seed)
    # Any order of the same points.
    order = rng.permutation(n)
    assert_rows_equal(kernels(mixture, X[order]), full, order)
    # Part of them.
    part = np.sort(rng.choice(n, size=max(1, n // 3), replace=False))
    assert_rows_equal(kernels(mixture, X[part]), full, part)
    # Each alone.
    for i in rng.choice(n, size=min(n, 5), replace=False):
        assert_rows_equal(kernels(mixture, X[i : i + 1]), full, [i])


@given(mixtures(n_features=(1, 6), n_components=(1, 40)), st.sampled_from(KINDS))
def test_points_agree_with_the_reference(mixture, kind):
    X = point_set(mixture, kind, 500, 0)
    finite = np.abs(X).max(axis=1) < 1e100  # where the reference's squares do not overflow
    X = X[finite]
    if len(X) == 0:
        return
    np.testing.assert_allclose(
        gmmfast.score_samples(mixture, X), ref.score_samples(mixture, X), rtol=1e-12, atol=1e-9
    )
    assert_proba_close(gmmfast.predict_proba(mixture, X), ref.predict_proba(mixture, X))


@pytest.mark.parametrize("n_features", [2, 5])
def test_a_hundred_thousand_points_give_each_points_own_result(n_features):
    rng = np.random.default_rng(n_features)
    k = 300
    means = rng.uniform(0, 100, size=(k, n_features))
    a = rng.normal(size=(k, n_features, n_features))
    covs = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(n_features)
    mixture = gmmfast.Mixture(rng.dirichlet(np.ones(k)), means, covs)
    X = gmmfast.sample(mixture, 100_000, random_state=1)[0]
    full = kernels(mixture, X)
    order = rng.permutation(len(X))
    assert_rows_equal(kernels(mixture, X[order]), full, order)
    for i in rng.choice(len(X), size=20, replace=False):
        assert_rows_equal(kernels(mixture, X[i : i + 1]), full, [i])
    # The culling did its job: far fewer components evaluated than K.
    counts = np.empty(len(X), np.int64)
    _core.point_candidate_counts(scoring_form(mixture).components(), X, counts)
    assert counts.mean() < k / 4


def test_responsibilities_below_the_rounding_of_the_largest_are_zero():
    # Components 0 and 1 are 1 and 40 nats below component 2 at the origin.
    mixture = gmmfast.Mixture(
        [0.25, 0.25, 0.5],
        [[0.0, np.sqrt(2.0)], [0.0, np.sqrt(80.0)], [0.0, 0.0]],
        np.ones(3),
        "spherical",
    )
    X = np.zeros((40, 2))  # enough points that the driver bounds, and culls
    proba = gmmfast.predict_proba(mixture, X)
    expected = ref.predict_proba(mixture, X)
    assert expected[0, 1] < 2.0**-53 * expected[0, 2] and expected[0, 1] > 0
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    np.testing.assert_allclose(proba[:, [0, 2]], expected[:, [0, 2]], rtol=1e-15)


@pytest.mark.parametrize(
    "function", [gmmfast.score_samples, gmmfast.predict_proba, gmmfast.predict]
)
@pytest.mark.parametrize("rtol", [-0.1, 1.0, float("nan"), "0"])
def test_bad_rtol_is_refused(function, rtol):
    mixture = gmmfast.Mixture([1.0], [[0.0]], [1.0], "spherical")
    with pytest.raises((ValueError, TypeError), match="rtol"):
        function(mixture, [[0.0]], rtol=rtol)
