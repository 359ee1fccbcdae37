"""Render huge grids with Dask — the grid functions of gmmfast as lazy ``dask.array`` arrays —
and fit mixtures on dask arrays too large for one machine (:func:`fit`).

Install with ``pip install "gmmfast[dask]"``. Every function takes the arguments of its
in-memory namesake plus ``chunks`` and returns a ``dask.array.Array`` of the same shape and
dtype, whose values are *bitwise* those of the in-memory function::

    import gmmfast, gmmfast.dask
    grid = gmmfast.Grid(20000, 20000, (0, 639), (0, 426))
    image = gmmfast.dask.log_density_grid(model, grid, chunks=2048)  # lazy, 3.2 GB
    image.to_zarr("density.zarr")  # computed block by block, in bounded memory

How it works
------------
Block ``[r0:r1, c0:c1]`` of the result is the in-memory function applied to the window
``grid[r0:r1, c0:c1]`` of the grid. A window renders bitwise the pixels of the whole grid (its
tiles and culling decisions are those of the whole grid), so the blocks fit together exactly,
whatever the chunk sizes and ``rtol``. No block task builds a point array or an n × K matrix:
a block needs its own output plus O(K) per kernel thread.

The model enters the task graph once, as a single key that every block task depends on: the
threaded scheduler shares one object, ``dask.distributed`` sends it to each worker once. It is
first reduced to the smallest object that renders the same bits: the 2-feature marginal
:class:`gmmfast.Mixture` when ``dims`` names a strict subset of the features (the in-memory
functions render that very marginal); the model as given when ``dims`` names all of them (so a
``BayesianGaussianMixture`` keeps its own scoring form, see :func:`gmmfast.log_density_grid`);
the plug-in ``Mixture`` for the conditional mean.

The kernels release the GIL and run on all cores (``RAYON_NUM_THREADS``), so the threaded
scheduler and a cluster of processes both work; on one machine a few blocks in flight already
keep every core busy.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import pickle
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

try:
    # Absolute imports: these are the real Dask package, not this module.
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'gmmfast.dask needs Dask: install it with pip install "gmmfast[dask]"'
    ) from exc

from . import _conditional, _density, _fit
from ._files import replacing_directory
from ._grid import Grid, as_grid
from ._model import as_mixture, check_marginal, n_features
from ._validation import (
    check_dims,
    check_float_dtype,
    check_int,
    check_real,
    check_return_std,
    check_rtol,
)

__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_INIT_SIZE",
    "conditional_mean_grid",
    "fit",
    "label_grid",
    "log_density_grid",
    "normalize_chunks",
    "render_to_zarr",
]

#: Default block side in pixels: 1024 × 1024 blocks are 8 MiB of float64 log-density, a few
#: tens of milliseconds of kernel time for K = 500, and a multiple of the kernels' 32-pixel tile.
DEFAULT_CHUNKS = 1024


# ---------------------------------------------------------------------------------------------
# chunks


def _axis_chunks(value, size: int, axis: str) -> tuple:
    """Block sizes along one axis of ``size`` pixels from a block size (the last block takes
    the remainder; larger than the axis means one block) or explicit sizes summing to it."""
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes)):
        sizes = tuple(check_int(v, f"each block size along the {axis}", minimum=1) for v in value)
        if sum(sizes) != size:
            raise ValueError(
                f"block sizes along the {axis} must sum to the grid's {size} {axis}, "
                f"got {sizes} (sum {sum(sizes)})"
            )
        return sizes
    step = check_int(value, f"chunks along the {axis}", minimum=1)
    full, rest = divmod(size, step)
    return (step,) * full + ((rest,) if rest else ())


def normalize_chunks(chunks, shape: tuple) -> tuple:
    """``chunks`` as Dask's explicit block sizes ``(row_sizes, column_sizes)`` for an image of
    ``shape`` (height, width).

    Accepts an int ``n`` (n × n blocks), a pair ``(rows, cols)`` of block sizes, or a pair of
    explicit sequences of block sizes per axis (summing to the height and the width), or one
    of each. Block sizes are integers >= 1 (``TypeError`` / ``ValueError`` otherwise); sizes
    larger than the grid give one block along that axis. Dask's ``-1``, ``None`` and ``"auto"``
    are not accepted: a block size is a number of pixels.
    """
    if isinstance(chunks, (Sequence, np.ndarray)) and not isinstance(chunks, (str, bytes)):
        if len(chunks) != 2:
            raise ValueError(
                "chunks must be an int, a pair (rows, cols) or a pair of sequences of block "
                f"sizes for the 2 axes of the image, got {len(chunks)} entries: {chunks!r}"
            )
        rows, cols = chunks
    else:
        if not isinstance(chunks, numbers.Integral) or isinstance(chunks, (bool, np.bool_)):
            raise TypeError(
                "chunks must be an int, a pair (rows, cols) or a pair of sequences of block "
                f"sizes, got {chunks!r} ({type(chunks).__name__})"
            )
        rows = cols = chunks
    return (_axis_chunks(rows, shape[0], "rows"), _axis_chunks(cols, shape[1], "columns"))


# ---------------------------------------------------------------------------------------------
# blocks


def _render_block(model, grid: Grid, render, options: dict, block_info=None):
    """One block: ``render(model, window, **options)`` on the window of ``grid`` that the
    block covers. The image axes are the first two of the output, except for the stacked
    (mean, std) blocks, whose leading axis of 2 comes first."""
    location = block_info[None]["array-location"]
    (r0, r1), (c0, c1) = location[1:3] if render is _mean_and_std else location[:2]
    return render(model, grid[r0:r1, c0:c1], **options)


def _mean_and_std(model, window: Grid, **options) -> np.ndarray:
    """The conditional mean and std of a window stacked as (2, height, width, m), so that one
    task computes both."""
    mean, std = _conditional.conditional_mean_grid(model, window, return_std=True, **options)
    return np.stack((mean, std))


def _lazy(model, grid: Grid, render, options: dict, chunks: tuple, dtype, prefix: str):
    """The dask array of ``render(model, window, **options)`` over the blocks ``chunks`` (the
    output's full chunk structure), with ``model`` in one task.

    ``options`` holds plain Python values (a dtype by its name), which every Dask version
    tokenizes deterministically: in some, ``name=`` is a prefix to which map_blocks adds a
    token of its arguments."""
    # One key for the model: every block task depends on it instead of embedding a copy. The
    # grid (a few numbers) gets one too. Both are named after their contents, and so is the
    # array: equal inputs give equal keys, and Dask can share their work.
    model_token, grid_token = _token(model), _token(grid)
    model_key = dask.delayed(model, name=f"gmmfast-model-{model_token}", traverse=False)
    grid_key = dask.delayed(grid, name=f"gmmfast-grid-{grid_token}", traverse=False)
    name = f"{prefix}-{_token(model_token, grid_token, render.__name__, options, chunks)}"
    return da.map_blocks(
        _render_block,
        model_key,
        grid_key,
        render,
        options,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0,) * len(chunks), dtype=dtype),
        name=name,
    )


def _token(*parts) -> str:
    """A deterministic token of picklable objects. (``dask.base.tokenize`` gives arbitrary
    objects a random token in older Dask versions; pickles are deterministic bytes.)"""
    return dask.base.tokenize(pickle.dumps(parts, protocol=4))


def _density_model(model, dims):
    """(model, dims) that the in-memory grid functions render to the same bits, as small as
    possible. Over a strict subset of the features, the 2-feature marginal ``Mixture`` over
    ``dims`` in that order: the in-memory functions render this very marginal, and the identity
    ``dims`` on it changes nothing. Over all the features, the model as given: the in-memory
    functions then use its own scoring form (for a ``BayesianGaussianMixture``, terms that no
    ``Mixture`` holds), and resolving it the same way in each block gives the same bits."""
    d = n_features(model)
    dims = check_dims(dims, d, length=2)
    if sorted(dims) != list(range(d)):
        return as_mixture(model).marginal(dims), (0, 1)
    return model, dims


# ---------------------------------------------------------------------------------------------
# public functions


def log_density_grid(
    model, grid: Grid, dims=(0, 1), *, chunks=DEFAULT_CHUNKS, rtol=0.0, dtype=np.float64
):
    """Lazy :func:`gmmfast.log_density_grid`: log-density of the marginal over ``dims`` at
    every pixel, as a ``dask.array.Array``.

    Parameters
    ----------
    model, grid, dims, rtol, dtype
        As for :func:`gmmfast.log_density_grid` (checked now, with the same exceptions).
    chunks : int, (int, int) or (sequence of int, sequence of int), default=1024
        Block sizes in pixels along (rows, columns); see :func:`normalize_chunks`.

    Returns
    -------
    dask.array.Array of shape (grid.height, grid.width) and ``dtype``
        Bitwise equal to ``gmmfast.log_density_grid(model, grid, dims, rtol=rtol,
        dtype=dtype)``. Computing it needs, per block in flight, the block plus O(K) per
        kernel thread.
    """
    grid = as_grid(grid)
    check_marginal(model, dims, length=2)  # the in-memory function's checks, in its order
    rtol = check_rtol(rtol)
    dtype = check_float_dtype(dtype)
    blocks = normalize_chunks(chunks, grid.shape)
    small, dims = _density_model(model, dims)
    options = {"dims": dims, "rtol": rtol, "dtype": dtype.name}
    return _lazy(
        small, grid, _density.log_density_grid, options, blocks, dtype, "gmmfast-log-density"
    )


def label_grid(model, grid: Grid, dims=(0, 1), *, chunks=DEFAULT_CHUNKS, rtol=0.0):
    """Lazy :func:`gmmfast.label_grid`: the most responsible component of the marginal over
    ``dims`` at every pixel, as an int64 ``dask.array.Array`` of shape
    (grid.height, grid.width), bitwise equal to the in-memory result. ``chunks`` as for
    :func:`log_density_grid`."""
    grid = as_grid(grid)
    check_marginal(model, dims, length=2)
    rtol = check_rtol(rtol)
    blocks = normalize_chunks(chunks, grid.shape)
    small, dims = _density_model(model, dims)
    options = {"dims": dims, "rtol": rtol}
    return _lazy(small, grid, _density.label_grid, options, blocks, np.int64, "gmmfast-labels")


def conditional_mean_grid(
    model,
    grid: Grid,
    given=(0, 1),
    return_std=False,
    *,
    chunks=DEFAULT_CHUNKS,
    rtol=0.0,
    dtype=np.float64,
):
    """Lazy :func:`gmmfast.conditional_mean_grid`: E[rest | given] at every pixel.

    Parameters
    ----------
    model, grid, given, return_std, rtol, dtype
        As for :func:`gmmfast.conditional_mean_grid` (checked now, with the same exceptions).
    chunks : int, (int, int) or (sequence of int, sequence of int), default=1024
        Block sizes in pixels along (rows, columns); the last axis (the m = n_features − 2
        remaining features) is always one block.

    Returns
    -------
    mean : dask.array.Array of shape (grid.height, grid.width, m) and ``dtype``
    std : dask.array.Array of the same shape and chunks, if ``return_std``
        Bitwise equal to the in-memory results. With ``return_std`` one task per block
        computes both (they come from the same pass of the kernel) as a (2, rows, cols, m)
        block, and ``mean`` and ``std`` are views of its two halves: compute them together
        (``dask.compute(mean, std)``, ``da.store([mean, std], ...)``) to run each block once;
        computing only one of them still computes both.
    """
    grid, mixture, given, return_std, rtol, dtype = _conditional.grid_arguments(
        model, grid, given, return_std, rtol, dtype
    )
    rows, cols = normalize_chunks(chunks, grid.shape)
    m = mixture.n_features - 2
    options = {"given": given, "rtol": rtol, "dtype": dtype.name}
    if not return_std:
        return _lazy(
            mixture,
            grid,
            _conditional.conditional_mean_grid,
            options,
            (rows, cols, (m,)),
            dtype,
            "gmmfast-conditional-mean",
        )
    both = _lazy(
        mixture,
        grid,
        _mean_and_std,
        options,
        ((2,), rows, cols, (m,)),
        dtype,
        "gmmfast-conditional-mean-std",
    )
    return both[0], both[1]


# ---------------------------------------------------------------------------------------------
# Zarr

_METHODS = ("density", "labels", "mean")


def _zarr():
    try:
        import zarr
    except ImportError as exc:
        raise ImportError(
            'writing Zarr stores needs zarr: install it with pip install "gmmfast[dask]"'
        ) from exc
    return zarr


def _create_array(group, name: str, shape: tuple, chunks: tuple, dtype):
    """An empty array in ``group``, with zarr 3's or zarr 2's API."""
    if int(_zarr().__version__.split(".")[0]) >= 3:
        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype)
    return group.create_dataset(name, shape=shape, chunks=chunks, dtype=dtype)


def render_to_zarr(
    model,
    store,
    grid: Grid,
    method="density",
    *,
    dims=(0, 1),
    return_std=False,
    chunks=DEFAULT_CHUNKS,
    rtol=0.0,
    dtype=None,
    overwrite=False,
):
    """Render ``model`` on ``grid`` block by block into a new Zarr group at ``store``.

    Memory stays bounded by the blocks in flight, whatever the size of the grid: each block is
    rendered, compressed and written by the task that computes it. Runs on Dask's current
    scheduler: the threaded one by default, a ``dask.distributed`` cluster if a ``Client`` is
    active (its workers must see ``store``).

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    store : str, os.PathLike or a Zarr store
        Where to create the group (a directory for a path).
    grid : Grid
    method : {"density", "labels", "mean"}, default="density"
        What to render: :func:`log_density_grid` into array ``"log_density"``,
        :func:`label_grid` into ``"labels"`` (int64), or :func:`conditional_mean_grid` into
        ``"mean"`` (and ``"std"`` with ``return_std``).
    dims : pair of int, default=(0, 1)
        The features that take a pixel's x and y: ``dims`` of the density and the labels,
        ``given`` of the conditional mean.
    return_std : bool, default=False
        With ``method="mean"``, also write the conditional standard deviations.
    chunks : int or (int, int), default=1024
        Block sizes in pixels along (rows, columns); they are also the Zarr chunks (the last
        axis of the mean is one chunk).
    rtol : float in [0, 1), default=0
    dtype : numpy.float64 or numpy.float32, optional
        Of the density and the mean (default float64); not accepted for labels.
    overwrite : bool, default=False
        Replace anything at ``store``; otherwise an existing path is a ``FileExistsError``.

    For a path, the group is written into a new directory beside ``store`` (named
    ``.NAME.XXXXXXXX.tmp``) and renamed to ``store`` once every block is written; if the render
    fails or is interrupted (``KeyboardInterrupt``), that directory is removed and ``store``
    is left as it was (absent, or with ``overwrite`` its old contents). A Zarr store object is
    written in place.

    Returns
    -------
    zarr.Group
        The group written. It holds the arrays named above, of shape
        (grid.height, grid.width) or (grid.height, grid.width, m), and in
        ``attrs["gmmfast"]`` what was rendered: method, dims (``given`` for the mean), rtol,
        the grid (width, height, x_range, y_range of the whole grid and the
        window's origin and shape), the gmmfast version, and for the mean the indices of the
        remaining features.

    Read it back with ``zarr.open_group(store)["log_density"]`` or
    ``dask.array.from_zarr(store, component="log_density")``.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    return_std = check_return_std(return_std)
    if return_std and method != "mean":
        raise ValueError(f"return_std applies to method='mean' only, got method={method!r}")
    if method == "labels" and dtype is not None:
        raise ValueError(f"labels are always int64; dtype does not apply, got dtype={dtype!r}")
    if not (isinstance(chunks, numbers.Integral) or _is_pair_of_ints(chunks)):
        # Zarr chunks are regular: one size per axis.
        raise TypeError(
            f"chunks must be an int or a pair (rows, cols) of ints for Zarr, got {chunks!r}"
        )
    dtype = np.float64 if dtype is None else dtype

    if method == "density":
        arrays = {
            "log_density": log_density_grid(
                model, grid, dims, chunks=chunks, rtol=rtol, dtype=dtype
            )
        }
    elif method == "labels":
        arrays = {"labels": label_grid(model, grid, dims, chunks=chunks, rtol=rtol)}
    else:
        result = conditional_mean_grid(
            model, grid, dims, return_std, chunks=chunks, rtol=rtol, dtype=dtype
        )
        arrays = dict(zip(("mean", "std"), result)) if return_std else {"mean": result}

    zarr = _zarr()
    description = _description(model, grid, method, dims, rtol)
    if not isinstance(store, (str, os.PathLike)):  # a Zarr store object: written in place
        group = zarr.open_group(store, mode="w" if overwrite else "w-")
        _store_arrays(group, arrays, description)
        return group
    if not overwrite and os.path.lexists(store):
        raise FileExistsError(f"{os.fspath(store)!r} exists; pass overwrite=True to replace it")
    # Written into a new directory beside ``store`` and moved into place when complete: a
    # failed or interrupted render leaves no partial store behind (and whatever was at
    # ``store`` untouched).
    joined = _joined_threads(list(arrays.values()))
    with replacing_directory(store, overwrite=overwrite) as temporary, joined:
        _store_arrays(zarr.open_group(temporary, mode="w"), arrays, description)
    return zarr.open_group(os.fspath(store), mode="r+")


@contextlib.contextmanager
def _joined_threads(collections: list):
    """Run Dask's threaded scheduler on a pool of our own and wait for its running tasks on
    the way out: when a block fails or Ctrl-C stops the wait, Dask raises at once while the
    blocks already started go on writing, and they must finish before the temporary store is
    removed (or they would write into it again). Other schedulers are left as they are."""
    import dask.threaded
    from dask.base import get_scheduler

    if get_scheduler(collections=collections) is not dask.threaded.get:
        yield
        return
    pool = ThreadPoolExecutor(dask.threaded.CPU_COUNT)
    try:
        with dask.config.set(pool=pool):
            yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _store_arrays(group, arrays: dict, description: dict) -> None:
    group.attrs["gmmfast"] = description
    targets = [
        _create_array(group, name, array.shape, tuple(c[0] for c in array.chunks), array.dtype)
        for name, array in arrays.items()
    ]
    # Zarr chunks are the Dask blocks, so no two tasks write to the same chunk: no lock needed.
    da.store(list(arrays.values()), targets, lock=False)


def _is_pair_of_ints(value) -> bool:
    return (
        isinstance(value, (Sequence, np.ndarray))
        and not isinstance(value, (str, bytes))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) for v in value)
    )


