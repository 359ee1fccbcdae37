"""EM: gmmfast.GaussianMixture against scikit-learn's GaussianMixture, measured in the same run.

1. Time per EM iteration from the same initialisation (the shipped demo models given as
   ``weights_init``/``means_init``/``precisions_init``, so neither runs k-means), exact and
   with rtol=1e-6, with the peak memory of the fit and the agreement of the lower bounds:
   china-bw (21,862 points, 2-D, K=500) and flower-color (a 50,000-pixel subsample, 5-D,
   K=1000).
2. Convergence: the lower bound against wall time for both, from the same k-means
   initialisation, on china-bw (``--plot`` writes docs/fit_convergence.png).
3. Scaling: time per iteration against n and K on a localised 2-D mixture.

    python benchmarks/bench_fit.py [--sklearn-iterations 3] [--quick] [--plot]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmfast
from _harness import machine, measure
from gmmfast.datasets import demo_model, demo_points
from gmmfast.image import PIXEL_VARIANCE

warnings.simplefilter("ignore", ConvergenceWarning)


def from_model(model: gmmfast.Mixture, max_iter: int, **extra) -> dict:
    return dict(
        n_components=model.n_components,
        weights_init=model.weights,
        means_init=model.means,
        precisions_init=np.linalg.inv(model.covariances),
        reg_covar=PIXEL_VARIANCE,
        max_iter=max_iter,
        tol=0,
        **extra,
    )


def per_iteration(args) -> None:
    print("## time per EM iteration, from the same initialisation\n")
    print(
        "| workload | gmmfast exact | gmmfast rtol=1e-6 | scikit-learn | scikit-learn / "
        "gmmfast (exact, rtol) | peak memory gmmfast / scikit-learn | max rel. difference "
        "of lower_bounds_ |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, subsample in (("china-bw", None), ("flower-color", 50_000)):
        X = demo_points(name)
        if subsample:
            X = X[np.random.default_rng(0).choice(len(X), subsample, replace=False)]
        model = demo_model(name)
        m = args.iterations

        def ours(rtol, m=m, X=X, model=model):
            return gmmfast.GaussianMixture(**from_model(model, m, rtol=rtol)).fit(X)

        def theirs(iterations=args.sklearn_iterations, X=X, model=model):
            return SkGaussianMixture(**from_model(model, iterations)).fit(X)

        # Per iteration: the difference between fits of m and of 1 iterations, over m − 1, so
        # that neither side's fixed costs (validation, the initial E-step, fit_predict's final
        # one) are spread over its iterations.
        exact = measure("exact", lambda: ours(0.0), args.repeat)
        exact_1 = measure("exact, 1 iteration", lambda: ours(0.0, 1), args.repeat)
        approx = measure("rtol", lambda: ours(1e-6), args.repeat)
        approx_1 = measure("rtol, 1 iteration", lambda: ours(1e-6, 1), args.repeat)
        peer = measure("sklearn", theirs, 1, warmup=0)
        peer_1 = measure("sklearn, 1 iteration", lambda: theirs(1), 1, warmup=0)
        a, b = ours(0.0), theirs()
        k = min(len(a.lower_bounds_), len(b.lower_bounds_))
        diff = np.max(
            np.abs(np.subtract(a.lower_bounds_[:k], b.lower_bounds_[:k]))
            / np.abs(b.lower_bounds_[:k])
        )
        t_exact = (exact.median - exact_1.median) / (m - 1)
        t_rtol = (approx.median - approx_1.median) / (m - 1)
        t_peer = (peer.median - peer_1.median) / (args.sklearn_iterations - 1)
        print(
            f"| {name} ({len(X):,} points, K={model.n_components}) | {t_exact * 1e3:.1f} ms | "
            f"{t_rtol * 1e3:.1f} ms | {t_peer * 1e3:,.0f} ms | {t_peer / t_exact:,.0f}×, "
            f"{t_peer / t_rtol:,.0f}× | {exact.peak_bytes / 2**20:.1f} / "
            f"{peer.peak_bytes / 2**20:,.0f} MiB | {diff:.1e} |"
        )
    print()


class Trace:
    """Wall time and lower bound after each EM iteration, read from scikit-learn's hook."""

    def __init__(self, estimator):
        self.times, self.bounds = [], []
        self.start = time.perf_counter()
        original = estimator._print_verbose_msg_iter_end
        lower = estimator._compute_lower_bound

        def bound(*a):
            value = lower(*a)
            self.bounds.append(float(value))
            return value

        def tick(*a):
            self.times.append(time.perf_counter() - self.start)
            return original(*a)

        estimator._compute_lower_bound = bound
        estimator._print_verbose_msg_iter_end = tick


def convergence(args) -> None:
    print("## convergence on china-bw from the same k-means start (max_iter=100)\n")
    X = demo_points("china-bw")
    params = dict(n_components=500, random_state=0, reg_covar=PIXEL_VARIANCE, max_iter=100)
    traces = {}
    for label, cls in (("gmmfast", gmmfast.GaussianMixture), ("scikit-learn", SkGaussianMixture)):
        est = cls(**params)
        trace = Trace(est)
        est.fit(X)
        traces[label] = trace
        print(
            f"- {label}: {est.n_iter_} iterations, converged={est.converged_}, lower bound "
            f"{est.lower_bound_:.6f}, {trace.times[-1]:.2f} s in all (k-means start included)"
        )
    ours, theirs = traces["gmmfast"], traces["scikit-learn"]
    k = min(len(ours.bounds), len(theirs.bounds))
    diff = np.max(np.abs(np.subtract(ours.bounds[:k], theirs.bounds[:k])))
    print(f"- largest difference of the lower bounds, iteration by iteration: {diff:.1e}\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        for label, trace in traces.items():
            ax.plot(trace.times, trace.bounds, marker=".", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("wall time (s, log scale), k-means initialisation included")
        ax.set_ylabel("lower bound (mean log-likelihood)")
        ax.set_title("EM on china-bw, K=500, same start")
        ax.legend()
        fig.tight_layout()
        fig.savefig("../docs/fit_convergence.png")
        print("wrote docs/fit_convergence.png\n")


def scaling(args) -> None:
    from bench_scaling import SIDE, localised_mixture

    print("## scaling: time per iteration (exact) on a localised 2-D mixture\n")
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    ks = [100, 300] if args.quick else [100, 300, 1000, 3000]
    print("| n \\ K | " + " | ".join(str(k) for k in ks) + " |")
    print("|---|" + "---:|" * len(ks))
    for n in sizes:
        row = []
        for k in ks:
            model = localised_mixture(k)
            X = gmmfast.sample(model, n, random_state=0)[0]
            assert X.max() < 2 * SIDE
            params = from_model(model, 5)
            params["reg_covar"] = 1e-6
            run = measure("fit", lambda p=params, X=X: gmmfast.GaussianMixture(**p).fit(X), 1)
            row.append(f"{run.median / 5 * 1e3:,.1f} ms")
        print(f"| {n:,} | " + " | ".join(row) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="gmmfast EM iterations")
    parser.add_argument("--sklearn-iterations", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", action="store_true", help="write docs/fit_convergence.png")
    args = parser.parse_args()
    print(f"# EM, gmmfast against scikit-learn\nmachine: {machine()}\n")
    per_iteration(args)
    convergence(args)
    scaling(args)


if __name__ == "__main__":
    main()
