//! Pairwise Gaussian integrals between the components of two mixtures, reduced row by row.
//!
//! For components N_i = N(μ_i, Σ_i) of p and N_j = N(ν_j, Γ_j) of q, with log-weights ω_j of q,
//! [`pairwise_logsumexp`] writes one value per component i of p:
//!
//! ```text
//! Overlap:  out_i = log Σ_j exp(ω_j + log ∫ N_i N_j)       ∫ N_i N_j = N(μ_i; ν_j, Σ_i + Γ_j)
//! Kl:       out_i = log Σ_j exp(ω_j − KL(N_i ‖ N_j))
//! KL(N_i ‖ N_j) = ½ [tr(Γ_j⁻¹ Σ_i) + (μ_i − ν_j)ᵀ Γ_j⁻¹ (μ_i − ν_j) − d + log|Γ_j| − log|Σ_i|]
//! ```
//!
//! which is all the closed forms of `gmmfast.metrics` need: log ∫ p q = logsumexp_i(log w_i +
//! Overlap_i) (hence the L2 distance and the Cauchy–Schwarz divergence), and Hershey & Olsen's
//! variational KL from the Kl rows of (p, p) and (p, q). Memory: O(K_q) per thread, never a
//! K_p × K_q array; each row is a self-contained unit (the same bits for any number of
//! threads).
//!
//! Every pair is evaluated eight q-components at a time, lane-major: for Overlap a d × d
//! Cholesky factorisation of Σ_i + Γ_j and a forward substitution per pair; for Kl, with the
//! inverse factors L_Γj⁻¹ computed once, the products L_Γj⁻¹ L_Σi and L_Γj⁻¹ (μ_i − ν_j).

// Loops over lanes and matrix entries index several arrays by the same position.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use crate::error::{check_len, KernelError};
use crate::fastmath::exp_neg;
use crate::interrupt::Stop;
use crate::specialise::specialise;

/// q-components evaluated together.
const LANES: usize = 8;
/// Rows of the output per unit of parallel work (and per check of the stop flag).
const ROWS: usize = 16;
/// ln 2π.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Which integral [`pairwise_logsumexp`] reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Overlap,
    Kl,
}

/// Gaussians N(μ_k, Σ_k) with their lower Cholesky factors: `factor` (K, d, d) holds L_k with
/// Σ_k = L_k L_kᵀ (upper triangle 0), `inverse` L_k⁻¹ (lower), `log_det` log|Σ_k|.
pub struct Factored<'a> {
    n: usize,
    d: usize,
    means: &'a [f64],
    covariances: &'a [f64],
    factor: Vec<f64>,
    inverse: Vec<f64>,
    log_det: Vec<f64>,
}

impl<'a> Factored<'a> {
    /// Checks shapes and values (finite; each covariance symmetric positive definite, as its
    /// Cholesky factorisation finds it) and factors every covariance. `what` names the
    /// mixture in error messages.
    pub fn new(
        what: &str,
        d: usize,
        means: &'a [f64],
        covariances: &'a [f64],
    ) -> Result<Self, KernelError> {
        if d == 0 || means.is_empty() || means.len() % d != 0 {
            return Err(KernelError::Shape(format!(
                "{what}: means must have shape (n_components >= 1, n_features >= 1)"
            )));
        }
        let n = means.len() / d;
        check_len("covariances", covariances.len(), n * d * d)?;
        if means.iter().chain(covariances).any(|v| !v.is_finite()) {
            return Err(KernelError::Value(format!(
                "{what}: means and covariances must be finite"
            )));
        }
        let mut factor = vec![0.0; n * d * d];
        let mut inverse = vec![0.0; n * d * d];
        let mut log_det = vec![0.0; n];
        for k in 0..n {
            let s = &covariances[k * d * d..(k + 1) * d * d];
            let asymmetric = (0..d).any(|a| (0..a).any(|b| s[a * d + b] != s[b * d + a]));
            let l = &mut factor[k * d * d..(k + 1) * d * d];
            if asymmetric || !cholesky(d, s, l) {
                return Err(KernelError::Value(format!(
                    "{what}: covariance {k} is not symmetric positive definite"
                )));
            }
            invert_lower(d, l, &mut inverse[k * d * d..(k + 1) * d * d]);
            log_det[k] = 2.0 * (0..d).map(|a| l[a * d + a].ln()).sum::<f64>();
        }
        Ok(Self {
            n,
            d,
            means,
            covariances,
            factor,
            inverse,
            log_det,
        })
    }
}

