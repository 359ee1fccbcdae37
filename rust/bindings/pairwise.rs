//! Bindings of the pairwise Gaussian integrals (`pairwise.rs`), behind `gmmfast.metrics`'
//! closed forms.

use numpy::{
    PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::common::{contiguous, contiguous_mut, run, writeable};
use crate::pairwise::{self, Factored, Kind};

/// Per component i of p: out[i] = log Σ_j exp(log_weights_q[j] + log ∫ N_i N_j) for
/// kind="overlap", log Σ_j exp(log_weights_q[j] − KL(N_i ‖ N_j)) for kind="kl". Means (K, d),
/// covariances (K, d, d) symmetric positive definite.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn pairwise_logsumexp(
    py: Python<'_>,
    means_p: PyReadonlyArray2<'_, f64>,
    covariances_p: PyReadonlyArray3<'_, f64>,
    means_q: PyReadonlyArray2<'_, f64>,
    covariances_q: PyReadonlyArray3<'_, f64>,
    log_weights_q: PyReadonlyArray1<'_, f64>,
    kind: &str,
    out: &Bound<'_, PyArray1<f64>>,
) -> PyResult<()> {
    let kind = match kind {
        "overlap" => Kind::Overlap,
        "kl" => Kind::Kl,
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'overlap' or 'kl', got {other:?}"
            )))
        }
    };
    let d = means_p.shape()[1];
    for (what, means, covs) in [
        ("p", &means_p, &covariances_p),
        ("q", &means_q, &covariances_q),
    ] {
        let (k, dm) = (means.shape()[0], means.shape()[1]);
        if dm != d || covs.shape() != [k, d, d] {
            return Err(PyValueError::new_err(format!(
                "{what}: means must have shape (K, {d}) and covariances (K, {d}, {d}), got {:?} \
                 and {:?}",
                means.shape(),
                covs.shape()
            )));
        }
    }
    let p = Factored::new(
        "p",
        d,
        contiguous("means_p", &means_p)?,
        contiguous("covariances_p", &covariances_p)?,
    )?;
    let q = Factored::new(
        "q",
        d,
        contiguous("means_q", &means_q)?,
        contiguous("covariances_q", &covariances_q)?,
    )?;
    let log_weights_q = contiguous("log_weights_q", &log_weights_q)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        pairwise::pairwise_logsumexp(kind, &p, &q, log_weights_q, out, stop)
    })
}
