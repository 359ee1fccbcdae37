//! Conditional-mean and conditional-variance kernels: E[rest | given] of a Gaussian mixture.
//!
//! The conditional of a mixture given features g at x_g is again a mixture over the remaining
//! m features: component k keeps its place with weight r_k(x_g) ∝ w_k N(x_g; μ_g,k, Σ_gg,k)
//! (the responsibilities of the marginal over g), mean m_k(x_g) = μ_r,k + G_k (x_g − μ_g,k)
//! with the regression gain G_k = Σ_rg,k Σ_gg,k⁻¹, and covariance C_k = Σ_rr,k − G_k Σ_gr,k.
//! Python precomputes G_k and diag(C_k); the marginal over g comes as an ordinary canonical
//! [`Components`] (or [`crate::mixture::Planar`] for a pixel grid), whose log-densities the drivers evaluate.
//!
//! Per point, with w_k = exp(l_k − max_j l_j) and W = Σ_k w_k:
//!
//! ```text
//! mean = Σ_k w_k m_k / W
//! var  = Σ_k w_k (diag C_k + (m_k − mean)²) / W        (law of total variance)
//! ```
//!
//! The variance is summed around the mean (two passes over the contributing components)
//! rather than as E[x²] − E[x]², which cancels for colours far from zero. Components with
//! l_k − max < −37 − ln K are skipped: together they weigh less than 2⁻⁵³ of W, so they move the
//! mean by less than one rounding unit of the spread of the component means. Where every
//! weight underflows (a pixel far from all components) the nearest component, in Mahalanobis
//! terms with its weight, still has w = 1: the result is its regression, never NaN.

// Loops over the lanes of a row index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use crate::cull::Culling;
use crate::density::{peak, NEGLIGIBLE};
use crate::error::{check_len, KernelError};
use crate::evaluate::Store;
use crate::fastmath::weights_into;
use crate::interrupt::Stop;
use crate::mixture::Components;
use crate::points::{for_each_point, Group, PointReducer, Slots};

mod grid;

pub use grid::conditional_mean_grid;

/// Each component's linear regression of the remaining features on the given ones.
#[derive(Debug, Clone)]
pub struct Regression {
    n_components: usize,
    n_given: usize,
    n_rest: usize,
    /// μ_g,k, shape (K, g).
    means_given: Vec<f64>,
    /// μ_r,k, shape (K, m).
    means_rest: Vec<f64>,
    /// G_k, shape (K, m, g).
    gain: Vec<f64>,
    /// diag C_k, shape (K, m), ≥ 0.
    cond_var: Vec<f64>,
}

impl Regression {
    /// Checks shapes and values: everything finite, conditional variances non-negative.
    pub fn new(
        n_components: usize,
        n_given: usize,
        n_rest: usize,
        means_given: Vec<f64>,
        means_rest: Vec<f64>,
        gain: Vec<f64>,
        cond_var: Vec<f64>,
    ) -> Result<Self, KernelError> {
        if n_components == 0 || n_given == 0 || n_rest == 0 {
            return Err(KernelError::Shape(format!(
                "a conditional needs components, given and remaining features, got \
                 {n_components}, {n_given} and {n_rest}"
            )));
        }
        let (k, g, m) = (n_components, n_given, n_rest);
        check_len("means_given", means_given.len(), k * g)?;
        check_len("means_rest", means_rest.len(), k * m)?;
        check_len("gain", gain.len(), k * m * g)?;
        check_len("cond_var", cond_var.len(), k * m)?;
        let finite = means_given
            .iter()
            .chain(&means_rest)
            .chain(&gain)
            .chain(&cond_var)
            .all(|v| v.is_finite());
        if !finite {
            return Err(KernelError::Value(
                "regression parameters must be finite".into(),
            ));
        }
        if cond_var.iter().any(|&v| v < 0.0) {
            return Err(KernelError::Value(
                "conditional variances must be non-negative".into(),
            ));
        }
        Ok(Self {
            n_components,
            n_given,
            n_rest,
            means_given,
            means_rest,
            gain,
            cond_var,
        })
    }

    pub fn n_rest(&self) -> usize {
        self.n_rest
    }

