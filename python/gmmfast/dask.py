"""Render huge grids with Dask: the grid functions of gmmfast as lazy ``dask.array`` arrays.

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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    # Absolute imports: these are the real Dask package, not this module.
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'gmmfast.dask needs Dask: install it with pip install "gmmfast[dask]"'
    ) from exc

from . import _conditional, _density
from ._files import replacing_directory
from ._grid import Grid, as_grid
from ._model import as_mixture, check_marginal, n_features
from ._validation import check_dims, check_float_dtype, check_int, check_return_std, check_rtol

__all__ = [
    "DEFAULT_CHUNKS",
    "conditional_mean_grid",
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
