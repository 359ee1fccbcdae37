"""gmmfast.dask.fit: EM over the blocks of a dask array equals the in-memory fit (and
scikit-learn's) from the same initialisation, for any chunks, on the threaded scheduler and on a
cluster of two processes; the initialisation on a uniform subsample; bad input."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import sklearn.mixture
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

import gmmfast

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
gd = pytest.importorskip("gmmfast.dask")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
K = 4
FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
)


@pytest.fixture(scope="module")
def data():
    """1200 points in 3-D around 4 centres of different spreads and correlations, and weights
    in [0, 3) of which one in ten is zero."""
    rng = np.random.default_rng(14)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-3.0, 7.0, 1.0], [2.0, -6.0, 5.0]])
    parts = []
    for centre in centres:
        a = rng.normal(size=(3, 3)) * 0.5 + np.eye(3) * rng.uniform(0.6, 1.5)
        parts.append(centre + rng.normal(size=(300, 3)) @ a)
    X = np.concatenate(parts)[rng.permutation(1200)]
    w = rng.uniform(0, 3, size=len(X))
    w[rng.random(len(X)) < 0.1] = 0.0
    return X, w


def init_arrays(X, covariance_type, seed=0):
    """``*_init`` arrays away from the optimum: rows of X as means, unequal weights, and
    precisions of a unit-ish scale in the covariance type's layout."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = X[rng.choice(len(X), K, replace=False)]
    weights = rng.uniform(1, 2, size=K)
    weights /= weights.sum()
    scales = rng.uniform(0.2, 0.6, size=K)
    precisions = {
        "full": np.array([np.eye(d) * s for s in scales]),
        "tied": np.eye(d) * scales[0],
        "diag": scales[:, None] * rng.uniform(0.5, 1.5, size=(K, d)),
        "spherical": scales,
    }[covariance_type]
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def estimator(covariance_type="full", cls=gmmfast.GaussianMixture, **kwargs):
    options = {"n_components": K, "covariance_type": covariance_type, "tol": 1e-5}
    options["max_iter"] = 60
    return cls(**{**options, **kwargs})


def assert_same_fit(result, expected, rtol=1e-10):
    """Every fitted attribute of ``result`` as ``expected``'s: the iteration counts exactly,
    the lower bounds entry by entry and the parameters within ``rtol`` (relative to each
    array's largest entry for entries near zero)."""
    assert isinstance(result, gmmfast.GaussianMixture)
    assert result.n_iter_ == expected.n_iter_
    assert result.converged_ == expected.converged_
    assert result.n_features_in_ == expected.n_features_in_
    assert len(result.lower_bounds_) == len(expected.lower_bounds_)
    np.testing.assert_allclose(result.lower_bounds_, expected.lower_bounds_, rtol=rtol, atol=0)
    np.testing.assert_allclose(result.lower_bound_, expected.lower_bound_, rtol=rtol, atol=0)
    for name in FITTED:
        a, b = getattr(result, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)


# Row chunks: one block; equal blocks with a remainder; uneven blocks with a block of one row
# and an empty one; blocks that also split the columns (rechunked to whole rows).
CHUNKS = [(1200, 3), (250, 3), ((1, 499, 0, 300, 400), 3), (300, 1)]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_equals_the_in_memory_fit_for_any_chunks(data, covariance_type, weighted):
    X, w = data
    w = w if weighted else None
    init = init_arrays(X, covariance_type)
    expected = estimator(covariance_type, **init).fit(X, sample_weight=w)
    assert 5 < expected.n_iter_ < 60  # EM did iterate, and converged
    results = []
    for chunks in CHUNKS:
        dX = da.from_array(X, chunks=chunks)
        dw = None if w is None else da.from_array(w, chunks=37)  # not X's row chunks
        result = gd.fit(estimator(covariance_type, **init), dX, sample_weight=dw)
        assert_same_fit(result, expected)
        results.append(result)
    # Independent of the chunks, to rounding.
    for result in results[1:]:
        assert_same_fit(result, results[0])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_equals_scikit_learn(data, covariance_type):
    X, _ = data
    init = init_arrays(X, covariance_type, seed=1)
    expected = estimator(covariance_type, sklearn.mixture.GaussianMixture, **init).fit(X)
    result = gd.fit(estimator(covariance_type, **init), da.from_array(X, chunks=200))
    assert result.n_iter_ == expected.n_iter_ and result.converged_ == expected.converged_
    np.testing.assert_allclose(result.lower_bounds_, expected.lower_bounds_, rtol=1e-10)
    for name in FITTED:
        b = getattr(expected, name)
        np.testing.assert_allclose(getattr(result, name), b, rtol=1e-8, atol=1e-8 * abs(b).max())


