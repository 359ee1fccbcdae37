//! Candidates carried from one E-step of a fit to the next.
//!
//! EM evaluates the same points at every iteration, and from one iteration to the next the
//! components move little: the few that matter at a point stay the same. So instead of
//! bounding every component again over the tree's boxes, a leaf can keep its candidates, and
//! prove at the next iteration that the others still cannot reach its points.
//!
//! # The certificate
//!
//! After a leaf has been evaluated, it keeps the candidates that come within `threshold − H`
//! nats ([`HYSTERESIS`]) of the largest term at one of its points, and every point x keeps a
//! number θ_x with l_k(x) ≤ θ_x for every component k it did not keep: the largest value of
//! the evaluated candidates it dropped, or the bound over a box that excluded a component
//! higher in the tree (the best lower bound of the box plus the culling threshold).
//!
//! At the next iteration, with parameters (μ′, U′, c′) where they were (μ, U, c), a dropped
//! component's Mahalanobis distance s = ‖Uᵀ(x − μ)‖ satisfies s² = 2(c − l_k(x)) ≥ 2(c − θ_x),
//! and its new one
//!
//! ```text
//! s′ = ‖U′ᵀ(x − μ′)‖ ≥ a s − b,   a = 1 + λ_min(sym(E)) ≤ σ_min(I + E),
//! E = U⁻¹(U′ − U),   b = ‖U′ᵀ(μ′ − μ)‖
//! ```
//!
//! (for a unit v, ‖(I + E)v‖ ≥ vᵀ(I + E)v; a precision that grows along a direction does not
//! bring any point nearer, and only the shrinking directions count), so that
//! l′_k(x) = c′ − ½ s′² ≤ c′ − ½ (a u − b)₊² with u = √(2 (c − θ_x))₊. That is
//! θ_x + E_k(θ_x), with an excess E_k(θ) = (c′ − c) + ½u² − ½(a u − b)₊² that decreases as θ
//! grows (a ≤ 1). Their maximum over the components, E(θ), is tabulated at a few values of θ
//! once per call, so each point's check costs one look-up: the leaf's candidates are evaluated
//! at its points, and if at every point θ_x + E(θ_x) stays below the largest of them plus the
//! threshold, no other component reaches it and the leaf's result is that of the full
//! evaluation. Otherwise the leaf is evaluated as on a first call, from the tree's bounds; so
//! is, at the next call, a leaf whose check the same motion again would break.
//!
//! # Components that moved much
//!
//! A few components that moved much (say one whose covariance shrank by half) would make E
//! large everywhere. Those (the [`MOVED`] with the largest excess at most, an eighth of K at
//! most) are left out of E and bounded over the tree's boxes instead, walking down: at each
//! node that selected when its leaves were recorded, together with the component that had
//! the best lower bound there then (whose lower bound, under the current parameters, bounds
//! the largest term below). A leaf evaluates the moved components that remain at its level;
//! the others are below the floor of the boxes that left them out.
//!
//! Floating point: the values of l are computed, not exact; their rounding error grows with
//! the size of the quadratic's terms, which is at most the condition number of U times the
//! distance. E carries that error, for the old and the new values, on top (see
//! [`Carried::motion`]).
//!
//! With the threshold of the exact rule (`NEGLIGIBLE`) a point's result is bitwise that of
//! evaluating every component (the reduction never reads the terms left out). With
//! `threshold = ln(rtol / K)` each component left out weighs at most rtol / K of the largest
//! term at the point, so together at most rtol of its density.
//!
//! Memory: one candidate list per leaf (at most K, usually a few), one θ per point and one
//! component per node.

use rayon::prelude::*;

use crate::mixture::Components;

/// Nats below the threshold within which a leaf keeps a candidate: the room the components
/// have to move before the leaf must be evaluated again from the tree's bounds.
pub const HYSTERESIS: f64 = 6.0;
/// Most components bounded over the boxes again because they moved much (and at most an
/// eighth of K).
const MOVED: usize = 128;
/// Values of θ at which the excess is tabulated.
const GRID: usize = 64;
/// A precision that shrank by less than this along every direction (by Gershgorin's discs)
/// is not refined by bisection: its excess is small next to the largest.
const GERSHGORIN_ENOUGH: f64 = 2e-3;
/// θ below the largest by more than this are raised to it (a larger θ is still a bound).
const SPAN: f64 = 200.0;

