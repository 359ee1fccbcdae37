//! Bindings of the density kernels (`density.rs`): log-densities, responsibilities and labels
//! at points and on pixel grids, and the culling diagnostic `candidate_counts`.

use numpy::ndarray::Ix2;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::common::{
    check_rtol, contiguous_mut, grid_window, run, run_float, run_points, writeable, Components,
    FloatKernel,
};
use crate::conditional;
use crate::density;
use crate::error::KernelError;
use crate::evaluate::Store;
use crate::grid::{Axes, Window};
use crate::interrupt::Stop;
use crate::mixture::Planar;

/// log p(x) for every row of x into out (n,); (1 − rtol)·p ≤ p̂ ≤ p.
#[pyfunction]
#[pyo3(signature = (components, x, out, rtol=0.0))]
pub(crate) fn score_samples(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray1<f64>>,
    rtol: f64,
) -> PyResult<()> {
    run_points(py, components, &x, out, rtol, density::score_points)
}

/// Responsibilities for every row of x into out (n, K).
#[pyfunction]
#[pyo3(signature = (components, x, out, rtol=0.0))]
pub(crate) fn predict_proba(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray2<f64>>,
    rtol: f64,
) -> PyResult<()> {
    run_points(py, components, &x, out, rtol, density::predict_proba_points)
}

/// Most responsible component for every row of x into out (n,); exact for any rtol < 1
/// (checked, not needed).
#[pyfunction]
#[pyo3(signature = (components, x, out, rtol=0.0))]
pub(crate) fn predict(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray1<i64>>,
    rtol: f64,
) -> PyResult<()> {
    // rtol is checked, not needed: labels are exact for any rtol.
    run_points(py, components, &x, out, rtol, |mixture, x, _, out, stop| {
        density::predict_points(mixture, x, out, stop)
    })
}

/// Log-density of a 2-feature mixture at the pixel centres (xs, ys) of the window starting at
/// `origin` into out (window height, width), float64 or float32.
#[pyfunction]
#[pyo3(signature = (components, xs, ys, out, rtol=0.0, origin=(0, 0)))]
pub(crate) fn log_density_grid(
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
pub(crate) fn label_grid(
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

/// How many components the grid kernel of `kind` ("density" or "conditional") evaluates at
/// each pixel of the window starting at `origin`, into out (window height, width).
#[pyfunction]
#[pyo3(signature = (components, xs, ys, out, rtol=0.0, kind="density", origin=(0, 0)))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn candidate_counts(
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
        "density" => density::density_culling(rtol),
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

/// How many components the point kernel of `kind` ("density", "label" or "conditional")
/// evaluates at each row of x, into out (n,).
#[pyfunction]
#[pyo3(signature = (components, x, out, rtol=0.0, kind="density"))]
pub(crate) fn point_candidate_counts(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray1<i64>>,
    rtol: f64,
    kind: &str,
) -> PyResult<()> {
    let x = components.points(&x)?;
    let rtol = check_rtol(rtol)?;
    let culling = match kind {
        "density" => density::density_culling(rtol),
        "label" => density::LABEL_CULLING,
        "conditional" => conditional::grid_culling(components.mixture.n_components(), rtol),
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'density', 'label' or 'conditional', got {other:?}"
            )))
        }
    };
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        density::point_candidate_counts(&components.mixture, x, &culling, out, stop)
    })
}
