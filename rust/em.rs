//! The E-step of EM with the M-step's sums fused in: one pass of the point driver gives the
//! log-likelihood and, per component, the sufficient statistics that scikit-learn's M-step
//! computes from the (n × K) responsibility matrix — without that matrix.
//!
//! For point x_i of weight w_i (1 without sample weights) and responsibilities r_ik:
//!
//! ```text
//! log_lik = Σ_i w_i log p(x_i)
//! N_k     = Σ_i w_i r_ik
//! S1_k    = Σ_i w_i r_ik (x_i − c_k)                  (d,)
//! S2_k    = Σ_i w_i r_ik (x_i − c_k)(x_i − c_k)ᵀ      (d, d)
//! ```
//!
//! around a shift c_k per component (the current mean: the new mean is near it, so the
//! covariance (S2_k − …)/N_k loses no digits to the data's offset, unlike Σ x xᵀ − N μ μᵀ).
//!
//! Responsibilities are computed as the point kernels compute them: log p = m + ln s with
//! s = 1 + Σ exp(l_k − m) over the terms above 2⁻⁵³ of the largest (see [`crate::density`]),
//! r_ik = exp(l_k − m) / s for those terms and 0 for the others (within an ulp or two of
//! scikit-learn's exp(l_k − log p)). With rtol > 0 the last selection of the point driver
//! also drops components whose total density is at most rtol of the largest term (see
//! [`crate::cull`]): for every point the responsibility mass dropped is at most rtol.
//!
//! On a fit's tree, with three features or more, the E-step carries each leaf's candidates
//! to the next iteration and proves them again there ([`crate::points::accumulate_carried`]):
//! at rtol = 0 with the exact rule's cut-off (the same bits), at rtol > 0 dropping at each
//! point only components below rtol / K of its largest term (again at most rtol in all).
//!
//! Sums run over each subtree of the point driver in its order and are merged in the tree's
//! order, so the statistics are bitwise the same for any number of threads.

// Loops over the lanes of a group index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use crate::cull::Culling;
use crate::density::{peak, relative_terms, Peak, NEGLIGIBLE};
use crate::error::{check_len, KernelError};
use crate::fastmath::exp_neg;
use crate::interrupt::Stop;
use crate::mixture::Components;
use crate::points::{
    accumulate_carried, accumulate_in, Carried, Group, PointReducer, Slots, Tree, LANES,
};
use crate::specialise::{fixed, specialise};

/// The sums of one E-step (module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    /// Σ_i w_i log p(x_i).
    pub log_lik: f64,
    /// N_k, shape (K,).
    pub nk: Vec<f64>,
    /// S1_k, shape (K, d).
    pub s1: Vec<f64>,
    /// S2_k, shape (K, d, d); only the upper triangle (b ≥ a) is summed, [`e_step`] mirrors it.
    pub s2: Vec<f64>,
}

impl Statistics {
    fn zeros(k: usize, d: usize) -> Self {
        Self {
            log_lik: 0.0,
            nk: vec![0.0; k],
            s1: vec![0.0; k * d],
            s2: vec![0.0; k * d * d],
        }
    }

    fn add(&mut self, other: &Statistics) {
        self.log_lik += other.log_lik;
        // Array by array (a chain of the three does not vectorise).
        for (sums, more) in [
            (&mut self.nk, &other.nk),
            (&mut self.s1, &other.s1),
            (&mut self.s2, &other.s2),
        ] {
            for (a, b) in sums.iter_mut().zip(more) {
                *a += b;
            }
        }
    }
}

/// The E-step as a point reduction; its state is one subtree's sums and scratch space.
struct EStep<'a> {
    n_components: usize,
    n_features: usize,
    /// c_k, shape (K, d).
    shift: &'a [f64],
    /// w_i, shape (n,), or empty for unit weights.
    weights: &'a [f64],
    /// Terms exp(l − max) at or below exp(cut) are left out of a point's sums: the exact
    /// rule's `NEGLIGIBLE`, or with carried candidates at rtol > 0 ln(rtol / K) (each term
    /// left out, evaluated or not, is then at most rtol / K of the largest).
    cut: f64,
}

struct EState {
    stats: Statistics,
    /// The terms of a point's (or, lane-major, a group's) sum.
    w: Vec<f64>,
    /// x − c_k for a group's lanes and one component.
    delta_lanes: Vec<[f64; LANES]>,
    /// The cold path's point, lane-major in lane 0 (the other lanes stay 0).
    point: Vec<f64>,
    /// The current leaf's moments, lane by lane, per candidate position c: the
    /// [`moment_count`] values of block c (see [`add_lane_moments`]), summed over the leaf's
    /// groups and added to `stats` by [`EStep::flush_leaf`]: one sum across the lanes per
    /// candidate and leaf rather than per candidate and group.
    leaf: Vec<[f64; LANES]>,
    /// Whether block c holds this leaf's sums (else it is stale), and the c that do.
    live: Vec<bool>,
    touched: Vec<usize>,
}

