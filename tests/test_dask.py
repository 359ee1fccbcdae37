"""gmmfast.dask: lazy grids bitwise equal to the in-memory ones, on the threaded scheduler and a
cluster of processes, written to Zarr, the model in the graph once, and bad input."""

import os
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
from gmmfast.testing import grids, mixtures

# Without the extra (pip install "gmmfast[dask]") these tests are skipped, not errors.
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
gd = pytest.importorskip("gmmfast.dask")

# Whether EM converged is irrelevant: the tests compare with the estimator's own state.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-8, 8, size=(5, 3))
    return np.concatenate([c + rng.normal(size=(120, 3)) * rng.uniform(0.3, 2) for c in centres])


def fitted(cls, blobs, n_features, **kwargs):
    return cls(n_components=6, random_state=0, max_iter=200, **kwargs).fit(blobs[:, :n_features])


@pytest.fixture(scope="module")
def models(blobs):
    """Every kind of model the functions take, in 2 and 3 features."""
    gm3 = fitted(GaussianMixture, blobs, 3)
    return {
        "Mixture": gmmfast.Mixture.from_sklearn(gm3),
        "GaussianMixture-2": fitted(GaussianMixture, blobs, 2, covariance_type="tied"),
        "GaussianMixture-3": gm3,
        # Over all its features a BayesianGaussianMixture is rendered with its own scoring form
        # (digamma terms), over a strict subset with its plug-in mixture: both must be kept.
        "Bayesian-2": fitted(
            BayesianGaussianMixture,
            blobs,
            2,
            weight_concentration_prior_type="dirichlet_process",
        ),
        "Bayesian-3": fitted(BayesianGaussianMixture, blobs, 3, covariance_type="diag"),
    }


# Sizes that are not multiples of the block sizes, block sizes that are not multiples of the
# kernels' 32-pixel tiles, ranges reversed and negative.
GRIDS = [
    gmmfast.Grid(97, 61, (-12.0, 9.0), (10.0, -11.0)),
    gmmfast.Grid(70, 45, (15.0, -15.0), (-3.0, 8.0)),
    gmmfast.Grid(1, 1, (0.5, 0.5), (-2.0, -2.0)),
]
# (grid, chunks): block sizes that do not divide the grid, explicit block sizes, one block.
GRID_CHUNKS = [
    (GRIDS[0], 37),
    (GRIDS[0], (13, 50)),
    (GRIDS[0], ((10, 51), (3, 60, 34))),
    (GRIDS[1], (9, 1000)),
    (GRIDS[1], 1000),
    (GRIDS[2], 5),
]


def compute(array, **kwargs):
    result = array.compute(**kwargs)
    assert isinstance(result, np.ndarray) and result.shape == array.shape
    assert result.dtype == array.dtype
    return result


@pytest.mark.parametrize("name", ["Mixture", "GaussianMixture-2", "Bayesian-2", "Bayesian-3"])
@pytest.mark.parametrize(("grid", "chunks"), GRID_CHUNKS)
@pytest.mark.parametrize("rtol", [0.0, 1e-3])
def test_density_and_labels_equal_the_in_memory_functions(models, name, grid, chunks, rtol):
    model = models[name]
    dims_list = [(0, 1), (1, 0)] + ([(2, 0)] if name.endswith("3") or name == "Mixture" else [])
    for dims in dims_list:
        lazy = gd.log_density_grid(model, grid, dims, chunks=chunks, rtol=rtol)
        assert lazy.shape == grid.shape and lazy.dtype == np.float64
        np.testing.assert_array_equal(
            compute(lazy), gmmfast.log_density_grid(model, grid, dims, rtol=rtol)
        )
        labels = gd.label_grid(model, grid, dims, chunks=chunks, rtol=rtol)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(
            compute(labels), gmmfast.label_grid(model, grid, dims, rtol=rtol)
        )


def test_a_bayesian_mixture_over_all_its_features_keeps_its_own_scoring_form(models):
    """The estimator's score (digamma terms) differs from its plug-in mixture's density: the
    Dask version must give the former, like the in-memory one."""
    bgm, grid = models["Bayesian-2"], GRIDS[0]
    lazy = compute(gd.log_density_grid(bgm, grid, chunks=20))
    np.testing.assert_array_equal(lazy, gmmfast.log_density_grid(bgm, grid))
    plug_in = gmmfast.log_density_grid(gmmfast.Mixture.from_sklearn(bgm), grid)
    assert not np.array_equal(lazy, plug_in)
    np.testing.assert_allclose(lazy.ravel(), bgm.score_samples(grid.points()), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["Mixture", "GaussianMixture-3", "Bayesian-3"])