/// L (lower, row-major) with S = L Lᵀ from the lower triangle of `s`; false unless every
/// pivot is positive and finite.
fn cholesky(d: usize, s: &[f64], l: &mut [f64]) -> bool {
    l.fill(0.0);
    for a in 0..d {
        for b in 0..=a {
            let mut v = s[a * d + b];
            for c in 0..b {
                v -= l[a * d + c] * l[b * d + c];
            }
            if a == b {
                if !(v > 0.0 && v.is_finite()) {
                    return false;
                }
                l[a * d + a] = v.sqrt();
            } else {
                l[a * d + b] = v / l[b * d + b];
            }
        }
    }
    true
}

/// M = L⁻¹ for L lower-triangular with a positive diagonal (column by column, forward
/// substitution on the unit vectors).
fn invert_lower(d: usize, l: &[f64], m: &mut [f64]) {
    m.fill(0.0);
    for col in 0..d {
        for a in col..d {
            let mut v = if a == col { 1.0 } else { 0.0 };
            for c in col..a {
                v -= l[a * d + c] * m[c * d + col];
            }
            m[a * d + col] = v / l[a * d + a];
        }
    }
}

/// The reduction of every row i of p against q (module documentation) into `out` (K_p,).
/// `log_weights_q` (K_q,) must not hold NaN or +∞ (−∞ is a component of weight zero).
pub fn pairwise_logsumexp(
    kind: Kind,
    p: &Factored,
    q: &Factored,
    log_weights_q: &[f64],
    out: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    if p.d != q.d {
        return Err(KernelError::Shape(format!(
            "the mixtures have {} and {} features",
            p.d, q.d
        )));
    }
    check_len("log_weights_q", log_weights_q.len(), q.n)?;
    check_len("out", out.len(), p.n)?;
    if log_weights_q
        .iter()
        .any(|w| w.is_nan() || *w == f64::INFINITY)
    {
        return Err(KernelError::Value(
            "log_weights_q must not contain NaN or +inf".into(),
        ));
    }
    out.par_chunks_mut(ROWS).enumerate().try_for_each_init(
        || vec![0.0; q.n.next_multiple_of(LANES)],
        |values, (chunk, rows)| {
            stop.check()?;
            for (r, o) in rows.iter_mut().enumerate() {
                let i = chunk * ROWS + r;
                specialise!(p.d, D => row::<D>(kind, p, q, i, log_weights_q, values));
                *o = log_sum_exp(&values[..q.n]);
            }
            Ok(())
        },
    )
}

/// log Σ exp(v) in order, from the largest (−∞ when every value is −∞).
fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
    if max == f64::NEG_INFINITY {
        return max;
    }
    let mut sum = 0.0;
    for &x in v {
        sum += exp_neg(x - max);
    }
    max + sum.ln()
}

/// Row i: values[j] = ω_j + log ∫ N_i N_j (Overlap) or ω_j − KL(N_i ‖ N_j) (Kl), for every j.
#[inline(always)]
fn row<const D: usize>(
    kind: Kind,
    p: &Factored,
    q: &Factored,
    i: usize,
    log_weights_q: &[f64],
    values: &mut [f64],
) {
    if D == 0 {
        let mut scratch = vec![0.0; 2 * p.d * p.d + 2 * p.d];
        for (j, v) in values[..q.n].iter_mut().enumerate() {
            *v = log_weights_q[j] + pair(kind, p, q, i, j, &mut scratch);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { row_avx2::<D>(kind, p, q, i, log_weights_q, values) };
            return;
        }
    }
    row_lanes::<D>(kind, p, q, i, log_weights_q, values);
}

