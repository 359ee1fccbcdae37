//! Bounds of the components' log-densities over a node's box (see the module documentation of
//! [`super`]), eight components at a time: the costliest part of the driver after the
//! evaluation itself.

// Loops over the lanes index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use super::{Driver, PointReducer, LANES};
use crate::cull::{best_lower, keep, Culling};
use crate::mixture::Components;
use crate::specialise::{fixed, specialise};

/// Relative rounding error allowed, per feature, between a bound and the kernel's value of
/// the quadratic (a few ulps per feature are enough; this is a thousand).
const ROUNDING: f64 = 1e-13;

/// Per component and feature, the Euclidean and l1 norms of row i of U_k (how far the box's
/// extent along feature i can move the Mahalanobis distance, and the size of the terms that
/// round); per feature, the median of the former over components (the splitting weight).
pub(super) struct Geometry {
    pub(super) norm2: Vec<f64>,
    pub(super) norm1: Vec<f64>,
    pub(super) weight: Vec<f64>,
}

impl Geometry {
    pub(super) fn new(mixture: &Components) -> Self {
        let (k, d) = (mixture.n_components(), mixture.n_features());
        let mut norm2 = Vec::with_capacity(k * d);
        let mut norm1 = Vec::with_capacity(k * d);
        for u in mixture.prec_chol().chunks_exact(d * d) {
            for i in 0..d {
                let row = &u[i * d + i..(i + 1) * d];
                norm2.push(row.iter().map(|v| v * v).sum::<f64>().sqrt());
                norm1.push(row.iter().map(|v| v.abs()).sum::<f64>());
            }
        }
        let weight = (0..d)
            .map(|i| {
                let mut column: Vec<f64> = norm2.iter().skip(i).step_by(d).copied().collect();
                let mid = column.len() / 2;
                *column.select_nth_unstable_by(mid, f64::total_cmp).1
            })
            .collect();
        Self {
            norm2,
            norm1,
            weight,
        }
    }
}

