//! The score of a mixture, ∇ₓ log p(x), at arbitrary points and at pixel centres.
//!
//! With responsibilities r_k(x) and Λ_k = U_k U_kᵀ (the precision matrix),
//!
//! ```text
//! ∇ₓ log p(x) = Σ_k r_k(x) ∇ₓ log N(x; μ_k, Σ_k) = −Σ_k r_k(x) U_k y_k,   y_k = U_kᵀ (x − μ_k)
//! ```
//!
//! computed as the point kernels compute responsibilities (see [`crate::em`]): the terms
//! e^(l_k − m) above 2⁻⁵³ of the largest, the gradients weighted by them summed in component
//! order, divided by the terms' sum once. A term left out weighs less than e^(−37) of the
//! total, so it moves the score by less than e^(−37) ‖Λ_k (x − μ_k)‖: within rounding of the
//! largest terms of the sum. A point's score does not depend on the other points, their
//! order, the number of threads — nor on whether it is a pixel of a grid ([`grid`]) or a
//! row of points: every path performs the same operations in the same order ([`Lanes`]).
//!
//! Far from every component, where every squared distance overflows, log p rounds to −∞ but
//! the score stays finite: the nearest components (in the ranking of
//! [`crate::mixture::nearest_log_probs`]) take the point, and their gradients are computed on
//! the scaled offset (x − μ) / 2^e and the scaled factor U / 2^f, so that nothing overflows
//! before the final scaling (which gives ±∞ only when the score itself is beyond f64).

// Loops over lanes and features index several arrays by the same position.
#![allow(clippy::needless_range_loop)]

use crate::density::{density_culling, peak, relative_terms, Peak, NEGLIGIBLE};
use crate::error::{check_len, KernelError};
use crate::fastmath::exp_neg;
use crate::interrupt::Stop;
use crate::mixture::Components;
use crate::points::{for_each_point, Group, PointReducer, Slots, LANES};
use crate::specialise::{fixed, specialise};

mod grid;

pub use grid::score_grid;

/// Writes g = U Uᵀ δ for U upper-triangular (d × d, row-major; the lower triangle is not
/// read); `y` is scratch space of d values. The order of the operations is that of [`Lanes`].
#[inline(always)]
fn gradient<const D: usize>(d: usize, u: &[f64], delta: &[f64], y: &mut [f64], g: &mut [f64]) {
    let d = fixed::<D>(d);
    for j in 0..d {
        let mut s = delta[0] * u[j];
        for i in 1..=j {
            s += delta[i] * u[i * d + j];
        }
        y[j] = s;
    }
    for i in 0..d {
        let mut s = u[i * d + i] * y[i];
        for j in i + 1..d {
            s += u[i * d + j] * y[j];
        }
        g[i] = s;
    }
}

/// The running sums of the score at [`LANES`] points of `D` features (1 ≤ D ≤ 8): the
/// weighted gradients and the terms' sum, added candidate after candidate.
pub(crate) struct Lanes<const D: usize> {
    acc: [[f64; LANES]; D],
    sum: [f64; LANES],
}