@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rtol", [0.0, 1e-9, 1e-3])
def test_conditional_means_and_stds_equal_the_in_memory_function(models, name, grid, dtype, rtol):
    model = models[name]
    for given_dims, chunks in [((0, 1), 23), ((2, 0), (40, 9))]:
        mean, std = gd.conditional_mean_grid(
            model, grid, given_dims, return_std=True, chunks=chunks, rtol=rtol, dtype=dtype
        )
        expected_mean, expected_std = gmmfast.conditional_mean_grid(
            model, grid, given_dims, return_std=True, rtol=rtol, dtype=dtype
        )
        assert mean.shape == std.shape == (*grid.shape, 1)
        assert mean.chunks[2] == (1,)
        actual_mean, actual_std = dask.compute(mean, std)
        np.testing.assert_array_equal(actual_mean, expected_mean)
        np.testing.assert_array_equal(actual_std, expected_std)
        assert actual_mean.dtype == actual_std.dtype == dtype
        alone = gd.conditional_mean_grid(
            model, grid, given_dims, chunks=chunks, rtol=rtol, dtype=dtype
        )
        np.testing.assert_array_equal(compute(alone), expected_mean)


def test_float32_density_equals_the_in_memory_function(models):
    grid = GRIDS[0]
    lazy = gd.log_density_grid(models["Mixture"], grid, (2, 1), chunks=29, dtype="float32")
    assert lazy.dtype == np.float32
    np.testing.assert_array_equal(
        compute(lazy),
        gmmfast.log_density_grid(models["Mixture"], grid, (2, 1), dtype=np.float32),
    )


