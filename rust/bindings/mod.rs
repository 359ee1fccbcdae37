//! Python bindings of gmmfast: the only PyO3 code, one file per kernel family.
//!
//! A mixture enters as a validated object, built once and handed to every call: its canonical
//! form as `Components` for the density and conditional kernels, its means and covariance
//! factors as `Gaussians` for the samplers, the conditional regressions as `Regressions`.
//! Every function converts NumPy arrays into the
//! kernels' plain slices, checks the shapes once more (the Python wrappers validate first, with
//! friendlier messages), releases the GIL around the kernel and turns a [`KernelError`] into a
//! Python exception. Outputs are allocated
//! by the caller in Python, so a grid too large for memory raises `MemoryError` there instead of
//! aborting here. A panic is caught at this boundary and reported as `RuntimeError`.
//!
//! Arrays must be C-contiguous (a Fortran-ordered array would be read in the wrong order) and
//! outputs writeable and not shared with another argument: anything else is a `ValueError`
//! (wrong dtypes and dimensions are `TypeError`s from the conversion). While a kernel runs the
//! calling thread looks for Ctrl-C every few milliseconds; the kernel then stops between
//! blocks and the call raises the `KeyboardInterrupt`.
//!
//! * [`common`]: `run` (GIL release, worker pool, Ctrl-C, panics), the error mapping, the
//!   layout checks, the `Components` pyclass and the grid helpers;
//! * [`density`], [`conditional`], [`sample`], [`em`], [`score`], [`pairwise`]: the functions of each kernel family, and the
//!   pyclasses only that family takes (`Regressions`, `Gaussians`).

pub(crate) mod common;
pub(crate) mod conditional;
pub(crate) mod density;
pub(crate) mod em;
pub(crate) mod pairwise;
pub(crate) mod sample;
pub(crate) mod score;
