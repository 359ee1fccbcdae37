//! The sampler: the number of samples of each component, then the samples themselves, grouped
//! by component (see the [`super`] documentation for what is drawn and [`super::stream`] for
//! the randomness).

use rand_distr::{Binomial, Distribution};
use rayon::prelude::*;

use super::stream::{stream, total, units, Unit, COUNTS};
use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;
use crate::specialise::{fixed, specialise};

/// Draws the number of samples of each component: a multinomial of `n` trials with
/// probabilities `weights` (K,), into `out` (K,).
///
/// Sequential binomials: n_k ~ Binomial(n − Σ_{j<k} n_j, w_k / Σ_{j≥k} w_j). The tail sums are
/// accumulated from the last component backwards rather than by subtracting from 1, so the last
/// component of positive weight gets probability exactly 1 (it takes what is left) and weights
/// that sum to 1 only up to rounding are fine. The weights must be finite, non-negative and
/// not all zero.
pub fn sample_counts(
    weights: &[f64],
    n: u64,
    seed: u64,
    out: &mut [u64],
) -> Result<(), KernelError> {
    check_len("counts", out.len(), weights.len())?;
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(KernelError::Value(
            "weights must be finite and non-negative".into(),
        ));
    }
    let mut tail = vec![0.0; weights.len()];
    let mut acc = 0.0;
    for (t, w) in tail.iter_mut().zip(weights).rev() {
        acc += w;
        *t = acc;
    }
    if !(acc > 0.0 && acc.is_finite()) {
        return Err(KernelError::Value(format!(
            "weights must have a positive, finite sum, got {acc}"
        )));
    }
    let mut rng = stream(seed, COUNTS, 0, 0);
    let mut left = n;
    for ((o, &w), &t) in out.iter_mut().zip(weights).zip(&tail) {
        // w ≤ t in floating point (t = w + a non-negative number, rounded), so p ≤ 1; a zero
        // tail means every later weight is zero and nothing is left to give.
        let p = if t > 0.0 { (w / t).min(1.0) } else { 0.0 };
        let binomial = Binomial::new(left, p)
            .map_err(|e| KernelError::Value(format!("cannot draw the component counts: {e}")))?;
        *o = binomial.sample(&mut rng);
        left -= *o;
    }
    if left > 0 {
        // Unreachable with the tail sums above (the last positive weight has p = 1); kept so
        // that the counts always add up to n.
        let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        out[last] += left;
    }
    Ok(())
}

/// Covariance layout of the factors, as scikit-learn's `covariance_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovarianceType {
    /// Lower Cholesky factors L_k, (K, d, d); the upper triangle is never read.
    Full,
    /// One lower Cholesky factor L shared by all components, (d, d).
    Tied,
    /// Per-feature standard deviations, (K, d).
    Diag,
    /// One standard deviation per component, (K,).
    Spherical,
}

impl CovarianceType {
    /// Parses scikit-learn's name of a covariance type.
    pub fn parse(name: &str) -> Result<Self, KernelError> {
        match name {
            "full" => Ok(Self::Full),
            "tied" => Ok(Self::Tied),
            "diag" => Ok(Self::Diag),
            "spherical" => Ok(Self::Spherical),
            _ => Err(KernelError::Value(format!(
                "covariance_type must be 'full', 'tied', 'diag' or 'spherical', got {name:?}"
            ))),
        }
    }

    /// scikit-learn's name of this covariance type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Tied => "tied",
            Self::Diag => "diag",
            Self::Spherical => "spherical",
        }
    }

    /// Shape of the factors of K components over d features.
    pub fn factor_shape(self, k: usize, d: usize) -> Vec<usize> {
        match self {
            Self::Full => vec![k, d, d],
            Self::Tied => vec![d, d],
            Self::Diag => vec![k, d],
            Self::Spherical => vec![k],
        }
    }
}