def _description(model, grid: Grid, method: str, dims, rtol) -> dict:
    from ._core import __version__

    whole = grid.whole
    description = {
        "version": __version__,
        "method": method,
        "dims" if method != "mean" else "given": [int(d) for d in dims],
        "rtol": float(rtol),
        "grid": {
            "width": whole.width,
            "height": whole.height,
            "x_range": list(whole.x_range),
            "y_range": list(whole.y_range),
            "origin": list(grid.origin),
            "shape": list(grid.shape),
        },
    }
    if method == "mean":
        given = [int(d) for d in dims]
        description["features"] = [i for i in range(n_features(model)) if i not in given]
    return description


# ---------------------------------------------------------------------------------------------
# fitting

#: Default number of rows of the uniform subsample on which :func:`fit` runs scikit-learn's
#: initialisation when the ``*_init`` arrays do not give every parameter: 100,000 rows of d
#: float64 features are 0.8·d MB on the client, and k-means on them takes seconds for K ≈ 1000.
DEFAULT_INIT_SIZE = 100_000

# Partial statistics summed per task of the reduction tree (a fixed tree: see _tree_sum).
_SPLIT_EVERY = 8


class _Sums(NamedTuple):
    """The E-step sums over some rows (:class:`gmmfast._fit.Statistics` without the shift,
    which every block of one iteration shares) and their total weight."""

    log_lik: float
    total: float
    mass: np.ndarray
    first: np.ndarray
    second: np.ndarray


