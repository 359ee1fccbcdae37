//! Pixel grid geometry and tiling.
//!
//! A grid is given by its pixel centres: `xs` (one per column, len = width) and `ys` (one per
//! row, len = height); pixel (row i, column j) sits at (xs[j], ys[i]). Python computes the
//! centres with `numpy.linspace`, so the kernels see exactly the coordinates of
//! `Grid.points()` without ever materialising that (height·width, 2) array.
//!
//! A kernel may compute only a [`Window`] of the grid (a block of a larger image, e.g. one
//! Dask chunk). Tiles are anchored to the whole grid, not to the window: tile (a, b) covers
//! rows [TILE·a, TILE·(a+1)) and columns [TILE·b, TILE·(b+1)) of the grid, and anything a
//! kernel decides per tile (which components to evaluate) depends on the tile alone. So a
//! pixel gets bitwise the same value whichever window it is computed in, and for any number
//! of threads: windows are processed in bands of tile rows, in parallel.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;

/// Side of a tile in pixels: the unit of parallel work (a band is one tile row) and of the
/// first culling level.
pub const TILE: usize = 32;
/// Side of a sub-tile: the second culling level and the unit of the pixel loops.
pub const SUBTILE: usize = 8;

/// Pixel centres of a whole grid.
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

    /// The whole grid as a window.
    pub fn full(&self) -> Window {
        Window {
            rows: 0..self.height(),
            cols: 0..self.width(),
        }
    }

    /// The smallest rectangle in model coordinates holding the centres of `block`.
    pub fn bounds(&self, block: &Block) -> Rect {
        let (x0, x1) = (self.xs[block.cols.start], self.xs[block.cols.end - 1]);
        let (y0, y1) = (self.ys[block.rows.start], self.ys[block.rows.end - 1]);
        // Centres come from linspace, so they are monotonic and the ends bound each axis;
        // min/max over every centre keeps this right for any other monotonic-or-not input.
        let fold = |v: &[f64]| {
            v.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &c| {
                    (lo.min(c), hi.max(c))
                })
        };
        let (xlo, xhi) = if block.cols.len() <= 2 {
            (x0.min(x1), x0.max(x1))
        } else {
            fold(&self.xs[block.cols.clone()])
        };
        let (ylo, yhi) = if block.rows.len() <= 2 {
            (y0.min(y1), y0.max(y1))
        } else {
            fold(&self.ys[block.rows.clone()])
        };
        Rect {
            x: [xlo, xhi],
            y: [ylo, yhi],
        }
    }
}

/// The part of a grid a kernel computes: rows and columns, in grid indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub rows: Range<usize>,
    pub cols: Range<usize>,
}

impl Window {
    /// Checks that the window is inside a grid of `axes`' size.
    pub fn check(&self, axes: &Axes) -> Result<(), KernelError> {
        if self.rows.start > self.rows.end
            || self.cols.start > self.cols.end
            || self.rows.end > axes.height()
            || self.cols.end > axes.width()
        {
            return Err(KernelError::Shape(format!(
                "window rows {:?}, columns {:?} do not fit a {}×{} grid",
                self.rows,
                self.cols,
                axes.height(),
                axes.width()
            )));
        }
        Ok(())
    }

    pub fn height(&self) -> usize {
        self.rows.len()
    }

    pub fn width(&self) -> usize {
        self.cols.len()
    }
}

/// A rectangle of grid pixels (rows, columns in grid indices), e.g. a tile or a sub-tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub rows: Range<usize>,
    pub cols: Range<usize>,
}

impl Block {
    /// The blocks of side `side` that tile this block, starting at its first row and column
    /// (so anchored to the grid when this block is), the last ones clipped to it.
    pub fn split(&self, side: usize) -> impl Iterator<Item = Block> + '_ {
        let rows = self.rows.clone();
        let cols = self.cols.clone();
        rows.clone().step_by(side).flat_map(move |r| {
            let rows = r..(r + side).min(rows.end);
            cols.clone().step_by(side).map(move |c| Block {
                rows: rows.clone(),
                cols: c..(c + side).min(cols.end),
            })
        })
    }

    /// The part of this block inside `window` (possibly empty).
    pub fn clip(&self, window: &Window) -> Block {
        let rows = self.rows.start.max(window.rows.start)..self.rows.end.min(window.rows.end);
        let cols = self.cols.start.max(window.cols.start)..self.cols.end.min(window.cols.end);
        Block { rows, cols }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() || self.cols.is_empty()
    }
}

/// An axis-aligned rectangle [x0, x1] × [y0, y1] in model coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: [f64; 2],
    pub y: [f64; 2],
}

