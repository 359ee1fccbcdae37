//! Log-density, responsibility and label kernels, on points and on pixel grids.
//!
//! Every kernel computes, per point, the weighted log-densities l_k of the components (see
//! [`crate::mixture`]) into a buffer of K values, then reduces them. Nothing of size
//! n_points × K exists except `predict_proba`'s output.
//!
//! Log-sum-exp is done exactly but cheaply: with m = max_k l_k reached first at k*,
//!
//! ```text
//! log p = m + ln(1 + Σ_{k ≠ k*} exp(l_k − m))      (sum in component order)
//! ```
//!
//! The running sum starts at 1, so a term below 2⁻⁵³ is under half an ulp of it and adding it
//! cannot change a single bit; those terms (l_k − m < −37) are skipped without calling `exp`.
//! The result is therefore bitwise the sum over all components, at the cost of a handful of
//! `exp` calls per pixel when the components are spread out.

// Loops over the lanes of a row index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use crate::cull::Culling;
use crate::error::KernelError;
use crate::evaluate::{for_each_pixel, lane_peaks, Reducer, Row, Store, LANES};
use crate::fastmath::{exp_neg, weights_into};
use crate::grid::{Axes, Window};
use crate::interrupt::Stop;
use crate::mixture::{Components, Planar};
use crate::points::{for_each_point, Group, PointReducer, Slots, LANES as POINT_LANES};

/// exp(−37) ≈ 8.5e−17 < 2⁻⁵³ ≈ 1.1e−16: a term this small cannot change a sum ≥ 1.
pub const NEGLIGIBLE: f64 = -37.0;

/// The largest of a set of log-densities and the first position where it occurs.
///
/// NaN entries (only possible when a squared distance overflows) never win; if no entry beats
/// −∞, `max` is −∞ and `argmax` is 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    pub max: f64,
    pub argmax: usize,
}

/// Finds the [`Peak`] of `l`.
#[inline]
pub fn peak(l: &[f64]) -> Peak {
    // Four independent running maxima let the compiler vectorise the scan.
    let mut lanes = [f64::NEG_INFINITY; 4];
    let mut chunks = l.chunks_exact(4);
    for c in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(c) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    let mut max = f64::NEG_INFINITY;
    for &v in lanes.iter().chain(chunks.remainder()) {
        max = if v > max { v } else { max };
    }
    let argmax = if max == f64::NEG_INFINITY {
        0
    } else {
        l.iter().position(|&v| v == max).unwrap_or(0)
    };
    Peak { max, argmax }
}

/// ln Σ_k exp(l_k − max): the log of the sum relative to the peak, ≥ 0 (see module docs).
///
/// `w` is scratch space. Only meaningful when `peak.max` is finite.
#[inline]
pub fn log_sum_rel(l: &[f64], peak: Peak, w: &mut Vec<f64>) -> f64 {
    relative_terms(l, peak, w).ln()
}

/// Σ_k exp(l_k − max) ≥ 1, the sum behind [`log_sum_rel`], leaving the terms in `w`: 0 for the
/// peak and for those skipped (below 2⁻⁵³ of it), exp(l_k − max) for the others.
#[inline]
pub fn relative_terms(l: &[f64], peak: Peak, w: &mut Vec<f64>) -> f64 {
    w.resize(l.len(), 0.0);
    // The terms, all at once (this loop vectorises), then their sum in component order
    // starting from the peak's 1, which keeps the skipped terms' no-op argument valid.
    weights_into(l, peak.max, NEGLIGIBLE, w);
    w[peak.argmax] = 0.0;
    let mut sum = 1.0;
    for &v in w.iter() {
        sum += v;
    }
    sum
}

/// log Σ_k exp(l_k), exact as described in the module documentation; `w` is scratch space.
#[inline]
pub fn log_sum_exp(l: &[f64], peak: Peak, w: &mut Vec<f64>) -> f64 {
    if peak.max == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    peak.max + log_sum_rel(l, peak, w)
}

/// Log-sum-exp at every point: per lane, the terms that [`log_sum_exp`] adds for one point,
/// in the same order.
struct PointLogDensity;