/// Values of a component's moments: N, S1 (d) and the upper triangle of S2 (d(d+1)/2).
fn moment_count(d: usize) -> usize {
    1 + d + d * (d + 1) / 2
}

impl EStep<'_> {
    /// Adds one point's terms from the values `l` of every component (the cold path).
    fn add_point(&self, state: &mut EState, l: &[f64], pk: Peak, x: &[f64], weight: f64) {
        // The terms of log p as `log_sum_rel` adds them (so that Σ log p is bitwise the sum of
        // `score_samples`), then each responsibility as its term over their sum.
        let sum = relative_terms(l, pk, &mut state.w);
        let scale = weight / sum;
        state.stats.log_lik += weight * (pk.max + sum.ln());
        state.w[pk.argmax] = 1.0;
        // The point is lane 0 of a group whose other lanes hold no responsibility: their sums
        // add exact zeros.
        let d = self.n_features;
        for a in 0..d {
            state.point[a * LANES] = x[a];
        }
        let m = moment_count(d);
        let mut block = vec![[0.0; LANES]; m];
        specialise!(d, D => {
            for (k, &term) in state.w.iter().enumerate() {
                if term > 0.0 {
                    let mut r = [0.0; LANES];
                    r[0] = term * scale;
                    block.fill([0.0; LANES]);
                    let c = &self.shift[k * d..(k + 1) * d];
                    add_lane_moments::<D>(&mut block, c, &state.point, &r, &mut state.delta_lanes);
                    add_block(&mut state.stats, k, d, &block);
                }
            }
        });
    }

    /// Adds the current leaf's sums (candidates `cands`) to the totals, candidate by
    /// candidate in the leaf's order, and readies the blocks for the next leaf.
    fn flush_leaf(&self, state: &mut EState, cands: &[usize]) {
        let (d, m) = (self.n_features, moment_count(self.n_features));
        for &c in &state.touched {
            add_block(
                &mut state.stats,
                cands[c],
                d,
                &state.leaf[c * m..(c + 1) * m],
            );
            state.live[c] = false;
        }
        state.touched.clear();
    }
}

impl EStep<'_> {
    /// A group's terms, lane by lane: the terms of each lane's log p as `relative_terms` adds
    /// them (so that Σ log p is bitwise the sum of `score_samples`), then, per candidate that
    /// holds some responsibility at some lane, the lanes' moments at once.
    #[inline(always)]
    fn group_fixed<const D: usize>(&self, state: &mut EState, group: &Group) {
        let d = fixed::<D>(self.n_features);
        let (max, arg) = (&group.max, &group.arg);
        // The lanes' weights: 0 for the padding, for weightless points and for the lanes left
        // to `point` (no candidate above −∞), which then add nothing here.
        let mut weight = [0.0; LANES];
        for p in 0..group.len {
            if max[p] > f64::NEG_INFINITY {
                weight[p] = self.weights.get(group.row(p)).copied().unwrap_or(1.0);
            }
        }
        // terms[c * LANES + p] = exp(l − max) above exp(cut) of the peak, else 0; the peak's own
        // term is counted as the 1 the sums start from.
        let terms = &mut state.w;
        terms.resize(group.l.len(), 0.0);
        let mut sum = [1.0; LANES];
        let lanes = group
            .l
            .chunks_exact(LANES)
            .zip(terms.chunks_exact_mut(LANES));
        for (c, (l, t)) in lanes.enumerate() {
            let mut u = [0.0; LANES];
            let mut any = false;
            for p in 0..LANES {
                u[p] = l[p] - max[p];
                any |= u[p] > self.cut;
            }
            // Most candidates are negligible at every lane: no `exp` for them.
            if !any {
                t.fill(0.0);
                continue;
            }
            // Every lane's exponential, then masked by its bits: a select here may compile
            // to a branch and a scalar exponential per lane (it did, in some builds).
            let mut e = [0.0; LANES];
            for p in 0..LANES {
                e[p] = exp_neg(u[p]);
            }
            for p in 0..LANES {
                let keep = u[p] > self.cut && c != arg[p];
                t[p] = f64::from_bits(e[p].to_bits() & if keep { u64::MAX } else { 0 });
                sum[p] += t[p];
            }
        }
        let mut scale = [0.0; LANES];
        for p in 0..LANES {
            if weight[p] != 0.0 {
                state.stats.log_lik += weight[p] * (max[p] + sum[p].ln());
                scale[p] = weight[p] / sum[p];
            }
            terms[arg[p] * LANES + p] = 1.0;
        }
        for (c, t) in terms.chunks_exact(LANES).enumerate() {
            let mut r = [0.0; LANES];
            for p in 0..LANES {
                r[p] = t[p] * scale[p];
            }
            if r.iter().all(|&v| v == 0.0) {
                continue;
            }
            // The leaf's block of candidate c, started at zero on its first group.
            let m = moment_count(d);
            if state.live.len() < group.cands.len() {
                state.live.resize(group.cands.len(), false);
                state.leaf.resize(group.cands.len() * m, [0.0; LANES]);
            }
            let block = &mut state.leaf[c * m..(c + 1) * m];
            if !state.live[c] {
                state.live[c] = true;
                state.touched.push(c);
                block.fill([0.0; LANES]);
            }
            let k = group.cands[c];
            let shift = &self.shift[k * d..(k + 1) * d];
            add_lane_moments::<D>(block, shift, group.xs, &r, &mut state.delta_lanes);
        }
    }
}

