//! The error type every kernel returns. `lib.rs` maps it to Python exceptions.

use std::fmt;

/// Why a kernel refused its input. Python-side validation should have caught all of these;
/// the kernels check again because a wrong length must never become an out-of-bounds access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// Array lengths or shapes that do not fit together (→ `ValueError`).
    Shape(String),
    /// Values outside the domain of the kernel, e.g. NaN parameters (→ `ValueError`).
    Value(String),
    /// The worker threads could not be started (→ `RuntimeError`).
    Runtime(String),
    /// The caller asked the kernel to stop (Ctrl-C, see `interrupt.rs`); its outputs are
    /// incomplete (→ the `KeyboardInterrupt` that asked).
    Interrupted,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape(msg) | KernelError::Value(msg) | KernelError::Runtime(msg) => {
                f.write_str(msg)
            }
            KernelError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for KernelError {}

/// Fails with [`KernelError::Shape`] unless `len == expected`.
pub fn check_len(what: &str, len: usize, expected: usize) -> Result<(), KernelError> {
    if len == expected {
        Ok(())
    } else {
        Err(KernelError::Shape(format!(
            "{what} has {len} elements, expected {expected}"
        )))
    }
}
