//! The canonical form of a Gaussian mixture that every kernel evaluates.
//!
//! Component k's weighted log-density at a point x of d features is
//!
//! ```text
//! l_k(x) = c_k - ½ ‖(x − μ_k)ᵀ U_k‖²
//! ```
//!
//! where U_k is the upper-triangular Cholesky factor of the precision matrix
//! (Σ_k⁻¹ = U_k U_kᵀ, scikit-learn's `precisions_cholesky_`) and c_k holds everything that does
//! not depend on x: for a plain mixture `log w_k − ½ d log 2π + Σ_i log U_k[i, i]`; a
//! variational (Bayesian) mixture adds its own digamma terms. Python computes c_k, so one kernel
//! serves every estimator. The point is centred before it is multiplied (no `x U − μ U`
//! cancellation) and the lower triangle of U_k is never read.

use crate::error::{check_len, KernelError};

/// A mixture of `n_components` Gaussians over `n_features` features in canonical form: the
/// same concept, and name, as Python's `_canonical.Components` and `_core.Components`.
#[derive(Debug, Clone)]
pub struct Components {
    n_components: usize,
    n_features: usize,
    /// c_k, shape (K,). −∞ is allowed (a component of weight zero).
    log_const: Vec<f64>,
    /// μ_k, shape (K, d), row-major.
    means: Vec<f64>,
    /// U_k, shape (K, d, d), row-major; only the upper triangle (j ≥ i) is used.
    prec_chol: Vec<f64>,
}

impl Components {
    /// Checks shapes and values and builds the mixture.
    ///
    /// `log_const` (K,), `means` (K·d), `prec_chol` (K·d·d). Means and the upper triangles of
    /// the factors must be finite, constants must not be NaN or +∞.
    pub fn new(
        n_components: usize,
        n_features: usize,
        log_const: Vec<f64>,
        means: Vec<f64>,
        prec_chol: Vec<f64>,
    ) -> Result<Self, KernelError> {
        if n_components == 0 || n_features == 0 {
            return Err(KernelError::Shape(format!(
                "a mixture needs at least one component and one feature, got {n_components} \
                 components of {n_features} features"
            )));
        }
        check_len("log_const", log_const.len(), n_components)?;
        check_len("means", means.len(), n_components * n_features)?;
        check_len(
            "prec_chol",
            prec_chol.len(),
            n_components * n_features * n_features,
        )?;
        if log_const.iter().any(|c| c.is_nan() || *c == f64::INFINITY) {
            return Err(KernelError::Value(
                "log_const must not contain NaN or +inf".into(),
            ));
        }
        if means.iter().any(|m| !m.is_finite()) {
            return Err(KernelError::Value("means must be finite".into()));
        }
        let d = n_features;
        let upper_finite = prec_chol
            .chunks_exact(d * d)
            .all(|u| (0..d).all(|i| u[i * d + i..(i + 1) * d].iter().all(|v| v.is_finite())));
        if !upper_finite {
            return Err(KernelError::Value(
                "precision Cholesky factors must be finite".into(),
            ));
        }
        Ok(Self {
            n_components,
            n_features,
            log_const,
            means,
            prec_chol,
        })
    }

