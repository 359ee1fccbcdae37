//! Bindings of the samplers (`sample/`): the [`Gaussians`] pyclass, the component counts, the
//! samples themselves and the samples binned into an image.

use numpy::{
    PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::common::{contiguous, contiguous_mut, run, writeable};
use crate::grid::Cells;
use crate::sample::{self, CovarianceType, Splat};

/// The components of a mixture as samplers: μ (K, d) and the covariance factors in the layout
/// of `covariance_type` (see `sample::CovarianceType`), built once, validated, and handed to
/// every sampler call.
#[pyclass(frozen, module = "gmmfast._core", name = "Gaussians")]
pub(crate) struct Gaussians {
    gaussians: sample::Gaussians,
}

#[pymethods]
impl Gaussians {
    #[new]
    fn new(
        means: PyReadonlyArray2<'_, f64>,
        factors: PyReadonlyArrayDyn<'_, f64>,
        covariance_type: &str,
    ) -> PyResult<Self> {
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
        let gaussians = sample::Gaussians::new(
            k,
            d,
            contiguous("means", &means)?.to_vec(),
            kind,
            contiguous("factors", &factors)?.to_vec(),
        )?;
        Ok(Self { gaussians })
    }

    #[getter]
    fn n_components(&self) -> usize {
        self.gaussians.n_components()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.gaussians.n_features()
    }

    #[getter]
    fn covariance_type(&self) -> &'static str {
        self.gaussians.covariance_type().name()
    }
}

/// Draws the number of samples of each component (multinomial of `weights`) into out (K,).
#[pyfunction]
pub(crate) fn sample_counts(
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

/// Draws the samples of `counts` (K,) into x (n, d) and labels (n,), grouped by component.
#[pyfunction]
#[pyo3(name = "sample")]
pub(crate) fn sample_points(
    py: Python<'_>,
    gaussians: &Gaussians,
    counts: PyReadonlyArray1<'_, u64>,
    seed: u64,
    x: &Bound<'_, PyArray2<f64>>,
    labels: &Bound<'_, PyArray1<i64>>,
) -> PyResult<()> {
    let gaussians = &gaussians.gaussians;
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
        sample::sample(gaussians, counts, seed, x, labels, stop)
    })
}

/// Draws the samples of `counts` as `sample` does and bins features `dims` into image
/// (height, width); with `colours` (height, width, len(color_dims)), the mean of the
/// `color_dims` features per pixel. `x_cells` and `y_cells` are (start, scale) of the columns
/// and rows (see `grid::Cells`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample_image(
    py: Python<'_>,
    gaussians: &Gaussians,
    counts: PyReadonlyArray1<'_, u64>,
    seed: u64,
    dims: (usize, usize),
    color_dims: Vec<usize>,
    x_cells: (f64, f64),
    y_cells: (f64, f64),
    image: &Bound<'_, PyArray2<i64>>,
    colours: Option<&Bound<'_, PyArray3<f64>>>,
) -> PyResult<()> {
    let gaussians = &gaussians.gaussians;
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
        sample::sample_image(gaussians, counts, seed, &splat, image, colours, stop)
    })
}
