"""Render the density of a Gaussian mixture fitted on a picture, back as a picture.

The model is the K = 500 GaussianMixture that ships with gmmfast, fitted on the (x, y) of the
dark pixels of a line drawing of scikit-learn's bundled ``china.jpg``. We render its log-density
on the picture's own 640 × 427 pixel grid, map density linearly to grey (dense = dark, like the
drawing) and write both images side by side.

    python examples/render_density.py --out out
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

import gmmfast
from gmmfast.datasets import china_edges, demo_model


def linear_grey(log_density: np.ndarray) -> np.ndarray:
    """Density scaled to [0, 1] by its maximum, drawn dark on white as uint8."""
    density = np.exp(log_density - log_density.max())
    return np.round(255.0 * (1.0 - density)).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model = demo_model("china-bw")
    grid = gmmfast.Grid(model.metadata["width"], model.metadata["height"])
    start = time.perf_counter()
    log_density = gmmfast.log_density_grid(model, grid)
    elapsed = time.perf_counter() - start

    drawing = china_edges()
    density = linear_grey(log_density)
    side_by_side = np.concatenate([drawing, np.full((grid.height, 8), 128, np.uint8), density], 1)
    written = {
        "china_edges.png": drawing,
        "china_density.png": density,
        "china_side_by_side.png": side_by_side,
    }
    for name, pixels in written.items():
        Image.fromarray(pixels).save(args.out / name)
        print(f"wrote {args.out / name}")
    print(
        f"log-density of K={model.n_components} components on {grid.width}×{grid.height} "
        f"pixels: {elapsed * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