    pub fn n_components(&self) -> usize {
        self.n_components
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// μ_k, shape (K, d), row-major.
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// c_k, shape (K,).
    pub fn log_const(&self) -> &[f64] {
        &self.log_const
    }

    /// U_k, shape (K, d, d), row-major (only the upper triangle is meaningful).
    pub fn prec_chol(&self) -> &[f64] {
        &self.prec_chol
    }

    /// Writes l_k(x) for every component into `out` (len K).
    ///
    /// `x` has `n_features` values; `y` is scratch space of `n_features` values.
    pub fn log_probs(&self, x: &[f64], out: &mut [f64], y: &mut [f64]) {
        let d = self.n_features;
        let comps = self
            .means
            .chunks_exact(d)
            .zip(self.prec_chol.chunks_exact(d * d))
            .zip(&self.log_const);
        for (((mu, u), c), o) in comps.zip(out.iter_mut()) {
            // y = (x − μ)ᵀ U, accumulated row by row of the upper triangle.
            y.fill(0.0);
            for i in 0..d {
                let delta = x[i] - mu[i];
                let row = &u[i * d..(i + 1) * d];
                for j in i..d {
                    y[j] += delta * row[j];
                }
            }
            let maha: f64 = y.iter().map(|v| v * v).sum();
            *o = c - 0.5 * maha;
        }
    }

    /// The cold path of the kernels where no log-density is above −∞ (every squared distance
    /// overflowed): rewrites `out` (len K) as [`nearest_log_probs`] describes. `y` is scratch
    /// space of `n_features` values.
    pub fn nearest_log_probs(&self, x: &[f64], out: &mut [f64], y: &mut [f64]) {
        let d = self.n_features;
        let comps = self
            .means
            .chunks_exact(d)
            .zip(self.prec_chol.chunks_exact(d * d));
        let wide: Vec<Wide> = comps.map(|(mu, u)| wide_maha(x, mu, u, y)).collect();
        nearest_log_probs(&self.log_const, &wide, out);
    }

    /// The same mixture as a [`Planar`] structure of arrays; only for two features.
    pub fn planar(&self) -> Result<Planar, KernelError> {
        if self.n_features != 2 {
            return Err(KernelError::Shape(format!(
                "a pixel grid needs a mixture over 2 features, got {}",
                self.n_features
            )));
        }
        let mut p = Planar::with_capacity(self.n_components);
        for k in 0..self.n_components {
            let mu = &self.means[2 * k..2 * k + 2];
            let u = &self.prec_chol[4 * k..4 * k + 4];
            p.push(k, self.log_const[k], mu[0], mu[1], u[0], u[1], u[3]);
        }
        Ok(p)
    }
}

/// A mixture over two features, stored as a structure of arrays so that the loop over
/// components vectorises. Component i of this set is component `index[i]` of the full mixture
/// (a tile's candidate list is a subset).
#[derive(Debug, Clone, Default)]
pub struct Planar {
    pub index: Vec<usize>,
    pub c: Vec<f64>,
    pub mx: Vec<f64>,
    pub my: Vec<f64>,
    /// U = [[u00, u01], [0, u11]].
    pub u00: Vec<f64>,
    pub u01: Vec<f64>,
    pub u11: Vec<f64>,
}

impl Planar {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            index: Vec::with_capacity(n),
            c: Vec::with_capacity(n),
            mx: Vec::with_capacity(n),
            my: Vec::with_capacity(n),
            u00: Vec::with_capacity(n),
            u01: Vec::with_capacity(n),
            u11: Vec::with_capacity(n),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, index: usize, c: f64, mx: f64, my: f64, u00: f64, u01: f64, u11: f64) {
        self.index.push(index);
        self.c.push(c);
        self.mx.push(mx);
        self.my.push(my);
        self.u00.push(u00);
        self.u01.push(u01);
        self.u11.push(u11);
    }

    pub fn len(&self) -> usize {
        self.c.len()
    }

    pub fn is_empty(&self) -> bool {
        self.c.is_empty()
    }

    /// [`Components::nearest_log_probs`] for the components of this set at (x, y), into `out`
    /// (len `self.len()`), with the same arithmetic as the general form for two features.
    pub fn nearest_log_probs(&self, x: f64, y: f64, out: &mut [f64]) {
        let mut scratch = [0.0; 2];
        let wide: Vec<Wide> = (0..self.len())
            .map(|i| {
                let u = [self.u00[i], self.u01[i], 0.0, self.u11[i]];
                wide_maha(&[x, y], &[self.mx[i], self.my[i]], &u, &mut scratch)
            })
            .collect();
        nearest_log_probs(&self.c, &wide, out);
    }