/// What an E-step carries for the next one (module documentation): owned by the fit's tree.
#[derive(Default)]
pub struct Carried {
    /// The parameters the leaves' θ refer to; empty before the first call.
    means: Vec<f64>,
    prec_chol: Vec<f64>,
    log_const: Vec<f64>,
    /// Per component of those, U⁻¹ (upper triangular, d × d) and ‖U‖_F ‖U⁻¹‖_F.
    inverse: Inverses,
    /// The same of the parameters of the current call, once [`Carried::motion`] has
    /// computed them (they serve the next call).
    next: Inverses,
    threshold: f64,
    /// Per node of the tree (in its order), a leaf's candidates, increasing.
    pub(super) leaves: Vec<Option<Vec<usize>>>,
    /// Per position in the tree's order of the points, θ.
    pub(super) theta: Vec<f64>,
    /// Per node, the component of the best lower bound over its box when it last selected
    /// (`usize::MAX` for none): the moved components are bounded against it.
    pub(super) best: Vec<usize>,
    /// Whether the last call's leaves mostly failed their check (the next call then does not
    /// try the carried candidates: the components are still moving fast).
    skip_next: bool,
}

/// The inverses of a mixture's precision factors and their condition numbers.
#[derive(Default)]
struct Inverses {
    /// U⁻¹ per component, (K, d, d) row-major, zero below the diagonal.
    factors: Vec<f64>,
    /// ‖U‖_F ‖U⁻¹‖_F per component.
    condition: Vec<f64>,
}

impl Inverses {
    /// Those of `mixture`'s factors.
    fn of(mixture: &Components) -> Self {
        let (k, d) = (mixture.n_components(), mixture.n_features());
        let mut out = Inverses {
            factors: vec![0.0; k * d * d],
            condition: vec![0.0; k],
        };
        out.factors
            .par_chunks_mut(d * d)
            .zip(out.condition.par_iter_mut())
            .zip(mixture.prec_chol().par_chunks(d * d))
            .with_min_len(64)
            .for_each(|((w, cond), u)| *cond = invert_upper(u, d, w));
        out
    }
}

/// How far the components moved since the carried candidates were made (per call).
pub(super) struct Motion {
    /// Components evaluated at every leaf, increasing.
    pub(super) moved: Vec<usize>,
    /// E at lo + j · step, j = 0..=GRID, over the other components.
    lo: f64,
    step: f64,
    excess: Vec<f64>,
}

impl Motion {
    /// An upper bound, under the new parameters, of the value at x of every component outside
    /// `moved` whose old value there was at most `theta`; +∞ beyond the table.
    #[inline]
    pub(super) fn bound(&self, theta: f64) -> f64 {
        if theta == f64::NEG_INFINITY {
            // No component was left out with a value above −∞ (overflowing distances stay so).
            return theta;
        }
        let t = theta.max(self.lo);
        let at = ((t - self.lo) / self.step).floor();
        if !(at >= 0.0 && at < self.excess.len() as f64) {
            return f64::INFINITY;
        }
        let mut j = at as usize;
        // E decreases: the grid value at or below t bounds E(t).
        if self.lo + j as f64 * self.step > t {
            if j == 0 {
                return f64::INFINITY;
            }
            j -= 1;
        }
        t + self.excess[j]
    }
}

impl Carried {
    /// Forgets everything (a different mixture, threshold or tree; an interrupted call).
    pub(super) fn clear(&mut self) {
        *self = Carried::default();
    }

