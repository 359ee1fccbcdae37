"""Pure-NumPy reference implementations of gmmfast's kernels.

Readable, chunked and numerically careful: every point is centred on a component's mean before
it is multiplied by the precision factor (scikit-learn computes ``X @ U - mu @ U``, which
cancels badly far from the mean), and log-sum-exp subtracts the maximum. Memory is bounded by
``chunk_size × n_components`` values. These functions take the same arguments as the
compiled ones and are what the test-suite holds them to; they are also a readable statement of
what each kernel computes.

Where a claim is bitwise (chunking never changes a result; a grid's pixels are its points;
``sample_image`` is ``sample`` binned), it holds by construction: products and sums run as
element-wise NumPy operations in a fixed order (see :mod:`gmmfast._gaussian`), never through
BLAS, which picks its kernels by shape and machine and rounds them differently.

Imported by the tests and :mod:`gmmfast.testing` only: no production code depends on its own
oracle.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ._canonical import Components
from ._gaussian import (
    Regressions,
    covariance_factors,
    full_covariances,
    log_sum_exp,
    peak,
    ranking_log_prob,
    responsibilities,
    row_products,
    weighted_log_prob,
)
from ._grid import Grid, as_grid, pixel_cells
from ._mixture import Mixture, canonical_form, conditional_parts
from ._model import ModelLike, as_mixture, marginal_form, scoring_form
from ._pairwise import pairwise_logsumexp
from ._validation import (
    check_given,
    check_image_dims,
    check_n_samples,
    check_points,
    check_schedule,
    seed_from,
)

DEFAULT_CHUNK = 4096

# The building blocks are the reference's too (``gmmfast.reference.weighted_log_prob`` ...).
__all__ = [
    "bin_samples",
    "conditional_mean",
    "conditional_mean_grid",
    "conditional_moments",
    "label_grid",
    "log_density_grid",
    "log_sum_exp",
    "pairwise_logsumexp",
    "predict",
    "predict_proba",
    "responsibilities",
    "reverse_sample",
    "sample",
    "sample_image",
    "score",
    "score_grid",
    "score_samples",
    "weighted_log_prob",
]


def _chunks(n: int, chunk_size: int) -> Iterator[slice]:
    for start in range(0, n, chunk_size):
        yield slice(start, min(start + chunk_size, n))


def score_samples(model: ModelLike, X, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """Reference of :func:`gmmfast.score_samples`, shape (n,)."""
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = np.empty(X.shape[0])
    for rows in _chunks(X.shape[0], chunk_size):
        out[rows] = log_sum_exp(weighted_log_prob(form, X[rows]))
    return out


def predict_proba(model: ModelLike, X, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """Reference of :func:`gmmfast.predict_proba`, shape (n, K)."""
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = np.empty((X.shape[0], form.n_components))
    for rows in _chunks(X.shape[0], chunk_size):
        out[rows] = responsibilities(ranking_log_prob(form, X[rows]))
    return out


def predict(model: ModelLike, X, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """Reference of :func:`gmmfast.predict`, shape (n,), int64."""
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = np.empty(X.shape[0], dtype=np.int64)
    for rows in _chunks(X.shape[0], chunk_size):
        out[rows] = peak(ranking_log_prob(form, X[rows]))[1]
    return out


def _grid_rows(grid: Grid, chunk_size: int) -> Iterator[tuple]:
    """Yields (row slice, pixel centres of those rows as an (n, 2) array)."""
    rows_per_chunk = max(1, chunk_size // grid.width)
    for rows in _chunks(grid.height, rows_per_chunk):
        xx, yy = np.meshgrid(grid.xs, grid.ys[rows])
        yield rows, np.column_stack([xx.ravel(), yy.ravel()])


def log_density_grid(
    model: ModelLike, grid: Grid, dims=(0, 1), chunk_size: int = DEFAULT_CHUNK
) -> np.ndarray:
    """Reference of :func:`gmmfast.log_density_grid`, shape (height, width)."""
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    out = np.empty(grid.shape)
    for rows, pts in _grid_rows(grid, chunk_size):
        out[rows] = log_sum_exp(weighted_log_prob(form, pts)).reshape(-1, grid.width)
    return out


def label_grid(
    model: ModelLike, grid: Grid, dims=(0, 1), chunk_size: int = DEFAULT_CHUNK
) -> np.ndarray:
    """Reference of :func:`gmmfast.label_grid`, shape (height, width), int64."""
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    out = np.empty(grid.shape, dtype=np.int64)
    for rows, pts in _grid_rows(grid, chunk_size):
        out[rows] = peak(ranking_log_prob(form, pts))[1].reshape(-1, grid.width)
    return out


def conditional_moments(marginal, reg: Regressions, X: np.ndarray) -> tuple:
    """Conditional mean and standard deviation (each (n, m)) at the rows of X (n, g), for
    ``marginal`` the canonical form of the marginal over the given features and ``reg`` the
    regressions of the others.

    mean = Σ_k r_k m_k(x), var = Σ_k r_k (diag C_k + (m_k(x) − mean)²), with r the
    responsibilities of the marginal over the given features and m_k(x) = μ_r,k + G_k (x − μ_g,k).
    Memory: n × K × m.
    """
    resp = responsibilities(ranking_log_prob(marginal, X))
    centred = X[:, np.newaxis, :] - marginal.means[np.newaxis]
    comp_means = reg.means_rest[np.newaxis] + np.einsum("kmg,nkg->nkm", reg.gain, centred)
    mean = np.einsum("nk,nkm->nm", resp, comp_means)
    # Components without responsibility add nothing, not 0·∞ = NaN far away, where their
    # regressions may be 1e250 from the result.
    deviation = np.where(resp[:, :, np.newaxis] > 0, comp_means - mean[:, np.newaxis, :], 0.0)
    with np.errstate(over="ignore"):
        var = np.einsum("nk,nkm->nm", resp, reg.cond_var[np.newaxis] + deviation**2)
    return mean, np.sqrt(var)


def _conditional_setup(model: ModelLike, given, length=None) -> tuple:
    """(validated given, marginal form over it, regressions of the rest) for ``model``."""
    mixture = as_mixture(model)
    given = check_given(given, mixture.n_features, length=length)
    return (given, *conditional_parts(mixture, given))


def conditional_mean(
    model: ModelLike, X_given, given=(0, 1), return_std=False, chunk_size: int = 1024
) -> np.ndarray | tuple:
    """Reference of :func:`gmmfast.conditional_mean`."""
    given, marginal, reg = _conditional_setup(model, given)
    X = check_points(X_given, len(given), name="X_given")
    mean = np.empty((X.shape[0], len(reg.rest)))
    std = np.empty_like(mean)
    for rows in _chunks(X.shape[0], chunk_size):
        mean[rows], std[rows] = conditional_moments(marginal, reg, X[rows])
    return (mean, std) if return_std else mean


def conditional_mean_grid(
    model: ModelLike, grid: Grid, given=(0, 1), return_std=False, chunk_size: int = 1024
) -> np.ndarray | tuple:
    """Reference of :func:`gmmfast.conditional_mean_grid`."""
    grid = as_grid(grid)
    given, marginal, reg = _conditional_setup(model, given, length=2)
    mean = np.empty((*grid.shape, len(reg.rest)))
    std = np.empty_like(mean)
    for rows, pts in _grid_rows(grid, chunk_size):
        m, s = conditional_moments(marginal, reg, pts)
        mean[rows] = m.reshape(-1, grid.width, len(reg.rest))
        std[rows] = s.reshape(-1, grid.width, len(reg.rest))
    return (mean, std) if return_std else mean


def _sample_chunks(model: ModelLike, n_samples, random_state, chunk_size: int) -> Iterator[tuple]:
    """Yields (component, samples of shape (m, d)) in output order, at most ``chunk_size`` rows
    at a time: the multinomial counts, then each component's draws μ_k + z L_kᵀ (standard
    deviations times z for 'diag' and 'spherical') from one NumPy ``Generator``."""
    mixture = as_mixture(model)
    n = check_n_samples(n_samples)
    rng = np.random.default_rng(seed_from(random_state))
    weights = np.asarray(mixture.weights)
    # NumPy insists that the probabilities sum to 1 within 1e-12; a Mixture's need only be
    # within 1e-8 (scikit-learn's tolerance).
    counts = rng.multinomial(n, weights / weights.sum())
    factors = covariance_factors(mixture.covariances, mixture.covariance_type)
    for k, count in enumerate(counts):
        mean = mixture.means[k]
        for rows in _chunks(int(count), chunk_size):
            z = rng.standard_normal((rows.stop - rows.start, mixture.n_features))
            if mixture.covariance_type == "full":
                yield k, mean + row_products(z, factors[k].T)
            elif mixture.covariance_type == "tied":
                yield k, mean + row_products(z, factors.T)
            else:
                yield k, mean + z * factors[k]


def sample(
    model: ModelLike, n_samples=1, random_state=None, chunk_size: int = DEFAULT_CHUNK
) -> tuple:
    """Reference of :func:`gmmfast.sample`: ``(X (n, d) float64, labels (n,) int64)``.

    The same distribution and layout (grouped by component), drawn with NumPy's generator
    seeded by the same 64-bit seed: the numbers differ from the compiled ones.
    """
    pieces = list(_sample_chunks(model, n_samples, random_state, chunk_size))
    X = np.concatenate([x for _, x in pieces])
    labels = np.concatenate([np.full(len(x), k, dtype=np.int64) for k, x in pieces])
    return X, labels


class _Binner:
    """Accumulates samples into a count image and per-pixel colour sums, in sample order."""

    def __init__(self, grid: Grid, dims: tuple, color_dims: tuple | None):
        self.grid, self.dims, self.color_dims = grid, dims, color_dims
        self.cells = pixel_cells(grid)
        self.counts = np.zeros(grid.size, dtype=np.int64)
        self.sums = None if color_dims is None else np.zeros((grid.size, len(color_dims)))

    def _index(self, values: np.ndarray, cells: tuple, n: int) -> tuple:
        start, scale = cells
        # The same operations as the kernel; a tiny pixel (scale near the largest float) sends
        # far samples to ±inf, which the bounds below drop, as the kernel does.
        with np.errstate(over="ignore"):
            u = (values - start) * scale + 0.5
        inside = (u >= 0) & (u < n)
        return np.floor(np.where(inside, u, 0.0)).astype(np.int64), inside

    def add(self, X: np.ndarray) -> None:
        column, in_x = self._index(X[:, self.dims[0]], self.cells[0], self.grid.width)
        row, in_y = self._index(X[:, self.dims[1]], self.cells[1], self.grid.height)
        inside = in_x & in_y
        pixel = row[inside] * self.grid.width + column[inside]
        self.counts += np.bincount(pixel, minlength=self.grid.size)
        if self.sums is not None and self.color_dims is not None:
            # ufunc.at adds one sample after the other, so each pixel sums its colours in
            # sample order starting from 0, as the kernel does.
            np.add.at(self.sums, pixel, X[inside][:, list(self.color_dims)])

    def result(self) -> np.ndarray | tuple:
        counts = self.counts.reshape(self.grid.shape)
        if self.sums is None or self.color_dims is None:
            return counts
        filled = self.counts > 0
        means = np.full(self.sums.shape, np.nan)
        means[filled] = self.sums[filled] / self.counts[filled, np.newaxis]
        return means.reshape((*self.grid.shape, len(self.color_dims))), counts


def bin_samples(
    X, grid: Grid, dims=(0, 1), color_dims=None, chunk_size: int = DEFAULT_CHUNK
) -> np.ndarray | tuple:
    """Bins the rows of ``X`` (n, d) into the pixels of ``grid`` with the cell rule of
    :func:`gmmfast.sample_image`: the count image (height, width) int64, or with
    ``color_dims`` ``(mean_colours (height, width, len(color_dims)), counts)``.

    ``bin_samples(gmmfast.sample(model, n, random_state=seed)[0], grid, ...)`` equals
    ``gmmfast.sample_image(model, n, grid, ..., random_state=seed)`` exactly (the colour means
    bitwise: both add each pixel's samples in row order).
    """
    grid = as_grid(grid)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n_samples, n_features), got shape {X.shape}")
    dims, color_dims = check_image_dims(dims, color_dims, X.shape[1])
    binner = _Binner(grid, dims, color_dims)
    for rows in _chunks(X.shape[0], chunk_size):
        binner.add(X[rows])
    return binner.result()


def sample_image(
    model: ModelLike,
    n_samples,
    grid: Grid,
    dims=(0, 1),
    color_dims=None,
    random_state=None,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray | tuple:
    """Reference of :func:`gmmfast.sample_image`: :func:`sample`'s draws binned as
    :func:`bin_samples` does, chunk by chunk (memory O(chunk_size + grid))."""
    grid = as_grid(grid)
    dims, color_dims = check_image_dims(dims, color_dims, as_mixture(model).n_features)
    binner = _Binner(grid, dims, color_dims)
    for _, X in _sample_chunks(model, n_samples, random_state, chunk_size):
        binner.add(X)
    return binner.result()


def em_step(
    model: Mixture, X, *, sample_weight=None, reg_covar: float = 1e-6, chunk_size=DEFAULT_CHUNK
) -> tuple:
    """Reference of one EM iteration of :class:`gmmfast.GaussianMixture` (scikit-learn's
    E-step and M-step): ``(lower_bound, new_model)``, the weighted mean log-likelihood of
    ``model`` at X and the mixture (same covariance type) that the M-step makes of its
    responsibilities.

    Two passes over chunks of rows, with the responsibilities of each chunk: the masses and
    means first, then every component's scatter around its new mean (scikit-learn's centred
    sums), so that nothing cancels with the data's offset.
    """
    X = check_points(X, model.n_features)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    form = scoring_form(model)
    k = model.n_components
    mass, sums, log_lik = np.zeros(k), np.zeros((k, d)), 0.0
    for rows in _chunks(n, chunk_size):
        log_prob = weighted_log_prob(form, X[rows])
        log_norm = log_sum_exp(log_prob)
        resp = np.exp(log_prob - log_norm[:, None]) * w[rows, None]
        log_lik += float(np.sum(w[rows] * log_norm))
        mass += resp.sum(axis=0)
        sums += resp.T @ X[rows]
    nk = mass + 10 * np.finfo(np.float64).eps
    means = sums / nk[:, None]
    scatter = np.zeros((k, d, d))
    for rows in _chunks(n, chunk_size):
        log_prob = weighted_log_prob(form, X[rows])
        resp = np.exp(log_prob - log_sum_exp(log_prob)[:, None]) * w[rows, None]
        for j in range(k):
            centred = X[rows] - means[j]
            scatter[j] += (resp[:, j, None] * centred).T @ centred
    kind = model.covariance_type
    if kind == "full":
        covariances = scatter / nk[:, None, None] + reg_covar * np.eye(d)
    elif kind == "tied":
        covariances = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    else:
        diag = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
        covariances = diag if kind == "diag" else diag.mean(axis=1)
    new = Mixture(nk / nk.sum(), means, covariances, kind)
    return log_lik / w.sum(), new


def _form_score(form: Components, X: np.ndarray) -> np.ndarray:
    """∇ₓ log p at the rows of X (n, d) for the mixture in canonical form ``form``, (n, d).

    ∇ log Σ_k exp l_k(x) = Σ_k r_k(x) g_k(x) with r the responsibilities and
    g_k(x) = −Λ_k (x − μ_k) = −U_k (U_kᵀ (x − μ_k)) the score of component k (Λ_k = U_k U_kᵀ).
    The responsibilities are those of :func:`ranking_log_prob`, so that far from every
    component, where every term underflows, the nearest component's score is the answer (it
    is the limit) and nothing is NaN. Components without responsibility are skipped rather
    than multiplied by 0: their score may be ±inf there. Summed over k in order 0, 1, …
    """
    resp = responsibilities(ranking_log_prob(form, X))
    out = np.zeros(X.shape)
    for k in range(form.n_components):
        live = resp[:, k] > 0.0
        if not live.any():
            continue
        upper = np.triu(form.prec_chol[k])
        with np.errstate(over="ignore"):  # a score beyond 1e308 is ±inf: it overflows truly
            y = row_products(X[live] - form.means[k], upper)  # (x − μ) U, a row: (Uᵀ(x − μ))ᵀ
            gradient = -row_products(y, upper.T)  # −(x − μ) U Uᵀ = −(Λ (x − μ))ᵀ
        out[live] += resp[live, k : k + 1] * gradient
    return out


def score(model: ModelLike, X, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """Reference of :func:`gmmfast.score`: ∇ₓ log p(x) at the rows of X, shape (n, d), in
    the units of 1 / x (the gradient of :func:`score_samples`, for a
    ``BayesianGaussianMixture`` too). Memory: ``chunk_size`` × K values."""
    form = scoring_form(model)
    X = check_points(X, form.n_features)
    out = np.empty(X.shape)
    for rows in _chunks(X.shape[0], chunk_size):
        out[rows] = _form_score(form, X[rows])
    return out


def score_grid(
    model: ModelLike, grid: Grid, dims=(0, 1), chunk_size: int = DEFAULT_CHUNK
) -> np.ndarray:
    """Reference of :func:`gmmfast.score_grid`: the score of the 2-D marginal over ``dims``
    at every pixel centre, shape (height, width, 2), last axis (∂/∂x, ∂/∂y) in the order of
    ``dims`` (x across, y down, as the grid lays them out)."""
    grid = as_grid(grid)
    form = marginal_form(model, dims, length=2)
    out = np.empty((*grid.shape, 2))
    for rows, pts in _grid_rows(grid, chunk_size):
        out[rows] = _form_score(form, pts).reshape(-1, grid.width, 2)
    return out


REVERSE_METHODS = ("ddpm", "ode")


def _posterior_draw(mixture: Mixture, alpha_bar: float, x, rng, chunk_size: int) -> np.ndarray:
    """x₀ ~ q(x₀ | x₁ = x) for x₁ = √ᾱ x₀ + √(1 − ᾱ) ε: pick component k with its
    responsibility in ``mixture.diffuse(ᾱ)`` at x, then draw from N(μ_k, Σ_k) conditioned on the
    noisy observation y = x / √ᾱ = x₀ + √τ ε, τ = (1 − ᾱ)/ᾱ: mean μ_k + Σ_k (Σ_k + τI)⁻¹ (y − μ_k),
    covariance Σ_k − Σ_k (Σ_k + τI)⁻¹ Σ_k. Component by component."""
    if alpha_bar >= 1.0:
        return x
    tau = (1.0 - alpha_bar) / alpha_bar
    k, d = mixture.n_components, mixture.n_features
    covs = full_covariances(mixture.covariances, mixture.covariance_type, k, d)
    proba = np.concatenate(
        [predict_proba(mixture.diffuse(alpha_bar), x[rows]) for rows in _chunks(len(x), chunk_size)]
    )
    y = x / np.sqrt(alpha_bar)
    cumulative = np.cumsum(proba / proba.sum(axis=1, keepdims=True), axis=1)
    chosen = np.minimum((cumulative < rng.random((len(x), 1))).sum(axis=1), k - 1)
    out = np.empty_like(x)
    for c in np.unique(chosen):
        rows = np.flatnonzero(chosen == c)
        gain = covs[c] @ np.linalg.inv(covs[c] + tau * np.eye(d))
        cov = covs[c] - gain @ covs[c]
        factor = np.linalg.cholesky(0.5 * (cov + cov.T))
        mean = mixture.means[c] + (y[rows] - mixture.means[c]) @ gain.T
        out[rows] = mean + rng.standard_normal((rows.size, d)) @ factor.T
    return out


def reverse_sample(
    model: ModelLike,
    schedule,
    n_samples,
    *,
    method: str = "ddpm",
    random_state=None,
    return_path: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray | tuple:
    """Reference of :func:`gmmfast.diffusion.reverse_sample`: samples of ``model`` made by
    running the diffusion process backwards with the exact score of every noised mixture.

    ``schedule`` holds ᾱ_1 ≥ … ≥ ᾱ_T (:func:`gmmfast.diffusion.linear_schedule`,
    ``cosine_schedule``), ᾱ_0 = 1. The start x_T is drawn from ``model.diffuse(ᾱ_T)`` (and
    shuffled); then for
    t = T, …, 1, with s_t the score of ``model.diffuse(ᾱ_t)`` (built once per step):

    * ``"ddpm"`` (ancestral sampling, Ho et al. 2020): x_{t−1} = (x_t + β_t s_t(x_t)) / √α_t
      + σ_t z, α_t = ᾱ_t / ᾱ_{t−1}, β_t = 1 − α_t, σ_t² = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t),
      z ~ N(0, I); the last step (t = 1) draws x₀ from the exact posterior q(x₀ | x₁);
    * ``"ode"``: the deterministic DDIM (η = 0) step of the probability-flow ODE,
      x̂₀ = (x_t + (1 − ᾱ_t) s_t(x_t)) / √ᾱ_t, ε̂ = −√(1 − ᾱ_t) s_t(x_t),
      x_{t−1} = √ᾱ_{t−1} x̂₀ + √(1 − ᾱ_{t−1}) ε̂.

    Vectorised over the points (chunks of ``chunk_size`` rows, memory chunk × K), one NumPy
    ``Generator`` seeded by ``seed_from(random_state)``: the start's draws first, its
    shuffle, then one (n, d) block of normals per DDPM step. The same distribution as the
    compiled kernel, not the same numbers.

    Returns samples of shape (n_samples, d) float64, or with ``return_path=True``
    ``(samples, path)``, path of shape (T + 1, n_samples, d): path[0] = x_T, path[-1] = the
    samples. The plug-in mixture of a ``BayesianGaussianMixture`` (what ``sample`` draws).
    """
    mixture = as_mixture(model)
    alpha_bars = check_schedule(schedule)
    n = check_n_samples(n_samples)
    if method not in REVERSE_METHODS:
        raise ValueError(f"method must be one of {REVERSE_METHODS}, got {method!r}")
    rng = np.random.default_rng(seed_from(random_state))
    steps = alpha_bars.size
    start, _ = sample(mixture.diffuse(float(alpha_bars[-1])), n, random_state=rng)
    x = start[rng.permutation(n)]  # shuffled, as the kernel's: any slice samples the whole
    path = np.empty((steps + 1, n, mixture.n_features)) if return_path else None
    if path is not None:
        path[0] = x
    for index in range(steps - 1, -1, -1):
        now = float(alpha_bars[index])
        before = float(alpha_bars[index - 1]) if index > 0 else 1.0
        form = canonical_form(mixture.diffuse(now))
        s = np.empty_like(x)
        for rows in _chunks(n, chunk_size):
            s[rows] = _form_score(form, x[rows])
        if method == "ddpm" and index == 0:
            x = _posterior_draw(mixture, now, x, rng, chunk_size)
        elif method == "ddpm":
            alpha = now / before
            beta = 1.0 - alpha
            x = (x + beta * s) / np.sqrt(alpha)
            if beta > 0.0:  # a step of β = 0 (ᾱ_t = ᾱ_{t−1}) adds no noise
                sigma = np.sqrt(beta * (1.0 - before) / (1.0 - now))
                x += sigma * rng.standard_normal(x.shape)
        else:
            x0 = (x + (1.0 - now) * s) / np.sqrt(now)
            eps = -np.sqrt(1.0 - now) * s
            x = np.sqrt(before) * x0 + np.sqrt(1.0 - before) * eps
        if path is not None:
            path[steps - index] = x
    return (x, path) if path is not None else x