    /// The components at positions `which` of this set, in that order, into `out` (its storage
    /// is reused from one sub-tile to the next).
    pub fn subset_into(&self, which: &[usize], out: &mut Planar) {
        out.index.clear();
        out.c.clear();
        out.mx.clear();
        out.my.clear();
        out.u00.clear();
        out.u01.clear();
        out.u11.clear();
        for &i in which {
            out.push(
                self.index[i],
                self.c[i],
                self.mx[i],
                self.my[i],
                self.u00[i],
                self.u01[i],
                self.u11[i],
            );
        }
    }

    /// Writes l_i(xs[p], y) for every component i of the set and lane p into
    /// `out[i * LANES + p]` (len `self.len() * LANES`): one row of pixels at once, so that the
    /// loop over lanes has a fixed length and vectorises whatever the number of components.
    #[inline(always)]
    pub fn log_probs_lanes<const LANES: usize>(&self, xs: &[f64; LANES], y: f64, out: &mut [f64]) {
        let n = self.len();
        let (c, mx, my) = (&self.c[..n], &self.mx[..n], &self.my[..n]);
        let (u00, u01, u11) = (&self.u00[..n], &self.u01[..n], &self.u11[..n]);
        for (i, lanes) in out[..n * LANES].chunks_exact_mut(LANES).enumerate() {
            let dy = y - my[i];
            for (o, &x) in lanes.iter_mut().zip(xs) {
                let dx = x - mx[i];
                let a = dx * u00[i];
                let b = dx * u01[i] + dy * u11[i];
                *o = c[i] - 0.5 * (a * a + b * b);
            }
        }
    }

    /// Writes l_i(x, y) for every component of the set into `out` (len `self.len()`): one
    /// pixel, with the arithmetic of [`Planar::log_probs_lanes`].
    pub fn log_probs(&self, x: f64, y: f64, out: &mut [f64]) {
        self.log_probs_lanes(&[x], y, out);
    }
}

/// A non-negative number that may lie beyond the range of f64: `mantissa · 2^exponent` with
/// `mantissa` in [1, 2), or zero. The derived order (exponent, then mantissa) is the order of
/// the values.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Wide {
    exponent: i64,
    mantissa: f64,
}

impl Wide {
    const ZERO: Wide = Wide {
        exponent: i64::MIN,
        mantissa: 0.0,
    };

    /// q · 2^shift, for a finite q ≥ 0 (anything else counts as zero: it cannot occur).
    fn new(q: f64, shift: i64) -> Self {
        if !(q > 0.0 && q.is_finite()) {
            return Self::ZERO;
        }
        // A subnormal q first becomes normal (multiplying by 2⁶⁴ is exact).
        let (q, shift) = if q < f64::MIN_POSITIVE {
            (q * TWO_64, shift - 64)
        } else {
            (q, shift)
        };
        let bits = q.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
        let mantissa = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
        Self {
            exponent: exponent + shift,
            mantissa,
        }
    }
}

const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// e such that 2^e ≤ v < 2^(e+1), for a finite v > 0 (0 for anything else), clamped to
/// [−1000, 1000] so that 2^−e is a normal number.
fn binary_exponent(v: f64) -> i64 {
    if !(v > 0.0 && v.is_finite()) {
        return 0;
    }
    let raw = ((v.to_bits() >> 52) & 0x7ff) as i64;
    (raw - 1023).clamp(-1000, 1000)
}

