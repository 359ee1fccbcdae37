//! Bindings of the score (`score.rs`) and of the reverse diffusion process (`diffusion.rs`).

use numpy::{PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::common::{
    check_rtol, contiguous, contiguous_mut, grid_window, run, run_points, writeable, Components,
};
use crate::diffusion::{self, Step};
use crate::score::{score_grid as grid_kernel, score_points};

/// ∇ₓ log p(x) for every row of x into out (n, d).
#[pyfunction]
#[pyo3(signature = (components, x, out, rtol=0.0))]
pub(crate) fn score(
    py: Python<'_>,
    components: &Components,
    x: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray2<f64>>,
    rtol: f64,
) -> PyResult<()> {
    run_points(py, components, &x, out, rtol, score_points)
}

/// The score of a 2-feature mixture at the pixel centres of the window starting at `origin`
/// into out (window height, width, 2).
#[pyfunction]
#[pyo3(signature = (components, xs, ys, out, rtol=0.0, origin=(0, 0)))]
pub(crate) fn score_grid(
    py: Python<'_>,
    components: &Components,
    xs: PyReadonlyArray1<'_, f64>,
    ys: PyReadonlyArray1<'_, f64>,
    out: &Bound<'_, PyArray3<f64>>,
    rtol: f64,
    origin: (usize, usize),
) -> PyResult<()> {
    let shape = out.shape().to_vec();
    if shape[2] != 2 {
        return Err(PyValueError::new_err(format!(
            "out must have shape (height, width, 2), got {shape:?}"
        )));
    }
    let (axes, window) = grid_window(&xs, &ys, origin, &shape)?;
    let planar = components.planar()?;
    let rtol = check_rtol(rtol)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    run(py, |stop| {
        grid_kernel(&components.mixture, planar, &axes, &window, rtol, out, stop)
    })
}

/// The reverse process: for each step i, x ← a[i]·x + b[i]·s_i(x) + sigma[i]·z with s_i the
/// score of steps[i]; x (n, d) is updated in place, path ((T + 1), n, d) or None receives the
/// points before the first step and after each.
#[pyfunction]
#[pyo3(signature = (steps, a, b, sigma, x, seed, path=None, rtol=0.0))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn reverse_process(
    py: Python<'_>,
    steps: Vec<Bound<'_, Components>>,
    a: PyReadonlyArray1<'_, f64>,
    b: PyReadonlyArray1<'_, f64>,
    sigma: PyReadonlyArray1<'_, f64>,
    x: &Bound<'_, PyArray2<f64>>,
    seed: u64,
    path: Option<&Bound<'_, PyArray3<f64>>>,
    rtol: f64,
) -> PyResult<()> {
    let rtol = check_rtol(rtol)?;
    let (a, b, sigma) = (
        contiguous("a", &a)?,
        contiguous("b", &b)?,
        contiguous("sigma", &sigma)?,
    );
    let n_steps = steps.len();
    if a.len() != n_steps || b.len() != n_steps || sigma.len() != n_steps {
        return Err(PyValueError::new_err(format!(
            "a, b and sigma must have one value per step ({n_steps}), got {}, {} and {}",
            a.len(),
            b.len(),
            sigma.len()
        )));
    }
    if a.iter().chain(b).chain(sigma).any(|v| !v.is_finite()) || sigma.iter().any(|&s| s < 0.0) {
        return Err(PyValueError::new_err(
            "the step coefficients must be finite, sigma non-negative",
        ));
    }
    let d = x.shape()[1];
    if let Some(bad) = steps.iter().find(|s| s.get().mixture.n_features() != d) {
        return Err(PyValueError::new_err(format!(
            "X has {d} features, but a step's mixture has {}",
            bad.get().mixture.n_features()
        )));
    }
    let plan: Vec<Step> = steps
        .iter()
        .zip(a.iter().zip(b).zip(sigma))
        .map(|(s, ((&a, &b), &sigma))| Step {
            mixture: &s.get().mixture,
            a,
            b,
            sigma,
        })
        .collect();
    let mut x = writeable("x", x)?;
    let x = contiguous_mut("x", &mut x)?;
    let mut path = path.map(|p| writeable("path", p)).transpose()?;
    let path: &mut [f64] = match path.as_mut() {
        Some(p) => contiguous_mut("path", p)?,
        None => &mut [],
    };
    run(py, |stop| {
        diffusion::reverse(&plan, x, path, seed, rtol, stop)
    })
}
