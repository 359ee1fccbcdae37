//! Tests of the point driver: bounds, vector widths, culling.

use super::evaluate::log_probs_lanes;
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
            tree: &Tree::build(&[], d, &[]),
            geometry: Geometry::new(&mixture),
            last: Culling {
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
            memo: None,
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

/// The tree's order is a permutation of the rows; each node's points are consecutive, within
/// its box, and split between its two children (the left one next in pre-order); leaves hold
/// at most LEAF points.
#[test]
fn the_tree_partitions_the_points_into_boxes() {
    let mut rng = Lcg(4);
    for (n, d) in [(1, 1), (33, 2), (5000, 3), (3001, 9)] {
        let x: Vec<f64> = (0..n * d).map(|_| 50.0 * rng.next()).collect();
        let weight: Vec<f64> = (0..d).map(|i| 1.0 + i as f64).collect();
        let tree = Tree::build(&x, d, &weight);
        assert_eq!((tree.n_points(), tree.n_features()), (n, d));
        let mut seen = tree.order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        assert_eq!((tree.nodes[0].start, tree.nodes[0].len), (0, n));
        for (i, node) in tree.nodes.iter().enumerate() {
            let (lo, hi) = tree.bbox(i);
            for &r in tree.rows(node) {
                for f in 0..d {
                    assert!(lo[f] <= x[r * d + f] && x[r * d + f] <= hi[f]);
                }
            }
            if node.right == 0 {
                assert!(node.len <= LEAF && node.len > 0);
            } else {
                let (left, right) = (tree.nodes[i + 1], tree.nodes[i + node.right]);
                assert_eq!(left.start, node.start);
                assert_eq!(right.start, node.start + left.len);
                assert_eq!(left.len + right.len, node.len);
                assert_eq!(left.len % LANES, 0);
            }
        }
    }
}