/// Calls `f(tile, band, extra_band)` for every tile of the grid that meets `window`, bands of
/// tiles in parallel.
///
/// `tile` is the whole tile (anchored to the grid, not clipped to the window). `out` holds
/// `channels` values per window pixel in row-major order; `band` gives access to the part of
/// `out` that belongs to the tile's band of rows, addressed by grid pixel indices. `extra` is a
/// second output of the same layout, or empty when not wanted (then `extra_band.pixels` is
/// always empty). Once `stop` is requested the remaining tiles are skipped and the result is
/// [`KernelError::Interrupted`].
pub fn for_each_tile<T, F>(
    axes: &Axes,
    window: &Window,
    channels: usize,
    out: &mut [T],
    extra: &mut [T],
    stop: &Stop,
    f: F,
) -> Result<(), KernelError>
where
    T: Send,
    F: Fn(&Block, BandView<'_, T>, BandView<'_, T>) + Sync,
{
    window.check(axes)?;
    let (width, height) = (window.width(), window.height());
    check_len("output", out.len(), width * height * channels)?;
    if !extra.is_empty() {
        check_len("second output", extra.len(), out.len())?;
    }
    if out.is_empty() {
        return Ok(());
    }
    // Band b covers the window rows that fall in grid tile row `first_tile_row + b`; the first
    // and last bands may be shorter than a tile.
    let first = window.rows.start / TILE;
    let last = (window.rows.end - 1) / TILE;
    let band_rows = |b: usize| {
        let tile_row = first + b;
        (tile_row * TILE).max(window.rows.start)..((tile_row + 1) * TILE).min(window.rows.end)
    };
    let mut bands = Vec::with_capacity(last - first + 1);
    let mut extra_bands = Vec::with_capacity(last - first + 1);
    let (mut rest, mut extra_rest) = (out, extra);
    for b in 0..=(last - first) {
        let len = band_rows(b).len() * width * channels;
        let (head, tail) = rest.split_at_mut(len);
        bands.push(head);
        rest = tail;
        if extra_rest.is_empty() {
            extra_bands.push(Default::default());
        } else {
            let (head, tail) = extra_rest.split_at_mut(len);
            extra_bands.push(head);
            extra_rest = tail;
        }
    }
    let (grid_height, grid_width) = (axes.height(), axes.width());
    bands
        .into_par_iter()
        .zip(extra_bands.into_par_iter())
        .enumerate()
        .for_each(|(b, (band, extra_band))| {
            let rows = band_rows(b);
            let tile_rows = (first + b) * TILE..((first + b + 1) * TILE).min(grid_height);
            let first_col = window.cols.start / TILE;
            let last_col = (window.cols.end - 1) / TILE;
            for tile_col in first_col..=last_col {
                if stop.requested() {
                    return;
                }
                let tile = Block {
                    rows: tile_rows.clone(),
                    cols: tile_col * TILE..((tile_col + 1) * TILE).min(grid_width),
                };
                let band_view = BandView::new(&mut *band, window, rows.start, channels);
                let extra_view = BandView::new(&mut *extra_band, window, rows.start, channels);
                f(&tile, band_view, extra_view);
            }
        });
    stop.check()
}

/// The output rows of one band, addressed by grid pixel indices.
pub struct BandView<'a, T> {
    slice: &'a mut [T],
    window: Window,
    first_row: usize,
    channels: usize,
}

impl<'a, T> BandView<'a, T> {
    fn new(slice: &'a mut [T], window: &Window, first_row: usize, channels: usize) -> Self {
        Self {
            slice,
            window: window.clone(),
            first_row,
            channels,
        }
    }

    /// The values of grid pixels (i, j) for j in `cols` (consecutive in the output:
    /// `channels` per pixel), or an empty slice when this output was not asked for.
    #[inline]
    pub fn pixels(&mut self, i: usize, cols: Range<usize>) -> &mut [T] {
        if self.slice.is_empty() {
            return &mut [];
        }
        let row = i - self.first_row;
        let first = row * self.window.width() + (cols.start - self.window.cols.start);
        &mut self.slice[first * self.channels..(first + cols.len()) * self.channels]
    }
}

/// The cells of one side of a grid: pixel `floor((v − start)·scale + ½)` when that lies in
/// `[0, n)`, none otherwise.
///
/// Python chooses `start` and `scale` (the first pixel centre and 1 / pixel spacing, sign
/// included) and its NumPy reference evaluates the same expression, so both bin every sample
/// into the same pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cells {
    pub start: f64,
    pub scale: f64,
    pub n: usize,
}

