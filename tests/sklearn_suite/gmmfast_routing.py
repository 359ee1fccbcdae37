"""A pytest plugin that routes scikit-learn's mixture estimators through gmmfast.

With it, ``BaseMixture.score_samples``, ``score``, ``predict``, ``predict_proba`` and ``sample``
(and so those of ``GaussianMixture`` and ``BayesianGaussianMixture``) are gmmfast's functions;
``fit`` is untouched. Running scikit-learn's own mixture tests with it shows that gmmfast is a
drop-in replacement for them: ``python tests/sklearn_suite/run.py`` runs them with and without
the plugin and compares.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture._base import BaseMixture

import gmmfast


def _score_samples(self, X):
    return gmmfast.score_samples(self, X)


def _score(self, X, y=None):
    return float(np.mean(gmmfast.score_samples(self, X)))


def _predict(self, X):
    return gmmfast.predict(self, X)


def _predict_proba(self, X):
    return gmmfast.predict_proba(self, X)


def _sample(self, n_samples=1):
    return gmmfast.sample(self, n_samples, random_state=self.random_state)


ROUTED = {
    "score_samples": _score_samples,
    "score": _score,
    "predict": _predict,
    "predict_proba": _predict_proba,
    "sample": _sample,
}


def pytest_configure(config):
    for name, function in ROUTED.items():
        function.__doc__ = getattr(BaseMixture, name).__doc__
        setattr(BaseMixture, name, function)


def pytest_report_header(config):
    return f"gmmfast {gmmfast.__version__} routed into BaseMixture: {', '.join(ROUTED)}"
