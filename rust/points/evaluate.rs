//! Evaluating a leaf's candidates at its points, eight at a time, and handing them to the
//! reducer.

// Loops over the lanes index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;

use super::{Driver, Group, PointReducer, Scratch, Slots, LANES};
use crate::mixture::Components;
use crate::specialise::{fixed, specialise};

impl<T: Send, R: PointReducer<T>> Driver<'_, T, R> {
    /// Evaluates the candidates at the leaf's points, [`LANES`] at a time, and reduces:
    /// compiled twice, for the baseline CPU and with AVX2 where the machine has it, so that
    /// the reducers' lane loops (inlined here) use the wider vectors too. The same operations
    /// in the same order either way (no fused multiply-add): the same bits.
    pub(super) fn evaluate_leaf(&self, rows: &[usize], cands: &[usize], s: &mut Scratch<R::State>) {
        #[cfg(target_arch = "x86_64")]
        {
            if self.avx2 {
                // SAFETY: `avx2` is true only when the CPU supports AVX2 (`has_avx2`).
                unsafe { self.evaluate_leaf_avx2(rows, cands, s) };
                return;
            }
        }
        self.evaluate_leaf_generic(rows, cands, s);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn evaluate_leaf_avx2(
        &self,
        rows: &[usize],
        cands: &[usize],
        s: &mut Scratch<R::State>,
    ) {
        self.evaluate_leaf_generic(rows, cands, s);
    }

    #[inline(always)]
    fn evaluate_leaf_generic(&self, rows: &[usize], cands: &[usize], s: &mut Scratch<R::State>) {
        let d = self.d;
        s.l.resize(cands.len() * LANES, 0.0);
        for chunk in rows.chunks(LANES) {
            let len = chunk.len();
            let mut lane_rows = [0; LANES];
            for p in 0..LANES {
                lane_rows[p] = chunk[p.min(len - 1)];
            }
            for i in 0..d {
                for p in 0..LANES {
                    s.xs[i * LANES + p] = self.x[lane_rows[p] * d + i];
                }
            }
            log_probs_lanes(self.mixture, cands, &s.xs, &mut s.l, &mut s.y, self.avx2);
            let (max, arg) = lane_peaks(&s.l);
            let group = Group {
                l: &s.l,
                cands,
                len,
                max,
                arg,
                xs: &s.xs,
                rows: lane_rows,
                x: self.x,
                d,
            };
            let mut slots = Slots {
                out: self.out.0,
                extra: self.out.1,
                has_extra: self.out.2,
                width: self.width,
                rows: lane_rows,
                len,
                _borrow: PhantomData,
            };
            self.reducer.group(&mut s.state, &group, &mut slots);
            for p in 0..len {
                if max[p] == f64::NEG_INFINITY {
                    let point = group.point(p);
                    self.mixture
                        .nearest_log_probs(point, &mut s.full, &mut s.full_y);
                    let (out, extra) = slots.get(p);
                    self.reducer
                        .point(&mut s.state, &s.full, point, lane_rows[p], out, extra);
                }
            }
        }
    }
}

/// Per lane, the largest value and the first candidate that reaches it (as
/// [`crate::density::peak`] finds it for one point). NaN never wins; a lane whose values are
/// all −∞ gets −∞ and candidate 0.
#[inline(always)]
pub(super) fn lane_peaks(l: &[f64]) -> ([f64; LANES], [usize; LANES]) {
    let mut max = [f64::NEG_INFINITY; LANES];
    let mut arg = [0usize; LANES];
    for (c, lanes) in l.chunks_exact(LANES).enumerate() {
        for p in 0..LANES {
            let better = lanes[p] > max[p];
            max[p] = if better { lanes[p] } else { max[p] };
            arg[p] = if better { c } else { arg[p] };
        }
    }
    (max, arg)
}

/// `l[c * LANES + p]` = l_k(x_p) for candidate c = component `cands[c]` and the lanes' points
/// `xs` (lane-major), with the arithmetic of [`Components::log_probs`]: compiled for the
/// baseline CPU and, where the machine has it, with AVX2 (the same operations in the same
/// order, no fused multiply-add: bitwise the same results).
pub(super) fn log_probs_lanes(
    mixture: &Components,
    cands: &[usize],
    xs: &[f64],
    l: &mut [f64],
    y: &mut [[f64; LANES]],
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2 {
            // SAFETY: `avx2` is true only when the CPU supports AVX2 (`has_avx2`).
            unsafe { log_probs_lanes_avx2(mixture, cands, xs, l, y) };
            return;
        }
    }
    let _ = avx2;
    log_probs_lanes_dispatch(mixture, cands, xs, l, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn log_probs_lanes_avx2(
    mixture: &Components,
    cands: &[usize],
    xs: &[f64],
    l: &mut [f64],
    y: &mut [[f64; LANES]],
) {
    log_probs_lanes_dispatch(mixture, cands, xs, l, y);
}

#[inline(always)]
fn log_probs_lanes_dispatch(
    mixture: &Components,
    cands: &[usize],
    xs: &[f64],
    l: &mut [f64],
    y: &mut [[f64; LANES]],
) {
    specialise!(mixture.n_features(), D => {
        if D == 0 {
            log_probs_lanes_fixed::<D>(mixture, cands, xs, l, y)
        } else {
            let mut stack = [[0.0; LANES]; D];
            log_probs_lanes_fixed::<D>(mixture, cands, xs, l, &mut stack)
        }
    })
}

#[inline(always)]
fn log_probs_lanes_fixed<const D: usize>(
    mixture: &Components,
    cands: &[usize],
    xs: &[f64],
    l: &mut [f64],
    y: &mut [[f64; LANES]],
) {
    let d = fixed::<D>(mixture.n_features());
    let y = &mut y[..d];
    let xs = &xs[..d * LANES];
    let (consts, means, prec) = (mixture.log_const(), mixture.means(), mixture.prec_chol());
    for (&k, out) in cands.iter().zip(l.chunks_exact_mut(LANES)) {
        let mu = &means[k * d..(k + 1) * d];
        let u = &prec[k * d * d..(k + 1) * d * d];
        // y = (x − μ)ᵀ U, accumulated row by row of the upper triangle, as for one point.
        for yj in y.iter_mut() {
            *yj = [0.0; LANES];
        }
        for i in 0..d {
            let mut delta = [0.0; LANES];
            for p in 0..LANES {
                delta[p] = xs[i * LANES + p] - mu[i];
            }
            for j in i..d {
                let uij = u[i * d + j];
                for p in 0..LANES {
                    y[j][p] += delta[p] * uij;
                }
            }
        }
        let mut maha = [0.0; LANES];
        for yj in y.iter() {
            for p in 0..LANES {
                maha[p] += yj[p] * yj[p];
            }
        }
        let c = consts[k];
        for p in 0..LANES {
            out[p] = c - 0.5 * maha[p];
        }
    }
}
