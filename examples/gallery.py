"""The gallery of :mod:`gmmfast.plot`: every figure for the demo models and for two toy data
sets, written as PNGs into ``docs/gallery/`` with ``docs/gallery.md`` showing them.

Models:

* ``china-bw`` and ``flower-color``, the demo models that ship with gmmfast (K = 500 on the
  (x, y) of a line drawing's dark pixels; K = 1000 on the (x, y, r, g, b) of a photo's pixels).
  They are fitted on pixel coordinates, whose y runs down the picture, so their (x, y) figures
  pass ``ylim=(height, 0)``: the axis then runs downward and the drawing is the right way up.
  The colour marginal (r, g) is drawn as any data, y upward.
* two moons and blobs, fitted here with scikit-learn's ``GaussianMixture``.

Each PNG is written to a temporary file beside its target and renamed into place, so an
interrupted run leaves the previous gallery whole.

    python examples/gallery.py [--out docs] [--dpi 80]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs, make_moons
from sklearn.mixture import GaussianMixture

import gmmfast
from gmmfast import image, plot
from gmmfast.datasets import demo_model, demo_points


class Figure(NamedTuple):
    filename: str
    caption: str
    code: str  # run with ``ax`` and the model's namespace; shown in gallery.md as it ran


class Model(NamedTuple):
    key: str
    title: str
    text: str
    namespace: dict
    figures: list
    labels: tuple = ("", "")  # axis labels set before drawing (the plots keep given labels)
    equal_aspect: bool = False  # square pixels for models fitted on a picture's pixels


def image_limits(model) -> str:
    """The keyword arguments that draw a model fitted on an image's pixels the right way up."""
    width, height = model.metadata["width"], model.metadata["height"]
    return f"xlim=(-0.5, {width - 0.5}), ylim=({height - 0.5}, -0.5)"


def every_figure(limits: str, k: int, n: int, extra: str = "", dim: int = 0) -> list:
    """The figures drawn for each model; ``limits`` and ``extra`` are spliced into the calls."""
    sep = ", " if limits else ""
    return [
        Figure("density", "log-density, six decades", f"plot.density(model, ax{sep}{limits})"),
        Figure(
            "contours",
            "contours of log p, levels labelled",
            f"plot.contours(model, ax{sep}{limits})",
        ),
        Figure(
            "contours_filled",
            "filled contours with a colour bar",
            f"plot.contours(model, ax, filled=True, levels=6{sep}{limits})",
        ),
        Figure(
            "ellipses",
            "component ellipses over the data",
            f"ax.scatter(X[:, 0], X[:, 1], s=1, c='0.6', linewidths=0); "
            f"plot.ellipses(model, ax{extra}{sep}{limits})",
        ),
        Figure(
            "decision_regions",
            "decision regions of predict",
            f"plot.decision_regions(model, ax{sep}{limits})",
        ),
        Figure(
            "responsibility",
            f"responsibility of component {k}",
            f"plot.responsibility(model, {k}, ax{sep}{limits})",
        ),
        Figure(
            "mixture_1d",
            f"1-D marginal along feature {dim} over the data",
            f"plot.mixture_1d(model, ax, X=X{', dim=' + str(dim) if dim else ''})",
        ),
        Figure(
            "samples",
            f"{n:,} samples, coloured by component",
            f"plot.samples(model, {n}, ax, random_state=0{sep}{limits})",
        ),
    ]


