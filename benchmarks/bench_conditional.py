"""Conditional-mean colour image of the colour seed workload, gmmfast against its peers.

Workload: scikit-learn's ``flower.jpg`` as (x, y, r, g, b) points, a GaussianMixture with
K = 1000 full covariances fitted on a 50,000-point subsample (shipped with gmmfast, see
``gmmfast.datasets``), rendered as E[r, g, b | x, y] on the picture's 640 × 427 grid.

Peers, measured in this run on the same input:
  * gmmfast's chunked pure-NumPy reference (``gmmfast.reference.conditional_mean_grid``),
  * gmr's ``GMM.predict`` (Gaussian mixture regression; all pixels in one call) on a smaller
    grid, since it holds several n_pixels × K arrays at once; gmmfast is timed on that same
    grid for the ratio.

    python benchmarks/bench_conditional.py [--repeat 5] [--image out.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import gmmfast
import gmmfast.reference as ref
from _harness import machine, measure, table
from _peers import numpy_conditional_mean_grid
from gmmfast._gaussian import regressions
from gmmfast._model import as_mixture, marginal_form
from gmmfast.datasets import demo_model, flower

try:
    import gmr
except ImportError:  # gmr is optional
    gmr = None


def gmr_model(mixture):
    return gmr.GMM(
        n_components=mixture.n_components,
        priors=np.array(mixture.weights),
        means=np.array(mixture.means),
        covariances=np.array(mixture.covariances),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of gmmfast")
    parser.add_argument("--slow-repeat", type=int, default=1, help="runs of the slow peers")
    parser.add_argument("--gmr-size", default="160x107", help="grid for the gmr comparison")
    parser.add_argument("--image", help="write the rendered image next to the original here")
    args = parser.parse_args()

    model = demo_model("flower-color")
    grid = gmmfast.Grid(model.metadata["width"], model.metadata["height"])
    print(
        f"# conditional-mean image: flower-color, K={model.n_components}, "
        f"{grid.width}×{grid.height}"
    )
    print(f"machine: {machine()}\n")

    ours = gmmfast.conditional_mean_grid(model, grid)
    results = [
        measure("gmmfast", lambda: gmmfast.conditional_mean_grid(model, grid), args.repeat),
        measure(
            "gmmfast, with std",
            lambda: gmmfast.conditional_mean_grid(model, grid, return_std=True),
            args.repeat,
        ),
    ]
    results.append(
        measure(
            "gmmfast rtol=1e-9",
            lambda: gmmfast.conditional_mean_grid(model, grid, rtol=1e-9),
            args.repeat,
        )
    )
    reference = ref.conditional_mean_grid(model, grid)
    results.append(
        measure(
            "NumPy reference",
            lambda: ref.conditional_mean_grid(model, grid),
            args.slow_repeat,
            warmup=0,
            note="gmmfast.reference, chunks of 1024 pixels",
        )
    )
    mixture = as_mixture(model)
    form = marginal_form(mixture, (0, 1))
    reg = regressions(mixture.means, mixture.covariances, mixture.covariance_type, (0, 1))
    vectorised = numpy_conditional_mean_grid(form, reg, grid.xs, grid.ys)
    results.append(
        measure(
            "NumPy vectorised",
            lambda: numpy_conditional_mean_grid(form, reg, grid.xs, grid.ys),
            args.slow_repeat,
            warmup=0,
            note="batched over components, 4 rows a chunk",
        )
    )
    print(table(results, "gmmfast", output_bytes=ours.nbytes))
    fast = results[2].median
    print("\nwith rtol=1e-9, each NumPy peer takes this many times as long:")
    for r in results[3:]:
        print(f"  {r.name}: {r.median / fast:,.0f}×")
    approx = gmmfast.conditional_mean_grid(model, grid, rtol=1e-9)
    print(f"\nmax |gmmfast − NumPy reference| = {np.abs(ours - reference).max():.3g}")
    print(f"max |gmmfast − NumPy vectorised| = {np.abs(ours - vectorised).max():.3g}")
    print(f"max |exact − rtol=1e-9| = {np.abs(ours - approx).max():.3g} (0–255 colour units)")

    if gmr is not None:
        width, height = (int(v) for v in args.gmr_size.split("x"))
        small = gmmfast.Grid(width, height, (0, grid.width - 1), (0, grid.height - 1))
        peer = gmr_model(model)
        print(f"\n# the same on a {width}×{height} grid, with gmr {gmr.__version__}\n")
        small_results = [
            measure("gmmfast", lambda: gmmfast.conditional_mean_grid(model, small), args.repeat),
            measure(
                "gmr GMM.predict",
                lambda: peer.predict(np.array([0, 1]), small.points()),
                args.slow_repeat,
                warmup=0,
            ),
        ]
        print(table(small_results, "gmmfast"))
        theirs = peer.predict(np.array([0, 1]), small.points()).reshape(*small.shape, 3)
        mine = gmmfast.conditional_mean_grid(model, small)
        print(f"\nmax |gmmfast − gmr| = {np.abs(mine - theirs).max():.3g}")
    else:
        print("\ngmr is not installed: pip install gmr")

    if args.image:
        from PIL import Image

        picture = np.clip(np.round(ours), 0, 255).astype(np.uint8)
        gap = np.full((grid.height, 8, 3), 255, np.uint8)
        Image.fromarray(np.concatenate([flower(), gap, picture], axis=1)).save(args.image)
        print(f"\nwrote {args.image}")


if __name__ == "__main__":
    main()
