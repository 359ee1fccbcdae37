//! Drivers that evaluate every component's log-density at points or pixel centres and hand the
//! values to a per-point reduction (log-sum-exp, arg-max, a conditional mean, ...).
//!
//! Both drivers partition the work in a way that does not depend on the number of threads,
//! and each point's reduction sees its values in component order, so every kernel built on
//! them is bitwise deterministic.

use rayon::prelude::*;

use crate::error::{check_len, KernelError};
use crate::grid::{candidates, for_each_tile, optional_chunks, Axes};
use crate::mixture::{Mixture, Planar};

/// Points per parallel work item.
const POINT_CHUNK: usize = 256;

/// Runs `f(state, l, point, slot, extra_slot)` for every row `point` of `x` (n × d,
/// row-major), where `l` holds the point's K log-densities, `slot` its `per_point` values of
/// `out`, and `extra_slot` its values of `extra` (a second output of `out`'s layout, or empty).
/// `state` is scratch space made by `init` once per work item, not per point.
pub fn for_each_point<T, S, I, F>(
    mixture: &Mixture,
    x: &[f64],
    per_point: usize,
    out: &mut [T],
    extra: &mut [T],
    init: I,
    f: F,
) -> Result<(), KernelError>
where
    T: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, &[f64], &[f64], &mut [T], &mut [T]) + Sync,
{
    let d = mixture.n_features();
    if x.len() % d != 0 {
        return Err(KernelError::Shape(format!(
            "X has {} values, not a whole number of rows of {d} features",
            x.len()
        )));
    }
    let n = x.len() / d;
    check_len("output", out.len(), n * per_point)?;
    if !extra.is_empty() {
        check_len("second output", extra.len(), out.len())?;
    }
    if n == 0 || per_point == 0 {
        return Ok(());
    }
    let chunk = POINT_CHUNK * per_point;
    let extra_chunks = optional_chunks(extra, chunk, n.div_ceil(POINT_CHUNK));
    out.par_chunks_mut(chunk)
        .zip(x.par_chunks(POINT_CHUNK * d))
        .zip(extra_chunks.into_par_iter())
        .for_each(|((out_chunk, x_chunk), extra_chunk)| {
            let mut l = vec![0.0; mixture.n_components()];
            let mut scratch = vec![0.0; d];
            let mut state = init();
            for (i, point) in x_chunk.chunks_exact(d).enumerate() {
                mixture.log_probs(point, &mut l, &mut scratch);
                let at = i * per_point..(i + 1) * per_point;
                let extra_slot = extra_chunk.get_mut(at.clone()).unwrap_or_default();
                f(&mut state, &l, point, &mut out_chunk[at], extra_slot);
            }
        });
    Ok(())
}

/// Runs `f(state, l, candidates, (x, y), slot, extra_slot)` for every pixel, where `l` holds
/// the log-densities of the pixel's tile's `candidates` at the pixel centre (x, y), `slot` the
/// pixel's `channels` values of `out` and `extra_slot` those of `extra` (or empty). `state` is
/// scratch space made by `init` once per tile.
pub fn for_each_pixel<T, S, I, F>(
    mixture: &Planar,
    axes: &Axes,
    channels: usize,
    out: &mut [T],
    extra: &mut [T],
    init: I,
    f: F,
) -> Result<(), KernelError>
where
    T: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, &[f64], &Planar, [f64; 2], &mut [T], &mut [T]) + Sync,
{
    let width = axes.width();
    for_each_tile(axes, channels, out, extra, |tile, band, extra_band| {
        let cands = mixture.subset(&candidates(mixture, tile, axes));
        let mut l = vec![0.0; cands.len()];
        let mut state = init();
        for i in tile.rows.clone() {
            let y = axes.ys[i];
            for j in tile.cols.clone() {
                let x = axes.xs[j];
                cands.log_probs(x, y, &mut l);
                let at = tile.band_offset(i, j, width) * channels;
                let at = at..at + channels;
                let extra_slot = extra_band.get_mut(at.clone()).unwrap_or_default();
                f(&mut state, &l, &cands, [x, y], &mut band[at], extra_slot);
            }
        }
    })
}
