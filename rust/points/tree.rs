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
        let (nodes, boxes) = if n == 0 {
            (Vec::new(), Vec::new())
        } else {
            let builder = Builder { x, d, weight };
            builder.subtree(&mut order, 0)
        };
        Tree {
            order,
            nodes,
            boxes,
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

    /// The rows of node `i`'s points.
    #[inline]
    pub(super) fn rows(&self, node: &Node) -> &[usize] {
        &self.order[node.start..node.start + node.len]
    }
}

struct Builder<'a> {
    x: &'a [f64],
    d: usize,
    weight: &'a [f64],
}

impl Builder<'_> {
    /// The nodes and boxes of the subtree of the points `rows` (which it permutes), whose
    /// first point is at position `start` of the whole order.
    fn subtree(&self, rows: &mut [usize], start: usize) -> (Vec<Node>, Vec<f64>) {
        let (lo, hi) = self.bounding_box(rows);
        let len = rows.len();
        let mut boxes = lo.clone();
        boxes.extend_from_slice(&hi);
        if len <= LEAF {
            let leaf = Node {
                start,
                len,
                right: 0,
            };
            return (vec![leaf], boxes);
        }
        let (left, right) = self.split(rows, &lo, &hi);
        let left_len = left.len();
        let ((left_nodes, left_boxes), (right_nodes, right_boxes)) = if len >= SEQUENTIAL {
            rayon::join(
                || self.subtree(left, start),
                || self.subtree(right, start + left_len),
            )
        } else {
            (
                self.subtree(left, start),
                self.subtree(right, start + left_len),
            )
        };
        let mut nodes = Vec::with_capacity(1 + left_nodes.len() + right_nodes.len());
        nodes.push(Node {
            start,
            len,
            right: 1 + left_nodes.len(),
        });
        nodes.extend(left_nodes);
        nodes.extend(right_nodes);
        boxes.extend(left_boxes);
        boxes.extend(right_boxes);
        (nodes, boxes)
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
        let mid = (rows.len() / 2).div_ceil(LANES) * LANES;
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
}