@given(
    mixtures(n_features=3, n_components=(1, 24)),
    grids(max_width=90, max_height=90),
    st.sampled_from([0.0, 1e-9, 1e-3]),
    st.data(),
)
def test_any_blocks_fit_together_bitwise(mixture, grid, rtol, data):
    # Up to about 7 × 7 blocks of any size (1-pixel blocks on small grids): every block
    # boundary cuts the kernels' 32-pixel tiles somewhere, and the test stays quick.
    chunks = tuple(data.draw(st.integers(max(1, n // 6), n + 3)) for n in grid.shape)
    np.testing.assert_array_equal(
        compute(gd.log_density_grid(mixture, grid, (2, 0), chunks=chunks, rtol=rtol)),
        gmmfast.log_density_grid(mixture, grid, (2, 0), rtol=rtol),
    )
    np.testing.assert_array_equal(
        compute(gd.label_grid(mixture, grid, chunks=chunks, rtol=rtol)),
        gmmfast.label_grid(mixture, grid, rtol=rtol),
    )
    mean, std = gd.conditional_mean_grid(mixture, grid, return_std=True, chunks=chunks, rtol=rtol)
    expected = gmmfast.conditional_mean_grid(mixture, grid, return_std=True, rtol=rtol)
    for actual, desired in zip(dask.compute(mean, std), expected):
        np.testing.assert_array_equal(actual, desired)


def test_a_window_renders_like_the_in_memory_window(models):
    grid = GRIDS[0][5:60, 11:90]
    model = models["Mixture"]
    np.testing.assert_array_equal(
        compute(gd.log_density_grid(model, grid, chunks=(7, 33), rtol=1e-3)),
        gmmfast.log_density_grid(model, GRIDS[0], rtol=1e-3)[5:60, 11:90],
    )


def test_chunks_are_block_sizes_in_pixels():
    grid = gmmfast.Grid(100, 45)
    model = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    assert gd.log_density_grid(model, grid, chunks=32).chunks == ((32, 13), (32, 32, 32, 4))
    assert gd.label_grid(model, grid, chunks=(45, 100)).chunks == ((45,), (100,))
    assert gd.label_grid(model, grid, chunks=(np.int64(50), 1000)).chunks == ((45,), (100,))
    explicit = ((40, 5), (1, 99))
    assert gd.log_density_grid(model, grid, chunks=explicit).chunks == explicit
    assert gd.log_density_grid(model, grid, chunks=[20, (50, 50)]).chunks == (
        (20, 20, 5),
        (50, 50),
    )
    assert gd.log_density_grid(model, grid).chunks == ((45,), (100,))  # default 1024


def test_the_threaded_scheduler_runs_blocks_in_parallel(models):
    model, grid = models["Mixture"], GRIDS[0]
    expected = gmmfast.log_density_grid(model, grid, rtol=1e-9)
    lazy = gd.log_density_grid(model, grid, chunks=16, rtol=1e-9)
    assert lazy.npartitions > 4
    with dask.config.set(scheduler="threads", num_workers=4):
        np.testing.assert_array_equal(compute(lazy), expected)
    np.testing.assert_array_equal(compute(lazy, scheduler="synchronous"), expected)


class CountBlocks(dask.callbacks.Callback):
    """Counts the tasks run whose key starts with ``prefix``."""

    def __init__(self, prefix):
        super().__init__()
        self.prefix, self.count = prefix, 0

    def _pretask(self, key, dsk, state):
        if isinstance(key, tuple) and str(key[0]).startswith(self.prefix):
            self.count += 1


def test_mean_and_std_come_from_the_same_block_tasks(models):
    model, grid = models["Mixture"], GRIDS[0]
    mean, std = gd.conditional_mean_grid(model, grid, return_std=True, chunks=(30, 40))
    with CountBlocks("gmmfast-conditional-mean-std") as counter:
        dask.compute(mean, std)
    assert counter.count == 3 * 3  # blocks of 61 × 97 pixels, each run once


def tasks_holding(array_bytes, graph):
    return [key for key, task in dict(graph).items() if array_bytes in pickle.dumps(task)]


def parameter_bytes(model):
    return (model.means if isinstance(model, gmmfast.Mixture) else model.means_).tobytes()


@pytest.mark.parametrize("name", ["Mixture-2", "GaussianMixture-2", "Bayesian-2"])
def test_the_model_is_in_the_graph_once(models, name):
    if name == "Mixture-2":
        model = gmmfast.Mixture.from_sklearn(models["GaussianMixture-2"])
    else:
        model = models[name]
    grid = gmmfast.Grid(200, 150)
    arrays = [
        gd.log_density_grid(model, grid, chunks=32),
        gd.label_grid(model, grid, (1, 0), chunks=(40, 64), rtol=1e-3),
    ]
    for array in arrays:
        assert array.npartitions >= 16
        assert len(tasks_holding(parameter_bytes(model), array.__dask_graph__())) == 1
    mixture = models["Mixture"]
    mean, std = gd.conditional_mean_grid(mixture, grid, (0, 2), True, chunks=32)
    # Both views hang off the same tasks: the same single key holds the model.
    holding = [tasks_holding(parameter_bytes(mixture), view.dask) for view in (mean, std)]
    assert len(holding[0]) == 1 and holding[0] == holding[1]


def test_a_marginal_is_reduced_to_its_features_before_it_enters_the_graph(models):
    model = models["GaussianMixture-3"]
    graph = gd.log_density_grid(model, gmmfast.Grid(100, 100), (2, 0), chunks=32).dask
    assert not tasks_holding(parameter_bytes(model), graph)
    marginal = gmmfast.Mixture.from_sklearn(model).marginal((2, 0))
    assert len(tasks_holding(parameter_bytes(marginal), graph)) == 1


def test_equal_inputs_give_equal_keys(models):
    """Dask can share the work of equal arrays: the keys depend on the inputs only."""
    model, grid = models["Mixture"], GRIDS[0]
    a = gd.log_density_grid(model, grid, chunks=20)
    assert a.name == gd.log_density_grid(pickle.loads(pickle.dumps(model)), grid, chunks=20).name
    assert a.name != gd.log_density_grid(model, grid, chunks=20, rtol=1e-3).name
    assert a.name != gd.log_density_grid(model, grid[1:, :], chunks=20).name


# --- a cluster of processes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_a_cluster_of_two_processes_renders_the_same_bits(models, client, tmp_path):
    pytest.importorskip("zarr")
    grid = GRIDS[0]
    bgm, mixture = models["Bayesian-2"], models["Mixture"]
    density = gd.log_density_grid(bgm, grid, chunks=(20, 33), rtol=1e-3)
    labels = gd.label_grid(mixture, grid, (2, 0), chunks=25)
    mean, std = gd.conditional_mean_grid(mixture, grid, (1, 2), True, chunks=(31, 17))
    futures = client.compute([density, labels, mean, std])
    results = client.gather(futures)
    # Both workers took part.
    assert len(client.run(os.getpid)) == 2
    np.testing.assert_array_equal(results[0], gmmfast.log_density_grid(bgm, grid, rtol=1e-3))
    np.testing.assert_array_equal(results[1], gmmfast.label_grid(mixture, grid, (2, 0)))
    expected = gmmfast.conditional_mean_grid(mixture, grid, (1, 2), True)
    np.testing.assert_array_equal(results[2], expected[0])
    np.testing.assert_array_equal(results[3], expected[1])

    # The workers write the blocks of a Zarr store themselves.
    group = gd.render_to_zarr(
        mixture, tmp_path / "c.zarr", grid, "mean", dims=(1, 2), return_std=True, chunks=24
    )
    np.testing.assert_array_equal(group["mean"][...], expected[0])
    np.testing.assert_array_equal(group["std"][...], expected[1])


# --- Zarr ---------------------------------------------------------------------------------------


def test_render_to_zarr_round_trip(models, tmp_path):
    zarr = pytest.importorskip("zarr")
    model, grid = models["Bayesian-3"], GRIDS[0]

    path = tmp_path / "density.zarr"
    returned = gd.render_to_zarr(model, path, grid, dims=(2, 1), chunks=(16, 40), rtol=1e-9)
    expected = gmmfast.log_density_grid(model, grid, (2, 1), rtol=1e-9)
    group = zarr.open_group(str(path), mode="r")
    array = group["log_density"]
    assert array.shape == grid.shape and array.chunks == (16, 40) and array.dtype == np.float64
    np.testing.assert_array_equal(array[...], expected)
    np.testing.assert_array_equal(returned["log_density"][...], expected)
    np.testing.assert_array_equal(
        da.from_zarr(str(path), component="log_density").compute(), expected
    )
    info = group.attrs["gmmfast"]
    assert info["method"] == "density" and info["dims"] == [2, 1] and info["rtol"] == 1e-9
    assert info["grid"] == {
        "width": 97,
        "height": 61,
        "x_range": [-12.0, 9.0],
        "y_range": [10.0, -11.0],
        "origin": [0, 0],
        "shape": [61, 97],
    }
    assert info["version"] == gmmfast.__version__

    gd.render_to_zarr(model, tmp_path / "labels.zarr", grid, "labels", chunks=32)
    labels = zarr.open_group(str(tmp_path / "labels.zarr"), mode="r")["labels"]
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels[...], gmmfast.label_grid(model, grid))

    window = grid[3:50, 20:]
    gd.render_to_zarr(model, tmp_path / "mean.zarr", window, "mean", dtype=np.float32, chunks=20)
    group = zarr.open_group(str(tmp_path / "mean.zarr"), mode="r")
    assert list(group.array_keys()) == ["mean"]
    assert group["mean"].chunks == (20, 20, 1) and group["mean"].dtype == np.float32
    np.testing.assert_array_equal(
        group["mean"][...], gmmfast.conditional_mean_grid(model, window, dtype=np.float32)
    )
    info = group.attrs["gmmfast"]
    assert info["given"] == [0, 1] and info["features"] == [2]
    assert info["grid"]["origin"] == [3, 20] and info["grid"]["shape"] == [47, 77]


def test_render_to_zarr_refuses_to_overwrite_unless_asked(models, tmp_path):
    pytest.importorskip("zarr")
    model, grid = models["Mixture"], GRIDS[1]
    path = tmp_path / "out.zarr"
    gd.render_to_zarr(model, path, grid, chunks=32)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        gd.render_to_zarr(model, path, grid, chunks=32)
    group = gd.render_to_zarr(model, str(path), grid, "labels", overwrite=True, chunks=32)
    assert list(group.array_keys()) == ["labels"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "density-ish"}, ValueError, "method must be one of"),
        ({"return_std": True}, ValueError, "return_std applies to method='mean' only"),
        ({"method": "labels", "dtype": np.float32}, ValueError, "labels are always int64"),
        ({"chunks": ((30, 31), (50, 47))}, TypeError, "pair \\(rows, cols\\) of ints for Zarr"),
        ({"chunks": 0}, ValueError, "chunks along the rows must be >= 1, got 0"),
        ({"rtol": 2.0}, ValueError, r"rtol must be in \[0, 1\)"),
        ({"dims": (0, 0)}, ValueError, "dims must not repeat a feature"),
    ],
)
def test_render_to_zarr_bad_input_writes_nothing(models, tmp_path, kwargs, error, match):
    pytest.importorskip("zarr")
    path = tmp_path / "bad.zarr"
    with pytest.raises(error, match=match):
        gd.render_to_zarr(models["Mixture"], path, GRIDS[1], **kwargs)
    assert not path.exists()


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "error", "match"),
    [
        (0, ValueError, "chunks along the rows must be >= 1, got 0"),
        (-5, ValueError, "chunks along the rows must be >= 1, got -5"),
        ((10, 0), ValueError, "chunks along the columns must be >= 1, got 0"),
        (2.5, TypeError, r"chunks must be an int, a pair .* got 2\.5"),
        ("10", TypeError, "chunks must be an int, a pair .* got '10'"),
        (None, TypeError, "chunks must be an int, a pair .* got None"),
        (True, TypeError, "chunks must be an int, a pair .* got True"),
        ((10.0, 10), TypeError, "chunks along the rows must be an integer, got 10.0"),
        ((10,), ValueError, "got 1 entries"),
        ((10, 10, 3), ValueError, "got 3 entries"),
        (((20, 20), 10), ValueError, r"must sum to the grid's 45 rows, got \(20, 20\) \(sum 40\)"),
        ((10, (50, 0, 50)), ValueError, "each block size along the columns must be >= 1, got 0"),
        ((10, (50, 50.0)), TypeError, "each block size along the columns must be an integer"),
        ((-1, 10), ValueError, "chunks along the rows must be >= 1, got -1"),
        (("auto", 10), TypeError, "chunks along the rows must be an integer"),
    ],
)
def test_bad_chunks(chunks, error, match):
    grid = gmmfast.Grid(100, 45)
    m2 = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    m3 = gmmfast.Mixture([1.0], [[0.0, 0.0, 0.0]], [1.0], "spherical")
    for function, model in [
        (gd.log_density_grid, m2),
        (gd.label_grid, m2),
        (gd.conditional_mean_grid, m3),
    ]:
        with pytest.raises(error, match=match):
            function(model, grid, chunks=chunks)