impl PointReducer<f64> for PointLogDensity {
    type State = ();
    fn state(&self) {}
    fn width(&self) -> usize {
        1
    }
    #[inline(always)]
    fn group(&self, _: &mut (), group: &Group, slots: &mut Slots<f64>) {
        let (max, arg) = (&group.max, &group.arg);
        let mut sum = [1.0; POINT_LANES];
        for (c, lanes) in group.l.chunks_exact(POINT_LANES).enumerate() {
            // No `exp` for a candidate negligible at every lane (most of them): its terms
            // would all be skipped.
            let mut any = false;
            for p in 0..POINT_LANES {
                any |= lanes[p] - max[p] > NEGLIGIBLE;
            }
            if !any {
                continue;
            }
            for p in 0..POINT_LANES {
                let t = lanes[p] - max[p];
                let e = exp_neg(t);
                sum[p] += if t > NEGLIGIBLE && c != arg[p] {
                    e
                } else {
                    0.0
                };
            }
        }
        for p in 0..group.len {
            if max[p] > f64::NEG_INFINITY {
                slots.get(p).0[0] = max[p] + sum[p].ln();
            }
        }
    }
    fn point(&self, _: &mut (), _: &[f64], _: &[f64], _: usize, out: &mut [f64], _: &mut [f64]) {
        // Beyond the range of f64 the log-density rounds to −∞.
        out[0] = f64::NEG_INFINITY;
    }
}

/// The first most responsible component at every point.
struct PointLabel;

impl PointReducer<i64> for PointLabel {
    type State = ();
    fn state(&self) {}
    fn width(&self) -> usize {
        1
    }
    #[inline]
    fn group(&self, _: &mut (), group: &Group, slots: &mut Slots<i64>) {
        for p in 0..group.len {
            slots.get(p).0[0] = group.cands[group.arg[p]] as i64;
        }
    }
    fn point(&self, _: &mut (), l: &[f64], _: &[f64], _: usize, out: &mut [i64], _: &mut [i64]) {
        out[0] = peak(l).argmax as i64;
    }
}

/// Responsibilities at every point: a row of K values, 0 wherever the term is below 2⁻⁵³ of
/// the largest (culled, or skipped by the sum).
struct PointResponsibilities {
    n_components: usize,
}

impl PointResponsibilities {
    /// One point's row from the values `l` of the components `index(c)`.
    fn row(&self, l: &[f64], index: impl Fn(usize) -> usize, w: &mut Vec<f64>, out: &mut [f64]) {
        out.fill(0.0);
        let pk = peak(l);
        if pk.max == f64::NEG_INFINITY {
            out[index(pk.argmax)] = 1.0;
            return;
        }
        // exp((l_k − max) − ln s): subtracting the peak first is exact for nearby values,
        // where subtracting log p directly would lose the digits that ulp(log p) hides. The C
        // library's exp: responsibilities span the whole range down to 2⁻⁵³.
        let rel = log_sum_rel(l, pk, w);
        for (c, &v) in l.iter().enumerate() {
            let t = v - pk.max;
            if t > NEGLIGIBLE {
                out[index(c)] = (t - rel).exp();
            }
        }
    }
}

impl PointReducer<f64> for PointResponsibilities {
    /// One point's values and the weights of its sum.
    type State = (Vec<f64>, Vec<f64>);
    fn state(&self) -> Self::State {
        (Vec::new(), Vec::new())
    }
    fn width(&self) -> usize {
        self.n_components
    }
    #[inline]
    fn group(&self, (l, w): &mut Self::State, group: &Group, slots: &mut Slots<f64>) {
        for p in 0..group.len {
            if group.max[p] > f64::NEG_INFINITY {
                group.values(p, l);
                self.row(l, |c| group.cands[c], w, slots.get(p).0);
            }
        }
    }
    fn point(
        &self,
        (_, w): &mut Self::State,
        l: &[f64],
        _: &[f64],
        _: usize,
        out: &mut [f64],
        _: &mut [f64],
    ) {
        self.row(l, |k| k, w, out);
    }
}

/// The culling of the log-density and responsibility kernels: the exact rule drops terms
/// below 2⁻⁵³ of the largest, which their sums skip anyway.
pub fn density_culling(rtol: f64) -> Culling {
    Culling {
        threshold: NEGLIGIBLE,
        rtol,
    }
}

/// The number of candidates at every point.
struct PointCount;

impl PointReducer<i64> for PointCount {
    type State = ();
    fn state(&self) {}
    fn width(&self) -> usize {
        1
    }
    fn group(&self, _: &mut (), group: &Group, slots: &mut Slots<i64>) {
        for p in 0..group.len {
            slots.get(p).0[0] = group.cands.len() as i64;
        }
    }
    fn point(&self, _: &mut (), l: &[f64], _: &[f64], _: usize, out: &mut [i64], _: &mut [i64]) {
        out[0] = l.len() as i64;
    }
}

