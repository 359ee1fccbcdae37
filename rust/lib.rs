//! Python bindings of gmmfast: the only file that knows about PyO3.
//!
//! A mixture enters as a [`Components`] object (its canonical form, validated once), the
//! conditional regressions as [`Regressions`]. Every function converts NumPy arrays into the
//! kernels' plain slices, checks the shapes once more (the Python wrappers validate first, with
//! friendlier messages), releases the GIL around the kernel and turns a [`KernelError`] into a
//! Python exception. Outputs are allocated
//! by the caller in Python, so a grid too large for memory raises `MemoryError` there instead of
//! aborting here. A panic is caught at this boundary and reported as `RuntimeError`.
//!
//! Arrays must be C-contiguous (a Fortran-ordered array would be read in the wrong order) and
//! outputs writeable and not shared with another argument: anything else is a `ValueError`
//! (wrong dtypes and dimensions are `TypeError`s from the conversion). While a kernel runs the
//! calling thread looks for Ctrl-C every few milliseconds; the kernel then stops between
//! blocks and the call raises the `KeyboardInterrupt`.

pub mod conditional;
pub mod cull;
pub mod density;
pub mod error;
pub mod evaluate;
pub mod fastmath;
pub mod grid;
pub mod interrupt;
pub mod mixture;
pub mod pool;
pub mod sample;
pub mod specialise;

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::{Dimension, Ix2, Ix3};
use numpy::{
    BorrowError, Element, PyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray,
    PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArrayDyn, PyReadwriteArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::conditional::Regression;
use crate::cull::Culling;
use crate::error::KernelError;
use crate::evaluate::Store;
use crate::grid::{Axes, Cells, Window};
use crate::interrupt::Stop;
use crate::mixture::Planar;
use crate::sample::{CovarianceType, Gaussians, Splat};

impl From<KernelError> for PyErr {
    fn from(err: KernelError) -> PyErr {
        match err {
            KernelError::Shape(msg) | KernelError::Value(msg) => PyValueError::new_err(msg),
            KernelError::Runtime(msg) => PyRuntimeError::new_err(msg),
            KernelError::Interrupted => PyKeyboardInterrupt::new_err(()),
        }
    }
}

/// Runs a kernel without the GIL, inside the worker pool, turning panics into `RuntimeError`.
///
/// Meanwhile the calling thread runs Python's signal handlers every
/// [`pool::POLL_INTERVAL`]; when one raises (Ctrl-C: `KeyboardInterrupt`), the kernel is asked
/// to stop and that exception is the call's result, even if the kernel finished anyway (the
/// handler has consumed the signal: dropping its exception would lose the Ctrl-C).
fn run<R, F>(py: Python<'_>, kernel: F) -> PyResult<R>
where
    R: Send,
    F: FnOnce(&Stop) -> Result<R, KernelError> + Send,
{
    let stop = Stop::new();
    let mut signal: Option<PyErr> = None;
    let outcome = py.detach(|| {
        let poll = || {
            if signal.is_none() {
                if let Err(err) = Python::attach(|py| py.check_signals()) {
                    signal = Some(err);
                    stop.request();
                }
            }
        };
        catch_unwind(AssertUnwindSafe(|| {
            pool::install_polling(|| kernel(&stop), poll)
        }))
    });
    if let Some(err) = signal {
        return Err(err);
    }
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

fn not_c_contiguous(what: &str) -> PyErr {
    PyValueError::new_err(format!("{what} must be a C-contiguous array"))
}

/// The values of an input array in memory order, which must be row-major: rust-numpy's
/// `as_slice` also accepts a Fortran-ordered array, whose values would be read transposed.
fn contiguous<'a, T: Element, D: Dimension>(
    what: &str,
    array: &'a PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    if array.len() > 0 && !array.is_c_contiguous() {
        return Err(not_c_contiguous(what));
    }
    array.as_slice().map_err(|_| not_c_contiguous(what))
}

/// Borrows an output array for writing: `ValueError` if it is read-only or shares memory with
/// another argument of the call (rust-numpy's own conversion panics on both).
fn writeable<'py, T: Element, D: Dimension>(
    what: &str,
    array: &Bound<'py, PyArray<T, D>>,
) -> PyResult<PyReadwriteArray<'py, T, D>> {
    array.try_readwrite().map_err(|err| match err {
        BorrowError::NotWriteable => {
            PyValueError::new_err(format!("{what} must be a writeable array"))
        }
        _ => PyValueError::new_err(format!(
            "{what} must not share memory with another argument"
        )),
    })
}

