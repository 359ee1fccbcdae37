//! The reverse process of diffusion with the exact score of a noised mixture.
//!
//! Both samplers of `gmmfast.diffusion.reverse_sample` move every point by
//!
//! ```text
//! x ← a_t · x + b_t · s_t(x) + σ_t · z,     z ~ N(0, I)
//! ```
//!
//! once per step t = T, …, 1, where s_t is the score ∇ log q_t of the noised mixture
//! q_t = model.diffuse(ᾱ_t) (given in canonical form, one per step, built once by the caller)
//! and (a_t, b_t, σ_t) are the sampler's coefficients (ancestral DDPM sampling, or the DDIM
//! discretisation of the probability-flow ODE with σ_t = 0): Python computes them from the
//! schedule, so this kernel knows no schedule.
//!
//! Each step evaluates the score at every point with the culled point driver (the points
//! move, so its tree is rebuilt each step), then updates the points in blocks of [`BLOCK`];
//! block b of step t draws its normals from the stream `(seed, REVERSE, t, b)`, point after
//! point, d at a time. Each point's path is therefore the same for any number of threads.

use rayon::prelude::*;

use crate::error::{check_len, KernelError};
use crate::interrupt::Stop;
use crate::mixture::Components;
use crate::sample::stream::stream;
use crate::score::score_points;

use rand::Rng;
use rand_distr::StandardNormal;

/// Points per unit of the update (and of randomness).
pub const BLOCK: usize = 4096;

/// Stream tag of the reverse process' noise ("reverse" in ASCII).
pub const REVERSE: u64 = u64::from_le_bytes(*b"reverse\0");

/// One step of the reverse process: x ← a·x + b·s(x) + sigma·z with s the score of `mixture`.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub mixture: &'a Components,
    pub a: f64,
    pub b: f64,
    pub sigma: f64,
}

/// Runs `steps` in order on the points `x` (n × d, row-major, updated in place). When `path`
/// is not empty it receives the points before the first step and after each step
/// ((steps + 1) × n × d). Step i (counting from 0) draws from the streams
/// `(seed, REVERSE, i, block)`. `rtol` is the score's (see [`crate::score::score_points`]).
pub fn reverse(
    steps: &[Step],
    x: &mut [f64],
    path: &mut [f64],
    seed: u64,
    rtol: f64,
    stop: &Stop,
) -> Result<(), KernelError> {
    let Some(first) = steps.first() else {
        // No step to run: the path is the start alone.
        if !path.is_empty() {
            check_len("path", path.len(), x.len())?;
            path.copy_from_slice(x);
        }
        return Ok(());
    };
    let d = first.mixture.n_features();
    if steps.iter().any(|s| s.mixture.n_features() != d) {
        return Err(KernelError::Shape(
            "every step's mixture must have the same number of features".into(),
        ));
    }
    if x.len() % d != 0 {
        return Err(KernelError::Shape(format!(
            "X has {} values, not a whole number of rows of {d} features",
            x.len()
        )));
    }
    if !path.is_empty() {
        check_len("path", path.len(), (steps.len() + 1) * x.len())?;
        path[..x.len()].copy_from_slice(x);
    }
    let mut score = vec![0.0; x.len()];
    for (i, step) in steps.iter().enumerate() {
        score_points(step.mixture, x, rtol, &mut score, stop)?;
        x.par_chunks_mut(BLOCK * d)
            .zip(score.par_chunks(BLOCK * d))
            .enumerate()
            .for_each(|(block, (x, s))| {
                let mut rng = stream(seed, REVERSE, i as u64, block as u64);
                for (xi, si) in x.iter_mut().zip(s) {
                    let z: f64 = if step.sigma > 0.0 {
                        rng.sample(StandardNormal)
                    } else {
                        0.0
                    };
                    *xi = step.a * *xi + step.b * si + step.sigma * z;
                }
            });
        stop.check()?;
        if !path.is_empty() {
            let n = x.len();
            path[(i + 1) * n..(i + 2) * n].copy_from_slice(x);
        }
    }
    Ok(())
}
