"""Diffusion with Gaussian mixtures: noise schedules and the forward (noising) process.

A diffusion model's forward process turns data x₀ into x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε with
ε ~ N(0, I), where ᾱ_t = Π_{s≤t} (1 − β_s) falls from near 1 to near 0 along a schedule of
noise variances β_t. For data drawn from a Gaussian mixture, x_t is again a Gaussian mixture,
:meth:`gmmfast.Mixture.diffuse` (ᾱ_t) — exactly, with no training.

* :func:`linear_schedule`, :func:`cosine_schedule`: ᾱ_t for t = 1, …, n_steps;
* :func:`forward`: noised copies of data at given ᾱ;
* :func:`reverse_sample`: samples made by running the reverse process from noise with the
  exact score of every noised mixture (a Rust kernel over all points and steps).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core
from ._density import predict_proba
from ._gaussian import full_covariances
from ._mixture import Mixture, canonical_form
from ._model import ModelLike, as_mixture
from ._sampling import sample
from ._validation import (
    check_alpha_bar,
    check_bool,
    check_int,
    check_n_samples,
    check_real,
    check_rtol,
    check_schedule,
    empty,
    seed_from,
)

__all__ = ["cosine_schedule", "forward", "linear_schedule", "reverse_sample"]

#: The samplers of :func:`reverse_sample`.
METHODS = ("ddpm", "ode")

#: Offset s of the cosine schedule (Nichol & Dhariwal 2021, section 3.2): keeps β_1 from being
#: vanishingly small, so that the first step adds noise of about the size of a pixel's
#: quantisation on data scaled to [-1, 1].
COSINE_OFFSET = 0.008
#: Largest β of the cosine schedule (theirs): without it β_T would be 1 and ᾱ_T 0.
COSINE_MAX_BETA = 0.999


def _alpha_bars(betas: np.ndarray) -> np.ndarray:
    """ᾱ_t = Π_{s≤t} (1 − β_s), computed as exp Σ log1p(−β_s) (no loss for tiny β)."""
    alpha_bars = np.exp(np.cumsum(np.log1p(-betas)))
    if alpha_bars[-1] <= 0.0:
        raise ValueError(
            f"the schedule's last ᾱ underflows to 0 after {betas.size} steps "
            f"(Σ −log(1 − β) = {-float(np.sum(np.log1p(-betas))):.4g}): take fewer steps or "
            "smaller β"
        )
    return alpha_bars


def _check_beta(value, name: str) -> float:
    check_real(value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1), got {value!r}")
    beta = float(value)
    if not 0.0 < beta < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {beta!r}")
    return beta


def linear_schedule(n_steps, beta_start=1e-4, beta_end=0.02) -> np.ndarray:
    """ᾱ_t of the linear schedule of DDPM (Ho et al. 2020): β_t evenly spaced from
    ``beta_start`` to ``beta_end``, ᾱ_t = Π_{s≤t} (1 − β_s).

    Parameters
    ----------
    n_steps : int >= 1
        T, the number of steps. The defaults for β are Ho et al.'s for T = 1000, where they
        take ᾱ_T to about 4e-5; with fewer steps the data is less noised at the end.
    beta_start, beta_end : float in (0, 1)
        β_1 and β_T, the noise variances added by the first and the last step (dimensionless:
        fractions of a unit variance). ``n_steps=1`` uses ``beta_start``.

    Returns
    -------
    alpha_bar : ndarray of shape (n_steps,), float64
        ᾱ_1, …, ᾱ_T: strictly decreasing, in (0, 1).

    Raises ``ValueError`` for β outside (0, 1), ``n_steps`` below 1 or so many steps that ᾱ
    underflows to 0; ``TypeError`` for a non-integer ``n_steps``.
    """
    n = check_int(n_steps, "n_steps", minimum=1)
    start = _check_beta(beta_start, "beta_start")
    end = _check_beta(beta_end, "beta_end")
    return _alpha_bars(np.linspace(start, end, n))


def cosine_schedule(n_steps) -> np.ndarray:
    """ᾱ_t of the cosine schedule (Nichol & Dhariwal 2021, "Improved denoising diffusion
    probabilistic models", eq. 17).

    With f(t) = cos²((t/T + s) / (1 + s) · π/2) and s = 0.008 (:data:`COSINE_OFFSET`), the
    steps' noise variances are β_t = min(1 − f(t)/f(t − 1), 0.999) (:data:`COSINE_MAX_BETA`;
    the clipping keeps the last steps from being singular: f(T) is 0 up to rounding) and
    ᾱ_t = Π_{s≤t} (1 − β_s), which is f(t)/f(0) wherever no β was clipped. This is how their
    code builds it (``betas_for_alpha_bar``): ᾱ falls slowly at both ends and nearly linearly
    in between.

    Parameters
    ----------
    n_steps : int >= 1
        T, the number of steps.

    Returns
    -------
    alpha_bar : ndarray of shape (n_steps,), float64
        ᾱ_1, …, ᾱ_T: strictly decreasing, in (0, 1); ᾱ_T is about 1e-3 · ᾱ_{T−1} (the
        last β is clipped) whatever T.

    Raises ``ValueError`` for ``n_steps`` below 1 or so many steps that ᾱ underflows to 0,
    ``TypeError`` for a non-integer.
    """
    n = check_int(n_steps, "n_steps", minimum=1)
    t = np.arange(n + 1) / n
    f = np.cos((t + COSINE_OFFSET) / (1.0 + COSINE_OFFSET) * (math.pi / 2.0)) ** 2
    betas = np.minimum(1.0 - f[1:] / f[:-1], COSINE_MAX_BETA)
    return _alpha_bars(betas)


def forward(X, alpha_bar, random_state=None) -> np.ndarray:
    """Noised data of the forward process: √ᾱ X + √(1 − ᾱ) ε, ε ~ N(0, I) independent.

    If the rows of X are drawn from a mixture ``model``, the rows of the result are drawn from
    ``model.diffuse(alpha_bar)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data x₀, finite real numbers.
    alpha_bar : float in (0, 1], or array-like of shape (n_steps,) of them
        ᾱ: the fraction of the data's variance kept (a value or all values of a schedule).
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        As in :func:`gmmfast.sample`: ``None`` draws fresh entropy, an int in [0, 2**64) is the
        seed, a generator gives one draw that becomes the seed. The noise is standard normals
        of ``numpy.random.default_rng(seed)``, drawn in C order over the output's shape.

    Returns
    -------
    ndarray, float64
        Of shape (n_samples, n_features) for a single ᾱ; of shape (n_steps, n_samples,
        n_features) for a schedule, entry t being X noised to ᾱ_t with its own noise (each a
        draw from q(x_t | x₀), not one trajectory). At ᾱ = 1 the data is returned unchanged.

    Raises ``ValueError`` for X that is not 2-D, empty, NaN, infinite, complex or text, for ᾱ
    outside (0, 1] or an empty schedule, and for a bad ``random_state``; ``TypeError`` for a
    bool ᾱ or one that is not a number.
    """
    check_real(X, "X")
    try:
        data = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be an array of numbers, got {type(X).__name__}") from exc
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
        raise ValueError(
            f"X must have shape (n_samples, n_features) with both >= 1, got shape {data.shape}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError("X must be finite, got NaN or inf")
    alpha = check_alpha_bar(alpha_bar)
    if alpha.ndim > 1 or alpha.size == 0:
        raise ValueError(
            f"alpha_bar must be a number or a non-empty array of shape (n_steps,), got an "
            f"array of shape {alpha.shape}"
        )
    rng = np.random.default_rng(seed_from(random_state))
    scale = np.sqrt(alpha).reshape((*alpha.shape, 1, 1))
    spread = np.sqrt(1.0 - alpha).reshape((*alpha.shape, 1, 1))
    noise = rng.standard_normal((*alpha.shape, *data.shape))
    return scale * data + spread * noise


def _coefficients(alpha: np.ndarray, method: str) -> tuple:
    """(a, b, σ) of each step, in the order the steps run (t = T, …, 1): the update is
    x ← a·x + b·s_t(x) + σ·z.

    DDPM (Ho et al. 2020, with the posterior variance β̃_t): α_t = ᾱ_t / ᾱ_{t−1},
    β_t = 1 − α_t, a = 1/√α_t, b = β_t/√α_t, σ² = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t).
    ODE (DDIM with η = 0, Song et al. 2021, a first-order solver of the probability-flow ODE):
    with x̂₀ = (x + (1 − ᾱ_t) s) / √ᾱ_t and ε̂ = −√(1 − ᾱ_t) s,
    x ← √ᾱ_{t−1} x̂₀ + √(1 − ᾱ_{t−1}) ε̂.
    """
    now = alpha[::-1]
    before = np.append(alpha[-2::-1], 1.0)  # ᾱ_{t−1}, with ᾱ_0 = 1
    log_ratio = np.log(now) - np.log(before)  # log α_t ≤ 0
    beta = -np.expm1(log_ratio)  # no loss for tiny β
    noise_now = -np.expm1(np.log(now))  # 1 − ᾱ_t
    noise_before = -np.expm1(np.log(before))  # 1 − ᾱ_{t−1}
    a = np.exp(-0.5 * log_ratio)  # 1/√α_t
    if method == "ddpm":
        b = beta * a
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(beta > 0.0, beta * noise_before / noise_now, 0.0)
        sigma = np.sqrt(np.maximum(var, 0.0))
    else:
        b = a * noise_now - np.sqrt(noise_before * noise_now)
        sigma = np.zeros_like(a)
    return np.ascontiguousarray(a), np.ascontiguousarray(b), np.ascontiguousarray(sigma)


def reverse_sample(
    model: ModelLike,
    schedule,
    n_samples,
    *,
    method="ddpm",
    random_state=None,
    return_path=False,
    rtol=0.0,
):
    """Samples made by the reverse process of diffusion, with the exact score.

    The points start from the last noised mixture, x_T ~ ``model.diffuse(ᾱ_T)`` (drawn
    exactly, shuffled), and move through t = T, …, 1 by x ← a_t·x + b_t·s_t(x) + σ_t·z, where
    s_t = ∇ log q_t is the exact score of q_t = ``model.diffuse(ᾱ_t)``. Each q_t is built once
    (its canonical form), and one Rust kernel runs every step on every point on the culled
    point driver. With many steps the samples follow the model itself (that is what the
    tests check); with few they show the sampler's discretisation error.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
        A ``BayesianGaussianMixture`` through its plug-in mixture.
    schedule : array-like of shape (n_steps,)
        ᾱ_1, …, ᾱ_T, non-increasing, in (0, 1], as :func:`linear_schedule` and
        :func:`cosine_schedule` return; ᾱ_0 = 1 is the model itself.
    n_samples : int >= 1
    method : {"ddpm", "ode"}, default="ddpm"
        "ddpm": ancestral sampling (Ho et al. 2020) with the posterior variance
        σ_t² = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t); its last step (ᾱ_1 → the data), where DDPM
        would return a posterior mean of its Gaussian approximation and blur everything finer
        than the first noise level, draws x₀ from the exact posterior q(x₀ | x₁) instead (a
        mixture too: the model is one). With a single step that is an exact sample of the
        model. "ode": the deterministic
        DDIM update (η = 0), a first-order solver of the probability-flow ODE; the only
        randomness is then the start.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        As in :func:`gmmfast.sample`. The same seed gives bitwise the same samples and path
        for any number of threads.
    return_path : bool, default=False
        Also return every step's points.
    rtol : float in [0, 1), default=0
        Passed to the score (see :func:`gmmfast.score`).

    Returns
    -------
    samples : ndarray of shape (n_samples, n_features)
    path : ndarray of shape (n_steps + 1, n_samples, n_features), only with ``return_path``
        ``path[0]`` is the start x_T, ``path[i]`` the points after i steps (at ᾱ_{T−i}),
        ``path[-1]`` the samples. Memory: (n_steps + 1) times the samples.
    """
    mixture = as_mixture(model)
    alpha = check_schedule(schedule)
    n = check_n_samples(n_samples)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return_path = check_bool(return_path, "return_path")
    rtol = check_rtol(rtol)
    seed = seed_from(random_state)
    # Samples come grouped by component: shuffle them (same seed, same order) so that any
    # slice of the result is a sample of the whole model.
    start, _ = sample(mixture.diffuse(float(alpha[-1])), n, random_state=seed)
    x = np.ascontiguousarray(start[np.random.default_rng(seed).permutation(n)])
    # DDPM's last step is drawn from the exact posterior (below), not by the kernel.
    kernel_steps = alpha.size - 1 if method == "ddpm" else alpha.size
    steps = [
        canonical_form(mixture.diffuse(float(ab))).components() for ab in alpha[::-1][:kernel_steps]
    ]
    a, b, sigma = (c[:kernel_steps].copy() for c in _coefficients(alpha, method))
    path = empty((alpha.size + 1, n, mixture.n_features)) if return_path else None
    kernel_path = None if path is None else path[: kernel_steps + 1]
    _core.reverse_process(steps, a, b, sigma, x, seed, kernel_path, rtol)
    if method == "ddpm":
        x = _posterior_sample(mixture, float(alpha[0]), x, seed)
        if path is not None:
            path[-1] = x
    return (x, path) if return_path else x


#: Points per block of the posterior draw of :func:`_posterior_sample`: its (block, K)
#: responsibilities stay a few MiB.
POSTERIOR_BLOCK_ELEMENTS = 1 << 20


def _posterior_sample(mixture: Mixture, alpha_bar: float, x: np.ndarray, seed: int) -> np.ndarray:
    """x₀ drawn from the exact posterior q(x₀ | x₁ = x) of the mixture, x₁ = √ᾱ x₀ + √(1 − ᾱ) ε.

    With y = x / √ᾱ = x₀ + √τ ε (τ = (1 − ᾱ)/ᾱ), the posterior is a mixture again: component
    k with probability r_k(x), the responsibility of k in ``mixture.diffuse(ᾱ)`` at x, and
    then the Gaussian N(μ_k + G_k (y − μ_k), τ G_k) with G_k = Σ_k (Σ_k + τ I)⁻¹ (the
    conditioning of N(μ_k, Σ_k) on a noisy observation; τ G_k = Σ_k − G_k Σ_k without the
    cancellation). DDPM's own last step would return a posterior mean of the Gaussian
    approximation, which blurs everything finer than the first noise level.

    Draws from ``numpy.random.default_rng((seed, 1))``: a uniform and d normals per point, in
    blocks, in order (the same for any number of threads).
    """
    if alpha_bar >= 1.0:
        return x  # no noise at the first level: the step is the identity
    tau = (1.0 - alpha_bar) / alpha_bar
    k, d = mixture.n_components, mixture.n_features
    covs = full_covariances(mixture.covariances, mixture.covariance_type, k, d)
    # G_k = Σ_k (Σ_k + τI)⁻¹ = ((Σ_k + τI)⁻¹ Σ_k)ᵀ (both symmetric).
    gain = np.linalg.solve(covs + tau * np.eye(d), covs).transpose(0, 2, 1)
    post = tau * gain
    post = 0.5 * (post + post.transpose(0, 2, 1))
    factor = np.linalg.cholesky(post)
    noised = mixture.diffuse(alpha_bar)
    rng = np.random.default_rng((seed, 1))
    out = empty(x.shape)
    block = max(1, POSTERIOR_BLOCK_ELEMENTS // k)
    y = x / math.sqrt(alpha_bar)
    for start in range(0, x.shape[0], block):
        rows = slice(start, start + block)
        r = predict_proba(noised, x[rows])
        u = rng.random((r.shape[0],))
        chosen = np.minimum(
            (np.cumsum(r, axis=1) < u[:, np.newaxis] * r.sum(axis=1, keepdims=True)).sum(axis=1),
            k - 1,
        )
        z = rng.standard_normal((r.shape[0], d))
        offset = y[rows] - mixture.means[chosen]
        out[rows] = (
            mixture.means[chosen]
            + np.einsum("nij,nj->ni", gain[chosen], offset)
            + np.einsum("nij,nj->ni", factor[chosen], z)
        )
    return out
