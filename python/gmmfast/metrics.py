"""How far apart are two mixtures: divergences, distances, entropies and mutual information.

Every function takes models of any kind gmmfast accepts (fitted ``GaussianMixture`` or
``BayesianGaussianMixture``, :class:`gmmfast.Mixture`; a ``BayesianGaussianMixture`` through its
plug-in mixture ``weights_``, ``means_``, ``covariances_``, the normalised density its
``sample()`` draws from) and returns an :class:`Estimate` ``(value, std_error, n_samples,
method)``; ``float(estimate)`` is the value. Logarithms are natural: values are in nats.

Methods
-------
``"mc"`` (default)
    Monte Carlo, with variance reduction that keeps the estimate unbiased: samples are drawn
    *stratified by component* (each component of the sampled mixture gets a fixed share of the
    samples in proportion to its weight, see :mod:`gmmfast._metrics_mc`); JS, Hellinger and
    total variation are *importance sampled* from m = (p + q)/2, where their integrands are
    bounded (in [0, ln 2], [0, 1], [0, 1]); entropy and cross-entropy subtract the *control
    variate* log(w_k N_k(x)) of the component each sample came from, whose expectation is
    known exactly. ``method`` in the result says which were used ("mc-stratified",
    "mc-importance-stratified", "mc-stratified-cv"; "mc" alone when ``n_samples`` is below two
    per component). ``std_error`` is the estimated standard error. Seeded results
    (``random_state``) are bitwise the same for any number of threads.
``"grid"`` (every measure but :func:`mutual_information`)
    For 2-feature models (or ``dims`` naming two features): midpoint quadrature over the pixels
    of ``grid=`` (a :class:`gmmfast.Grid`, each pixel the cell around its centre) on the
    renderer's exact log-densities. Deterministic; ``std_error`` is then a bound on what the
    mass outside the grid can add (per-component Gaussian tails outside the box, union bound;
    for KL and the entropies, closed-form Gaussian integrals over the half-planes outside it:
    see :mod:`gmmfast._metrics_grid`).
    It does not cover the discretisation error of the quadrature, which is small when pixels
    are small against the components' standard deviations.
Closed forms
    :func:`l2_distance`, :func:`cauchy_schwarz_divergence`, ``kl_divergence(...,
    method="variational")``, and :func:`kl_divergence` between two single Gaussians (exact
    whatever the method): ``std_error`` 0 and ``n_samples`` 0.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

import numpy as np

from . import _core
from ._canonical import LOG_2PI
from ._gaussian import covariance_factors, full_covariances
from ._metrics_grid import grid_divergence, log_mid
from ._metrics_mc import estimate
from ._mixture import Mixture, canonical_form
from ._model import ModelLike, as_mixture
from ._validation import (
    check_dims,
    check_feature_groups,
    check_method,
    check_n_samples,
    check_same_features,
    empty,
    seed_from,
)

__all__ = [
    "Estimate",
    "cauchy_schwarz_divergence",
    "cross_entropy",
    "entropy",
    "hellinger_distance",
    "js_divergence",
    "kl_divergence",
    "l2_distance",
    "mutual_information",
    "total_variation_distance",
]

LN2 = math.log(2.0)


class Estimate(NamedTuple):
    """A value with its uncertainty.

    ``value`` (float); ``std_error`` (float >= 0: the standard error of a Monte Carlo
    estimate, the bound on the truncation error of a grid quadrature, 0 for a closed form);
    ``n_samples`` (int: samples drawn, 0 for a closed form or a grid); ``method`` (str: how it
    was computed). ``float(estimate)`` is ``estimate.value``.
    """

    value: float
    std_error: float
    n_samples: int
    method: str

    def __float__(self) -> float:
        return float(self.value)


# --- models -------------------------------------------------------------------------------------


def _resolve(model: ModelLike, dims=None) -> Mixture:
    """The plug-in mixture of ``model`` (over ``dims`` if given), without its components of
    weight 0 (they add nothing to any integral, and would get no samples)."""
    mixture = as_mixture(model)
    if dims is not None:
        mixture = mixture.marginal(check_dims(dims, mixture.n_features))
    live = mixture.weights > 0
    if live.all():
        return mixture
    covariances = mixture.covariances
    if mixture.covariance_type != "tied":
        covariances = covariances[live]
    return Mixture(mixture.weights[live], mixture.means[live], covariances, mixture.covariance_type)


def _pair(p: ModelLike, q: ModelLike, dims=None) -> tuple:
    """The plug-in mixtures of ``p`` and ``q`` (over ``dims``), of the same features."""
    p_m, q_m = as_mixture(p), as_mixture(q)
    check_same_features(p_m.n_features, q_m.n_features)
    return _resolve(p_m, dims), _resolve(q_m, dims)


def _order_key(mixture: Mixture) -> bytes:
    """A digest of the parameters: symmetric measures put the pair in this order, so that
    swapping p and q gives bitwise the same result."""
    digest = hashlib.sha256(mixture.covariance_type.encode())
    for array in (mixture.weights, mixture.means, mixture.covariances):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


def _ordered(p: Mixture, q: Mixture) -> tuple:
    return (q, p) if _order_key(q) < _order_key(p) else (p, q)


def _stack(mixture: Mixture) -> np.ndarray:
    """Covariances as a (K, d, d) stack, whatever the covariance type."""
    return full_covariances(
        mixture.covariances, mixture.covariance_type, mixture.n_components, mixture.n_features
    )


def _single(*mixtures: Mixture) -> bool:
    return all(m.n_components == 1 for m in mixtures)


def _log_det(mixture: Mixture) -> float:
    """log det Σ of a single Gaussian, from its precision factor (log det Σ = −2 Σ log U_ii)."""
    return float(-2.0 * np.sum(np.log(np.diagonal(canonical_form(mixture).prec_chol[0]))))


def _gaussian_kl(p: Mixture, q: Mixture) -> float:
    """KL(N_p ‖ N_q) between single Gaussians, exact: ½[tr(Σ_q⁻¹Σ_p) + Mahalanobis − d +
    log det Σ_q − log det Σ_p], through q's precision factor U (Σ_q⁻¹ = U Uᵀ)."""
    if p == q:
        return 0.0
    d = p.n_features
    u = canonical_form(q).prec_chol[0]
    trace = float(np.sum((u.T @ np.linalg.cholesky(_stack(p)[0])) ** 2))
    y = (p.means[0] - q.means[0]) @ u
    value = 0.5 * (trace + float(y @ y) - d + _log_det(q) - _log_det(p))
    return max(value, 0.0)


