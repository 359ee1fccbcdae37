"""Resolving the ``model`` argument that every public function takes.

A model is a fitted ``sklearn.mixture.GaussianMixture``, a fitted ``BayesianGaussianMixture`` or
a :class:`gmmfast.Mixture`. Two views of it are needed:

* the *scoring form*: what the model's own ``score_samples`` / ``predict_proba`` evaluate. For a
  ``BayesianGaussianMixture`` these use expected log-weights (digamma of the concentration
  parameters) and a per-component Wishart correction instead of ``log(weights_)``: its
  ``score_samples`` is not the log-density of the plug-in mixture.
* the *plug-in mixture*: ``weights_``, ``means_``, ``covariances_`` (what ``sample()`` draws
  from). Marginals over a strict subset of the features use it, for every model type.

scikit-learn (and SciPy) are imported only when a model is not a :class:`Mixture`: a model file
or a ``Mixture`` needs neither, which keeps ``import gmmfast`` and the command line quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

import numpy as np

from ._canonical import Components, gaussian_form
from ._mixture import Mixture, canonical_form
from ._validation import check_dims, check_points, fitted_estimator

if TYPE_CHECKING:
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

#: What every function's ``model`` argument takes: a fitted scikit-learn ``GaussianMixture`` or
#: ``BayesianGaussianMixture``, or a :class:`gmmfast.Mixture`.
ModelLike = Union["GaussianMixture", "BayesianGaussianMixture", Mixture]


def _is_bayesian(estimator) -> bool:
    from sklearn.mixture import BayesianGaussianMixture

    return isinstance(estimator, BayesianGaussianMixture)


def _check_feature_names(estimator, X) -> None:
    """scikit-learn's own checks of ``X``'s column names against those ``estimator`` was
    fitted with: ``ValueError`` when they differ, a ``UserWarning`` when only one side has
    names (what ``estimator.score_samples(X)`` and the like say)."""
    try:
        from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6
    except ImportError:  # pragma: no cover - older scikit-learn
        estimator._check_feature_names(X, reset=False)
    else:
        validate_data(estimator, X, reset=False, skip_check_array=True)


def _input_dtype(X) -> np.dtype | None:
    """The element type of ``X`` if it has one (arrays, DataFrames of one dtype), else None."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):
        try:
            dtype = np.result_type(*X.dtypes)
        except TypeError:
            return None
    try:
        return np.dtype(dtype) if dtype is not None else None
    except TypeError:
        return None


def check_model_points(model: ModelLike, X, n_features: int) -> tuple:
    """``(X as a C-contiguous float64 array (n, n_features), the dtype of the result)``.

    For a scikit-learn estimator, ``X``'s feature names are checked as the estimator's own
    methods check them, and the result type is theirs: float32 when the estimator was fitted
    in float32 and ``X`` is float32 (or float16), float64 otherwise. Computation is in float64
    either way and a float32 result is rounded once at the end.
    """
    out_dtype: np.dtype = np.dtype(np.float64)
    if isinstance(model, Mixture):
        return check_points(X, n_features), out_dtype
    estimator = fitted_estimator(model)
    # Shape first (the names check needs a 2-D X), in scikit-learn's words.
    points = check_points(X, n_features, owner=type(estimator).__name__)
    _check_feature_names(estimator, X)
    in_dtype = _input_dtype(X)
    if (
        estimator.means_.dtype == np.float32
        and in_dtype is not None
        and in_dtype in (np.float32, np.float16)
    ):
        out_dtype = np.dtype(np.float32)
    return points, out_dtype


def as_mixture(model: ModelLike) -> Mixture:
    """The plug-in :class:`Mixture` of ``model``."""
    if isinstance(model, Mixture):
        return model
    return Mixture.from_sklearn(model)


def n_features(model: ModelLike) -> int:
    if isinstance(model, Mixture):
        return model.n_features
    return fitted_estimator(model).means_.shape[1]


def _bayesian_log_const(est: BayesianGaussianMixture) -> np.ndarray:
    """c_k of a variational mixture, as in its ``_estimate_weighted_log_prob``.

    ``E[log π_k] − ½ d log 2π + Σ log U_k[i,i] − ½ d log ν_k
    + ½ (d log 2 + Σ_i ψ((ν_k − i)/2) − d / β_k)`` with ν the degrees of freedom and β the mean
    precisions.
    """
    from scipy.special import digamma

    d = est.means_.shape[1]
    if est.weight_concentration_prior_type == "dirichlet_process":
        alpha, beta = est.weight_concentration_
        digamma_sum = digamma(alpha + beta)
        log_weights = (
            digamma(alpha)
            - digamma_sum
            + np.hstack((0.0, np.cumsum(digamma(beta) - digamma_sum)[:-1]))
        )
    else:
        concentration = est.weight_concentration_
        log_weights = digamma(concentration) - digamma(np.sum(concentration))
    dof = est.degrees_of_freedom_
    log_lambda = d * np.log(2.0) + np.sum(
        digamma(0.5 * (dof - np.arange(d)[:, np.newaxis])), axis=0
    )
    return log_weights - 0.5 * d * np.log(dof) + 0.5 * (log_lambda - d / est.mean_precision_)


def scoring_form(model: ModelLike) -> Components:
    """The canonical form of what ``model.score_samples`` evaluates, over all its features."""
    if isinstance(model, Mixture):
        return canonical_form(model)
    est = fitted_estimator(model)
    if _is_bayesian(est):
        extra = _bayesian_log_const(est)
    else:
        with np.errstate(divide="ignore"):
            extra = np.log(est.weights_)
    return gaussian_form(extra, est.means_, est.precisions_cholesky_, est.covariance_type)


def marginal_form(model: ModelLike, dims, length: int | None = None) -> Components:
    """The canonical form of ``model``'s marginal over features ``dims`` (in that order).

    When ``dims`` names every feature, this is the scoring form with its features reordered (so
    a 2-feature ``BayesianGaussianMixture`` on a grid gives its own ``score_samples``); over a
    strict subset it is the plug-in mixture's marginal.
    """
    d = n_features(model)
    dims = check_dims(dims, d, length=length)
    if sorted(dims) == list(range(d)):
        return scoring_form(model).permuted(dims)
    return canonical_form(as_mixture(model).marginal(dims))


def check_marginal(model: ModelLike, dims, length: int | None = None) -> tuple:
    """The checks of :func:`marginal_form` without building anything: ``model`` is a
    Mixture or a fitted estimator, ``dims`` valid indices for it. Returns ``dims`` as a
    tuple (for lazy callers, such as :mod:`gmmfast.dask`, that want their errors early)."""
    return check_dims(dims, n_features(model), length=length)