def models() -> list:
    moons_X, _ = make_moons(1000, noise=0.06, random_state=0)
    moons = GaussianMixture(8, random_state=0).fit(moons_X)
    blobs_X, _ = make_blobs(800, centers=4, cluster_std=[0.6, 1.2, 0.9, 2.0], random_state=3)
    blobs = GaussianMixture(4, covariance_type="full", random_state=0).fit(blobs_X)

    china = demo_model("china-bw")
    china_X = demo_points("china-bw")
    flower = demo_model("flower-color")
    flower_X = demo_points("flower-color")[::7]  # every 7th pixel: enough for a histogram
    china_limits, flower_limits = image_limits(china), image_limits(flower)
    # Responsibilities of the heaviest component of the drawing, and of the flower's
    # component nearest the middle of the picture.
    china_k = int(np.argmax(china.weights))
    flower_k = int(np.argmin(np.hypot(flower.means[:, 0] - 320, flower.means[:, 1] - 213)))
    return [
        Model(
            "moons",
            "Two moons",
            "`make_moons(1000, noise=0.06)`, `GaussianMixture(8)` (full covariances).",
            {"model": moons, "X": moons_X},
            every_figure("", 0, 3000),
        ),
        Model(
            "blobs",
            "Blobs",
            "`make_blobs(800, centers=4, cluster_std=[0.6, 1.2, 0.9, 2.0])`, `GaussianMixture(4)`.",
            {"model": blobs, "X": blobs_X},
            every_figure("", 3, 3000),
        ),
        Model(
            "china",
            "china-bw (demo model, K = 500)",
            "The line drawing of `china.jpg` as the (x, y) of its 21,862 dark pixels, "
            "K = 500 full covariances. Pixel coordinates: y runs down the picture, so the "
            "calls pass `ylim=(426.5, -0.5)` (the axis then runs downward) and the drawing "
            "stands the right way up; `ax.set_aspect('equal')` keeps pixels square. The "
            "ellipses and a responsibility are shown on a detail, where they can be told apart.",
            {"model": china, "X": china_X},
            [
                Figure(
                    "density",
                    "log-density, six decades",
                    f"plot.density(model, ax, {china_limits})",
                ),
                Figure(
                    "contours",
                    "contours of log p, four levels",
                    f"plot.contours(model, ax, levels=4, {china_limits})",
                ),
                Figure(
                    "ellipses",
                    "1- and 2-σ ellipses over the dark pixels (detail)",
                    "ax.scatter(X[:, 0], X[:, 1], s=3, c='0.55', linewidths=0); "
                    "plot.ellipses(model, ax, n_std=(1, 2), fill=False, linewidth=1.2, "
                    "alpha=1, xlim=(120, 330), ylim=(300, 160))",
                ),
                Figure(
                    "decision_regions",
                    "decision regions of predict (500 components)",
                    f"plot.decision_regions(model, ax, {china_limits})",
                ),
                Figure(
                    "responsibility",
                    f"responsibility of component {china_k} (detail)",
                    f"plot.responsibility(model, {china_k}, ax, {_window(china, china_k, 60)})",
                ),
                Figure(
                    "mixture_1d",
                    "1-D marginal along x over the dark pixels",
                    "plot.mixture_1d(model, ax, X=X); ax.set_xlabel('x (pixels)')",
                ),
                Figure(
                    "samples",
                    "20,000 samples, coloured by component",
                    f"plot.samples(model, 20000, ax, random_state=0, {china_limits})",
                ),
            ],
            ("x (pixels)", "y (pixels, downward)"),
            equal_aspect=True,
        ),
        Model(
            "flower_xy",
            "flower-color over (x, y) (demo model, K = 1000)",
            "`flower.jpg` as (x, y, r, g, b) of its pixels, K = 1000 full covariances. Over "
            "(x, y) the components tile the whole picture whatever their colour, so its "
            "density is nearly flat; the decision regions show the tiling. Drawn the right way "
            "up as above. The 1-D marginal is the red channel, over every 7th pixel's red.",
            {"model": flower, "X": flower_X},
            [
                Figure("density", "log-density", f"plot.density(model, ax, {flower_limits})"),
                Figure(
                    "decision_regions",
                    "decision regions of predict (1000 components)",
                    f"plot.decision_regions(model, ax, {flower_limits})",
                ),
                Figure(
                    "responsibility",
                    f"responsibility of component {flower_k} (detail)",
                    f"plot.responsibility(model, {flower_k}, ax, {_window(flower, flower_k, 60)})",
                ),
                Figure(
                    "mixture_1d",
                    "1-D marginal along r over every 7th pixel",
                    "plot.mixture_1d(model, ax, dim=2, X=X, rug=False); ax.set_xlabel('r')",
                ),
                Figure(
                    "samples",
                    "5,000 samples, coloured by component",
                    f"plot.samples(model, 5000, ax, random_state=0, {flower_limits})",
                ),
            ],
            ("x (pixels)", "y (pixels, downward)"),
            equal_aspect=True,
        ),
        Model(
            "flower_rg",
            "flower-color over (r, g)",
            "The same model's marginal over two colour channels, red across and green "
            "upward (0–255): plain data space, y upward.",
            {"model": flower, "X": flower_X},
            [
                Figure("density", "log-density", "plot.density(model, ax, dims=(2, 3))"),
                Figure(
                    "contours",
                    "contours of log p",
                    "plot.contours(model, ax, dims=(2, 3), levels=6)",
                ),
                Figure(
                    "ellipses",
                    "2-σ ellipses over every 7th pixel, in its colour",
                    "ax.scatter(X[:, 2], X[:, 3], s=1, c=X[:, 2:] / 255, linewidths=0); "
                    "plot.ellipses(model, ax, dims=(2, 3), n_std=2, fill=False, "
                    "edgecolor='black', linewidth=0.3, alpha=0.6, alpha_by_weight=False)",
                ),
                Figure(
                    "decision_regions",
                    "decision regions",
                    "plot.decision_regions(model, ax, dims=(2, 3))",
                ),
            ],
            ("r", "g"),
        ),
    ]


