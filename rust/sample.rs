//! Drawing samples from a Gaussian mixture, and scattering them straight into pixels.
//!
//! # What is drawn
//!
//! As scikit-learn's `sample()`: the number of samples of each component is drawn from the
//! multinomial of the weights, then component k's n_k samples are `x = μ_k + L_k z` with z
//! standard normal and L_k the lower Cholesky factor of Σ_k (one factor shared by all components
//! for 'tied'; per-feature standard deviations for 'diag' and 'spherical', which scale z
//! elementwise instead of multiplying by a matrix). Python computes the factors. Samples come out
//! grouped by component, component 0 first, as scikit-learn returns them.
//!
//! # Random streams: the same samples for any number of threads
//!
//! Everything derives from one u64 seed. A *stream* is a Xoshiro256++ generator whose 256-bit
//! state is the first 32 bytes of ChaCha8 keyed by four little-endian u64 words
//! `(seed, tag, component, block)`: ChaCha8 serves as a keyed hash that makes the states of
//! different streams independent, Xoshiro256++ as the fast generator inside a stream (a
//! normal costs about a third less than drawing from ChaCha8 directly).
//!
//! * The component counts come from the stream `(seed, COUNTS, 0, 0)`: one binomial per
//!   component in component order (the multinomial as sequential binomials).
//! * Component k's samples are cut into blocks of [`BLOCK`] samples; block b is drawn from the
//!   stream `(seed, SAMPLES, k, b)`, d standard normals per sample (ziggurat, `rand_distr`),
//!   sample after sample.
//!
//! A (component, block) pair — a *unit* — is therefore a self-contained piece of work: any
//! partition of the units over threads produces the same numbers, and `sample_image` draws
//! exactly the samples `sample` returns for the same seed, unit by unit, in the same order.
//! Changing [`BLOCK`], the tags, the key layout or the generators would change every sample of
//! every seed: they are part of the output's definition.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;

/// Samples per unit of work (the last block of a component may be shorter).
pub const BLOCK: u64 = 1 << 16;

/// Samples `sample_image` draws before it bins them (at least one unit per thread): bounds its
/// buffers (pixel index and colours per sample, 8 MB for three colours) whatever the number of
/// samples asked for. Small enough for the buffers to stay in cache between drawing and
/// binning: 2^20 was 20 % slower on the 5-D colour model.
const BATCH: usize = 1 << 18;

/// Stream tags, the second word of the key ("counts", "samples" in ASCII).
const COUNTS: u64 = u64::from_le_bytes(*b"counts\0\0");
const SAMPLES: u64 = u64::from_le_bytes(*b"samples\0");

/// Marks a sample that fell outside the grid in the batch's pixel-index buffer.
const OUTSIDE: usize = usize::MAX;

/// The generator of stream `(seed, tag, component, block)` (see the module documentation).
pub fn stream(seed: u64, tag: u64, component: u64, block: u64) -> Xoshiro256PlusPlus {
    let mut key = [0u8; 32];
    for (chunk, word) in key.chunks_exact_mut(8).zip([seed, tag, component, block]) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut state = [0u8; 32];
    ChaCha8Rng::from_seed(key).fill_bytes(&mut state);
    // An all-zero state (probability 2⁻²⁵⁶) is replaced by a fixed non-zero one inside.
    Xoshiro256PlusPlus::from_seed(state)
}

