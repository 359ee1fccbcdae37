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
//! scikit-learn's exp(l_k − log p)). With rtol > 0 the leaves
//! also drop components whose total density is at most rtol of the largest term (see
//! [`crate::cull`]): for every point the responsibility mass dropped is at most rtol.
//!
//! Sums run over each subtree of the point driver in its order and are merged in the tree's
//! order, so the statistics are bitwise the same for any number of threads.

// Loops over the lanes of a group index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use crate::cull::Culling;
use crate::density::{peak, relative_terms, Peak, NEGLIGIBLE};
use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;
use crate::mixture::Components;
use crate::points::{accumulate, Group, PointReducer, Slots};
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
        let pairs = self
            .nk
            .iter_mut()
            .zip(&other.nk)
            .chain(self.s1.iter_mut().zip(&other.s1))
            .chain(self.s2.iter_mut().zip(&other.s2));
        for (a, b) in pairs {
            *a += b;
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
}

struct EState {
    stats: Statistics,
    /// One point's values and the weights of its sum.
    l: Vec<f64>,
    w: Vec<f64>,
    /// x − c_k for one point and component (d values).
    delta: Vec<f64>,
}

impl EStep<'_> {
    /// Adds one point's terms, from the values `l` of the components `index(c)`.
    #[inline]
    fn add_point(
        &self,
        state: &mut EState,
        l: &[f64],
        pk: Peak,
        index: impl Fn(usize) -> usize,
        x: &[f64],
        weight: f64,
    ) {
        // The terms of log p as `log_sum_rel` adds them (so that Σ log p is bitwise the sum of
        // `score_samples`), then each responsibility as its term over their sum.
        let sum = relative_terms(l, pk, &mut state.w);
        let scale = weight / sum;
        let stats = &mut state.stats;
        stats.log_lik += weight * (pk.max + sum.ln());
        state.w[pk.argmax] = 1.0;
        let d = self.n_features;
        specialise!(d, D => {
            for (c, &term) in state.w.iter().enumerate() {
                if term > 0.0 {
                    let delta = &mut state.delta;
                    add_moments::<D>(stats, index(c), d, self.shift, x, term * scale, delta);
                }
            }
        });
    }
}

/// Adds `rw` times the point `x`'s moments around component k's shift to the sums; `delta`
/// is scratch space of d values.
#[inline(always)]
fn add_moments<const D: usize>(
    stats: &mut Statistics,
    k: usize,
    d: usize,
    shift: &[f64],
    x: &[f64],
    rw: f64,
    delta: &mut [f64],
) {
    let d = fixed::<D>(d);
    let c = &shift[k * d..(k + 1) * d];
    let delta = &mut delta[..d];
    for a in 0..d {
        delta[a] = x[a] - c[a];
    }
    stats.nk[k] += rw;
    let s1 = &mut stats.s1[k * d..(k + 1) * d];
    for a in 0..d {
        s1[a] += rw * delta[a];
    }
    let s2 = &mut stats.s2[k * d * d..(k + 1) * d * d];
    for a in 0..d {
        let ra = rw * delta[a];
        for b in a..d {
            s2[a * d + b] += ra * delta[b];
        }
    }
}

impl PointReducer<f64> for EStep<'_> {
    type State = EState;

    fn state(&self) -> EState {
        EState {
            stats: Statistics::zeros(self.n_components, self.n_features),
            l: Vec::new(),
            w: Vec::new(),
            delta: vec![0.0; self.n_features],
        }
    }

    fn width(&self) -> usize {
        0
    }

    #[inline]
    fn group(&self, state: &mut EState, group: &Group, _: &mut Slots<f64>) {
        let mut l = std::mem::take(&mut state.l);
        for p in 0..group.len {
            let weight = self.weights.get(group.row(p)).copied().unwrap_or(1.0);
            if group.max[p] == f64::NEG_INFINITY || weight == 0.0 {
                continue;
            }
            group.values(p, &mut l);
            let pk = Peak {
                max: group.max[p],
                argmax: group.arg[p],
            };
            self.add_point(state, &l, pk, |c| group.cands[c], group.point(p), weight);
        }
        state.l = l;
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
        self.add_point(state, l, peak(l), |k| k, x, weight);
        state.stats.log_lik = f64::NEG_INFINITY;
    }

    fn merge(&self, state: &mut EState, other: EState) {
        state.stats.add(&other.stats);
    }
}

/// One E-step of the mixture at the rows of `x` (n × d) with sample weights `weights` ((n,),
/// non-negative and finite; empty for unit weights), the second moments taken around `shift`
/// ((K, d)): see the module documentation. `rtol` as in [`crate::density::score_points`].
pub fn e_step(
    mixture: &Components,
    x: &[f64],
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
    let reducer = EStep {
        n_components: k,
        n_features: d,
        shift,
        weights,
    };
    let culling = Culling {
        threshold: NEGLIGIBLE,
        rtol,
    };
    let state = accumulate(mixture, x, &culling, &mut [], &mut [], &reducer, stop)?;
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
