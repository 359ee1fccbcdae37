//! The walk down the tree (see the module documentation of [`super`]): each node selects
//! among its parent's candidates (every [`REFINE`]-th size, and once at the first node of at
//! most [`FINAL`] points), the subtrees of at least [`SEQUENTIAL`] points run in parallel, and
//! a fit's E-step ([`super::carry`]) takes a lazy path whose selections are made only for the
//! leaves that need them.

use std::borrow::Cow;

use super::{
    carry, Driver, Moved, PointReducer, Scratch, FINAL, LANES, MIN_CULL, REFINE, SEQUENTIAL,
};
use crate::cull::Culling;

/// A level of the path down to a leaf, whose candidates are selected only when a leaf below
/// needs them (a leaf that keeps its carried candidates needs none).
struct Level {
    node: usize,
    cands: Option<Vec<usize>>,
    selected_for: usize,
    floor: f64,
}

impl<T: Send, R: PointReducer<T>> Driver<'_, T, R> {
    /// The candidates of a node of `n` points and box [lo, hi] among `cands`, selected for a
    /// node of `selected_for` points, below `floor`; the size they are now selected for, the
    /// floor of every component left out so far and the component of the best lower bound
    /// when the node selected (else `usize::MAX`; see [`Self::select`]).
    fn refine<'c>(
        &self,
        n: usize,
        (lo, hi): (&[f64], &[f64]),
        cands: &'c [usize],
        selected_for: usize,
        floor: f64,
    ) -> (Cow<'c, [usize]>, usize, f64, usize) {
        let last = n <= FINAL;
        let refine = if last {
            n >= MIN_CULL && selected_for > FINAL
        } else {
            n * REFINE <= selected_for
        };
        if !refine {
            return (cands.into(), selected_for, floor, usize::MAX);
        }
        let culling = if last { &self.last } else { &self.inner };
        let (kept, below, best) = self.select(lo, hi, cands, culling);
        (kept.into(), n, floor.max(below), best)
    }

    /// Processes node `i` of the tree, of at least [`SEQUENTIAL`] points: its halves in
    /// parallel, each returning its subtree's state, merged left then right. Below, one
    /// thread and one scratch space do the whole subtree.
    pub(super) fn parallel(
        &self,
        i: usize,
        cands: &[usize],
        selected_for: usize,
        floor: f64,
    ) -> R::State {
        let mut scratch = self.scratch();
        let node = self.tree.nodes[i];
        if node.len < SEQUENTIAL || node.right == 0 {
            if let Some(memo) = self.memo {
                let mut path = vec![Level {
                    node: usize::MAX,
                    cands: Some(cands.to_vec()),
                    selected_for,
                    floor,
                }];
                let moved = memo.motion.as_ref().map_or(&[][..], |m| &m.moved[..]);
                let moved = Moved {
                    cands: moved,
                    floor: f64::NEG_INFINITY,
                };
                self.carried(i, &mut path, moved, &mut scratch);
            } else {
                self.sequential(i, cands, selected_for, &mut scratch);
            }
            return scratch.state;
        }
        if self.stop.requested() {
            return scratch.state;
        }
        let bbox = self.tree.bbox(i);
        let (cands, selected_for, floor, best) =
            self.refine(node.len, bbox, cands, selected_for, floor);
        self.remember_best(i, best);
        let (mut a, b) = rayon::join(
            || self.parallel(i + 1, &cands, selected_for, floor),
            || self.parallel(i + node.right, &cands, selected_for, floor),
        );
        self.reducer.merge(&mut a, b);
        a
    }

    /// Processes node `i` and its subtree on this thread.
    fn sequential(
        &self,
        i: usize,
        cands: &[usize],
        selected_for: usize,
        scratch: &mut Scratch<R::State>,
    ) {
        if self.stop.requested() {
            return;
        }
        let node = self.tree.nodes[i];
        let bbox = self.tree.bbox(i);
        let (cands, selected_for, _, _) = self.refine(node.len, bbox, cands, selected_for, 0.0);
        if node.right == 0 {
            self.evaluate_leaf(&node, &cands, scratch);
            return;
        }
        self.sequential(i + 1, &cands, selected_for, scratch);
        self.sequential(i + node.right, &cands, selected_for, scratch);
    }

    /// [`Self::sequential`] for a fit's E-step ([`carry`]): a leaf first tries its carried
    /// candidates; only when it has none, or their check fails, are the candidates of the
    /// nodes on its path selected (each once, for every leaf below it that needs them).
    /// `path` ends with the resolved level above node `i`; `moved` are the components that
    /// moved much and may matter in node i.
    fn carried(
        &self,
        i: usize,
        path: &mut Vec<Level>,
        moved: Moved,
        scratch: &mut Scratch<R::State>,
    ) {
        if self.stop.requested() {
            return;
        }
        let node = self.tree.nodes[i];
        let kept = self.filter_moved(i, moved);
        let moved = Moved {
            cands: &kept.0,
            floor: kept.1,
        };
        if node.right == 0 && self.recall_leaf(i, &node, moved, scratch) {
            return;
        }
        path.push(Level {
            node: i,
            cands: None,
            selected_for: 0,
            floor: f64::NEG_INFINITY,
        });
        if node.right == 0 {
            self.resolve(path);
            let level = path.last().expect("pushed above");
            let cands = level.cands.as_deref().expect("resolved above");
            self.record_leaf(i, &node, cands, level.floor, scratch);
        } else {
            self.carried(i + 1, path, moved, scratch);
            self.carried(i + node.right, path, moved, scratch);
        }
        path.pop();
    }

    /// The components of `moved` that may matter in node i, and the floor of the others: at
    /// a node that selected when its leaves were recorded, they are bounded over its box
    /// together with the component that had the best lower bound there (a lower bound of the
    /// largest term at its points, under the current parameters).
    fn filter_moved<'m>(&self, i: usize, moved: Moved<'m>) -> (Cow<'m, [usize]>, f64) {
        let unchanged = (moved.cands.into(), moved.floor);
        let Some(memo) = self.memo else {
            return unchanged;
        };
        // SAFETY: node i's entry is this thread's alone (`Memo`).
        let best = unsafe { *memo.best.add(i) };
        if moved.cands.is_empty() || best == usize::MAX {
            return unchanged;
        }
        let mut among = moved.cands.to_vec();
        if let Err(at) = among.binary_search(&best) {
            among.insert(at, best);
        }
        let culling = Culling {
            threshold: memo.threshold - carry::HYSTERESIS,
            rtol: 0.0,
        };
        let (lo, hi) = self.tree.bbox(i);
        let (mut kept, below, _) = self.select(lo, hi, &among, &culling);
        kept.retain(|k| moved.cands.binary_search(k).is_ok());
        (kept.into(), moved.floor.max(below))
    }

    /// Notes the component of the best lower bound at node i, for [`Self::filter_moved`].
    fn remember_best(&self, i: usize, best: usize) {
        if let (Some(memo), true) = (self.memo, best != usize::MAX) {
            // SAFETY: node i's entry is this thread's alone (`Memo`).
            unsafe { *memo.best.add(i) = best };
        }
    }

    /// Selects the candidates of the levels of `path` not selected yet, from the deepest one
    /// that is (the first level always is).
    fn resolve(&self, path: &mut [Level]) {
        let first = path
            .iter()
            .rposition(|level| level.cands.is_some())
            .expect("the first level is resolved");
        for m in first + 1..path.len() {
            let (above, below) = path.split_at_mut(m);
            let (parent, level) = (&above[m - 1], &mut below[0]);
            let node = self.tree.nodes[level.node];
            let cands = parent.cands.as_deref().expect("resolved in order");
            let bbox = self.tree.bbox(level.node);
            let (cands, selected_for, floor, best) =
                self.refine(node.len, bbox, cands, parent.selected_for, parent.floor);
            self.remember_best(level.node, best);
            level.cands = Some(cands.into_owned());
            level.selected_for = selected_for;
            level.floor = floor;
        }
    }

    pub(super) fn scratch(&self) -> Scratch<R::State> {
        Scratch {
            l: Vec::new(),
            y: vec![[0.0; LANES]; self.d],
            full: vec![0.0; self.mixture.n_components()],
            full_y: vec![0.0; self.d],
            leaf_l: Vec::new(),
            heads: Vec::new(),
            cands: Vec::new(),
            track: super::evaluate::Track::default(),
            state: self.reducer.state(),
        }
    }
}
