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
//! rule only at the last selection on each path (so its budget is spent once). Candidates are
//! refined down the tree: a node selects among its parent's candidates, every second level,
//! down to the nodes of at most [`FINAL`] points, whose leaves evaluate their candidates.
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
//! Memory: the tree is a permutation of the rows (n indices) and a box per node (2d values for
//! about one node per 12 points); each leaf's candidates and values take O(K) per thread.
//!
//! # Rooms
//!
//! * this file: the entries and the reducers' interface;
//! * [`walk`]: the walk down the tree (refinement, parallelism, the lazy path of a fit);
//! * [`tree`]: the tree (splits, boxes), built per call or once per fit ([`accumulate_in`]);
//! * [`bounds`]: the bounds over a box, eight components at a time;
//! * [`evaluate`]: a leaf's candidates evaluated at its points, eight at a time, and reduced;
//! * [`carry`]: what a fit's E-step leaves for the next one on the same tree (each leaf's
//!   candidates, proven again at the next iteration instead of selected again).
//!
//! The tree holds its points in its own order, lane-major by groups of eight, so that a
//! leaf's groups are read as they lie rather than gathered row by row.

// Loops over the lanes of a group index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;
use std::sync::atomic::AtomicUsize;

use crate::cull::Culling;
use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;
use crate::mixture::Components;

mod bounds;
mod carry;
mod evaluate;
#[cfg(test)]
mod tests;
mod tree;
mod walk;

use bounds::Geometry;
pub use carry::Carried;
use carry::Motion;
pub use tree::Tree;

/// Points evaluated together (two AVX2 vectors of f64).
pub const LANES: usize = 8;
/// Most points in a leaf of the tree.
pub const LEAF: usize = 32;
/// Nodes with fewer points are processed by one thread, with one scratch space.
const SEQUENTIAL: usize = 2048;
/// A node re-selects its candidates when the last selection above it was made for at least
/// this many times its number of points (every second level of the tree).
const REFINE: usize = 4;
/// The first node on a path down the tree with at most this many points makes the last
/// selection, with the rule given for it (the rtol rule's budget is spent there); the
/// leaves below evaluate its candidates as they are. Bounding a candidate costs about as much
/// as evaluating it at thirty points (the bounds gather each component's numbers, the
/// evaluation streams them), so selecting again for every leaf of 32 points cost more than it
/// saved (measured: a tenth of an E-step, and of `score_samples`, on the demo models).
const FINAL: usize = 64;
/// Nodes with fewer points evaluate their parent's candidates as they are.
const MIN_CULL: usize = 4;

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
    /// The lanes' coordinates, lane-major: `xs[i * LANES + p]` is feature i of lane p.
    pub xs: &'a [f64],
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
    /// Called once every group of a leaf has gone through [`Self::group`], with the leaf's
    /// candidates (those the groups' `cands` were): a reducer that sums by leaf before it
    /// adds to its totals adds the leaf's sums here.
    fn leaf(&self, _state: &mut Self::State, _cands: &[usize]) {}
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
/// per row, `extra` the same layout or nothing. `culling` is the rule of the last selection (its
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
    accumulate_in(None, mixture, x, culling, out, extra, reducer, stop)
}

/// [`accumulate_in`] on a fit's `tree`, with what the previous call on it left in `carried`
/// (see [`carry`]): leaves whose carried candidates are proven to hold are evaluated on them
/// alone, the others from the tree's bounds. `threshold` is the cut-off of the per-point rule
/// (the exact rule's, or ln(rtol / K)): at every point each component left out is below the
/// largest term by more than it. The culling of the bounds is the exact rule with that
/// threshold, lowered by [`carry::HYSTERESIS`].
#[allow(clippy::too_many_arguments)]
pub fn accumulate_carried<T, R>(
    tree: &Tree,
    carried: &mut Carried,
    threshold: f64,
    mixture: &Components,
    x: &[f64],
    out: &mut [T],
    extra: &mut [T],
    reducer: &R,
    stop: &Stop,
) -> Result<Option<R::State>, KernelError>
where
    T: Send,
    R: PointReducer<T>,
{
    let culling = Culling {
        threshold: threshold - carry::HYSTERESIS,
        rtol: 0.0,
    };
    let n = tree.n_points();
    let motion = carried.motion(mixture, threshold, tree.nodes.len(), n);
    let memo = Memo {
        leaves: carried.leaves.as_mut_ptr(),
        theta: carried.theta.as_mut_ptr(),
        best: carried.best.as_mut_ptr(),
        motion,
        threshold,
        tried: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    };
    let result = walk(
        Some(tree),
        Some(&memo),
        mixture,
        x,
        &culling,
        out,
        extra,
        reducer,
        stop,
    );
    if result.is_err() || stop.requested() {
        carried.clear();
    } else {
        let (tried, failed) = (memo.tried.into_inner(), memo.failed.into_inner());
        carried.remember(mixture, tried, failed);
    }
    result
}

