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
* Hellinger²: ½ (√p − √q)² <= ½ (p + q).

The bound is one-sided (the omitted part is >= 0) and does not include the midpoint rule's
own discretisation error, O(h²) times the curvature of the integrand.
"""

from __future__ import annotations

import math

import numpy as np

from ._density import log_density_grid
from ._gaussian import full_covariances
from ._grid import Grid, as_grid
from ._mixture import Mixture

GRID_KINDS = ("js", "tv", "hellinger")


def _spacing(value_range: tuple, n: int, name: str) -> float:
    """|pixel spacing| of a side of ``n`` pixels over ``value_range``."""
    start, stop = value_range
    if n < 2 or stop == start:
        raise ValueError(
            f"method='grid' needs at least 2 pixels of non-zero size along each axis, got "
            f"{name}=({start}, {stop}) over {n} pixels"
        )
    return abs(stop - start) / (n - 1)


def _outside_mass(mixture: Mixture, box: tuple) -> float:
    """Upper bound on the mass of ``mixture`` (2 features) outside ``box``
    ((x_lo, x_hi), (y_lo, y_hi)), in [0, 1]."""
    from scipy.special import ndtr

    d = mixture.n_features
    variances = np.diagonal(
        full_covariances(mixture.covariances, mixture.covariance_type, mixture.n_components, d),
        axis1=1,
        axis2=2,
    )
    sd = np.sqrt(variances)
    tails = np.zeros(mixture.n_components)
    for axis, (lo, hi) in enumerate(box):
        mu, s = mixture.means[:, axis], sd[:, axis]
        # Both tails from ndtr of the far side: accurate down to 1e-300, no 1 − (almost 1).
        tails += ndtr((lo - mu) / s) + ndtr((mu - hi) / s)
    return min(1.0, math.fsum(mixture.weights * tails))


def grid_divergence(kind: str, pair: tuple, grid) -> tuple:
    """(value, bound) of measure ``kind`` ('js', 'tv' or 'hellinger', the last as H²) between
    the 2-feature mixtures ``pair`` = (p, q) on ``grid``: the midpoint rule over the grid's box and
    the bound on the part outside it."""
    grid = as_grid(grid)
    p, q = pair
    if kind not in GRID_KINDS:
        raise ValueError(
            f"method='grid' is available for {GRID_KINDS} (their integrands outside the grid "
            f"are bounded by the mass there), not for {kind!r}: use method='mc'"
        )
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
    lp, lq = log_density_grid(p, grid), log_density_grid(q, grid)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        if kind == "tv":
            values = 0.5 * np.abs(np.exp(lp) - np.exp(lq))
            factor = 0.5
        elif kind == "hellinger":
            values = 0.5 * (np.exp(0.5 * lp) - np.exp(0.5 * lq)) ** 2
            factor = 0.5
        else:
            delta = lp - lq
            # p log(2p/(p+q)) = −p log((1 + e^−δ)/2), and q's term with δ → −δ.
            term_p = np.where(np.isneginf(lp), 0.0, -np.exp(lp) * log_mid(-delta))
            term_q = np.where(np.isneginf(lq), 0.0, -np.exp(lq) * log_mid(delta))
            values = 0.5 * (term_p + term_q)
            factor = 0.5 * math.log(2.0)
        values = np.where(np.isfinite(values), values, 0.0)  # both densities 0: nothing
    with np.errstate(over="ignore", invalid="ignore"):
        inside = float(np.sum(values) * area)
    if not (math.isfinite(area) and area > 0 and math.isfinite(inside)):
        raise ValueError(
            f"method='grid' cannot integrate over pixels of {hx!r} × {hy!r} (their area or the "
            "sum over them is not finite in float64): choose a grid on the scale of the model"
        )
    bound = factor * (_outside_mass(p, box) + _outside_mass(q, box))
    largest = math.log(2.0) if kind == "js" else 1.0
    return min(max(inside, 0.0), largest), bound


def log_mid(t: np.ndarray) -> np.ndarray:
    """log((1 + e^t)/2), 0 at t = 0, no overflow (±∞ give ±∞ and −ln 2)."""
    a = np.abs(t)
    small = np.log1p(np.expm1(-a) / 2.0)
    return np.where(t > 0, a + small, small)