/// 2^e for e in [−1022, 1023].
fn power_of_two(e: i64) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// ‖(x − μ)ᵀ U‖² for one component (U row-major d × d, upper triangle read), as a [`Wide`]
/// that does not overflow: x and μ are scaled by 2^−a and U by 2^−b (exact, powers of two)
/// so that their largest entries are about 1, and the scaled square is shifted back by 2(a + b)
/// in the exponent. The cold path only: the ordinary path is [`Components::log_probs`].
pub fn wide_maha(x: &[f64], mu: &[f64], u: &[f64], y: &mut [f64]) -> Wide {
    let d = mu.len();
    let largest = |m: f64, v: &f64| if v.abs() > m { v.abs() } else { m };
    let a = binary_exponent(x.iter().chain(mu).fold(0.0, largest));
    let upper = (0..d).flat_map(|i| &u[i * d + i..(i + 1) * d]);
    let b = binary_exponent(upper.fold(0.0, largest));
    let (sx, su) = (power_of_two(-a), power_of_two(-b));
    y.fill(0.0);
    for i in 0..d {
        let delta = x[i] * sx - mu[i] * sx;
        let row = &u[i * d..(i + 1) * d];
        for j in i..d {
            y[j] += delta * (row[j] * su);
        }
    }
    let q: f64 = y.iter().map(|v| v * v).sum();
    Wide::new(q, 2 * (a + b))
}