    /// Readies the memory for a call with `mixture` and `threshold` on a tree of `nodes`
    /// nodes and `n` points, and returns how the components moved since the last call, or
    /// `None` when nothing carried can be used this time.
    pub(super) fn motion(
        &mut self,
        mixture: &Components,
        threshold: f64,
        nodes: usize,
        n: usize,
    ) -> Option<Motion> {
        let (k, d) = (mixture.n_components(), mixture.n_features());
        let same = self.log_const.len() == k
            && self.means.len() == k * d
            && self.threshold == threshold
            && self.leaves.len() == nodes
            && self.theta.len() == n;
        if !same {
            self.clear();
            self.threshold = threshold;
            self.leaves = vec![None; nodes];
            self.theta = vec![f64::INFINITY; n];
            self.best = vec![usize::MAX; nodes];
            return None;
        }
        if std::mem::take(&mut self.skip_next) {
            return None;
        }
        // The range of the θ of the leaves that carry candidates.
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &t in &self.theta {
            if t < f64::INFINITY {
                hi = hi.max(t);
                lo = lo.min(t);
            }
        }
        if hi == f64::NEG_INFINITY {
            // Every point's θ is −∞ (nothing left out): the table is never read.
            (lo, hi) = (0.0, 0.0);
        }
        lo = lo.max(hi - SPAN);
        let step = if hi > lo {
            (hi - lo) / GRID as f64
        } else {
            1.0
        };
        let reference = 0.5 * (lo + hi);
        // Per component: a, b, the change of c, and the rounding factor.
        let next = Inverses::of(mixture);
        let motions: Vec<Option<ComponentMotion>> = (0..k)
            .into_par_iter()
            .with_min_len(64)
            .map_init(
                || vec![0.0; 2 * d * d],
                |e, j| self.component_motion(mixture, &next, j, e),
            )
            .collect();
        self.next = next;
        // The components that moved most, judged at the middle of the range, are evaluated at
        // every leaf; so are those the certificate cannot follow (a ≤ ½).
        let mut ranked: Vec<(usize, f64)> = motions
            .iter()
            .enumerate()
            .map(|(j, m)| (j, m.map_or(f64::INFINITY, |m| m.excess(reference))))
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let moved_count = ranked
            .iter()
            .take_while(|&&(_, e)| e > 0.125 * HYSTERESIS)
            .count();
        let most = MOVED.min(k / 8);
        if moved_count > most && (ranked[most].1 == f64::INFINITY || ranked[most].1.is_nan()) {
            return None;
        }
        let mut moved: Vec<usize> = ranked[..moved_count.min(most)]
            .iter()
            .map(|&(j, _)| j)
            .collect();
        moved.sort_unstable();
        let mut is_moved = vec![false; k];
        for &j in &moved {
            is_moved[j] = true;
        }
        // E_k decreases as θ grows but for its rounding term in |θ|, so E_k(lo) plus that
        // term's growth over the range bounds E_k on the whole grid: in decreasing order of
        // that bound, the components after the first whose bound is below the maximum so far
        // cannot raise it (the table is the same; most components are never evaluated).
        let growth = 8.0 * f64::EPSILON * (lo.abs().max(hi.abs()) - lo.abs());
        let mut order: Vec<(f64, Option<ComponentMotion>)> = motions
            .iter()
            .zip(&is_moved)
            .filter(|(_, &m)| !m)
            .map(|(m, _)| (m.map_or(f64::INFINITY, |m| m.excess(lo) + growth), *m))
            .collect();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let excess = (0..=GRID)
            .map(|g| {
                let theta = lo + g as f64 * step;
                let mut e = f64::NEG_INFINITY;
                for (bound, m) in &order {
                    if *bound <= e {
                        break;
                    }
                    e = e.max(m.map_or(f64::INFINITY, |m| m.excess(theta)));
                }
                e
            })
            .collect();
        Some(Motion {
            moved,
            lo,
            step,
            excess,
        })
    }

