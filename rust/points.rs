//! The point driver: evaluates, at arbitrary points, only the components that can matter there,
//! several points at once, and hands their log-densities to a per-point reduction. It is the
//! counterpart for points of the grid driver ([`crate::evaluate::for_each_pixel`]) and serves
//! every point kernel: log-density, labels, responsibilities, conditional means.
//!
//! # Blocks: a kd-tree of the call's points
//!
//! Each node of the tree splits its points at the median of one feature, down to leaves of at
//! most [`LEAF`] points. The feature is the one along which the node's bounding box is widest
//! *in the mixture's own units*: its width times the median, over components, of the norm of
//! row i of U_k — exactly how much the box's extent along feature i loosens the bounds below.
//! A kd-tree rather than a space-filling curve because it works in any number of features,
//! adapts to clustered data (a photo's (x, y, r, g, b) pixels fill a thin sheet of the 5-D
//! space, which a curve over the leading features would cut into long thin blocks), and gives
//! every leaf a tight box in every feature; splitting at a multiple of the vector width keeps
//! the lanes full.
//!
//! # Bounds over a box
//!
//! For component k and a box with centre c and half-widths h, let y = (x − μ_k)ᵀ U_k, so that
//! l_k(x) = c_k − ½ ‖y‖². Two bounds on ‖y‖² over the box hold, and the tighter of each is
//! kept:
//!
//! * as a whole: with z = ‖(c − μ_k)ᵀ U_k‖ and ρ = Σ_i h_i ‖U_k[i, :]‖, ‖y‖ is within ρ of z
//!   (the triangle inequality, one feature at a time): ‖y‖² ∈ [(z − ρ)₊², (z + ρ)²];
//! * per coordinate: y_j is linear in x, so within r_j = Σ_i h_i |U_k[i, j]| of its value
//!   y_j(c) at the centre: ‖y‖² ∈ [Σ_j (|y_j(c)| − r_j)₊², Σ_j (|y_j(c)| + r_j)²].
//!
//! ```text
//! lo_k = c_k − ½ max ‖y‖²  ≤  l_k(x)  ≤  hi_k = c_k − ½ min ‖y‖²
//! ```
//!
//! widened by far more than their rounding error (relative to the size of the terms of the
//! quadratic). These feed the rules of [`crate::cull`]: the exact rule at every level, the rtol
//! rule only at the leaves (so its budget is spent once). Candidates are refined down the tree:
//! a node selects among its parent's candidates, every second level and at the leaves.
//!
//! # Determinism
//!
//! A point's log-densities are computed with the operations of
//! [`Components::log_probs`], in the same order, whatever lane or block it lands in, and the
//! reductions skip exactly the terms that the exact rule may remove. So at rtol = 0 a point's
//! result is bitwise that of evaluating every component: independent of the other points in
//! the call, their order, the tree, the number of threads and the CPU's vector width. With
//! rtol > 0 a leaf's candidates depend on its box, so on its neighbours: results satisfy the
//! certified bound, and are reproducible for the same points in the same order.
//!
//! Memory: the tree is a permutation of the rows (n indices); each leaf's candidates and
//! values take O(K) per thread.

// Loops over the lanes of a group index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;

use crate::cull::{keep, Culling};
use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;
use crate::mixture::Components;
use crate::specialise::{fixed, specialise};

/// Points evaluated together (two AVX2 vectors of f64).
pub const LANES: usize = 8;
/// Most points in a leaf of the tree.
pub const LEAF: usize = 32;
/// Nodes with fewer points are processed by one thread, with one scratch space.
const SEQUENTIAL: usize = 2048;
/// A node re-selects its candidates when the last selection above it was made for at least
/// this many times its number of points (every second level of the tree), and at the leaves.
const REFINE: usize = 4;
/// Leaves with fewer points evaluate their parent's candidates as they are: bounding each
/// candidate costs about as much as evaluating it at one point.
const MIN_CULL: usize = 4;
/// Relative rounding error allowed, per feature, between a bound and the kernel's value of
/// the quadratic (a few ulps per feature are enough; this is a thousand).
const ROUNDING: f64 = 1e-13;

