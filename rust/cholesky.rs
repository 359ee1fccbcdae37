//! The M-step's factorisation, batched over components: scikit-learn's
//! `_compute_precision_cholesky` for `full` and `tied` covariances, U = L⁻ᵀ with L Lᵀ = Σ
//! (lower Cholesky factor), so that U Uᵀ = Σ⁻¹ and U is upper triangular.
//!
//! scikit-learn calls LAPACK once per component (a Cholesky factorisation, then a triangular
//! solve against the identity); for a thousand 5 × 5 matrices those calls cost far more than
//! their arithmetic (0.8 ms per EM iteration of the flower model, against 0.05 ms here). The
//! factors agree with LAPACK's to rounding: the same algorithm (Cholesky–Banachiewicz, then
//! forward substitution), in a possibly different order of additions.

/// The factors U of the d × d covariance matrices `cov` (K · d · d values, row-major; only
/// the lower triangle is read, as LAPACK reads it) into `out` (the same layout, zeros below
/// the diagonal). `Err(k)` names the first matrix that is not positive definite (a pivot that
/// is not > 0, or NaN); `out` is then unspecified.
pub fn precision_cholesky(cov: &[f64], d: usize, out: &mut [f64]) -> Result<(), usize> {
    if d == 0 {
        return Ok(());
    }
    let mut lower = vec![0.0; d * d];
    for (k, (sigma, u)) in cov
        .chunks_exact(d * d)
        .zip(out.chunks_exact_mut(d * d))
        .enumerate()
    {
        factor(sigma, d, &mut lower).map_err(|()| k)?;
        invert_transposed(&lower, d, u);
    }
    Ok(())
}

/// L with L Lᵀ = Σ (lower, row-major), from Σ's lower triangle.
fn factor(sigma: &[f64], d: usize, l: &mut [f64]) -> Result<(), ()> {
    l.fill(0.0);
    for i in 0..d {
        for j in 0..=i {
            let mut s = sigma[i * d + j];
            for m in 0..j {
                s -= l[i * d + m] * l[j * d + m];
            }
            if i == j {
                // NaN is rejected too.
                if s.is_nan() || s <= 0.0 {
                    return Err(());
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Ok(())
}

/// U = (L⁻¹)ᵀ into `u`: column c of L⁻¹ by forward substitution against e_c, written as row c
/// of U.
fn invert_transposed(l: &[f64], d: usize, u: &mut [f64]) {
    u.fill(0.0);
    for c in 0..d {
        u[c * d + c] = 1.0 / l[c * d + c];
        for i in c + 1..d {
            let mut s = 0.0;
            for m in c..i {
                s -= l[i * d + m] * u[c * d + m];
            }
            u[c * d + i] = s / l[i * d + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// U Uᵀ Σ = I for a positive definite Σ, U upper triangular with a positive diagonal.
    #[test]
    fn the_factor_inverts_the_covariance() {
        let d = 3;
        let sigma = [4.0, 1.0, 0.5, 1.0, 3.0, 0.25, 0.5, 0.25, 2.0];
        let mut u = [f64::NAN; 9];
        precision_cholesky(&sigma, d, &mut u).unwrap();
        for i in 0..d {
            assert!(u[i * d + i] > 0.0);
            for j in 0..i {
                assert_eq!(u[i * d + j], 0.0);
            }
        }
        for i in 0..d {
            for j in 0..d {
                // (U Uᵀ Σ)[i, j]
                let mut v = 0.0;
                for m in 0..d {
                    let uut: f64 = (0..d).map(|t| u[i * d + t] * u[m * d + t]).sum();
                    v += uut * sigma[m * d + j];
                }
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-14, "{i} {j}: {v}");
            }
        }
    }

    #[test]
    fn a_matrix_that_is_not_positive_definite_is_named() {
        let good = [2.0, 0.0, 0.0, 2.0];
        let singular = [1.0, 1.0, 1.0, 1.0];
        let nan = [f64::NAN, 0.0, 0.0, 1.0];
        let mut out = [0.0; 8];
        let both = [good, singular].concat();
        assert_eq!(precision_cholesky(&both, 2, &mut out), Err(1));
        let both = [nan, good].concat();
        assert_eq!(precision_cholesky(&both, 2, &mut out), Err(0));
    }
}