/// How many components the point kernels evaluate at each row of `x` (its leaf's candidates
/// after culling with `culling`; all of them where the cold path runs), into `out`: for
/// performance reports.
pub fn point_candidate_counts(
    mixture: &Components,
    x: &[f64],
    culling: &Culling,
    out: &mut [i64],
    stop: &Stop,
) -> Result<(), KernelError> {
    for_each_point(mixture, x, culling, out, &mut [], &PointCount, stop)
}

/// The culling of [`predict_points`]: see there.
pub const LABEL_CULLING: Culling = Culling {
    threshold: 0.0,
    rtol: 0.0,
};

/// log p(x) for every row of `x` (n × d) into `out` (n,): scikit-learn's `score_samples`.
///
/// `rtol` = 0 is exact: bitwise the sum over every component (see the module documentation),
/// whatever the other points. With `rtol` > 0, (1 − rtol)·p ≤ p̂ ≤ p at every point (see
/// [`crate::points`]).
pub fn score_points(
    mixture: &Components,
    x: &[f64],
    rtol: f64,
    out: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    let culling = density_culling(rtol);
    for_each_point(mixture, x, &culling, out, &mut [], &PointLogDensity, stop)
}

/// Responsibilities for every row of `x` into `out` (n × K): scikit-learn's `predict_proba`.
///
/// Every responsibility that is not provably below 2⁻⁵³ of the point's largest is computed;
/// the others are written as 0 (an absolute error below 1.2e-16). With `rtol` > 0 the
/// responsibilities are those of the mixture without the components culled by the rtol rule
/// (together at most rtol of the density).
pub fn predict_proba_points(
    mixture: &Components,
    x: &[f64],
    rtol: f64,
    out: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    let culling = density_culling(rtol);
    let reducer = PointResponsibilities {
        n_components: mixture.n_components(),
    };
    for_each_point(mixture, x, &culling, out, &mut [], &reducer, stop)
}

/// The first most responsible component for every row of `x` into `out` (n,): `predict`.
///
/// Only components whose upper bound over a box reaches its best lower bound can be a point's
/// most responsible one, so the culling keeps those (threshold 0) and no others: exact, and
/// faster than any rtol would make it.
pub fn predict_points(
    mixture: &Components,
    x: &[f64],
    out: &mut [i64],
    stop: &Stop,
) -> Result<(), KernelError> {
    for_each_point(mixture, x, &LABEL_CULLING, out, &mut [], &PointLabel, stop)
}

/// Log-sum-exp at every pixel: per lane, the same terms added in the same order as
/// [`log_sum_exp`] does for one pixel, so grid and point kernels agree to the bit.
struct LogDensity;

impl<T: Store> Reducer<T> for LogDensity {
    type State = ();
    fn state(&self) {}
    #[inline(always)]
    fn row(&self, _: &mut (), row: &Row, _: &Planar, out: &mut [T], _: &mut [T]) {
        let (max, arg) = lane_peaks(row);
        let mut sum = [1.0; LANES];
        for (k, lanes) in row.l[..row.n * LANES].chunks_exact(LANES).enumerate() {
            for p in 0..LANES {
                let t = lanes[p] - max[p];
                let e = exp_neg(t);
                sum[p] += if t > NEGLIGIBLE && k != arg[p] {
                    e
                } else {
                    0.0
                };
            }
        }
        for p in 0..row.len {
            let value = if max[p] == f64::NEG_INFINITY {
                f64::NEG_INFINITY
            } else {
                max[p] + sum[p].ln()
            };
            out[p] = T::store(value);
        }
    }
}

/// Arg-max at every pixel.
struct Label;

impl Reducer<i64> for Label {
    type State = ();
    fn state(&self) {}
    #[inline(always)]
    fn row(&self, _: &mut (), row: &Row, cands: &Planar, out: &mut [i64], _: &mut [i64]) {
        let (max, arg) = lane_peaks(row);
        for p in 0..row.len {
            // A sub-tile always keeps at least one candidate: the one with the best lower bound.
            out[p] = cands.index.get(arg[p]).map_or(0, |&k| k as i64);
        }
        if max[..row.len].contains(&f64::NEG_INFINITY) {
            nearest_labels(row, cands, &max, out);
        }
    }
}

/// The cold path of [`Label`] for the pixels of a row where every candidate's log-density is
/// −∞: the nearest candidate (see [`crate::mixture::nearest_log_probs`]).
#[cold]
#[inline(never)]
fn nearest_labels(row: &Row, cands: &Planar, max: &[f64; LANES], out: &mut [i64]) {
    let mut l = vec![0.0; cands.len()];
    for p in 0..row.len {
        if max[p] == f64::NEG_INFINITY {
            cands.nearest_log_probs(row.xs[p], row.y, &mut l);
            out[p] = cands.index.get(peak(&l).argmax).map_or(0, |&k| k as i64);
        }
    }
}