/// The components of a mixture as samplers: means and covariance factors.
#[derive(Debug, Clone)]
pub struct Gaussians {
    n_components: usize,
    n_features: usize,
    /// μ_k, (K, d) row-major.
    means: Vec<f64>,
    covariance_type: CovarianceType,
    /// See [`CovarianceType`] for the layout.
    factors: Vec<f64>,
}

impl Gaussians {
    /// Checks lengths and values: means and (the used part of) the factors must be finite.
    pub fn new(
        n_components: usize,
        n_features: usize,
        means: Vec<f64>,
        covariance_type: CovarianceType,
        factors: Vec<f64>,
    ) -> Result<Self, KernelError> {
        let (k, d) = (n_components, n_features);
        if k == 0 || d == 0 {
            return Err(KernelError::Shape(format!(
                "a mixture needs at least one component and one feature, got {k} components of \
                 {d} features"
            )));
        }
        let n_factors = covariance_type
            .factor_shape(k, d)
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b));
        let (Some(kd), Some(n_factors)) = (k.checked_mul(d), n_factors) else {
            return Err(KernelError::Shape("mixture too large".into()));
        };
        check_len("means", means.len(), kd)?;
        check_len("factors", factors.len(), n_factors)?;
        if means.iter().any(|m| !m.is_finite()) {
            return Err(KernelError::Value("means must be finite".into()));
        }
        let lower_finite = match covariance_type {
            CovarianceType::Full | CovarianceType::Tied => factors
                .chunks_exact(d * d)
                .all(|l| (0..d).all(|i| l[i * d..=i * d + i].iter().all(|v| v.is_finite()))),
            CovarianceType::Diag | CovarianceType::Spherical => {
                factors.iter().all(|v| v.is_finite())
            }
        };
        if !lower_finite {
            return Err(KernelError::Value(
                "covariance factors must be finite".into(),
            ));
        }
        Ok(Self {
            n_components,
            n_features,
            means,
            covariance_type,
            factors,
        })
    }

    pub fn n_components(&self) -> usize {
        self.n_components
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn covariance_type(&self) -> CovarianceType {
        self.covariance_type
    }

    /// Feature `f` of the sample of component `k` whose standard normal vector is `z` (len d):
    /// μ_kf + Σ_{j ≤ f} L_k[f, j] z_j, the sum in increasing j, added to μ last. Every caller
    /// computes a feature through this one function, so `sample` and `sample_image` agree to
    /// the bit.
    #[inline(always)]
    pub fn feature(&self, k: usize, f: usize, z: &[f64]) -> f64 {
        let d = self.n_features;
        let mu = self.means[k * d + f];
        match self.covariance_type {
            CovarianceType::Full | CovarianceType::Tied => {
                let first = if self.covariance_type == CovarianceType::Full {
                    (k * d + f) * d
                } else {
                    f * d
                };
                let row = &self.factors[first..=first + f];
                let mut acc = 0.0;
                for (l, zj) in row.iter().zip(z) {
                    acc += l * zj;
                }
                mu + acc
            }
            CovarianceType::Diag => mu + self.factors[k * d + f] * z[f],
            CovarianceType::Spherical => mu + self.factors[k] * z[f],
        }
    }
}

