//! The kd-tree of a call's points (see the module documentation of [`super`]): built once per
//! call by [`super::accumulate`], or once per fit and handed to every E-step
//! ([`super::accumulate_in`]), since EM evaluates the same points at every iteration.
//!
//! The tree is a permutation of the rows, in which every node's points are consecutive, and
//! the nodes in pre-order (a node's left child follows it) with their bounding boxes. Any tree
//! of the points gives the same results at rtol = 0 (see the module documentation of
//! [`super`]); at rtol > 0 the candidates of a leaf depend on its box, so on the tree.

use super::{Geometry, LANES, LEAF, SEQUENTIAL};
use crate::mixture::Components;
use crate::specialise::{fixed, specialise};

/// The kd-tree of n points of d features.
pub struct Tree {
    /// The rows, permuted so that every node's points are consecutive.
    pub(super) order: Vec<usize>,
    /// The nodes in pre-order.
    pub(super) nodes: Vec<Node>,
    /// Per node, the lower then the upper corner of its points' bounding box (2d values).
    boxes: Vec<f64>,
    /// The points in the tree's order, by groups of [`LANES`] lane-major: group g (positions
    /// 8g..8g + 8) holds feature i of lane p at `lanes[(g · d + i) · LANES + p]`; the lanes
    /// past the last point repeat it. Every leaf starts at a whole group (the splits are at
    /// multiples of LANES), so its groups are read as they are instead of gathered.
    lanes: Vec<f64>,
    d: usize,
}

/// A node: its points `order[start..start + len]`; a leaf when `right` is 0, else its right
/// child is `right` nodes after it (its left child is the next node).
#[derive(Debug, Clone, Copy)]
pub(super) struct Node {
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) right: usize,
}

impl Tree {
    /// The tree of the rows of `x` (n × d, row-major): each node splits its points at the
    /// median, rounded up to a whole number of [`LANES`], of the feature along which its box
    /// is widest once scaled by `weight` (d values), down to leaves of at most [`LEAF`]
    /// points. Subtrees of at least [`SEQUENTIAL`] points are built in parallel.
    pub fn build(x: &[f64], d: usize, weight: &[f64]) -> Tree {
        let n = x.len().checked_div(d).unwrap_or(0);
        let mut order: Vec<usize> = (0..n).collect();
        let count = if n == 0 { 0 } else { node_count(n) };
        // Written in place, in parallel below the top: no subtree is built apart and copied.
        let mut nodes = vec![
            Node {
                start: 0,
                len: 0,
                right: 0,
            };
            count
        ];
        let mut boxes = vec![0.0; 2 * d * count];
        if n > 0 {
            let builder = Builder { x, d, weight };
            builder.subtree(&mut order, 0, &mut nodes, &mut boxes);
        }
        let lanes = lane_major(x, d, &order);
        Tree {
            order,
            nodes,
            boxes,
            lanes,
            d,
        }
    }

    /// The tree of the rows of `x` as the point kernels of `mixture` split them (along the
    /// features scaled by the mixture's geometry, see [`super`]).
    pub fn for_mixture(mixture: &Components, x: &[f64]) -> Tree {
        let d = mixture.n_features();
        Tree::build(x, d, &Geometry::new(mixture).weight)
    }

    /// The number of points.
    pub fn n_points(&self) -> usize {
        self.order.len()
    }

    /// The number of features.
    pub fn n_features(&self) -> usize {
        self.d
    }

    /// The lower and upper corners of node `i`'s box.
    #[inline]
    pub(super) fn bbox(&self, i: usize) -> (&[f64], &[f64]) {
        let b = &self.boxes[2 * self.d * i..2 * self.d * (i + 1)];
        b.split_at(self.d)
    }

    /// The coordinates of the group of points at positions `start..start + LANES` of the
    /// tree's order (`start` a multiple of LANES), lane-major.
    #[inline]
    pub(super) fn group(&self, start: usize) -> &[f64] {
        let at = start * self.d;
        &self.lanes[at..at + self.d * LANES]
    }

    /// The rows of node `i`'s points.
    #[inline]
    pub(super) fn rows(&self, node: &Node) -> &[usize] {
        &self.order[node.start..node.start + node.len]
    }
}

