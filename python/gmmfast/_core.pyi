"""Compiled kernels (Rust). Private: use the functions of the ``gmmfast`` package.

Every kernel takes a mixture in canonical form — ``log_const`` (K,), ``means`` (K, d),
``prec_chol`` (K, d, d), all C-contiguous float64 — and writes into a caller-allocated ``out``.
The samplers take the means and the covariance factors of ``gmmfast._sampling`` instead, and a
64-bit seed.
"""

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "label_grid",
    "log_density_grid",
    "num_threads",
    "predict",
    "predict_proba",
    "sample",
    "sample_counts",
    "sample_image",
    "score_samples",
]

__version__: str

def score_samples(
    log_const: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    prec_chol: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
def predict_proba(
    log_const: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    prec_chol: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
def predict(
    log_const: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    prec_chol: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.int64],
) -> None: ...
def log_density_grid(
    log_const: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    prec_chol: npt.NDArray[np.float64],
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
def label_grid(
    log_const: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    prec_chol: npt.NDArray[np.float64],
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    out: npt.NDArray[np.int64],
) -> None: ...
def sample_counts(
    weights: npt.NDArray[np.float64],
    n_samples: int,
    seed: int,
    out: npt.NDArray[np.uint64],
) -> None: ...
def sample(
    means: npt.NDArray[np.float64],
    factors: npt.NDArray[np.float64],
    covariance_type: str,
    counts: npt.NDArray[np.uint64],
    seed: int,
    x: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
) -> None: ...
def sample_image(
    means: npt.NDArray[np.float64],
    factors: npt.NDArray[np.float64],
    covariance_type: str,
    counts: npt.NDArray[np.uint64],
    seed: int,
    dims: tuple[int, int],
    color_dims: list[int],
    x_cells: tuple[float, float],
    y_cells: tuple[float, float],
    image: npt.NDArray[np.int64],
    colours: npt.NDArray[np.float64] | None,
) -> None: ...
def num_threads() -> int: ...