/// Draws the samples of `counts` (K,) into `x` (n, d) and their components into `labels` (n,),
/// n = Σ counts, grouped by component (see the module documentation for the streams).
///
/// Once `stop` is requested the remaining blocks are skipped and the result is
/// [`KernelError::Interrupted`].
pub fn sample(
    gaussians: &Gaussians,
    counts: &[u64],
    seed: u64,
    x: &mut [f64],
    labels: &mut [i64],
    stop: &Stop,
) -> Result<(), KernelError> {
    let d = gaussians.n_features();
    check_len("counts", counts.len(), gaussians.n_components())?;
    let n = usize::try_from(total(counts)?)
        .map_err(|_| KernelError::Value("too many samples for this machine".into()))?;
    let values = n
        .checked_mul(d)
        .ok_or_else(|| KernelError::Value("too many samples for this machine".into()))?;
    check_len("samples", x.len(), values)?;
    check_len("labels", labels.len(), n)?;

    // Cut the outputs into the units' rows (lengths checked above, so the splits fit).
    let mut work = Vec::new();
    let (mut x_rest, mut labels_rest) = (x, labels);
    for unit in units(counts) {
        let (x_unit, x_tail) = x_rest.split_at_mut(unit.len * d);
        let (labels_unit, labels_tail) = labels_rest.split_at_mut(unit.len);
        work.push((unit, x_unit, labels_unit));
        (x_rest, labels_rest) = (x_tail, labels_tail);
    }
    work.into_par_iter()
        .for_each(|(unit, x_unit, labels_unit)| {
            if stop.requested() {
                return;
            }
            labels_unit.fill(unit.component as i64);
            specialise!(d, D => sample_unit::<D>(gaussians, unit, seed, x_unit));
        });
    stop.check()
}

/// Draws the samples of `unit` into its rows `x` (len × d); `D` is d or 0 (see [`specialise`]).
fn sample_unit<const D: usize>(gaussians: &Gaussians, unit: Unit, seed: u64, x: &mut [f64]) {
    let d = fixed::<D>(gaussians.n_features());
    unit.for_each_z(seed, d, |s, z| {
        for (f, v) in x[s * d..(s + 1) * d].iter_mut().enumerate() {
            *v = gaussians.feature(unit.component, f, z);
        }
    });
}

#[cfg(test)]
mod tests {
    use rand::Rng;
    use rand_distr::StandardNormal;

    use super::*;
    use crate::sample::stream::{BLOCK, SAMPLES};

    fn full_2d() -> (Vec<f64>, Vec<f64>) {
        // Two components; L_1 = [[2, 0], [1, 0.5]] (its upper entry 99 must be ignored).
        let means = vec![0.0, 0.0, 10.0, -5.0];
        let factors = vec![1.0, 0.0, 0.0, 1.0, 2.0, 99.0, 1.0, 0.5];
        (means, factors)
    }

    #[test]
    fn counts_add_up_and_follow_zero_weights() {
        let mut out = [0u64; 4];
        sample_counts(&[0.5, 0.0, 0.25, 0.25], 1_000_003, 7, &mut out).unwrap();
        assert_eq!(out.iter().sum::<u64>(), 1_000_003);
        assert_eq!(out[1], 0);
        // Binomial(1e6, 1/2) is within 6 standard deviations (500 each) with p > 1 − 1e-8.
        assert!((out[0] as f64 - 500_001.5).abs() < 3000.0, "{out:?}");
        // A trailing zero weight: the last positive weight takes the rest.
        let mut out = [0u64; 3];
        sample_counts(&[0.3, 0.7, 0.0], 10, 1, &mut out).unwrap();
        assert_eq!(out[0] + out[1], 10);
        assert_eq!(out[2], 0);
    }

