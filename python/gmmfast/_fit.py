"""EM for Gaussian mixtures without an (n × K) array: the E-step with the M-step's sums in Rust
(``_core.e_step``), the M-step and the initialisations from those sums in NumPy.

Every formula here is scikit-learn's (``sklearn.mixture._gaussian_mixture``), rewritten in
terms of per-component sums instead of the responsibility matrix:

* ``N_k = Σ_i w_i r_ik``, ``S1_k = Σ_i w_i r_ik (x_i − c_k)``,
  ``S2_k = Σ_i w_i r_ik (x_i − c_k)(x_i − c_k)ᵀ`` around a shift c_k (the current mean);
* ``nk = N_k + 10·eps`` (scikit-learn's floor, which keeps an empty component finite),
  ``μ_k = (S1_k + N_k c_k) / nk``, and with δ_k = μ_k − c_k the scatter around the new mean
  ``S2_k − S1_k δ_kᵀ − δ_k S1_kᵀ + N_k δ_k δ_kᵀ`` — what scikit-learn's ``full`` covariance
  sums, and the others reduce (``tied``: summed over components and divided by Σ nk;
  ``diag``: its diagonal; ``spherical``: the mean of that).

w_i are the sample weights (1 without them), so integer weights fit as repeated rows.
This module imports neither scikit-learn nor SciPy; :mod:`gmmfast._estimator` does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core
from ._canonical import Components, gaussian_form, precision_cholesky
from ._gaussian import weighted_log_prob

# scikit-learn adds 10·eps to every component's mass (``_estimate_gaussian_parameters``).
_EPS_MASS = 10 * np.finfo(np.float64).eps
# Components lighter than this share of the total weight have their E-step sums recomputed
# without skipping any responsibility (see ``e_step``): the skipped ones weigh at most
# 8.5e-17 of a point each, so above it they move a component's sums by less than 1e-11.
_STARVED = 1e-5
# Values of an (n × m) block of responsibilities held at a time by those recomputations.
_BLOCK_VALUES = 1 << 20
# Rows of random responsibilities drawn at a time ('random' initialisation): scikit-learn
# draws all n × K at once; drawing them by rows gives the same numbers in bounded memory.
_RANDOM_ROWS = 4096

ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data."
)


class Statistics(NamedTuple):
    """The sums of one E-step (module docstring): ``log_lik`` = Σ_i w_i log p(x_i), ``mass``
    N (K,), ``first`` S1 (K, d) and ``second`` S2 (K, d, d) around ``shift`` (K, d)."""

    log_lik: float
    mass: np.ndarray
    first: np.ndarray
    second: np.ndarray
    shift: np.ndarray


class Parameters(NamedTuple):
    """Mixture parameters in scikit-learn's layouts (``weights_``, ``means_``,
    ``covariances_``, ``precisions_cholesky_``); ``covariances`` is None where scikit-learn
    leaves it unset (an initialisation from ``precisions_init``)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray | None
    precisions_cholesky: np.ndarray


def precisions_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """scikit-learn's ``precisions_cholesky_`` of ``covariances``, batched over components;
    ``ValueError`` with scikit-learn's message when a covariance is not positive definite."""
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0.0):
            raise ValueError(ILL_DEFINED)
        return precision_cholesky(covariances, covariance_type)
    # Batched in Rust: one LAPACK call per component (as NumPy makes them) costs more than
    # the rest of the M-step for a thousand small matrices.
    covariances = np.ascontiguousarray(covariances, dtype=np.float64)
    d = covariances.shape[-1]
    stack = covariances.reshape(-1, d, d)
    factors = np.empty_like(stack)
    if _core.precision_cholesky(stack, factors) >= 0:
        raise ValueError(ILL_DEFINED)
    return factors.reshape(covariances.shape)


def precisions_cholesky_from_precisions(precisions, covariance_type: str) -> np.ndarray:
    """scikit-learn's factors of ``precisions_init``: U upper triangular with U Uᵀ = Λ (the
    lower Cholesky factor of Λ with rows and columns reversed, reversed back)."""
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        flipped = np.flip(precisions, axis=(-2, -1))
        return np.ascontiguousarray(np.flip(np.linalg.cholesky(flipped), axis=(-2, -1)))
    return np.sqrt(precisions)


def given_parameters(weights_init, means_init, precisions_init, covariance_type: str):
    """The initial parameters when the three ``*_init`` arrays (checked) give all of them, as
    scikit-learn takes them then (it estimates nothing, and leaves ``covariances_`` unset)."""
    return Parameters(
        np.asarray(weights_init, dtype=np.float64),
        np.asarray(means_init, dtype=np.float64),
        None,
        precisions_cholesky_from_precisions(precisions_init, covariance_type),
    )