/// [`row_lanes`] with AVX2 instructions (the same operations in the same order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_avx2<const D: usize>(
    kind: Kind,
    p: &Factored,
    q: &Factored,
    i: usize,
    log_weights_q: &[f64],
    values: &mut [f64],
) {
    row_lanes::<D>(kind, p, q, i, log_weights_q, values);
}

/// Row i for 1 ≤ D ≤ 8 features, eight j's at a time.
#[inline(always)]
fn row_lanes<const D: usize>(
    kind: Kind,
    p: &Factored,
    q: &Factored,
    i: usize,
    log_weights_q: &[f64],
    values: &mut [f64],
) {
    let dd = D * D;
    let mu = &p.means[i * D..(i + 1) * D];
    for (g, out) in values.chunks_exact_mut(LANES).enumerate() {
        let first = g * LANES;
        if first >= q.n {
            break;
        }
        // Lanes past the last component repeat it; their values are not read.
        let js: [usize; LANES] = std::array::from_fn(|lane| (first + lane).min(q.n - 1));
        let mut delta = [[0.0; LANES]; D];
        for a in 0..D {
            for lane in 0..LANES {
                delta[a][lane] = mu[a] - q.means[js[lane] * D + a];
            }
        }
        let log_n = match kind {
            Kind::Overlap => {
                overlap_lanes::<D>(&p.covariances[i * dd..(i + 1) * dd], q, &js, &delta)
            }
            Kind::Kl => {
                let quad = kl_lanes::<D>(&p.factor[i * dd..(i + 1) * dd], q, &js, &delta);
                std::array::from_fn(|lane| {
                    -0.5 * (quad[lane] - D as f64 + q.log_det[js[lane]] - p.log_det[i])
                })
            }
        };
        for lane in 0..LANES {
            out[lane] = log_weights_q[js[lane]] + log_n[lane];
        }
    }
}

/// log N(μ_i; ν_j, Σ_i + Γ_j) at eight j's: Cholesky of the sum, forward substitution.
#[inline(always)]
fn overlap_lanes<const D: usize>(
    s_i: &[f64],
    q: &Factored,
    js: &[usize; LANES],
    delta: &[[f64; LANES]; D],
) -> [f64; LANES] {
    let dd = D * D;
    // L, lower triangle, lane-major; inv[a] = 1 / L_aa.
    let mut l = [[[0.0; LANES]; D]; D];
    let mut inv = [[0.0; LANES]; D];
    let mut prod = [1.0; LANES];
    for a in 0..D {
        for b in 0..=a {
            let mut v = [0.0; LANES];
            for lane in 0..LANES {
                v[lane] = s_i[a * D + b] + q.covariances[js[lane] * dd + a * D + b];
            }
            for c in 0..b {
                for lane in 0..LANES {
                    v[lane] -= l[a][c][lane] * l[b][c][lane];
                }
            }
            if a == b {
                for lane in 0..LANES {
                    let r = v[lane].sqrt();
                    l[a][a][lane] = r;
                    inv[a][lane] = 1.0 / r;
                    prod[lane] *= r;
                }
            } else {
                for lane in 0..LANES {
                    l[a][b][lane] = v[lane] * inv[b][lane];
                }
            }
        }
    }
    // z = L⁻¹ δ, ‖z‖².
    let mut z = [[0.0; LANES]; D];
    let mut maha = [0.0; LANES];
    for a in 0..D {
        let mut v = delta[a];
        for c in 0..a {
            for lane in 0..LANES {
                v[lane] -= l[a][c][lane] * z[c][lane];
            }
        }
        for lane in 0..LANES {
            z[a][lane] = v[lane] * inv[a][lane];
            maha[lane] += z[a][lane] * z[a][lane];
        }
    }
    std::array::from_fn(|lane| {
        let diagonal: [f64; D] = std::array::from_fn(|a| l[a][a][lane]);
        -0.5 * (D as f64) * LN_2PI - half_log_det(prod[lane], &diagonal) - 0.5 * maha[lane]
    })
}