    /// Component j's motion since the carried parameters, or `None` when it moved too much
    /// for the certificate (a ≤ ½, or a value that is not finite). `next` holds the inverses
    /// of `mixture`'s factors; `scratch` holds 2d² values.
    fn component_motion(
        &self,
        mixture: &Components,
        next: &Inverses,
        j: usize,
        scratch: &mut [f64],
    ) -> Option<ComponentMotion> {
        let d = mixture.n_features();
        let (e, scratch) = scratch.split_at_mut(d * d);
        let at = j * d * d..(j + 1) * d * d;
        let (u_old, u_new) = (
            &self.prec_chol[at.clone()],
            &mixture.prec_chol()[at.clone()],
        );
        let w = &self.inverse.factors[at];
        let mu_old = &self.means[j * d..(j + 1) * d];
        let mu_new = &mixture.means()[j * d..(j + 1) * d];
        // E = U⁻¹(U′ − U): upper triangular, as both factors are.
        let (mut w_norm, mut delta_norm) = (0.0, 0.0);
        for i in 0..d {
            for col in 0..d {
                let mut sum = 0.0;
                for m in i..=col {
                    sum += w[i * d + m] * (u_new[m * d + col] - u_old[m * d + col]);
                }
                e[i * d + col] = sum;
                w_norm += w[i * d + col] * w[i * d + col];
                if i <= col {
                    let delta = u_new[i * d + col] - u_old[i * d + col];
                    delta_norm += delta * delta;
                }
            }
        }
        // The rounding of U⁻¹ (a few ulps of cond(U) per feature, relative) and of the
        // products, on the scale ‖U⁻¹‖_F ‖U′ − U‖_F of E.
        let slack = 4.0
            * (d * d) as f64
            * f64::EPSILON
            * (1.0 + self.inverse.condition[j])
            * (w_norm * delta_norm).sqrt();
        // σ_min(I + E) ≥ 1 + λ_min((E + Eᵀ)/2): for a unit v, ‖(I + E)v‖ ≥ vᵀ(I + E)v. A
        // precision that grows along some direction does not shrink distances along it (the
        // Frobenius norm of E would count it as a loss).
        for i in 0..d {
            for j in 0..i {
                let m = 0.5 * (e[i * d + j] + e[j * d + i]);
                e[i * d + j] = m;
                e[j * d + i] = m;
            }
        }
        // Gershgorin's discs first: for a component that moved little they are as good as
        // the eigenvalue (its excess is far below the largest anyway); the bisection only
        // for the others.
        let discs = gershgorin(e, d);
        let lambda = if discs >= -GERSHGORIN_ENOUGH {
            discs
        } else {
            smallest_eigenvalue(e, d, scratch)
        } - slack;
        let a = 1.0 + lambda.min(0.0);
        // b = ‖U′ᵀ(μ′ − μ)‖.
        let mut b2 = 0.0;
        for col in 0..d {
            let mut y = 0.0;
            for i in 0..=col {
                y += (mu_new[i] - mu_old[i]) * u_new[i * d + col];
            }
            b2 += y * y;
        }
        let b = b2.sqrt();
        let (c_old, c_new) = (self.log_const[j], mixture.log_const()[j]);
        // The condition numbers ‖U‖_F ‖U⁻¹‖_F bound the quadratic's terms against the
        // distance; the rounding of a value is a few ulps of those per feature.
        let cond = self.inverse.condition[j].max(next.condition[j]);
        let gamma = 4.0 * ((d + 1) * (d + 1)) as f64 * f64::EPSILON * cond;
        let m = ComponentMotion {
            a,
            b,
            c_old,
            c_new,
            gamma,
        };
        let fine = a > 0.5 && b.is_finite() && c_new.is_finite() && c_old.is_finite();
        (fine && gamma < 1e-3).then_some(m)
    }

    /// Remembers `mixture` as the parameters the leaves' θ now refer to, and whether most
    /// leaves that tried their carried candidates failed (`failed` of `tried`).
    pub(super) fn remember(&mut self, mixture: &Components, tried: usize, failed: usize) {
        self.means.clear();
        self.means.extend_from_slice(mixture.means());
        self.prec_chol.clear();
        self.prec_chol.extend_from_slice(mixture.prec_chol());
        self.log_const.clear();
        self.log_const.extend_from_slice(mixture.log_const());
        // The inverses `motion` computed for this mixture, else computed here.
        self.inverse = if self.next.condition.len() == mixture.n_components() {
            std::mem::take(&mut self.next)
        } else {
            Inverses::of(mixture)
        };
        self.skip_next = tried > 0 && 2 * failed > tried;
    }
}

#[derive(Clone, Copy)]
struct ComponentMotion {
    a: f64,
    b: f64,
    c_old: f64,
    c_new: f64,
    gamma: f64,
}