def test_integer_weights_fit_repeated_rows(data):
    """scikit-learn on the rows repeated as often as their weight (0: left out)."""
    X, _ = data
    counts = np.random.default_rng(5).integers(0, 4, size=len(X))
    init = init_arrays(X, "full", seed=2)
    expected = estimator(cls=sklearn.mixture.GaussianMixture, **init).fit(np.repeat(X, counts, 0))
    dw = da.from_array(counts, chunks=100)  # integer weights, as a dask array
    result = gd.fit(estimator(**init), da.from_array(X, chunks=100), sample_weight=dw)
    assert result.n_iter_ == expected.n_iter_
    np.testing.assert_allclose(result.lower_bounds_, expected.lower_bounds_, rtol=1e-10)
    for name in FITTED:
        b = getattr(expected, name)
        np.testing.assert_allclose(getattr(result, name), b, rtol=1e-8, atol=1e-8 * abs(b).max())


# --- initialisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("init_params", "weighted"),
    [("kmeans", False), ("kmeans", True), ("k-means++", True), ("random", False)],
)
def test_all_rows_fit_small_data_as_in_memory_from_the_same_random_state(
    data, init_params, weighted
):
    """With n_samples <= init_size the initialisation sees every row and draws nothing first:
    the whole fit is the in-memory one with the same random_state, n_init=2 included."""
    X, w = data
    w = w if weighted else None
    kwargs = {"init_params": init_params, "random_state": 7, "n_init": 2}
    expected = estimator(**kwargs).fit(X, sample_weight=w)
    result = gd.fit(estimator(**kwargs), da.from_array(X, chunks=300), sample_weight=w)
    assert_same_fit(result, expected)


@pytest.mark.parametrize("given", ["means_init", "precisions_init"])
def test_some_init_arrays_replace_what_the_initialisation_computes(data, given):
    X, w = data
    kwargs = {"random_state": 2, given: init_arrays(X, "diag")[given]}
    expected = estimator("diag", **kwargs).fit(X, sample_weight=w)
    result = gd.fit(estimator("diag", **kwargs), da.from_array(X, chunks=333), w)
    assert_same_fit(result, expected)


def test_initialisation_on_a_subsample(data):
    """init_size < n: the initial parameters (max_iter=0) are those of the in-memory estimator
    on the chosen rows, the random state going on from the draw of the rows; EM from there
    runs over every row, as the in-memory fit from those parameters."""
    X, w = data
    dX = da.from_array(X, chunks=128)
    start = gd.fit(estimator(random_state=3, max_iter=0), dX, w, init_size=400)
    random_state = np.random.RandomState(3)
    rows = gd._subsample_indices(len(X), 400, random_state)
    on_rows = estimator(random_state=random_state, max_iter=0).fit(X[rows], sample_weight=w[rows])
    for name in FITTED:
        np.testing.assert_array_equal(getattr(start, name), getattr(on_rows, name))
    assert start.n_iter_ == 0 and start.lower_bounds_ == [] and not start.converged_

    result = gd.fit(estimator(random_state=3), dX, w, init_size=400)
    init = {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }
    assert_same_fit(result, estimator(**init).fit(X, sample_weight=w))
    # The same seed, the same fit; another seed, another start.
    assert_same_fit(gd.fit(estimator(random_state=3), dX, w, init_size=400), result, rtol=0)
    other = gd.fit(estimator(random_state=4, max_iter=0), dX, w, init_size=400)
    assert not np.allclose(other.means_, start.means_)


@pytest.mark.parametrize(("n", "size"), [(6, 2), (5, 3)], ids=["rejection", "permutation"])
def test_subsample_is_uniform(n, size):
    """Every subset of ``size`` of ``n`` rows equally likely: a chi-square test over the
    C(n, size) subsets, 20,000 draws from a fixed seed (false failure probability 1e-6 for a
    uniform sampler: the seed is fixed, so the test is deterministic)."""
    from itertools import combinations

    subsets = {s: i for i, s in enumerate(combinations(range(n), size))}
    counts = np.zeros(len(subsets))
    random_state = np.random.RandomState(0)
    for _ in range(20_000):
        chosen = gd._subsample_indices(n, size, random_state)
        counts[subsets[tuple(chosen.tolist())]] += 1
    assert stats.chisquare(counts).pvalue > 1e-6