/// The points of `x` (n × d) in the `order` given, by groups of LANES, lane-major (see
/// [`Tree::lanes`]).
fn lane_major(x: &[f64], d: usize, order: &[usize]) -> Vec<f64> {
    let mut lanes = vec![0.0; order.len().div_ceil(LANES) * LANES * d];
    for (group, rows) in lanes.chunks_exact_mut(LANES * d).zip(order.chunks(LANES)) {
        for p in 0..LANES {
            let row = rows[p.min(rows.len() - 1)];
            for i in 0..d {
                group[i * LANES + p] = x[row * d + i];
            }
        }
    }
    lanes
}

struct Builder<'a> {
    x: &'a [f64],
    d: usize,
    weight: &'a [f64],
}

/// The number of nodes of the tree of `len` ≥ 1 points (the splits depend on the count alone).
fn node_count(len: usize) -> usize {
    if len <= LEAF {
        1
    } else {
        let mid = split_point(len);
        1 + node_count(mid) + node_count(len - mid)
    }
}

/// Where a node of `len` points splits: at the median, rounded up to a whole number of groups.
fn split_point(len: usize) -> usize {
    (len / 2).div_ceil(LANES) * LANES
}

impl Builder<'_> {
    /// Writes the subtree of the points `rows` (which it permutes), whose first point is at
    /// position `start` of the whole order, into `nodes` and `boxes` (its own node first, in
    /// pre-order; exactly its size).
    fn subtree(&self, rows: &mut [usize], start: usize, nodes: &mut [Node], boxes: &mut [f64]) {
        let d = self.d;
        let (own, below) = boxes.split_at_mut(2 * d);
        let (lo, hi) = own.split_at_mut(d);
        self.bounding_box(rows, lo, hi);
        let len = rows.len();
        if len <= LEAF {
            nodes[0] = Node {
                start,
                len,
                right: 0,
            };
            return;
        }
        let (left, right) = self.split(rows, lo, hi);
        let left_len = left.len();
        let left_count = node_count(left_len);
        nodes[0] = Node {
            start,
            len,
            right: 1 + left_count,
        };
        let (left_nodes, right_nodes) = nodes[1..].split_at_mut(left_count);
        let (left_boxes, right_boxes) = below.split_at_mut(2 * d * left_count);
        if len >= SEQUENTIAL {
            rayon::join(
                || self.subtree(left, start, left_nodes, left_boxes),
                || self.subtree(right, start + left_len, right_nodes, right_boxes),
            );
        } else {
            self.subtree(left, start, left_nodes, left_boxes);
            self.subtree(right, start + left_len, right_nodes, right_boxes);
        }
    }

    /// Splits `rows` in two halves (by the position of the median along the feature where the
    /// box [lo, hi] loosens the bounds most, rounded up to a whole number of groups), in place.
    fn split<'r>(
        &self,
        rows: &'r mut [usize],
        lo: &[f64],
        hi: &[f64],
    ) -> (&'r mut [usize], &'r mut [usize]) {
        let dim = self.split_dim(lo, hi);
        let mid = split_point(rows.len());
        let (x, d) = (self.x, self.d);
        rows.select_nth_unstable_by(mid, |&a, &b| x[a * d + dim].total_cmp(&x[b * d + dim]));
        rows.split_at_mut(mid)
    }

    /// The feature along which the box loosens the bounds most (the first such).
    fn split_dim(&self, lo: &[f64], hi: &[f64]) -> usize {
        let mut best = (0, f64::NEG_INFINITY);
        for i in 0..self.d {
            let spread = (hi[i] - lo[i]) * self.weight[i];
            if spread > best.1 {
                best = (i, spread);
            }
        }
        best.0
    }

    /// The smallest box holding the points `rows`, into its lower and upper corners.
    fn bounding_box(&self, rows: &[usize], lo: &mut [f64], hi: &mut [f64]) {
        specialise!(self.d, D => self.bounding_box_fixed::<D>(rows, lo, hi))
    }

    #[inline(always)]
    fn bounding_box_fixed<const D: usize>(&self, rows: &[usize], lo: &mut [f64], hi: &mut [f64]) {
        let d = fixed::<D>(self.d);
        let first = &self.x[rows[0] * d..(rows[0] + 1) * d];
        let (lo_d, hi_d) = (&mut lo[..d], &mut hi[..d]);
        lo_d.copy_from_slice(first);
        hi_d.copy_from_slice(first);
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
    }
}