impl ComponentMotion {
    /// E(θ) for this component (module documentation), rounded up, with the rounding of the
    /// old and the new values of l.
    fn excess(&self, theta: f64) -> f64 {
        let half_u2 = (self.c_old - theta).max(0.0);
        let u = (2.0 * half_u2).sqrt();
        let v = (self.a * u - self.b).max(0.0);
        // The rounding grows with the distance s ≥ u while the bound falls as (a s − b)²:
        // beyond s = 2b/a the fall wins (γ is small), so the rounding at s = max(u, 2b/a)
        // covers every point.
        let s = u.max(2.0 * self.b / self.a);
        let far = (2.0 - self.a) * s + self.b;
        let rounding = self.gamma * (2.0 + s * s + far * far)
            + 8.0 * f64::EPSILON * (self.c_old.abs() + self.c_new.abs() + theta.abs());
        let e = (self.c_new - self.c_old) + half_u2 - 0.5 * v * v + rounding;
        // A few ulps of the terms added, rounded up.
        e + 1e-12 * (1.0 + half_u2 + self.c_old.abs() + self.c_new.abs())
    }
}

/// A lower bound of the smallest eigenvalue of the symmetric matrix `s` (d × d, row-major),
/// within a millionth of its norm: bisection between Gershgorin's bound (below) and the
/// smallest diagonal entry (above), a shift t being below the eigenvalue when s − tI has
/// a Cholesky factor. `scratch` holds d × d values.
fn smallest_eigenvalue(s: &[f64], d: usize, scratch: &mut [f64]) -> f64 {
    let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !norm.is_finite() {
        return f64::NEG_INFINITY;
    }
    let mut lo = gershgorin(s, d);
    let mut hi = (0..d).map(|i| s[i * d + i]).fold(f64::INFINITY, f64::min);
    while hi - lo > 1e-6 * norm {
        let t = 0.5 * (lo + hi);
        if positive_definite_below(s, d, t, scratch) {
            lo = t;
        } else {
            hi = t;
        }
    }
    lo
}

/// Whether the Cholesky factorisation of s − tI (d × d) succeeds with a margin: every
/// pivot above the rounding of the factorisation, 4(d + 1)ε trace(s − tI) (which bounds
/// how far the matrix factored can be from s − tI), so that s − tI is positive definite.
fn positive_definite_below(s: &[f64], d: usize, t: f64, r: &mut [f64]) -> bool {
    let trace: f64 = (0..d).map(|i| (s[i * d + i] - t).abs()).sum();
    let margin = 4.0 * (d + 1) as f64 * f64::EPSILON * trace;
    for i in 0..d {
        for j in i..d {
            let mut v = s[i * d + j] - if i == j { t } else { 0.0 };
            for m in 0..i {
                v -= r[m * d + i] * r[m * d + j];
            }
            if i == j {
                // (NaN fails too)
                if v.is_nan() || v <= margin {
                    return false;
                }
                r[i * d + i] = v.sqrt();
            } else {
                r[i * d + j] = v / r[i * d + i];
            }
        }
    }
    true
}

/// The smallest left end of the Gershgorin discs of the symmetric matrix `s` (d × d): a lower
/// bound of its smallest eigenvalue (rounded down by a few ulps of the entries).
fn gershgorin(s: &[f64], d: usize) -> f64 {
    (0..d)
        .map(|i| {
            let row = &s[i * d..(i + 1) * d];
            let radius: f64 = (0..d).filter(|&j| j != i).map(|j| row[j].abs()).sum();
            let size: f64 = row.iter().map(|v| v.abs()).sum();
            row[i] - radius - 4.0 * d as f64 * f64::EPSILON * size
        })
        .fold(f64::INFINITY, f64::min)
}

