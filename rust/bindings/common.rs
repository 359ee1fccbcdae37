//! What every binding shares: running a kernel without the GIL (with Ctrl-C and panics
//! handled), mapping [`KernelError`] to Python exceptions, the layout checks on arrays, the
//! [`Components`] pyclass, and the helpers of the grid kernels.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::Dimension;
use numpy::{
    BorrowError, Element, PyArray, PyArrayMethods, PyReadonlyArray, PyReadonlyArray1,
    PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::KernelError;
use crate::evaluate::Store;
use crate::grid::{Axes, Window};
use crate::interrupt::Stop;
use crate::mixture::{self, Planar};
use crate::pool;

impl From<KernelError> for PyErr {
    fn from(err: KernelError) -> PyErr {
        match err {
            KernelError::Shape(msg) | KernelError::Value(msg) => PyValueError::new_err(msg),
            KernelError::Runtime(msg) => PyRuntimeError::new_err(msg),
            KernelError::Interrupted => PyKeyboardInterrupt::new_err(()),
        }
    }
}

/// Runs a kernel without the GIL, inside the worker pool, turning panics into `RuntimeError`:
/// every binding calls its kernel through this function.
///
/// Meanwhile the calling thread runs Python's signal handlers every
/// [`pool::POLL_INTERVAL`]; when one raises (Ctrl-C: `KeyboardInterrupt`), the kernel is asked
/// to stop and that exception is the call's result, even if the kernel finished anyway (the
/// handler has consumed the signal: dropping its exception would lose the Ctrl-C).
pub(crate) fn run<R, F>(py: Python<'_>, kernel: F) -> PyResult<R>
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

pub(crate) fn not_c_contiguous(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "{what} must be a C-contiguous, aligned array (np.require(a, requirements='CA'))"
    ))
}

/// The values of an input array in memory order, which must be row-major: rust-numpy's
/// `as_slice` also accepts a Fortran-ordered array, whose values would be read transposed.
pub(crate) fn contiguous<'a, T: Element, D: Dimension>(
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
pub(crate) fn writeable<'py, T: Element, D: Dimension>(
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
pub(crate) fn contiguous_mut<'a, T: Element, D: Dimension>(
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
pub(crate) struct Components {
    pub(crate) mixture: mixture::Components,
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
    pub(crate) fn planar(&self) -> PyResult<&Planar> {
        match &self.planar {
            Some(planar) => Ok(planar),
            None => Err(self.mixture.planar().err().map_or_else(
                || PyValueError::new_err("a pixel grid needs a mixture over 2 features"),
                PyErr::from,
            )),
        }
    }

    /// Checks that X is (n, d) for this mixture's d features and returns it as a slice.
    pub(crate) fn points<'a>(&self, x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<&'a [f64]> {
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

/// Runs a kernel over the rows of X: checks X against the mixture and `rtol`, borrows `out`
/// (C-contiguous, writeable) and calls `kernel(mixture, x, rtol, out, stop)` through [`run`].
/// Every point binding goes through here.
pub(crate) fn run_points<T, D, F>(
    py: Python<'_>,
    components: &Components,
    x: &PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray<T, D>>,
    rtol: f64,
    kernel: F,
) -> PyResult<()>
where
    T: Element + Send,
    D: Dimension,
    F: FnOnce(&mixture::Components, &[f64], f64, &mut [T], &Stop) -> Result<(), KernelError> + Send,
{
    let x = components.points(x)?;
    let rtol = check_rtol(rtol)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| kernel(&components.mixture, x, rtol, out, stop))
}

/// The pixel centres of a whole grid and the window of it that an output of `shape` (its first
/// two dimensions: height, width) starting at grid pixel `origin` = (row, column) covers.
pub(crate) fn grid_window<'a>(
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
pub(crate) fn check_rtol(rtol: f64) -> PyResult<f64> {
    if (0.0..1.0).contains(&rtol) {
        Ok(rtol)
    } else {
        Err(PyValueError::new_err(format!(
            "rtol must be in [0, 1), got {rtol}"
        )))
    }
}

/// A grid kernel that writes float images of either precision.
pub(crate) trait FloatKernel: Sync {
    fn call<T: Store>(
        &self,
        out: &mut [T],
        extra: &mut [T],
        stop: &Stop,
    ) -> Result<(), KernelError>;
}

/// Runs `kernel` on caller-allocated outputs `out` and, optionally, `extra` of the same shape:
/// both float64 or both float32 arrays of `D` dimensions.
pub(crate) fn run_float<D: Dimension>(
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

/// Number of worker threads the kernels use (set with RAYON_NUM_THREADS before first use).
#[pyfunction]
pub(crate) fn num_threads() -> PyResult<usize> {
    Ok(pool::num_threads()?)
}