    /// m_k(x) = μ_r,k + G_k (x − μ_g,k) into `out` (len m).
    #[inline]
    fn component_mean(&self, k: usize, x: &[f64], out: &mut [f64]) {
        let (g, m) = (self.n_given, self.n_rest);
        let mu_g = &self.means_given[k * g..(k + 1) * g];
        let gain = &self.gain[k * m * g..(k + 1) * m * g];
        let mu_r = &self.means_rest[k * m..(k + 1) * m];
        // Plain loops: m and g are a handful, and slice copies would call memcpy.
        for (j, (o, row)) in out.iter_mut().zip(gain.chunks_exact(g)).enumerate() {
            let mut acc = mu_r[j];
            for ((gi, xi), mi) in row.iter().zip(x).zip(mu_g) {
                acc += gi * (xi - mi);
            }
            *o = acc;
        }
    }

    fn check_marginal(&self, n_components: usize, n_features: usize) -> Result<(), KernelError> {
        if n_components != self.n_components || n_features != self.n_given {
            return Err(KernelError::Shape(format!(
                "the marginal mixture has {n_components} components over {n_features} \
                 features, the regression {} over {}",
                self.n_components, self.n_given
            )));
        }
        Ok(())
    }
}

/// Per-work-item scratch space of the reduction, and its results.
struct Scratch {
    /// Every candidate's weight relative to the largest (0 when skipped).
    w: Vec<f64>,
    /// w_k, k and m_k of the components that contribute, m_k flattened.
    weights: Vec<f64>,
    component: Vec<usize>,
    means: Vec<f64>,
    buffer: Vec<f64>,
    /// The point's conditional mean and standard deviation.
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Scratch {
    fn new(m: usize) -> Self {
        Self {
            w: Vec::new(),
            weights: Vec::new(),
            component: Vec::new(),
            means: Vec::new(),
            buffer: vec![0.0; m],
            mean: vec![0.0; m],
            std: vec![0.0; m],
        }
    }

    /// Stores the results into the output slots (`std_out` empty when not wanted).
    #[inline]
    fn store<T: Store>(&self, mean_out: &mut [T], std_out: &mut [T]) {
        for (o, &v) in mean_out.iter_mut().zip(&self.mean) {
            *o = T::store(v);
        }
        for (o, &v) in std_out.iter_mut().zip(&self.std) {
            *o = T::store(v);
        }
    }
}

/// The culling that [`conditional_mean_grid`] applies to a mixture of `n_components`.
pub fn grid_culling(n_components: usize, rtol: f64) -> Culling {
    Culling {
        threshold: exact_cutoff(n_components),
        rtol: rtol / 2.0,
    }
}

/// The exact-mode cut-off for a mixture of `n_components`: terms below it weigh together less
/// than 2⁻⁵³ of the largest. It depends on the whole mixture, not on a tile's candidates, so
/// that culling with it changes no bit of the result.
fn exact_cutoff(n_components: usize) -> f64 {
    NEGLIGIBLE - (n_components as f64).ln()
}

/// The conditional mean (and, if `with_std`, standard deviation) at one point, into
/// `scratch.mean` and `scratch.std`. Inlined into the drivers' vectorised pixel loops.
///
/// `l[i]` is the log-density of component `index(i)` of the marginal at `x` (the given
/// features). Components more than `-cutoff` nats below the largest are skipped.
#[inline(always)]
fn moments(
    reg: &Regression,
    l: &[f64],
    index: impl Fn(usize) -> usize,
    x: &[f64],
    cutoff: f64,
    with_std: bool,
    scratch: &mut Scratch,
) {
    let m = reg.n_rest;
    let pk = peak(l);
    scratch.weights.clear();
    scratch.means.clear();
    scratch.component.clear();
    scratch.mean.fill(0.0);
    // All the weights at once (vectorised), then the sums over those that count, in
    // component order. The peak weighs exactly 1, even when every l is −∞.
    scratch.w.resize(l.len(), 0.0);
    weights_into(l, pk.max, cutoff, &mut scratch.w);
    scratch.w[pk.argmax] = 1.0;
    let mut total = 0.0;
    for (i, &w) in scratch.w.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        let k = index(i);
        reg.component_mean(k, x, &mut scratch.buffer);
        for (acc, mk) in scratch.mean.iter_mut().zip(&scratch.buffer) {
            *acc += w * mk;
        }
        total += w;
        if with_std {
            scratch.weights.push(w);
            scratch.component.push(k);
            for &v in &scratch.buffer {
                scratch.means.push(v);
            }
        }
    }
    for v in scratch.mean.iter_mut() {
        *v /= total;
    }
    if !with_std {
        return;
    }
    scratch.std.fill(0.0);
    let contributors = scratch
        .weights
        .iter()
        .zip(&scratch.component)
        .zip(scratch.means.chunks_exact(m));
    for ((w, &k), mk) in contributors {
        let var_k = &reg.cond_var[k * m..(k + 1) * m];
        let terms = scratch.std.iter_mut().zip(var_k).zip(mk).zip(&scratch.mean);
        for (((s, vk), mkj), mj) in terms {
            let dev = mkj - mj;
            *s += w * (vk + dev * dev);
        }
    }
    let mut overflow = false;
    for s in scratch.std.iter_mut() {
        let var = *s / total;
        overflow |= !var.is_finite();
        *s = var.sqrt();
    }
    if overflow {
        wide_std(reg, scratch, total);
    }
}

