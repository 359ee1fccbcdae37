//! Splatting: the samples of [`super::sample`] binned straight into pixels, in bounded batches,
//! without ever being stored all at once.

use rayon::prelude::*;

use super::sampler::Gaussians;
use super::stream::{total, units, Unit, BLOCK};
use crate::error::{check_len, KernelError};
use crate::grid::Cells;
use crate::interrupt::Stop;
use crate::specialise::{fixed, specialise};

/// Samples `sample_image` draws before it bins them (at least one unit per thread): bounds its
/// buffers (pixel index and colours per sample, 8 MB for three colours) whatever the number of
/// samples asked for. Small enough for the buffers to stay in cache between drawing and
/// binning: 2^20 was 20 % slower on the 5-D colour model.
const BATCH: usize = 1 << 18;

/// Marks a sample that fell outside the grid in the batch's pixel-index buffer.
const OUTSIDE: usize = usize::MAX;

/// Where `sample_image` puts its samples and which features it reads.
#[derive(Debug, Clone, Copy)]
pub struct Splat<'a> {
    /// The features binned as x (columns) and y (rows).
    pub dims: [usize; 2],
    /// The features averaged per pixel; empty for a count image only.
    pub color_dims: &'a [usize],
    pub columns: Cells,
    pub rows: Cells,
}

/// Draws the samples of `counts` exactly as [`super::sample`] does (same seed, same numbers) and bins
/// them into pixels instead of returning them.
///
/// `image` (height × width) receives the number of samples in each pixel; `colours`
/// (height × width × c, c = `splat.color_dims.len()`, empty when c = 0) the mean of the
/// `color_dims` features of those samples, NaN where no sample landed. Samples outside every
/// cell are dropped.
///
/// Samples are drawn in batches of about [`BATCH`] (at least one unit per thread), units in
/// parallel, and then binned with the image cut into one band of rows per thread: each band
/// scans the batch in order, so every pixel adds its samples' colours in the order `sample`
/// returns them, starting from 0 — bitwise the same sums for any number of threads, and the
/// same as accumulating `sample`'s output row by row. Memory: the outputs plus O(batch).
///
/// `stop` is checked between batches and between units: once it is requested the rest is
/// skipped and the result is [`KernelError::Interrupted`] (the image then holds part of the
/// samples).
pub fn sample_image(
    gaussians: &Gaussians,
    counts: &[u64],
    seed: u64,
    splat: &Splat,
    image: &mut [i64],
    colours: &mut [f64],
    stop: &Stop,
) -> Result<(), KernelError> {
    let d = gaussians.n_features();
    check_len("counts", counts.len(), gaussians.n_components())?;
    if i64::try_from(total(counts)?).is_err() {
        return Err(KernelError::Value(
            "at most 2**63 - 1 samples fit in a count image".into(),
        ));
    }
    let features = splat.dims.iter().chain(splat.color_dims);
    if let Some(bad) = features.clone().find(|&&f| f >= d) {
        return Err(KernelError::Shape(format!(
            "feature index {bad} out of range for a mixture of {d} features"
        )));
    }
    let (width, height, c) = (splat.columns.n, splat.rows.n, splat.color_dims.len());
    let pixels = width
        .checked_mul(height)
        .ok_or_else(|| KernelError::Shape("image too large".into()))?;
    check_len("image", image.len(), pixels)?;
    check_len("colours", colours.len(), pixels.saturating_mul(c))?;
    image.fill(0);
    colours.fill(0.0);
    if pixels == 0 {
        return Ok(());
    }

    let threads = rayon::current_num_threads().max(1);
    let target = BATCH.max(threads * BLOCK as usize);
    let mut buffers = Batch::default();
    let mut batch = Vec::new();
    let mut batch_len = 0;
    for unit in units(counts) {
        batch.push(unit);
        batch_len += unit.len;
        if batch_len >= target {
            stop.check()?;
            buffers.draw(gaussians, seed, splat, &batch, batch_len, stop);
            buffers.bin(splat, threads, image, colours);
            batch.clear();
            batch_len = 0;
        }
    }
    if !batch.is_empty() {
        stop.check()?;
        buffers.draw(gaussians, seed, splat, &batch, batch_len, stop);
        buffers.bin(splat, threads, image, colours);
    }
    stop.check()?;

    if c > 0 {
        colours
            .par_chunks_mut(c)
            .zip(image.par_iter())
            .for_each(|(mean, &count)| {
                if count == 0 {
                    mean.fill(f64::NAN);
                } else {
                    let count = count as f64;
                    mean.iter_mut().for_each(|v| *v /= count);
                }
            });
    }
    Ok(())
}