/// Draws the number of samples of each component: a multinomial of `n` trials with
/// probabilities `weights` (K,), into `out` (K,).
///
/// Sequential binomials: n_k ~ Binomial(n − Σ_{j<k} n_j, w_k / Σ_{j≥k} w_j). The tail sums are
/// accumulated from the last component backwards rather than by subtracting from 1, so the last
/// component of positive weight gets probability exactly 1 (it takes what is left) and weights
/// that sum to 1 only up to rounding are fine. The weights must be finite, non-negative and
/// not all zero.
pub fn sample_counts(
    weights: &[f64],
    n: u64,
    seed: u64,
    out: &mut [u64],
) -> Result<(), KernelError> {
    check_len("counts", out.len(), weights.len())?;
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(KernelError::Value(
            "weights must be finite and non-negative".into(),
        ));
    }
    let mut tail = vec![0.0; weights.len()];
    let mut acc = 0.0;
    for (t, w) in tail.iter_mut().zip(weights).rev() {
        acc += w;
        *t = acc;
    }
    if !(acc > 0.0 && acc.is_finite()) {
        return Err(KernelError::Value(format!(
            "weights must have a positive, finite sum, got {acc}"
        )));
    }
    let mut rng = stream(seed, COUNTS, 0, 0);
    let mut left = n;
    for ((o, &w), &t) in out.iter_mut().zip(weights).zip(&tail) {
        // w ≤ t in floating point (t = w + a non-negative number, rounded), so p ≤ 1; a zero
        // tail means every later weight is zero and nothing is left to give.
        let p = if t > 0.0 { (w / t).min(1.0) } else { 0.0 };
        let binomial = Binomial::new(left, p)
            .map_err(|e| KernelError::Value(format!("cannot draw the component counts: {e}")))?;
        *o = binomial.sample(&mut rng);
        left -= *o;
    }
    if left > 0 {
        // Unreachable with the tail sums above (the last positive weight has p = 1); kept so
        // that the counts always add up to n.
        let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        out[last] += left;
    }
    Ok(())
}

/// Covariance layout of the factors, as scikit-learn's `covariance_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovarianceType {
    /// Lower Cholesky factors L_k, (K, d, d); the upper triangle is never read.
    Full,
    /// One lower Cholesky factor L shared by all components, (d, d).
    Tied,
    /// Per-feature standard deviations, (K, d).
    Diag,
    /// One standard deviation per component, (K,).
    Spherical,
}

impl CovarianceType {
    /// Parses scikit-learn's name of a covariance type.
    pub fn parse(name: &str) -> Result<Self, KernelError> {
        match name {
            "full" => Ok(Self::Full),
            "tied" => Ok(Self::Tied),
            "diag" => Ok(Self::Diag),
            "spherical" => Ok(Self::Spherical),
            _ => Err(KernelError::Value(format!(
                "covariance_type must be 'full', 'tied', 'diag' or 'spherical', got {name:?}"
            ))),
        }
    }

    /// Shape of the factors of K components over d features.
    pub fn factor_shape(self, k: usize, d: usize) -> Vec<usize> {
        match self {
            Self::Full => vec![k, d, d],
            Self::Tied => vec![d, d],
            Self::Diag => vec![k, d],
            Self::Spherical => vec![k],
        }
    }
}

/// The components of a mixture as samplers: means and covariance factors.
#[derive(Debug, Clone, Copy)]
pub struct Gaussians<'a> {
    n_components: usize,
    n_features: usize,
    /// μ_k, (K, d) row-major.
    means: &'a [f64],
    covariance_type: CovarianceType,
    /// See [`CovarianceType`] for the layout.
    factors: &'a [f64],
}

impl<'a> Gaussians<'a> {
    /// Checks lengths and values: means and (the used part of) the factors must be finite.
    pub fn new(
        n_components: usize,
        n_features: usize,
        means: &'a [f64],
        covariance_type: CovarianceType,
        factors: &'a [f64],
    ) -> Result<Self, KernelError> {
        let (k, d) = (n_components, n_features);
        if k == 0 || d == 0 {
            return Err(KernelError::Shape(format!(
                "a mixture needs at least one component and one feature, got {k} components of \
                 {d} features"
            )));
        }
        let n_factors = covariance_type
            .factor_shape(k, d)
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b));
        let (Some(kd), Some(n_factors)) = (k.checked_mul(d), n_factors) else {
            return Err(KernelError::Shape("mixture too large".into()));
        };
        check_len("means", means.len(), kd)?;
        check_len("factors", factors.len(), n_factors)?;
        if means.iter().any(|m| !m.is_finite()) {
            return Err(KernelError::Value("means must be finite".into()));
        }
        let lower_finite = match covariance_type {
            CovarianceType::Full | CovarianceType::Tied => factors
                .chunks_exact(d * d)
                .all(|l| (0..d).all(|i| l[i * d..=i * d + i].iter().all(|v| v.is_finite()))),
            CovarianceType::Diag | CovarianceType::Spherical => {
                factors.iter().all(|v| v.is_finite())
            }
        };
        if !lower_finite {
            return Err(KernelError::Value(
                "covariance factors must be finite".into(),
            ));
        }
        Ok(Self {
            n_components,
            n_features,
            means,
            covariance_type,
            factors,
        })
    }

    pub fn n_components(&self) -> usize {
        self.n_components
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Feature `f` of the sample of component `k` whose standard normal vector is `z` (len d):
    /// μ_kf + Σ_{j ≤ f} L_k[f, j] z_j, the sum in increasing j, added to μ last. Every caller
    /// computes a feature through this one function, so `sample` and `sample_image` agree to
    /// the bit.
    #[inline(always)]
    pub fn feature(&self, k: usize, f: usize, z: &[f64]) -> f64 {
        let d = self.n_features;
        let mu = self.means[k * d + f];
        match self.covariance_type {
            CovarianceType::Full | CovarianceType::Tied => {
                let first = if self.covariance_type == CovarianceType::Full {
                    (k * d + f) * d
                } else {
                    f * d
                };
                let row = &self.factors[first..=first + f];
                let mut acc = 0.0;
                for (l, zj) in row.iter().zip(z) {
                    acc += l * zj;
                }
                mu + acc
            }
            CovarianceType::Diag => mu + self.factors[k * d + f] * z[f],
            CovarianceType::Spherical => mu + self.factors[k] * z[f],
        }
    }
}

