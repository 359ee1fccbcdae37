"""gmmfast's point kernels (``score_samples``) against their peers on arbitrary points.

Workloads (the models ship with gmmfast, see ``gmmfast.datasets``):

* **china-bw ×10**: the 21,862 dark pixels of the china line drawing, ten copies each moved by
  a uniform jitter of up to half a pixel (218,620 distinct 2-D points), K = 500.
* **flower**: every pixel of ``flower.jpg`` as (x, y, r, g, b), 273,280 5-D points, K = 1000.
* **colour samples**: 200,000 samples of a 5-D colour model with K = 300 (the 300 heaviest
  components of the flower model, weights renormalised).
* **worst case**: the china-bw model plus one component covering everything (weight 1 %,
  standard deviation ten image widths), at 200,000 points spread uniformly over a square
  eleven image widths across, far wider than the components.

Peers, measured in this run on the same input: a multithreaded brute-force numba loop
(``benchmarks/_peers.py``) and, unless ``--skip-slow``, scikit-learn's ``score_samples``.
Then, per workload, the components evaluated per point against the fewest needed (terms above
2⁻⁵³ of the largest for exact results; the fewest whose terms reach (1 − rtol) of the density
for rtol > 0), on a sample of points.

    python benchmarks/bench_points.py [--repeat 5] [--skip-slow]
"""

from __future__ import annotations

import argparse

import numpy as np

import gmmfast
from _harness import machine, measure, table
from _peers import numba_score_samples
from gmmfast import _core
from gmmfast._model import scoring_form
from gmmfast.datasets import demo_model, demo_points
from gmmfast.reference import weighted_log_prob
from gmmfast.testing import to_sklearn

RTOL = 1e-9


def china_points(seed: int = 0) -> np.ndarray:
    points = demo_points("china-bw")
    rng = np.random.default_rng(seed)
    copies = np.repeat(points[None], 10, axis=0)
    return (copies + rng.uniform(-0.5, 0.5, size=copies.shape)).reshape(-1, 2)


def heaviest(model: gmmfast.Mixture, k: int) -> gmmfast.Mixture:
    keep = np.sort(np.argsort(model.weights)[::-1][:k])
    weights = model.weights[keep]
    return gmmfast.Mixture(weights / weights.sum(), model.means[keep], model.covariances[keep])


def with_a_huge_component(model: gmmfast.Mixture, width: float) -> gmmfast.Mixture:
    centre = model.means.mean(axis=0)
    huge = (10 * width) ** 2 * np.eye(2)
    return gmmfast.Mixture(
        np.append(0.99 * model.weights, 0.01),
        np.vstack([model.means, centre]),
        np.concatenate([model.covariances, huge[None]]),
    )


def workloads():
    china = demo_model("china-bw")
    flower = demo_model("flower-color")
    width = float(china.metadata["width"])
    colour = heaviest(flower, 300)
    worst = with_a_huge_component(china, width)
    rng = np.random.default_rng(1)
    spread = rng.uniform(-5 * width, 6 * width, size=(200_000, 2))
    return [
        ("china-bw ×10", china, china_points()),
        ("flower", flower, demo_points("flower-color")),
        ("colour samples", colour, gmmfast.sample(colour, 200_000, random_state=0)[0]),
        ("worst case", worst, spread),
    ]


def evaluated(model, X: np.ndarray, rtol: float) -> float:
    """Mean number of components the point kernel evaluates per point."""
    out = np.empty(len(X), np.int64)
    _core.point_candidate_counts(scoring_form(model).components(), X, out, rtol, "density")
    return float(out.mean())


def needed(model, X: np.ndarray, rtol: float, sample: int = 4000) -> float:
    """Mean over sampled points of the fewest components whose terms reach (1 − rtol) of the
    density (rtol = 0: every term above 2⁻⁵³ of the largest, what exact rounding needs)."""
    rng = np.random.default_rng(0)
    points = X[rng.choice(len(X), min(sample, len(X)), replace=False)]
    log_prob = weighted_log_prob(scoring_form(model), points)
    rel = log_prob - log_prob.max(axis=1, keepdims=True)
    if rtol == 0:
        return float((rel > -37).sum(axis=1).mean())
    terms = np.sort(np.exp(rel), axis=1)[:, ::-1]
    cumulative = np.cumsum(terms, axis=1)
    return float(((cumulative < (1 - rtol) * cumulative[:, -1:]).sum(axis=1) + 1).mean())


def run(name: str, model, X: np.ndarray, args) -> None:
    """Time every peer on one workload and print its table and checks."""
    form = scoring_form(model)
    print(f"## {name}: {len(X):,} points, {X.shape[1]}-D, K={model.n_components}\n")
    ours = gmmfast.score_samples(model, X)
    approx = gmmfast.score_samples(model, X, rtol=RTOL)
    checks = {"numba": numba_score_samples(form, X)}  # compiles
    results = [
        measure("gmmfast", lambda: gmmfast.score_samples(model, X), args.repeat, note="exact"),
        measure(
            f"gmmfast rtol={RTOL:g}",
            lambda: gmmfast.score_samples(model, X, rtol=RTOL),
            args.repeat,
        ),
        measure("numba brute force", lambda: numba_score_samples(form, X), args.repeat),
    ]
    if not args.skip_slow:
        estimator = to_sklearn(model)
        checks["scikit-learn"] = estimator.score_samples(X)
        results.append(
            measure(
                "scikit-learn",
                lambda: estimator.score_samples(X),
                args.sklearn_repeat,
                warmup=0,
            )
        )
    print(table(results, "gmmfast"))
    exact, fast = results[0].median, results[1].median
    print("\nnumba brute force / gmmfast:", end=" ")
    print(f"{results[2].median / exact:,.1f}× exact, {results[2].median / fast:,.1f}× rtol")
    for peer, other in checks.items():
        print(f"max |gmmfast − {peer}| = {np.abs(ours - other).max():.3g}")
    print(f"max (exact − rtol={RTOL:g}) log-density = {np.max(ours - approx):.3g}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per fast peer")
    parser.add_argument("--sklearn-repeat", type=int, default=1, help="runs of scikit-learn")
    parser.add_argument("--skip-slow", action="store_true", help="skip scikit-learn")
    args = parser.parse_args()
    print(f"# score_samples on points\nmachine: {machine()}\n")
    counts = []
    for name, model, X in workloads():
        X = np.ascontiguousarray(X, dtype=np.float64)
        run(name, model, X, args)
        for rtol in (0.0, RTOL):
            counts.append((name, rtol, evaluated(model, X, rtol), needed(model, X, rtol), model))
    print("## components evaluated per point against the fewest needed\n")
    print("| points | rtol | evaluated | needed | K |")
    print("|---|---:|---:|---:|---:|")
    for name, rtol, done, need, model in counts:
        print(f"| {name} | {rtol:g} | {done:.1f} | {need:.1f} | {model.n_components} |")


if __name__ == "__main__":
    main()
