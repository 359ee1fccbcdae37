"""Quadrature of divergences between 2-feature mixtures on a pixel grid (``method="grid"`` of
:mod:`gmmfast.metrics`), with a bound on what the mass outside the grid can add.

Each pixel stands for the cell of the grid's spacing around its centre (as
:func:`gmmfast.sample_image` bins samples), so the grid covers the box
[x_min − |h_x|/2, x_max + |h_x|/2] × [y_min − |h_y|/2, y_max + |h_y|/2], and the integral of f
over the box is Σ f(centre)·|h_x h_y| (the midpoint rule) on the renderer's exact
log-densities (:func:`gmmfast.log_density_grid`). The mass of a mixture outside the box is at
most ε = Σ_k w_k [P_k(x ∉ box_x) + P_k(y ∉ box_y)] (union bound over the two axes, Gaussian
tails by ``scipy.special.ndtr``), and each measure's integrand outside is bounded by a multiple
of p + q:

* total variation: ½ |p − q| <= ½ (p + q), so at most ½ (ε_p + ε_q);
* Jensen–Shannon: ½ [p log(2p/(p+q)) + q log(2q/(p+q))] <= ln 2 · ½ (p + q);
* Hellinger²: ½ (√p − √q)² <= ½ (p + q);
* KL, cross-entropy and entropy, whose integrands are unbounded: from below through
  p log(p/q) >= p − q and log p <= log p_max (the sum of the components' peaks); from above
  through q >= v_j N_q,j for any component j, which turns −∫_out p log q into the Gaussian
  integral of a constant and a quadratic over the four half-planes outside the box, in
  closed form (:func:`_cross_tail`).

The bound (the largest magnitude the outside part can have) does not include the midpoint
rule's own discretisation error, O(h²) times the curvature of the integrand.
"""

from __future__ import annotations

import math

import numpy as np

from . import _core
from ._density import log_density_grid
from ._gaussian import full_covariances
from ._grid import Grid, as_grid
from ._mixture import Mixture, canonical_form

GRID_KINDS = ("js", "tv", "hellinger", "kl", "cross_entropy", "entropy")


def _spacing(value_range: tuple, n: int, name: str) -> float:
    """|pixel spacing| of a side of ``n`` pixels over ``value_range``."""
    start, stop = value_range
    if n < 2 or stop == start:
        raise ValueError(
            f"method='grid' needs at least 2 pixels of non-zero size along each axis, got "
            f"{name}=({start}, {stop}) over {n} pixels"
        )
    return abs(stop - start) / (n - 1)


def _component_tails(mixture: Mixture, box: tuple) -> np.ndarray:
    """Upper bounds on each component's mass outside ``box`` ((x_lo, x_hi), (y_lo, y_hi)):
    P_k(x ∉ box_x) + P_k(y ∉ box_y), shape (K,), each at most 1."""
    from scipy.special import ndtr

    sd = np.sqrt(np.diagonal(_stack(mixture), axis1=1, axis2=2))
    tails = np.zeros(mixture.n_components)
    for axis, (lo, hi) in enumerate(box):
        mu, s = mixture.means[:, axis], sd[:, axis]
        # Both tails from ndtr of the far side: accurate down to 1e-300, no 1 − (almost 1).
        tails += ndtr((lo - mu) / s) + ndtr((mu - hi) / s)
    return np.minimum(tails, 1.0)


def _outside_mass(mixture: Mixture, box: tuple) -> float:
    """Upper bound ε on the mass of ``mixture`` outside ``box``, in [0, 1]."""
    return min(1.0, math.fsum(mixture.weights * _component_tails(mixture, box)))


def _stack(mixture: Mixture) -> np.ndarray:
    k, d = mixture.means.shape
    return full_covariances(mixture.covariances, mixture.covariance_type, k, d)


def _log_peak(mixture: Mixture) -> float:
    """log of an upper bound on the density: log Σ_k w_k (2π)^(−d/2) |Σ_k|^(−1/2)."""
    from scipy.special import logsumexp

    return float(logsumexp(canonical_form(mixture).log_const))


def _cross_tail(p: Mixture, q: Mixture, box: tuple, match: np.ndarray) -> float:
    """Upper bound on −∫_outside p log q.

    q >= v_j N_q,j for every j, so −log q(x) <= −log_const_j + ½ (x − μ_j)ᵀ Σ_j⁻¹ (x − μ_j),
    taken with j = match[k] under each component k of p. The constant is bounded with the
    tail mass of N_p,k (when positive); the quadratic, non-negative, by its integral over the
    four half-planes outside the box (they cover the outside): along axis i, with t = x_i − μ_i,
    E[Q | t] = α + 2βt + γt² (the conditional Gaussian of the other feature), and the
    truncated moments of t are closed forms in Φ and φ.
    """
    from scipy.special import ndtr

    form = canonical_form(q)
    cov = _stack(p)
    u = form.prec_chol[match]
    precision = u @ u.swapaxes(1, 2)  # Σ_j⁻¹, (K_p, 2, 2)
    e = p.means - form.means[match]
    constant = np.maximum(-form.log_const[match], 0.0) * _component_tails(p, box)
    quadratic = np.zeros(p.n_components)
    for i, (lo, hi) in enumerate(box):
        var = cov[:, i, i]
        sd = np.sqrt(var)
        g = cov[:, :, i] / var[:, None]  # regression of x on x_i
        rest = cov - cov[:, :, i, None] * cov[:, None, i, :] / var[:, None, None]
        alpha = np.einsum("ka,kab,kb->k", e, precision, e) + np.einsum(
            "kab,kba->k", precision, rest
        )
        beta = np.einsum("ka,kab,kb->k", g, precision, e)
        gamma = np.einsum("ka,kab,kb->k", g, precision, g)
        for z, sign in (((lo - p.means[:, i]) / sd, -1.0), ((hi - p.means[:, i]) / sd, 1.0)):
            # Over t < zσ (sign −1) or t > zσ (sign +1): mass, E[t 1], E[t² 1].
            phi = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
            mass = ndtr(-sign * z)
            first = sign * sd * phi
            second = var * (mass + sign * z * phi)
            part = alpha * mass + 2.0 * beta * first + gamma * np.maximum(second, 0.0)
            quadratic += np.maximum(part, 0.0)
    return math.fsum(p.weights * (constant + 0.5 * quadratic))