/// Samples whose standard normals are drawn in one tight loop before they are transformed,
/// through a buffer that stays in L1.
const Z_CHUNK: usize = 256;

/// Fills `z` with standard normals from `rng`, in order.
#[inline(always)]
fn standard_normals(rng: &mut Xoshiro256PlusPlus, z: &mut [f64]) {
    for v in z.iter_mut() {
        *v = rng.sample(StandardNormal);
    }
}

/// Runs `$body` with a constant `$D` equal to `$d` for the usual dimensions 1 to 8, so that the
/// loops over features have a known length and unroll, and `$D` = 0 (the length is read at run
/// time) above. Specialisation only changes the speed: every feature is still computed by
/// [`Gaussians::feature`], with the same operations in the same order.
macro_rules! specialise {
    ($d:expr, $D:ident => $body:expr) => {
        match $d {
            1 => {
                const $D: usize = 1;
                $body
            }
            2 => {
                const $D: usize = 2;
                $body
            }
            3 => {
                const $D: usize = 3;
                $body
            }
            4 => {
                const $D: usize = 4;
                $body
            }
            5 => {
                const $D: usize = 5;
                $body
            }
            6 => {
                const $D: usize = 6;
                $body
            }
            7 => {
                const $D: usize = 7;
                $body
            }
            8 => {
                const $D: usize = 8;
                $body
            }
            _ => {
                const $D: usize = 0;
                $body
            }
        }
    };
}

/// The number of features: `D` when it is fixed, `d` when `D` is 0.
#[inline(always)]
fn fixed<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}

/// A block of one component's samples: the unit of work and of randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unit {
    component: usize,
    block: u64,
    len: usize,
}

impl Unit {
    /// Calls `f(s, z)` for each sample s of the unit, in order, with z its d standard normals
    /// (the stream's normals d at a time: sample 0 takes the first d, and so on).
    #[inline(always)]
    fn for_each_z(&self, seed: u64, d: usize, mut f: impl FnMut(usize, &[f64])) {
        let mut rng = stream(seed, SAMPLES, self.component as u64, self.block);
        let mut z = vec![0.0; Z_CHUNK * d];
        for first in (0..self.len).step_by(Z_CHUNK) {
            let z = &mut z[..(self.len - first).min(Z_CHUNK) * d];
            standard_normals(&mut rng, z);
            for (s, z_s) in z.chunks_exact(d).enumerate() {
                f(first + s, z_s);
            }
        }
    }
}

/// The units of all components in output order: component by component, block by block.
fn units(counts: &[u64]) -> impl Iterator<Item = Unit> + '_ {
    counts.iter().enumerate().flat_map(|(component, &n)| {
        (0..n.div_ceil(BLOCK)).map(move |block| Unit {
            component,
            block,
            // ≤ BLOCK, so it fits in usize.
            len: (n - block * BLOCK).min(BLOCK) as usize,
        })
    })
}

/// Σ counts, failing rather than wrapping.
fn total(counts: &[u64]) -> Result<u64, KernelError> {
    counts
        .iter()
        .try_fold(0u64, |a, &c| a.checked_add(c))
        .ok_or_else(|| KernelError::Value("the component counts overflow 64 bits".into()))
}

