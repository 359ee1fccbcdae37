"""The peers gmmfast is measured against, written as a strong user would write them.

* ``numba_log_density_grid``: a multithreaded brute-force numba loop over pixels (``prange``
  over rows) and components, with a two-pass log-sum-exp per pixel, on the same canonical
  parameters (log-constants, means, precision Cholesky factors) gmmfast uses.
* ``numba_score_samples``: the same loop over arbitrary points of any number of features
  (``prange`` over points), the peer of gmmfast's point kernels.
* ``numpy_score``, ``numpy_reverse_sample``: the exact score vectorised over components with
  NumPy, and the reverse diffusion process built on it (the peers of ``gmmfast.score`` and
  ``gmmfast.diffusion.reverse_sample``).
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is in the "bench" extra
    numba = None


def _build_numba_grid():
    @numba.njit(parallel=True, fastmath=False, cache=False)
    def kernel(log_const, means, prec_chol, xs, ys, out):
        height, width = out.shape
        k = log_const.shape[0]
        for i in numba.prange(height):
            buffer = np.empty(k)
            y = ys[i]
            for j in range(width):
                x = xs[j]
                top = -np.inf
                for c in range(k):
                    dx = x - means[c, 0]
                    dy = y - means[c, 1]
                    a = dx * prec_chol[c, 0, 0]
                    b = dx * prec_chol[c, 0, 1] + dy * prec_chol[c, 1, 1]
                    value = log_const[c] - 0.5 * (a * a + b * b)
                    buffer[c] = value
                    if value > top:
                        top = value
                total = 0.0
                for c in range(k):
                    total += np.exp(buffer[c] - top)
                out[i, j] = top + np.log(total)

    return kernel


_NUMBA_GRID = None


def numba_log_density_grid(form, xs, ys):
    """Log-density on the grid (xs, ys) of a 2-feature canonical form, by numba."""
    global _NUMBA_GRID
    if numba is None:
        raise RuntimeError("numba is not installed: pip install 'gmmfast[bench]'")
    if _NUMBA_GRID is None:
        _NUMBA_GRID = _build_numba_grid()
    out = np.empty((len(ys), len(xs)))
    _NUMBA_GRID(form.log_const, form.means, form.prec_chol, xs, ys, out)
    return out


def _build_numba_points():
    @numba.njit(parallel=True, fastmath=False, cache=False)
    def kernel(log_const, means, prec_chol, X, out):
        n, d = X.shape
        k = log_const.shape[0]
        # One buffer of K values per chunk of points, as a strong user would hoist it.
        chunk = 256
        for start in numba.prange((n + chunk - 1) // chunk):
            buffer = np.empty(k)
            y = np.empty(d)
            for i in range(start * chunk, min(n, (start + 1) * chunk)):
                top = -np.inf
                for c in range(k):
                    for j in range(d):
                        y[j] = 0.0
                    for a in range(d):
                        delta = X[i, a] - means[c, a]
                        for j in range(a, d):
                            y[j] += delta * prec_chol[c, a, j]
                    maha = 0.0
                    for j in range(d):
                        maha += y[j] * y[j]
                    value = log_const[c] - 0.5 * maha
                    buffer[c] = value
                    if value > top:
                        top = value
                total = 0.0
                for c in range(k):
                    total += np.exp(buffer[c] - top)
                out[i] = top + np.log(total)

    return kernel


_NUMBA_POINTS = None


def numba_score_samples(form, X):
    """Log-density at the rows of ``X`` (n, d) of a canonical form, by numba brute force."""
    global _NUMBA_POINTS
    if numba is None:
        raise RuntimeError("numba is not installed: pip install 'gmmfast[bench]'")
    if _NUMBA_POINTS is None:
        _NUMBA_POINTS = _build_numba_points()
    out = np.empty(len(X))
    _NUMBA_POINTS(form.log_const, form.means, form.prec_chol, np.ascontiguousarray(X), out)
    return out


def numpy_conditional_mean_grid(form, reg, xs, ys, chunk_rows: int = 4):
    """E[rest | x, y] on the grid (xs, ys), vectorised over components with NumPy: per chunk
    of rows, the (pixels × K) log-densities of the (x, y) marginal by one batched product, the
    responsibilities, and the mean as two matrix products (Σ_k r_k a_k + Σ_k r_k G_k x with
    a_k = μ_r − G_k μ_g). Faster than ``gmmfast.reference`` (which loops over components and
    centres every point on every component), at the price of that centring. ``form`` is the
    canonical form of the (x, y) marginal, ``reg`` the regressions of the other features."""
    upper = np.triu(form.prec_chol)  # (K, 2, 2)
    offset = reg.means_rest - np.einsum("kmg,kg->km", reg.gain, form.means)  # (K, m)
    gain_flat = reg.gain.reshape(len(offset), -1)  # (K, m·2)
    m = offset.shape[1]
    out = np.empty((len(ys), len(xs), m))
    for start in range(0, len(ys), chunk_rows):
        rows = slice(start, min(start + chunk_rows, len(ys)))
        xx, yy = np.meshgrid(xs, ys[rows])
        pts = np.column_stack([xx.ravel(), yy.ravel()])  # (n, 2)
        centred = pts[:, None, :] - form.means[None]  # (n, K, 2)
        y = np.einsum("nkd,kde->nke", centred, upper, optimize=True)
        log_prob = form.log_const[None] - 0.5 * np.einsum("nke,nke->nk", y, y, optimize=True)
        log_prob -= log_prob.max(axis=1, keepdims=True)
        resp = np.exp(log_prob)
        resp /= resp.sum(axis=1, keepdims=True)
        weighted_gain = (resp @ gain_flat).reshape(-1, m, 2)  # Σ_k r_k G_k
        mean = resp @ offset + np.einsum("nmg,ng->nm", weighted_gain, pts, optimize=True)
        out[rows] = mean.reshape(-1, len(xs), m)
    return out


def numpy_score(form, X, chunk_size: int = 2048):
    """∇ₓ log p at the rows of ``X`` (n, d) of a canonical form, vectorised over components
    with NumPy: per chunk of points, every point centred on every mean (n × K × d), the
    log-densities and responsibilities, and Σ_k r_k (−Λ_k (x − μ_k)) = −Σ_k r_k U_k y_k with
    y_k = U_kᵀ (x − μ_k). The same exact score as ``gmmfast.reference.score`` (which loops
    over components), without its care far from every component (there all terms underflow
    and this gives NaN). Memory: a few chunk × K × d arrays."""
    upper = np.triu(form.prec_chol)  # (K, d, d)
    out = np.empty(X.shape)
    for start in range(0, len(X), chunk_size):
        x = X[start : start + chunk_size]
        centred = x[:, None, :] - form.means[None]  # (n, K, d)
        y = np.einsum("nkd,kde->nke", centred, upper, optimize=True)
        log_prob = form.log_const[None] - 0.5 * np.einsum("nke,nke->nk", y, y, optimize=True)
        log_prob -= log_prob.max(axis=1, keepdims=True)
        resp = np.exp(log_prob)
        resp /= resp.sum(axis=1, keepdims=True)
        # −Σ_k r_k U_k y_k: weight each y_k by r_k first, then one batched product.
        out[start : start + chunk_size] = -np.einsum(
            "kde,nke->nd", upper, resp[:, :, None] * y, optimize=True
        )
    return out


def numpy_reverse_sample(mixture, schedule, n_samples: int, method="ddpm", seed=0, steps=None):
    """The reverse diffusion process of ``gmmfast.diffusion.reverse_sample`` in NumPy, with
    :func:`numpy_score` at every step (the noised mixture built once per step). ``steps``:
    run only the first that many steps (t = T, T − 1, …) — every step costs the same, so a
    few of them time the whole. Returns the points reached."""
    from gmmfast._mixture import canonical_form
    from gmmfast.reference import sample

    rng = np.random.default_rng(seed)
    alpha_bars = np.asarray(schedule, dtype=np.float64)
    x, _ = sample(mixture.diffuse(float(alpha_bars[-1])), n_samples, random_state=rng)
    total = len(alpha_bars) if steps is None else min(steps, len(alpha_bars))
    for index in range(len(alpha_bars) - 1, len(alpha_bars) - 1 - total, -1):
        now = float(alpha_bars[index])
        before = float(alpha_bars[index - 1]) if index > 0 else 1.0
        s = numpy_score(canonical_form(mixture.diffuse(now)), x)
        if method == "ddpm":
            alpha = now / before
            x = (x + (1.0 - alpha) * s) / np.sqrt(alpha)
            if index > 0:
                sigma = np.sqrt((1.0 - alpha) * (1.0 - before) / (1.0 - now))
                x += sigma * rng.standard_normal(x.shape)
        else:
            x0 = (x + (1.0 - now) * s) / np.sqrt(now)
            x = np.sqrt(before) * x0 - np.sqrt(1.0 - before) * np.sqrt(1.0 - now) * s
    return x