/// The per-sample buffers of one batch, reused from batch to batch.
#[derive(Default)]
struct Batch {
    /// Pixel (row-major index) of each sample, or [`OUTSIDE`].
    pixel: Vec<usize>,
    /// The `color_dims` features of each sample (only written for samples inside the grid).
    colour: Vec<f64>,
}

impl Batch {
    /// Draws the samples of `units` (`len` in all), in parallel over units; units not drawn
    /// once `stop` is requested are left as they were (the caller then gives up).
    fn draw(
        &mut self,
        gaussians: &Gaussians,
        seed: u64,
        splat: &Splat,
        units: &[Unit],
        len: usize,
        stop: &Stop,
    ) {
        let (d, c) = (gaussians.n_features(), splat.color_dims.len());
        self.pixel.resize(len, OUTSIDE);
        self.colour.resize(len * c, 0.0);
        let mut work = Vec::with_capacity(units.len());
        let (mut pixel_rest, mut colour_rest) = (&mut self.pixel[..], &mut self.colour[..]);
        for &unit in units {
            let (pixel, pixel_tail) = pixel_rest.split_at_mut(unit.len);
            let (colour, colour_tail) = colour_rest.split_at_mut(unit.len * c);
            work.push((unit, pixel, colour));
            (pixel_rest, colour_rest) = (pixel_tail, colour_tail);
        }
        work.into_par_iter().for_each(|(unit, pixel, colour)| {
            if stop.requested() {
                return;
            }
            specialise!(d, D => splat_unit::<D>(gaussians, unit, seed, splat, pixel, colour));
        });
    }

    /// Adds the batch to the image, in parallel over bands of rows, each band in sample order.
    fn bin(&self, splat: &Splat, threads: usize, image: &mut [i64], colours: &mut [f64]) {
        let (width, height, c) = (splat.columns.n, splat.rows.n, splat.color_dims.len());
        // The partition only decides who adds what: each pixel still sees its samples in
        // order, so any number of bands gives the same image.
        let band = height.div_ceil(threads.min(height)) * width;
        let pixel = &self.pixel;
        if c == 0 {
            image
                .par_chunks_mut(band)
                .enumerate()
                .for_each(|(b, counts)| {
                    let lo = b * band;
                    for &p in pixel {
                        // OUTSIDE wraps to a huge offset and is skipped like any other pixel
                        // of another band.
                        if let Some(count) = counts.get_mut(p.wrapping_sub(lo)) {
                            *count += 1;
                        }
                    }
                });
            return;
        }
        let colour = &self.colour;
        image
            .par_chunks_mut(band)
            .zip(colours.par_chunks_mut(band * c))
            .enumerate()
            .for_each(|(b, (counts, sums))| {
                specialise!(c, C => bin_band::<C>(c, b * band, pixel, colour, counts, sums));
            });
    }
}

/// Adds the samples of a batch whose pixel lies in `lo..lo + counts.len()` to that band's
/// counts and colour sums (`c` per pixel; `C` is c or 0 as in [`specialise`]), in sample order.
fn bin_band<const C: usize>(
    c: usize,
    lo: usize,
    pixel: &[usize],
    colour: &[f64],
    counts: &mut [i64],
    sums: &mut [f64],
) {
    let c = fixed::<C>(c);
    for (&p, v) in pixel.iter().zip(colour.chunks_exact(c)) {
        // OUTSIDE and pixels of earlier bands wrap to huge offsets and fail the test.
        let at = p.wrapping_sub(lo);
        if let Some(count) = counts.get_mut(at) {
            *count += 1;
            for (acc, v) in sums[at * c..(at + 1) * c].iter_mut().zip(v) {
                *acc += v;
            }
        }
    }
}

