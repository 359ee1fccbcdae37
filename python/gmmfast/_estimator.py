"""``gmmfast.GaussianMixture``: scikit-learn's estimator with EM run by gmmfast's kernels.

Imported on first use of ``gmmfast.GaussianMixture`` (it imports scikit-learn).
"""

from __future__ import annotations

import warnings
from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn import mixture as _sklearn_mixture
from sklearn.base import _fit_context
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._array_api import get_namespace
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._density import predict, predict_proba, score_samples
from ._fit import (
    FitPoints,
    Parameters,
    assigned_parameters,
    e_step,
    given_parameters,
    labels,
    m_step,
    precisions_cholesky,
    precisions_cholesky_from_precisions,
    random_parameters,
)
from ._sampling import sample


class GaussianMixture(_sklearn_mixture.GaussianMixture):
    """scikit-learn's ``GaussianMixture`` whose EM, scoring and sampling run in gmmfast.

    A drop-in replacement: the same parameters, defaults, attributes and behaviour
    (``isinstance(m, sklearn.mixture.GaussianMixture)`` holds), plus ``rtol`` and
    ``sample_weight``. From the same initialisation (scikit-learn's own: its k-means,
    k-means++, random or random-from-data with the same ``random_state``) EM follows the
    same iterates to rounding; each iteration is one pass of the culled point kernel with the
    M-step's sums fused in, never an (n_samples × n_components) array.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, \
weights_init, means_init, precisions_init, random_state, warm_start, verbose, \
verbose_interval
        As for :class:`sklearn.mixture.GaussianMixture`.
    rtol : float in [0, 1), default=0
        0 is exact EM. With ``rtol`` > 0 the E-step is truncated with a certificate: for every
        sample the components it leaves out carry at most ``rtol`` of its responsibility (and
        of its density), proven from bounds over blocks of samples. Each ``lower_bounds_``
        entry is then at most −log(1 − rtol) ≈ rtol below the exact mean log-likelihood of
        the iteration's parameters, and each component's mass N_k, mean and scatter are those
        of responsibilities within ``rtol`` of the exact ones, point by point.

    Notes
    -----
    ``fit(X, sample_weight=w)``: integer weights fit as repeated rows, a weight of zero as the
    row left out (the k-means initialisation takes the weights too); ``weights_`` and the
    lower bound are weighted means. Float32 ``X`` is fitted in float64 and the fitted
    parameters are stored in float32, as scikit-learn's would be.
    """

    lower_bound_: float
    _parameter_constraints: ClassVar[dict] = {
        **_sklearn_mixture.GaussianMixture._parameter_constraints,
        "rtol": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        rtol=0.0,
    ):
        super().__init__(
            n_components=n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            means_init=means_init,
            precisions_init=precisions_init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
        )
        self.rtol = rtol

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM; see :class:`sklearn.mixture.GaussianMixture`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples (None: all 1).

        Returns
        -------
        self : GaussianMixture
        """
        self.fit_predict(X, y, sample_weight=sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM and return the label of each sample (as
        ``fit(X, y, sample_weight).predict(X)``).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {X.shape[0]}"
            )
        self._check_parameters(X, xp=get_namespace(X)[0])
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        points = np.require(X, dtype=np.float64, requirements=["C", "A"])
        total = float(len(points) if weights is None else weights.sum())

        random_state = check_random_state(self.random_state)

        def start() -> Parameters:
            return self._initial_parameters(X, points, weights, random_state)

        rows = FitPoints(points)  # every E-step of the fit reuses its kd-tree

        def step(params: Parameters, tag: str) -> tuple:
            return e_step(params, self.covariance_type, rows, weights, self.rtol), total

        best_params = self._run_em(start, step, X.dtype)
        # The labels of the fitted parameters (as scikit-learn's final E-step gives them),
        # from the validated array: the estimator's own ``predict`` would check its feature
        # names against an array that has none.
        return labels(best_params, self.covariance_type, points)

    def _run_em(self, start, step, dtype) -> Parameters:
        """scikit-learn's EM loop (its ``fit_predict``), wherever the E-step runs.

        ``start()`` gives one initialisation's parameters (``n_init`` of them, or one warm start
        from the fitted state); ``step(params, tag)`` gives ``(Statistics, total weight)`` of
        an E-step (``tag`` names the iteration, "init-iteration"). Runs EM from each start until
        |change| < tol or ``max_iter``, keeps the best lower bound, warns as scikit-learn does,
        sets the fitted attributes in ``dtype`` and returns the best parameters (float64).
        """
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound = -np.inf
        best_lower_bounds: list = []
        self.converged_ = False
        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            params = start() if do_init else self._current_parameters()
            lower_bound = -np.inf if do_init else self.lower_bound_
            current_lower_bounds = []
            if self.max_iter == 0:
                best_params, best_n_iter = params, 0
                continue
            converged = False
            for n_iter in range(1, self.max_iter + 1):
                previous = lower_bound
                stats, total = step(params, f"{init}-{n_iter}")
                params = m_step(stats, self.covariance_type, self.reg_covar)
                # Through scikit-learn's hook (the progress display of image.fit reads it).
                lower_bound = self._compute_lower_bound(None, stats.log_lik / total)
                current_lower_bounds.append(lower_bound)
                change = lower_bound - previous
                self._print_verbose_msg_iter_end(n_iter, change)
                if abs(change) < self.tol:
                    converged = True
                    break
            self._print_verbose_msg_init_end(lower_bound, converged)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best_params, best_n_iter = params, n_iter
                best_lower_bounds = current_lower_bounds
                self.converged_ = converged

        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._set_parameters(_as_dtype(best_params, dtype))
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds
        return best_params

    def _initial_parameters(self, X, points, weights, random_state) -> Parameters:
        """scikit-learn's ``_initialize_parameters`` and ``_initialize`` (the same draws from
        ``random_state``), from sums rather than an (n × K) responsibility matrix."""
        n, k = len(points), self.n_components
        args = (self.n_components, self.covariance_type, self.reg_covar)
        given = (self.weights_init, self.means_init, self.precisions_init)
        if all(p is not None for p in given):
            # Everything is given: scikit-learn estimates nothing (and draws nothing).
            return given_parameters(*given, self.covariance_type)
        if self.init_params == "kmeans":
            kmeans = KMeans(n_clusters=k, n_init=1, random_state=random_state)
            labels = kmeans.fit(X, sample_weight=weights).labels_
            nk, means, covariances = assigned_parameters(
                points, weights, np.arange(n), labels, *args
            )
        elif self.init_params == "random":
            nk, means, covariances = random_parameters(points, weights, random_state, *args)
        else:
            if self.init_params == "random_from_data":
                indices = random_state.choice(n, size=k, replace=False)
            else:  # "k-means++"
                _, indices = kmeans_plusplus(X, k, random_state=random_state, sample_weight=weights)
            nk, means, covariances = assigned_parameters(
                points, weights, indices, np.arange(k), *args
            )
        total = n if weights is None else weights.sum()
        w = nk / total if self.weights_init is None else self.weights_init
        if self.means_init is not None:
            means = self.means_init
        if self.precisions_init is None:
            prec_chol = precisions_cholesky(covariances, self.covariance_type)
        else:
            covariances = None
            prec_chol = precisions_cholesky_from_precisions(
                self.precisions_init, self.covariance_type
            )
        return Parameters(
            np.asarray(w, dtype=np.float64),
            np.asarray(means, dtype=np.float64),
            covariances,
            np.asarray(prec_chol, dtype=np.float64),
        )

    def _current_parameters(self) -> Parameters:
        """The fitted parameters, to continue from (``warm_start``)."""
        weights, means, covariances, prec_chol = self._get_parameters()
        return Parameters(
            np.asarray(weights, dtype=np.float64),
            np.asarray(means, dtype=np.float64),
            None if covariances is None else np.asarray(covariances, dtype=np.float64),
            np.asarray(prec_chol, dtype=np.float64),
        )

    def score_samples(self, X):
        """Log-likelihood of each sample (gmmfast's kernel): (n_samples,)."""
        check_is_fitted(self)
        return score_samples(self, X)

    def predict(self, X):
        """Most responsible component of each sample (gmmfast's kernel): (n_samples,)."""
        check_is_fitted(self)
        return predict(self, X)

    def predict_proba(self, X):
        """Responsibilities (gmmfast's kernel): (n_samples, n_components)."""
        check_is_fitted(self)
        return predict_proba(self, X)

    def sample(self, n_samples=1):
        """``(X, labels)``: ``n_samples`` drawn by gmmfast's sampler from ``random_state``,
        grouped by component as scikit-learn's are."""
        check_is_fitted(self)
        return sample(self, n_samples, random_state=check_random_state(self.random_state))


def _as_dtype(params: Parameters, dtype) -> tuple:
    return tuple(None if p is None else np.asarray(p, dtype=dtype) for p in params)