def test_subsample_of_huge_n():
    chosen = gd._subsample_indices(10**15, 5000, np.random.RandomState(1))
    assert chosen.shape == (5000,) and chosen.dtype == np.int64
    assert np.all(np.diff(chosen) > 0) and chosen[0] >= 0 and chosen[-1] < 10**15
    assert chosen[-1] > 9 * 10**14 and chosen[0] < 10**14  # spread over the range
    np.testing.assert_array_equal(gd._subsample_indices(7, 7, None), np.arange(7))


def test_x_is_never_computed_on_the_client(data, monkeypatch):
    """Only blocks and the subsample's rows reach the client: computing or converting the
    whole (n, d) array raises."""
    X, w = data
    dX = da.from_array(X, chunks=100)

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"the client computed an array of shape {self.shape}")

    for method in ("compute", "persist", "__array__"):
        monkeypatch.setattr(da.Array, method, refuse)
    result = gd.fit(estimator(random_state=0, n_init=2), dX, da.from_array(w), init_size=500)
    assert result.n_iter_ > 0


def test_parameters_enter_each_iteration_once(data):
    """Each iteration is one graph: one key holds the parameters, one task per block reads it
    (and its block), and a tree of sums over the blocks ends in one key."""
    from dask.callbacks import Callback
    from dask.core import get_dependencies

    X, _ = data
    graphs = []
    with Callback(start=lambda dsk: graphs.append(dict(dsk))):
        result = gd.fit(estimator("diag", **init_arrays(X, "diag")), da.from_array(X, chunks=100))
    assert len(graphs) == result.n_iter_
    for graph in graphs:
        keys = [str(k) for k in graph]
        params = [k for k in keys if k.endswith("-params")]
        blocks = [k for k in graph if "-block-" in str(k)]
        assert len(params) == 1 and len(blocks) == 12
        for block in blocks:
            deps = [str(k) for k in get_dependencies(graph, block)]
            assert params[0] in deps and len(deps) == 2
        # 12 blocks: 2 sums of 8 and 4 blocks, then 1 of those 2.
        assert sum("-sum-" in k for k in keys) == 3


# --- the estimator --------------------------------------------------------------------------


def test_scikit_learn_estimator_is_converted(data):
    X, _ = data
    init = init_arrays(X, "tied")
    given = estimator("tied", sklearn.mixture.GaussianMixture, **init)
    result = gd.fit(given, da.from_array(X, chunks=500))
    assert type(result) is gmmfast.GaussianMixture and result.rtol == 0.0
    assert not hasattr(given, "means_")  # left as it was
    assert_same_fit(result, estimator("tied", **init).fit(X))


def test_fits_in_place_and_drops_feature_names(data):
    X, _ = data
    model = estimator(**init_arrays(X, "full")).fit(X)
    model.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)  # as after a DataFrame
    del model.n_features_in_
    assert gd.fit(model, da.from_array(X, chunks=500)) is model
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")


def test_warm_start_continues_as_in_memory(data):
    X, w = data
    kwargs = {"warm_start": True, "max_iter": 3, "random_state": 0, "tol": 0.0}
    expected, result = estimator(**kwargs), estimator(**kwargs)
    dX = da.from_array(X, chunks=300)
    with pytest.warns(ConvergenceWarning):
        expected.fit(X, sample_weight=w)
    with pytest.warns(ConvergenceWarning):
        gd.fit(result, dX, w)
    for _ in range(2):  # continues from the fitted parameters and lower bound
        with pytest.warns(ConvergenceWarning):
            expected.fit(X, sample_weight=w)
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            gd.fit(result, dX, w)
        assert_same_fit(result, expected)


def test_float32_and_integer_x(data):
    X, _ = data
    init = init_arrays(X, "diag")
    X32 = X.astype(np.float32)
    expected = estimator("diag", **init).fit(X32)
    result = gd.fit(estimator("diag", **init), da.from_array(X32, chunks=300))
    assert result.means_.dtype == np.float32
    assert_same_fit(result, expected, rtol=1e-6)

    Xi = np.rint(X * 10).astype(np.int32)
    init = init_arrays(Xi.astype(float), "diag")
    result = gd.fit(estimator("diag", **init), da.from_array(Xi, chunks=300))
    assert_same_fit(result, estimator("diag", **init).fit(Xi))


