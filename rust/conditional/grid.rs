//! The conditional-mean kernel on a pixel grid whose (x, y) are the two given features: each
//! sub-tile evaluates its candidates' regressions once, at its centre, and each pixel adds the
//! gain times its offset (see the [`super`] documentation for the quantities).

// Loops over the lanes of a row index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use super::{exact_cutoff, grid_culling, Regression};
use crate::density::peak;
use crate::error::KernelError;
use crate::evaluate::{for_each_pixel, Reducer, Row, Store, LANES};
use crate::fastmath::weights_into;
use crate::grid::{Axes, Window};
use crate::interrupt::Stop;
use crate::mixture::Planar;
use crate::specialise::{fixed, specialise};

/// Scratch space of [`ConditionalGrid`]: the sub-tile's regressions laid out for the pixel
/// loop, and one pixel's log-densities and weights.
struct GridScratch {
    /// Row k (4m values) for candidate k: a = μ_r + G (c − μ_g), the regression at the
    /// sub-tile's centre c; the two columns of G; the conditional variances.
    rows: Vec<f64>,
    centre: [f64; 2],
    /// One pixel's log-densities and weights (relative to its largest), one per candidate.
    l: Vec<f64>,
    w: Vec<f64>,
    /// Accumulators of [`pixel_moments`] where they do not fit on its stack.
    scratch: Vec<f64>,
}

/// Conditional mean (and std) at every pixel of a grid whose (x, y) are the given features.
///
/// Each sub-tile evaluates its candidates' regressions once, at its centre c, and each pixel
/// adds G (x − c).
struct ConditionalGrid<'a> {
    reg: &'a Regression,
    exact: f64,
    rtol: f64,
    with_std: bool,
}

impl<T: Store> Reducer<T> for ConditionalGrid<'_> {
    type State = GridScratch;

    fn state(&self) -> GridScratch {
        let m = self.reg.n_rest;
        GridScratch {
            rows: Vec::new(),
            centre: [0.0; 2],
            l: Vec::new(),
            w: Vec::new(),
            scratch: Vec::with_capacity(5 * m),
        }
    }

    fn prepare(&self, st: &mut GridScratch, cands: &Planar, centre: [f64; 2]) {
        let reg = self.reg;
        let m = reg.n_rest;
        st.centre = centre;
        st.rows.clear();
        for &k in &cands.index {
            let mu_g = &reg.means_given[2 * k..2 * k + 2];
            let gain = &reg.gain[2 * m * k..2 * m * (k + 1)];
            let (dx, dy) = (centre[0] - mu_g[0], centre[1] - mu_g[1]);
            for j in 0..m {
                st.rows
                    .push(reg.means_rest[m * k + j] + gain[2 * j] * dx + gain[2 * j + 1] * dy);
            }
            for j in 0..m {
                st.rows.push(gain[2 * j]);
            }
            for j in 0..m {
                st.rows.push(gain[2 * j + 1]);
            }
            st.rows.extend_from_slice(&reg.cond_var[m * k..m * (k + 1)]);
        }
    }

    #[inline(always)]
    fn row(&self, st: &mut GridScratch, row: &Row, cands: &Planar, mean: &mut [T], std: &mut [T]) {
        let m = self.reg.n_rest;
        let n = row.n;
        if n == 0 {
            // Culling always keeps a candidate; should it not, the pixel has no value at all.
            mean[..row.len * m].fill(T::store(f64::NAN));
            if self.with_std {
                std[..row.len * m].fill(T::store(f64::NAN));
            }
            return;
        }
        let cutoff = if self.rtol > 0.0 {
            self.exact.max((self.rtol / 2.0).ln() - (n as f64).ln())
        } else {
            self.exact
        };
        let dy = row.y - st.centre[1];
        st.l.resize(n, 0.0);
        st.w.resize(n, 0.0);
        // Pixel by pixel: the weights of all candidates at once (this loop vectorises over
        // candidates), then the sums in candidate order. A skipped candidate adds exact zeros
        // (its weight is 0), so the sums are those over every component. The peak weighs
        // exactly 1, even when every l is −∞.
        for p in 0..row.len {
            for (v, lanes) in st.l.iter_mut().zip(row.l.chunks_exact(LANES)) {
                *v = lanes[p];
            }
            let mut pk = peak(&st.l);
            if pk.max == f64::NEG_INFINITY {
                // Cold path: every squared distance overflowed; the nearest candidates decide.
                cands.nearest_log_probs(row.xs[p], row.y, &mut st.l);
                pk = peak(&st.l);
            }
            weights_into(&st.l, pk.max, cutoff, &mut st.w);
            st.w[pk.argmax] = 1.0;
            let dx = row.xs[p] - st.centre[0];
            let out = &mut mean[p * m..(p + 1) * m];
            let spread = if self.with_std {
                &mut std[p * m..(p + 1) * m]
            } else {
                &mut [][..]
            };
            // The colour case (m = 3) and its neighbours get fixed-size accumulators that
            // stay in registers; the arithmetic and its order are the same in every branch.
            let (w, rows, scratch) = (&st.w, &st.rows, &mut st.scratch);
            specialise!(m, M => pixel_moments::<M, T>(w, rows, m, dx, dy, scratch, out, spread));
        }
    }
}

/// Remaining features up to which [`pixel_moments`] keeps its accumulators on the stack.
const STACK_REST: usize = 8;