impl Cells {
    /// Checks that `start` is finite and `scale` finite and non-zero.
    pub fn new(start: f64, scale: f64, n: usize) -> Result<Self, KernelError> {
        if !(start.is_finite() && scale.is_finite() && scale != 0.0) {
            return Err(KernelError::Value(format!(
                "pixel cells need a finite start and a finite, non-zero scale, got start={start}, \
                 scale={scale}"
            )));
        }
        Ok(Self { start, scale, n })
    }

    /// The pixel whose cell holds `v`, if any (NaN falls in none).
    #[inline]
    pub fn index(&self, v: f64) -> Option<usize> {
        let u = (v - self.start) * self.scale + 0.5;
        // For 0 ≤ u < n the truncation is the floor and stays below n.
        if u >= 0.0 && u < self.n as f64 {
            Some(u as usize)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_window_pixel_once() {
        let xs: Vec<f64> = (0..70).map(f64::from).collect();
        let ys: Vec<f64> = (0..75).map(f64::from).collect();
        let axes = Axes::new(&xs, &ys).unwrap();
        for window in [
            axes.full(),
            Window {
                rows: 5..70,
                cols: 31..33,
            },
            Window {
                rows: 40..41,
                cols: 0..70,
            },
        ] {
            let mut hits = vec![0u32; window.height() * window.width()];
            for_each_tile(
                &axes,
                &window,
                1,
                &mut hits,
                &mut [],
                &Stop::new(),
                |tile, mut band, _| {
                    assert_eq!(tile.rows.start % TILE, 0);
                    assert_eq!(tile.cols.start % TILE, 0);
                    let part = tile.clip(&window);
                    for i in part.rows.clone() {
                        for hit in band.pixels(i, part.cols.clone()) {
                            *hit += 1;
                        }
                    }
                },
            )
            .unwrap();
            assert!(hits.iter().all(|&h| h == 1), "{window:?}");
        }
    }

    #[test]
    fn split_anchors_sub_blocks_to_multiples_of_the_side() {
        let tile = Block {
            rows: 32..50,
            cols: 64..96,
        };
        let subs: Vec<Block> = tile.split(SUBTILE).collect();
        assert_eq!(subs.len(), 3 * 4);
        assert_eq!(
            subs[11],
            Block {
                rows: 48..50,
                cols: 88..96
            }
        );
    }

    #[test]
    fn rejects_wrong_output_length_windows_and_non_finite_centres() {
        let xs = [0.0, 1.0];
        let axes = Axes::new(&xs, &xs).unwrap();
        let full = axes.full();
        let mut out = vec![0.0; 3];
        assert!(for_each_tile(
            &axes,
            &full,
            1,
            &mut out,
            &mut [],
            &Stop::new(),
            |_, _, _| {}
        )
        .is_err());
        let mut out = vec![0.0; 4];
        let mut extra = vec![0.0; 3];
        assert!(for_each_tile(
            &axes,
            &full,
            1,
            &mut out,
            &mut extra,
            &Stop::new(),
            |_, _, _| {}
        )
        .is_err());
        let outside = Window {
            rows: 0..3,
            cols: 0..1,
        };
        assert!(for_each_tile(
            &axes,
            &outside,
            1,
            &mut out,
            &mut [],
            &Stop::new(),
            |_, _, _| {}
        )
        .is_err());
        assert!(Axes::new(&[f64::NAN], &xs).is_err());
    }

    #[test]
    fn bounds_hold_every_centre() {
        let xs = [3.0, 2.0, 1.0, 0.0];
        let ys = [-1.0, 5.0];
        let axes = Axes::new(&xs, &ys).unwrap();
        let r = axes.bounds(&Block {
            rows: 0..2,
            cols: 1..4,
        });
        assert_eq!(r.x, [0.0, 2.0]);
        assert_eq!(r.y, [-1.0, 5.0]);
    }

    #[test]
    fn cells_are_half_open_around_each_centre() {
        let c = Cells::new(0.0, 1.0, 3).unwrap();
        assert_eq!(c.index(-0.5), Some(0));
        assert_eq!(c.index(-0.50001), None);
        assert_eq!(c.index(0.49), Some(0));
        assert_eq!(c.index(0.5), Some(1));
        assert_eq!(c.index(2.49), Some(2));
        assert_eq!(c.index(2.5), None);
        assert_eq!(c.index(f64::NAN), None);
        let reversed = Cells::new(10.0, -2.0, 2).unwrap(); // centres 10, 9.5
        assert_eq!(reversed.index(9.7), Some(1));
        assert_eq!(reversed.index(9.8), Some(0));
        assert_eq!(reversed.index(10.3), None);
        assert!(Cells::new(0.0, 0.0, 2).is_err());
        assert!(Cells::new(0.0, f64::INFINITY, 2).is_err());
    }
}
