"""Render the density of a Gaussian mixture fitted on a picture, back as a picture, with the
Python API (``gmmfast demo`` does this and more from the command line).

The model is the K = 500 GaussianMixture that ships with gmmfast, fitted on the (x, y) of the
dark pixels of a line drawing of scikit-learn's bundled ``china.jpg``. We render its log-density
on the picture's own 640 × 427 pixel grid, map it to grey with the linear and the piecewise tone
mappings of :mod:`gmmfast.image` (dense = dark, like the drawing) and write the drawing and both
renders side by side.

    python examples/render_density.py --out out
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

import gmmfast
from gmmfast import image
from gmmfast.datasets import china_edges, demo_model


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
    linear = image.linear(log_density)
    piecewise = image.piecewise(log_density)  # only high probabilities dark
    gap = np.full((grid.height, 8), 128, np.uint8)
    side_by_side = np.concatenate([drawing, gap, linear, gap, piecewise], axis=1)
    written = {
        "china_edges.png": drawing,
        "china_density.png": linear,
        "china_density_piecewise.png": piecewise,
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
