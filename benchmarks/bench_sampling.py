"""Sampling and sample images, gmmfast against scikit-learn, on the two demo models.

Workloads (models shipped with gmmfast, see ``gmmfast.datasets``):
  * ``flower-color``: (x, y, r, g, b) of flower.jpg, K = 1000 full covariances, 5-D;
  * ``china-bw``: (x, y) of the line drawing of china.jpg, K = 500 full covariances, 2-D.

Peers, measured in this run on the same model (``gmmfast.testing.to_sklearn`` gives the
equivalent fitted ``GaussianMixture``):
  * ``sample``: scikit-learn's ``GaussianMixture.sample(n)``;
  * ``sample_image``: scikit-learn's ``sample(n)`` followed by NumPy binning into the
    640 × 427 pixels (pixel indices computed with NumPy, then ``np.bincount``, weighted by each
    colour channel for the colour image) — what a careful user would write.

The random streams differ (gmmfast's own generators), so outputs agree in distribution only;
the fraction of samples that land inside the image is printed for both as a sanity check.

    python benchmarks/bench_sampling.py [--repeat 3] [--sklearn-repeat 2] [--huge]

``--huge`` also runs ``sample_image`` with 1e9 samples once (slow) to show its memory bound.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gmmfast
from _harness import machine, measure, table
from gmmfast._sampling import pixel_cells
from gmmfast.datasets import demo_model
from gmmfast.testing import to_sklearn


def numpy_binning(X: np.ndarray, grid: gmmfast.Grid, dims=(0, 1), color_dims=None):
    """Bin samples into pixels with NumPy: nearest pixel centre, samples outside dropped."""
    (x0, x_scale), (y0, y_scale) = pixel_cells(grid)
    u = (X[:, dims[0]] - x0) * x_scale + 0.5
    v = (X[:, dims[1]] - y0) * y_scale + 0.5
    inside = (u >= 0) & (u < grid.width) & (v >= 0) & (v < grid.height)
    pixel = v[inside].astype(np.intp) * grid.width + u[inside].astype(np.intp)
    counts = np.bincount(pixel, minlength=grid.size)
    if color_dims is None:
        return counts.reshape(grid.shape)
    colours = X[inside][:, list(color_dims)]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.stack(
            [np.bincount(pixel, weights=c, minlength=grid.size) / counts for c in colours.T],
            axis=-1,
        )
    return means.reshape((*grid.shape, len(color_dims))), counts.reshape(grid.shape)


def sampling(name: str, n: int, args) -> None:
    model = demo_model(name)
    estimator = to_sklearn(model)
    estimator.random_state = 0
    print(f"\n## sample: {name}, K={model.n_components}, d={model.n_features}, n={n:,}\n")
    results = [measure("gmmfast", lambda: gmmfast.sample(model, n, random_state=0), args.repeat)]
    results.append(
        measure(
            "scikit-learn",
            lambda: estimator.sample(n),
            args.sklearn_repeat,
            note="GaussianMixture.sample",
        )
    )
    print(table(results, "gmmfast", output_bytes=n * (model.n_features + 1) * 8))


def sample_image(name: str, n: int, args, color_dims=None) -> None:
    model = demo_model(name)
    grid = gmmfast.Grid(model.metadata["width"], model.metadata["height"])
    estimator = to_sklearn(model)
    estimator.random_state = 0
    kind = "count image" if color_dims is None else f"mean colour of features {color_dims}"
    print(f"\n## sample_image: {name}, {kind}, {grid.width}×{grid.height}, n={n:,}\n")

    def ours():
        return gmmfast.sample_image(model, n, grid, color_dims=color_dims, random_state=0)

    def peer():
        return numpy_binning(estimator.sample(n)[0], grid, color_dims=color_dims)

    results = [measure("gmmfast", ours, args.repeat)]
    results.append(
        measure(
            "scikit-learn + NumPy",
            peer,
            args.sklearn_repeat,
            warmup=0,
            note="sample(n), then np.bincount",
        )
    )
    print(table(results, "gmmfast"))
    mine, theirs = ours(), peer()
    if color_dims is not None:
        mine, theirs = mine[1], theirs[1]
    print(f"\nfraction inside the image: gmmfast {mine.sum() / n:.5f}, peer {theirs.sum() / n:.5f}")


def huge(n: int) -> None:
    model = demo_model("china-bw")
    grid = gmmfast.Grid(model.metadata["width"], model.metadata["height"])
    print(f"\n## sample_image: china-bw, count image, n={n:,} (one run)\n")
    result = measure(
        "gmmfast", lambda: gmmfast.sample_image(model, n, grid, random_state=0), 1, warmup=0
    )
    print(table([result], "gmmfast"))
    print(f"\n(as an array, the samples alone would take {n * 16 / 2**30:,.1f} GiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of gmmfast")
    parser.add_argument("--sklearn-repeat", type=int, default=2, help="runs of each peer")
    parser.add_argument("--huge", action="store_true", help="also sample_image with 1e9")
    args = parser.parse_args()
    print("# sampling and sample images")
    print(f"machine: {machine()}")
    start = time.perf_counter()
    sampling("flower-color", 10**6, args)
    sampling("china-bw", 10**6, args)
    sample_image("china-bw", 10**7, args)
    sample_image("flower-color", 10**7, args, color_dims=(2, 3, 4))
    if args.huge:
        huge(10**9)
    print(f"\ntotal benchmark time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
