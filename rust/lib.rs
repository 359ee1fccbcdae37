//! Python bindings of gmmfast: the only file that knows about PyO3.
//!
//! Every function here converts NumPy arrays into the kernels' plain slices, checks the shapes
//! once more (the Python wrappers validate first, with friendlier messages), releases the GIL
//! around the kernel and turns a [`KernelError`] into a Python exception. Outputs are allocated
//! by the caller in Python, so a grid too large for memory raises `MemoryError` there instead of
//! aborting here. A panic is caught at this boundary and reported as `RuntimeError`.

pub mod conditional;
pub mod density;
pub mod error;
pub mod evaluate;
pub mod grid;
pub mod mixture;
pub mod pool;

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{
    PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray1, PyReadwriteArray2,
    PyReadwriteArray3, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::conditional::Regression;
use crate::error::KernelError;
use crate::grid::Axes;
use crate::mixture::Mixture;

impl From<KernelError> for PyErr {
    fn from(err: KernelError) -> PyErr {
        match err {
            KernelError::Shape(msg) | KernelError::Value(msg) => PyValueError::new_err(msg),
            KernelError::Runtime(msg) => PyRuntimeError::new_err(msg),
        }
    }
}

/// Runs a kernel without the GIL, inside the worker pool, turning panics into `RuntimeError`.
fn run<R, F>(py: Python<'_>, kernel: F) -> PyResult<R>
where
    R: Send,
    F: FnOnce() -> Result<R, KernelError> + Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| pool::install(kernel))));
    match outcome {
        Ok(Ok(result)) => result.map_err(PyErr::from),
        Ok(Err(err)) => Err(err.into()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "gmmfast internal error (please report it): {what}"
            )))
        }
    }
}

fn contiguous<'a, T: numpy::Element>(
    what: &str,
    array: &'a numpy::PyReadonlyArray<'_, T, impl numpy::ndarray::Dimension>,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous array")))
}

/// Builds the canonical mixture from c (K,), μ (K, d) and U (K, d, d).
fn mixture(
    log_const: &PyReadonlyArray1<'_, f64>,
    means: &PyReadonlyArray2<'_, f64>,
    prec_chol: &PyReadonlyArray3<'_, f64>,
) -> PyResult<Mixture> {
    let (k, d) = (means.shape()[0], means.shape()[1]);
    let u = prec_chol.shape();
    if u != [k, d, d] {
        return Err(PyValueError::new_err(format!(
            "prec_chol must have shape ({k}, {d}, {d}) to match means, got {u:?}"
        )));
    }
    Ok(Mixture::new(
        k,
        d,
        contiguous("log_const", log_const)?.to_vec(),
        contiguous("means", means)?.to_vec(),
        contiguous("prec_chol", prec_chol)?.to_vec(),
    )?)
}

/// Checks that X is (n, d) for a mixture over d features and returns it as a slice.
fn points<'a>(mix: &Mixture, x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<&'a [f64]> {
    let d = x.shape()[1];
    if d != mix.n_features() {
        return Err(PyValueError::new_err(format!(
            "X has {d} features, but the mixture has {}",
            mix.n_features()
        )));
    }
    contiguous("X", x)
}

/// log p(x) for every row of x into out (n,).
#[pyfunction]
fn score_samples(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    x: PyReadonlyArray2<'_, f64>,
    mut out: PyReadwriteArray1<'_, f64>,
) -> PyResult<()> {
    let mix = mixture(&log_const, &means, &prec_chol)?;
    let x = points(&mix, &x)?;
    let out = out.as_slice_mut()?;
    run(py, || density::score_points(&mix, x, out))
}

/// Responsibilities for every row of x into out (n, K).
#[pyfunction]
fn predict_proba(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    x: PyReadonlyArray2<'_, f64>,
    mut out: PyReadwriteArray2<'_, f64>,
) -> PyResult<()> {
    let mix = mixture(&log_const, &means, &prec_chol)?;
    let x = points(&mix, &x)?;
    let out = out.as_slice_mut()?;
    run(py, || density::predict_proba_points(&mix, x, out))
}

/// Most responsible component for every row of x into out (n,).
#[pyfunction]
fn predict(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    x: PyReadonlyArray2<'_, f64>,
    mut out: PyReadwriteArray1<'_, i64>,
) -> PyResult<()> {
    let mix = mixture(&log_const, &means, &prec_chol)?;
    let x = points(&mix, &x)?;
    let out = out.as_slice_mut()?;
    run(py, || density::predict_points(&mix, x, out))
}

/// Log-density of a 2-feature mixture at the pixel centres (xs, ys) into out (height, width).
#[pyfunction]
fn log_density_grid(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    mut out: PyReadwriteArray2<'_, f64>,
) -> PyResult<()> {
    let planar = mixture(&log_const, &means, &prec_chol)?.planar()?;
    let axes = Axes::new(contiguous("xs", &xs)?, contiguous("ys", &ys)?)?;
    let out = out.as_slice_mut()?;
    run(py, || density::log_density_grid(&planar, &axes, out))
}