def fit(estimator, X, sample_weight=None, *, init_size=DEFAULT_INIT_SIZE):
    """Fit a Gaussian mixture with EM on a ``dask.array`` too large for one machine.

    Each EM iteration is one map-reduce over the row blocks of ``X``: the current parameters
    are sent once (scattered to every worker of an active ``dask.distributed`` client, one
    key of the graph on the threaded scheduler), every block computes the E-step's sums on
    its rows (:func:`gmmfast._fit.e_step`: mass N_k, Σ r·(x − μ_k) and Σ r·(x − μ_k)(x − μ_k)ᵀ
    around the current means, and Σ w log p(x)), the block sums are added up a fixed tree
    (blocks in order, groups of 8 per task), and the M-step runs on the client. The lower
    bound, the convergence rule (|change| < ``tol``), ``n_init``, ``warm_start``, ``verbose``
    and the ``ConvergenceWarning`` are those of :class:`gmmfast.GaussianMixture`.

    Parameters
    ----------
    estimator : gmmfast.GaussianMixture or sklearn.mixture.GaussianMixture
        Its hyper-parameters are used (``n_components``, ``covariance_type``, ``tol``,
        ``reg_covar``, ``max_iter``, ``n_init``, ``init_params``, the ``*_init`` arrays,
        ``random_state``, ``warm_start``, ``verbose``, ``rtol``). A ``gmmfast`` estimator is
        fitted in place and returned; a scikit-learn one is left unchanged and a
        ``gmmfast.GaussianMixture`` with the same parameters (and, with ``warm_start``, its
        fitted state) is fitted and returned.
    X : dask.array.Array of shape (n_samples, n_features)
        Real numbers (float32 and float64 as they are, other numbers as float64). Blocks are
        rechunked to hold every column; the row blocks are kept. Chunk sizes must be known
        (``X.compute_chunk_sizes()``). A NumPy array is accepted too and wrapped with
        ``dask.array.from_array``. Each iteration reads every block once: ``X.persist()`` it
        first if it fits in the cluster's memory and is expensive to compute.
    sample_weight : dask.array.Array, array-like of shape (n_samples,) or float, optional
        Non-negative weights of the rows (None: all 1), rechunked to the row blocks of ``X``.
        Integer weights fit as repeated rows, zero weights as rows left out.
    init_size : int, default=100_000
        When the ``*_init`` arrays do not give all of the weights, means and precisions,
        scikit-learn's initialisation (``init_params``, exactly as
        :class:`gmmfast.GaussianMixture` runs it) runs on the client on a uniform random
        subsample of ``min(init_size, n_samples)`` distinct rows, in their order in ``X``,
        drawn from ``random_state`` before the initialisation draws. With ``n_samples <=
        init_size`` every row is used and nothing is drawn, so the fit is then that of
        ``gmmfast.GaussianMixture(...).fit(X)`` with the same ``random_state``.
        The ``*_init`` arrays that are given replace what the initialisation computes; when
        all three are given no data is read for the initialisation.

    Returns
    -------
    gmmfast.GaussianMixture
        Fitted: ``weights_`` (K,), ``means_`` (K, d), ``covariances_``,
        ``precisions_``, ``precisions_cholesky_`` (in scikit-learn's layout for the
        covariance type), ``converged_``, ``n_iter_``, ``lower_bound_`` and
        ``lower_bounds_`` (per iteration: Σ w log p(x) / Σ w, in nats per sample) and
        ``n_features_in_``. Float32 ``X`` gives float32 parameters, as in memory.

    Raises
    ------
    ValueError
        As :meth:`gmmfast.GaussianMixture.fit` for the same input: X not 2-D, fewer than 2 rows
        or ``n_components`` rows, complex or text values, NaN or infinity (found by the block
        that holds it, during the first pass, naming its rows), negative, non-finite or
        all-zero weights or weights of the wrong shape, ``*_init`` arrays of the wrong shape,
        or an ill-defined covariance.
    TypeError
        For an estimator that is not a ``GaussianMixture`` (a ``BayesianGaussianMixture`` is
        not: its variational M-step is another algorithm), or a Dask DataFrame as ``X``.

    Notes
    -----
    From the same initialisation the result equals the in-memory
    ``gmmfast.GaussianMixture(...).fit(X)`` to rounding (the sums are added in another
    order): in exact mode (``rtol=0``) every ``lower_bounds_`` entry and parameter within
    1e-10 relative on well-conditioned data, whatever the chunks (the tests assert 1e-10 for
    every covariance type, with and without weights; the largest difference seen is 7e-15).
    For a given chunking the result is bitwise the same on any scheduler and any number of
    workers or threads.
    With ``rtol > 0`` the truncation is certified per block of points, so the dropped terms
    (each at most ``rtol`` of a point's responsibility) depend on the chunking.

    Memory: the client holds the parameters, a few sets of sums (K·(1 + d + d²) floats each)
    and, for the initialisation, ``min(init_size, n_samples)`` rows. A block task holds its
    block (rows × d, plus a float64 copy for other dtypes), its weights, and the kernel's
    sums: K·(1 + d + d²) floats per kernel thread; a reduction task holds at most 8 sets of
    sums. Neither X nor any (n_samples × K) array is ever formed anywhere.
    """
    from sklearn.utils import check_random_state

    estimator = _gmmfast_estimator(estimator)
    estimator._validate_params()  # scikit-learn's checks of the hyper-parameters
    init_size = check_int(init_size, "init_size", minimum=1)
    X, dtype = _dask_points(X, estimator.n_components)
    n, d = X.shape
    weights = _dask_weights(sample_weight, X)
    _check_init_arrays(estimator, d)
    estimator.n_features_in_ = d
    if hasattr(estimator, "feature_names_in_"):  # a dask array has no column names
        del estimator.feature_names_in_

    do_init = not (estimator.warm_start and hasattr(estimator, "converged_"))
    random_state = check_random_state(estimator.random_state)
    given = (estimator.weights_init, estimator.means_init, estimator.precisions_init)
    from_data = do_init and any(p is None for p in given)
    if from_data:
        m = min(init_size, n)
        if m < estimator.n_components:
            raise ValueError(
                f"init_size must be at least n_components = {estimator.n_components} "
                f"(the initialisation runs on min(init_size, n_samples) rows), got {init_size}"
            )
        indices = _subsample_indices(n, m, random_state)
        init_X, init_points, init_weights = _rows(X, weights, indices, dtype)

    scheduler = dask.base.get_scheduler(collections=[X])
    client = _distributed_client(scheduler)
    blocks = list(X.to_delayed().ravel())
    weight_blocks = [None] * len(blocks) if weights is None else list(weights.to_delayed())
    starts = np.concatenate(([0], np.cumsum(X.chunks[0])[:-1])).tolist()
    run = f"gmmfast-em-{uuid.uuid4().hex}"
    totals: list = []  # Σ w, from the first pass (the same in every pass)

    def iteration(params, key: str) -> _Sums:
        sums = _map_reduce(params, blocks, weight_blocks, starts, estimator, scheduler, client, key)
        if not totals:
            if not sums.total > 0:
                raise ValueError("Sample weights must contain at least one non-zero number.")
            totals.append(sums.total)
        return sums

    def start() -> _fit.Parameters:
        if from_data:
            return estimator._initial_parameters(init_X, init_points, init_weights, random_state)
        return _given_parameters(estimator)

    def step(params: _fit.Parameters, tag: str) -> tuple:
        sums = iteration(params, f"{run}-{tag}")
        stats = _fit.Statistics(sums.log_lik, sums.mass, sums.first, sums.second, params.means)
        return stats, totals[0]

    estimator._run_em(start, step, dtype)
    return estimator