/// The conditional mean (and, if `std` is not empty, standard deviation) of one pixel at
/// offset (dx, dy) from its sub-tile's centre, from its weights `w` and the candidates'
/// `rows` (see [`GridScratch::rows`]).
///
/// `M` is the number `m` of remaining features, or 0 for any m (see [`specialise!`]): with `M`
/// fixed its 5M accumulators (3M for the weighted rows, M for the mean, M for the second
/// moments) live on the stack and its loops have a known length; with `M` = 0 they live in
/// `scratch`. The arithmetic and its order are the same either way.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pixel_moments<const M: usize, T: Store>(
    w: &[f64],
    rows: &[f64],
    m: usize,
    dx: f64,
    dy: f64,
    scratch: &mut Vec<f64>,
    mean: &mut [T],
    std: &mut [T],
) {
    let m = fixed::<M>(m);
    let mut stack = [0.0; 5 * STACK_REST];
    let buffer: &mut [f64] = if M == 0 || m > STACK_REST {
        scratch.clear();
        scratch.resize(5 * m, 0.0);
        scratch
    } else {
        &mut stack[..5 * m]
    };
    let (acc, rest) = buffer.split_at_mut(3 * m);
    let (mu, second) = rest.split_at_mut(m);
    let mut total = 0.0;
    for (&wk, coeffs) in w.iter().zip(rows.chunks_exact(4 * m)) {
        total += wk;
        for (a, &v) in acc.iter_mut().zip(&coeffs[..3 * m]) {
            *a += wk * v;
        }
    }
    for j in 0..m {
        mu[j] = (acc[j] + dx * acc[m + j] + dy * acc[2 * m + j]) / total;
        mean[j] = T::store(mu[j]);
    }
    if std.is_empty() {
        if mu.iter().any(|v| v.is_nan()) {
            pixel_moments_cold(w, rows, m, dx, dy, mean, std);
        }
        return;
    }
    for (&wk, coeffs) in w.iter().zip(rows.chunks_exact(4 * m)) {
        for j in 0..m {
            let mean_k = coeffs[j] + coeffs[m + j] * dx + coeffs[2 * m + j] * dy;
            let dev = mean_k - mu[j];
            second[j] += wk * (coeffs[3 * m + j] + dev * dev);
        }
    }
    let mut overflow = false;
    for j in 0..m {
        let var = second[j] / total;
        overflow |= !var.is_finite();
        std[j] = T::store(var.sqrt());
    }
    if overflow {
        pixel_moments_cold(w, rows, m, dx, dy, mean, std);
    }
}

/// The cold path of [`pixel_moments`] where a mean is NaN or a variance is not finite. Far
/// away the candidates' regressions can be huge and far apart: a candidate of weight zero then
/// adds 0 · ∞ = NaN, and the variance of those that count can overflow although the standard
/// deviation would not. Here only candidates of positive weight are summed, and each variance
/// is summed scaled by the largest deviation s (at least 1), its root multiplied by s.
#[cold]
#[inline(never)]
fn pixel_moments_cold<T: Store>(
    w: &[f64],
    rows: &[f64],
    m: usize,
    dx: f64,
    dy: f64,
    mean: &mut [T],
    std: &mut [T],
) {
    let total: f64 = w.iter().sum();
    let terms = || {
        w.iter()
            .zip(rows.chunks_exact(4 * m))
            .filter(|(&wk, _)| wk > 0.0)
    };
    for j in 0..m {
        let at = |c: &[f64]| c[j] + c[m + j] * dx + c[2 * m + j] * dy;
        let mu = terms().map(|(&wk, c)| wk * at(c)).sum::<f64>() / total;
        mean[j] = T::store(mu);
        if std.is_empty() {
            continue;
        }
        let scale = terms().map(|(_, c)| (at(c) - mu).abs()).fold(1.0, f64::max);
        let second: f64 = terms()
            .map(|(&wk, c)| {
                let dev = (at(c) - mu) / scale;
                wk * (c[3 * m + j] / scale / scale + dev * dev)
            })
            .sum();
        std[j] = T::store(scale * (second / total).sqrt());
    }
}

/// The same at every pixel centre of `window`, the pixel's (x, y) being the two given
/// features: `mean` and `std` have shape (window height, width, m); `std` may be empty.
///
/// Each sub-tile of pixels evaluates its candidates' regressions once, at its centre c, and
/// each pixel adds G (x − c): the same values as [`super::conditional_mean_points`] to rounding.
///
/// `rtol` = 0 is exact and culls only what the reduction skips anyway (bitwise the result of
/// evaluating every component). With `rtol` > 0, tile culling drops components whose weights
/// at every pixel of their sub-tile provably sum to at most rtol/2 of the largest (see
/// [`crate::cull`]), and each pixel skips candidates below (rtol/2)/n of its largest weight;
/// together at most rtol of the total weight is dropped, so the mean moves by at most
/// rtol/(1 − rtol) times the distance from the dropped components' regressions to the result.
#[allow(clippy::too_many_arguments)]
pub fn conditional_mean_grid<T: Store>(
    marginal: &Planar,
    reg: &Regression,
    axes: &Axes,
    window: &Window,
    rtol: f64,
    mean: &mut [T],
    std: &mut [T],
    stop: &Stop,
) -> Result<(), KernelError> {
    reg.check_marginal(marginal.len(), 2)?;
    let reducer = ConditionalGrid {
        reg,
        exact: exact_cutoff(reg.n_components),
        rtol,
        with_std: !std.is_empty(),
    };
    let culling = grid_culling(reg.n_components, rtol);
    for_each_pixel(
        marginal, axes, window, &culling, reg.n_rest, mean, std, &reducer, stop,
    )
}