/// Up to [`LANES`] points of a leaf, with their candidates' log-densities.
pub struct Group<'a> {
    /// `l[c * LANES + p]`: candidate c's log-density at lane p.
    pub l: &'a [f64],
    /// Component numbers of the candidates, increasing.
    pub cands: &'a [usize],
    /// Number of real points; lanes `len..LANES` repeat the last one.
    pub len: usize,
    /// Per lane, the largest log-density and the first candidate position (into `cands`)
    /// that reaches it. NaN never wins; −∞ means the lane is left to [`PointReducer::point`].
    pub max: [f64; LANES],
    pub arg: [usize; LANES],
    rows: [usize; LANES],
    x: &'a [f64],
    d: usize,
}

impl Group<'_> {
    /// The coordinates of lane `p`'s point.
    #[inline]
    pub fn point(&self, p: usize) -> &[f64] {
        &self.x[self.rows[p] * self.d..(self.rows[p] + 1) * self.d]
    }

    /// The caller's row number of lane `p`'s point.
    #[inline]
    pub fn row(&self, p: usize) -> usize {
        self.rows[p]
    }

    /// Lane `p`'s log-densities, one per candidate, into `out`.
    #[inline]
    pub fn values(&self, p: usize, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.l.chunks_exact(LANES).map(|lanes| lanes[p]));
    }
}

/// Output rows of the points of one leaf: `width` values of `out` (and of `extra`, a second
/// output of the same layout, when it is not empty) per point, at the caller's row.
pub struct Slots<'a, T> {
    out: *mut T,
    extra: *mut T,
    has_extra: bool,
    width: usize,
    rows: [usize; LANES],
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

impl<T> Slots<'_, T> {
    /// The output row, and the second output's row (empty when there is none), of lane `p`.
    #[inline]
    pub fn get(&mut self, p: usize) -> (&mut [T], &mut [T]) {
        assert!(p < self.len, "lane {p} of a group of {}", self.len);
        let at = self.rows[p] * self.width;
        // SAFETY: the driver made `out` (and `extra`, when present) valid for n · width values
        // and gives every row to exactly one lane of one group (the rows of a call are a
        // permutation, split into disjoint leaves); `&mut self` lends one lane's rows at a time.
        unsafe {
            let out = std::slice::from_raw_parts_mut(self.out.add(at), self.width);
            let extra = if self.has_extra {
                std::slice::from_raw_parts_mut(self.extra.add(at), self.width)
            } else {
                &mut []
            };
            (out, extra)
        }
    }
}

/// What a point kernel does with the log-densities of its candidates.
pub trait PointReducer<T>: Sync {
    /// Scratch space, made once per thread's share of the tree (and the sums of an
    /// accumulating reducer).
    type State: Send;
    fn state(&self) -> Self::State;
    /// Output values per point.
    fn width(&self) -> usize;
    /// Writes the results of the group's lanes `p < group.len` whose `max` is above −∞.
    fn group(&self, state: &mut Self::State, group: &Group, slots: &mut Slots<T>);
    /// Writes the results of the point `x` (the caller's row `row`) from the values `l` of
    /// *every* component (`l[k]` is component k's): the cold path where no candidate is above
    /// −∞, where `l` holds [`Components::nearest_log_probs`] (the nearest components'
    /// constants, −∞ elsewhere).
    fn point(
        &self,
        state: &mut Self::State,
        l: &[f64],
        x: &[f64],
        row: usize,
        out: &mut [T],
        extra: &mut [T],
    );
    /// Adds what `other` accumulated to `state`, for reductions over points (an E-step's
    /// sums): [`accumulate`] merges the states of the tree's subtrees in a fixed order.
    fn merge(&self, _state: &mut Self::State, _other: Self::State) {}
}

/// Raw output pointers, shared by the threads (each writes only its own rows).
struct Shared<T>(*mut T, *mut T, bool);

// SAFETY: see `Slots::get`: the threads write disjoint rows.
unsafe impl<T: Send> Sync for Shared<T> {}
unsafe impl<T: Send> Send for Shared<T> {}