/// The values of a borrowed output array in memory order, which must be row-major.
fn contiguous_mut<'a, T: Element, D: Dimension>(
    what: &str,
    array: &'a mut PyReadwriteArray<'_, T, D>,
) -> PyResult<&'a mut [T]> {
    if array.len() > 0 && !array.is_c_contiguous() {
        return Err(not_c_contiguous(what));
    }
    array.as_slice_mut().map_err(|_| not_c_contiguous(what))
}

/// A mixture in canonical form (see `mixture.rs`): built once from c (K,), μ (K, d) and
/// U (K, d, d), validated, and handed to every kernel call.
#[pyclass(frozen, module = "gmmfast._core", name = "Components")]
struct Components {
    mixture: mixture::Components,
    /// The same as a structure of arrays, for mixtures over two features (pixel grids).
    planar: Option<Planar>,
}

#[pymethods]
impl Components {
    #[new]
    fn new(
        log_const: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray2<'_, f64>,
        prec_chol: PyReadonlyArray3<'_, f64>,
    ) -> PyResult<Self> {
        let (k, d) = (means.shape()[0], means.shape()[1]);
        let u = prec_chol.shape();
        if u != [k, d, d] {
            return Err(PyValueError::new_err(format!(
                "prec_chol must have shape ({k}, {d}, {d}) to match means, got {u:?}"
            )));
        }
        let mixture = mixture::Components::new(
            k,
            d,
            contiguous("log_const", &log_const)?.to_vec(),
            contiguous("means", &means)?.to_vec(),
            contiguous("prec_chol", &prec_chol)?.to_vec(),
        )?;
        let planar = mixture.planar().ok();
        Ok(Self { mixture, planar })
    }

    #[getter]
    fn n_components(&self) -> usize {
        self.mixture.n_components()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.mixture.n_features()
    }
}

impl Components {
    /// The planar form, for the grid kernels; `ValueError` unless there are two features.
    fn planar(&self) -> PyResult<&Planar> {
        match &self.planar {
            Some(planar) => Ok(planar),
            None => Err(self.mixture.planar().err().map_or_else(
                || PyValueError::new_err("a pixel grid needs a mixture over 2 features"),
                PyErr::from,
            )),
        }
    }

    /// Checks that X is (n, d) for this mixture's d features and returns it as a slice.
    fn points<'a>(&self, x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<&'a [f64]> {
        let d = x.shape()[1];
        if d != self.mixture.n_features() {
            return Err(PyValueError::new_err(format!(
                "X has {d} features, but the mixture has {}",
                self.mixture.n_features()
            )));
        }
        contiguous("X", x)
    }
}

/// The regressions of the remaining features on the given ones (see `conditional.rs`):
/// μ_r (K, m), G (K, m, g), diag C (K, m); the given features' means are those of
/// `components`, the marginal mixture over the given features.
#[pyclass(frozen, module = "gmmfast._core", name = "Regressions")]
struct Regressions {
    regression: Regression,
}

#[pymethods]
impl Regressions {
    #[new]
    fn new(
        components: &Components,
        means_rest: PyReadonlyArray2<'_, f64>,
        gain: PyReadonlyArray3<'_, f64>,
        cond_var: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Self> {
        let marginal = &components.mixture;
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
        let regression = Regression::new(
            k,
            g,
            m,
            marginal.means().to_vec(),
            contiguous("means_rest", &means_rest)?.to_vec(),
            contiguous("gain", &gain)?.to_vec(),
            contiguous("cond_var", &cond_var)?.to_vec(),
        )?;
        Ok(Self { regression })
    }
}

/// log p(x) for every row of x into out (n,).
#[pyfunction]
fn score_samples(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray1<f64>>,
) -> PyResult<()> {
    let x = components.points(&x)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        density::score_points(&components.mixture, x, out, stop)
    })
}

