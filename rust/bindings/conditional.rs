//! Bindings of the conditional kernels (`conditional.rs`): the [`Regressions`] pyclass and
//! E[rest | given] (and its standard deviation) at points and on pixel grids.

use numpy::ndarray::Ix3;
use numpy::{
    PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::common::{
    check_rtol, contiguous, contiguous_mut, grid_window, run, run_float, writeable, Components,
    FloatKernel,
};
use crate::conditional::{self, Regression};
use crate::error::KernelError;
use crate::evaluate::Store;
use crate::grid::{Axes, Window};
use crate::interrupt::Stop;
use crate::mixture::Planar;

/// The regressions of the remaining features on the given ones (see `conditional.rs`):
/// μ_r (K, m), G (K, m, g), diag C (K, m); the given features' means are those of
/// `components`, the marginal mixture over the given features.
#[pyclass(frozen, module = "gmmfast._core", name = "Regressions")]
pub(crate) struct Regressions {
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

/// E[rest | given = x] for every row of x (n, g) into mean (n, m), and the conditional
/// standard deviations into std when it is given. `components` is the marginal mixture over
/// the given features.
#[pyfunction]
#[pyo3(signature = (components, regressions, x, mean, std=None, rtol=0.0))]
pub(crate) fn conditional_mean(
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
pub(crate) fn conditional_mean_grid(
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
