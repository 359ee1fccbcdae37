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
//! # Rooms
//!
//! * [`stream`]: the random streams and the units of work they are keyed by;
//! * [`sampler`]: the component counts and the samples themselves (`sample`);
//! * [`splat`]: the same samples binned into pixels without storing them (`sample_image`).
//!
//! The pixel cells the samples are binned into are [`crate::grid::Cells`].

pub mod sampler;
pub mod splat;
pub mod stream;

pub use sampler::{sample, sample_counts, CovarianceType, Gaussians};
pub use splat::{sample_image, Splat};
pub use stream::BLOCK;
