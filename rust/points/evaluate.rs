//! Evaluating a leaf's candidates at its points, eight at a time, and handing them to the
//! reducer.

// Loops over the lanes index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;

use std::sync::atomic::Ordering;

use super::carry::{Motion, HYSTERESIS};
use super::tree::Node;
use super::{Driver, Group, Memo, Moved, PointReducer, Scratch, Slots, LANES, LEAF};
use crate::cull::MARGIN;
use crate::mixture::Components;
use crate::specialise::{fixed, specialise};

/// A leaf's work, done by [`Driver::run`].
enum Job<'j> {
    /// Evaluate and reduce; with `record` = (floor, cut), also track for the next call
    /// (below `floor`, `cut` nats under the largest term).
    Evaluate {
        node: &'j Node,
        cands: &'j [usize],
        record: Option<(f64, f64)>,
    },
    /// Evaluate, check, and only if every point holds reduce and track.
    Recall {
        node: &'j Node,
        cands: &'j [usize],
        theta: &'j [f64],
        motion: &'j Motion,
        floor: f64,
        threshold: f64,
    },
}

/// One group's lanes after evaluation: their rows, how many are real, and per lane the
/// largest value and the first candidate reaching it.
#[derive(Clone, Copy)]
pub(super) struct Head {
    rows: [usize; LANES],
    /// Position of the first lane in the tree's order.
    start: usize,
    len: usize,
    max: [f64; LANES],
    arg: [usize; LANES],
}

/// What a leaf records for the next E-step of a fit ([`super::carry`]): per candidate,
/// whether it comes within the cut of the largest term at one of the points; per point θ,
/// above every candidate that does not; and whether every point had a term above −∞.
#[derive(Default)]
pub(super) struct Track {
    near: Vec<bool>,
    theta: Vec<f64>,
    usable: bool,
}

impl Track {
    fn start(&mut self, candidates: usize, points: usize) {
        self.near.clear();
        self.near.resize(candidates, false);
        self.theta.clear();
        self.theta.resize(points, f64::NEG_INFINITY);
        self.usable = true;
    }

    /// Adds group `g` (values `l`, lane-major) with its points' bounds `base` on what was not
    /// evaluated there, and `cut` nats below each lane's largest term.
    #[inline(always)]
    fn add(&mut self, g: usize, head: &Head, l: &[f64], base: &[f64], cut: f64) {
        let mut low = [f64::NEG_INFINITY; LANES];
        let mut limit = [0.0; LANES];
        for p in 0..LANES {
            limit[p] = head.max[p] + cut;
        }
        // Every lane, without branches: the lanes past the group's points repeat its last
        // point (`Tree::lanes`), so they add nothing the real ones do not.
        for (near, lanes) in self.near.iter_mut().zip(l.chunks_exact(LANES)) {
            let lanes: &[f64; LANES] = lanes.try_into().expect("LANES values");
            let mut hit = false;
            for p in 0..LANES {
                let above = lanes[p] >= limit[p];
                hit |= above;
                // (a NaN value, never produced, would leave `low` as it is, as `max` does)
                low[p] = if !above && lanes[p] > low[p] {
                    lanes[p]
                } else {
                    low[p]
                };
            }
            *near |= hit;
        }
        for p in 0..head.len {
            self.usable &= head.max[p] > f64::NEG_INFINITY;
            self.theta[g * LANES + p] = base[p].max(low[p]);
        }
    }
}

