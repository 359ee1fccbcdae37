"""A pytest plugin that puts ``gmmfast.GaussianMixture`` in the place of scikit-learn's.

With it, ``sklearn.mixture.GaussianMixture`` is gmmfast's subclass (EM, scoring and sampling in
gmmfast), so scikit-learn's own tests, which import it from there, exercise gmmfast's fit:
``python tests/sklearn_suite/run.py`` runs them with and without the plugin and compares.
"""

from __future__ import annotations

import sklearn.mixture

import gmmfast

# Resolve gmmfast's class (a subclass of scikit-learn's) before the name is replaced.
GaussianMixture = gmmfast.GaussianMixture


def pytest_configure(config):
    sklearn.mixture.GaussianMixture = GaussianMixture


def pytest_report_header(config):
    return f"gmmfast {gmmfast.__version__}: sklearn.mixture.GaussianMixture is gmmfast's"