/// [`accumulate`] over the points `x` and their `tree`, when given: one built by
/// [`Tree::for_mixture`] from the same `x` (an E-step reuses its fit's tree: the points are
/// the same at every iteration; any tree of the points gives the same results at rtol = 0).
/// Without one the call builds its own.
#[allow(clippy::too_many_arguments)]
pub fn accumulate_in<T, R>(
    tree: Option<&Tree>,
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
    walk(tree, None, mixture, x, culling, out, extra, reducer, stop)
}

#[allow(clippy::too_many_arguments)]
fn walk<T, R>(
    tree: Option<&Tree>,
    memo: Option<&Memo>,
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
    let geometry = Geometry::new(mixture);
    let built;
    let tree = match tree {
        Some(tree) => {
            check_len("tree's features", tree.n_features(), d)?;
            check_len("tree's points", tree.n_points(), n)?;
            tree
        }
        None => {
            built = Tree::build(x, d, &geometry.weight);
            &built
        }
    };
    if n == 0 {
        return Ok(None);
    }
    let driver = Driver {
        mixture,
        x,
        d,
        tree,
        geometry,
        last: *culling,
        inner: Culling {
            rtol: 0.0,
            ..*culling
        },
        reducer,
        out: Shared(out.as_mut_ptr(), extra.as_mut_ptr(), !extra.is_empty()),
        width,
        avx2: has_avx2(),
        stop,
        memo,
        _t: PhantomData,
    };
    let everything: Vec<usize> = (0..mixture.n_components()).collect();
    let state = driver.parallel(0, &everything, usize::MAX, f64::NEG_INFINITY);
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

/// One thread's scratch space for a subtree.
struct Scratch<S> {
    /// A group's candidates' log-densities, lane-major.
    l: Vec<f64>,
    /// The quadratic's partial sums for d > 8 (below, they live on the stack).
    y: Vec<[f64; LANES]>,
    /// Every component's values at one point (the cold path).
    full: Vec<f64>,
    full_y: Vec<f64>,
    /// A leaf's groups (values, lanes) when they are all evaluated before any is reduced,
    /// and the candidates evaluated ([`carry`]).
    leaf_l: Vec<f64>,
    heads: Vec<evaluate::Head>,
    cands: Vec<usize>,
    /// A leaf's record for the next call: per candidate whether it comes near, per point θ.
    track: evaluate::Track,
    state: S,
}

/// The driver's view of what a fit's E-steps carry ([`carry`]).
struct Memo {
    /// `Carried::leaves` and `Carried::theta`: each leaf reads and writes only its own
    /// entries (the tree's leaves are disjoint), from whichever thread walks it.
    leaves: *mut Option<Vec<usize>>,
    theta: *mut f64,
    /// `Carried::best`, per node.
    best: *mut usize,
    motion: Option<Motion>,
    threshold: f64,
    /// Leaves that tried their carried candidates, and those whose check failed.
    tried: AtomicUsize,
    failed: AtomicUsize,
}

// SAFETY: see the fields: the threads touch disjoint entries.
unsafe impl Sync for Memo {}

/// The components that moved much and may matter in a node, and a floor of the others'
/// values there.
#[derive(Clone, Copy)]
struct Moved<'m> {
    cands: &'m [usize],
    floor: f64,
}

struct Driver<'a, T, R> {
    mixture: &'a Components,
    x: &'a [f64],
    d: usize,
    tree: &'a Tree,
    geometry: Geometry,
    last: Culling,
    inner: Culling,
    reducer: &'a R,
    out: Shared<T>,
    width: usize,
    avx2: bool,
    stop: &'a Stop,
    memo: Option<&'a Memo>,
    _t: PhantomData<fn(T)>,
}