/// Draws the samples of `counts` (K,) into `x` (n, d) and their components into `labels` (n,),
/// n = Σ counts, grouped by component (see the module documentation for the streams).
///
/// Once `stop` is requested the remaining blocks are skipped and the result is
/// [`KernelError::Interrupted`].
pub fn sample(
    gaussians: &Gaussians,
    counts: &[u64],
    seed: u64,
    x: &mut [f64],
    labels: &mut [i64],
    stop: &Stop,
) -> Result<(), KernelError> {
    let d = gaussians.n_features();
    check_len("counts", counts.len(), gaussians.n_components())?;
    let n = usize::try_from(total(counts)?)
        .map_err(|_| KernelError::Value("too many samples for this machine".into()))?;
    let values = n
        .checked_mul(d)
        .ok_or_else(|| KernelError::Value("too many samples for this machine".into()))?;
    check_len("samples", x.len(), values)?;
    check_len("labels", labels.len(), n)?;

    // Cut the outputs into the units' rows (lengths checked above, so the splits fit).
    let mut work = Vec::new();
    let (mut x_rest, mut labels_rest) = (x, labels);
    for unit in units(counts) {
        let (x_unit, x_tail) = x_rest.split_at_mut(unit.len * d);
        let (labels_unit, labels_tail) = labels_rest.split_at_mut(unit.len);
        work.push((unit, x_unit, labels_unit));
        (x_rest, labels_rest) = (x_tail, labels_tail);
    }
    work.into_par_iter()
        .for_each(|(unit, x_unit, labels_unit)| {
            if stop.requested() {
                return;
            }
            labels_unit.fill(unit.component as i64);
            specialise!(d, D => sample_unit::<D>(gaussians, unit, seed, x_unit));
        });
    stop.check()
}

