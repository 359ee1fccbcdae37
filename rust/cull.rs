//! Error-bounded culling: which components can matter anywhere in a rectangle of pixels.
//!
//! For component k and a rectangle R of pixel centres, with q_k(p) = ‖(p − μ_k)ᵀ U_k‖² a convex
//! quadratic, its log-density l_k(p) = c_k − ½ q_k(p) satisfies on R
//!
//! ```text
//! lo_k = c_k − ½ max_R q_k  ≤  l_k(p)  ≤  hi_k = c_k − ½ min_R q_k
//! ```
//!
//! The maximum of a convex function over a rectangle is at a corner; its minimum is 0 when μ_k
//! lies in R, else on an edge, where it is a clamped one-dimensional quadratic. With
//! B = max_k lo_k, every pixel of R has max_k l_k(p) ≥ B, so component k's term is at most
//! exp(hi_k − B) times the largest term at that pixel. Two rules follow:
//!
//! * **exact** (always on): drop k when hi_k − B < `threshold`, the cut-off below which the
//!   per-pixel reduction skips a term anyway (−37 for log-sum-exp, −37 − ln K for conditional
//!   means). Such a term never reaches the result, so culling changes no bit of it.
//! * **rtol** (when > 0): then drop, smallest first, further components while
//!   Σ exp(hi_k − B) ≤ rtol. At every pixel of R the dropped density is at most
//!   rtol·exp(B) ≤ rtol·max_k p_k(p) ≤ rtol·p(p).
//!
//! The bounds are computed in floating point, as the kernels' values are; both are widened by
//! far more than their rounding error relative to the size of the quadratic's terms, and a
//! margin of [`MARGIN`] nats keeps the rules on the safe side.

use crate::grid::Rect;
use crate::mixture::Planar;

/// Safety margin in nats between a bound and a cut-off.
pub const MARGIN: f64 = 1e-6;

/// How aggressively to cull.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Culling {
    /// Cut-off (negative, nats below the best lower bound) of the exact rule.
    pub threshold: f64,
    /// Relative error budget of the rtol rule, in [0, 1); 0 turns it off.
    pub rtol: f64,
}

/// Bounds of c − ½ q(p) over `rect` for the 2-D component at position `i` of `p`.
#[inline]
pub fn bounds(p: &Planar, i: usize, rect: &Rect) -> (f64, f64) {
    let (u00, u01, u11) = (p.u00[i], p.u01[i], p.u11[i]);
    // Precision Λ = U Uᵀ: q = a δx² + 2 b δx δy + c δy².
    let a = u00 * u00 + u01 * u01;
    let b = u01 * u11;
    let c = u11 * u11;
    let q = |dx: f64, dy: f64| a * dx * dx + 2.0 * b * dx * dy + c * dy * dy;
    let (mx, my) = (p.mx[i], p.my[i]);
    let dx = [rect.x[0] - mx, rect.x[1] - mx];
    let dy = [rect.y[0] - my, rect.y[1] - my];

    // Far from the mean the terms of q overflow, and +∞ − ∞ is NaN. `f64::max` and `f64::min`
    // would silently drop a NaN corner or edge and so make a bound that does not hold (a lower
    // bound of c, an upper bound of −∞: the component culled, or every component culled). A
    // NaN instead gives the trivial bound on its side: max q = +∞, min q = 0.
    let mut q_max: f64 = 0.0;
    for &ex in &dx {
        for &ey in &dy {
            let v = q(ex, ey);
            q_max = if v > q_max || v.is_nan() { v } else { q_max };
        }
    }
    if q_max.is_nan() {
        q_max = f64::INFINITY;
    }
    let inside = dx[0] <= 0.0 && dx[1] >= 0.0 && dy[0] <= 0.0 && dy[1] >= 0.0;
    // A degenerate factor (never produced from a positive definite covariance) gets the
    // trivial bound min q ≥ 0.
    let q_min = if inside || !(a > 0.0 && c > 0.0) {
        0.0
    } else {
        let mut best = f64::INFINITY;
        // Edges at fixed x: minimise over δy ∈ [dy0, dy1]: δy* = −b δx / c (c > 0).
        // (`clamp` keeps a NaN argument NaN; `min_nan` keeps a NaN value.)
        let min_nan = |best: f64, v: f64| if v < best || v.is_nan() { v } else { best };
        for &ex in &dx {
            let ey = (-b * ex / c).clamp(dy[0], dy[1]);
            best = min_nan(best, q(ex, ey));
        }
        for &ey in &dy {
            let ex = (-b * ey / a).clamp(dx[0], dx[1]);
            best = min_nan(best, q(ex, ey));
        }
        // The quadratic is ≥ 0; rounding must not make the bound negative, and a NaN edge
        // (overflow, see above) leaves only the trivial bound.
        if best.is_nan() {
            0.0
        } else {
            best.max(0.0)
        }
    };
    // Rounding: the bounds and the kernels' values are computed by different formulas, each
    // within a few ulps of the size of its largest terms (at most `size` on the rectangle).
    // Far from a component that is far more than MARGIN nats (5e305 ± 1e290 at 1e152 pixels
    // from it), so both bounds are widened by ROUNDING·size; an overflowing size leaves the
    // trivial upper bound c.
    let (ax, ay) = (dx[0].abs().max(dx[1].abs()), dy[0].abs().max(dy[1].abs()));
    let size = a * ax * ax + 2.0 * b.abs() * ax * ay + c * ay * ay;
    let slack = ROUNDING * size;
    let ci = p.c[i];
    if !slack.is_finite() {
        return (f64::NEG_INFINITY, ci);
    }
    (ci - 0.5 * q_max - slack, (ci - 0.5 * q_min + slack).min(ci))
}

