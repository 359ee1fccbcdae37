"""gmmfast: fast, exact, bounded-memory rendering of fitted Gaussian mixture models.

Every function takes as its first argument a fitted ``sklearn.mixture.GaussianMixture``, a
fitted ``BayesianGaussianMixture`` or a :class:`Mixture`.
"""

from . import diffusion
from ._conditional import conditional_mean, conditional_mean_grid
from ._core import __version__
from ._density import label_grid, log_density_grid, predict, predict_proba, score_samples
from ._grid import Grid
from ._io import load, save
from ._mixture import Mixture
from ._model import ModelLike
from ._sampling import sample, sample_image

__all__ = [
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
    "score_samples",
]
