"""gmmfast.diffusion: the noise schedules and the forward process.

The schedules are checked against their definitions written out here step by step (a Python
loop over the β's, the cosine f(t)/f(0) of Nichol & Dhariwal) and against their published
properties; ``forward`` against the moments of N(√ᾱ x, (1 − ᾱ) I) and, on data drawn from a
mixture, against samples of ``Mixture.diffuse``. Statistical tests use fixed seeds; their
thresholds keep the probability that a correct implementation fails them at or below about
1e-6 per test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import gmmfast
from gmmfast import diffusion
from gmmfast._validation import seed_from

ALPHA = 1e-6


def product_of_one_minus(betas) -> np.ndarray:
    out, running = [], 1.0
    for beta in betas:
        running *= 1.0 - beta
        out.append(running)
    return np.array(out)


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_steps", [1, 2, 10, 1000])
def test_linear_schedule_is_the_product_of_evenly_spaced_betas(n_steps):
    betas = [
        1e-4 + (0.02 - 1e-4) * (t / (n_steps - 1) if n_steps > 1 else 0.0) for t in range(n_steps)
    ]
    alpha_bar = diffusion.linear_schedule(n_steps)
    assert alpha_bar.shape == (n_steps,) and alpha_bar.dtype == np.float64
    np.testing.assert_allclose(alpha_bar, product_of_one_minus(betas), rtol=1e-12)
    assert alpha_bar[0] == pytest.approx(1 - 1e-4, rel=1e-15)


def test_linear_schedule_of_ddpm_ends_near_4e_5():
    # Ho et al. (2020), T = 1000, β from 1e-4 to 0.02: ᾱ_T = exp(Σ log(1 − β_t)) ≈ 4.04e-5.
    alpha_bar = diffusion.linear_schedule(1000)
    assert 4.0e-5 < alpha_bar[-1] < 4.1e-5


def test_linear_schedule_with_other_betas():
    alpha_bar = diffusion.linear_schedule(3, beta_start=0.1, beta_end=0.3)
    np.testing.assert_allclose(alpha_bar, [0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.7], rtol=1e-15)
    # Decreasing β are allowed: ᾱ still decreases.
    np.testing.assert_allclose(
        diffusion.linear_schedule(2, beta_start=0.3, beta_end=0.1), [0.7, 0.63], rtol=1e-15
    )


def cosine_f(t: float) -> float:
    return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2


@pytest.mark.parametrize("n_steps", [1, 2, 5, 50, 1000, 4000])
def test_cosine_schedule_is_f_over_f0_with_the_last_beta_clipped(n_steps):
    alpha_bar = diffusion.cosine_schedule(n_steps)
    assert alpha_bar.shape == (n_steps,)
    # Every step but the last: ᾱ_t = f(t/T) / f(0) (no β reaches 0.999 before it).
    expected = [cosine_f(t / n_steps) / cosine_f(0.0) for t in range(1, n_steps)]
    np.testing.assert_allclose(alpha_bar[:-1], expected, rtol=1e-10)
    # The last: f(1) = 0, so β_T = 1 is clipped to 0.999.
    previous = alpha_bar[-2] if n_steps > 1 else 1.0
    assert alpha_bar[-1] == pytest.approx(previous * 0.001, rel=1e-10)


def test_cosine_schedule_is_nearly_linear_in_the_middle():
    # Nichol & Dhariwal's figure 5: ᾱ about 0.5 at t = T/2.
    alpha_bar = diffusion.cosine_schedule(1000)
    assert 0.47 < alpha_bar[499] < 0.51


@pytest.mark.parametrize(
    "schedule",
    [
        lambda n: diffusion.linear_schedule(n),
        lambda n: diffusion.linear_schedule(n, 0.001, 0.05),
        diffusion.cosine_schedule,
    ],
)
@pytest.mark.parametrize("n_steps", [1, 3, 100, 10_000])
def test_schedules_decrease_strictly_within_zero_one(schedule, n_steps):
    alpha_bar = schedule(n_steps)
    assert np.all(alpha_bar > 0) and np.all(alpha_bar < 1)
    assert np.all(np.diff(alpha_bar) < 0)


@pytest.mark.parametrize("n_steps", [0, -3])
def test_too_few_steps_are_value_errors(n_steps):
    for schedule in (diffusion.linear_schedule, diffusion.cosine_schedule):
        with pytest.raises(ValueError, match=f"n_steps must be >= 1, got {n_steps}"):
            schedule(n_steps)


@pytest.mark.parametrize("n_steps", [2.0, 1.5, True, "10", None])
def test_non_integer_steps_are_type_errors(n_steps):
    for schedule in (diffusion.linear_schedule, diffusion.cosine_schedule):
        with pytest.raises(TypeError, match="n_steps must be an integer"):
            schedule(n_steps)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"beta_start": 0.0}, ValueError, r"beta_start must be in \(0, 1\), got 0.0"),
        ({"beta_end": 1.0}, ValueError, r"beta_end must be in \(0, 1\), got 1.0"),
        ({"beta_end": -0.1}, ValueError, "beta_end must be in"),
        ({"beta_start": np.nan}, ValueError, "beta_start must be in"),
        ({"beta_start": True}, TypeError, "beta_start must be a number"),
        ({"beta_end": "0.02"}, ValueError, "beta_end must be an array of numbers"),
        ({"beta_end": [0.02]}, TypeError, "beta_end must be a number"),
    ],
)
def test_bad_betas_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        diffusion.linear_schedule(10, **kwargs)


def test_a_schedule_that_underflows_is_a_value_error():
    # 10⁵ steps of β up to 0.02: ᾱ_T = exp(−about 1000), below the smallest float.
    with pytest.raises(ValueError, match="underflows to 0 after 100000 steps"):
        diffusion.linear_schedule(100_000)


# --------------------------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha_bar", [0.99, 0.5, 0.01])
def test_forward_has_the_moments_of_the_noised_data(alpha_bar):
    # Every row is the same point x, so each column of the result is N(√ᾱ x_j, 1 − ᾱ).
    x = np.array([3.0, -1.0, 0.25])
    n = 100_000
    X = np.tile(x, (n, 1))
    out = diffusion.forward(X, alpha_bar, random_state=5)
    assert out.shape == X.shape and out.dtype == np.float64
    var = 1 - alpha_bar
    z = stats.norm.isf(ALPHA / 12)
    np.testing.assert_array_less(
        np.abs(out.mean(axis=0) - np.sqrt(alpha_bar) * x), z * np.sqrt(var / n)
    )
    # The sample variance of n normals: (n − 1) s² / σ² ~ χ²_{n−1}.
    ratio = (n - 1) * out.var(axis=0, ddof=1) / var
    assert np.all(stats.chi2.sf(ratio, n - 1) > ALPHA / 12)
    assert np.all(stats.chi2.cdf(ratio, n - 1) > ALPHA / 12)
    # Coordinates are independent.
    corr = np.corrcoef(out.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(corr) < z / np.sqrt(n))


def test_forward_of_mixture_samples_is_a_sample_of_the_diffused_mixture():
    m = gmmfast.Mixture(
        [0.3, 0.7],
        [[-3.0, 1.0], [2.0, 0.5]],
        [[[1.0, 0.6], [0.6, 0.8]], [[0.3, -0.1], [-0.1, 0.5]]],
    )
    X, _ = gmmfast.sample(m, 20_000, random_state=1)
    for alpha_bar in (0.8, 0.3):
        noised = diffusion.forward(X, alpha_bar, random_state=2)
        Z, _ = gmmfast.sample(m.diffuse(alpha_bar), 20_000, random_state=3)
        for u in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -2.0]):
            assert stats.ks_2samp(noised @ u, Z @ u).pvalue > ALPHA / 8


def test_forward_over_a_schedule_noises_each_step_independently():
    X = np.array([[1.0, -2.0], [0.5, 4.0]])
    alpha_bar = diffusion.cosine_schedule(6)
    out = diffusion.forward(X, alpha_bar, random_state=7)
    assert out.shape == (6, 2, 2)
    # Step t is X noised to ᾱ_t with its own noise: the standard normals of the seed's
    # generator, in C order over the output (as the docstring says).
    noise = (out - np.sqrt(alpha_bar)[:, None, None] * X) / np.sqrt(1 - alpha_bar)[:, None, None]
    expected = np.random.default_rng(seed_from(7)).standard_normal((6, 2, 2))
    np.testing.assert_allclose(noise, expected, rtol=1e-9, atol=1e-9)


def test_forward_is_reproducible_and_takes_generators():
    X = np.arange(12.0).reshape(6, 2)
    a = diffusion.forward(X, 0.4, random_state=11)
    np.testing.assert_array_equal(a, diffusion.forward(X, 0.4, random_state=11))
    assert not np.array_equal(a, diffusion.forward(X, 0.4, random_state=12))
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(
        diffusion.forward(X, 0.4, random_state=g1), diffusion.forward(X, 0.4, random_state=g2)
    )
    # A generator advances: a second call draws other noise.
    assert not np.array_equal(
        diffusion.forward(X, 0.4, random_state=g1), diffusion.forward(X, 0.4, random_state=g1)
    )


def test_forward_at_alpha_bar_one_returns_the_data():
    X = [[1.5, -2.0], [0.0, 3.25]]
    np.testing.assert_array_equal(diffusion.forward(X, 1.0, random_state=0), X)


@pytest.mark.parametrize(
    ("X", "alpha_bar", "error", "match"),
    [
        (
            [1.0, 2.0],
            0.5,
            ValueError,
            r"X must have shape \(n_samples, n_features\).*got shape \(2,\)",
        ),
        (np.zeros((0, 2)), 0.5, ValueError, r"got shape \(0, 2\)"),
        ([[1.0, np.nan]], 0.5, ValueError, "X must be finite"),
        ([[1.0, 1j]], 0.5, ValueError, "X must be an array of real numbers"),
        ([["a", "b"]], 0.5, ValueError, "X must be an array of numbers"),
        ([[1.0, 2.0]], 0.0, ValueError, r"alpha_bar must be in \(0, 1\], got 0.0"),
        ([[1.0, 2.0]], 1.5, ValueError, r"alpha_bar must be in \(0, 1\], got 1.5"),
        ([[1.0, 2.0]], [0.9, -0.1], ValueError, r"got -0.1"),
        ([[1.0, 2.0]], [], ValueError, r"non-empty array of shape \(n_steps,\), got .* \(0,\)"),
        ([[1.0, 2.0]], np.full((2, 2), 0.5), ValueError, r"got an array of shape \(2, 2\)"),
        ([[1.0, 2.0]], True, TypeError, "alpha_bar must be a number"),
    ],
)
def test_bad_forward_input_is_refused(X, alpha_bar, error, match):
    with pytest.raises(error, match=match):
        diffusion.forward(X, alpha_bar, random_state=0)


def test_bad_random_state_is_a_value_error():
    with pytest.raises(ValueError, match="cannot be used as random_state"):
        diffusion.forward([[0.0]], 0.5, random_state="seed")