# --- kernels ------------------------------------------------------------------------------------


def _pairwise_logsumexp(p: Mixture, q: Mixture, kind: str) -> np.ndarray:
    """out[i] = log Σ_j w_q,j · (∫ N_p,i N_q,j for 'overlap', or e^{−KL(N_p,i ‖ N_q,j)} for
    'kl'), shape (K_p,): the one entry point of the pairwise kernel."""
    with np.errstate(divide="ignore"):  # a weight of 0 is a log-weight of −∞
        log_weights_q = np.log(q.weights)
    out = empty((p.n_components,))
    _core.pairwise_logsumexp(
        np.ascontiguousarray(p.means),
        np.ascontiguousarray(_stack(p)),
        np.ascontiguousarray(q.means),
        np.ascontiguousarray(_stack(q)),
        np.ascontiguousarray(log_weights_q),
        kind,
        out,
    )
    return out


def _log_overlap(p: Mixture, q: Mixture) -> float:
    """log ∫ p q (closed form: Σ_ij w_i v_j N(μ_i; ν_j, Σ_i + Γ_j))."""
    from scipy.special import logsumexp

    with np.errstate(divide="ignore"):
        return float(logsumexp(np.log(p.weights) + _pairwise_logsumexp(p, q, "overlap")))


def _scores(mixture: Mixture):
    """f(X) = log-density of ``mixture`` at X (n, d), by the culled point driver (exact)."""
    components = canonical_form(mixture).components()

    def score(X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0])
        _core.score_samples(components, X, out, 0.0)
        return out

    return score


