//! The grid driver: evaluates the components that may matter at pixel centres, a row of a
//! sub-tile at a time, and hands their values to a per-pixel reduction (log-sum-exp, arg-max,
//! a conditional mean, ...). Its counterpart for arbitrary points is [`crate::points`].
//!
//! The work is partitioned in a way that does not depend on the number of threads, and each
//! pixel's reduction sees its values in component order, so every kernel built on it is
//! bitwise deterministic.

// Loops over the lanes of a row index several arrays by the same lane: clearer than zips.
#![allow(clippy::needless_range_loop)]

use crate::cull::{select, Culling};
use crate::error::KernelError;
use crate::grid::{for_each_tile, Axes, BandView, Block, Window, SUBTILE};
use crate::interrupt::Stop;
use crate::mixture::Planar;

/// Pixels evaluated together: one row of a sub-tile.
pub const LANES: usize = SUBTILE;

/// One row of up to [`LANES`] consecutive pixels of a sub-tile, with its candidates'
/// log-densities laid out lane-major: `l[k * LANES + p]` is candidate k at pixel p. Lanes
/// `len..LANES` repeat the last pixel (so loops over lanes can ignore `len`); reducers write
/// only the first `len`.
pub struct Row<'a> {
    pub l: &'a [f64],
    /// Number of candidates.
    pub n: usize,
    /// Number of real pixels.
    pub len: usize,
    pub xs: [f64; LANES],
    pub y: f64,
}

/// Per lane, the largest log-density and the first candidate that reaches it (in candidate
/// order, as [`crate::density::peak`] finds it for one pixel). NaN never wins; a lane whose
/// values are all −∞ gets −∞ and candidate 0.
#[inline(always)]
pub fn lane_peaks(row: &Row) -> ([f64; LANES], [usize; LANES]) {
    let mut max = [f64::NEG_INFINITY; LANES];
    let mut arg = [0usize; LANES];
    for (k, lanes) in row.l[..row.n * LANES].chunks_exact(LANES).enumerate() {
        for p in 0..LANES {
            let better = lanes[p] > max[p];
            max[p] = if better { lanes[p] } else { max[p] };
            arg[p] = if better { k } else { arg[p] };
        }
    }
    (max, arg)
}

/// What a grid kernel does with the log-densities of its candidates, row by row.
///
/// The driver calls [`Reducer::prepare`] once per sub-tile with its candidates (positions
/// in component order, `cands.index` their component numbers) and the centre of the
/// sub-tile's bounding box, then [`Reducer::row`] for each of its rows.
pub trait Reducer<T>: Sync {
    /// Scratch space, made once per tile.
    type State;
    fn state(&self) -> Self::State;
    #[inline(always)]
    fn prepare(&self, _state: &mut Self::State, _cands: &Planar, _centre: [f64; 2]) {}
    /// Writes the `channels` values of each of the row's `row.len` pixels into `out`
    /// (pixel after pixel) and, if it is not empty, into `extra`.
    fn row(
        &self,
        state: &mut Self::State,
        row: &Row,
        cands: &Planar,
        out: &mut [T],
        extra: &mut [T],
    );
}

/// Runs `reducer` over every pixel of `window`: per tile, the components that may matter are
/// selected (see [`crate::cull`]; over all components with the exact rule, then per sub-tile
/// over the tile's candidates with `culling`), and each row of a sub-tile has its candidates
/// evaluated at its pixel centres. `out` holds `channels` values per window pixel, `extra` the
/// same layout or nothing.
///
/// Candidates depend on the grid's tiles only, never on `window`, so a pixel's value does not
/// depend on the window it is computed in. `stop` as in [`for_each_point`], checked per tile.
#[allow(clippy::too_many_arguments)]
pub fn for_each_pixel<T, R>(
    mixture: &Planar,
    axes: &Axes,
    window: &Window,
    culling: &Culling,
    channels: usize,
    out: &mut [T],
    extra: &mut [T],
    reducer: &R,
    stop: &Stop,
) -> Result<(), KernelError>
where
    T: Send,
    R: Reducer<T>,
{
    let everything: Vec<usize> = (0..mixture.len()).collect();
    let exact = Culling {
        rtol: 0.0,
        ..*culling
    };
    for_each_tile(
        axes,
        window,
        channels,
        out,
        extra,
        stop,
        |tile, mut band, mut extra_band| {
            let in_tile = select(mixture, &everything, &axes.bounds(tile), &exact);
            let mut cands = Planar::with_capacity(in_tile.len());
            let mut l = Vec::with_capacity(in_tile.len() * LANES);
            let mut state = reducer.state();
            for sub in tile.split(SUBTILE) {
                let part = sub.clip(window);
                if part.is_empty() {
                    continue;
                }
                let rect = axes.bounds(&sub);
                mixture.subset_into(&select(mixture, &in_tile, &rect, culling), &mut cands);
                let centre = [0.5 * (rect.x[0] + rect.x[1]), 0.5 * (rect.y[0] + rect.y[1])];
                reducer.prepare(&mut state, &cands, centre);
                l.resize(cands.len() * LANES, 0.0);
                let mut pixels = SubTile {
                    axes,
                    part: &part,
                    cands: &cands,
                    l: &mut l,
                    state: &mut state,
                    band: &mut band,
                    extra_band: &mut extra_band,
                    reducer,
                };
                pixels.run();
            }
        },
    )
}

/// The row loop of one sub-tile, compiled twice: for the baseline CPU and, when the machine
/// has them, with AVX2 instructions (twice the vector width for the lane loops). Both use the
/// same additions and multiplications in the same order (no fused multiply-add), so they give
/// bitwise the same results.
struct SubTile<'a, 'b, 'c, T, R: Reducer<T>> {
    axes: &'a Axes<'a>,
    part: &'a Block,
    cands: &'a Planar,
    l: &'a mut Vec<f64>,
    state: &'a mut R::State,
    band: &'a mut BandView<'b, T>,
    extra_band: &'a mut BandView<'c, T>,
    reducer: &'a R,
}

impl<T, R: Reducer<T>> SubTile<'_, '_, '_, T, R> {
    fn run(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.run_avx2() };
                return;
            }
        }
        self.run_generic();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&mut self) {
        self.run_generic();
    }

    #[inline(always)]
    fn run_generic(&mut self) {
        let cols = self.part.cols.clone();
        let len = cols.len();
        let mut xs = [0.0; LANES];
        for (p, x) in xs.iter_mut().enumerate() {
            *x = self.axes.xs[cols.start + p.min(len - 1)];
        }
        for i in self.part.rows.clone() {
            let y = self.axes.ys[i];
            self.cands.log_probs_lanes(&xs, y, self.l);
            let row = Row {
                l: self.l,
                n: self.cands.len(),
                len,
                xs,
                y,
            };
            self.reducer.row(
                self.state,
                &row,
                self.cands,
                self.band.pixels(i, cols.clone()),
                self.extra_band.pixels(i, cols.clone()),
            );
        }
    }
}

/// Output element types of the grid kernels: values are computed in f64 and stored as `Self`.
pub trait Store: Copy + Send {
    fn store(value: f64) -> Self;
}

impl Store for f64 {
    #[inline]
    fn store(value: f64) -> Self {
        value
    }
}

impl Store for f32 {
    #[inline]
    fn store(value: f64) -> Self {
        value as f32
    }
}
