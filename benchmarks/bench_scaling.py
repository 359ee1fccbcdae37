"""How gmmfast's grid kernels scale: time against grid size and against K, and the number of
components evaluated per pixel against the minimum needed at each tolerance.

The mixture is localised, as models fitted on pictures are: K components with random
anisotropic covariances spread uniformly over a 1000 × 1000 square, their size shrinking as
1/√K so that every pixel sees about as many components whatever K (as when one fits more
components to the same picture).

    python benchmarks/bench_scaling.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import gmmfast
from _harness import machine, measure
from gmmfast import _core
from gmmfast._model import marginal_form
from gmmfast.datasets import demo_model
from gmmfast.reference import weighted_log_prob

SIDE = 1000.0


def localised_mixture(k: int, seed: int = 0) -> gmmfast.Mixture:
    rng = np.random.default_rng(seed)
    means = rng.uniform(0, SIDE, size=(k, 2))
    scale = SIDE / np.sqrt(k)  # typical distance between neighbouring components
    angles = rng.uniform(0, np.pi, size=k)
    rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1)
    rot = rot.reshape(k, 2, 2)
    sd = scale * rng.uniform(0.1, 0.6, size=(k, 2))
    covs = rot @ (sd[:, :, None] ** 2 * np.eye(2)) @ rot.transpose(0, 2, 1)
    weights = rng.uniform(0.5, 1.5, size=k)
    return gmmfast.Mixture(weights / weights.sum(), means, covs)


def evaluations(model, grid: gmmfast.Grid, rtol: float, kind: str = "density") -> float:
    """Mean number of components the kernel evaluates per pixel."""
    form = marginal_form(model, (0, 1))
    out = np.empty(grid.shape, np.int64)
    xs, ys, origin = grid._kernel_axes()
    _core.candidate_counts(form.components(), xs, ys, out, rtol, kind, origin)
    return float(out.mean())


def needed(model, grid: gmmfast.Grid, rtol: float, sample: int = 4000) -> float:
    """Mean over sampled pixels of the fewest components whose terms sum to ≥ (1 − rtol) of
    the density (rtol = 0: every term above 2⁻⁵³ of the largest, what exact rounding needs)."""
    form = marginal_form(model, (0, 1))
    points = grid.points()
    rng = np.random.default_rng(0)
    points = points[rng.choice(len(points), min(sample, len(points)), replace=False)]
    log_prob = weighted_log_prob(form, points)
    rel = log_prob - log_prob.max(axis=1, keepdims=True)
    if rtol == 0:
        return float((rel > -37).sum(axis=1).mean())
    terms = np.sort(np.exp(rel), axis=1)[:, ::-1]
    cumulative = np.cumsum(terms, axis=1)
    return float(((cumulative < (1 - rtol) * cumulative[:, -1:]).sum(axis=1) + 1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    args = parser.parse_args()
    sizes = [256, 512, 1024] if args.quick else [256, 512, 1024, 2048, 4096]
    ks = [100, 300, 1000] if args.quick else [100, 300, 1000, 3000, 5000]
    print(f"# scaling of log_density_grid on a localised mixture\nmachine: {machine()}\n")

    model = localised_mixture(500)
    print("## time against grid size (K = 500)\n")
    print("| grid | rtol = 0 | rtol = 1e-9 | ns / pixel (1e-9) |")
    print("|---|---:|---:|---:|")
    for n in sizes:
        grid = gmmfast.Grid(n, n, (0, SIDE), (0, SIDE))
        t0 = measure("exact", lambda g=grid: gmmfast.log_density_grid(model, g), args.repeat)
        t9 = measure(
            "1e-9", lambda g=grid: gmmfast.log_density_grid(model, g, rtol=1e-9), args.repeat
        )
        t0, t9 = t0.median, t9.median
        print(f"| {n}² | {t0 * 1e3:,.1f} ms | {t9 * 1e3:,.1f} ms | {t9 / n**2 * 1e9:.1f} |")

    print("\n## time against K (1024² grid)\n")
    print("| K | rtol = 0 | rtol = 1e-9 | evaluated / pixel (1e-9) |")
    print("|---:|---:|---:|---:|")
    grid = gmmfast.Grid(1024, 1024, (0, SIDE), (0, SIDE))
    for k in ks:
        mixture = localised_mixture(k)
        t0 = measure("exact", lambda m=mixture: gmmfast.log_density_grid(m, grid), args.repeat)
        t9 = measure(
            "1e-9", lambda m=mixture: gmmfast.log_density_grid(m, grid, rtol=1e-9), args.repeat
        )
        print(
            f"| {k} | {t0.median * 1e3:,.1f} ms | {t9.median * 1e3:,.1f} ms | "
            f"{evaluations(mixture, grid, 1e-9):.1f} |"
        )

    print("\n## components evaluated per pixel against the minimum needed\n")
    print("| model | rtol | evaluated | needed | K |")
    print("|---|---:|---:|---:|---:|")
    cases = [
        ("localised K=1000", localised_mixture(1000), gmmfast.Grid(512, 512, (0, SIDE), (0, SIDE))),
        ("china-bw", demo_model("china-bw"), gmmfast.Grid(640, 427)),
        ("flower-color (x, y)", demo_model("flower-color"), gmmfast.Grid(640, 427)),
    ]
    for name, mixture, grid in cases:
        for rtol in (0.0, 1e-9, 1e-6, 1e-3):
            print(
                f"| {name} | {rtol:g} | {evaluations(mixture, grid, rtol):.1f} | "
                f"{needed(mixture, grid, rtol):.1f} | {mixture.n_components} |"
            )


if __name__ == "__main__":
    main()