/// U⁻¹ of the upper triangular U (d × d, row-major) into `w` (upper triangular), column by
/// column by back substitution; returns ‖U‖_F ‖U⁻¹‖_F.
fn invert_upper(u: &[f64], d: usize, w: &mut [f64]) -> f64 {
    w.fill(0.0);
    for col in 0..d {
        w[col * d + col] = 1.0 / u[col * d + col];
        for i in (0..col).rev() {
            let mut s = 0.0;
            for m in i + 1..=col {
                s -= u[i * d + m] * w[m * d + col];
            }
            w[i * d + col] = s / u[i * d + i];
        }
    }
    let norm = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>().sqrt();
    norm(u) * norm(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Symmetric matrices of known eigenvalues (Q diag(λ) Qᵀ for an orthogonal Q) against
    /// the bisection's bound: a lower bound, and within a millionth of the norm.
    #[test]
    fn the_smallest_eigenvalue_is_bounded_from_below_closely() {
        // A symmetric matrix with known eigenvalues: Q diag(λ) Qᵀ for a rotation Q.
        let (c, s) = (0.6_f64, 0.8_f64);
        let q = [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0];
        let lambda = [-0.3, 0.05, 0.2];
        let mut m = [0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                m[i * 3 + j] = (0..3)
                    .map(|k| q[i * 3 + k] * lambda[k] * q[j * 3 + k])
                    .sum();
            }
        }
        let mut scratch = [0.0; 9];
        let bound = smallest_eigenvalue(&m, 3, &mut scratch);
        assert!(bound <= -0.3, "{bound}");
        assert!(bound > -0.3 - 1e-6, "{bound}");
        // Diagonal: exact but for the slack.
        // Five features, two eigenvalues a hundred-thousandth apart, Q a Householder
        // reflection I − 2 v vᵀ / vᵀv.
        let v = [0.3, -1.2, 0.5, 0.8, -0.1];
        let vv: f64 = v.iter().map(|x| x * x).sum();
        let lambda = [0.01, -0.02, 0.3, -0.019_999_8, -0.001];
        let mut m = [0.0; 25];
        for i in 0..5 {
            for j in 0..5 {
                let q = |a: usize, b: usize| f64::from(u8::from(a == b)) - 2.0 * v[a] * v[b] / vv;
                m[i * 5 + j] = (0..5).map(|k| q(i, k) * lambda[k] * q(j, k)).sum();
            }
        }
        let norm = m.iter().map(|x| x * x).sum::<f64>().sqrt();
        let mut scratch = [0.0; 25];
        let bound = smallest_eigenvalue(&m, 5, &mut scratch);
        assert!(bound <= -0.02, "{bound}");
        assert!(bound > -0.02 - 2e-6 * norm, "{bound}");
        let mut scratch = [0.0; 9];
        let diagonal = [2.0, 0.0, 0.0, 1.0];
        let bound = smallest_eigenvalue(&diagonal, 2, &mut scratch);
        assert!(bound <= 1.0 && bound > 1.0 - 1e-5, "{bound}");
    }

    /// E(θ) bounds the new value of a component whose old value was at most θ, at points
    /// along a line through its mean, for a move of the mean and a change of the factor.
    #[test]
    fn the_excess_bounds_how_far_a_value_can_rise() {
        let d = 2;
        let u_old = [1.0, 0.3, 0.0, 2.0];
        let u_new = [0.9, 0.35, 0.0, 2.2];
        let (mu_old, mu_new) = ([0.0, 0.0], [0.1, -0.05]);
        let (c_old, c_new) = (-1.0, -0.9);
        let old = Components::new(1, d, vec![c_old], mu_old.to_vec(), u_old.to_vec()).unwrap();
        let new = Components::new(1, d, vec![c_new], mu_new.to_vec(), u_new.to_vec()).unwrap();
        let mut carried = Carried::default();
        carried.remember(&old, 0, 0);
        let mut scratch = [0.0; 8];
        let motion = carried
            .component_motion(&new, &Inverses::of(&new), 0, &mut scratch)
            .expect("a small move");
        let value = |m: &Components, x: &[f64]| {
            let (mut out, mut y) = ([0.0], [0.0; 2]);
            m.log_probs(x, &mut out, &mut y);
            out[0]
        };
        for step in 0..200 {
            let t = step as f64 * 0.1;
            for x in [[t, 0.5 * t], [-t, 0.2 * t], [0.3 * t, -t]] {
                let theta = value(&old, &x);
                let bound = theta + motion.excess(theta);
                assert!(
                    value(&new, &x) <= bound,
                    "{x:?}: {} > {bound}",
                    value(&new, &x)
                );
            }
        }
    }
}