impl<const D: usize> Lanes<D> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self {
            acc: [[0.0; LANES]; D],
            sum: [1.0; LANES],
        }
    }

    /// Adds candidate `c` at every lane: `l` its log-densities, `max`/`arg` the lanes' peaks
    /// (value and candidate), `xs[i][p]` feature i of lane p, `mu` (D) and `u` (D × D) its
    /// mean and factor.
    ///
    /// The weights are those of [`relative_terms`] (1 for the peak, which its sum leaves
    /// out, exp_neg(t) above [`NEGLIGIBLE`], 0 below), so a lane's sums are those of
    /// [`PointScore::point_score`] for the same point, whatever the other candidates.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        c: usize,
        l: &[f64],
        max: &[f64; LANES],
        arg: &[usize; LANES],
        xs: &[[f64; LANES]; D],
        mu: &[f64],
        u: &[f64],
    ) {
        let mut w = [0.0; LANES];
        for p in 0..LANES {
            let t = l[p] - max[p];
            let e = exp_neg(t);
            let term = if t > NEGLIGIBLE { e } else { 0.0 };
            self.sum[p] += if c != arg[p] { term } else { 0.0 };
            w[p] = if c == arg[p] { 1.0 } else { term };
        }
        let mut delta = [[0.0; LANES]; D];
        for i in 0..D {
            for p in 0..LANES {
                delta[i][p] = xs[i][p] - mu[i];
            }
        }
        // The lanes are the innermost loops (whole vectors, no partial stores); per lane the
        // operations are those of `gradient`, in its order.
        let mut y = [[0.0; LANES]; D];
        for j in 0..D {
            let u0j = u[j];
            for p in 0..LANES {
                y[j][p] = delta[0][p] * u0j;
            }
            for i in 1..=j {
                let uij = u[i * D + j];
                for p in 0..LANES {
                    y[j][p] += delta[i][p] * uij;
                }
            }
        }
        for i in 0..D {
            let mut g = [0.0; LANES];
            let uii = u[i * D + i];
            for p in 0..LANES {
                g[p] = uii * y[i][p];
            }
            for j in i + 1..D {
                let uij = u[i * D + j];
                for p in 0..LANES {
                    g[p] += uij * y[j][p];
                }
            }
            for p in 0..LANES {
                // A culled term's gradient may overflow: select, never multiply it by 0.
                self.acc[i][p] += if w[p] > 0.0 { w[p] * g[p] } else { 0.0 };
            }
        }
    }

    /// The score at lane `p` into `out` (D values).
    #[inline(always)]
    pub(crate) fn store(&self, p: usize, out: &mut [f64]) {
        for i in 0..D {
            out[i] = -(self.acc[i][p] / self.sum[p]);
        }
    }
}

/// The score as a point reduction: d values per point.
struct PointScore<'a> {
    mixture: &'a Components,
}

/// Scratch space: one point's values, the terms of its sum, y, g and the running gradient.
#[derive(Default)]
pub(crate) struct ScoreState {
    l: Vec<f64>,
    w: Vec<f64>,
    y: Vec<f64>,
    acc: Vec<f64>,
}

impl PointScore<'_> {
    /// Eight points' scores at once ([`Lanes`]), for 1 ≤ D ≤ 8 features.
    #[inline(always)]
    fn group_lanes<const D: usize>(&self, group: &Group, slots: &mut Slots<f64>) {
        let mut xs = [[0.0; LANES]; D];
        for p in 0..LANES {
            let x = group.point(p.min(group.len - 1));
            for i in 0..D {
                xs[i][p] = x[i];
            }
        }
        let (means, factors) = (self.mixture.means(), self.mixture.prec_chol());
        let mut lanes = Lanes::<D>::new();
        for (c, l) in group.l.chunks_exact(LANES).enumerate() {
            let k = group.cands[c];
            let mu = &means[k * D..(k + 1) * D];
            let u = &factors[k * D * D..(k + 1) * D * D];
            lanes.add(c, l, &group.max, &group.arg, &xs, mu, u);
        }
        for p in 0..group.len {
            if group.max[p] > f64::NEG_INFINITY {
                lanes.store(p, slots.get(p).0);
            }
        }
    }

    #[inline(always)]
    fn group_lanes_dispatch(&self, group: &Group, slots: &mut Slots<f64>) {
        // Only called for 1 to 8 features: D is never 0 here.
        specialise!(self.mixture.n_features(), D => self.group_lanes::<D>(group, slots));
    }

    /// One point's score into `out` from the values `l` of the components `index(c)`: the
    /// path for more than 8 features.
    fn point_score(
        &self,
        state: &mut ScoreState,
        pk: Peak,
        index: impl Fn(usize) -> usize,
        x: &[f64],
        out: &mut [f64],
    ) {
        let sum = relative_terms(&state.l, pk, &mut state.w);
        state.w[pk.argmax] = 1.0;
        weighted_gradients(self.mixture, state, index, x, sum, 1.0, 1.0, out);
    }
}