/// Σ of eight lanes, as two vectors of four.
#[inline(always)]
fn lane_sum(v: &[f64; LANES]) -> f64 {
    let (a, b) = (v[0] + v[4], v[1] + v[5]);
    let (c, e) = (v[2] + v[6], v[3] + v[7]);
    (a + c) + (b + e)
}

/// Adds, lane by lane, the moments around a component's shift `c` (d,) of the lanes `xs`
/// (lane-major), lane p weighted by `r[p]`, to `block`: N, then S1 (d), then the upper
/// triangle of S2 row by row (b ≥ a). `delta` is scratch space of d lanes.
#[inline(always)]
fn add_lane_moments<const D: usize>(
    block: &mut [[f64; LANES]],
    c: &[f64],
    xs: &[f64],
    r: &[f64; LANES],
    delta: &mut [[f64; LANES]],
) {
    let d = fixed::<D>(c.len());
    let delta = &mut delta[..d];
    let xs = &xs[..d * LANES];
    let block = &mut block[..moment_count(d)];
    // Lanes without responsibility get δ = 0: a far point's x − c may be infinite, and 0·∞
    // would be NaN. (By masking the bits: a select here compiles to a branch per lane.)
    let mut keep = [0u64; LANES];
    for p in 0..LANES {
        keep[p] = if r[p] != 0.0 { u64::MAX } else { 0 };
    }
    for a in 0..d {
        for p in 0..LANES {
            let v = xs[a * LANES + p] - c[a];
            delta[a][p] = f64::from_bits(v.to_bits() & keep[p]);
        }
    }
    for p in 0..LANES {
        block[0][p] += r[p];
    }
    let mut at = 1 + d;
    for a in 0..d {
        let mut ra = [0.0; LANES];
        for p in 0..LANES {
            ra[p] = r[p] * delta[a][p];
            block[1 + a][p] += ra[p];
        }
        for b in a..d {
            for p in 0..LANES {
                block[at][p] += ra[p] * delta[b][p];
            }
            at += 1;
        }
    }
}

/// Adds a block of lane sums (see [`add_lane_moments`]) to component k's totals.
fn add_block(stats: &mut Statistics, k: usize, d: usize, block: &[[f64; LANES]]) {
    stats.nk[k] += lane_sum(&block[0]);
    let s1 = &mut stats.s1[k * d..(k + 1) * d];
    let s2 = &mut stats.s2[k * d * d..(k + 1) * d * d];
    let mut at = 1 + d;
    for a in 0..d {
        s1[a] += lane_sum(&block[1 + a]);
        for b in a..d {
            s2[a * d + b] += lane_sum(&block[at]);
            at += 1;
        }
    }
}