/// The cold path of [`moments`] where a variance overflowed (spread-out regressions far away,
/// e.g. deviations of 1e200): the standard deviation itself is representable, so sum the
/// variance scaled by the largest deviation s (at least 1), and multiply its root by s.
#[cold]
#[inline(never)]
fn wide_std(reg: &Regression, scratch: &mut Scratch, total: f64) {
    let m = reg.n_rest;
    for j in 0..m {
        let mean = scratch.mean[j];
        let contributors = || {
            scratch
                .weights
                .iter()
                .zip(&scratch.component)
                .zip(scratch.means.chunks_exact(m))
        };
        let scale = contributors()
            .map(|(_, mk)| (mk[j] - mean).abs())
            .fold(1.0, f64::max);
        let second: f64 = contributors()
            .map(|((w, &k), mk)| {
                let dev = (mk[j] - mean) / scale;
                w * (reg.cond_var[k * m + j] / scale / scale + dev * dev)
            })
            .sum();
        scratch.std[j] = scale * (second / total).sqrt();
    }
}

/// The conditional moments at every point, from its candidates' log-densities.
struct PointConditional<'a> {
    reg: &'a Regression,
    /// The exact cut-off of the whole mixture.
    exact: f64,
    rtol: f64,
    with_std: bool,
}

impl PointConditional<'_> {
    /// Components skipped at a point: below 2⁻⁵³ of the total together (`exact`) and, with
    /// rtol > 0, below rtol / 2 together (the other half of the budget is the culling's).
    fn cutoff(&self, n_cands: usize) -> f64 {
        if self.rtol > 0.0 {
            self.exact
                .max((self.rtol / 2.0).ln() - (n_cands as f64).ln())
        } else {
            self.exact
        }
    }
}

impl PointReducer<f64> for PointConditional<'_> {
    /// The reduction's scratch space and one point's values.
    type State = (Scratch, Vec<f64>);
    fn state(&self) -> Self::State {
        (Scratch::new(self.reg.n_rest), Vec::new())
    }
    fn width(&self) -> usize {
        self.reg.n_rest
    }
    fn group(&self, (scratch, l): &mut Self::State, group: &Group, slots: &mut Slots<f64>) {
        let cutoff = self.cutoff(group.cands.len());
        for p in 0..group.len {
            if group.max[p] > f64::NEG_INFINITY {
                group.values(p, l);
                let x = group.point(p);
                moments(
                    self.reg,
                    l,
                    |c| group.cands[c],
                    x,
                    cutoff,
                    self.with_std,
                    scratch,
                );
                let (mean, std) = slots.get(p);
                scratch.store(mean, std);
            }
        }
    }
    fn point(
        &self,
        (scratch, _): &mut Self::State,
        l: &[f64],
        x: &[f64],
        _: usize,
        mean: &mut [f64],
        std: &mut [f64],
    ) {
        // `l` holds the nearest components' constants: their regressions decide.
        let cutoff = self.cutoff(l.len());
        moments(self.reg, l, |k| k, x, cutoff, self.with_std, scratch);
        scratch.store(mean, std);
    }
}