def test_numpy_x_and_scalar_weight(data):
    X, _ = data
    init = init_arrays(X, "spherical")
    result = gd.fit(estimator("spherical", **init), X, sample_weight=2.5)
    assert_same_fit(result, estimator("spherical", **init).fit(X, sample_weight=2.5))


# --- bad input ------------------------------------------------------------------------------


def _with(X, row, value):
    X = X.copy()
    X[row, 1] = value
    return X


def _with_weight(w, row, value):
    w = w.copy()
    w[row] = value
    return w


BAD_X = {
    "nan": (lambda X: _with(X, 701, np.nan), "Input X contains NaN. (First at row 701.)"),
    "inf": (lambda X: _with(X, 5, -np.inf), "Input X contains infinity"),
    "1-D": (lambda X: X[:, 0], "Expected 2D array, got 1D array"),
    "3-D": (lambda X: X[:, :, None], "Expected 2D array, got 3D array"),
    "one sample": (lambda X: X[:1], "Found array with 1 sample(s) (shape=(1, 3))"),
    "no feature": (lambda X: X[:, :0], "Found array with 0 feature(s) (shape=(1200, 0))"),
    "fewer samples than components": (lambda X: X[:3], "Expected n_samples >= n_components"),
    "complex": (lambda X: X + 1j, "Complex data not supported"),
}


@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_x_raises_as_in_memory(data, case):
    X, _ = data
    make, message = BAD_X[case]
    bad = make(X)
    with pytest.raises(ValueError):  # noqa: PT011 - the same type as in memory
        estimator(random_state=0).fit(bad)
    with pytest.raises(ValueError, match=re.escape(message)):
        gd.fit(estimator(random_state=0), da.from_array(bad, chunks=100))
    # NaN and infinity are found by the blocks, also when the initialisation does not read X.
    if case in ("nan", "inf"):
        init = init_arrays(X, "full")
        with pytest.raises(ValueError, match="Input X contains"):
            gd.fit(estimator(**init), da.from_array(bad, chunks=100))


BAD_WEIGHTS = {
    "negative": (
        lambda w: _with_weight(w, 333, -1.0),
        "Negative values in data passed to `sample_weight`. (First at row 333.)",
    ),
    "nan": (lambda w: _with_weight(w, 2, np.nan), "Input sample_weight contains NaN."),
    "length": (lambda w: w[:-1], "sample_weight.shape == (1199,), expected (1200,)!"),
    "2-D": (lambda w: w[:, None], "Sample weights must be 1D array or scalar"),
    "all zero": (np.zeros_like, "Sample weights must contain at least one non-zero number"),
}


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
@pytest.mark.parametrize("case", list(BAD_WEIGHTS))
def test_bad_weights_raise_as_in_memory(data, case, lazy):
    X, w = data
    make, message = BAD_WEIGHTS[case]
    bad = make(w)
    with pytest.raises(ValueError):  # noqa: PT011 - the same type as in memory
        estimator(random_state=0).fit(X, sample_weight=bad)
    init = init_arrays(X, "full")  # the E-step's blocks check the weights of dask arrays
    given = da.from_array(bad, chunks=50) if lazy else bad
    with pytest.raises(ValueError, match=re.escape(message)):
        gd.fit(estimator(**init), da.from_array(X, chunks=100), sample_weight=given)


def test_bad_parameters_raise_as_in_memory(data):
    X, _ = data
    dX = da.from_array(X, chunks=100)
    bad = [
        {"means_init": np.zeros((K, 2))},
        {"weights_init": np.ones(K)},
        {"precisions_init": -np.ones(K), "covariance_type": "spherical"},
        {"n_components": 0},
        {"covariance_type": "round"},
    ]
    for kwargs in bad:
        with pytest.raises(ValueError) as in_memory:  # noqa: PT011 - compared below
            estimator(**kwargs).fit(X)
        with pytest.raises(type(in_memory.value)):
            gd.fit(estimator(**kwargs), dX)
    with pytest.raises(ValueError, match="init_size must be at least n_components = 4"):
        gd.fit(estimator(), dX, init_size=3)
    with pytest.raises(TypeError, match="init_size must be an integer"):
        gd.fit(estimator(), dX, init_size=1.5)
    with pytest.raises(TypeError, match="got BayesianGaussianMixture"):
        gd.fit(sklearn.mixture.BayesianGaussianMixture(), dX)


