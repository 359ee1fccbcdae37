"""Divergences between two demo-sized colour models, gmmfast.metrics against NumPy/SciPy.

Workload: ``flower-color`` (shipped with gmmfast: (x, y, r, g, b) of flower.jpg, K = 1000 full
covariances, 5-D) as p, and as q a perturbed copy (means moved by a quarter of each component's
standard deviation, covariances scaled by up to ±20 %, weights reshuffled by ±30 %; fixed
seed) — or, with ``--refit``, the same picture refitted from another initialisation (slow).

Peers, measured in this run on the same models:
  * ``kl_divergence`` with ``--samples`` (default 10⁶) samples: a vectorised NumPy/SciPy
    implementation of the same estimator — the same stratified allocation, per-component
    draws with NumPy's generator, log-densities of blocks of 2,000 samples against all K
    components as one BLAS product of quadratic features (the trick scikit-learn uses) and
    ``scipy.special.logsumexp``;
  * ``l2_distance`` / ``cauchy_schwarz_divergence`` (K = 1000 × 1000 pairwise Gaussian
    overlaps): the NumPy reference twin ``gmmfast.reference.pairwise_logsumexp`` (until the
    compiled kernel is wired in, gmmfast calls the twin too and the ratio is about 1);
  * variance reduction: for each Monte Carlo measure, the per-sample variance of plain Monte
    Carlo (multinomial draws from p, or from p and q half each for the symmetric measures)
    over that of gmmfast's estimator: how many times fewer samples give the same accuracy
    (plain JS samples p and q half each; plain TV and Hellinger² average (1 − q/p)⁺ and
    √(q/p) over samples of p).

    python benchmarks/bench_metrics.py [--samples 1000000] [--repeat 3] [--peer-repeat 1]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.special import logsumexp

import gmmfast
from _harness import machine, measure, table
from gmmfast import metrics
from gmmfast import reference as ref
from gmmfast._metrics_mc import allocation
from gmmfast.datasets import demo_model, fit_demo_model


def perturbed(model: gmmfast.Mixture, seed: int = 1) -> gmmfast.Mixture:
    rng = np.random.default_rng(seed)
    k, d = model.means.shape
    sd = np.sqrt(np.diagonal(model.covariances, axis1=1, axis2=2))
    means = model.means + 0.25 * sd * rng.standard_normal((k, d))
    scale = rng.uniform(0.8, 1.2, size=(k, 1, 1))
    weights = model.weights * rng.uniform(0.7, 1.3, size=k)
    return gmmfast.Mixture(weights / weights.sum(), means, model.covariances * scale)


class NumpyDensity:
    """log p(x) of a full-covariance mixture for blocks of points: xᵀP x − 2 xᵀP μ + μᵀP μ as
    one product of quadratic features (m, d(d+1)/2 + d + 1) by coefficients (…, K)."""

    def __init__(self, model: gmmfast.Mixture) -> None:
        d = model.n_features
        precision = np.linalg.inv(model.covariances)
        self.rows, self.cols = np.triu_indices(d)
        factor = np.where(self.rows == self.cols, 1.0, 2.0)
        quadratic = precision[:, self.rows, self.cols] * factor  # (K, d(d+1)/2)
        linear = -2.0 * np.einsum("kij,kj->ki", precision, model.means)
        constant = np.einsum("ki,kij,kj->k", model.means, precision, model.means)
        log_det = np.linalg.slogdet(model.covariances)[1]
        self.coefficients = np.concatenate([quadratic, linear, constant[:, None]], axis=1).T
        self.offset = np.log(model.weights) - 0.5 * (d * math.log(2 * math.pi) + log_det)

    def __call__(self, X: np.ndarray, block: int = 2000) -> np.ndarray:
        out = np.empty(len(X))
        for start in range(0, len(X), block):
            x = X[start : start + block]
            features = np.concatenate(
                [x[:, self.rows] * x[:, self.cols], x, np.ones((len(x), 1))], axis=1
            )
            log_prob = self.offset - 0.5 * (features @ self.coefficients)
            out[start : start + block] = logsumexp(log_prob, axis=1)
        return out


def numpy_kl(p: gmmfast.Mixture, q: gmmfast.Mixture, n: int, seed: int = 0) -> tuple:
    """The stratified estimator of KL(p ‖ q) in NumPy/SciPy: (value, standard error)."""
    rng = np.random.default_rng(seed)
    counts = allocation(np.asarray(p.weights), n)
    chol = np.linalg.cholesky(p.covariances)
    log_p, log_q = NumpyDensity(p), NumpyDensity(q)
    means, variances = np.zeros(p.n_components), np.zeros(p.n_components)
    block = 2**16
    pending, owners = [], []
    for k in np.flatnonzero(counts):
        pending.append(p.means[k] + rng.standard_normal((int(counts[k]), 5)) @ chol[k].T)
        owners.append(np.full(int(counts[k]), k))
        if sum(len(x) for x in pending) >= block or k == np.flatnonzero(counts)[-1]:
            X, labels = np.concatenate(pending), np.concatenate(owners)
            f = log_p(X) - log_q(X)
            total = np.bincount(labels, f, p.n_components)
            squares = np.bincount(labels, f * f, p.n_components)
            means += total
            variances += squares
            pending, owners = [], []
    n_k = counts.astype(float)
    mean_k = means / n_k
    var_k = (variances - n_k * mean_k**2) / (n_k - 1)
    value = float(np.sum(p.weights * mean_k))
    return value, math.sqrt(float(np.sum(p.weights**2 * var_k / n_k)))


def bench_kl(p, q, args) -> None:
    n = args.samples
    print(f"\n## kl_divergence, K={p.n_components} vs K={q.n_components}, d=5, n={n:,}\n")
    ours = metrics.kl_divergence(p, q, n_samples=n, random_state=0)
    peer = numpy_kl(p, q, n)
    print(f"gmmfast: {ours}\nNumPy:   value={peer[0]}, std_error={peer[1]}\n")
    results = [
        measure(
            "gmmfast",
            lambda: metrics.kl_divergence(p, q, n_samples=n, random_state=0),
            args.repeat,
        ),
        measure("NumPy/SciPy", lambda: numpy_kl(p, q, n), args.peer_repeat, warmup=0),
    ]
    print(table(results, "gmmfast"))


def bench_closed_forms(p, q, args) -> None:
    print(f"\n## l2_distance / cauchy_schwarz_divergence, K={p.n_components}×{q.n_components}\n")
    stacks = [(m.means, m.covariances, np.log(m.weights)) for m in (p, q)]  # 'full' models

    def twin():
        for a, b in ((0, 0), (1, 1), (0, 1)):
            ref.pairwise_logsumexp(stacks[a][0], stacks[a][1], *stacks[b], "overlap")

    results = [
        measure("gmmfast l2_distance", lambda: metrics.l2_distance(p, q), args.repeat),
        measure(
            "gmmfast cauchy_schwarz",
            lambda: metrics.cauchy_schwarz_divergence(p, q),
            args.repeat,
        ),
        measure("NumPy reference twin", twin, args.peer_repeat, warmup=0),
    ]
    print(table(results, "gmmfast l2_distance"))


def plain_variances(p, q, n: int) -> dict:
    """Per-sample variance of plain Monte Carlo for each measure (multinomial draws)."""
    X, _ = gmmfast.sample(p, n, random_state=5)
    lp, lq = gmmfast.score_samples(p, X), gmmfast.score_samples(q, X)
    Y, _ = gmmfast.sample(q, n, random_state=6)
    mp, mq = gmmfast.score_samples(p, Y), gmmfast.score_samples(q, Y)
    log_m_x, log_m_y = np.logaddexp(lp, lq) - math.log(2), np.logaddexp(mp, mq) - math.log(2)
    # JS = ½ E_p[log p/m] + ½ E_q[log q/m] with n/2 samples each: the estimator's variance is
    # ½ (var_p + var_q) / n.
    js = 0.5 * (np.var(lp - log_m_x) + np.var(mq - log_m_y))
    # TV = E_p[(1 − q/p)⁺] and H² = 1 − E_p[√(q/p)], from p's samples alone.
    tv = np.var(np.maximum(0.0, -np.expm1(lq - lp)))
    hell = np.var(np.exp(0.5 * (lq - lp)))
    return {
        "kl_divergence": np.var(lp - lq),
        "js_divergence": js,
        "total_variation_distance": tv,
        "hellinger_distance²": hell,
        "entropy": np.var(lp),
        "cross_entropy": np.var(lq),
    }


def bench_variance(p, q, args) -> None:
    n = min(args.samples, 200_000)
    print(f"\n## samples saved by the variance reduction (n={n:,})\n")
    plain = plain_variances(p, q, n)
    ours = {
        "kl_divergence": metrics.kl_divergence(p, q, n_samples=n, random_state=1),
        "js_divergence": metrics.js_divergence(p, q, n_samples=n, random_state=1),
        "total_variation_distance": metrics.total_variation_distance(
            p, q, n_samples=n, random_state=1
        ),
        "hellinger_distance²": metrics.hellinger_distance(p, q, n_samples=n, random_state=1),
        "entropy": metrics.entropy(p, n_samples=n, random_state=1),
        "cross_entropy": metrics.cross_entropy(p, q, n_samples=n, random_state=1),
    }
    print("| measure | method | plain variance / ours (samples saved ×) |\n|---|---|---:|")
    for name, est in ours.items():
        se = est.std_error
        if name == "hellinger_distance²":  # back from H to H²: se(H²) = 2 H se(H)
            se = 2 * est.value * se
        variance = se**2 * est.n_samples
        ratio = plain[name] / variance if variance > 0 else math.inf
        print(f"| {name} | {est.method} | {ratio:,.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of gmmfast")
    parser.add_argument("--peer-repeat", type=int, default=1, help="runs of each peer")
    parser.add_argument("--refit", action="store_true", help="q: a refit, not a perturbation")
    args = parser.parse_args()
    print(machine())
    p = demo_model("flower-color")
    q = fit_demo_model("flower-color", random_state=1) if args.refit else perturbed(p)
    bench_kl(p, q, args)
    bench_closed_forms(p, q, args)
    bench_variance(p, q, args)


if __name__ == "__main__":
    main()