def _gmmfast_estimator(estimator):
    """``estimator`` if it is a ``gmmfast.GaussianMixture``; for another scikit-learn
    ``GaussianMixture``, a new ``gmmfast.GaussianMixture`` with its parameters (and, if it
    will warm-start, its fitted state)."""
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    from ._estimator import GaussianMixture

    if isinstance(estimator, GaussianMixture):
        return estimator
    if not isinstance(estimator, SklearnGaussianMixture):
        raise TypeError(
            "estimator must be a gmmfast.GaussianMixture or a sklearn.mixture.GaussianMixture, "
            f"got {type(estimator).__name__}"
        )
    names = GaussianMixture._get_param_names()
    params = estimator.get_params(deep=False)
    converted = GaussianMixture(**{k: v for k, v in params.items() if k in names})
    if estimator.warm_start and hasattr(estimator, "converged_"):
        for name in (
            "weights_",
            "means_",
            "covariances_",
            "precisions_",
            "precisions_cholesky_",
            "converged_",
            "n_iter_",
            "lower_bound_",
            "lower_bounds_",
            "n_features_in_",
        ):
            if hasattr(estimator, name):
                setattr(converted, name, getattr(estimator, name))
    return converted


def _dask_points(X, n_components: int):
    """``(X, dtype)``: ``X`` as a 2-D dask array of known chunks whose blocks hold every column,
    and the dtype of the fitted parameters (float32 for float32 X, float64 otherwise);
    scikit-learn's exceptions for what ``validate_data`` refuses (except NaN and infinity,
    which the blocks check)."""
    if hasattr(X, "to_dask_array"):
        raise TypeError(
            "X must be a dask.array.Array, got a Dask DataFrame: pass X.to_dask_array(lengths=True)"
        )
    if not isinstance(X, da.Array):
        check_real(X, "X")
        X = da.from_array(np.asarray(X))
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError("Complex data not supported")
    if kind not in "biuf":
        raise ValueError(f"X must be an array of real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead: X has shape {X.shape}. Reshape "
            "your data either using X.reshape(-1, 1) if your data has a single feature or "
            "X.reshape(1, -1) if it contains a single sample."
        )
    if any(np.isnan(size) for size in X.chunks[0] + X.chunks[1]):
        raise ValueError(
            "X has unknown chunk sizes: call X.compute_chunk_sizes() (or pass lengths=True to "
            "to_dask_array) before fitting"
        )
    n, d = X.shape
    for count, what, minimum in ((n, "sample", 2), (d, "feature", 1)):
        if count < minimum:
            raise ValueError(
                f"Found array with {count} {what}(s) (shape={X.shape}) while a minimum of "
                f"{minimum} is required by GaussianMixture."
            )
    if n < n_components:
        raise ValueError(
            "Expected n_samples >= n_components "
            f"but got n_components = {n_components}, n_samples = {n}"
        )
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    dtype = np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
    return X, dtype


