"""EM on a dask array with gmmfast.dask.fit: time per iteration against the in-memory fit.

Data: the (x, y, r, g, b) of every pixel of scikit-learn's ``flower.jpg`` (427 × 640 =
273,280 points, 5-D), optionally tiled ``--tile`` times (with the copies' x shifted by the
image width, so they are distinct points). Model: ``--components`` full-covariance
components started from the same ``*_init`` arrays (means on random pixels, equal weights,
precisions of a 30-unit standard deviation) in every configuration, ``--iterations`` EM
iterations (``tol=0``, so every configuration runs them all):

* ``in memory``: ``gmmfast.GaussianMixture.fit`` on the NumPy array (the baseline);
* ``threads``: ``gmmfast.dask.fit`` on ``dask.array.from_array(X, chunks=(CHUNKS, 5))``, Dask's
  threaded scheduler in this process;
* ``cluster, N worker(s)``: the same on a ``LocalCluster`` of N processes × 1 thread, the
  kernels in each using cores / N threads (``RAYON_NUM_THREADS``), X persisted on the workers
  first (as the docs advise for data that fits in the cluster's memory).

Reported: the median time of a whole fit over ``--repeat`` fits, and per EM iteration (the
fit's time minus that of the same fit with ``max_iter=0``, divided by the iterations: the
in-memory estimator currently runs its k-means even when all three ``*_init`` arrays are
given, which the Dask path does not), its ratio to the in-memory fit's, peak extra memory of
this process (the client) during a fit, and the relative difference of the final
``lower_bound_`` from the in-memory one.

    python benchmarks/bench_dask_fit.py [--components 100] [--iterations 5] [--chunks 50000]
                                        [--tile 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn.datasets import load_sample_image
from sklearn.exceptions import ConvergenceWarning

import gmmfast
import gmmfast.dask
from _harness import machine, measure
from gmmfast.image import color_points


def data(tile: int) -> np.ndarray:
    points = color_points(load_sample_image("flower.jpg"))
    width = points[:, 0].max() + 1
    copies = [points + np.array([width * i, 0, 0, 0, 0]) for i in range(tile)]
    return np.concatenate(copies)


def estimator(X: np.ndarray, k: int, iterations: int) -> gmmfast.GaussianMixture:
    """K full components from fixed ``*_init`` arrays; ``tol=0``: exactly ``iterations``."""
    rng = np.random.default_rng(0)
    d = X.shape[1]
    return gmmfast.GaussianMixture(
        n_components=k,
        tol=0.0,
        max_iter=iterations,
        weights_init=np.full(k, 1.0 / k),
        means_init=X[rng.choice(len(X), k, replace=False)],
        precisions_init=np.repeat(np.eye(d)[None] / 30.0**2, k, axis=0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=50_000, help="rows per block")
    parser.add_argument("--tile", type=int, default=1, help="copies of the image's pixels")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)

    X = data(args.tile)
    n, d = X.shape
    k, its = args.components, args.iterations
    print(f"# gmmfast.dask.fit: flower.jpg (x, y, r, g, b), K={k} full, {its} EM iterations\n")
    print(f"machine: {machine()}; dask {dask.__version__}")
    blocks = -(-n // args.chunks)
    print(f"data: {n:,} × {d} float64 ({X.nbytes / 2**20:,.0f} MiB), {blocks} blocks\n")

    rows = []

    def timed(name: str, fit) -> tuple:
        """(name, fit time, init-only time, peak bytes, lower bound) of ``fit(max_iter)``."""
        whole = measure(name, lambda: fit(its).lower_bound_, repeat=args.repeat)
        init = measure(name, lambda: fit(0).n_iter_, repeat=args.repeat)
        return (name, whole.median, init.median, whole.peak_bytes, fit(its).lower_bound_)

    rows.append(timed("in memory: GaussianMixture.fit", lambda m: estimator(X, k, m).fit(X)))
    reference = rows[0][-1]

    dX = da.from_array(X, chunks=(args.chunks, d))
    with dask.config.set(scheduler="threads"):
        rows.append(
            timed("threads: gmmfast.dask.fit", lambda m: gmmfast.dask.fit(estimator(X, k, m), dX))
        )

    from distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    for n_workers in args.workers:
        kernel_threads = max(1, cores // n_workers)
        cluster = LocalCluster(
            n_workers=n_workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            env={"RAYON_NUM_THREADS": str(kernel_threads)},
        )
        with cluster, Client(cluster), warnings.catch_warnings():
            # from_array embeds X in the graph that persist sends to the workers, once.
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            persisted = dX.persist()
            name = f"cluster, {n_workers} process(es) × 1 thread ({kernel_threads} kernel threads)"
            rows.append(timed(name, lambda m, p=persisted: gmmfast.dask.fit(estimator(X, k, m), p)))

    base = (rows[0][1] - rows[0][2]) / its
    print(
        "| configuration | whole fit | per iteration | / in memory | client peak "
        f"| Δ lower bound | (median of {args.repeat}) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, whole, init, peak_bytes, bound in rows:
        per_iteration = (whole - init) / its
        peak = "n/a" if peak_bytes is None else f"{peak_bytes / 2**20:,.1f} MiB"
        print(
            f"| {name} | {whole:,.2f} s | {per_iteration * 1e3:,.1f} ms | "
            f"{per_iteration / base:,.2f}× | {peak} | {abs(bound / reference - 1):.1e} | |"
        )


if __name__ == "__main__":
    main()