/// Draws the samples of `unit` into its rows `x` (len × d); `D` is d or 0 (see [`specialise`]).
fn sample_unit<const D: usize>(gaussians: &Gaussians, unit: Unit, seed: u64, x: &mut [f64]) {
    let d = fixed::<D>(gaussians.n_features());
    unit.for_each_z(seed, d, |s, z| {
        for (f, v) in x[s * d..(s + 1) * d].iter_mut().enumerate() {
            *v = gaussians.feature(unit.component, f, z);
        }
    });
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

/// Draws the samples of `counts` exactly as [`sample`] does (same seed, same numbers) and bins
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
    use crate::interrupt::Stop;

    fn full_2d() -> (Vec<f64>, Vec<f64>) {
        // Two components; L_1 = [[2, 0], [1, 0.5]] (its upper entry 99 must be ignored).
        let means = vec![0.0, 0.0, 10.0, -5.0];
        let factors = vec![1.0, 0.0, 0.0, 1.0, 2.0, 99.0, 1.0, 0.5];
        (means, factors)
    }

    #[test]
    fn counts_add_up_and_follow_zero_weights() {
        let mut out = [0u64; 4];
        sample_counts(&[0.5, 0.0, 0.25, 0.25], 1_000_003, 7, &mut out).unwrap();
        assert_eq!(out.iter().sum::<u64>(), 1_000_003);
        assert_eq!(out[1], 0);
        // Binomial(1e6, 1/2) is within 6 standard deviations (500 each) with p > 1 − 1e-8.
        assert!((out[0] as f64 - 500_001.5).abs() < 3000.0, "{out:?}");
        // A trailing zero weight: the last positive weight takes the rest.
        let mut out = [0u64; 3];
        sample_counts(&[0.3, 0.7, 0.0], 10, 1, &mut out).unwrap();
        assert_eq!(out[0] + out[1], 10);
        assert_eq!(out[2], 0);
    }

    #[test]
    fn counts_are_reproducible_and_depend_on_the_seed() {
        let w = [0.1; 10];
        let (mut a, mut b, mut c) = ([0u64; 10], [0u64; 10], [0u64; 10]);
        sample_counts(&w, 100_000, 42, &mut a).unwrap();
        sample_counts(&w, 100_000, 42, &mut b).unwrap();
        sample_counts(&w, 100_000, 43, &mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_weights_are_errors() {
        let mut out = [0u64; 2];
        assert!(sample_counts(&[0.5, f64::NAN], 3, 0, &mut out).is_err());
        assert!(sample_counts(&[0.5, -0.1], 3, 0, &mut out).is_err());
        assert!(sample_counts(&[0.0, 0.0], 3, 0, &mut out).is_err());
        assert!(sample_counts(&[1.0], 3, 0, &mut out).is_err());
    }

    #[test]
    fn units_cover_each_component_in_blocks() {
        let b = BLOCK as usize;
        let got: Vec<_> = units(&[0, BLOCK + 3, 5]).collect();
        let want = [
            Unit {
                component: 1,
                block: 0,
                len: b,
            },
            Unit {
                component: 1,
                block: 1,
                len: 3,
            },
            Unit {
                component: 2,
                block: 0,
                len: 5,
            },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn features_follow_the_factors() {
        let (means, factors) = full_2d();
        let g = Gaussians::new(2, 2, &means, CovarianceType::Full, &factors).unwrap();
        let z = [1.0, -2.0];
        assert_eq!(g.feature(1, 0, &z), 10.0 + 2.0);
        assert_eq!(g.feature(1, 1, &z), -5.0 + (1.0 - 1.0));
        let tied = Gaussians::new(2, 2, &means, CovarianceType::Tied, &factors[4..]).unwrap();
        assert_eq!(tied.feature(0, 1, &z), 0.0);
        let sd = [1.0, 2.0, 3.0, 4.0];
        let diag = Gaussians::new(2, 2, &means, CovarianceType::Diag, &sd).unwrap();
        assert_eq!(diag.feature(1, 1, &z), -5.0 - 8.0);
        let sph = Gaussians::new(2, 2, &means, CovarianceType::Spherical, &sd[..2]).unwrap();
        assert_eq!(sph.feature(1, 0, &z), 12.0);
    }

    #[test]
    fn bad_mixtures_are_errors() {
        let (means, factors) = full_2d();
        assert!(Gaussians::new(2, 2, &means, CovarianceType::Full, &factors[..4]).is_err());
        assert!(Gaussians::new(2, 2, &means[..2], CovarianceType::Full, &factors).is_err());
        assert!(Gaussians::new(0, 2, &[], CovarianceType::Full, &[]).is_err());
        let mut nan = factors.clone();
        nan[6] = f64::NAN;
        assert!(Gaussians::new(2, 2, &means, CovarianceType::Full, &nan).is_err());
        nan[6] = 1.0;
        nan[1] = f64::NAN; // upper triangle: never read
        assert!(Gaussians::new(2, 2, &means, CovarianceType::Full, &nan).is_ok());
        assert!(CovarianceType::parse("Full").is_err());
    }

    #[test]
    fn samples_are_grouped_and_reproducible() {
        let (means, factors) = full_2d();
        let g = Gaussians::new(2, 2, &means, CovarianceType::Full, &factors).unwrap();
        let counts = [3, BLOCK + 2];
        let n = (3 + BLOCK + 2) as usize;
        let (mut x, mut labels) = (vec![0.0; 2 * n], vec![0i64; n]);
        sample(&g, &counts, 9, &mut x, &mut labels, &Stop::new()).unwrap();
        assert_eq!(&labels[..4], &[0, 0, 0, 1]);
        assert!(labels[3..].iter().all(|&l| l == 1));
        let mut again = vec![0.0; 2 * n];
        sample(&g, &counts, 9, &mut again, &mut labels, &Stop::new()).unwrap();
        assert_eq!(x, again);
        // The second block of component 1 is its own stream: it does not depend on the first.
        let mut rng = stream(9, SAMPLES, 1, 1);
        let mut z = [0.0; 2];
        for v in &mut z {
            *v = rng.sample(StandardNormal);
        }
        let first_of_block = 3 + BLOCK as usize;
        assert_eq!(x[2 * first_of_block], g.feature(1, 0, &z));
        assert_eq!(x[2 * first_of_block + 1], g.feature(1, 1, &z));
        // Component 1's sample mean is near (10, −5): sd 2 and ~1.1 over 65538 samples.
        let m: f64 = x[6..].iter().step_by(2).sum::<f64>() / (BLOCK + 2) as f64;
        assert!((m - 10.0).abs() < 0.05, "{m}");
        assert!(sample(&g, &counts, 9, &mut x[1..], &mut labels, &Stop::new()).is_err());
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
        let g = Gaussians::new(2, 3, &means, CovarianceType::Diag, &sd).unwrap();
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
