//! Stopping a kernel early: the binding layer sets a [`Stop`] when Ctrl-C arrives, and the
//! drivers look at it between blocks of work (a chunk of points, a tile of pixels, a block of
//! samples), skip what is left and return [`KernelError::Interrupted`].
//!
//! Looking costs one relaxed atomic load per block, nothing per point or pixel.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::KernelError;

/// A request to stop, shared by the caller and the workers of one kernel call.
#[derive(Debug, Default)]
pub struct Stop(AtomicBool);

impl Stop {
    /// A request not made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the kernel to stop as soon as it can.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Stop::request`] was called.
    #[inline]
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(KernelError::Interrupted)` once a stop was requested: for the end of a driver,
    /// whose output is then incomplete.
    pub fn check(&self) -> Result<(), KernelError> {
        if self.requested() {
            Err(KernelError::Interrupted)
        } else {
            Ok(())
        }
    }
}