/// ½ log|S| = log Π L_aa from the diagonal of S's Cholesky factor: from the product when it
/// is comfortably a normal number (one logarithm), term by term otherwise.
#[inline(always)]
fn half_log_det(prod: f64, diagonal: &[f64]) -> f64 {
    if prod > 1e-290 && prod < 1e290 {
        prod.ln()
    } else {
        diagonal.iter().map(|v| v.ln()).sum()
    }
}

/// tr(Γ_j⁻¹ Σ_i) + (μ_i − ν_j)ᵀ Γ_j⁻¹ (μ_i − ν_j) at eight j's, as ‖L_Γj⁻¹ L_Σi‖²_F +
/// ‖L_Γj⁻¹ δ‖².
#[inline(always)]
fn kl_lanes<const D: usize>(
    l_i: &[f64],
    q: &Factored,
    js: &[usize; LANES],
    delta: &[[f64; LANES]; D],
) -> [f64; LANES] {
    let dd = D * D;
    let mut total = [0.0; LANES];
    for a in 0..D {
        // Row a of M = L_Γj⁻¹ (lower): entries c ≤ a.
        let mut m = [[0.0; LANES]; D];
        for c in 0..=a {
            for lane in 0..LANES {
                m[c][lane] = q.inverse[js[lane] * dd + a * D + c];
            }
        }
        // (M L_Σi)[a][b] = Σ_{c=b..a} M[a][c] L[c][b].
        for b in 0..=a {
            let mut v = [0.0; LANES];
            for c in b..=a {
                let lcb = l_i[c * D + b];
                for lane in 0..LANES {
                    v[lane] += m[c][lane] * lcb;
                }
            }
            for lane in 0..LANES {
                total[lane] += v[lane] * v[lane];
            }
        }
        // (M δ)[a].
        let mut v = [0.0; LANES];
        for c in 0..=a {
            for lane in 0..LANES {
                v[lane] += m[c][lane] * delta[c][lane];
            }
        }
        for lane in 0..LANES {
            total[lane] += v[lane] * v[lane];
        }
    }
    total
}