def unfitted_estimator():
    return GaussianMixture(3)


# (function name, model key or factory, positional arguments after the model, keywords)
REFUSED = [
    ("log_density_grid", "GaussianMixture-3", ("not a grid",), {}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0], (0, 3)), {}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0], (0, 1, 2)), {}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0], (1, 1)), {}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0], "01"), {}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0],), {"rtol": 1.0}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0],), {"rtol": "0"}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0],), {"dtype": np.int32}),
    ("log_density_grid", "GaussianMixture-3", (GRIDS[0],), {"dtype": "banana"}),
    ("log_density_grid", unfitted_estimator, (GRIDS[0],), {}),
    ("log_density_grid", lambda: "a model", (GRIDS[0],), {}),
    ("label_grid", "Bayesian-3", (GRIDS[0], (3, 0)), {}),
    ("label_grid", "Bayesian-3", (GRIDS[0],), {"rtol": -0.5}),
    ("label_grid", unfitted_estimator, (GRIDS[0],), {}),
    ("label_grid", "Mixture", (np.zeros((3, 3)),), {}),
    ("conditional_mean_grid", "GaussianMixture-2", (GRIDS[0],), {}),  # nothing left to predict
    ("conditional_mean_grid", "Mixture", (GRIDS[0], (0,)), {}),
    ("conditional_mean_grid", "Mixture", (GRIDS[0], (0, 5)), {}),
    ("conditional_mean_grid", "Mixture", (GRIDS[0], (0, 1), "yes"), {}),
    ("conditional_mean_grid", "Mixture", (GRIDS[0],), {"rtol": np.nan}),
    ("conditional_mean_grid", "Mixture", (GRIDS[0],), {"dtype": np.float16}),
    ("conditional_mean_grid", unfitted_estimator, (GRIDS[0],), {}),
    ("conditional_mean_grid", "Mixture", (None,), {}),
]


