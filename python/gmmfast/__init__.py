"""gmmfast: fast, exact, bounded-memory rendering of fitted Gaussian mixture models.

Every function takes as its first argument a fitted ``sklearn.mixture.GaussianMixture``, a
fitted ``BayesianGaussianMixture`` or a :class:`Mixture`.
"""

from typing import TYPE_CHECKING

from . import diffusion
from ._conditional import conditional_mean, conditional_mean_grid
from ._core import __version__
from ._density import label_grid, log_density_grid, predict, predict_proba, score_samples
from ._grid import Grid
from ._io import load, save
from ._mixture import Mixture
from ._model import ModelLike
from ._sampling import sample, sample_image
from ._score import score, score_grid

if TYPE_CHECKING:
    from ._estimator import GaussianMixture

__all__ = [
    "GaussianMixture",
    "Grid",
    "Mixture",
    "ModelLike",
    "__version__",
    "conditional_mean",
    "conditional_mean_grid",
    "diffusion",
    "label_grid",
    "load",
    "log_density_grid",
    "predict",
    "predict_proba",
    "sample",
    "sample_image",
    "save",
    "score",
    "score_grid",
    "score_samples",
]


def __getattr__(name: str):
    # The estimator subclasses scikit-learn's: import it (and scikit-learn) on first use only,
    # so that ``import gmmfast`` stays light.
    if name == "GaussianMixture":
        from ._estimator import GaussianMixture

        return GaussianMixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