def _dask_weights(sample_weight, X):
    """The sample weights as a 1-D float dask array with the row chunks of ``X``, or None.
    Shapes, dtypes and (for weights given in memory) values are checked now, with
    scikit-learn's messages; the blocks of a dask array are checked by the tasks."""
    if sample_weight is None:
        return None
    n, chunks = X.shape[0], (X.chunks[0],)
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, (bool, np.bool_)):
        sample_weight = np.full(n, float(sample_weight))
    if not isinstance(sample_weight, da.Array):
        check_real(sample_weight, "sample_weight")
        sample_weight = np.asarray(sample_weight)
    if sample_weight.dtype.kind == "c":
        raise ValueError("Complex data not supported")
    if sample_weight.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must hold real numbers, got dtype {sample_weight.dtype}")
    if sample_weight.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {sample_weight.ndim}D array. "
            f"Expected either a scalar value or a 1D array of length {n}."
        )
    if sample_weight.shape != (n,):
        raise ValueError(f"sample_weight.shape == {sample_weight.shape}, expected {(n,)}!")
    if isinstance(sample_weight, da.Array):
        return sample_weight.rechunk(chunks)
    _check_weight_values(sample_weight, 0)
    if not np.any(sample_weight):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return da.from_array(sample_weight, chunks=chunks)


