//! Bindings of the EM kernel (`em.rs`): one E-step with the M-step's sums, and the kd-tree of a
//! fit's points that every E-step of the fit reuses.

use std::sync::Mutex;

use numpy::{
    PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use super::common::{check_rtol, contiguous, contiguous_mut, run, writeable, Components};
use crate::cholesky;
use crate::em;
use crate::error::check_len;
use crate::points::{Carried, Tree};

/// The points of a fit (a copy of X, n × d) and their kd-tree, built once: EM evaluates the
/// same points at every iteration, and rebuilding the tree each time was an eighth of an
/// E-step. The tree is split along the features as the point kernels of `components` would
/// split them; any later mixture over the same features may use it.
#[pyclass(frozen, module = "gmmfast._core", name = "PointTree")]
pub(crate) struct PointTree {
    x: Vec<f64>,
    tree: Tree,
    /// What each E-step on the tree leaves for the next (the candidates of its leaves).
    carried: Mutex<Carried>,
}

#[pymethods]
impl PointTree {
    #[new]
    fn new(
        py: Python<'_>,
        components: &Components,
        x: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Self> {
        let x = components.points(&x)?.to_vec();
        let mixture = &components.mixture;
        let tree = run(py, |_| Ok(Tree::for_mixture(mixture, &x)))?;
        Ok(Self {
            x,
            tree,
            carried: Mutex::new(Carried::default()),
        })
    }

    #[getter]
    fn n_points(&self) -> usize {
        self.tree.n_points()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.tree.n_features()
    }
}

/// The rows an E-step runs at: an array, or a fit's points with their tree.
#[derive(FromPyObject)]
pub(crate) enum Points<'py> {
    Tree(PyRef<'py, PointTree>),
    Array(PyReadonlyArray2<'py, f64>),
}

/// One E-step at the rows of x (an (n, d) array, or a PointTree of them): returns
/// Σ_i w_i log p(x_i) and writes N_k into nk (K,), S1_k into s1 (K, d) and S2_k into s2
/// (K, d, d), the moments around shift (K, d). sample_weight (n,) or None for unit weights;
/// rtol as for score_samples.
#[pyfunction]
#[pyo3(signature = (components, x, shift, nk, s1, s2, sample_weight=None, rtol=0.0))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn e_step(
    py: Python<'_>,
    components: &Components,
    x: Points<'_>,
    shift: PyReadonlyArray2<'_, f64>,
    nk: &Bound<'_, PyArray1<f64>>,
    s1: &Bound<'_, PyArray2<f64>>,
    s2: &Bound<'_, PyArray3<f64>>,
    sample_weight: Option<PyReadonlyArray1<'_, f64>>,
    rtol: f64,
) -> PyResult<f64> {
    let (x, tree, mut carried) = match &x {
        Points::Array(x) => (components.points(x)?, None, None),
        Points::Tree(t) => {
            if t.tree.n_features() != components.mixture.n_features() {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "the tree's points have {} features, but the mixture has {}",
                    t.tree.n_features(),
                    components.mixture.n_features()
                )));
            }
            // Another thread's E-step on the same tree holds it: this one goes without.
            (t.x.as_slice(), Some(&t.tree), t.carried.try_lock().ok())
        }
    };
    let shift = contiguous("shift", &shift)?;
    let weights = match &sample_weight {
        Some(w) => contiguous("sample_weight", w)?,
        None => &[],
    };
    let rtol = check_rtol(rtol)?;
    let (k, d) = (
        components.mixture.n_components(),
        components.mixture.n_features(),
    );
    let mut nk = writeable("nk", nk)?;
    let mut s1 = writeable("s1", s1)?;
    let mut s2 = writeable("s2", s2)?;
    let (nk, s1, s2) = (
        contiguous_mut("nk", &mut nk)?,
        contiguous_mut("s1", &mut s1)?,
        contiguous_mut("s2", &mut s2)?,
    );
    check_len("nk", nk.len(), k)?;
    check_len("s1", s1.len(), k * d)?;
    check_len("s2", s2.len(), k * d * d)?;
    let carried = carried.as_deref_mut();
    let stats = run(py, |stop| {
        em::e_step(
            &components.mixture,
            x,
            tree,
            carried,
            weights,
            shift,
            rtol,
            stop,
        )
    })?;
    nk.copy_from_slice(&stats.nk);
    s1.copy_from_slice(&stats.s1);
    s2.copy_from_slice(&stats.s2);
    Ok(stats.log_lik)
}

/// The scatter matrices around the new means (K, d, d) into out, from an E-step's sums around
/// the shift: mass N (K,), first S1 (K, d), second S2 (K, d, d), and delta = μ − c (K, d).
#[pyfunction]
pub(crate) fn scatter(
    mass: PyReadonlyArray1<'_, f64>,
    first: PyReadonlyArray2<'_, f64>,
    second: PyReadonlyArray3<'_, f64>,
    delta: PyReadonlyArray2<'_, f64>,
    out: &Bound<'_, PyArray3<f64>>,
) -> PyResult<()> {
    let (k, d) = (first.shape()[0], first.shape()[1]);
    let shapes = [
        ("mass", mass.shape(), vec![k]),
        ("delta", delta.shape(), vec![k, d]),
        ("second", second.shape(), vec![k, d, d]),
        ("out", out.shape(), vec![k, d, d]),
    ];
    for (name, got, expected) in shapes {
        if got != expected.as_slice() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{name} must have shape {expected:?} (first has {:?}), got {got:?}",
                [k, d]
            )));
        }
    }
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    em::scatter(
        contiguous("mass", &mass)?,
        contiguous("first", &first)?,
        contiguous("second", &second)?,
        contiguous("delta", &delta)?,
        d,
        out,
    );
    Ok(())
}

/// scikit-learn's precisions_cholesky_ of the covariance matrices (K, d, d) (their lower
/// triangles are read) into out (K, d, d): U = L⁻ᵀ with L Lᵀ = Σ, upper triangular. Returns
/// -1, or the first component whose covariance is not positive definite (out is then
/// unspecified).
#[pyfunction]
pub(crate) fn precision_cholesky(
    covariances: PyReadonlyArray3<'_, f64>,
    out: &Bound<'_, PyArray3<f64>>,
) -> PyResult<i64> {
    let shape = covariances.shape().to_vec();
    if shape[1] != shape[2] {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "covariances must have shape (K, d, d), got {shape:?}"
        )));
    }
    if out.shape() != shape.as_slice() {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "out must have the covariances' shape {shape:?}, got {:?}",
            out.shape()
        )));
    }
    let cov = contiguous("covariances", &covariances)?;
    let mut out = writeable("out", out)?;
    let out = contiguous_mut("out", &mut out)?;
    Ok(match cholesky::precision_cholesky(cov, shape[1], out) {
        Ok(()) => -1,
        Err(k) => k as i64,
    })
}