/// The number of candidates at every pixel.
struct Count;

impl Reducer<i64> for Count {
    type State = ();
    fn state(&self) {}
    fn row(&self, _: &mut (), row: &Row, _: &Planar, out: &mut [i64], _: &mut [i64]) {
        out[..row.len].fill(row.n as i64);
    }
}

/// Log-density of a two-feature mixture at every pixel centre of `window` into `out`
/// (window height × width).
///
/// `rtol` = 0 is exact: tile culling only removes terms the reduction would skip anyway, so
/// the result is bitwise that of evaluating every component. With `rtol` > 0 the density
/// returned satisfies p − rtol·p ≤ p̂ ≤ p at every pixel (see [`crate::cull`]).
pub fn log_density_grid<T: Store>(
    mixture: &Planar,
    axes: &Axes,
    window: &Window,
    rtol: f64,
    out: &mut [T],
    stop: &Stop,
) -> Result<(), KernelError> {
    let culling = Culling {
        threshold: NEGLIGIBLE,
        rtol,
    };
    for_each_pixel(
        mixture,
        axes,
        window,
        &culling,
        1,
        out,
        &mut [],
        &LogDensity,
        stop,
    )
}

/// The first most responsible component at every pixel centre of `window` into `out`.
///
/// Culling never removes a pixel's most responsible component (a culled component is below
/// the tile's best lower bound), so labels are exact for any `rtol` < 1.
pub fn label_grid(
    mixture: &Planar,
    axes: &Axes,
    window: &Window,
    rtol: f64,
    out: &mut [i64],
    stop: &Stop,
) -> Result<(), KernelError> {
    let culling = Culling {
        threshold: NEGLIGIBLE,
        rtol,
    };
    for_each_pixel(
        mixture,
        axes,
        window,
        &culling,
        1,
        out,
        &mut [],
        &Label,
        stop,
    )
}

