//! Pixel grid geometry and tiling.
//!
//! A grid is given by its pixel centres: `xs` (one per column, len = width) and `ys` (one per
//! row, len = height); pixel (row i, column j) sits at (xs[j], ys[i]). Python computes the
//! centres with `numpy.linspace`, so the kernels see exactly the coordinates of
//! `Grid.points()` without ever materialising that (height·width, 2) array.
//!
//! Images are processed in bands of [`TILE_ROWS`] rows, in parallel; each band is cut into tiles
//! of [`TILE_COLS`] columns. The tiling never depends on the number of threads, and every pixel
//! is computed independently, so results are bitwise identical for any thread count.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{check_len, KernelError};
use crate::mixture::Planar;

pub const TILE_ROWS: usize = 32;
pub const TILE_COLS: usize = 32;

/// Pixel centres of a grid.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    pub xs: &'a [f64],
    pub ys: &'a [f64],
}

impl<'a> Axes<'a> {
    /// Checks that the centres are finite.
    pub fn new(xs: &'a [f64], ys: &'a [f64]) -> Result<Self, KernelError> {
        if xs.iter().chain(ys).any(|v| !v.is_finite()) {
            return Err(KernelError::Value("pixel centres must be finite".into()));
        }
        Ok(Self { xs, ys })
    }

    pub fn width(&self) -> usize {
        self.xs.len()
    }

    pub fn height(&self) -> usize {
        self.ys.len()
    }
}

/// A rectangle of pixels: rows `rows`, columns `cols`. All tiles of a band share its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub rows: Range<usize>,
    pub cols: Range<usize>,
}

impl Tile {
    /// Position of pixel (i, j) in its band's output slice, in pixels.
    #[inline]
    pub fn band_offset(&self, i: usize, j: usize, width: usize) -> usize {
        (i - self.rows.start) * width + j
    }
}

/// The components that may matter inside `tile`, as positions in `mixture`.
///
/// For now every component is a candidate (exact brute force). Error-bounded culling replaces
/// this function without changing its callers.
pub fn candidates(mixture: &Planar, _tile: &Tile, _axes: &Axes) -> Vec<usize> {
    (0..mixture.len()).collect()
}

/// Splits `out` into chunks of `chunk` values, or, when `out` is empty (an output that was not
/// asked for), into `count` empty slices, so that it can be zipped with a required output.
pub(crate) fn optional_chunks<T>(out: &mut [T], chunk: usize, count: usize) -> Vec<&mut [T]> {
    if out.is_empty() {
        (0..count).map(|_| Default::default()).collect()
    } else {
        out.chunks_mut(chunk).collect()
    }
}

/// Calls `f(tile, band, extra_band)` for every tile of the grid, bands in parallel.
///
/// `out` holds `channels` values per pixel in row-major order; `band` is the part of `out` that
/// belongs to the tile's band of rows (index it with [`Tile::band_offset`] × `channels`).
/// `extra` is a second output of the same layout, or empty when not wanted (then every
/// `extra_band` is empty).
pub fn for_each_tile<T, F>(
    axes: &Axes,
    channels: usize,
    out: &mut [T],
    extra: &mut [T],
    f: F,
) -> Result<(), KernelError>
where
    T: Send,
    F: Fn(&Tile, &mut [T], &mut [T]) + Sync,
{
    let (width, height) = (axes.width(), axes.height());
    check_len("output", out.len(), width * height * channels)?;
    if !extra.is_empty() {
        check_len("second output", extra.len(), out.len())?;
    }
    if out.is_empty() {
        return Ok(());
    }
    let band_len = TILE_ROWS * width * channels;
    let extra_bands = optional_chunks(extra, band_len, height.div_ceil(TILE_ROWS));
    out.par_chunks_mut(band_len)
        .zip(extra_bands.into_par_iter())
        .enumerate()
        .for_each(|(band, (slice, extra_slice))| {
            let row0 = band * TILE_ROWS;
            let rows = row0..(row0 + TILE_ROWS).min(height);
            for col0 in (0..width).step_by(TILE_COLS) {
                let tile = Tile {
                    rows: rows.clone(),
                    cols: col0..(col0 + TILE_COLS).min(width),
                };
                f(&tile, slice, extra_slice);
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_pixel_once() {
        let xs: Vec<f64> = (0..70).map(f64::from).collect();
        let ys: Vec<f64> = (0..33).map(f64::from).collect();
        let axes = Axes::new(&xs, &ys).unwrap();
        let mut hits = vec![0u32; 70 * 33];
        for_each_tile(&axes, 1, &mut hits, &mut [], |tile, band, _| {
            for i in tile.rows.clone() {
                for j in tile.cols.clone() {
                    band[tile.band_offset(i, j, 70)] += 1;
                }
            }
        })
        .unwrap();
        assert!(hits.iter().all(|&h| h == 1));
    }

    #[test]
    fn rejects_wrong_output_length_and_non_finite_centres() {
        let xs = [0.0, 1.0];
        let axes = Axes::new(&xs, &xs).unwrap();
        let mut out = vec![0.0; 3];
        assert!(for_each_tile(&axes, 1, &mut out, &mut [], |_, _, _| {}).is_err());
        let mut out = vec![0.0; 4];
        let mut extra = vec![0.0; 3];
        assert!(for_each_tile(&axes, 1, &mut out, &mut extra, |_, _, _| {}).is_err());
        assert!(Axes::new(&[f64::NAN], &xs).is_err());
    }
}