def _check_finite(values: np.ndarray, name: str, start: int) -> None:
    """scikit-learn's ``ValueError`` for NaN or infinity in ``values`` (rows from ``start``)."""
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return
    row = start + int(np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(1))[0])
    problem = (
        "NaN" if np.isnan(values).any() else f"infinity or a value too large for {values.dtype!r}"
    )
    raise ValueError(f"Input {name} contains {problem}. (First at row {row}.)")


def _check_weight_values(weights: np.ndarray, start: int) -> None:
    _check_finite(weights, "sample_weight", start)
    if weights.size and weights.min() < 0:
        row = start + int(np.flatnonzero(weights < 0)[0])
        raise ValueError(
            f"Negative values in data passed to `sample_weight`. (First at row {row}.)"
        )


def _check_init_arrays(estimator, n_features: int) -> None:
    """scikit-learn's checks of the ``*_init`` arrays against ``n_features`` (the estimator's
    ``_check_parameters``, which replaces them by their checked arrays)."""
    from sklearn.utils._array_api import get_namespace

    shape_only = np.empty((0, n_features))
    estimator._check_parameters(shape_only, xp=get_namespace(shape_only)[0])


def _given_parameters(estimator) -> _fit.Parameters:
    """The initial parameters when the three ``*_init`` arrays give all of them (checked)."""
    return _fit.given_parameters(
        estimator.weights_init,
        estimator.means_init,
        estimator.precisions_init,
        estimator.covariance_type,
    )