/// The score at `x` far from every component (see the module documentation): `l` holds
/// [`Components::nearest_log_probs`] of every component of `mixture`.
pub(crate) fn far_score(
    mixture: &Components,
    state: &mut ScoreState,
    l: &[f64],
    x: &[f64],
    out: &mut [f64],
) {
    let d = mixture.n_features();
    let pk = peak(l);
    let sum = relative_terms(l, pk, &mut state.w);
    state.w[pk.argmax] = 1.0;
    // 2^e ≥ every |x_i| and |μ_k,i| involved: x_i / 2^e − μ_k,i / 2^e is (x_i − μ_k,i) / 2^e
    // correctly rounded, and cannot overflow; likewise U / 2^f has entries ≤ 1.
    let (means, factors) = (mixture.means(), mixture.prec_chol());
    let mut largest = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut u_largest = 0.0f64;
    for (k, &term) in state.w.iter().enumerate() {
        if term > 0.0 {
            let mu = &means[k * d..(k + 1) * d];
            largest = mu.iter().fold(largest, |a, v| a.max(v.abs()));
            let u = &factors[k * d * d..(k + 1) * d * d];
            u_largest = u.iter().fold(u_largest, |a, v| a.max(v.abs()));
        }
    }
    let (scale, u_scale) = (power_of_two_above(largest), power_of_two_above(u_largest));
    weighted_gradients(mixture, state, |k| k, x, sum, scale, u_scale, out);
}

