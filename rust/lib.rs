//! Python bindings of gmmfast: the only file that knows about PyO3.
//!
//! Every function here converts NumPy arrays into the kernels' plain slices, checks the shapes
//! once more (the Python wrappers validate first, with friendlier messages), releases the GIL
//! around the kernel and turns a [`KernelError`] into a Python exception. Outputs are allocated
//! by the caller in Python, so a grid too large for memory raises `MemoryError` there instead of
//! aborting here. A panic is caught at this boundary and reported as `RuntimeError`.

pub mod density;
pub mod error;
pub mod grid;
pub mod mixture;
pub mod pool;
pub mod sample;

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{
    PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArrayDyn, PyReadwriteArray1,
    PyReadwriteArray2, PyReadwriteArray3, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::KernelError;
use crate::grid::Axes;
use crate::mixture::Mixture;
use crate::sample::{Cells, CovarianceType, Gaussians, Splat};

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

/// Draws the number of samples of each component (multinomial of `weights`) into out (K,).
#[pyfunction]
fn sample_counts(
    py: Python<'_>,
    weights: PyReadonlyArray1<'_, f64>,
    n_samples: u64,
    seed: u64,
    mut out: PyReadwriteArray1<'_, u64>,
) -> PyResult<()> {
    let weights = contiguous("weights", &weights)?;
    let out = out.as_slice_mut()?;
    run(py, || sample::sample_counts(weights, n_samples, seed, out))
}

/// The components of a mixture as samplers: μ (K, d) and the covariance factors in the layout
/// of `covariance_type` (see `sample::CovarianceType`).
fn gaussians<'a>(
    means: &'a PyReadonlyArray2<'_, f64>,
    factors: &'a PyReadonlyArrayDyn<'_, f64>,
    covariance_type: &str,
) -> PyResult<Gaussians<'a>> {
    let (k, d) = (means.shape()[0], means.shape()[1]);
    let kind = CovarianceType::parse(covariance_type)?;
    let expected = kind.factor_shape(k, d);
    if factors.shape() != expected.as_slice() {
        return Err(PyValueError::new_err(format!(
            "factors for covariance_type={covariance_type:?} must have shape {expected:?} to \
             match means, got {:?}",
            factors.shape()
        )));
    }
    Ok(Gaussians::new(
        k,
        d,
        contiguous("means", means)?,
        kind,
        contiguous("factors", factors)?,
    )?)
}

/// Draws the samples of `counts` (K,) into x (n, d) and labels (n,), grouped by component.
#[pyfunction]
#[pyo3(name = "sample")]
#[allow(clippy::too_many_arguments)]
fn sample_points(
    py: Python<'_>,
    means: PyReadonlyArray2<'_, f64>,
    factors: PyReadonlyArrayDyn<'_, f64>,
    covariance_type: &str,
    counts: PyReadonlyArray1<'_, u64>,
    seed: u64,
    mut x: PyReadwriteArray2<'_, f64>,
    mut labels: PyReadwriteArray1<'_, i64>,
) -> PyResult<()> {
    let gaussians = gaussians(&means, &factors, covariance_type)?;
    let counts = contiguous("counts", &counts)?;
    if x.shape()[1] != gaussians.n_features() {
        return Err(PyValueError::new_err(format!(
            "x has {} features, but the mixture has {}",
            x.shape()[1],
            gaussians.n_features()
        )));
    }
    let (x, labels) = (x.as_slice_mut()?, labels.as_slice_mut()?);
    run(py, || sample::sample(&gaussians, counts, seed, x, labels))
}

/// Draws the samples of `counts` as `sample` does and bins features `dims` into image
/// (height, width); with `colours` (height, width, len(color_dims)), the mean of the
/// `color_dims` features per pixel. `x_cells` and `y_cells` are (start, scale) of the columns
/// and rows (see `sample::Cells`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn sample_image(
    py: Python<'_>,
    means: PyReadonlyArray2<'_, f64>,
    factors: PyReadonlyArrayDyn<'_, f64>,
    covariance_type: &str,
    counts: PyReadonlyArray1<'_, u64>,
    seed: u64,
    dims: (usize, usize),
    color_dims: Vec<usize>,
    x_cells: (f64, f64),
    y_cells: (f64, f64),
    mut image: PyReadwriteArray2<'_, i64>,
    colours: Option<PyReadwriteArray3<'_, f64>>,
) -> PyResult<()> {
    let gaussians = gaussians(&means, &factors, covariance_type)?;
    let counts = contiguous("counts", &counts)?;
    let (height, width) = (image.shape()[0], image.shape()[1]);
    let mut colours = colours;
    let expected = [height, width, color_dims.len()];
    let colours: &mut [f64] = match colours.as_mut() {
        None if color_dims.is_empty() => &mut [],
        Some(out) if out.shape() == expected => out.as_slice_mut()?,
        other => {
            return Err(PyValueError::new_err(format!(
                "colours must have shape {expected:?} for {} color_dims, got {:?}",
                color_dims.len(),
                other.map(|out| out.shape().to_vec())
            )))
        }
    };
    let splat = Splat {
        dims: [dims.0, dims.1],
        color_dims: &color_dims,
        columns: Cells::new(x_cells.0, x_cells.1, width)?,
        rows: Cells::new(y_cells.0, y_cells.1, height)?,
    };
    let image = image.as_slice_mut()?;
    run(py, || {
        sample::sample_image(&gaussians, counts, seed, &splat, image, colours)
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
    m.add_function(wrap_pyfunction!(sample_counts, m)?)?;
    m.add_function(wrap_pyfunction!(sample_points, m)?)?;
    m.add_function(wrap_pyfunction!(sample_image, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    Ok(())
}