def _subsample_indices(n: int, size: int, random_state: np.random.RandomState) -> np.ndarray:
    """``size`` distinct row indices in [0, n), sorted, every subset equally likely, drawn from
    ``random_state`` in O(size) memory; all rows (and no draw) when ``size >= n``.

    Uniform because the draw treats every index alike (a permutation of the indices maps the
    procedure to itself): indices drawn with replacement, duplicates dropped, the missing ones
    drawn again. When ``size`` is at least half of ``n``, a permutation (O(n) = O(size))."""
    if size >= n:
        return np.arange(n)
    if 2 * size >= n:
        return np.sort(random_state.permutation(n)[:size])
    chosen = np.unique(random_state.randint(0, n, size=size, dtype=np.int64))
    while len(chosen) < size:
        extra = random_state.randint(0, n, size=size - len(chosen), dtype=np.int64)
        chosen = np.union1d(chosen, extra)
    return chosen


def _rows(X, weights, indices: np.ndarray, dtype) -> tuple:
    """``(X_rows, points, weights)`` of the rows ``indices`` (sorted) on the client: X's rows
    as the in-memory estimator's validated X (float32 or float64), the same rows as C float64
    for the kernels, and their weights (or None); NaN, infinity and bad weights refused."""
    starts = np.concatenate(([0], np.cumsum(X.chunks[0])))
    bounds = np.searchsorted(indices, starts)
    x_blocks = X.to_delayed().ravel()
    w_blocks = None if weights is None else weights.to_delayed()
    parts = []
    for b in range(len(x_blocks)):
        local = indices[bounds[b] : bounds[b + 1]] - starts[b]
        if len(local):
            w = None if w_blocks is None else w_blocks[b]
            parts.append(dask.delayed(_take_rows, pure=True)(x_blocks[b], w, local))
    (taken,) = dask.compute(parts)
    rows = np.concatenate([t[0] for t in taken]).astype(dtype, copy=False)
    _check_finite(rows, "X", 0)  # rows of the subsample: the E-step names the row in X
    points = np.ascontiguousarray(rows, dtype=np.float64)
    if weights is None:
        return rows, points, None
    w = np.concatenate([t[1] for t in taken]).astype(np.float64, copy=False)
    _check_weight_values(w, 0)
    return rows, points, w