    #[test]
    fn counts_are_reproducible_and_depend_on_the_seed() {
        let w = [0.1; 10];
        let (mut a, mut b, mut c) = ([0u64; 10], [0u64; 10], [0u64; 10]);
        sample_counts(&w, 100_000, 42, &mut a).unwrap();
        sample_counts(&w, 100_000, 42, &mut b).unwrap();
        sample_counts(&w, 100_000, 43, &mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_weights_are_errors() {
        let mut out = [0u64; 2];
        assert!(sample_counts(&[0.5, f64::NAN], 3, 0, &mut out).is_err());
        assert!(sample_counts(&[0.5, -0.1], 3, 0, &mut out).is_err());
        assert!(sample_counts(&[0.0, 0.0], 3, 0, &mut out).is_err());
        assert!(sample_counts(&[1.0], 3, 0, &mut out).is_err());
    }

    #[test]
    fn features_follow_the_factors() {
        let (means, factors) = full_2d();
        let g =
            Gaussians::new(2, 2, means.to_vec(), CovarianceType::Full, factors.to_vec()).unwrap();
        let z = [1.0, -2.0];
        assert_eq!(g.feature(1, 0, &z), 10.0 + 2.0);
        assert_eq!(g.feature(1, 1, &z), -5.0 + (1.0 - 1.0));
        let tied = Gaussians::new(
            2,
            2,
            means.to_vec(),
            CovarianceType::Tied,
            factors[4..].to_vec(),
        )
        .unwrap();
        assert_eq!(tied.feature(0, 1, &z), 0.0);
        let sd = [1.0, 2.0, 3.0, 4.0];
        let diag = Gaussians::new(2, 2, means.to_vec(), CovarianceType::Diag, sd.to_vec()).unwrap();
        assert_eq!(diag.feature(1, 1, &z), -5.0 - 8.0);
        let sph = Gaussians::new(
            2,
            2,
            means.to_vec(),
            CovarianceType::Spherical,
            sd[..2].to_vec(),
        )
        .unwrap();
        assert_eq!(sph.feature(1, 0, &z), 12.0);
    }

    #[test]
    fn bad_mixtures_are_errors() {
        let (means, factors) = full_2d();
        assert!(Gaussians::new(
            2,
            2,
            means.to_vec(),
            CovarianceType::Full,
            factors[..4].to_vec()
        )
        .is_err());
        assert!(Gaussians::new(
            2,
            2,
            means[..2].to_vec(),
            CovarianceType::Full,
            factors.to_vec()
        )
        .is_err());
        assert!(Gaussians::new(0, 2, vec![], CovarianceType::Full, vec![]).is_err());
        let mut nan = factors.clone();
        nan[6] = f64::NAN;
        assert!(Gaussians::new(2, 2, means.to_vec(), CovarianceType::Full, nan.to_vec()).is_err());
        nan[6] = 1.0;
        nan[1] = f64::NAN; // upper triangle: never read
        assert!(Gaussians::new(2, 2, means.to_vec(), CovarianceType::Full, nan.to_vec()).is_ok());
        assert!(CovarianceType::parse("Full").is_err());
    }

    #[test]
    fn samples_are_grouped_and_reproducible() {
        let (means, factors) = full_2d();
        let g =
            Gaussians::new(2, 2, means.to_vec(), CovarianceType::Full, factors.to_vec()).unwrap();
        let counts = [3, BLOCK + 2];
        let n = (3 + BLOCK + 2) as usize;
        let (mut x, mut labels) = (vec![0.0; 2 * n], vec![0i64; n]);
        sample(&g, &counts, 9, &mut x, &mut labels, &Stop::new()).unwrap();
        assert_eq!(&labels[..4], &[0, 0, 0, 1]);
        assert!(labels[3..].iter().all(|&l| l == 1));
        let mut again = vec![0.0; 2 * n];
        sample(&g, &counts, 9, &mut again, &mut labels, &Stop::new()).unwrap();
        assert_eq!(x, again);
        // The second block of component 1 is its own stream: it does not depend on the first.
        let mut rng = stream(9, SAMPLES, 1, 1);
        let mut z = [0.0; 2];
        for v in &mut z {
            *v = rng.sample(StandardNormal);
        }
        let first_of_block = 3 + BLOCK as usize;
        assert_eq!(x[2 * first_of_block], g.feature(1, 0, &z));
        assert_eq!(x[2 * first_of_block + 1], g.feature(1, 1, &z));
        // Component 1's sample mean is near (10, −5): sd 2 and ~1.1 over 65538 samples.
        let m: f64 = x[6..].iter().step_by(2).sum::<f64>() / (BLOCK + 2) as f64;
        assert!((m - 10.0).abs() < 0.05, "{m}");
        assert!(sample(&g, &counts, 9, &mut x[1..], &mut labels, &Stop::new()).is_err());
    }
}