def test_unknown_chunk_sizes(data):
    dX = da.from_array(data[0], chunks=100)
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        gd.fit(estimator(), dX[dX[:, 0] > 0])


def test_dask_dataframes_are_refused(data):
    dd = pytest.importorskip("dask.dataframe")
    with pytest.raises(TypeError, match="to_dask_array"):
        gd.fit(estimator(), dd.from_dask_array(da.from_array(data[0], chunks=100)))


def test_ill_defined_covariance_raises(data):
    X, _ = data
    same = np.repeat(X[:1], 50, axis=0)
    init = init_arrays(X, "full")
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        gd.fit(estimator(reg_covar=0.0, **init), da.from_array(same, chunks=10))


def test_convergence_warning(data):
    X, _ = data
    init = init_arrays(X, "full")
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        result = gd.fit(estimator(max_iter=2, **init), da.from_array(X, chunks=400))
    assert not result.converged_ and result.n_iter_ == 2 and len(result.lower_bounds_) == 2


def test_importing_gmmfast_dask_imports_neither_scikit_learn_nor_distributed():
    code = (
        "import sys, gmmfast.dask\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'sklearn', 'distributed'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- a cluster of processes -------------------------------------------------------------------


# Every EM iteration on a cluster waits for a round trip to the workers (tens of milliseconds
# on a quiet machine): these tests stop after a few iterations, converged or not.
CLUSTER_ITERATIONS = 8


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip(
        "distributed", reason="the cluster tests need dask.distributed"
    )
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_a_cluster_fits_the_same_bits_as_threads(data, client, covariance_type):
    """Initialisation on a subsample, n_init=2, lazy weights: bitwise the threaded scheduler's
    result (the same sums added up the same tree), computed by both workers."""
    distributed = pytest.importorskip("distributed")
    X, w = data
    dX, dw = da.from_array(X, chunks=150), da.from_array(w, chunks=150)
    kwargs = {"random_state": 11, "n_init": 2, "max_iter": CLUSTER_ITERATIONS}
    with distributed.get_task_stream(client) as tasks:
        result = gd.fit(estimator(covariance_type, **kwargs), dX, dw, init_size=700)
    with dask.config.set(scheduler="threads"):
        threaded = gd.fit(estimator(covariance_type, **kwargs), dX, dw, init_size=700)
    assert_same_fit(result, threaded, rtol=0)
    workers = {t["worker"] for t in tasks.data if "-block-" in t["key"]}
    assert len(workers) == len(client.run(os.getpid)) == 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["tied", "diag"])
def test_a_cluster_fits_as_in_memory(data, client, covariance_type):
    """All rows for the initialisation (n_samples <= init_size): the in-memory fit with the
    same random_state, within 1e-10."""
    X, w = data
    kwargs = {"random_state": 5, "n_init": 2, "init_params": "k-means++"}
    kwargs["max_iter"] = CLUSTER_ITERATIONS
    result = gd.fit(estimator(covariance_type, **kwargs), da.from_array(X, chunks=(200, 2)), w)
    assert_same_fit(result, estimator(covariance_type, **kwargs).fit(X, sample_weight=w))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_cluster_receives_the_parameters_once_per_iteration(data, client, monkeypatch):
    X, _ = data
    scattered = []
    scatter = type(client).scatter

    def counting(self, data, *args, **kwargs):
        scattered.append(kwargs.get("broadcast"))
        return scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(type(client), "scatter", counting)
    init = init_arrays(X, "tied")
    init["max_iter"] = CLUSTER_ITERATIONS
    result = gd.fit(estimator("tied", **init), da.from_array(X, chunks=100))
    assert scattered == [True] * result.n_iter_ and result.n_iter_ == CLUSTER_ITERATIONS
    assert_same_fit(result, estimator("tied", **init).fit(X))


def test_a_cluster_reports_bad_blocks(data, client):
    X, _ = data
    with pytest.raises(ValueError, match=r"Input X contains NaN. \(First at row 1001.\)"):
        gd.fit(estimator(**init_arrays(X, "full")), da.from_array(_with(X, 1001, np.nan), 100))