/// Relative rounding error allowed for the values of a quadratic and its bounds (a few ulps
/// are enough; this is a thousand).
const ROUNDING: f64 = 1e-13;

/// Positions (in increasing order) of the components of `p` among `among` that may matter
/// in `rect`, by the rules in the module documentation.
pub fn select(p: &Planar, among: &[usize], rect: &Rect, culling: &Culling) -> Vec<usize> {
    let bounds: Vec<(f64, f64)> = among.iter().map(|&i| bounds(p, i, rect)).collect();
    keep(among, &bounds, culling)
}

/// The components of `among` that may matter in a region where component `among[j]` lies
/// between `bounds[j].0` and `bounds[j].1`, by the rules in the module documentation (in the
/// order of `among`). The region's shape does not matter here: the grid kernels bound over
/// rectangles of pixels ([`bounds`]), the point driver over boxes of points.
pub fn keep(among: &[usize], bounds: &[(f64, f64)], culling: &Culling) -> Vec<usize> {
    let best_lower = best_lower(bounds);
    if !best_lower.is_finite() {
        // No usable lower bound (every corner overflowed): cull nothing.
        return among.to_vec();
    }
    let cut = culling.threshold - MARGIN;
    // A NaN bound (overflow) must keep its component: compare so that NaN is kept, and give
    // it an infinite gap so that the rtol rule keeps it too.
    let mut keep: Vec<(usize, f64)> = among
        .iter()
        .zip(bounds)
        .map(|(&i, &(_, hi))| {
            let gap = hi - best_lower;
            (i, if gap.is_nan() { f64::INFINITY } else { gap })
        })
        .filter(|&(_, gap)| gap >= cut)
        .collect();
    if culling.rtol > 0.0 {
        // Drop the weakest while their total stays within budget (with the margin applied to
        // every term so the budget holds despite rounding of the bounds). Only a term of at
        // most the budget can go, so only those are sorted (usually a few of the candidates);
        // 1e-9 nats of slack keep every term the loop below could take.
        let droppable = culling.rtol.ln() - MARGIN + 1e-9;
        let mut order: Vec<usize> = (0..keep.len())
            .filter(|&o| keep[o].1 <= droppable)
            .collect();
        order.sort_unstable_by(|&a, &b| keep[a].1.total_cmp(&keep[b].1));
        let mut spent = 0.0;
        let mut dropped = vec![false; keep.len()];
        for &o in &order {
            let gap = keep[o].1 + MARGIN;
            if gap >= 0.0 {
                break;
            }
            let share = gap.exp();
            if spent + share > culling.rtol {
                break;
            }
            spent += share;
            dropped[o] = true;
        }
        let mut it = dropped.iter();
        keep.retain(|_| !it.next().copied().unwrap_or(false));
    }
    if keep.is_empty() {
        // Cannot happen with sound bounds (the component of the best lower bound has a gap
        // ≥ 0), but a region without candidates would have no value at all: keep every one.
        return among.to_vec();
    }
    keep.into_iter().map(|(i, _)| i).collect()
}