def _window(model, k: int, half: float) -> str:
    """``xlim=..., ylim=...`` of a square window around component k's mean, y downward."""
    x, y = model.means[k, :2]
    return f"xlim=({x - half:.0f}, {x + half:.0f}), ylim=({y + half:.0f}, {y - half:.0f})"


def tone_figure(dpi: float):
    """The piecewise tone curve beside the picture it maps (the china drawing's density)."""
    china = demo_model("china-bw")
    grid = gmmfast.Grid(china.metadata["width"], china.metadata["height"])
    grey = image.piecewise(gmmfast.log_density_grid(china, grid))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=(1.6, 1))
    left.imshow(grey, cmap="gray", vmin=0, vmax=255, interpolation="antialiased")
    left.set_title("china-bw density, piecewise mapping", fontsize="medium")
    left.set_axis_off()
    plot.tone_curve(None, right)
    right.set_title("the tone curves", fontsize="medium")
    fig.tight_layout()
    return fig


def table(title: str, cells: list, columns: int = 2) -> list:
    """Markdown lines of a table of pictures, ``columns`` across, each over its call."""
    lines = ["| " + " | ".join([" "] * columns) + " |", "|" + "---|" * columns]
    for start in range(0, len(cells), columns):
        row = [
            f"![{title}: {figure.caption}](gallery/{name})<br>`{figure.code}`"
            for name, figure in cells[start : start + columns]
        ]
        row += [" "] * (columns - len(row))
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def save(fig, path: Path, dpi: float) -> None:
    """Write ``fig`` as a PNG beside ``path`` and rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(temporary, dpi=dpi, format="png")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        plt.close(fig)


def write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="docs directory")
    parser.add_argument("--dpi", type=float, default=80.0)
    args = parser.parse_args()
    folder = args.out / "gallery"
    folder.mkdir(parents=True, exist_ok=True)

    lines = [
        "# Gallery: figures in data space",
        "",
        "Every figure of [`gmmfast.plot`](../python/gmmfast/plot.py), drawn by "
        "`python examples/gallery.py` (which wrote this page). Each picture is one call on "
        "matplotlib axes `ax`, shown under it, where `model` is the section's fitted "
        "mixture and `X` its data; the fields are rendered by gmmfast's grid kernels at "
        "400 × 400 pixels (`resolution=`).",
        "",
    ]
    total = time.perf_counter()
    for model in models():
        lines += [f"## {model.title}", "", model.text, ""]
        cells = []
        for figure in model.figures:
            fig, ax = plt.subplots(figsize=(5.6, 4.2))
            if figure.filename != "mixture_1d":
                ax.set_xlabel(model.labels[0])
                ax.set_ylabel(model.labels[1])
                if model.equal_aspect:
                    ax.set_aspect("equal")
            start = time.perf_counter()
            for statement in figure.code.split("; "):
                eval(statement, {"plot": plot, "np": np}, {**model.namespace, "ax": ax})
            elapsed = time.perf_counter() - start
            ax.set_title(figure.caption, fontsize="medium")
            fig.tight_layout()
            name = f"{model.key}_{figure.filename}.png"
            save(fig, folder / name, args.dpi)
            print(f"{name}: {elapsed * 1e3:,.0f} ms to draw")
            cells.append((name, figure))
        lines += table(model.title, cells)
    save(tone_figure(args.dpi), folder / "tone_curve.png", args.dpi)
    print("tone_curve.png")
    lines += [
        "## Tone curve",
        "",
        "The tone mappings of `gmmfast.image` (ink against relative density p / p_max) beside "
        "the picture the piecewise one maps.",
        "",
        "![the china drawing's density through the piecewise mapping, and the tone curves]"
        "(gallery/tone_curve.png)",
        "",
        "```python",
        "plot.tone_curve(None, ax)  # default knots ((0, 0), (0.05, 0), (0.3, 0.9), (1, 1))",
        "```",
        "",
    ]
    write_text(args.out / "gallery.md", "\n".join(lines))
    size = sum(p.stat().st_size for p in folder.glob("*.png"))
    print(
        f"wrote {args.out / 'gallery.md'} and {len(list(folder.glob('*.png')))} PNGs "
        f"({size / 2**20:.2f} MiB) in {time.perf_counter() - total:.1f} s"
    )


if __name__ == "__main__":
    main()