def _own_component_log_term(mixture: Mixture, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log(w_k N_k(x)) for each sample x and the component k it was drawn from, shape (n,)."""
    form = canonical_form(mixture)
    centred = X - form.means[labels]
    y = np.einsum("nj,njk->nk", centred, form.prec_chol[labels])
    return form.log_const[labels] - 0.5 * np.einsum("nk,nk->n", y, y)


def _control_offset(mixture: Mixture) -> float:
    """Σ_k w_k (d/2 − log_const_k) = −E_p[log(w_k N_k(X))], the control variate's mean."""
    form = canonical_form(mixture)
    d = mixture.n_features
    return math.fsum(mixture.weights * (0.5 * d - form.log_const))


def _sample_from(mixture: Mixture, n_samples, random_state, integrand, method: str) -> Estimate:
    n = check_n_samples(n_samples)
    seed = seed_from(random_state)
    factors = covariance_factors(mixture.covariances, mixture.covariance_type)
    result = estimate(
        mixture.means,
        factors,
        mixture.covariance_type,
        np.asarray(mixture.weights),
        n,
        seed,
        integrand,
    )
    return Estimate(
        result.value, result.std_error, result.n_samples, method if result.stratified else "mc"
    )


def _sample_from_middle(p: Mixture, q: Mixture, n_samples, random_state, integrand) -> Estimate:
    """E_m[g(δ)] for m = (p + q)/2 and δ = log p − log q, stratified over m's components (p's
    with weights w/2, then q's)."""
    p, q = _ordered(p, q)
    n = check_n_samples(n_samples)
    seed = seed_from(random_state)
    means = np.concatenate([p.means, q.means])
    factors = np.linalg.cholesky(np.concatenate([_stack(p), _stack(q)]))
    weights = np.concatenate([0.5 * p.weights, 0.5 * q.weights])
    score_p, score_q = _scores(p), _scores(q)

    def f(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return integrand(score_p(X) - score_q(X))

    result = estimate(means, np.ascontiguousarray(factors), "full", weights, n, seed, f)
    method = "mc-importance-stratified" if result.stratified else "mc-importance"
    return Estimate(result.value, result.std_error, result.n_samples, method)


def _js_integrand(delta: np.ndarray) -> np.ndarray:
    """JS integrand under m: r log(p/m) + (1 − r) log(q/m), r = p/(p + q) = expit(δ)."""
    from scipy.special import expit

    with np.errstate(invalid="ignore", over="ignore"):
        r, s = expit(delta), expit(-delta)  # s, not 1 − r: symmetric in p and q bit for bit
        value = -r * log_mid(-delta) - s * log_mid(delta)
    # δ = ±∞ (one density underflowed): all the weight on one side, log 2.
    value = np.where(np.isinf(delta), LN2, value)
    return np.clip(value, 0.0, LN2)


def _tv_integrand(delta: np.ndarray) -> np.ndarray:
    """|p − q| / (p + q) = |tanh(δ/2)|."""
    return np.abs(np.tanh(0.5 * delta))


def _hellinger_integrand(delta: np.ndarray) -> np.ndarray:
    """(√p − √q)² / (p + q) = 1 − sech(δ/2)."""
    with np.errstate(over="ignore"):
        return 1.0 - 1.0 / np.cosh(0.5 * delta)


def _common(method, methods: tuple, grid, n_samples) -> str:
    method = check_method(method, methods)
    if method == "grid" and grid is None:
        raise ValueError("method='grid' needs grid=, a gmmfast.Grid over the two features")
    if method != "grid" and grid is not None:
        raise ValueError(f"grid= is only used with method='grid', got method={method!r}")
    return method


# --- divergences --------------------------------------------------------------------------------


def kl_divergence(
    p: ModelLike,
    q: ModelLike,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
    grid=None,
    dims=None,
) -> Estimate:
    """Kullback–Leibler divergence KL(p ‖ q) = ∫ p log(p/q), in nats (>= 0, not symmetric).

    Parameters
    ----------
    p, q : GaussianMixture, BayesianGaussianMixture or Mixture (fitted), the same features
    method : {'mc', 'grid', 'variational'}, default='mc'
        'mc': E_p[log p(X) − log q(X)] over ``n_samples`` samples of p, stratified by p's
        components. 'grid': midpoint quadrature of p log(p/q) over the pixels of ``grid``;
        ``std_error`` bounds what the outside of the grid can add (see the module docstring).
        'variational': Hershey &
        Olsen's (2007) variational approximation Σ_a π_a log(Σ_a' π_a' e^{−KL(p_a‖p_a')} /
        Σ_b ω_b e^{−KL(p_a‖q_b)}), in closed form — an *approximation*, not a bound (it can
        even be negative), exact for single Gaussians; ``std_error`` 0 says only that nothing
        was sampled. Between two single Gaussians every method returns the exact closed form.
    n_samples : int >= 1, default=100_000
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
    grid : Grid, for method='grid'
        A :class:`gmmfast.Grid` over the two features, at least 2 × 2 pixels.
    dims : sequence of int, optional
        Compare the marginals over these features (two of them for a grid).
    """
    method = _common(method, ("mc", "grid", "variational"), grid, n_samples)
    p_m, q_m = _pair(p, q, dims)
    if _single(p_m, q_m):
        return Estimate(_gaussian_kl(p_m, q_m), 0.0, 0, "closed-form")
    if method == "variational":
        within = _pairwise_logsumexp(p_m, p_m, "kl")
        across = _pairwise_logsumexp(p_m, q_m, "kl")
        value = float(np.sum(p_m.weights * (within - across)))
        return Estimate(value, 0.0, 0, "variational")
    if method == "grid":
        value, bound = grid_divergence("kl", (p_m, q_m), grid)
        return Estimate(value, bound, 0, "grid")
    score_p, score_q = _scores(p_m), _scores(q_m)
    return _sample_from(
        p_m,
        n_samples,
        random_state,
        lambda X, labels: score_p(X) - score_q(X),
        "mc-stratified",
    )


def js_divergence(
    p: ModelLike,
    q: ModelLike,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
    grid=None,
    dims=None,
) -> Estimate:
    """Jensen–Shannon divergence ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2: symmetric, in
    [0, ln 2] nats.

    'mc' samples m (p's and q's components, stratified) and averages the bounded integrand
    r log(2r) + (1 − r) log(2(1 − r)), r = p/(p + q); p and q are put in a canonical order
    first, so ``js_divergence(p, q)`` and ``js_divergence(q, p)`` are bitwise equal for the
    same seed.

    method='grid' integrates over the pixels of ``grid`` (a :class:`gmmfast.Grid` over the two
    features, at least 2 × 2 pixels) with the midpoint rule; ``std_error`` is then the bound
    ln 2 · ½ (ε_p + ε_q) on what the mass ε outside the grid can add (see the module
    docstring). Other parameters as :func:`kl_divergence`.
    """
    args = (method, n_samples, random_state, grid, dims)
    return _bounded_symmetric(p, q, *args, kind="js", integrand=_js_integrand, upper=LN2)


def total_variation_distance(
    p: ModelLike,
    q: ModelLike,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
    grid=None,
    dims=None,
) -> Estimate:
    """Total variation distance ½ ∫ |p − q| = sup_A |P(A) − Q(A)|: symmetric, in [0, 1].

    'mc' averages |p − q|/(p + q) = |tanh(½ log(p/q))| over samples of m = (p + q)/2, as
    :func:`js_divergence`; with method='grid' the bound is ½ (ε_p + ε_q). Other parameters as
    :func:`js_divergence`.
    """
    args = (method, n_samples, random_state, grid, dims)
    return _bounded_symmetric(p, q, *args, kind="tv", integrand=_tv_integrand, upper=1.0)


def _bounded_symmetric(
    p, q, method, n_samples, random_state, grid, dims, *, kind: str, integrand, upper: float
) -> Estimate:
    """A symmetric measure with a bounded integrand (JS, TV): the grid's quadrature, or the
    mean of ``integrand`` over samples of (p + q)/2, clipped to [0, ``upper``]."""
    method = _common(method, ("mc", "grid"), grid, n_samples)
    p_m, q_m = _pair(p, q, dims)
    if method == "grid":
        value, bound = grid_divergence(kind, _ordered(p_m, q_m), grid)
        return Estimate(value, bound, 0, "grid")
    result = _sample_from_middle(p_m, q_m, n_samples, random_state, integrand)
    return result._replace(value=min(max(result.value, 0.0), upper))


def hellinger_distance(
    p: ModelLike,
    q: ModelLike,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
    grid=None,
    dims=None,
) -> Estimate:
    """Hellinger distance H = √(½ ∫ (√p − √q)²) = √(1 − ∫ √(p q)): symmetric, in [0, 1].

    'mc' estimates H² without bias as the mean of 1 − sech(½ log(p/q)) over samples of
    m = (p + q)/2 and returns its square root, with the standard error of H² carried over by
    the delta method (se(H²) / 2H). With method='grid', ``std_error`` bounds the error of H
    from the mass outside the grid (H² may grow by at most ½ (ε_p + ε_q)). Other parameters as
    :func:`js_divergence`.
    """
    method = _common(method, ("mc", "grid"), grid, n_samples)
    p_m, q_m = _pair(p, q, dims)
    if method == "grid":
        squared, bound = grid_divergence("hellinger", _ordered(p_m, q_m), grid)
        value = math.sqrt(squared)
        return Estimate(value, math.sqrt(squared + bound) - value, 0, "grid")
    result = _sample_from_middle(p_m, q_m, n_samples, random_state, _hellinger_integrand)
    squared = min(max(result.value, 0.0), 1.0)
    value = math.sqrt(squared)
    std_error = result.std_error / (2.0 * value) if value > 0 else result.std_error**0.5
    return result._replace(value=value, std_error=std_error)


def cross_entropy(
    p: ModelLike,
    q: ModelLike,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
    grid=None,
    dims=None,
) -> Estimate:
    """Cross-entropy H(p, q) = −∫ p log q = H(p) + KL(p ‖ q), in nats (differential: may be
    negative).

    'mc' samples p stratified by component and subtracts the control variate
    log(w_k N_k(x)) of each sample's own component, whose expectation is known: the estimate
    averages log(w_k N_k(x)) − log q(x), which is small and flat where q resembles p.
    Other parameters as :func:`kl_divergence` (methods 'mc' and 'grid').
    """
    method = _common(method, ("mc", "grid"), grid, n_samples)
    p_m, q_m = _pair(p, q, dims)
    return _cross_entropy(p_m, q_m, method, n_samples, random_state, grid, "cross_entropy")


def _cross_entropy(
    p_m: Mixture, q_m: Mixture, method: str, n_samples, random_state, grid, kind: str
) -> Estimate:
    """H(p, q) of resolved mixtures (``kind`` 'entropy' when q is p): the closed form for
    single Gaussians, the grid, or Monte Carlo with the control variate of
    :func:`cross_entropy`."""
    if _single(p_m, q_m):
        value = 0.5 * p_m.n_features * (LOG_2PI + 1.0) + 0.5 * _log_det(p_m)
        return Estimate(value + _gaussian_kl(p_m, q_m), 0.0, 0, "closed-form")
    if method == "grid":
        value, bound = grid_divergence(kind, (p_m, q_m), grid)
        return Estimate(value, bound, 0, "grid")
    score_q = _scores(q_m)
    offset = _control_offset(p_m)
    result = _sample_from(
        p_m,
        n_samples,
        random_state,
        lambda X, labels: _own_component_log_term(p_m, X, labels) - score_q(X),
        "mc-stratified-cv",
    )
    return result._replace(value=result.value + offset)


def entropy(
    p: ModelLike,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
    grid=None,
    dims=None,
) -> Estimate:
    """Differential entropy H(p) = −∫ p log p, in nats (may be negative).

    'mc' as :func:`cross_entropy` with q = p: the average of log r_k(x) (the log
    responsibility of each sample's own component, <= 0) plus Σ_k w_k (d/2 − log w_k
    + ½ log det(2π Σ_k)); exact for a single Gaussian (½ log det(2πe Σ)). Parameters as
    :func:`kl_divergence` (methods 'mc' and 'grid').
    """
    method = _common(method, ("mc", "grid"), grid, n_samples)
    p_m = _resolve(p, dims)
    return _cross_entropy(p_m, p_m, method, n_samples, random_state, grid, "entropy")


def mutual_information(
    model: ModelLike,
    a_dims,
    b_dims,
    *,
    method: str = "mc",
    n_samples=100_000,
    random_state=None,
) -> Estimate:
    """Mutual information I(A; B) = KL(p_AB ‖ p_A p_B) between two groups of features of one
    mixture, in nats (>= 0), e.g. position (0, 1) and colour (2, 3, 4) of a colour model.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    a_dims, b_dims : sequences of int
        Disjoint, non-empty groups of features; features in neither are marginalised out.
    method : {'mc'}
        E[log p_AB(X) − log p_A(X_A) − log p_B(X_B)] over samples of the marginal over
        A ∪ B, stratified by component. For a single Gaussian, exact:
        ½ (log det Σ_AA + log det Σ_BB − log det Σ).
    n_samples, random_state : as :func:`kl_divergence`
    """
    method = check_method(method, ("mc",))
    mixture = as_mixture(model)
    a_dims, b_dims = check_feature_groups(a_dims, b_dims, mixture.n_features)
    joint = _resolve(mixture, a_dims + b_dims)
    a = joint.marginal(range(len(a_dims)))
    b = joint.marginal(range(len(a_dims), joint.n_features))
    if _single(joint):
        value = 0.5 * (_log_det(a) + _log_det(b) - _log_det(joint))
        return Estimate(max(value, 0.0), 0.0, 0, "closed-form")
    score_joint, score_a, score_b = _scores(joint), _scores(a), _scores(b)
    split = len(a_dims)

    def f(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        X_a = np.ascontiguousarray(X[:, :split])
        X_b = np.ascontiguousarray(X[:, split:])
        return score_joint(X) - score_a(X_a) - score_b(X_b)

    return _sample_from(joint, n_samples, random_state, f, "mc-stratified")


# --- closed forms -------------------------------------------------------------------------------


def l2_distance(p: ModelLike, q: ModelLike, *, dims=None) -> Estimate:
    """Squared L2 distance ∫ (p − q)² = ∫p² + ∫q² − 2∫pq, in closed form (units: 1 over the
    product of the features' units). Symmetric, >= 0.

    Each term is Σ_ij w_i v_j N(μ_i; ν_j, Σ_i + Γ_j) over all pairs of components
    (K_p·K_q Gaussian overlaps). ``std_error`` is 0 (nothing is sampled); the value is a
    difference of three terms, so its absolute rounding error is about 1e-15·(∫p² + ∫q²),
    which dominates for nearly equal mixtures. ``dims``: compare the marginals over those
    features.
    """
    p_m, q_m = _ordered(*_pair(p, q, dims))
    pp, qq, pq = (math.exp(_log_overlap(a, b)) for a, b in ((p_m, p_m), (q_m, q_m), (p_m, q_m)))
    return Estimate(max((pp + qq) - 2.0 * pq, 0.0), 0.0, 0, "closed-form")


def cauchy_schwarz_divergence(p: ModelLike, q: ModelLike, *, dims=None) -> Estimate:
    """Cauchy–Schwarz divergence −log(∫pq / √(∫p² ∫q²)), in closed form (nats): symmetric,
    >= 0, 0 only for p = q, invariant under scaling either density (Jenssen et al. 2006).

    The three integrals are pairwise Gaussian overlaps, combined in log space (no underflow
    for far-apart mixtures). ``std_error`` 0. ``dims`` as :func:`l2_distance`.
    """
    p_m, q_m = _ordered(*_pair(p, q, dims))
    value = (0.5 * _log_overlap(p_m, p_m) + 0.5 * _log_overlap(q_m, q_m)) - _log_overlap(p_m, q_m)
    return Estimate(max(value, 0.0), 0.0, 0, "closed-form")
