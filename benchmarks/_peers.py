"""The peers gmmfast is measured against, written as a strong user would write them.

* ``numba_log_density_grid``: a multithreaded brute-force numba loop over pixels (``prange``
  over rows) and components, with a two-pass log-sum-exp per pixel, on the same canonical
  parameters (log-constants, means, precision Cholesky factors) gmmfast uses.
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