/// −Σ_c w_c U Uᵀ (x − μ) / sum over the terms w_c = `state.w[c]` > 0 of the components
/// `index(c)`, into `out`, computed on (x − μ) / `scale` and U / `u_scale` (powers of two,
/// so the divisions are exact shifts; 1 for the usual path) and scaled back at the end.
#[allow(clippy::too_many_arguments)]
fn weighted_gradients(
    mixture: &Components,
    state: &mut ScoreState,
    index: impl Fn(usize) -> usize,
    x: &[f64],
    sum: f64,
    scale: f64,
    u_scale: f64,
    out: &mut [f64],
) {
    let d = mixture.n_features();
    let (means, factors) = (mixture.means(), mixture.prec_chol());
    state.acc.clear();
    state.acc.resize(d, 0.0);
    state.y.resize(3 * d + d * d, 0.0);
    let (y, rest) = state.y.split_at_mut(d);
    let (delta, rest) = rest.split_at_mut(d);
    let (g, u_scaled) = rest.split_at_mut(d);
    for (c, &term) in state.w.iter().enumerate() {
        if term > 0.0 {
            let k = index(c);
            let mu = &means[k * d..(k + 1) * d];
            for i in 0..d {
                delta[i] = x[i] / scale - mu[i] / scale;
            }
            let mut u = &factors[k * d * d..(k + 1) * d * d];
            if u_scale != 1.0 {
                for (s, v) in u_scaled.iter_mut().zip(u) {
                    *s = v / u_scale;
                }
                u = u_scaled;
            }
            gradient::<0>(d, u, delta, y, g);
            for (a, gi) in state.acc.iter_mut().zip(g.iter()) {
                *a += term * gi;
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&state.acc) {
        // Never 0 · ∞: the scales are finite, so only a finite product can overflow.
        *o = -(a / sum) * scale * u_scale * u_scale;
    }
}

/// The smallest power of two ≥ `v` and at least 1, capped at 2¹⁰²³ (the largest: every
/// finite `v` is then below twice the result).
fn power_of_two_above(v: f64) -> f64 {
    const LARGEST: f64 = 8.98846567431158e307; // 2¹⁰²³
    let mut s = 1.0f64;
    while s < v && s < LARGEST {
        s *= 2.0;
    }
    s
}

impl PointReducer<f64> for PointScore<'_> {
    type State = ScoreState;
    fn state(&self) -> ScoreState {
        ScoreState::default()
    }
    fn width(&self) -> usize {
        self.mixture.n_features()
    }
    // Inlined into the driver's leaf evaluation, which has an AVX2 build of its own.
    #[inline(always)]
    fn group(&self, state: &mut ScoreState, group: &Group, slots: &mut Slots<f64>) {
        if (1..=8).contains(&self.mixture.n_features()) {
            return self.group_lanes_dispatch(group, slots);
        }
        for p in 0..group.len {
            if group.max[p] > f64::NEG_INFINITY {
                group.values(p, &mut state.l);
                let pk = Peak {
                    max: group.max[p],
                    argmax: group.arg[p],
                };
                self.point_score(
                    state,
                    pk,
                    |c| group.cands[c],
                    group.point(p),
                    slots.get(p).0,
                );
            }
        }
    }
    fn point(
        &self,
        state: &mut ScoreState,
        l: &[f64],
        x: &[f64],
        _: usize,
        out: &mut [f64],
        _: &mut [f64],
    ) {
        far_score(self.mixture, state, l, x, out);
    }
}

/// ∇ₓ log p(x) for every row of `x` (n × d) into `out` (n × d): see the module documentation.
///
/// With `rtol` > 0 the point driver's last selection also drops components whose density is
/// together at most rtol of the point's (as for `score_samples`): the score is then that of
/// the mixture without them, which differs by at most about 2·rtol times the largest
/// ‖Λ_k (x − μ_k)‖ among the components involved.
pub fn score_points(
    mixture: &Components,
    x: &[f64],
    rtol: f64,
    out: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    check_len("score output", out.len(), x.len())?;
    let reducer = PointScore { mixture };
    for_each_point(
        mixture,
        x,
        &density_culling(rtol),
        out,
        &mut [],
        &reducer,
        stop,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes and the scalar path give the same bits for the same point and candidates.
    #[test]
    fn lanes_agree_with_the_scalar_path() {
        let d = 3;
        let means = vec![0.0, 1.0, -2.0, 3.0, 0.5, 1.5];
        let u = vec![
            1.3, 0.2, -0.4, 0.0, 0.9, 0.3, 0.0, 0.0, 2.1, //
            0.7, -0.1, 0.05, 0.0, 1.1, 0.6, 0.0, 0.0, 0.8,
        ];
        let m = Components::new(2, d, vec![-1.0, -1.5], means.clone(), u.clone()).unwrap();
        let score = PointScore { mixture: &m };
        let points = [[0.3, 0.2, -0.7], [2.0, 1.0, 1.0], [-3.0, 4.0, 0.1]];
        let mut xs = [[0.0; LANES]; 3];
        let mut l = [0.0; 2 * LANES];
        let mut max = [f64::NEG_INFINITY; LANES];
        let mut arg = [0; LANES];
        let mut y = vec![0.0; d];
        for p in 0..LANES {
            let x = points[p % points.len()];
            for i in 0..d {
                xs[i][p] = x[i];
            }
            let mut lp = [0.0; 2];
            m.log_probs(&x, &mut lp, &mut y);
            for c in 0..2 {
                l[c * LANES + p] = lp[c];
                if lp[c] > max[p] {
                    max[p] = lp[c];
                    arg[p] = c;
                }
            }
        }
        let mut lanes = Lanes::<3>::new();
        for c in 0..2 {
            lanes.add(
                c,
                &l[c * LANES..(c + 1) * LANES],
                &max,
                &arg,
                &xs,
                &means[c * d..],
                &u[c * d * d..],
            );
        }
        let mut state = ScoreState::default();
        for p in 0..points.len() {
            let mut a = [0.0; 3];
            lanes.store(p, &mut a);
            state.l = vec![l[p], l[LANES + p]];
            let mut b = [0.0; 3];
            let pk = Peak {
                max: max[p],
                argmax: arg[p],
            };
            score.point_score(&mut state, pk, |c| c, &points[p], &mut b);
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "point {p}");
        }
    }

    #[test]
    fn far_points_get_a_finite_score() {
        let m =
            Components::new(1, 2, vec![0.0], vec![1.0, -1.0], vec![2.0, 0.5, 0.0, 3.0]).unwrap();
        let mut l = vec![0.0];
        let mut y = vec![0.0; 2];
        let x = [1e300, -1e300];
        m.nearest_log_probs(&x, &mut l, &mut y);
        let mut out = [0.0; 2];
        far_score(&m, &mut ScoreState::default(), &l, &x, &mut out);
        // −Λ (x − μ) with Λ = [[4.25, 1.5], [1.5, 9]]: (−2.75e300, 7.5e300) to rounding.
        assert!((out[0] / -2.75e300 - 1.0).abs() < 1e-12, "{out:?}");
        assert!((out[1] / 7.5e300 - 1.0).abs() < 1e-12, "{out:?}");
    }
}