impl<T: Send, R: PointReducer<T>> Driver<'_, T, R> {
    /// Evaluates the candidates at the leaf's points, [`LANES`] at a time, and reduces.
    pub(super) fn evaluate_leaf(&self, node: &Node, cands: &[usize], s: &mut Scratch<R::State>) {
        let record = None;
        self.run(
            Job::Evaluate {
                node,
                cands,
                record,
            },
            s,
        );
    }

    /// [`Self::evaluate_leaf`] for leaf `i` of a fit's E-step, on its candidates `cands`
    /// selected below `floor`, recording its candidates and θ for the next call.
    pub(super) fn record_leaf(
        &self,
        i: usize,
        node: &Node,
        cands: &[usize],
        floor: f64,
        s: &mut Scratch<R::State>,
    ) {
        let memo = self.memo.expect("a fit's E-step");
        let record = Some((floor, memo.threshold - HYSTERESIS));
        self.run(
            Job::Evaluate {
                node,
                cands,
                record,
            },
            s,
        );
        self.keep_record(memo, i, node, cands, &s.track);
    }

    /// Tries leaf `i`'s carried candidates (with the components that moved much): evaluates
    /// them at every point of the leaf, and reduces only if at every point the certificate
    /// holds ([`super::carry`]). Returns whether it did.
    pub(super) fn recall_leaf(
        &self,
        i: usize,
        node: &Node,
        moved: Moved,
        s: &mut Scratch<R::State>,
    ) -> bool {
        let Some(memo) = self.memo else {
            return false;
        };
        let Some(motion) = &memo.motion else {
            return false;
        };
        // SAFETY: leaf i's entries are this thread's alone (`Memo`).
        let Some(kept) = (unsafe { &*memo.leaves.add(i) }) else {
            return false;
        };
        merge_sorted(kept, moved.cands, &mut s.cands);
        let cands = std::mem::take(&mut s.cands);
        // SAFETY: as above; the leaf's points are at positions start..start + len.
        let theta = unsafe { std::slice::from_raw_parts(memo.theta.add(node.start), node.len) };
        let job = Job::Recall {
            node,
            cands: &cands,
            theta,
            motion,
            floor: moved.floor,
            threshold: memo.threshold,
        };
        let held = self.run(job, s);
        memo.tried.fetch_add(1, Ordering::Relaxed);
        if held {
            self.keep_record(memo, i, node, &cands, &s.track);
        } else {
            memo.failed.fetch_add(1, Ordering::Relaxed);
        }
        s.cands = cands;
        held
    }

    /// Does `job`, compiled with AVX2 where the machine has it (the evaluation and the
    /// reducers' lane loops, inlined here, then use the wider vectors), else for the baseline
    /// CPU. The same operations in the same order either way (no fused multiply-add): the
    /// same bits. Returns false only for a recall whose check failed.
    fn run(&self, job: Job, s: &mut Scratch<R::State>) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if self.avx2 {
                // SAFETY: `avx2` is true only when the CPU supports AVX2 (`has_avx2`).
                return unsafe { self.run_avx2(job, s) };
            }
        }
        self.run_generic(job, s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, job: Job, s: &mut Scratch<R::State>) -> bool {
        self.run_generic(job, s)
    }

    #[inline(always)]
    fn run_generic(&self, job: Job, s: &mut Scratch<R::State>) -> bool {
        match job {
            Job::Evaluate {
                node,
                cands,
                record,
            } => {
                s.l.resize(cands.len() * LANES, 0.0);
                let rows = self.tree.rows(node);
                if record.is_some() {
                    s.track.start(cands.len(), rows.len());
                }
                for (g, chunk) in rows.chunks(LANES).enumerate() {
                    let start = node.start + g * LANES;
                    let head = self.evaluate_group(chunk, start, cands, &mut s.l, &mut s.y);
                    let cold = (&mut s.state, &mut s.full[..], &mut s.full_y[..]);
                    self.reduce_group(&head, cands, &s.l, cold);
                    if let Some((floor, cut)) = record {
                        s.track.add(g, &head, &s.l, &[floor; LANES], cut);
                    }
                }
                self.reducer.leaf(&mut s.state, cands);
                true
            }
            Job::Recall {
                node,
                cands,
                theta,
                motion,
                floor,
                threshold,
            } => self.recall_body(node, cands, theta, (motion, floor), threshold, s),
        }
    }

    /// The work of [`Self::recall_leaf`]: every group evaluated and checked before any is
    /// reduced.
    #[inline(always)]
    fn recall_body(
        &self,
        node: &Node,
        cands: &[usize],
        theta: &[f64],
        (motion, floor): (&Motion, f64),
        threshold: f64,
        s: &mut Scratch<R::State>,
    ) -> bool {
        let rows = self.tree.rows(node);
        let groups = rows.len().div_ceil(LANES);
        let nc = cands.len();
        s.leaf_l.resize(groups * nc * LANES, 0.0);
        s.heads.clear();
        let mut bounds = [f64::NEG_INFINITY; LEAF];
        for (g, chunk) in rows.chunks(LANES).enumerate() {
            let l = &mut s.leaf_l[g * nc * LANES..(g + 1) * nc * LANES];
            let head = self.evaluate_group(chunk, node.start + g * LANES, cands, l, &mut s.y);
            let mut held = true;
            for p in 0..head.len {
                let bound = motion.bound(theta[g * LANES + p]).max(floor);
                bounds[g * LANES + p] = bound;
                held &= bound < head.max[p] + threshold - MARGIN;
            }
            if !held {
                return false;
            }
            s.heads.push(head);
        }
        let cut = threshold - HYSTERESIS;
        s.track.start(nc, rows.len());
        for g in 0..groups {
            let head = s.heads[g];
            let l = &s.leaf_l[g * nc * LANES..(g + 1) * nc * LANES];
            let cold = (&mut s.state, &mut s.full[..], &mut s.full_y[..]);
            self.reduce_group(&head, cands, l, cold);
            let base: [f64; LANES] = std::array::from_fn(|p| bounds[g * LANES + p]);
            s.track.add(g, &head, l, &base, cut);
        }
        self.reducer.leaf(&mut s.state, cands);
        // Would the same motion again break the check at some point? Then the leaf is
        // evaluated from the tree's bounds next time, rather than tried and found wanting.
        for g in 0..groups {
            let head = &s.heads[g];
            for p in 0..head.len {
                let next = motion.bound(s.track.theta[g * LANES + p]);
                s.track.usable &= next < head.max[p] + threshold - MARGIN;
            }
        }
        true
    }

    /// Stores leaf `i`'s record, or forgets the leaf (when a point had no term above −∞, or
    /// when the same motion again would break its check).
    fn keep_record(&self, memo: &Memo, i: usize, node: &Node, cands: &[usize], track: &Track) {
        // SAFETY: leaf i's entries are this thread's alone (`Memo`).
        let (slot, theta) = unsafe {
            (
                &mut *memo.leaves.add(i),
                std::slice::from_raw_parts_mut(memo.theta.add(node.start), node.len),
            )
        };
        if !track.usable {
            *slot = None;
            return;
        }
        // The leaf's list is rewritten in place (no allocation per leaf and call).
        let kept = slot.get_or_insert_with(Vec::new);
        kept.clear();
        kept.extend(
            cands
                .iter()
                .zip(&track.near)
                .filter(|&(_, &near)| near)
                .map(|(&k, _)| k),
        );
        theta.copy_from_slice(&track.theta);
    }

    /// Evaluates the candidates at the points `chunk` (at most [`LANES`], at positions
    /// `start..` of the tree's order; the missing lanes repeat the last point) into `l`,
    /// lane-major.
    #[inline(always)]
    fn evaluate_group(
        &self,
        chunk: &[usize],
        start: usize,
        cands: &[usize],
        l: &mut [f64],
        y: &mut [[f64; LANES]],
    ) -> Head {
        let len = chunk.len();
        let mut rows = [0; LANES];
        for p in 0..LANES {
            rows[p] = chunk[p.min(len - 1)];
        }
        log_probs_lanes_dispatch(self.mixture, cands, self.tree.group(start), l, y);
        let (max, arg) = lane_peaks(&l[..cands.len() * LANES]);
        Head {
            rows,
            start,
            len,
            max,
            arg,
        }
    }

    /// Hands an evaluated group to the reducer, and its lanes without a term above −∞ to the
    /// reducer's cold path.
    #[inline(always)]
    fn reduce_group(
        &self,
        head: &Head,
        cands: &[usize],
        l: &[f64],
        (state, full, full_y): (&mut R::State, &mut [f64], &mut [f64]),
    ) {
        let xs = self.tree.group(head.start);
        let group = Group {
            l: &l[..cands.len() * LANES],
            cands,
            len: head.len,
            max: head.max,
            arg: head.arg,
            xs,
            rows: head.rows,
            x: self.x,
            d: self.d,
        };
        let mut slots = Slots {
            out: self.out.0,
            extra: self.out.1,
            has_extra: self.out.2,
            width: self.width,
            rows: head.rows,
            len: head.len,
            _borrow: PhantomData,
        };
        self.reducer.group(state, &group, &mut slots);
        for p in 0..head.len {
            if head.max[p] == f64::NEG_INFINITY {
                let point = group.point(p);
                self.mixture.nearest_log_probs(point, full, full_y);
                let (out, extra) = slots.get(p);
                self.reducer
                    .point(state, full, point, head.rows[p], out, extra);
            }
        }
    }
}

/// The union of two increasing lists, increasing, into `out`.
fn merge_sorted(a: &[usize], b: &[usize], out: &mut Vec<usize>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
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
#[cfg(test)]
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

#[cfg(all(test, target_arch = "x86_64"))]
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
