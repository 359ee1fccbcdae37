//! Random streams: the same samples for any number of threads.
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
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::KernelError;

/// Samples per unit of work (the last block of a component may be shorter).
pub const BLOCK: u64 = 1 << 16;

/// Stream tags, the second word of the key ("counts", "samples" in ASCII).
pub const COUNTS: u64 = u64::from_le_bytes(*b"counts\0\0");
pub const SAMPLES: u64 = u64::from_le_bytes(*b"samples\0");

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

/// A block of one component's samples: the unit of work and of randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unit {
    pub(super) component: usize,
    pub(super) block: u64,
    pub(super) len: usize,
}

impl Unit {
    /// Calls `f(s, z)` for each sample s of the unit, in order, with z its d standard normals
    /// (the stream's normals d at a time: sample 0 takes the first d, and so on).
    #[inline(always)]
    pub(super) fn for_each_z(&self, seed: u64, d: usize, mut f: impl FnMut(usize, &[f64])) {
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
pub(super) fn units(counts: &[u64]) -> impl Iterator<Item = Unit> + '_ {
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
pub(super) fn total(counts: &[u64]) -> Result<u64, KernelError> {
    counts
        .iter()
        .try_fold(0u64, |a, &c| a.checked_add(c))
        .ok_or_else(|| KernelError::Value("the component counts overflow 64 bits".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
