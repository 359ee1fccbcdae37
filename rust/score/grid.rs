//! The score field of a two-feature mixture at every pixel centre, on the grid driver: the
//! same sums as the point kernel ([`super::Lanes`]), so a pixel's score is bitwise that of
//! [`super::score_points`] at its centre.

use crate::cull::Culling;
use crate::density::NEGLIGIBLE;
use crate::error::{check_len, KernelError};
use crate::evaluate::{for_each_pixel, lane_peaks, Reducer, Row, LANES};
use crate::grid::{Axes, Window};
use crate::interrupt::Stop;
use crate::mixture::{Components, Planar};
use crate::points::LANES as POINT_LANES;

use super::{far_score, Lanes, ScoreState};

// The pixel rows and the point groups have the same width, so [`Lanes`] serves both.
const _: () = assert!(LANES == POINT_LANES);

/// The score at every pixel: two values (∂/∂x, ∂/∂y) per pixel.
struct ScoreField<'a> {
    /// The whole mixture, for the pixels where every candidate's log-density is −∞.
    mixture: &'a Components,
}

impl Reducer<f64> for ScoreField<'_> {
    type State = ScoreState;
    fn state(&self) -> ScoreState {
        ScoreState::default()
    }
    #[inline(always)]
    fn row(
        &self,
        state: &mut ScoreState,
        row: &Row,
        cands: &Planar,
        out: &mut [f64],
        _: &mut [f64],
    ) {
        let (max, arg) = lane_peaks(row);
        let xs = [row.xs, [row.y; LANES]];
        let mut lanes = Lanes::<2>::new();
        for (c, l) in row.l[..row.n * LANES].chunks_exact(LANES).enumerate() {
            let mu = [cands.mx[c], cands.my[c]];
            let u = [cands.u00[c], cands.u01[c], 0.0, cands.u11[c]];
            lanes.add(c, l, &max, &arg, &xs, &mu, &u);
        }
        for p in 0..row.len {
            if max[p] > f64::NEG_INFINITY {
                lanes.store(p, &mut out[2 * p..2 * p + 2]);
            } else {
                self.far_pixel(state, [row.xs[p], row.y], &mut out[2 * p..2 * p + 2]);
            }
        }
    }
}

impl ScoreField<'_> {
    /// The cold path: every candidate's log-density is −∞ at `x`.
    #[cold]
    #[inline(never)]
    fn far_pixel(&self, state: &mut ScoreState, x: [f64; 2], out: &mut [f64]) {
        let mut l = vec![0.0; self.mixture.n_components()];
        let mut y = [0.0; 2];
        self.mixture.nearest_log_probs(&x, &mut l, &mut y);
        far_score(self.mixture, state, &l, &x, out);
    }
}

/// The score of a two-feature mixture at every pixel centre of `window` into `out` (window
/// height × width × 2, the last axis (∂/∂x, ∂/∂y)); `planar` is `mixture` as a structure of
/// arrays. `rtol` as in [`super::score_points`] (per sub-tile of pixels).
pub fn score_grid(
    mixture: &Components,
    planar: &Planar,
    axes: &Axes,
    window: &Window,
    rtol: f64,
    out: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    check_len(
        "score output",
        out.len(),
        2 * window.rows.len() * window.cols.len(),
    )?;
    let culling = Culling {
        threshold: NEGLIGIBLE,
        rtol,
    };
    let reducer = ScoreField { mixture };
    for_each_pixel(
        planar,
        axes,
        window,
        &culling,
        2,
        out,
        &mut [],
        &reducer,
        stop,
    )
}