/// One pair, for any number of features (the path above 8, and the lanes' reference in the
/// tests): log ∫ N_i N_j (Overlap) or −KL(N_i ‖ N_j) (Kl). `scratch`: 2d² + 2d values.
fn pair(kind: Kind, p: &Factored, q: &Factored, i: usize, j: usize, scratch: &mut [f64]) -> f64 {
    let d = p.d;
    let dd = d * d;
    let (s, rest) = scratch.split_at_mut(dd);
    let (l, rest) = rest.split_at_mut(dd);
    let (delta, z) = rest.split_at_mut(d);
    for a in 0..d {
        delta[a] = p.means[i * d + a] - q.means[j * d + a];
    }
    match kind {
        Kind::Overlap => {
            for (e, (x, y)) in s.iter_mut().zip(
                p.covariances[i * dd..(i + 1) * dd]
                    .iter()
                    .zip(&q.covariances[j * dd..(j + 1) * dd]),
            ) {
                *e = x + y;
            }
            if !cholesky(d, s, l) {
                return f64::NAN;
            }
            let mut maha = 0.0;
            for a in 0..d {
                let mut v = delta[a];
                for c in 0..a {
                    v -= l[a * d + c] * z[c];
                }
                z[a] = v / l[a * d + a];
                maha += z[a] * z[a];
            }
            let half: f64 = (0..d).map(|a| l[a * d + a].ln()).sum();
            -0.5 * d as f64 * LN_2PI - half - 0.5 * maha
        }
        Kind::Kl => {
            let m = &q.inverse[j * dd..(j + 1) * dd];
            let li = &p.factor[i * dd..(i + 1) * dd];
            let mut quad = 0.0;
            for a in 0..d {
                for b in 0..=a {
                    let v: f64 = (b..=a).map(|c| m[a * d + c] * li[c * d + b]).sum();
                    quad += v * v;
                }
                let v: f64 = (0..=a).map(|c| m[a * d + c] * delta[c]).sum();
                quad += v * v;
            }
            -0.5 * (quad - d as f64 + q.log_det[j] - p.log_det[i])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixture(n: usize, d: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        // A small deterministic generator: covariances A Aᵀ + 0.1 I.
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let means: Vec<f64> = (0..n * d).map(|_| 2.0 * next()).collect();
        let mut covs = vec![0.0; n * d * d];
        for k in 0..n {
            let a: Vec<f64> = (0..d * d).map(|_| next()).collect();
            for r in 0..d {
                for c in 0..d {
                    let v: f64 = (0..d).map(|t| a[r * d + t] * a[c * d + t]).sum();
                    covs[k * d * d + r * d + c] = v + if r == c { 0.1 } else { 0.0 };
                }
            }
        }
        (means, covs)
    }

    #[test]
    fn lanes_match_the_pair_formula() {
        for d in 1..=9 {
            let (mp, cp) = mixture(3, d, 1 + d as u64);
            let (mq, cq) = mixture(11, d, 100 + d as u64);
            let p = Factored::new("p", d, &mp, &cp).unwrap();
            let q = Factored::new("q", d, &mq, &cq).unwrap();
            let w = vec![-(11f64).ln(); 11];
            for kind in [Kind::Overlap, Kind::Kl] {
                let mut out = vec![0.0; 3];
                pairwise_logsumexp(kind, &p, &q, &w, &mut out, &Stop::new()).unwrap();
                let mut scratch = vec![0.0; 2 * d * d + 2 * d];
                for i in 0..3 {
                    let v: Vec<f64> = (0..11)
                        .map(|j| w[j] + pair(kind, &p, &q, i, j, &mut scratch))
                        .collect();
                    let want = log_sum_exp(&v);
                    assert!(
                        (out[i] - want).abs() <= 1e-12 * want.abs().max(1.0),
                        "d={d} {kind:?} row {i}: {} vs {want}",
                        out[i]
                    );
                }
            }
        }
    }

    #[test]
    fn kl_of_a_component_with_itself_is_zero_and_overlap_matches_one_dimension() {
        let p = Factored::new("p", 1, &[0.5], &[4.0]).unwrap();
        let q = Factored::new("q", 1, &[-1.0], &[0.25]).unwrap();
        let mut out = [0.0];
        pairwise_logsumexp(Kind::Kl, &p, &p, &[0.0], &mut out, &Stop::new()).unwrap();
        assert_eq!(out[0], 0.0);
        pairwise_logsumexp(Kind::Overlap, &p, &q, &[0.0], &mut out, &Stop::new()).unwrap();
        // N(0.5; −1, 4.25).
        let want = -0.5 * (2.0 * std::f64::consts::PI * 4.25).ln() - 0.5 * 1.5f64.powi(2) / 4.25;
        assert!((out[0] - want).abs() < 1e-15, "{} vs {want}", out[0]);
    }

    #[test]
    fn bad_covariances_are_errors() {
        assert!(Factored::new("p", 2, &[0.0, 0.0], &[1.0, 2.0, 2.0, 1.0]).is_err());
        assert!(Factored::new("p", 2, &[0.0, 0.0], &[1.0, 0.5, 0.4, 1.0]).is_err());
        assert!(Factored::new("p", 1, &[f64::NAN], &[1.0]).is_err());
    }
}
