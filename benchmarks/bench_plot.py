"""A contour figure in data space, ``gmmfast.plot.contours`` against the same figure made from
scikit-learn's ``score_samples`` on a meshgrid.

Workload: the demo model ``flower-color`` (K = 1000 full covariances, fitted on the
(x, y, r, g, b) of flower.jpg, shipped with gmmfast) marginalised to (x, y): a 2-D mixture of
K = 1000 components, contoured on 1000 × 1000 pixels over its default extent
(:func:`gmmfast.plot.limits`), 8 labelled levels, drawn on an Agg canvas.

Peers, measured in this run on the same model, grid, levels and matplotlib calls:
  * gmmfast: ``plot.contours(model, ax, resolution=1000)``;
  * scikit-learn: what a user writes without gmmfast — ``np.meshgrid`` of the same pixel
    centres, ``GaussianMixture.score_samples`` on the (10⁶, 2) points, ``ax.contour`` and
    ``ax.clabel`` with the same levels. ``score_samples`` builds an n × K array: on all 10⁶
    points at once it needs 8 GB for that array and as much again for each temporary of its
    log-sum-exp, more than this machine's memory, so it runs on chunks of ``--chunk`` points
    (100,000 by default: 0.8 GB per n × K array).

Each figure is made from scratch (new figure, field, contours, labels, ``canvas.draw()``); the
field alone is timed too. Medians of several runs; peak memory is the rise of the process's
resident high-water mark during a run (``_harness.measure``).

    python benchmarks/bench_plot.py [--repeat 5] [--sklearn-repeat 3] [--size 1000]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

import gmmfast
from _harness import machine, measure, table
from gmmfast import plot
from gmmfast.datasets import demo_model
from gmmfast.image import contour_levels
from gmmfast.testing import to_sklearn

LEVELS = 8


def pixel_centres(model, size: int) -> tuple:
    """x and y of the pixel centres ``plot.contours`` uses: ``size`` pixels whose edges span
    the default limits."""
    (x0, x1), (y0, y1) = plot.limits(model)
    xs = x0 + (np.arange(size) + 0.5) * (x1 - x0) / size
    ys = y0 + (np.arange(size) + 0.5) * (y1 - y0) / size
    return xs, ys


def sklearn_field(estimator, xs, ys, chunk: int) -> np.ndarray:
    xx, yy = np.meshgrid(xs, ys)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        out[start : start + chunk] = estimator.score_samples(points[start : start + chunk])
    return out.reshape(len(ys), len(xs))


def sklearn_figure(estimator, xs, ys, chunk: int) -> None:
    """The figure ``plot.contours`` makes, from scikit-learn's ``score_samples``."""
    fig, ax = plt.subplots()
    field = sklearn_field(estimator, xs, ys, chunk)
    levels = contour_levels(field, LEVELS)
    lines = ax.contour(xs, ys, field, levels=levels, cmap="viridis", linestyles="solid")
    ax.clabel(lines, fmt="%.1f", fontsize="small", inline=True, colors="black")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    fig.canvas.draw()
    plt.close(fig)


def gmmfast_figure(model, size: int) -> None:
    fig, ax = plt.subplots()
    plot.contours(model, ax, levels=LEVELS, resolution=size)
    fig.canvas.draw()
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of gmmfast")
    parser.add_argument("--sklearn-repeat", type=int, default=3, help="runs of scikit-learn")
    parser.add_argument("--size", type=int, default=1000, help="pixels along each side")
    parser.add_argument("--chunk", type=int, default=100_000, help="points per score_samples")
    args = parser.parse_args()

    model = demo_model("flower-color").marginal([0, 1])
    estimator = to_sklearn(model)
    xs, ys = pixel_centres(model, args.size)
    grid = gmmfast.Grid(args.size, args.size, (xs[0], xs[-1]), (ys[0], ys[-1]))
    print(
        f"# contour figure: flower-color over (x, y), K={model.n_components}, "
        f"{args.size}×{args.size} pixels, {LEVELS} labelled levels"
    )
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at start\n")

    ours = gmmfast.log_density_grid(model, grid)
    theirs = sklearn_field(estimator, xs, ys, args.chunk)
    print(
        f"max |gmmfast − scikit-learn| log-density on the grid: {np.abs(ours - theirs).max():.3g}"
    )
    del theirs

    print("\n## the field alone (log-density on the grid)\n")
    field_results = [
        measure("gmmfast", lambda: gmmfast.log_density_grid(model, grid), args.repeat),
        measure(
            "scikit-learn",
            lambda: sklearn_field(estimator, xs, ys, args.chunk),
            args.sklearn_repeat,
            warmup=0,
            note=f"score_samples on a meshgrid, chunks of {args.chunk:,}",
        ),
    ]
    print(table(field_results, "gmmfast", output_bytes=ours.nbytes))

    print("\n## the whole figure (field, contour, clabel, canvas.draw)\n")
    figure_results = [
        measure("gmmfast", lambda: gmmfast_figure(model, args.size), args.repeat),
        measure(
            "scikit-learn",
            lambda: sklearn_figure(estimator, xs, ys, args.chunk),
            args.sklearn_repeat,
            warmup=0,
            note="same levels and matplotlib calls",
        ),
    ]
    print(table(figure_results, "gmmfast"))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
