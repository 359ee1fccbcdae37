"""Render a poster-sized density image of a Gaussian mixture into a Zarr store, with Dask.

The model is the K = 500 GaussianMixture that ships with gmmfast, fitted on the dark pixels of
a line drawing of scikit-learn's ``china.jpg`` (640 × 427 pixels). We render its log-density on
a SIZE × SIZE grid over the picture's extent (8000 × 8000 = 512 MB of float64 by default;
20000 × 20000 = 3.2 GB works the same way) block by block: each block is rendered, compressed
and written by the task that computes it, so memory stays at a few blocks however large the
image. Then we read the store back, lazily, to save a small preview PNG.

    pip install ".[dask]"
    python examples/render_zarr.py                      # threads of this process
    python examples/render_zarr.py --size 20000 --chunks 2048
    python examples/render_zarr.py --scheduler tcp://host:8786   # a dask.distributed cluster

On a cluster the workers write the store themselves: give an ``--out`` that they can all see.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import dask.array as da
import numpy as np
from dask.diagnostics import ProgressBar
from PIL import Image

import gmmfast
import gmmfast.dask
from gmmfast.datasets import demo_model

PREVIEW_WIDTH = 800


def directory_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000, help="image side in pixels")
    parser.add_argument("--chunks", type=int, default=1024, help="block side in pixels")
    parser.add_argument("--rtol", type=float, default=1e-9, help="relative error on density")
    parser.add_argument(
        "--dtype", choices=["float64", "float32"], default="float64", help="stored values"
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    parser.add_argument(
        "--scheduler", default=None, help="address of a dask.distributed scheduler (optional)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / f"china_density_{args.size}.zarr"

    model = demo_model("china-bw")
    width, height = model.metadata["width"], model.metadata["height"]
    # The picture's extent, sampled SIZE times along each axis.
    grid = gmmfast.Grid(args.size, args.size, (0, width - 1), (0, height - 1))
    megabytes = grid.size * np.dtype(args.dtype).itemsize / 1e6
    print(
        f"log-density of K={model.n_components} on {args.size}×{args.size} pixels "
        f"({megabytes:,.0f} MB of {args.dtype}) in {args.chunks}×{args.chunks} blocks, "
        f"rtol={args.rtol:g} -> {store}"
    )

    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
        print(f"on {client}")
    # A progress bar for the threaded scheduler; a cluster shows progress on its dashboard.
    progress = ProgressBar() if client is None else contextlib.nullcontext()
    start = time.perf_counter()
    with progress:
        gmmfast.dask.render_to_zarr(
            model,
            store,
            grid,
            chunks=args.chunks,
            rtol=args.rtol,
            dtype=args.dtype,
            overwrite=True,
        )
    elapsed = time.perf_counter() - start
    print(
        f"wrote {store} in {elapsed:.1f} s ({grid.size / elapsed / 1e6:.0f} Mpixel/s), "
        f"{directory_size(store) / 1e6:,.0f} MB on disk"
    )

    # Reading back is lazy too: the preview takes every step-th pixel of the stored image.
    image = da.from_zarr(str(store), component="log_density")
    step = max(1, args.size // PREVIEW_WIDTH)
    preview = image[::step, ::step].compute()
    density = np.exp(preview - preview.max())
    grey = np.round(255.0 * (1.0 - density)).astype(np.uint8)
    # The grid is square over a 640 × 427 picture: the preview gets the picture's proportions.
    preview_size = (PREVIEW_WIDTH, round(PREVIEW_WIDTH * height / width))
    png = args.out / f"china_density_{args.size}_preview.png"
    Image.fromarray(grey).resize(preview_size, Image.Resampling.BILINEAR).save(png)
    print(f"wrote {png} (one pixel in {step} along each axis, {preview_size[0]}×{preview_size[1]})")

    if client is not None:
        client.close()


if __name__ == "__main__":
    main()