/// Responsibilities for every row of x into out (n, K).
#[pyfunction]
fn predict_proba(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray2<f64>>,
) -> PyResult<()> {
    let x = components.points(&x)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        density::predict_proba_points(&components.mixture, x, out, stop)
    })
}

/// Most responsible component for every row of x into out (n,).
#[pyfunction]
fn predict(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray1<i64>>,
) -> PyResult<()> {
    let x = components.points(&x)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        density::predict_points(&components.mixture, x, out, stop)
    })
}

/// The pixel centres of a whole grid and the window of it that an output of `shape` (its first
/// two dimensions: height, width) starting at grid pixel `origin` = (row, column) covers.
fn grid_window<'a>(
    xs: &'a PyReadonlyArray1<'_, f64>,
    ys: &'a PyReadonlyArray1<'_, f64>,
    origin: (usize, usize),
    shape: &[usize],
) -> PyResult<(Axes<'a>, Window)> {
    let axes = Axes::new(contiguous("xs", xs)?, contiguous("ys", ys)?)?;
    let window = Window {
        rows: origin.0..origin.0.saturating_add(shape[0]),
        cols: origin.1..origin.1.saturating_add(shape[1]),
    };
    window.check(&axes)?;
    Ok((axes, window))
}

/// rtol must be in [0, 1).
fn check_rtol(rtol: f64) -> PyResult<f64> {
    if (0.0..1.0).contains(&rtol) {
        Ok(rtol)
    } else {
        Err(PyValueError::new_err(format!(
            "rtol must be in [0, 1), got {rtol}"
        )))
    }
}

/// A grid kernel that writes float images of either precision.
trait FloatKernel: Sync {
    fn call<T: Store>(
        &self,
        out: &mut [T],
        extra: &mut [T],
        stop: &Stop,
    ) -> Result<(), KernelError>;
}

/// Runs `kernel` on caller-allocated outputs `out` and, optionally, `extra` of the same shape:
/// both float64 or both float32 arrays of `D` dimensions.
fn run_float<D: Dimension>(
    py: Python<'_>,
    out: &Bound<'_, PyAny>,
    extra: Option<&Bound<'_, PyAny>>,
    kernel: &impl FloatKernel,
) -> PyResult<()> {
    fn go<T: Store + numpy::Element, D: Dimension>(
        py: Python<'_>,
        out: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyAny>>,
        kernel: &impl FloatKernel,
    ) -> PyResult<()> {
        let out = out.cast::<PyArray<T, D>>()?;
        let extra = extra
            .map(|e| e.cast::<PyArray<T, D>>())
            .transpose()
            .map_err(|_| PyTypeError::new_err("the two outputs must have the same dtype"))?;
        let mut out = writeable("out", out)?;
        let mut extra = extra
            .map(|e| writeable("the second output", e))
            .transpose()?;
        let extra: &mut [T] = match extra.as_mut() {
            Some(array) => contiguous_mut("the second output", array)?,
            None => &mut [],
        };
        let out = contiguous_mut("out", &mut out)?;
        run(py, |stop| kernel.call(out, extra, stop))
    }
    if out.cast::<PyArray<f64, D>>().is_ok() {
        go::<f64, D>(py, out, extra, kernel)
    } else if out.cast::<PyArray<f32, D>>().is_ok() {
        go::<f32, D>(py, out, extra, kernel)
    } else {
        Err(PyTypeError::new_err(format!(
            "out must be a writeable float64 or float32 array of {} dimensions",
            D::NDIM.unwrap_or(0)
        )))
    }
}