/// Draws the samples of `unit` and writes each one's pixel (or [`OUTSIDE`]) into `pixel` and,
/// for those inside, its `color_dims` features into `colour`; `D` as in [`specialise`].
fn splat_unit<const D: usize>(
    gaussians: &Gaussians,
    unit: Unit,
    seed: u64,
    splat: &Splat,
    pixel: &mut [usize],
    colour: &mut [f64],
) {
    let (d, c, width, k) = (
        fixed::<D>(gaussians.n_features()),
        splat.color_dims.len(),
        splat.columns.n,
        unit.component,
    );
    // All d normals and features of a sample are computed even if fewer are needed: the
    // stream must advance exactly as in `sample`, and the loop of known length over all
    // features (as in `sample_unit`) is faster than picking features one by one.
    let mut x = vec![0.0; d];
    unit.for_each_z(seed, d, |s, z| {
        for (f, v) in x.iter_mut().enumerate() {
            *v = gaussians.feature(k, f, z);
        }
        let column = splat.columns.index(x[splat.dims[0]]);
        let row = splat.rows.index(x[splat.dims[1]]);
        pixel[s] = match (row, column) {
            (Some(i), Some(j)) => i * width + j,
            _ => OUTSIDE,
        };
        if pixel[s] != OUTSIDE {
            for (v, &f) in colour[s * c..(s + 1) * c].iter_mut().zip(splat.color_dims) {
                *v = x[f];
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sampler::{sample, CovarianceType};

    /// Bins `sample`'s output the straightforward way.
    fn binned(g: &Gaussians, counts: &[u64], seed: u64, splat: &Splat) -> (Vec<i64>, Vec<f64>) {
        let n = counts.iter().sum::<u64>() as usize;
        let d = g.n_features();
        let (mut x, mut labels) = (vec![0.0; n * d], vec![0; n]);
        sample(g, counts, seed, &mut x, &mut labels, &Stop::new()).unwrap();
        let (w, h, c) = (splat.columns.n, splat.rows.n, splat.color_dims.len());
        let (mut image, mut sums) = (vec![0i64; w * h], vec![0.0; w * h * c]);
        for row in x.chunks_exact(d) {
            let j = splat.columns.index(row[splat.dims[0]]);
            let i = splat.rows.index(row[splat.dims[1]]);
            if let (Some(i), Some(j)) = (i, j) {
                image[i * w + j] += 1;
                for (ci, &f) in splat.color_dims.iter().enumerate() {
                    sums[(i * w + j) * c + ci] += row[f];
                }
            }
        }
        for (p, &n) in image.iter().enumerate() {
            for v in &mut sums[p * c..(p + 1) * c] {
                *v = if n == 0 { f64::NAN } else { *v / n as f64 };
            }
        }
        (image, sums)
    }

    #[test]
    fn sample_image_bins_exactly_what_sample_draws() {
        let means = [0.0, 0.0, 1.0, 3.0, 2.0, -1.0];
        let sd = [1.0, 2.0, 0.5, 3.0, 1.0, 1.0];
        let g = Gaussians::new(2, 3, means.to_vec(), CovarianceType::Diag, sd.to_vec()).unwrap();
        let counts = [BLOCK + 11, 2 * BLOCK + 1];
        let splat = Splat {
            dims: [2, 0],
            color_dims: &[1, 2],
            columns: Cells::new(-3.0, 2.0, 13).unwrap(),
            rows: Cells::new(4.0, -1.5, 9).unwrap(),
        };
        let (want_image, want_colours) = binned(&g, &counts, 5, &splat);
        let (mut image, mut colours) = (vec![7; 13 * 9], vec![0.0; 13 * 9 * 2]);
        sample_image(
            &g,
            &counts,
            5,
            &splat,
            &mut image,
            &mut colours,
            &Stop::new(),
        )
        .unwrap();
        assert_eq!(image, want_image);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&colours), bits(&want_colours));
        assert!(image.iter().sum::<i64>() > 1000);
        assert!(colours.iter().any(|v| v.is_nan()));

        let counts_only = Splat {
            color_dims: &[],
            ..splat
        };
        let mut only = vec![0; 13 * 9];
        sample_image(
            &g,
            &counts,
            5,
            &counts_only,
            &mut only,
            &mut [],
            &Stop::new(),
        )
        .unwrap();
        assert_eq!(only, want_image);

        let bad = Splat {
            dims: [0, 3],
            ..splat
        };
        assert!(
            sample_image(&g, &counts, 5, &bad, &mut image, &mut colours, &Stop::new()).is_err()
        );
        assert!(sample_image(&g, &counts, 5, &splat, &mut image, &mut [], &Stop::new()).is_err());
    }
}