/// Most responsible component of a 2-feature mixture at the pixel centres into out.
#[pyfunction]
fn label_grid(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    mut out: PyReadwriteArray2<'_, i64>,
) -> PyResult<()> {
    let planar = mixture(&log_const, &means, &prec_chol)?.planar()?;
    let axes = Axes::new(contiguous("xs", &xs)?, contiguous("ys", &ys)?)?;
    let out = out.as_slice_mut()?;
    run(py, || density::label_grid(&planar, &axes, out))
}

/// Builds the regressions of the remaining features on the given ones: μ_r (K, m),
/// G (K, m, g), diag C (K, m); the given means are those of the marginal mixture.
fn regression(
    marginal: &Mixture,
    marginal_means: &PyReadonlyArray2<'_, f64>,
    means_rest: &PyReadonlyArray2<'_, f64>,
    gain: &PyReadonlyArray3<'_, f64>,
    cond_var: &PyReadonlyArray2<'_, f64>,
) -> PyResult<Regression> {
    let (k, g, m) = (
        marginal.n_components(),
        marginal.n_features(),
        means_rest.shape()[1],
    );
    for (what, shape, expected) in [
        ("means_rest", means_rest.shape(), vec![k, m]),
        ("gain", gain.shape(), vec![k, m, g]),
        ("cond_var", cond_var.shape(), vec![k, m]),
    ] {
        if shape != expected.as_slice() {
            return Err(PyValueError::new_err(format!(
                "{what} must have shape {expected:?}, got {shape:?}"
            )));
        }
    }
    Ok(Regression::new(
        k,
        g,
        m,
        contiguous("means", marginal_means)?.to_vec(),
        contiguous("means_rest", means_rest)?.to_vec(),
        contiguous("gain", gain)?.to_vec(),
        contiguous("cond_var", cond_var)?.to_vec(),
    )?)
}

/// E[rest | given = x] for every row of x (n, g) into mean (n, m), and the conditional
/// standard deviations into std when it is given. The first three arrays are the canonical
/// form of the marginal over the given features.
#[pyfunction]
#[pyo3(signature = (log_const, means, prec_chol, means_rest, gain, cond_var, x, mean, std=None))]
#[allow(clippy::too_many_arguments)]
fn conditional_mean(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    means_rest: PyReadonlyArray2<'_, f64>,
    gain: PyReadonlyArray3<'_, f64>,
    cond_var: PyReadonlyArray2<'_, f64>,
    x: PyReadonlyArray2<'_, f64>,
    mut mean: PyReadwriteArray2<'_, f64>,
    std: Option<PyReadwriteArray2<'_, f64>>,
) -> PyResult<()> {
    let marginal = mixture(&log_const, &means, &prec_chol)?;
    let reg = regression(&marginal, &means, &means_rest, &gain, &cond_var)?;
    let x = points(&marginal, &x)?;
    let mean = mean.as_slice_mut()?;
    let mut std = std;
    let std: &mut [f64] = match std.as_mut() {
        Some(array) => array.as_slice_mut()?,
        None => &mut [],
    };
    run(py, || {
        conditional::conditional_mean_points(&marginal, &reg, x, mean, std)
    })
}

/// The same at every pixel centre (xs, ys) of a grid: mean and std are (height, width, m).
#[pyfunction]
#[pyo3(signature = (log_const, means, prec_chol, means_rest, gain, cond_var, xs, ys, mean, std=None))]
#[allow(clippy::too_many_arguments)]
fn conditional_mean_grid(
    py: Python<'_>,
    log_const: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    prec_chol: PyReadonlyArray3<'_, f64>,
    means_rest: PyReadonlyArray2<'_, f64>,
    gain: PyReadonlyArray3<'_, f64>,
    cond_var: PyReadonlyArray2<'_, f64>,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    mut mean: PyReadwriteArray3<'_, f64>,
    std: Option<PyReadwriteArray3<'_, f64>>,
) -> PyResult<()> {
    let marginal = mixture(&log_const, &means, &prec_chol)?;
    let reg = regression(&marginal, &means, &means_rest, &gain, &cond_var)?;
    let planar = marginal.planar()?;
    let axes = Axes::new(contiguous("xs", &xs)?, contiguous("ys", &ys)?)?;
    let mean = mean.as_slice_mut()?;
    let mut std = std;
    let std: &mut [f64] = match std.as_mut() {
        Some(array) => array.as_slice_mut()?,
        None => &mut [],
    };
    run(py, || {
        conditional::conditional_mean_grid(&planar, &reg, &axes, mean, std)
    })
}

/// Number of worker threads the kernels use (set with RAYON_NUM_THREADS before first use).
#[pyfunction]
fn num_threads() -> PyResult<usize> {
    Ok(pool::num_threads()?)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(score_samples, m)?)?;
    m.add_function(wrap_pyfunction!(predict_proba, m)?)?;
    m.add_function(wrap_pyfunction!(predict, m)?)?;
    m.add_function(wrap_pyfunction!(log_density_grid, m)?)?;
    m.add_function(wrap_pyfunction!(label_grid, m)?)?;
    m.add_function(wrap_pyfunction!(conditional_mean, m)?)?;
    m.add_function(wrap_pyfunction!(conditional_mean_grid, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    Ok(())
}