/// Log-density of a 2-feature mixture at the pixel centres (xs, ys) of the window starting at
/// `origin` into out (window height, width), float64 or float32.
#[pyfunction]
#[pyo3(signature = (components, xs, ys, out, rtol=0.0, origin=(0, 0)))]
fn log_density_grid(
    py: Python<'_>,
    components: &Components,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    out: &Bound<'_, PyAny>,
    rtol: f64,
    origin: (usize, usize),
) -> PyResult<()> {
    struct Kernel<'a> {
        planar: &'a Planar,
        axes: Axes<'a>,
        window: Window,
        rtol: f64,
    }
    impl FloatKernel for Kernel<'_> {
        fn call<T: Store>(
            &self,
            out: &mut [T],
            _: &mut [T],
            stop: &Stop,
        ) -> Result<(), KernelError> {
            density::log_density_grid(self.planar, &self.axes, &self.window, self.rtol, out, stop)
        }
    }
    let shape = out.getattr("shape")?.extract::<Vec<usize>>()?;
    let (axes, window) = grid_window(&xs, &ys, origin, &shape)?;
    let kernel = Kernel {
        planar: components.planar()?,
        axes,
        window,
        rtol: check_rtol(rtol)?,
    };
    run_float::<Ix2>(py, out, None, &kernel)
}

/// Most responsible component of a 2-feature mixture at the pixel centres of the window
/// starting at `origin` into out (window height, width).
#[pyfunction]
#[pyo3(signature = (components, xs, ys, out, rtol=0.0, origin=(0, 0)))]
fn label_grid(
    py: Python<'_>,
    components: &Components,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    out: &Bound<'_, PyArray2<i64>>,
    rtol: f64,
    origin: (usize, usize),
) -> PyResult<()> {
    let planar = components.planar()?;
    let (axes, window) = grid_window(&xs, &ys, origin, out.shape())?;
    let rtol = check_rtol(rtol)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        density::label_grid(planar, &axes, &window, rtol, out, stop)
    })
}

/// E[rest | given = x] for every row of x (n, g) into mean (n, m), and the conditional
/// standard deviations into std when it is given. `components` is the marginal mixture over
/// the given features.
#[pyfunction]
#[pyo3(signature = (components, regressions, x, mean, std=None, rtol=0.0))]
fn conditional_mean(
    py: Python<'_>,
    components: &Components,
    regressions: &Regressions,
    x: PyReadonlyArray2<'_, f64>,
    mean: &Bound<'_, PyArray2<f64>>,
    std: Option<&Bound<'_, PyArray2<f64>>>,
    rtol: f64,
) -> PyResult<()> {
    let x = components.points(&x)?;
    let rtol = check_rtol(rtol)?;
    let mut mean = writeable("mean", mean)?;
    let mut std = std.map(|s| writeable("std", s)).transpose()?;
    let mean = contiguous_mut("mean", &mut mean)?;
    let std: &mut [f64] = match std.as_mut() {
        Some(array) => contiguous_mut("std", array)?,
        None => &mut [],
    };
    let (marginal, reg) = (&components.mixture, &regressions.regression);
    run(py, |stop| {
        conditional::conditional_mean_points(marginal, reg, x, rtol, mean, std, stop)
    })
}

/// The same at every pixel centre of the window starting at `origin` of the grid (xs, ys):
/// mean and std are (window height, width, m), both float64 or both float32.
#[pyfunction]
#[pyo3(signature = (components, regressions, xs, ys, mean, std=None, rtol=0.0, origin=(0, 0)))]
#[allow(clippy::too_many_arguments)]
fn conditional_mean_grid(
    py: Python<'_>,
    components: &Components,
    regressions: &Regressions,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    mean: &Bound<'_, PyAny>,
    std: Option<&Bound<'_, PyAny>>,
    rtol: f64,
    origin: (usize, usize),
) -> PyResult<()> {
    struct Kernel<'a> {
        planar: &'a Planar,
        regression: &'a Regression,
        axes: Axes<'a>,
        window: Window,
        rtol: f64,
    }
    impl FloatKernel for Kernel<'_> {
        fn call<T: Store>(
            &self,
            mean: &mut [T],
            std: &mut [T],
            stop: &Stop,
        ) -> Result<(), KernelError> {
            conditional::conditional_mean_grid(
                self.planar,
                self.regression,
                &self.axes,
                &self.window,
                self.rtol,
                mean,
                std,
                stop,
            )
        }
    }
    let shape = mean.getattr("shape")?.extract::<Vec<usize>>()?;
    let (axes, window) = grid_window(&xs, &ys, origin, &shape)?;
    let kernel = Kernel {
        planar: components.planar()?,
        regression: &regressions.regression,
        axes,
        window,
        rtol: check_rtol(rtol)?,
    };
    run_float::<Ix3>(py, mean, std, &kernel)
}

