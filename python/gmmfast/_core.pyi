"""Compiled kernels (Rust). Private: use the functions of the ``gmmfast`` package.

The density and conditional kernels take a mixture as a ``Components`` object, built from its
canonical form — ``log_const`` (K,), ``means`` (K, d), ``prec_chol`` (K, d, d), all
C-contiguous float64 — and write into caller-allocated outputs.
Grid kernels take the pixel centres of the whole grid (``xs``, ``ys``) and fill the window of
``out``'s shape whose first pixel is grid pixel ``origin`` = (row, column).
The samplers take a mixture as a ``Gaussians`` object instead, built from its means (K, d),
its covariance factors in the layout of ``covariance_type`` (see
``gmmfast._gaussian.covariance_factors``) and that type, and a 64-bit seed. Both objects are
validated once, when they are built.

Every array must be C-contiguous and of the dtype shown, every output writeable and not
sharing memory with another argument: otherwise ``ValueError`` (layout, writeability) or
``TypeError`` (dtype, number of dimensions). Ctrl-C stops a running kernel within a few
milliseconds and raises ``KeyboardInterrupt``; the outputs are then incomplete.
"""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = [
    "Components",
    "Gaussians",
    "PointTree",
    "Regressions",
    "__version__",
    "candidate_counts",
    "conditional_mean",
    "conditional_mean_grid",
    "e_step",
    "label_grid",
    "log_density_grid",
    "num_threads",
    "pairwise_logsumexp",
    "point_candidate_counts",
    "precision_cholesky",
    "predict",
    "predict_proba",
    "reverse_process",
    "sample",
    "sample_counts",
    "sample_image",
    "scatter",
    "score",
    "score_grid",
    "score_samples",
]

__version__: str

@final
class Components:
    def __new__(
        cls,
        log_const: npt.NDArray[np.float64],
        means: npt.NDArray[np.float64],
        prec_chol: npt.NDArray[np.float64],
    ) -> Components: ...
    @property
    def n_components(self) -> int: ...
    @property
    def n_features(self) -> int: ...

@final
class Gaussians:
    def __new__(
        cls,
        means: npt.NDArray[np.float64],
        factors: npt.NDArray[np.float64],
        covariance_type: str,
    ) -> Gaussians: ...
    @property
    def n_components(self) -> int: ...
    @property
    def n_features(self) -> int: ...
    @property
    def covariance_type(self) -> str: ...

@final
class Regressions:
    def __new__(
        cls,
        components: Components,
        means_rest: npt.NDArray[np.float64],
        gain: npt.NDArray[np.float64],
        cond_var: npt.NDArray[np.float64],
    ) -> Regressions: ...

def score_samples(
    components: Components,
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    rtol: float = 0.0,
) -> None: ...
def predict_proba(
    components: Components,
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    rtol: float = 0.0,
) -> None: ...
def predict(
    components: Components,
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.int64],
    rtol: float = 0.0,
) -> None: ...
def log_density_grid(
    components: Components,
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64] | npt.NDArray[np.float32],
    rtol: float = 0.0,
    origin: tuple[int, int] = ...,
) -> None: ...
def label_grid(
    components: Components,
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    out: npt.NDArray[np.int64],
    rtol: float = 0.0,
    origin: tuple[int, int] = ...,
) -> None: ...
def conditional_mean(
    components: Components,
    regressions: Regressions,
    x: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    std: npt.NDArray[np.float64] | None = None,
    rtol: float = 0.0,
) -> None: ...
def conditional_mean_grid(
    components: Components,
    regressions: Regressions,
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64] | npt.NDArray[np.float32],
    std: npt.NDArray[np.float64] | npt.NDArray[np.float32] | None = None,
    rtol: float = 0.0,
    origin: tuple[int, int] = ...,
) -> None: ...
def candidate_counts(
    components: Components,
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    out: npt.NDArray[np.int64],
    rtol: float = 0.0,
    kind: str = "density",
    origin: tuple[int, int] = ...,
) -> None: ...
def point_candidate_counts(
    components: Components,
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.int64],
    rtol: float = 0.0,
    kind: str = "density",
) -> None: ...
def sample_counts(
    weights: npt.NDArray[np.float64],
    n_samples: int,
    seed: int,
    out: npt.NDArray[np.uint64],
) -> None: ...
def sample(
    gaussians: Gaussians,
    counts: npt.NDArray[np.uint64],
    seed: int,
    x: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
) -> None: ...
def sample_image(
    gaussians: Gaussians,
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

@final
class PointTree:
    def __new__(cls, components: Components, x: npt.NDArray[np.float64]) -> PointTree: ...
    @property
    def n_points(self) -> int: ...
    @property
    def n_features(self) -> int: ...

def e_step(
    components: Components,
    x: npt.NDArray[np.float64] | PointTree,
    shift: npt.NDArray[np.float64],
    nk: npt.NDArray[np.float64],
    s1: npt.NDArray[np.float64],
    s2: npt.NDArray[np.float64],
    sample_weight: npt.NDArray[np.float64] | None = None,
    rtol: float = 0.0,
) -> float: ...
def precision_cholesky(
    covariances: npt.NDArray[np.float64], out: npt.NDArray[np.float64]
) -> int: ...
def scatter(
    mass: npt.NDArray[np.float64],
    first: npt.NDArray[np.float64],
    second: npt.NDArray[np.float64],
    delta: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
def score(
    components: Components,
    x: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    rtol: float = 0.0,
) -> None: ...
def score_grid(
    components: Components,
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    rtol: float = 0.0,
    origin: tuple[int, int] = ...,
) -> None: ...
def reverse_process(
    steps: list[Components],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    sigma: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    seed: int,
    path: npt.NDArray[np.float64] | None = None,
    rtol: float = 0.0,
) -> None: ...
def pairwise_logsumexp(
    means_p: npt.NDArray[np.float64],
    covariances_p: npt.NDArray[np.float64],
    means_q: npt.NDArray[np.float64],
    covariances_q: npt.NDArray[np.float64],
    log_weights_q: npt.NDArray[np.float64],
    kind: str,
    out: npt.NDArray[np.float64],
) -> None: ...