def _take_rows(block, weights, local):
    return block[local], None if weights is None else np.asarray(weights)[local]


def _distributed_client(scheduler):
    """The ``distributed.Client`` whose ``get`` is ``scheduler``, or None. Imports nothing:
    a client exists only if ``distributed`` has been imported."""
    import sys

    distributed = sys.modules.get("distributed")
    client = getattr(scheduler, "__self__", None)
    if distributed is not None and isinstance(client, distributed.Client):
        return client
    return None


def _map_reduce(params, blocks, weight_blocks, starts, estimator, scheduler, client, key):
    """One E-step over every block: the sums of all rows, added up a fixed tree."""
    if client is not None:
        # Sent to every worker now, once; the tasks refer to it by its key.
        [params_key] = client.scatter([params], broadcast=True, hash=False)
    else:
        params_key = dask.delayed(params, name=f"{key}-params", traverse=False)
    covariance_type, rtol = estimator.covariance_type, float(estimator.rtol)
    parts = [
        dask.delayed(_block_sums, pure=False)(
            block, w, params_key, covariance_type, rtol, start, dask_key_name=f"{key}-block-{i}"
        )
        for i, (block, w, start) in enumerate(zip(blocks, weight_blocks, starts))
    ]
    (sums,) = dask.compute(_tree_sum(parts, key), scheduler=scheduler)
    return sums


def _block_sums(block, weights, params, covariance_type: str, rtol: float, start: int) -> _Sums:
    """The E-step sums over one block of rows (starting at row ``start`` of X), after
    scikit-learn's checks of its values."""
    _check_finite(block, "X", start)
    points = _aligned(block)
    w = None
    if weights is not None:
        w = _aligned(weights)
        _check_weight_values(w, start)
    # Arrays that come out of distributed's serialisation may not be aligned, which the kernels
    # refuse (as "not C-contiguous"): copied if so, like the block.
    params = params._replace(
        weights=_aligned(params.weights),
        means=_aligned(params.means),
        precisions_cholesky=_aligned(params.precisions_cholesky),
    )
    k, d = params.means.shape
    if len(points) == 0:
        return _Sums(0.0, 0.0, np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d)))
    stats = _fit.e_step(params, covariance_type, points, w, rtol)
    total = float(len(points)) if w is None else float(w.sum())
    return _Sums(stats.log_lik, total, stats.mass, stats.first, stats.second)


def _aligned(array) -> np.ndarray:
    """``array`` as a C-contiguous, aligned float64 array (a copy only if it is not one)."""
    return np.require(array, dtype=np.float64, requirements=["C", "A"])


def _add_sums(*parts: _Sums) -> _Sums:
    """The sum of ``parts``, added in the order given."""
    first = parts[0]
    log_lik, total = first.log_lik, first.total
    mass, s1, s2 = first.mass.copy(), first.first.copy(), first.second.copy()
    for part in parts[1:]:
        log_lik += part.log_lik
        total += part.total
        mass += part.mass
        s1 += part.first
        s2 += part.second
    return _Sums(log_lik, total, mass, s1, s2)


def _tree_sum(parts: list, key: str):
    """The delayed sum of ``parts`` along a tree fixed by their order: consecutive groups of
    ``_SPLIT_EVERY`` are added in order, level after level. The additions, and so the
    rounding, do not depend on where or when the tasks run."""
    level = 0
    while len(parts) > 1:
        parts = [
            dask.delayed(_add_sums, pure=False)(
                *parts[i : i + _SPLIT_EVERY], dask_key_name=f"{key}-sum-{level}-{i}"
            )
            for i in range(0, len(parts), _SPLIT_EVERY)
        ]
        level += 1
    return parts[0]