impl PointReducer<f64> for EStep<'_> {
    type State = EState;

    fn state(&self) -> EState {
        EState {
            stats: Statistics::zeros(self.n_components, self.n_features),
            w: Vec::new(),
            delta_lanes: vec![[0.0; LANES]; self.n_features],
            point: vec![0.0; self.n_features * LANES],
            leaf: Vec::new(),
            live: Vec::new(),
            touched: Vec::new(),
        }
    }

    fn width(&self) -> usize {
        0
    }

    #[inline(always)]
    fn group(&self, state: &mut EState, group: &Group, _: &mut Slots<f64>) {
        specialise!(self.n_features, D => self.group_fixed::<D>(state, group))
    }

    /// Far beyond every component (squared distances overflow) log p is −∞, as it rounds;
    /// the nearest components take the point's responsibility.
    fn point(
        &self,
        state: &mut EState,
        l: &[f64],
        x: &[f64],
        row: usize,
        _: &mut [f64],
        _: &mut [f64],
    ) {
        let weight = self.weights.get(row).copied().unwrap_or(1.0);
        if weight == 0.0 {
            return;
        }
        self.add_point(state, l, peak(l), x, weight);
        state.stats.log_lik = f64::NEG_INFINITY;
    }

    fn leaf(&self, state: &mut EState, cands: &[usize]) {
        self.flush_leaf(state, cands);
    }

    fn merge(&self, state: &mut EState, other: EState) {
        state.stats.add(&other.stats);
    }
}

/// One E-step of the mixture at the rows of `x` (n × d) with sample weights `weights` ((n,),
/// non-negative and finite; empty for unit weights), the second moments taken around `shift`
/// ((K, d)): see the module documentation. `rtol` as in [`crate::density::score_points`].
/// `tree`, when given, is the kd-tree of the same `x` ([`Tree::for_mixture`]), built once for
/// a whole fit; otherwise the call builds its own. `carried`, with a tree, is what the
/// previous E-step on that tree left (module documentation).
#[allow(clippy::too_many_arguments)]
pub fn e_step(
    mixture: &Components,
    x: &[f64],
    tree: Option<&Tree>,
    carried: Option<&mut Carried>,
    weights: &[f64],
    shift: &[f64],
    rtol: f64,
    stop: &Stop,
) -> Result<Statistics, KernelError> {
    let (k, d) = (mixture.n_components(), mixture.n_features());
    check_len("shift", shift.len(), k * d)?;
    if !weights.is_empty() {
        check_len("sample weights", weights.len(), x.len() / d)?;
    }
    let mut reducer = EStep {
        n_components: k,
        n_features: d,
        shift,
        weights,
        cut: NEGLIGIBLE,
    };
    let culling = Culling {
        threshold: NEGLIGIBLE,
        rtol,
    };
    let state = match (tree, carried) {
        // In two features the tree's boxes bound the components closely already: carrying
        // candidates saved nothing there (measured on china-bw: slower), so it is left to
        // three features and more (the flower's five: a fifth of each E-step).
        (Some(tree), Some(carried)) if d >= 3 => {
            // Each component left out of a point weighs at most rtol / K of its largest term,
            // so all of them at most rtol of its density; never less than the exact rule.
            let threshold = if rtol > 0.0 {
                (rtol.ln() - (k as f64).ln()).max(NEGLIGIBLE)
            } else {
                NEGLIGIBLE
            };
            reducer.cut = threshold;
            let (out, extra) = (&mut [], &mut []);
            accumulate_carried(
                tree, carried, threshold, mixture, x, out, extra, &reducer, stop,
            )?
        }
        _ => accumulate_in(tree, mixture, x, &culling, &mut [], &mut [], &reducer, stop)?,
    };
    let mut stats = state.map_or_else(|| Statistics::zeros(k, d), |s| s.stats);
    // Mirror the upper triangles of the second moments.
    for s2 in stats.s2.chunks_exact_mut(d * d) {
        for a in 0..d {
            for b in 0..a {
                s2[a * d + b] = s2[b * d + a];
            }
        }
    }
    Ok(stats)
}

/// Σ_i w_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ per component into `out` (K, d, d), from the sums
/// around the shift (`nk` (K,), `s1` (K, d), `s2` (K, d, d)) and `delta` = μ_k − c_k (K, d):
/// S2 − S1 δᵀ − δ S1ᵀ + N δ δᵀ, with the operations of the NumPy expression
/// ``((s2 − s1 ⊗ δ) − δ ⊗ s1) + N (δ ⊗ δ)`` in that order (the same bits). In a loop here
/// because NumPy's broadcasting over (K, d, d) with d of a few costs more than the E-step's
/// Python around it.
pub fn scatter(nk: &[f64], s1: &[f64], s2: &[f64], delta: &[f64], d: usize, out: &mut [f64]) {
    for (k, out) in out.chunks_exact_mut(d * d).enumerate() {
        let (first, dk) = (&s1[k * d..(k + 1) * d], &delta[k * d..(k + 1) * d]);
        for i in 0..d {
            for j in 0..d {
                let at = k * d * d + i * d + j;
                out[i * d + j] =
                    ((s2[at] - first[i] * dk[j]) - first[j] * dk[i]) + nk[k] * (dk[i] * dk[j]);
            }
        }
    }
}
