"""The demo workloads: scikit-learn's bundled sample images and the models fitted on them.

* ``"china-bw"``: the line drawing of ``china.jpg`` (its strongest edges, black on white) as
  the (x, y) of its dark pixels, K = 500 full covariances — the black-and-white workload.
* ``"flower-color"``: (x, y, r, g, b) of every pixel of ``flower.jpg``, K = 1000 full
  covariances fitted on a random subsample — the colour workload.

The fitted parameters ship with the package (``gmmfast/data/*.npz``), so demos and benchmarks do
not refit; :func:`fit_demo_model` reproduces them.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._io import load
from ._mixture import Mixture
from .image import PIXEL_VARIANCE, bw_points, color_points
from .image import fit as _fit

__all__ = [
    "DEMO_MODELS",
    "PIXEL_VARIANCE",
    "china_edges",
    "demo_image",
    "demo_model",
    "demo_points",
    "fit_demo_model",
    "flower",
]

# Share of china.jpg's pixels drawn as lines: those whose gradient is in the top 8 %.
_EDGE_PERCENTILE = 92.0

DEMO_MODELS = {
    "china-bw": {
        "file": "china_bw_k500.npz",
        "image": "china.jpg",
        "mode": "bw",
        "n_components": 500,
        "subsample": None,
    },
    "flower-color": {
        "file": "flower_color_k1000.npz",
        "image": "flower.jpg",
        "mode": "color",
        "n_components": 1000,
        "subsample": 50_000,
    },
}


def _sample_image(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def china_edges() -> np.ndarray:
    """The line drawing of scikit-learn's ``china.jpg``: (427, 640) uint8, lines black (0) on
    white (255). A pixel is black where the gradient magnitude of the grey image is in its
    top 8 %."""
    grey = _sample_image("china.jpg").astype(np.float64).mean(axis=2)
    gy, gx = np.gradient(grey)
    magnitude = np.hypot(gx, gy)
    edges = magnitude > np.percentile(magnitude, _EDGE_PERCENTILE)
    return np.where(edges, 0, 255).astype(np.uint8)


def flower() -> np.ndarray:
    """scikit-learn's ``flower.jpg``: (427, 640, 3) uint8 RGB."""
    return _sample_image("flower.jpg")


def demo_image(name: str) -> np.ndarray:
    """The training image of demo model ``name``."""
    spec = _spec(name)
    return china_edges() if spec["mode"] == "bw" else flower()


def demo_points(name: str) -> np.ndarray:
    """The training points of demo model ``name`` (before any subsampling)."""
    spec = _spec(name)
    image = demo_image(name)
    return bw_points(image) if spec["mode"] == "bw" else color_points(image)


def _spec(name: str) -> dict:
    try:
        return DEMO_MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown demo model {name!r}; choose one of {sorted(DEMO_MODELS)}"
        ) from None


def demo_model(name: str) -> Mixture:
    """The fitted demo model ``name`` shipped with gmmfast (see the module docstring)."""
    spec = _spec(name)
    path = resources.files("gmmfast") / "data" / spec["file"]
    with resources.as_file(path) as file:
        return load(file)


def fit_demo_model(
    name: str, *, verbose: int = 0, random_state: int = 0, progress=False
) -> Mixture:
    """Fit demo model ``name`` anew with :class:`gmmfast.GaussianMixture` (seconds: K = 500 or
    1000; scikit-learn's own EM takes minutes).

    ``verbose`` is passed to ``GaussianMixture`` (2 prints every EM iteration's change on
    stdout); ``progress`` (True, False or 'auto') prints each EM iteration and the lower bound
    on stderr, as :func:`gmmfast.image.fit`.
    """
    spec = _spec(name)
    points = demo_points(name)
    height, width = demo_image(name).shape[:2]
    if spec["subsample"] is not None and spec["subsample"] < len(points):
        rng = np.random.default_rng(random_state)
        points = points[rng.choice(len(points), spec["subsample"], replace=False)]
    estimator = _fit(
        points,
        spec["n_components"],
        covariance_type="full",
        max_iter=100,
        random_state=random_state,
        progress=progress,
        reg_covar=PIXEL_VARIANCE,
        verbose=verbose,
        verbose_interval=1,
    )
    mixture = Mixture.from_sklearn(estimator)
    metadata = {
        "mode": spec["mode"],
        "width": width,
        "height": height,
        "source": spec["image"],
        "n_training_points": len(points),
        "converged": bool(estimator.converged_),
        "n_iter": int(estimator.n_iter_),
    }
    return Mixture(
        mixture.weights,
        mixture.means,
        mixture.covariances,
        mixture.covariance_type,
        metadata=metadata,
    )._with_precisions_cholesky(mixture.precisions_cholesky)
