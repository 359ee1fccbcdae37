"""Density image of the black-and-white seed workload, gmmfast against its peers.

Workload: the line drawing of scikit-learn's ``china.jpg`` as the (x, y) of its 21,862 dark
pixels, a GaussianMixture with K = 500 full covariances fitted on them (shipped with gmmfast,
see ``gmmfast.datasets``), rendered as a log-density image on its 640 × 427 pixel grid.

gmmfast is measured exact (rtol=0) and with rtol=1e-9 (density within a factor 1 − 1e-9).
Peers, measured in this run on the same input:
  * scikit-learn ``GaussianMixture.score_samples`` on the grid's points,
  * gmmfast's chunked pure-NumPy reference (``gmmfast.reference``),
  * a multithreaded brute-force numba loop (``benchmarks/_peers.py``).

    python benchmarks/bench_density.py [--repeat 5] [--sklearn-repeat 3]
"""

from __future__ import annotations

import argparse

import numpy as np

import gmmfast
import gmmfast.reference as ref
from _harness import machine, measure, table
from _peers import numba_log_density_grid
from gmmfast._model import scoring_form
from gmmfast.datasets import demo_model
from gmmfast.testing import to_sklearn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per fast peer")
    parser.add_argument("--sklearn-repeat", type=int, default=3, help="runs of scikit-learn")
    parser.add_argument("--skip-slow", action="store_true", help="skip sklearn and NumPy")
    args = parser.parse_args()

    model = demo_model("china-bw")
    grid = gmmfast.Grid(model.metadata["width"], model.metadata["height"])
    estimator = to_sklearn(model)
    form = scoring_form(model)
    print(f"# log-density image: china-bw, K={model.n_components}, {grid.width}×{grid.height}")
    print(f"machine: {machine()}\n")

    ours = gmmfast.log_density_grid(model, grid)
    results = [
        measure(
            "gmmfast", lambda: gmmfast.log_density_grid(model, grid), args.repeat, note="exact"
        ),
        measure(
            "gmmfast rtol=1e-9",
            lambda: gmmfast.log_density_grid(model, grid, rtol=1e-9),
            args.repeat,
        ),
    ]
    approx = gmmfast.log_density_grid(model, grid, rtol=1e-9)
    checks = {}

    numba_out = numba_log_density_grid(form, grid.xs, grid.ys)  # compiles
    checks["numba"] = numba_out
    results.append(
        measure(
            "numba brute force",
            lambda: numba_log_density_grid(form, grid.xs, grid.ys),
            args.repeat,
            note="prange, 2 passes",
        )
    )
    if not args.skip_slow:
        checks["scikit-learn"] = estimator.score_samples(grid.points()).reshape(grid.shape)
        results.append(
            measure(
                "scikit-learn",
                lambda: estimator.score_samples(grid.points()),
                args.sklearn_repeat,
                warmup=0,
                note="score_samples(grid.points())",
            )
        )
        checks["NumPy reference"] = ref.log_density_grid(model, grid)
        results.append(
            measure(
                "NumPy reference",
                lambda: ref.log_density_grid(model, grid),
                args.sklearn_repeat,
                warmup=0,
                note="chunked, 4096 points",
            )
        )
    print(table(results, "gmmfast", output_bytes=ours.nbytes))
    fast = next(r for r in results if r.name == "gmmfast rtol=1e-9").median
    print("\nwith rtol=1e-9, each peer takes this many times as long:")
    for r in results[2:]:
        print(f"  {r.name}: {r.median / fast:,.1f}×")
    print()
    for name, other in checks.items():
        print(f"max |gmmfast − {name}| = {np.abs(ours - other).max():.3g}")
    print(f"max (exact − rtol=1e-9) log-density = {np.max(ours - approx):.3g} (bound 1e-9)")


if __name__ == "__main__":
    main()