/// Runs `reducer` at every row of `x` (n × d, row-major): `out` holds `reducer.width()` values
/// per row, `extra` the same layout or nothing. `culling` is the rule at the leaves (its
/// threshold also serves, with rtol 0, at the inner nodes): see the module documentation.
///
/// Once `stop` is requested the remaining nodes are skipped and the result is
/// [`KernelError::Interrupted`].
pub fn for_each_point<T, R>(
    mixture: &Components,
    x: &[f64],
    culling: &Culling,
    out: &mut [T],
    extra: &mut [T],
    reducer: &R,
    stop: &Stop,
) -> Result<(), KernelError>
where
    T: Send,
    R: PointReducer<T>,
{
    accumulate(mixture, x, culling, out, extra, reducer, stop).map(|_| ())
}

/// [`for_each_point`], returning the reducer's state accumulated over every point: the
/// states of the tree's subtrees (each made by `reducer.state()` and filled in the tree's
/// order) merged pairwise in the tree's order, so that sums come out bitwise the same for
/// any number of threads. `None` when there are no points.
pub fn accumulate<T, R>(
    mixture: &Components,
    x: &[f64],
    culling: &Culling,
    out: &mut [T],
    extra: &mut [T],
    reducer: &R,
    stop: &Stop,
) -> Result<Option<R::State>, KernelError>
where
    T: Send,
    R: PointReducer<T>,
{
    let d = mixture.n_features();
    if x.len() % d != 0 {
        return Err(KernelError::Shape(format!(
            "X has {} values, not a whole number of rows of {d} features",
            x.len()
        )));
    }
    let n = x.len() / d;
    let width = reducer.width();
    check_len("output", out.len(), n * width)?;
    if !extra.is_empty() {
        check_len("second output", extra.len(), out.len())?;
    }
    if n == 0 {
        return Ok(None);
    }
    let driver = Driver {
        mixture,
        x,
        d,
        geometry: Geometry::new(mixture),
        leaf: *culling,
        inner: Culling {
            rtol: 0.0,
            ..*culling
        },
        reducer,
        out: Shared(out.as_mut_ptr(), extra.as_mut_ptr(), !extra.is_empty()),
        width,
        avx2: has_avx2(),
        stop,
        _t: PhantomData,
    };
    let mut rows: Vec<usize> = (0..n).collect();
    let everything: Vec<usize> = (0..mixture.n_components()).collect();
    let state = driver.parallel(&mut rows, &everything, usize::MAX);
    stop.check()?;
    Ok(Some(state))
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Per component and feature, the Euclidean and l1 norms of row i of U_k (how far the box's
/// extent along feature i can move the Mahalanobis distance, and the size of the terms that
/// round); per feature, the median of the former over components (the splitting weight).
struct Geometry {
    norm2: Vec<f64>,
    norm1: Vec<f64>,
    weight: Vec<f64>,
}

impl Geometry {
    fn new(mixture: &Components) -> Self {
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

/// One thread's scratch space for a subtree.
struct Scratch<S> {
    /// A group's coordinates, lane-major: `xs[i * LANES + p]`.
    xs: Vec<f64>,
    /// A group's candidates' log-densities, lane-major.
    l: Vec<f64>,
    /// The quadratic's partial sums for d > 8 (below, they live on the stack).
    y: Vec<[f64; LANES]>,
    /// Every component's values at one point (the cold path).
    full: Vec<f64>,
    full_y: Vec<f64>,
    state: S,
}

struct Driver<'a, T, R> {
    mixture: &'a Components,
    x: &'a [f64],
    d: usize,
    geometry: Geometry,
    leaf: Culling,
    inner: Culling,
    reducer: &'a R,
    out: Shared<T>,
    width: usize,
    avx2: bool,
    stop: &'a Stop,
    _t: PhantomData<fn(T)>,
}

impl<T: Send, R: PointReducer<T>> Driver<'_, T, R> {
    /// The candidates of a node of `n` points among `cands`, selected for a node of
    /// `selected_for` points, and the size they are now selected for.
    fn refine<'c>(
        &self,
        rows: &[usize],
        bbox: &(Vec<f64>, Vec<f64>),
        cands: &'c [usize],
        selected_for: usize,
    ) -> (std::borrow::Cow<'c, [usize]>, usize) {
        let n = rows.len();
        let is_leaf = n <= LEAF;
        let refine = if is_leaf {
            n >= MIN_CULL
        } else {
            n * REFINE <= selected_for
        };
        if !refine {
            return (cands.into(), selected_for);
        }
        let culling = if is_leaf { &self.leaf } else { &self.inner };
        (self.select(&bbox.0, &bbox.1, cands, culling).into(), n)
    }

    /// Splits the points `rows` of an inner node in two halves (by the position of the
    /// median along the feature where its box loosens the bounds most, rounded up to a whole
    /// number of groups), in place.
    fn split<'r>(
        &self,
        rows: &'r mut [usize],
        (lo, hi): &(Vec<f64>, Vec<f64>),
    ) -> (&'r mut [usize], &'r mut [usize]) {
        let dim = self.split_dim(lo, hi);
        let mid = (rows.len() / 2).div_ceil(LANES) * LANES;
        let (x, d) = (self.x, self.d);
        rows.select_nth_unstable_by(mid, |&a, &b| x[a * d + dim].total_cmp(&x[b * d + dim]));
        rows.split_at_mut(mid)
    }

    /// Processes a node of at least [`SEQUENTIAL`] points: its halves in parallel, each
    /// returning its subtree's state, merged left then right. Below, one thread and one
    /// scratch space do the whole subtree.
    fn parallel(&self, rows: &mut [usize], cands: &[usize], selected_for: usize) -> R::State {
        let mut scratch = self.scratch();
        if rows.len() < SEQUENTIAL {
            self.sequential(rows, cands, selected_for, &mut scratch);
            return scratch.state;
        }
        if self.stop.requested() {
            return scratch.state;
        }
        let bbox = self.bounding_box(rows);
        let (cands, selected_for) = self.refine(rows, &bbox, cands, selected_for);
        let (left, right) = self.split(rows, &bbox);
        let (mut a, b) = rayon::join(
            || self.parallel(left, &cands, selected_for),
            || self.parallel(right, &cands, selected_for),
        );
        self.reducer.merge(&mut a, b);
        a
    }

    /// Processes the node `rows` and its subtree on this thread.
    fn sequential(
        &self,
        rows: &mut [usize],
        cands: &[usize],
        selected_for: usize,
        scratch: &mut Scratch<R::State>,
    ) {
        if self.stop.requested() {
            return;
        }
        let bbox = self.bounding_box(rows);
        let (cands, selected_for) = self.refine(rows, &bbox, cands, selected_for);
        if rows.len() <= LEAF {
            self.evaluate_leaf(rows, &cands, scratch);
            return;
        }
        let (left, right) = self.split(rows, &bbox);
        self.sequential(left, &cands, selected_for, scratch);
        self.sequential(right, &cands, selected_for, scratch);
    }

    fn scratch(&self) -> Scratch<R::State> {
        Scratch {
            xs: vec![0.0; self.d * LANES],
            l: Vec::new(),
            y: vec![[0.0; LANES]; self.d],
            full: vec![0.0; self.mixture.n_components()],
            full_y: vec![0.0; self.d],
            state: self.reducer.state(),
        }
    }

    /// The smallest box holding the points `rows`: its lower and upper corners.
    fn bounding_box(&self, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
        specialise!(self.d, D => self.bounding_box_fixed::<D>(rows))
    }

    #[inline(always)]
    fn bounding_box_fixed<const D: usize>(&self, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let d = fixed::<D>(self.d);
        let first = &self.x[rows[0] * d..(rows[0] + 1) * d];
        let (mut lo, mut hi) = (first.to_vec(), first.to_vec());
        let (lo_d, hi_d) = (&mut lo[..d], &mut hi[..d]);
        for &r in &rows[1..] {
            let point = &self.x[r * d..(r + 1) * d];
            for i in 0..d {
                lo_d[i] = if point[i] < lo_d[i] {
                    point[i]
                } else {
                    lo_d[i]
                };
                hi_d[i] = if point[i] > hi_d[i] {
                    point[i]
                } else {
                    hi_d[i]
                };
            }
        }
        (lo, hi)
    }

    /// The feature along which the box loosens the bounds most (the first such).
    fn split_dim(&self, lo: &[f64], hi: &[f64]) -> usize {
        let mut best = (0, f64::NEG_INFINITY);
        for i in 0..self.d {
            let spread = (hi[i] - lo[i]) * self.geometry.weight[i];
            if spread > best.1 {
                best = (i, spread);
            }
        }
        best.0
    }

    /// The components of `among` that may matter in the box [lo, hi], by `culling`.
    fn select(&self, lo: &[f64], hi: &[f64], among: &[usize], culling: &Culling) -> Vec<usize> {
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
        keep(among, &bounds, culling)
    }

    /// [`Self::box_bounds`] of every component of `among` into `bounds`: eight components at
    /// a time for up to 8 features (compiled with AVX2 where the CPU has it), one at a time
    /// above. The same bounds either way.
    fn bounds_into(
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
    fn box_bounds<const D: usize>(&self, k: usize, centre: &[f64], half: &[f64]) -> (f64, f64) {
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

    /// Evaluates the candidates at the leaf's points, [`LANES`] at a time, and reduces:
    /// compiled twice, for the baseline CPU and with AVX2 where the machine has it, so that
    /// the reducers' lane loops (inlined here) use the wider vectors too. The same operations
    /// in the same order either way (no fused multiply-add): the same bits.
    fn evaluate_leaf(&self, rows: &[usize], cands: &[usize], s: &mut Scratch<R::State>) {
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
fn lane_peaks(l: &[f64]) -> ([f64; LANES], [usize; LANES]) {
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
fn log_probs_lanes(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::{log_sum_exp, peak, score_points};

    /// A small deterministic generator of uniform numbers in [0, 1) (tests only).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// K random components over d features: means in [0, 100)^d, factors with diagonals in
    /// [0.05, 2) and off-diagonal terms in [−1, 1).
    fn random_mixture(rng: &mut Lcg, k: usize, d: usize) -> Components {
        let c = (0..k).map(|_| -5.0 * rng.next()).collect();
        let means = (0..k * d).map(|_| 100.0 * rng.next()).collect();
        let mut u = vec![0.0; k * d * d];
        for comp in u.chunks_exact_mut(d * d) {
            for i in 0..d {
                comp[i * d + i] = 0.05 + 1.95 * rng.next();
                for j in i + 1..d {
                    comp[i * d + j] = 2.0 * rng.next() - 1.0;
                }
            }
        }
        Components::new(k, d, c, means, u).unwrap()
    }

    #[test]
    fn box_bounds_enclose_every_point_of_the_box() {
        let mut rng = Lcg(1);
        for d in [1, 2, 3, 5, 9] {
            let mixture = random_mixture(&mut rng, 20, d);
            let driver = Driver {
                mixture: &mixture,
                x: &[],
                d,
                geometry: Geometry::new(&mixture),
                leaf: Culling {
                    threshold: -37.0,
                    rtol: 0.0,
                },
                inner: Culling {
                    threshold: -37.0,
                    rtol: 0.0,
                },
                reducer: &(),
                out: Shared::<f64>(std::ptr::null_mut(), std::ptr::null_mut(), false),
                width: 1,
                avx2: has_avx2(),
                stop: &Stop::new(),
                _t: PhantomData,
            };
            let mut l = vec![0.0; 20];
            let mut y = vec![0.0; d];
            for _ in 0..20 {
                let lo: Vec<f64> = (0..d).map(|_| 100.0 * rng.next()).collect();
                let hi: Vec<f64> = lo.iter().map(|v| v + 30.0 * rng.next()).collect();
                let centre: Vec<f64> = lo.iter().zip(&hi).map(|(a, b)| 0.5 * (a + b)).collect();
                let half: Vec<f64> = lo.iter().zip(&hi).map(|(a, b)| 0.5 * (b - a)).collect();
                // The lanes (and their AVX2 build) give the scalar bounds, bit for bit.
                let among: Vec<usize> = (0..20).collect();
                let mut bounds = vec![(0.0, 0.0); 20];
                driver.bounds_into(&among, &centre, &half, &mut bounds);
                for (k, b) in bounds.iter().enumerate() {
                    let one = driver.box_bounds::<0>(k, &centre, &half);
                    assert_eq!(
                        (b.0.to_bits(), b.1.to_bits()),
                        (one.0.to_bits(), one.1.to_bits())
                    );
                }
                // Corners, the centre and random points of the box.
                for s in 0..200 {
                    let x: Vec<f64> = (0..d)
                        .map(|i| match s {
                            0 => centre[i],
                            1..=64 => [lo[i], hi[i]][(s >> (i % 6)) & 1],
                            _ => lo[i] + (hi[i] - lo[i]) * rng.next(),
                        })
                        .collect();
                    mixture.log_probs(&x, &mut l, &mut y);
                    for (k, &(b_lo, b_hi)) in bounds.iter().enumerate() {
                        assert!(
                            b_lo <= l[k] && l[k] <= b_hi,
                            "{d}-D, {k}: {b_lo} {} {b_hi}",
                            l[k]
                        );
                    }
                }
            }
        }
    }

    /// The driver needs a reducer type for `box_bounds_enclose_every_point_of_the_box`.
    impl PointReducer<f64> for () {
        type State = ();
        fn state(&self) {}
        fn width(&self) -> usize {
            1
        }
        fn group(&self, _: &mut (), _: &Group, _: &mut Slots<f64>) {}
        fn point(&self, _: &mut (), _: &[f64], _: &[f64], _: usize, _: &mut [f64], _: &mut [f64]) {}
    }

    /// The AVX2 build of the evaluation and the baseline one give the same bits, in every
    /// dimension (specialised or not); and both are `Components::log_probs`, point by point.
    #[test]
    fn vector_widths_agree_bitwise_with_one_point_at_a_time() {
        let mut rng = Lcg(3);
        for d in [1, 2, 3, 5, 8, 12] {
            let k = 17;
            let mixture = random_mixture(&mut rng, k, d);
            let cands: Vec<usize> = (0..k).collect();
            let xs: Vec<f64> = (0..d * LANES).map(|_| 150.0 * rng.next() - 25.0).collect();
            let mut y = vec![[0.0; LANES]; d];
            let mut base = vec![0.0; k * LANES];
            log_probs_lanes(&mixture, &cands, &xs, &mut base, &mut y, false);
            if has_avx2() {
                let mut wide = vec![0.0; k * LANES];
                log_probs_lanes(&mixture, &cands, &xs, &mut wide, &mut y, true);
                assert_eq!(base, wide, "{d}-D");
            }
            let (mut l, mut scratch) = (vec![0.0; k], vec![0.0; d]);
            for p in 0..LANES {
                let point: Vec<f64> = (0..d).map(|i| xs[i * LANES + p]).collect();
                mixture.log_probs(&point, &mut l, &mut scratch);
                for c in 0..k {
                    assert_eq!(base[c * LANES + p], l[c], "{d}-D");
                }
            }
        }
    }

    /// The culled, vectorised driver gives bitwise the log-sum-exp of every component, point
    /// by point, in every dimension (specialised or not) and for clustered and spread points.
    #[test]
    fn culled_log_density_is_bitwise_the_brute_force_one() {
        let mut rng = Lcg(2);
        for d in [1, 2, 4, 5, 8, 11] {
            let k = 60;
            let mixture = random_mixture(&mut rng, k, d);
            let n = 3000;
            let x: Vec<f64> = (0..n * d)
                .map(|i| {
                    let spread = if (i / d) % 3 == 0 { 300.0 } else { 100.0 };
                    spread * rng.next() - 0.1 * spread
                })
                .collect();
            let mut out = vec![0.0; n];
            score_points(&mixture, &x, 0.0, &mut out, &Stop::new()).unwrap();
            let (mut l, mut y, mut w) = (vec![0.0; k], vec![0.0; d], Vec::new());
            for (point, &got) in x.chunks_exact(d).zip(&out) {
                mixture.log_probs(point, &mut l, &mut y);
                assert_eq!(got, log_sum_exp(&l, peak(&l), &mut w), "{d}-D");
            }
        }
    }
}
