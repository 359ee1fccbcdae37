//! Specialising a loop on a small dimension: one helper for every kernel family.
//!
//! `specialise!` runs its body with a constant equal to a run-time dimension for the usual
//! values 1 to 8, so that loops over features have a known length and unroll (and small
//! accumulators stay in registers), and with the constant 0 above, where [`fixed`] reads the
//! length at run time instead. Specialisation only changes the speed: a specialised function
//! must perform the same operations in the same order for every value of the constant, so
//! results are bitwise the same in every branch.

/// Runs `$body` with a constant `$D` equal to `$d` for `$d` in 1..=8, and `$D` = 0 (the length is
/// read at run time, through [`fixed`]) above.
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

pub(crate) use specialise;

/// The number of features: `D` when it is fixed, `d` when `D` is 0.
#[inline(always)]
pub fn fixed<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}