class FitPoints:
    """The rows of a fit, ``X`` (n, d) float64 and C-contiguous, and from its first E-step on
    their kd-tree (``_core.PointTree``, which holds its own copy of the rows): EM evaluates
    the same points at every iteration, so the tree is built once instead of at every E-step.
    With three features or more the tree also keeps, from one E-step to the next, each leaf's
    candidate components, proven again at the next iteration (``rust/points/carry.rs``): at
    ``rtol=0`` the same bits; at ``rtol > 0`` a point drops only components below rtol / K of
    its largest term.
    """

    def __init__(self, X: np.ndarray):
        self.X = X
        self._tree: _core.PointTree | None = None

    def tree(self, components: _core.Components) -> _core.PointTree:
        """The tree, built on the first call (split as ``components``' kernels would)."""
        if self._tree is None:
            self._tree = _core.PointTree(components, self.X)
        return self._tree


def e_step(params: Parameters, covariance_type: str, X, sample_weight, rtol: float) -> Statistics:
    """One E-step of the mixture ``params`` at the rows of ``X`` (n, d) float64, or of a
    :class:`FitPoints` (the same rows, with the tree every E-step of a fit reuses), with
    ``sample_weight`` (n,) or None; the second moments around the current means.

    The kernel skips, at each point, the responsibilities below 2⁻⁵³ of its largest (8.5e-17
    at most): invisible in the sums of a component that holds points, but all there is of a
    component that has lost them, whose mass is then a sum of such crumbs. The sums of every
    component lighter than ``_STARVED`` of the total weight are therefore recomputed over all
    points without skipping (:func:`_starved_statistics`), which keeps each component's sums
    within 1e-11 relative of scikit-learn's (its mean, for instance, is the weighted mean of
    the crumbs, as scikit-learn's is).
    """
    with np.errstate(divide="ignore"):  # a weight of zero is a log-weight of −inf
        log_weights = np.log(params.weights)
    form = gaussian_form(log_weights, params.means, params.precisions_cholesky, covariance_type)
    k, d = params.means.shape
    shift = np.ascontiguousarray(params.means, dtype=np.float64)
    mass, first, second = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
    components = form.components()
    if isinstance(X, FitPoints):
        rows, X = X.tree(components), X.X
    else:
        rows = X
    log_lik = _core.e_step(components, rows, shift, mass, first, second, sample_weight, rtol)
    total = len(X) if sample_weight is None else float(np.sum(sample_weight))
    starved = np.flatnonzero(mass < _STARVED * total)
    if starved.size and rtol == 0:
        log_p = np.empty(len(X))
        _core.score_samples(components, X, log_p)
        sums = _starved_statistics(form, starved, X, sample_weight, log_p, shift)
        mass[starved], first[starved], second[starved] = sums
    return Statistics(log_lik, mass, first, second, shift)