/// The cold path of every kernel, for a point where no component's log-density
/// c_k − ½ q_k is above −∞ because every squared distance q_k overflowed (the README's
/// promise: far away, the nearest component, in Mahalanobis terms and with its weight, takes
/// all the responsibility).
///
/// There, any difference between the q_k dwarfs the differences between the constants c_k, so
/// the components whose q_k (`wide`, compared exactly without overflow) is smallest get
/// `out[k] = c_k` and every other component −∞: the ordinary reductions then give them all the
/// responsibility, shared by weight between exact ties (e.g. two components with the same mean
/// and covariance). Components of weight zero (c_k = −∞) are never chosen. The values are not
/// log-densities (those are −∞): kernels that report a density keep −∞.
pub fn nearest_log_probs(c: &[f64], wide: &[Wide], out: &mut [f64]) {
    let mut nearest: Option<Wide> = None;
    for (&ck, &w) in c.iter().zip(wide) {
        if ck > f64::NEG_INFINITY && nearest.is_none_or(|n| w < n) {
            nearest = Some(w);
        }
    }
    for ((o, &ck), &w) in out.iter_mut().zip(c).zip(wide) {
        *o = if Some(w) == nearest {
            ck
        } else {
            f64::NEG_INFINITY
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_component() -> Components {
        // Σ_0 = I, Σ_1 = diag(4, 1/4): U_1 = diag(1/2, 2).
        Components::new(
            2,
            2,
            vec![-1.0, -2.0],
            vec![0.0, 0.0, 3.0, -1.0],
            vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 2.0],
        )
        .unwrap()
    }

    #[test]
    fn log_probs_matches_hand_computation() {
        let m = two_component();
        let mut out = [0.0; 2];
        let mut y = [0.0; 2];
        m.log_probs(&[1.0, 2.0], &mut out, &mut y);
        // ‖(1, 2)‖² = 5; ((1 − 3)/2)² + ((2 + 1)·2)² = 1 + 36.
        assert_eq!(out, [-1.0 - 2.5, -2.0 - 18.5]);
    }

    #[test]
    fn lower_triangle_is_ignored() {
        let a = Components::new(1, 2, vec![0.0], vec![0.0, 0.0], vec![1.0, 0.5, 0.0, 2.0]).unwrap();
        let b =
            Components::new(1, 2, vec![0.0], vec![0.0, 0.0], vec![1.0, 0.5, 99.0, 2.0]).unwrap();
        let (mut la, mut lb, mut y) = ([0.0], [0.0], [0.0; 2]);
        a.log_probs(&[0.3, -0.7], &mut la, &mut y);
        b.log_probs(&[0.3, -0.7], &mut lb, &mut y);
        assert_eq!(la, lb);
    }

    #[test]
    fn planar_agrees_with_general_form() {
        let m =
            Components::new(1, 2, vec![0.25], vec![1.5, -2.0], vec![0.7, -0.3, 0.0, 1.9]).unwrap();
        let p = m.planar().unwrap();
        let (mut a, mut b, mut y) = ([0.0], [0.0], [0.0; 2]);
        m.log_probs(&[4.0, 0.5], &mut a, &mut y);
        p.log_probs(4.0, 0.5, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert!(matches!(
            Components::new(2, 2, vec![0.0], vec![0.0; 4], vec![1.0; 8]),
            Err(KernelError::Shape(_))
        ));
        assert!(matches!(
            Components::new(1, 1, vec![f64::NAN], vec![0.0], vec![1.0]),
            Err(KernelError::Value(_))
        ));
        assert!(matches!(
            Components::new(1, 1, vec![0.0], vec![f64::INFINITY], vec![1.0]),
            Err(KernelError::Value(_))
        ));
        assert!(matches!(
            Components::new(0, 1, vec![], vec![], vec![]),
            Err(KernelError::Shape(_))
        ));
        assert!(Components::new(1, 1, vec![f64::NEG_INFINITY], vec![0.0], vec![1.0]).is_ok());
        assert!(matches!(
            two_component().planar().map(|_| ()).and(
                Components::new(1, 3, vec![0.0], vec![0.0; 3], vec![1.0; 9])
                    .unwrap()
                    .planar()
                    .map(|_| ())
            ),
            Err(KernelError::Shape(_))
        ));
    }

    /// The issue's example: equal weights, variances 1 and 4 at the origin; far away the wider
    /// component must win even where both squared distances overflow.
    #[test]
    fn nearest_wins_where_every_distance_overflows() {
        let c0 = 0.5f64.ln() - (2.0 * std::f64::consts::PI).ln();
        let c1 = c0 - 4.0f64.ln();
        let m = Components::new(
            2,
            2,
            vec![c0, c1],
            vec![0.0; 4],
            vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.5],
        )
        .unwrap();
        let p = m.planar().unwrap();
        let (mut l, mut y, mut lp) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        for x in [[1e155, 1e155], [1e300, -1e300], [-1.7e308, 3.0]] {
            m.log_probs(&x, &mut l, &mut y);
            assert_eq!(l, [f64::NEG_INFINITY; 2]);
            m.nearest_log_probs(&x, &mut l, &mut y);
            assert_eq!(l, [f64::NEG_INFINITY, c1]);
            p.nearest_log_probs(x[0], x[1], &mut lp);
            assert_eq!(lp, l);
        }
        // Exact ties keep both constants; zero weights are never chosen.
        let tied = Components::new(2, 1, vec![-1.0, -2.0], vec![0.0, 0.0], vec![1.0, 1.0]).unwrap();
        let (mut l, mut y) = ([0.0; 2], [0.0]);
        tied.nearest_log_probs(&[1e300], &mut l, &mut y);
        assert_eq!(l, [-1.0, -2.0]);
        let zero = Components::new(
            2,
            1,
            vec![f64::NEG_INFINITY, -2.0],
            vec![0.0; 2],
            vec![9.0, 1.0],
        )
        .unwrap();
        zero.nearest_log_probs(&[1e300], &mut l, &mut y);
        assert_eq!(l, [f64::NEG_INFINITY, -2.0]);
    }

    #[test]
    fn wide_distances_compare_like_the_true_values() {
        let q = |x: f64, u: f64| wide_maha(&[x], &[0.0], &[u], &mut [0.0]);
        // (x u)² for values far beyond f64, and a subnormal one.
        assert!(q(1e200, 1.0) < q(1e200, 1.5));
        assert!(q(1e200, 1.0) < q(1e201, 1.0));
        assert!(q(1e-200, 1e-150) < q(1e-200, 2e-150));
        assert_eq!(q(3.0, 1.0), Wide::new(9.0, 0));
        assert_eq!(q(0.0, 1.0), Wide::ZERO);
        assert_eq!(q(1e300, 1e10), q(1e10, 1e300));
    }
}