/// How many components the grid kernel of `kind` ("density" or "conditional") evaluates at
/// each pixel of the window starting at `origin`, into out (window height, width).
#[pyfunction]
#[pyo3(signature = (components, xs, ys, out, rtol=0.0, kind="density", origin=(0, 0)))]
#[allow(clippy::too_many_arguments)]
fn candidate_counts(
    py: Python<'_>,
    components: &Components,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    out: &Bound<'_, PyArray2<i64>>,
    rtol: f64,
    kind: &str,
    origin: (usize, usize),
) -> PyResult<()> {
    let planar = components.planar()?;
    let (axes, window) = grid_window(&xs, &ys, origin, out.shape())?;
    let rtol = check_rtol(rtol)?;
    let culling = match kind {
        "density" => Culling {
            threshold: density::NEGLIGIBLE,
            rtol,
        },
        "conditional" => conditional::grid_culling(planar.len(), rtol),
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'density' or 'conditional', got {other:?}"
            )))
        }
    };
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        density::candidate_counts(planar, &axes, &window, &culling, out, stop)
    })
}

/// Draws the number of samples of each component (multinomial of `weights`) into out (K,).
#[pyfunction]
fn sample_counts(
    py: Python<'_>,
    weights: PyReadonlyArray1<'_, f64>,
    n_samples: u64,
    seed: u64,
    out: &Bound<'_, PyArray1<u64>>,
) -> PyResult<()> {
    let weights = contiguous("weights", &weights)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |_| sample::sample_counts(weights, n_samples, seed, out))
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
    x: &Bound<'_, PyArray2<f64>>,
    labels: &Bound<'_, PyArray1<i64>>,
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
    let (mut x, mut labels) = (writeable("x", x)?, writeable("labels", labels)?);
    let (x, labels) = (
        contiguous_mut("x", &mut x)?,
        contiguous_mut("labels", &mut labels)?,
    );
    run(py, |stop| {
        sample::sample(&gaussians, counts, seed, x, labels, stop)
    })
}

/// Draws the samples of `counts` as `sample` does and bins features `dims` into image
/// (height, width); with `colours` (height, width, len(color_dims)), the mean of the
/// `color_dims` features per pixel. `x_cells` and `y_cells` are (start, scale) of the columns
/// and rows (see `grid::Cells`).
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
    image: &Bound<'_, PyArray2<i64>>,
    colours: Option<&Bound<'_, PyArray3<f64>>>,
) -> PyResult<()> {
    let gaussians = gaussians(&means, &factors, covariance_type)?;
    let counts = contiguous("counts", &counts)?;
    let (height, width) = (image.shape()[0], image.shape()[1]);
    let mut image = writeable("image", image)?;
    let mut colours = colours.map(|c| writeable("colours", c)).transpose()?;
    let expected = [height, width, color_dims.len()];
    let colours: &mut [f64] = match colours.as_mut() {
        None if color_dims.is_empty() => &mut [],
        Some(out) if out.shape() == expected => contiguous_mut("colours", out)?,
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
    let image = contiguous_mut("image", &mut image)?;
    run(py, |stop| {
        sample::sample_image(&gaussians, counts, seed, &splat, image, colours, stop)
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
    m.add_class::<Components>()?;
    m.add_class::<Regressions>()?;
    m.add_function(wrap_pyfunction!(score_samples, m)?)?;
    m.add_function(wrap_pyfunction!(predict_proba, m)?)?;
    m.add_function(wrap_pyfunction!(predict, m)?)?;
    m.add_function(wrap_pyfunction!(log_density_grid, m)?)?;
    m.add_function(wrap_pyfunction!(label_grid, m)?)?;
    m.add_function(wrap_pyfunction!(conditional_mean, m)?)?;
    m.add_function(wrap_pyfunction!(conditional_mean_grid, m)?)?;
    m.add_function(wrap_pyfunction!(candidate_counts, m)?)?;
    m.add_function(wrap_pyfunction!(sample_counts, m)?)?;
    m.add_function(wrap_pyfunction!(sample_points, m)?)?;
    m.add_function(wrap_pyfunction!(sample_image, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    Ok(())
}
