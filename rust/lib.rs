//! gmmfast's compiled core: the kernel modules, and the Python module `gmmfast._core`.
//!
//! This file only declares the modules and registers the bindings. The kernels (everything
//! but `bindings/`) are plain Rust over slices and know nothing of Python; `bindings/` holds
//! all the PyO3 code, one file per kernel family (see `bindings/mod.rs`).

mod bindings;
pub mod cholesky;
pub mod conditional;
pub mod cull;
pub mod density;
pub mod diffusion;
pub mod em;
pub mod error;
pub mod evaluate;
pub mod fastmath;
pub mod grid;
pub mod interrupt;
pub mod mixture;
pub mod pairwise;
pub mod points;
pub mod pool;
pub mod sample;
pub mod score;
pub mod specialise;

use pyo3::prelude::*;

use crate::bindings::{
    common, conditional as cond, density as dens, em as fit, pairwise as pw, sample as samp,
    score as sc,
};

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(common::num_threads, m)?)?;
    // Density: the canonical mixture, log-densities, responsibilities, labels.
    m.add_class::<common::Components>()?;
    m.add_function(wrap_pyfunction!(dens::score_samples, m)?)?;
    m.add_function(wrap_pyfunction!(dens::predict_proba, m)?)?;
    m.add_function(wrap_pyfunction!(dens::predict, m)?)?;
    m.add_function(wrap_pyfunction!(dens::log_density_grid, m)?)?;
    m.add_function(wrap_pyfunction!(dens::label_grid, m)?)?;
    m.add_function(wrap_pyfunction!(dens::candidate_counts, m)?)?;
    m.add_function(wrap_pyfunction!(dens::point_candidate_counts, m)?)?;
    // Conditional: the regressions, E[rest | given] and its standard deviation.
    m.add_class::<cond::Regressions>()?;
    m.add_function(wrap_pyfunction!(cond::conditional_mean, m)?)?;
    m.add_function(wrap_pyfunction!(cond::conditional_mean_grid, m)?)?;
    // EM: the kd-tree of a fit's points, and one E-step with the M-step's sums.
    m.add_class::<fit::PointTree>()?;
    m.add_function(wrap_pyfunction!(fit::e_step, m)?)?;
    m.add_function(wrap_pyfunction!(fit::precision_cholesky, m)?)?;
    m.add_function(wrap_pyfunction!(fit::scatter, m)?)?;
    // Sampling: the samplers' Gaussians, counts, samples, sample images.
    m.add_class::<samp::Gaussians>()?;
    m.add_function(wrap_pyfunction!(samp::sample_counts, m)?)?;
    m.add_function(wrap_pyfunction!(samp::sample_points, m)?)?;
    m.add_function(wrap_pyfunction!(samp::sample_image, m)?)?;
    // Score: ∇ log p at points, and the reverse diffusion process that follows it.
    m.add_function(wrap_pyfunction!(sc::score, m)?)?;
    m.add_function(wrap_pyfunction!(sc::score_grid, m)?)?;
    m.add_function(wrap_pyfunction!(sc::reverse_process, m)?)?;
    // Pairwise Gaussian integrals between two mixtures' components (metrics' closed forms).
    m.add_function(wrap_pyfunction!(pw::pairwise_logsumexp, m)?)?;
    Ok(())
}