/// How many components the grid kernels evaluate at each pixel of `window` (its sub-tile's
/// candidates after culling with `culling`), into `out`: for performance reports.
pub fn candidate_counts(
    mixture: &Planar,
    axes: &Axes,
    window: &Window,
    culling: &Culling,
    out: &mut [i64],
    stop: &Stop,
) -> Result<(), KernelError> {
    for_each_pixel(
        mixture,
        axes,
        window,
        culling,
        1,
        out,
        &mut [],
        &Count,
        stop,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Stop;

    /// log Σ exp, the textbook way, for comparison.
    fn naive(l: &[f64]) -> f64 {
        let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + l.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }

    #[test]
    fn peak_finds_first_maximum() {
        assert_eq!(
            peak(&[1.0, 3.0, 2.0, 3.0, 0.0]),
            Peak {
                max: 3.0,
                argmax: 1
            }
        );
        let all_low = peak(&[f64::NEG_INFINITY, f64::NAN]);
        assert_eq!(all_low.max, f64::NEG_INFINITY);
        assert_eq!(all_low.argmax, 0);
        assert_eq!(peak(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).argmax, 6);
    }

    #[test]
    fn log_sum_exp_is_exact_and_skips_only_invisible_terms() {
        let l = [-1000.0, -3.0, -2.5, -1000.0 + 1e-9, -40.0, -2.9];
        let w = &mut Vec::new();
        let got = log_sum_exp(&l, peak(&l), w);
        assert!((got - naive(&l)).abs() < 1e-15);
        // Bitwise the sum over every term, the maximum first.
        let pk = peak(&l);
        let mut sum = 1.0;
        for (k, v) in l.iter().enumerate() {
            if k != pk.argmax {
                sum += crate::fastmath::exp_neg(v - pk.max);
            }
        }
        assert_eq!(got, pk.max + f64::ln(sum));
        let low = [f64::NEG_INFINITY];
        assert_eq!(log_sum_exp(&low, peak(&low), w), f64::NEG_INFINITY);
    }

    #[test]
    fn responsibilities_sum_to_one_and_never_nan() {
        let mut r = [0.0; 3];
        let w = &mut Vec::new();
        let reducer = PointResponsibilities { n_components: 3 };
        let responsibilities =
            |l: &[f64], r: &mut [f64], w: &mut Vec<f64>| reducer.row(l, |k| k, w, r);
        responsibilities(&[-1e6, -1e6 - 1.0, -2e6], &mut r, w);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(r[0] > r[1] && r[2] == 0.0);
        responsibilities(&[f64::NEG_INFINITY, f64::NAN, f64::NEG_INFINITY], &mut r, w);
        assert_eq!(r, [1.0, 0.0, 0.0]);
    }

    #[test]
    fn grid_and_point_kernels_agree() {
        let m = Components::new(
            3,
            2,
            vec![-1.0, -0.5, -2.0],
            vec![0.0, 0.0, 5.0, 5.0, -3.0, 8.0],
            vec![
                1.0, 0.2, 0.0, 0.8, //
                0.5, 0.0, 0.0, 0.5, //
                2.0, -1.0, 0.0, 3.0,
            ],
        )
        .unwrap();
        let xs: Vec<f64> = (0..37).map(|j| -10.0 + 0.6 * j as f64).collect();
        let ys: Vec<f64> = (0..35).map(|i| 15.0 - 0.7 * i as f64).collect();
        let axes = Axes::new(&xs, &ys).unwrap();
        let mut grid = vec![0.0; 37 * 35];
        let mut labels = vec![0i64; 37 * 35];
        let p = m.planar().unwrap();
        log_density_grid(&p, &axes, &axes.full(), 0.0, &mut grid, &Stop::new()).unwrap();
        label_grid(&p, &axes, &axes.full(), 0.0, &mut labels, &Stop::new()).unwrap();
        let points: Vec<f64> = ys
            .iter()
            .flat_map(|&y| xs.iter().flat_map(move |&x| [x, y]))
            .collect();
        let mut scores = vec![0.0; 37 * 35];
        let mut predicted = vec![0i64; 37 * 35];
        score_points(&m, &points, 0.0, &mut scores, &Stop::new()).unwrap();
        predict_points(&m, &points, &mut predicted, &Stop::new()).unwrap();
        assert_eq!(grid, scores);
        assert_eq!(labels, predicted);
        assert!(labels.contains(&2) && labels.contains(&1));
    }

    #[test]
    fn far_points_are_finite_and_go_to_the_nearest_component() {
        // Equal weights, Σ_0 = I at the origin, Σ_1 = 100 I at (10, 0).
        let c0 = -f64::ln(2.0 * std::f64::consts::PI) + f64::ln(0.5);
        let c1 = c0 + 2.0 * f64::ln(0.1);
        let m = Components::new(
            2,
            2,
            vec![c0, c1],
            vec![0.0, 0.0, 10.0, 0.0],
            vec![1.0, 0.0, 0.0, 1.0, 0.1, 0.0, 0.0, 0.1],
        )
        .unwrap();
        let x = [-1e4, 0.0];
        let mut s = [0.0];
        let mut r = [0.0; 2];
        score_points(&m, &x, 0.0, &mut s, &Stop::new()).unwrap();
        predict_proba_points(&m, &x, 0.0, &mut r, &Stop::new()).unwrap();
        assert!(s[0].is_finite());
        let expected = c1 - 0.5 * (1e4f64 + 10.0).powi(2) * 0.01;
        assert!((s[0] - expected).abs() <= 1e-12 * expected.abs());
        assert_eq!(r, [0.0, 1.0]);
    }

    #[test]
    fn rejects_mismatched_lengths() {
        let m = Components::new(1, 2, vec![0.0], vec![0.0; 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(score_points(&m, &[0.0; 3], 0.0, &mut [0.0], &Stop::new()).is_err());
        assert!(score_points(&m, &[0.0; 4], 0.0, &mut [0.0], &Stop::new()).is_err());
        assert!(predict_proba_points(&m, &[0.0; 2], 0.0, &mut [0.0; 2], &Stop::new()).is_err());
    }

    #[test]
    fn a_requested_stop_interrupts_every_driver() {
        let m = Components::new(1, 2, vec![0.0], vec![0.0; 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let stop = Stop::new();
        stop.request();
        let x = vec![0.0; 2 * 1000];
        let mut out = vec![7.0; 1000];
        assert_eq!(
            score_points(&m, &x, 0.0, &mut out, &stop),
            Err(KernelError::Interrupted)
        );
        // Nothing was computed: the work items look at the request before starting.
        assert!(out.iter().all(|&v| v == 7.0));
        let xs: Vec<f64> = (0..100).map(f64::from).collect();
        let axes = Axes::new(&xs, &xs).unwrap();
        let mut grid = vec![7.0; 100 * 100];
        let p = m.planar().unwrap();
        assert_eq!(
            log_density_grid(&p, &axes, &axes.full(), 0.0, &mut grid, &stop),
            Err(KernelError::Interrupted)
        );
        assert!(grid.iter().all(|&v| v == 7.0));
    }
}