@pytest.mark.parametrize(("name", "model", "args", "kwargs"), REFUSED)
def test_refuses_what_the_in_memory_functions_refuse(models, name, model, args, kwargs):
    """Checked when the graph is built, with the in-memory function's exception and message."""
    model = models[model] if isinstance(model, str) else model()
    with pytest.raises(Exception) as in_memory:  # noqa: PT011 - whatever it raises
        getattr(gmmfast, name)(model, *args, **kwargs)
    assert isinstance(in_memory.value, (ValueError, TypeError, NotFittedError))
    with pytest.raises(type(in_memory.value), match=re.escape(str(in_memory.value))):
        getattr(gd, name)(model, *args, chunks=8, **kwargs)


# --- importing ----------------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )


def test_importing_gmmfast_does_not_import_dask():
    done = run_python(
        """
        import sys, gmmfast
        gmmfast.log_density_grid(gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical"),
                                 gmmfast.Grid(3, 3))
        assert not any(name == "dask" or name.startswith("dask.") for name in sys.modules)
        import gmmfast.dask, dask.array
        assert gmmfast.dask.da is dask.array  # the real Dask, not this module
        """
    )
    assert done.returncode == 0, done.stderr


def test_without_dask_the_import_error_says_how_to_install():
    done = run_python(
        """
        import sys
        sys.modules["dask"] = None  # as if Dask were not installed
        import gmmfast
        try:
            import gmmfast.dask
        except ImportError as exc:
            print(exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "gmmfast[dask]"' in done.stdout