impl<T: Send, R: PointReducer<T>> Driver<'_, T, R> {
    /// The components of `among` that may matter in the box [lo, hi], by `culling`; the
    /// floor of those it leaves out: by the exact rule, each is below it at every point of the
    /// box (the best lower bound plus the threshold; −∞ when none is left out); and the
    /// component of the best lower bound (`usize::MAX` for none).
    pub(super) fn select(
        &self,
        lo: &[f64],
        hi: &[f64],
        among: &[usize],
        culling: &Culling,
    ) -> (Vec<usize>, f64, usize) {
        let centre: Vec<f64> = lo.iter().zip(hi).map(|(a, b)| 0.5 * (a + b)).collect();
        // Rounded up so the box [c − h, c + h] holds [lo, hi] despite the rounding of c.
        let half: Vec<f64> = lo
            .iter()
            .zip(hi)
            .zip(&centre)
            .map(|((a, b), c)| (b - c).max(c - a))
            .collect();
        let mut bounds = vec![(0.0, 0.0); among.len()];
        self.bounds_into(among, &centre, &half, &mut bounds);
        let kept = keep(among, &bounds, culling);
        let lower = best_lower(&bounds);
        let floor = if kept.len() < among.len() {
            lower + culling.threshold
        } else {
            f64::NEG_INFINITY
        };
        let best = among
            .iter()
            .zip(&bounds)
            .find(|(_, b)| b.0 == lower)
            .map_or(usize::MAX, |(&k, _)| k);
        (kept, floor, best)
    }

    /// [`Self::box_bounds`] of every component of `among` into `bounds`: eight components at
    /// a time for up to 8 features (compiled with AVX2 where the CPU has it), one at a time
    /// above. The same bounds either way.
    pub(super) fn bounds_into(
        &self,
        among: &[usize],
        centre: &[f64],
        half: &[f64],
        bounds: &mut [(f64, f64)],
    ) {
        if self.d > 8 {
            for (b, &k) in bounds.iter_mut().zip(among) {
                *b = self.box_bounds::<0>(k, centre, half);
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if self.avx2 {
                // SAFETY: `avx2` is true only when the CPU supports AVX2 (`has_avx2`).
                unsafe { self.bounds_lanes_avx2(among, centre, half, bounds) };
                return;
            }
        }
        self.bounds_lanes_dispatch(among, centre, half, bounds);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn bounds_lanes_avx2(
        &self,
        among: &[usize],
        centre: &[f64],
        half: &[f64],
        bounds: &mut [(f64, f64)],
    ) {
        self.bounds_lanes_dispatch(among, centre, half, bounds);
    }

    #[inline(always)]
    fn bounds_lanes_dispatch(
        &self,
        among: &[usize],
        centre: &[f64],
        half: &[f64],
        bounds: &mut [(f64, f64)],
    ) {
        // Only called for 1 to 8 features.
        specialise!(self.d, D => {
            for (ks, out) in among.chunks(LANES).zip(bounds.chunks_mut(LANES)) {
                self.box_bounds_lanes::<D>(ks, centre, half, out);
            }
        });
    }

    /// [`Self::box_bounds`] of up to [`LANES`] components `ks` at once (the same operations,
    /// lane by lane), into `out`.
    #[inline(always)]
    fn box_bounds_lanes<const D: usize>(
        &self,
        ks: &[usize],
        centre: &[f64],
        half: &[f64],
        out: &mut [(f64, f64)],
    ) {
        let d = D;
        let (centre, half) = (&centre[..d], &half[..d]);
        let (means, factors) = (self.mixture.means(), self.mixture.prec_chol());
        let (norm2, norm1) = (&self.geometry.norm2, &self.geometry.norm1);
        let k: [usize; LANES] = std::array::from_fn(|p| ks[p.min(ks.len() - 1)]);
        let mut offset = [[0.0; LANES]; D];
        for i in 0..d {
            for p in 0..LANES {
                offset[i][p] = centre[i] - means[k[p] * d + i];
            }
        }
        let (mut z2, mut lo2, mut hi2) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
        for j in 0..d {
            let (mut yj, mut rj) = ([0.0; LANES], [0.0; LANES]);
            for i in 0..=j {
                for p in 0..LANES {
                    let uij = factors[k[p] * d * d + i * d + j];
                    yj[p] += offset[i][p] * uij;
                    rj[p] += half[i] * uij.abs();
                }
            }
            for p in 0..LANES {
                z2[p] += yj[p] * yj[p];
                let a = yj[p].abs();
                let near = if a - rj[p] > 0.0 { a - rj[p] } else { 0.0 };
                let far = a + rj[p];
                lo2[p] += near * near;
                hi2[p] += far * far;
            }
        }
        let (mut rho, mut size) = ([0.0; LANES], [0.0; LANES]);
        for i in 0..d {
            for p in 0..LANES {
                rho[p] += half[i] * norm2[k[p] * d + i];
                size[p] += (offset[i][p].abs() + half[i]) * norm1[k[p] * d + i];
            }
        }
        let consts = self.mixture.log_const();
        for (p, o) in out.iter_mut().enumerate() {
            let c = consts[k[p]];
            let size2 = size[p] * size[p];
            let slack = ROUNDING * d as f64 * size2;
            *o = if !size2.is_finite() {
                (f64::NEG_INFINITY, c)
            } else {
                let z = z2[p].sqrt();
                let whole_min = if z > rho[p] {
                    (z - rho[p]) * (z - rho[p])
                } else {
                    0.0
                };
                let whole_max = (z + rho[p]) * (z + rho[p]);
                let q_min = whole_min.max(lo2[p]);
                let q_max = whole_max.min(hi2[p]);
                (c - 0.5 * q_max - slack, (c - 0.5 * q_min + slack).min(c))
            };
        }
    }

    /// Bounds of component k's log-density over the box of `centre` and half-widths `half`
    /// (module documentation).
    /// `D` is the number of features or 0 (see [`specialise!`]): unrolled loops for the
    /// usual dimensions, the same operations for any.
    #[inline(always)]
    pub(super) fn box_bounds<const D: usize>(
        &self,
        k: usize,
        centre: &[f64],
        half: &[f64],
    ) -> (f64, f64) {
        let d = fixed::<D>(self.d);
        let (centre, half) = (&centre[..d], &half[..d]);
        let mu = &self.mixture.means()[k * d..(k + 1) * d];
        let u = &self.mixture.prec_chol()[k * d * d..(k + 1) * d * d];
        let norm2 = &self.geometry.norm2[k * d..(k + 1) * d];
        let norm1 = &self.geometry.norm1[k * d..(k + 1) * d];
        // Two bounds on the quadratic, each tighter in its own cases; both hold, so the
        // tighter of each pair is kept. Per coordinate j of y = (x − μ)ᵀU: over the box, y_j
        // lies within r_j = Σ_i h_i |U_ij| of its value at the centre, so y_j² is between
        // (|y_j| − r_j)₊² and (|y_j| + r_j)². As a whole: ‖y‖ is within ρ of z (above).
        let (mut z2, mut lo2, mut hi2) = (0.0, 0.0, 0.0);
        for j in 0..d {
            let (mut yj, mut rj) = (0.0, 0.0);
            for i in 0..=j {
                yj += (centre[i] - mu[i]) * u[i * d + j];
                rj += half[i] * u[i * d + j].abs();
            }
            z2 += yj * yj;
            let near = (yj.abs() - rj).max(0.0);
            let far = yj.abs() + rj;
            lo2 += near * near;
            hi2 += far * far;
        }
        let (mut rho, mut size) = (0.0, 0.0);
        for i in 0..d {
            rho += half[i] * norm2[i];
            size += ((centre[i] - mu[i]).abs() + half[i]) * norm1[i];
        }
        let c = self.mixture.log_const()[k];
        // Every term of the kernel's quadratic, and of these bounds, is at most size² in
        // magnitude: their rounding errors are a few ulps of it per feature.
        // Where size² overflows, z² or a bound may overflow at the box's centre although the
        // points' own distances do not (a box reaching 1e154 around points at 1e143): only the
        // trivial bounds hold then.
        let size2 = size * size;
        let slack = ROUNDING * d as f64 * size2;
        if !size2.is_finite() {
            return (f64::NEG_INFINITY, c);
        }
        let z = z2.sqrt();
        let whole_min = if z > rho { (z - rho) * (z - rho) } else { 0.0 };
        let whole_max = (z + rho) * (z + rho);
        let q_min = whole_min.max(lo2);
        let q_max = whole_max.min(hi2);
        (c - 0.5 * q_max - slack, (c - 0.5 * q_min + slack).min(c))
    }
}