def _interval(kind: str, p: Mixture, q: Mixture, box: tuple) -> tuple:
    """[low, high] for what the outside of ``box`` adds to measure ``kind``."""
    eps_p, eps_q = _outside_mass(p, box), _outside_mass(q, box)
    if kind == "tv" or kind == "hellinger":
        return 0.0, 0.5 * (eps_p + eps_q)
    if kind == "js":
        return 0.0, 0.5 * math.log(2.0) * (eps_p + eps_q)
    own = np.arange(p.n_components)
    if kind == "entropy":  # −∫ p log p >= −P_out log p_max
        return -max(0.0, eps_p * _log_peak(p)), _cross_tail(p, p, box, own)
    match = np.empty(p.n_components, dtype=np.int64)
    _core.predict(canonical_form(q).components(), np.ascontiguousarray(p.means), match, 0.0)
    cross = _cross_tail(p, q, box, match)
    if kind == "cross_entropy":
        return -max(0.0, eps_p * _log_peak(q)), cross
    # KL: p log(p/q) >= p − q, and ∫_out p log p <= P_out log p_max.
    return -eps_q, max(0.0, eps_p * _log_peak(p)) + cross


def grid_divergence(kind: str, pair: tuple, grid) -> tuple:
    """(value, bound) of measure ``kind`` (one of GRID_KINDS, 'hellinger' as H²) between
    the 2-feature mixtures ``pair`` = (p, q) on ``grid`` ('entropy': of p): the midpoint rule
    over the grid's box, and the bound on the magnitude of the part outside it."""
    grid = as_grid(grid)
    p, q = pair
    if kind not in GRID_KINDS:
        raise ValueError(f"kind must be one of {GRID_KINDS}, got {kind!r}")
    if p.n_features != 2:
        raise ValueError(
            f"method='grid' needs models of 2 features, got {p.n_features}: name two with dims="
        )
    whole: Grid = grid.whole
    hx = _spacing(whole.x_range, whole.width, "x_range")
    hy = _spacing(whole.y_range, whole.height, "y_range")
    xs, ys = grid.xs, grid.ys
    box = (
        (float(xs.min()) - 0.5 * hx, float(xs.max()) + 0.5 * hx),
        (float(ys.min()) - 0.5 * hy, float(ys.max()) + 0.5 * hy),
    )
    area = hx * hy
    lp = log_density_grid(p, grid)
    lq = lp if q is p else log_density_grid(q, grid)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        if kind == "tv":
            values = 0.5 * np.abs(np.exp(lp) - np.exp(lq))
        elif kind == "hellinger":
            values = 0.5 * (np.exp(0.5 * lp) - np.exp(0.5 * lq)) ** 2
        elif kind == "kl":
            values = np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq))
        elif kind == "cross_entropy":
            values = np.where(np.isneginf(lp), 0.0, -np.exp(lp) * lq)
        elif kind == "entropy":
            values = np.where(np.isneginf(lp), 0.0, -np.exp(lp) * lp)
        else:
            delta = lp - lq
            # p log(2p/(p+q)) = −p log((1 + e^−δ)/2), and q's term with δ → −δ.
            term_p = np.where(np.isneginf(lp), 0.0, -np.exp(lp) * log_mid(-delta))
            term_q = np.where(np.isneginf(lq), 0.0, -np.exp(lq) * log_mid(delta))
            values = 0.5 * (term_p + term_q)
        values = np.where(np.isnan(values), 0.0, values)  # both densities 0: nothing
    with np.errstate(over="ignore", invalid="ignore"):
        inside = float(np.sum(values) * area)
    if not (math.isfinite(area) and area > 0 and math.isfinite(inside)):
        raise ValueError(
            f"method='grid' cannot integrate over pixels of {hx!r} × {hy!r} (their area or the "
            "sum over them is not finite in float64): choose a grid on the scale of the model"
        )
    low, high = _interval(kind, p, q, box)
    bound = max(high, -low, 0.0)
    if kind in ("js", "tv", "hellinger"):
        largest = math.log(2.0) if kind == "js" else 1.0
        inside = min(max(inside, 0.0), largest)
    return inside, bound


def log_mid(t: np.ndarray) -> np.ndarray:
    """log((1 + e^t)/2), 0 at t = 0, no overflow (±∞ give ±∞ and −ln 2)."""
    a = np.abs(t)
    small = np.log1p(np.expm1(-a) / 2.0)
    return np.where(t > 0, a + small, small)
