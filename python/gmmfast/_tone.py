"""Tone mappings: from a log-density image to 8-bit grey (dense = dark, as the line drawing the
model was fitted on), to colours through a matplotlib colour map, and colour images to uint8.

Every mapping first turns the log-density L into *ink* t in [0, 1] (0 white, 1 black); grey is
then ``round(255 · (1 − t))`` and a colour map is evaluated at t. The relative density
p / p_max = exp(L − max L) is scale-free: it does not depend on the units of the model, so the
same defaults work for any image size.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# The article's custom curve: a density below 5 % of the maximum stays white, ink then rises
# steeply to 90 % at 30 % of the maximum and reaches full black at the maximum. Only the high
# probabilities are dark, so the strokes of the drawing come back and the haze between them
# (which the linear mapping shows as light grey everywhere) goes.
DEFAULT_KNOTS = ((0.0, 0.0), (0.05, 0.0), (0.3, 0.9), (1.0, 1.0))
# ``log`` maps three decades of density below the maximum to the grey ramp: where the density is
# 1000 times below its maximum the image is white.
LOG_SPAN = math.log(1000.0)
# Contours: this many levels, evenly spaced in log-density over the LOG_SPAN below the maximum.
DEFAULT_LEVELS = 4


def _check_log_density(log_density, name: str = "log_density") -> np.ndarray:
    """``log_density`` as a float64 array with at least one finite value, no NaN, no +inf
    (−inf is a density of zero)."""
    try:
        array = np.asarray(log_density, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers, got {log_density!r}") from exc
    if array.size == 0:
        raise ValueError(f"{name} must have at least one value, got shape {array.shape}")
    if np.isnan(array).any() or np.isposinf(array).any():
        raise ValueError(f"{name} must not contain NaN or +inf")
    if not np.isfinite(array).any():
        raise ValueError(f"{name} must have at least one finite value, got only -inf")
    return array


def relative_density(log_density) -> np.ndarray:
    """p / p_max = exp(L − max L): the density scaled to [0, 1] by its maximum over the image."""
    array = _check_log_density(log_density)
    return np.exp(array - array.max())


def _grey(ink: np.ndarray) -> np.ndarray:
    return np.rint(255.0 * (1.0 - ink)).astype(np.uint8)


def linear_ink(log_density) -> np.ndarray:
    """Ink of :func:`linear`: the relative density p / p_max."""
    return relative_density(log_density)


def log_ink(log_density, low=None, high=None) -> np.ndarray:
    """Ink of :func:`log`: (L − low) / (high − low) clipped to [0, 1]."""
    array = _check_log_density(log_density)
    high = float(array.max()) if high is None else _finite(high, "high")
    low = high - LOG_SPAN if low is None else _finite(low, "low")
    if not low < high:
        raise ValueError(f"low must be below high, got low={low!r}, high={high!r}")
    with np.errstate(invalid="ignore"):
        return np.clip((array - low) / (high - low), 0.0, 1.0)


def piecewise_ink(log_density, knots=DEFAULT_KNOTS) -> np.ndarray:
    """Ink of :func:`piecewise`: the curve through ``knots`` evaluated at p / p_max."""
    xs, ys = check_knots(knots)
    return np.interp(relative_density(log_density), xs, ys)


def linear(log_density) -> np.ndarray:
    """Grey image of the density scaled to [0, 1] by its maximum, dense = dark.

    ``log_density``: array of any shape (e.g. (height, width) from
    :func:`gmmfast.log_density_grid`), natural log. Returns uint8 of the same shape:
    ``round(255 · (1 − p / p_max))``, so the densest pixel is 0 (black) and a pixel with half
    the maximum density is 128.
    """
    return _grey(linear_ink(log_density))


def log(log_density, low=None, high=None) -> np.ndarray:
    """Grey image of the log-density scaled between two bounds, dense = dark.

    Returns uint8 ``round(255 · (1 − t))`` with t = (L − low) / (high − low) clipped to [0, 1]:
    black at and above ``high`` (default: the maximum of ``log_density``), white at and below
    ``low`` (default: ``high − ln 1000``, a density 1000 times below the maximum). Shows the
    faint tails that :func:`linear` leaves white.
    """
    return _grey(log_ink(log_density, low, high))


def piecewise(log_density, knots=DEFAULT_KNOTS) -> np.ndarray:
    """Grey image through a user-given tone curve on the linear density scale, dense = dark.

    ``knots``: pairs (x_i, y_i), x the relative density p / p_max and y the ink (0 white,
    1 black), both in [0, 1], x strictly increasing, at least two. The ink at a pixel is the
    piecewise-linear curve through the knots at its p / p_max, held at y_0 below x_0 and at
    y_last above x_last; the grey level is ``round(255 · (1 − ink))``. ``((0, 0), (1, 1))`` is
    :func:`linear`. The default, :data:`DEFAULT_KNOTS` = ((0, 0), (0.05, 0), (0.3, 0.9),
    (1, 1)), keeps only high probabilities dark: below 5 % of the maximum is white.
    """
    return _grey(piecewise_ink(log_density, knots))


def check_knots(knots) -> tuple:
    """``knots`` as two float64 arrays (xs, ys), validated as :func:`piecewise` states."""
    try:
        array = np.asarray(knots, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"knots must be pairs of numbers (x, y), got {knots!r}") from None
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < 2:
        raise ValueError(
            f"knots must have shape (n_knots >= 2, 2): pairs (x, y), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(f"knots must lie in [0, 1] × [0, 1], got {array.tolist()}")
    xs, ys = array[:, 0], array[:, 1]
    if np.any(np.diff(xs) <= 0):
        raise ValueError(f"the x of the knots must be strictly increasing, got {xs.tolist()}")
    return xs, ys


_INKS = {"linear": linear_ink, "log": log_ink, "piecewise": piecewise_ink}


def colormap(log_density, name: str = "viridis", *, mapping: str = "linear", **options):
    """Colour image of the density through matplotlib's colour map ``name``.

    The map is evaluated at the ink of ``mapping`` ('linear', 'log' or 'piecewise', with that
    function's ``options``: ``low``/``high`` or ``knots``), so with 'viridis' the densest pixel
    is yellow and empty space dark purple. Returns uint8 of shape (*log_density.shape, 3).
    Needs matplotlib (``pip install 'gmmfast[plot]'``).
    """
    try:
        ink = _INKS[mapping]
    except KeyError:
        raise ValueError(f"mapping must be one of {sorted(_INKS)}, got {mapping!r}") from None
    cmap = _matplotlib_colormap(name)
    rgba = cmap(ink(log_density, **options))
    return np.rint(255.0 * rgba[..., :3]).astype(np.uint8)


def _matplotlib_colormap(name: str):
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "colour maps need matplotlib: pip install 'gmmfast[plot]' (or matplotlib)"
        ) from None
    try:
        return matplotlib.colormaps[name]
    except (KeyError, ValueError, TypeError):
        raise ValueError(
            f"{name!r} is not a matplotlib colour map (e.g. 'viridis', 'magma', 'gray')"
        ) from None


def to_uint8_rgb(colours, background=(255, 255, 255)) -> np.ndarray:
    """Colours on the 0–255 scale as a uint8 image: rounded, clipped to 0–255.

    ``colours``: array of shape (..., 3), e.g. the (height, width, 3) of
    :func:`gmmfast.conditional_mean_grid` or the mean colours of :func:`gmmfast.sample_image`.
    A pixel with a NaN in any channel (no sample landed there) gets ``background``
    (an (r, g, b) of ints in 0–255, default white).
    """
    array = np.asarray(colours, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] != 3:
        raise ValueError(f"colours must have shape (..., 3), got {array.shape}")
    background = np.asarray(background)
    if (
        background.shape != (3,)
        or not np.issubdtype(background.dtype, np.integer)
        or background.min() < 0
        or background.max() > 255
    ):
        raise ValueError(f"background must be three ints in 0–255, got {background.tolist()}")
    empty = np.isnan(array).any(axis=-1)
    out = np.rint(np.clip(np.nan_to_num(array, nan=0.0), 0.0, 255.0)).astype(np.uint8)
    out[empty] = background
    return out


def contour_levels(log_density, levels=DEFAULT_LEVELS) -> np.ndarray:
    """The log-density values at which to draw contours, ascending.

    ``levels``: an int n >= 1 gives n levels evenly spaced over the ln 1000 below the maximum,
    max − k · ln(1000) / n for k = n, …, 1 (the lowest where the density is 1000 times below
    the maximum; none at the maximum itself, which is a point). A sequence gives those
    log-density values (finite, strictly increasing).
    """
    array = _check_log_density(log_density)
    if isinstance(levels, numbers.Integral) and not isinstance(levels, (bool, np.bool_)):
        n = int(levels)
        if n < 1:
            raise ValueError(f"levels must be >= 1 when an int, got {n}")
        return float(array.max()) - LOG_SPAN * np.arange(n, 0, -1) / n
    try:
        values = np.asarray(levels, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"levels must be an int or a sequence of log-density values, got {levels!r}"
        ) from None
    if values.ndim != 1 or values.size < 1:
        raise ValueError(f"levels must be a non-empty 1-d sequence, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
        raise ValueError(f"levels must be finite and strictly increasing, got {values.tolist()}")
    return values


def contour_image(log_density, levels=DEFAULT_LEVELS) -> np.ndarray:
    """Contour lines of a (height, width) log-density image, drawn black on white, without
    matplotlib.

    A pixel is black where, for some level c of :func:`contour_levels`, it lies at or above c
    and one of its four neighbours lies below: a one-pixel line just inside every region
    {L >= c}. Returns uint8 of shape (height, width), 0 on the lines, 255 elsewhere.
    """
    array = _check_log_density(log_density)
    if array.ndim != 2:
        raise ValueError(f"log_density must have shape (height, width), got {array.shape}")
    ink = np.zeros(array.shape, dtype=bool)
    for level in contour_levels(array, levels):
        above = array >= level
        below = ~above
        edge = np.zeros_like(above)
        edge[1:, :] |= below[:-1, :]
        edge[:-1, :] |= below[1:, :]
        edge[:, 1:] |= below[:, :-1]
        edge[:, :-1] |= below[:, 1:]
        ink |= above & edge
    return np.where(ink, 0, 255).astype(np.uint8)


def _finite(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value