/// E[rest | given = x] for every row of `x` (n × g) into `mean` (n × m), and the conditional
/// standard deviations into `std` (n × m) unless `std` is empty.
///
/// `rtol` = 0 is exact (terms that together weigh less than 2⁻⁵³ of the total are skipped),
/// and a point's result does not depend on the other points. With `rtol` > 0, components are
/// culled per block of points and skipped per point, each within half the budget: they weigh
/// at most rtol of the total together, so the mean moves by at most rtol times the distance
/// from the skipped components' regressions to the result.
pub fn conditional_mean_points(
    marginal: &Components,
    reg: &Regression,
    x: &[f64],
    rtol: f64,
    mean: &mut [f64],
    std: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    reg.check_marginal(marginal.n_components(), marginal.n_features())?;
    let reducer = PointConditional {
        reg,
        exact: exact_cutoff(reg.n_components),
        rtol,
        with_std: !std.is_empty(),
    };
    let culling = grid_culling(reg.n_components, rtol);
    for_each_point(marginal, x, &culling, mean, std, &reducer, stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Axes;
    use crate::interrupt::Stop;

    /// One 2-D Gaussian with unit variances and correlation ρ: E[x₁ | x₀] = ρ x₀,
    /// Var[x₁ | x₀] = 1 − ρ².
    #[test]
    fn one_component_is_linear_regression() {
        let rho: f64 = 0.6;
        // Marginal of x₀: N(0, 1), U = 1.
        let marginal = Components::new(1, 1, vec![0.0], vec![0.0], vec![1.0]).unwrap();
        let reg = Regression::new(
            1,
            1,
            1,
            vec![0.0],
            vec![0.0],
            vec![rho],
            vec![1.0 - rho * rho],
        )
        .unwrap();
        let x = [-2.0, 0.5, 1e6];
        let mut mean = [0.0; 3];
        let mut std = [0.0; 3];
        conditional_mean_points(&marginal, &reg, &x, 0.0, &mut mean, &mut std, &Stop::new())
            .unwrap();
        for (xi, mi) in x.iter().zip(mean) {
            assert!((mi - rho * xi).abs() <= 1e-15 * xi.abs());
        }
        for s in std {
            assert!((s - 0.8).abs() < 1e-15);
        }
    }

    #[test]
    fn far_from_everything_the_nearest_component_decides() {
        // Two components of the given feature at 0 and 10, constant regressions 1 and 2.
        let marginal =
            Components::new(2, 1, vec![0.0, 0.0], vec![0.0, 10.0], vec![1.0, 1.0]).unwrap();
        let reg = Regression::new(
            2,
            1,
            1,
            vec![0.0, 10.0],
            vec![1.0, 2.0],
            vec![0.0, 0.0],
            vec![0.5, 0.25],
        )
        .unwrap();
        let x = [-1e8, 1e8, 5.0];
        let mut mean = [0.0; 3];
        let mut std = [0.0; 3];
        conditional_mean_points(&marginal, &reg, &x, 0.0, &mut mean, &mut std, &Stop::new())
            .unwrap();
        assert_eq!(mean[..2], [1.0, 2.0]);
        assert_eq!(std[..2], [0.5f64.sqrt(), 0.5]);
        // Half way, equal weights: mean 1.5, variance (0.5 + 0.25)/2 + 0.25.
        assert!((mean[2] - 1.5).abs() < 1e-15);
        assert!((std[2] - (0.375f64 + 0.25).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn grid_equals_points_and_std_is_optional() {
        let marginal = Components::new(
            2,
            2,
            vec![-1.0, -2.0],
            vec![0.0, 0.0, 3.0, 1.0],
            vec![1.0, 0.3, 0.0, 0.7, 0.5, 0.0, 0.0, 2.0],
        )
        .unwrap();
        let reg = Regression::new(
            2,
            2,
            3,
            vec![0.0, 0.0, 3.0, 1.0],
            vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            (0..12).map(|i| i as f64 * 0.1 - 0.5).collect(),
            vec![1.0, 2.0, 3.0, 0.5, 0.5, 0.5],
        )
        .unwrap();
        let xs: Vec<f64> = (0..40).map(|j| -5.0 + 0.3 * j as f64).collect();
        let ys: Vec<f64> = (0..35).map(|i| 6.0 - 0.4 * i as f64).collect();
        let axes = Axes::new(&xs, &ys).unwrap();
        let (mut grid_mean, mut grid_std) = (vec![0.0; 40 * 35 * 3], vec![0.0; 40 * 35 * 3]);
        conditional_mean_grid(
            &marginal.planar().unwrap(),
            &reg,
            &axes,
            &axes.full(),
            0.0,
            &mut grid_mean,
            &mut grid_std,
            &Stop::new(),
        )
        .unwrap();
        let points: Vec<f64> = ys
            .iter()
            .flat_map(|&y| xs.iter().flat_map(move |&x| [x, y]))
            .collect();
        let (mut mean, mut std) = (vec![0.0; 40 * 35 * 3], vec![0.0; 40 * 35 * 3]);
        conditional_mean_points(
            &marginal,
            &reg,
            &points,
            0.0,
            &mut mean,
            &mut std,
            &Stop::new(),
        )
        .unwrap();
        for (a, b) in grid_mean.iter().zip(&mean).chain(grid_std.iter().zip(&std)) {
            assert!((a - b).abs() <= 1e-13 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let mut mean_only = vec![0.0; 40 * 35 * 3];
        conditional_mean_points(
            &marginal,
            &reg,
            &points,
            0.0,
            &mut mean_only,
            &mut [],
            &Stop::new(),
        )
        .unwrap();
        assert_eq!(mean_only, mean);
    }

    #[test]
    fn rejects_mismatched_parts() {
        assert!(Regression::new(1, 1, 1, vec![0.0], vec![0.0], vec![0.0], vec![-1.0]).is_err());
        assert!(Regression::new(1, 1, 1, vec![0.0], vec![0.0], vec![0.0, 1.0], vec![1.0]).is_err());
        let reg =
            Regression::new(1, 2, 1, vec![0.0; 2], vec![0.0], vec![0.0; 2], vec![1.0]).unwrap();
        let marginal = Components::new(1, 1, vec![0.0], vec![0.0], vec![1.0]).unwrap();
        let mut out = [0.0];
        assert!(conditional_mean_points(
            &marginal,
            &reg,
            &[0.0],
            0.0,
            &mut out,
            &mut [],
            &Stop::new()
        )
        .is_err());
    }

    /// The general pixel kernel (more than four remaining features) with standard deviations:
    /// it once indexed past its scratch space.
    #[test]
    fn grid_with_many_remaining_features_equals_points() {
        for m in [5usize, 6, 9] {
            let marginal = Components::new(
                2,
                2,
                vec![-1.0, -2.0],
                vec![0.0, 0.0, 3.0, 1.0],
                vec![1.0, 0.3, 0.0, 0.7, 0.5, 0.0, 0.0, 2.0],
            )
            .unwrap();
            let reg = Regression::new(
                2,
                2,
                m,
                vec![0.0, 0.0, 3.0, 1.0],
                (0..2 * m).map(|i| i as f64).collect(),
                (0..4 * m).map(|i| i as f64 * 0.1 - 0.5).collect(),
                (0..2 * m).map(|i| 0.5 + i as f64).collect(),
            )
            .unwrap();
            let xs: Vec<f64> = (0..11).map(|j| -5.0 + j as f64).collect();
            let ys: Vec<f64> = (0..9).map(|i| 4.0 - i as f64).collect();
            let axes = Axes::new(&xs, &ys).unwrap();
            let n = xs.len() * ys.len() * m;
            let (mut grid_mean, mut grid_std) = (vec![0.0; n], vec![0.0; n]);
            let stop = Stop::new();
            let planar = marginal.planar().unwrap();
            let (full, window) = (&axes, &axes.full());
            conditional_mean_grid(
                &planar,
                &reg,
                full,
                window,
                0.0,
                &mut grid_mean,
                &mut grid_std,
                &stop,
            )
            .unwrap();
            let points: Vec<f64> = ys
                .iter()
                .flat_map(|&y| xs.iter().flat_map(move |&x| [x, y]))
                .collect();
            let (mut mean, mut std) = (vec![0.0; n], vec![0.0; n]);
            conditional_mean_points(&marginal, &reg, &points, 0.0, &mut mean, &mut std, &stop)
                .unwrap();
            for (a, b) in grid_mean.iter().zip(&mean).chain(grid_std.iter().zip(&std)) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{m}: {a} vs {b}");
            }
        }
    }
}