def _starved_statistics(form, which, X, sample_weight, log_p, shift) -> tuple:
    """N, S1, S2 of the components ``which`` of the canonical ``form``, every responsibility
    counted (exp(l_k − log p) down to underflow), by blocks of rows."""
    n, d = X.shape
    sub = Components(form.log_const[which], form.means[which], form.prec_chol[which])
    m = len(which)
    mass, first, second = np.zeros(m), np.zeros((m, d)), np.zeros((m, d, d))
    rows = max(1, _BLOCK_VALUES // m)
    for start in range(0, n, rows):
        block = slice(start, min(n, start + rows))
        with np.errstate(under="ignore"):
            resp = np.exp(weighted_log_prob(sub, X[block]) - log_p[block, None])
        if sample_weight is not None:
            resp *= sample_weight[block, None]
        for j, k in enumerate(which):
            centred = X[block] - shift[k]
            mass[j] += resp[:, j].sum()
            first[j] += resp[:, j] @ centred
            second[j] += (resp[:, j, None] * centred).T @ centred
    return mass, first, second


def labels(params: Parameters, covariance_type: str, X) -> np.ndarray:
    """The most responsible component of each row of ``X`` (n, d) float64 under ``params``,
    int64 (n,): scikit-learn's final E-step's labels. The weights are taken as they are (an
    initialisation with ``max_iter=0`` may leave them summing to less than 1)."""
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    form = gaussian_form(log_weights, params.means, params.precisions_cholesky, covariance_type)
    out = np.empty(len(X), dtype=np.int64)
    _core.predict(form.components(), X, out)
    return out


def m_step(stats: Statistics, covariance_type: str, reg_covar: float) -> Parameters:
    """scikit-learn's M-step (``GaussianMixture._m_step``) from the sums of an E-step."""
    nk = stats.mass + _EPS_MASS
    means = (stats.first + stats.mass[:, None] * stats.shift) / nk[:, None]
    scatter = _scatter(stats, means)
    covariances = _covariances(scatter, nk, covariance_type, reg_covar)
    weights = nk / nk.sum()
    return Parameters(
        weights, means, covariances, precisions_cholesky(covariances, covariance_type)
    )


def _scatter(stats: Statistics, means: np.ndarray) -> np.ndarray:
    """Σ_i w_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ per component (K, d, d), from the sums around the
    shift and the new means."""
    # S2 − S1 δᵀ − δ S1ᵀ + N δ δᵀ with δ = μ − c, in Rust (the same operations in the same
    # order as NumPy's broadcasting would make them, at a tenth of its time for d of a few).
    mass, first, second, delta = (
        np.ascontiguousarray(a, dtype=np.float64)
        for a in (stats.mass, stats.first, stats.second, means - stats.shift)
    )
    out = np.empty(second.shape)
    _core.scatter(mass, first, second, delta, out)
    return out


def _covariances(scatter, nk, covariance_type: str, reg_covar: float) -> np.ndarray:
    d = scatter.shape[-1]
    if covariance_type == "full":
        return scatter / nk[:, None, None] + reg_covar * np.eye(d)
    if covariance_type == "tied":
        return scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    diag = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
    return diag if covariance_type == "diag" else diag.mean(axis=1)


def assigned_parameters(
    X: np.ndarray,
    sample_weight,
    points: np.ndarray,
    components: np.ndarray,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
) -> tuple:
    """scikit-learn's ``_estimate_gaussian_parameters`` for responsibilities that are 1 at
    (``points[j]``, ``components[j]``) and 0 elsewhere — the 'kmeans' (every point, its
    label), 'k-means++' and 'random_from_data' (one chosen point per component)
    initialisations — without the (n × K) matrix. Returns ``(nk, means, covariances)``."""
    d = X.shape[1]
    w = np.ones(len(points)) if sample_weight is None else sample_weight[points]
    x = X[points]
    mass = np.bincount(components, weights=w, minlength=n_components)
    nk = mass + _EPS_MASS
    sums = np.stack(
        [np.bincount(components, weights=w * x[:, j], minlength=n_components) for j in range(d)],
        axis=1,
    )
    means = sums / nk[:, None]
    if covariance_type == "tied":
        return nk, means, _tied_over_all_points(X, sample_weight, nk, means, reg_covar)
    # Σ w (x − μ)(x − μ)ᵀ over each component's points, as scikit-learn's centred sums.
    centred = x - means[components]
    scatter = np.zeros((n_components, d, d))
    for a in range(d):
        for b in range(a, d):
            column = np.bincount(
                components, weights=w * centred[:, a] * centred[:, b], minlength=n_components
            )
            scatter[:, a, b] = scatter[:, b, a] = column
    covariances = _covariances(scatter, nk, covariance_type, reg_covar)
    return nk, means, covariances


def _tied_over_all_points(X, sample_weight, nk, means, reg_covar: float) -> np.ndarray:
    """scikit-learn's tied covariance (Σ_i w_i x_i x_iᵀ − Σ_k nk μ_k μ_kᵀ) / Σ nk, which sums
    over every point even where an initialisation leaves its responsibilities at 0; computed
    around the data's weighted mean g, so that the data's offset does not cancel digits."""
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    total = w.sum()
    g = (w @ X) / total
    centred = X - g
    spread = (centred * w[:, None]).T @ centred
    e = means - g
    between = (e * nk[:, None]).T @ e
    a = nk @ e
    covariance = spread - between - np.outer(g, a) - np.outer(a, g)
    covariance += (total - nk.sum()) * np.outer(g, g)
    covariance /= nk.sum()
    return covariance + reg_covar * np.eye(X.shape[1])


def random_parameters(
    X: np.ndarray,
    sample_weight,
    random_state: np.random.RandomState,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
) -> tuple:
    """scikit-learn's 'random' initialisation: responsibilities uniform in [0, 1) normalised
    per row, drawn from ``random_state`` exactly as scikit-learn draws them, by blocks of rows
    (O(block × K) memory). Returns ``(nk, means, covariances)``."""
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    # Moments around the data's weighted mean g, so that its offset does not cancel digits.
    g = (w @ X) / w.sum()
    mass, first = np.zeros(n_components), np.zeros((n_components, d))
    second = np.zeros((n_components, d * d))
    for start in range(0, n, _RANDOM_ROWS):
        stop = min(n, start + _RANDOM_ROWS)
        resp = random_state.uniform(size=(stop - start, n_components))
        resp /= resp.sum(axis=1)[:, None]
        resp *= w[start:stop, None]
        x = X[start:stop] - g
        mass += resp.sum(axis=0)
        first += resp.T @ x
        second += resp.T @ (x[:, :, None] * x[:, None, :]).reshape(-1, d * d)
    shift = np.broadcast_to(g, (n_components, d))
    stats = Statistics(0.0, mass, first, second.reshape(n_components, d, d), shift)
    nk = mass + _EPS_MASS
    means = (first + mass[:, None] * g) / nk[:, None]
    covariances = _covariances(_scatter(stats, means), nk, covariance_type, reg_covar)
    return nk, means, covariances