/// The largest of the lower `bounds` (the first of each pair): every point of the region has
/// a term at least this large. −∞ for none.
pub fn best_lower(bounds: &[(f64, f64)]) -> f64 {
    bounds
        .iter()
        .fold(f64::NEG_INFINITY, |best, &(lo, _)| best.max(lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixture::Components;

    fn planar(c: &[f64], means: &[f64], u: &[f64]) -> Planar {
        Components::new(c.len(), 2, c.to_vec(), means.to_vec(), u.to_vec())
            .unwrap()
            .planar()
            .unwrap()
    }

    /// Bounds hold at a fine lattice of points of the rectangle, and are attained.
    #[test]
    fn bounds_enclose_the_component_on_the_rectangle() {
        let p = planar(
            &[0.5, -1.0, 2.0],
            &[0.3, 0.4, 5.0, -7.0, -2.0, 1.0],
            &[
                1.3, -0.7, 0.0, 0.4, //
                0.2, 0.1, 0.0, 3.0, //
                2.0, 1.9, 0.0, 0.05,
            ],
        );
        let rect = Rect {
            x: [-1.0, 2.5],
            y: [0.0, 3.0],
        };
        for i in 0..3 {
            let (lo, hi) = bounds(&p, i, &rect);
            let mut seen_lo = f64::INFINITY;
            let mut seen_hi = f64::NEG_INFINITY;
            let mut l = vec![0.0; 3];
            for a in 0..=200 {
                for b in 0..=200 {
                    let x = -1.0 + 3.5 * a as f64 / 200.0;
                    let y = 3.0 * b as f64 / 200.0;
                    p.log_probs(x, y, &mut l);
                    assert!(l[i] >= lo - 1e-12 && l[i] <= hi + 1e-12);
                    seen_lo = seen_lo.min(l[i]);
                    seen_hi = seen_hi.max(l[i]);
                }
            }
            assert!((seen_lo - lo).abs() < 1e-9, "{i}: {seen_lo} vs {lo}");
            // The lattice approaches the true maximum to its spacing.
            assert!(hi - seen_hi < 1e-2, "{i}: {seen_hi} vs {hi}");
        }
    }

    #[test]
    fn exact_rule_keeps_what_matters_and_rtol_drops_within_budget() {
        // Three unit components at x = 0, 5 and 40; the rectangle is around x = 0.
        let u = [1.0, 0.0, 0.0, 1.0];
        let p = planar(
            &[0.0, 0.0, 0.0],
            &[0.0, 0.0, 5.0, 0.0, 40.0, 0.0],
            &[u, u, u].concat(),
        );
        let rect = Rect {
            x: [-0.5, 0.5],
            y: [-0.5, 0.5],
        };
        let all = [0, 1, 2];
        let exact = Culling {
            threshold: -37.0,
            rtol: 0.0,
        };
        // Component 2 is ≥ ½·39.5² − ½·(0.5² + 0.5²) ≫ 37 nats below: culled exactly.
        assert_eq!(select(&p, &all, &rect, &exact), vec![0, 1]);
        // Component 1 is at most exp(−½·4.5² + ½·0.5) ≈ 5e-5 of the best: a budget of 1e-4
        // drops it, 1e-5 does not.
        let loose = Culling {
            rtol: 1e-4,
            ..exact
        };
        let tight = Culling {
            rtol: 1e-5,
            ..exact
        };
        assert_eq!(select(&p, &all, &rect, &loose), vec![0]);
        assert_eq!(select(&p, &all, &rect, &tight), vec![0, 1]);
    }

    #[test]
    fn zero_weight_components_are_always_culled_and_overflow_culls_nothing() {
        let u = [1.0, 0.0, 0.0, 1.0];
        let p = planar(
            &[f64::NEG_INFINITY, 0.0],
            &[0.0, 0.0, 1.0, 1.0],
            &[u, u].concat(),
        );
        let rect = Rect {
            x: [0.0, 1.0],
            y: [0.0, 1.0],
        };
        let exact = Culling {
            threshold: -37.0,
            rtol: 0.0,
        };
        assert_eq!(select(&p, &[0, 1], &rect, &exact), vec![1]);
        let far = Rect {
            x: [-1e300, 1e300],
            y: [0.0, 1.0],
        };
        assert_eq!(select(&p, &[0, 1], &far, &exact), vec![0, 1]);
    }

    /// A correlated component far away: the corner values of q are +∞ − ∞ = NaN. The bounds
    /// must stay bounds (lower −∞, upper c), not a lower bound of c and an upper bound of −∞,
    /// which culled the only component.
    #[test]
    fn overflowing_bounds_are_trivial_not_wrong() {
        // Σ = [[1, .5], [.5, 1]]: U = [[u00, u01], [0, u11]] with u01 < 0.
        let u11 = 1.0;
        let u01 = -0.5 / 0.75f64.sqrt();
        let u00 = 1.0 / 0.75f64.sqrt();
        let p = planar(&[0.0], &[0.0, 0.0], &[u00, u01, 0.0, u11]);
        let rect = Rect {
            x: [2e154, 2e154],
            y: [2e154, 2e154],
        };
        let (lo, hi) = bounds(&p, 0, &rect);
        assert_eq!(lo, f64::NEG_INFINITY);
        assert!(hi <= 0.0);
        let exact = Culling {
            threshold: -37.0,
            rtol: 0.0,
        };
        assert_eq!(select(&p, &[0], &rect, &exact), vec![0]);
    }
}
