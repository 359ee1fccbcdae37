"""Images as training data for a mixture, and back.

Coordinates follow the image: x is the column, y the row, both in pixels, so that a model fitted
on these points renders back onto ``Grid(width, height)`` pixel for pixel.

The workflow, end to end::

    points = color_points("photo.jpg")                     # (x, y, r, g, b) of every pixel
    gm = fit(points, 1000)                                 # scikit-learn's EM, with progress
    grid = gmmfast.Grid(640, 427)
    grey = piecewise(gmmfast.log_density_grid(gm, grid))   # density image, uint8
    rgb = to_uint8_rgb(gmmfast.conditional_mean_grid(gm, grid))

Reading images and fitting are here; the tone mappings (``linear``, ``log``, ``piecewise``,
``colormap``, ``to_uint8_rgb``), contours (``contour_image``, ``contour_figure``),
``contact_sheet`` and the pictures of diffusion (``diffusion_strip``, ``score_field``,
``reverse_gif``, ``unit_square``) live in private modules and are re-exported here, so that
the whole image workflow has one public namespace.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings

import numpy as np

from ._diffusion_pictures import diffusion_strip, reverse_gif, score_field, unit_square
from ._plot import contact_sheet, contour_figure, figure_to_rgb
from ._tone import (
    DEFAULT_KNOTS,
    DEFAULT_LEVELS,
    LOG_SPAN,
    colormap,
    contour_image,
    contour_levels,
    linear,
    log,
    piecewise,
    relative_density,
    to_uint8_rgb,
)
from ._validation import check_image_pair, check_int

__all__ = [
    "DEFAULT_KNOTS",
    "DEFAULT_LEVELS",
    "LOG_SPAN",
    "PIXEL_VARIANCE",
    "as_array",
    "bw_points",
    "color_points",
    "colormap",
    "contact_sheet",
    "contour_figure",
    "contour_image",
    "contour_levels",
    "diffusion_strip",
    "figure_to_rgb",
    "fit",
    "grey",
    "linear",
    "log",
    "piecewise",
    "psnr",
    "relative_density",
    "reverse_gif",
    "score_field",
    "to_uint8_rgb",
    "unit_square",
]

# Variance of a uniform distribution over one unit: pixel coordinates and 8-bit colours are
# integers, so this is the resolution of the data. As ``reg_covar`` it keeps components on
# one-pixel-wide lines (all x equal) from collapsing to a zero variance.
PIXEL_VARIANCE = 1.0 / 12.0

_LUMA = np.array([299, 587, 114]) / 1000.0  # ITU-R 601-2, as PIL's convert("L")


# PIL modes of 16-bit grey images (PNGs of 16-bit depth open as one of these): white is 65535.
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# PIL modes with an alpha channel (premultiplied "La" and "RGBa" are converted to straight alpha).
_GREY_ALPHA_MODES = ("LA", "La")
_ALPHA_MODES = ("RGBA", "RGBa", "PA", *_GREY_ALPHA_MODES)


def as_array(image, *, scale=None) -> np.ndarray:
    """An image as a float64 array on the 0–255 scale: (H, W) grey or (H, W, 3) RGB.

    ``image`` is a path, a PIL image or an array of shape (H, W) grey, (H, W, 2) grey and
    alpha, (H, W, 3) RGB or (H, W, 4) RGBA.

    How the values are read (``scale=None``, the default):

    * uint8 and other integer arrays, and 8-bit PIL images, are on 0–255; uint16 arrays and
      16-bit PIL images ("I;16", "I") on 0–65535 (divided by 257). Integers outside that range
      are refused.
    * float arrays and PIL "F" images: on 0–1 if every value is in [0, 1] (matplotlib's and
      scikit-image's convention), on 0–255 if the largest value is in (1, 255] (what
      ``np.asarray(picture, dtype=float)`` gives, and this function's own output, so feeding it
      back changes nothing). Anything else — a negative value, a value above 255, NaN or
      infinity — is refused with a ``ValueError`` saying what was found. A 0–255 float image
      so dark that no value exceeds 1 would be read as 0–1: pass ``scale=255`` to say so.
    * bool arrays: white where True.

    ``scale``, a positive number, overrides the rule: the value of white in the image as given
    (1 for 0–1 floats, 255 for 0–255, 65535 for 16-bit, 4095 for 12-bit data, ...); values
    outside [0, scale] are refused.

    Transparency is composited over white, as a viewer shows the picture on a white page: a
    pixel of colour c and opacity a (alpha / white, straight alpha as in PNG) becomes
    a·c + (1 − a)·255, so black line art on a transparent background reads as black on white.
    This covers RGBA, LA and PA images, palette ("P") images and grey or RGB PNGs with a
    transparent colour, and arrays of 2 or 4 channels (alpha on the same scale as the colour).
    A grey image stays grey; a palette image becomes RGB.
    """
    scale = _check_scale(scale)
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        try:
            with Image.open(image) as img:
                img.load()
                image = img.copy()
        except FileNotFoundError:
            raise  # a missing file is not a bad image: keep the precise exception
        except OSError as exc:
            raise ValueError(f"cannot read {os.fspath(image)!r} as an image: {exc}") from exc
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image
        array, white = _pil_values(image)
    else:
        array = np.asarray(image)
        if array.dtype == bool:
            white = 1.0
        elif np.issubdtype(array.dtype, np.floating):
            white = None  # decided from the values below
        elif array.dtype == np.uint16:
            white = 65535.0
        elif np.issubdtype(array.dtype, np.integer):
            white = 255.0
        else:
            raise ValueError(f"an image array must be numeric, got dtype {array.dtype}")
        array = array.astype(np.float64)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise ValueError(
            f"an image must have shape (height, width) or (height, width, 2, 3 or 4), "
            f"got {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"an image must have at least one pixel, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or inf")
    array = _to_255(array, white if scale is None else scale, explicit=scale is not None)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = _over_white(array[:, :, :-1], array[:, :, -1])
        if array.shape[2] == 1:
            array = array[:, :, 0]
    return array


def _check_scale(scale):
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ValueError(f"scale must be None or a positive number, got {scale!r}")
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be None or a positive number, got {scale!r}")
    return scale


def _pil_values(image) -> tuple:
    """(raw values of a PIL image as float64, its white or None), transparency as an alpha
    channel: (H, W) or (H, W, 2) grey, (H, W, 3) or (H, W, 4) colour."""
    mode = image.mode
    transparent = "transparency" in image.info
    if mode in _SIXTEEN_BIT_MODES:
        array = np.asarray(image, dtype=np.float64)
        key = image.info.get("transparency")
        if isinstance(key, int) and not isinstance(key, bool):  # a transparent grey level
            alpha = np.where(array == key, 0.0, 65535.0)
            array = np.stack([array, alpha], axis=2)
        return array, 65535.0
    if mode == "F":
        return np.asarray(image, dtype=np.float64), None
    if mode in _GREY_ALPHA_MODES or (mode in ("1", "L") and transparent):
        return np.asarray(image.convert("LA"), dtype=np.float64), 255.0
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.float64), 255.0
    if mode in _ALPHA_MODES or transparent:  # PIL applies a palette's or a colour key's alpha
        return np.asarray(image.convert("RGBA"), dtype=np.float64), 255.0
    return np.asarray(image.convert("RGB"), dtype=np.float64), 255.0


def _to_255(array: np.ndarray, white, explicit: bool) -> np.ndarray:
    """Values whose white is ``white`` (None: a float image, decided by its range) on 0–255."""
    low, high = float(array.min()), float(array.max())
    found = f"got values from {low:.6g} to {high:.6g}"
    if white is None:  # floats
        if low < 0 or high > 255:
            hint = " (clip them first)" if low > -1 and high < 256 else ""
            raise ValueError(
                "a float image must be on 0–1 (all values in [0, 1]) or on 0–255 (largest "
                f"value in (1, 255]), {found}{hint}; pass scale=WHITE (the value of white) "
                "for any other range"
            )
        white = 1.0 if high <= 1 else 255.0
    elif low < 0 or high > white:
        if explicit:
            raise ValueError(f"with scale={white:g} the values must be in [0, {white:g}], {found}")
        raise ValueError(
            f"an integer image must be on 0–{white:g}, {found}; pass scale=WHITE (the value "
            "of white, e.g. scale=65535 for 16-bit values)"
        )
    if white == 255.0:
        return array  # exactly as given: reading as_array's own output changes no bit
    # One rounding for integer values (x · 255 is exact): 16-bit x gives exactly x / 257.
    return array * 255.0 / white


def _over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour (H, W, c) on 0–255 with straight alpha (H, W) on 0–255, composited over white:
    a·c + (1 − a)·255 with a = alpha / 255; fully opaque pixels keep their exact values."""
    opacity = (alpha / 255.0)[:, :, np.newaxis]
    composite = 255.0 - (255.0 - colour) * opacity
    return np.where(opacity >= 1.0, colour, composite)


def grey(image, *, scale=None) -> np.ndarray:
    """The image as (H, W) float64 luma on 0–255 (RGB weighted as PIL's ``convert("L")``).

    ``image`` and ``scale`` as :func:`as_array` reads them (transparency over white).
    """
    array = as_array(image, scale=scale)
    return array if array.ndim == 2 else array @ _LUMA


def bw_points(image, threshold: float = 128, *, scale=None, weights: bool = False):
    """(x, y) of the dark pixels of an image: those whose grey level is below ``threshold``.

    ``image`` and ``scale`` as :func:`as_array` reads them: uint8 or 0–255 floats or 0–1
    floats, transparent pixels white (so line art on a transparent background gives its
    lines). ``threshold`` is a grey level on 0–255 whatever the image's own scale.

    Returns a float64 array of shape (n_dark, 2) in row-major order, x the column and y the row.
    Raises ``ValueError`` if no pixel is dark.

    With ``weights=True``, returns ``(points, ink)`` instead: every pixel that is not pure
    white (grey level below 255, whatever ``threshold``) and its darkness
    ink = (255 − grey) / 255 in (0, 1], float64 (n,) — sample weights for
    ``GaussianMixture.fit``: ink weights without a threshold, so anti-aliased and grey strokes
    count in proportion to their darkness.
    """
    level = grey(image, scale=scale)
    dark = level < (255.0 if weights else threshold)
    rows, cols = np.nonzero(dark)
    if rows.size == 0:
        what = "is darker than white" if weights else f"is darker than threshold={threshold}"
        raise ValueError(f"no pixel of the image {what}")
    points = np.column_stack([cols, rows]).astype(np.float64)
    if not weights:
        return points
    return points, (255.0 - level[rows, cols].astype(np.float64)) / 255.0


def color_points(image, *, scale=None) -> np.ndarray:
    """(x, y, r, g, b) of every pixel, shape (height·width, 5), float64, colours on 0–255.

    ``image`` and ``scale`` as :func:`as_array` reads them (transparency over white). A grey
    image gives r = g = b.
    """
    array = as_array(image, scale=scale)
    if array.ndim == 2:
        array = np.repeat(array[:, :, np.newaxis], 3, axis=2)
    height, width = array.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    return np.column_stack([cols.ravel(), rows.ravel(), array.reshape(-1, 3)]).astype(np.float64)


def fit(
    points,
    n_components,
    covariance_type="full",
    *,
    max_iter=100,
    random_state=None,
    progress="auto",
    reg_covar=PIXEL_VARIANCE,
    sample_weight=None,
    **kwargs,
):
    """Fit a :class:`gmmfast.GaussianMixture` on image points, showing the EM's progress.

    Parameters
    ----------
    points : array-like of shape (n_points, n_features)
        E.g. :func:`bw_points` or :func:`color_points`.
    n_components : int >= 1, at most n_points
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    max_iter : int, default=100
    random_state : None or int or numpy.random.RandomState
    progress : True, False or 'auto', default='auto'
        Print each EM iteration and the lower bound (the mean log-likelihood per point) on
        stderr; 'auto' prints only when stderr is a terminal. Display only: the fit is the
        same either way.
    reg_covar : float, default=PIXEL_VARIANCE (1/12)
        scikit-learn's default is 1e-6; image coordinates and colours are integers, whose
        quantisation variance is 1/12, and a smaller floor lets components on straight lines
        of pixels collapse.
    sample_weight : array-like of shape (n_points,), default=None
        E.g. the ink weights of ``bw_points(..., weights=True)``.
    **kwargs
        Any other ``GaussianMixture`` parameter (``n_init``, ``tol``, ``init_params``,
        ``rtol``, ...).

    Returns
    -------
    gmmfast.GaussianMixture
        Fitted as ``gmmfast.GaussianMixture(n_components=n_components,
        covariance_type=covariance_type, max_iter=max_iter, random_state=random_state,
        reg_covar=reg_covar, **kwargs).fit(points, sample_weight=sample_weight)``: this *is*
        that call (progress is read from the estimator's per-iteration hooks, scikit-learn's
        own), so parameters, ``n_iter_``, ``converged_``, ``lower_bound_`` and any
        ``ConvergenceWarning`` are its own — scikit-learn's EM iterates, from the same
        initialisation, to rounding.

    Raises ``ValueError`` if ``n_components`` exceeds the number of points.
    """
    from sklearn.utils.validation import check_array

    from ._estimator import GaussianMixture

    points = check_array(points, dtype=np.float64, input_name="points")
    n_components = check_int(n_components, "n_components", minimum=1)
    if n_components > points.shape[0]:
        raise ValueError(
            f"n_components={n_components} is larger than the number of points "
            f"({points.shape[0]}): a mixture needs at least one point per component"
        )
    if progress not in (True, False, "auto"):
        raise ValueError(f"progress must be True, False or 'auto', got {progress!r}")
    stream = sys.stderr
    if progress == "auto":
        progress = bool(getattr(stream, "isatty", lambda: False)())
    estimator = GaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=max_iter,
        random_state=random_state,
        reg_covar=reg_covar,
        **kwargs,
    )
    if not progress:
        return estimator.fit(points, sample_weight=sample_weight)
    reporter = _Progress(estimator, points.shape, stream)
    with reporter.hooked():
        estimator.fit(points, sample_weight=sample_weight)
    return estimator


def _duration(seconds: float) -> str:
    """A short duration: milliseconds below a second, else seconds."""
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


class _Progress:
    """Prints the EM iterations of one ``GaussianMixture.fit`` by shadowing, on that instance
    only and for the duration of the fit, the methods scikit-learn calls once per
    initialisation and per iteration. They are private to scikit-learn: any that a future
    version lacks is simply not hooked (the fit is unaffected, only quieter)."""

    _HOOKS = (
        "_print_verbose_msg_init_beg",
        "_compute_lower_bound",
        "_print_verbose_msg_iter_end",
        "_print_verbose_msg_init_end",
    )

    def __init__(self, estimator, shape: tuple, stream):
        self.estimator = estimator
        self.shape = shape
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.lower_bound = float("nan")
        self.start = self.last = time.perf_counter()
        self.width = 0

    @contextlib.contextmanager
    def hooked(self):
        installed = []
        try:
            for name in self._HOOKS:
                original = getattr(self.estimator, name, None)
                if original is not None:
                    setattr(self.estimator, name, self._wrap(name, original))
                    installed.append(name)
            yield
        finally:
            for name in installed:
                delattr(self.estimator, name)  # back to the class's own method
            self._end_line()

    def _wrap(self, name, original):
        def hook(*args, **kwargs):
            result = original(*args, **kwargs)
            try:
                getattr(self, name[1:])(result, *args)
            except Exception as exc:  # a display bug must never break a fit
                warnings.warn(f"progress display failed: {exc!r}", RuntimeWarning, stacklevel=2)
            return result

        return hook

    def print_verbose_msg_init_beg(self, _result, n_init, *_):
        est = self.estimator
        total = getattr(est, "n_init", 1)
        which = f" {n_init + 1}/{total}" if total > 1 else ""
        self._line(
            f"fit: initialisation{which} ({est.init_params}) of K={est.n_components} "
            f"{est.covariance_type}-covariance components on {self.shape[0]} points of "
            f"{self.shape[1]} features",
            final=True,
        )
        self.start = self.last = time.perf_counter()

    def compute_lower_bound(self, result, *_):
        self.lower_bound = float(result)

    def print_verbose_msg_iter_end(self, _result, n_iter, change, *_):
        now = time.perf_counter()
        # The first iteration's change is from -inf: not worth printing.
        step = f"  change {change:.3g}" if np.isfinite(change) else ""
        # The clock starts before scikit-learn's initialisation, which has no hook of its own.
        with_init = " with the initialisation" if n_iter == 1 else ""
        self._line(
            f"fit: EM iteration {n_iter}/{self.estimator.max_iter}  lower bound "
            f"{self.lower_bound:.6f}{step}  ({_duration(now - self.last)}{with_init})",
            final=not self.tty,
        )
        self.last = now

    def print_verbose_msg_init_end(self, _result, lower_bound, *args):
        converged = bool(args[0]) if args else False
        verdict = "converged" if converged else "did not converge"
        self._end_line()
        self._line(
            f"fit: {verdict}, lower bound {float(lower_bound):.6f} "
            f"({time.perf_counter() - self.start:.1f} s)",
            final=True,
        )

    def _line(self, text: str, final: bool) -> None:
        """Write a status line; on a terminal a non-final line is overwritten by the next."""
        if self.tty:
            self.stream.write("\r" + text.ljust(self.width))
            self.width = 0 if final else len(text)
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _end_line(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


# The value range of each integer image type, as scikit-image's ``dtype_range``; floats are
# on [-1, 1] (on [0, 1] when not negative).
def _dtype_range(dtype: np.dtype) -> tuple:
    if dtype == np.bool_:
        return (0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return (float(info.min), float(info.max))
    return (-1.0, 1.0)


def psnr(a, b, *, data_range=None) -> float:
    """Peak signal-to-noise ratio of ``b`` against the reference ``a``, in decibels, as
    scikit-image's ``peak_signal_noise_ratio(a, b)``: 10 log10(R² / MSE), the mean squared
    error computed in float64 over every pixel and channel.

    Parameters
    ----------
    a : array-like
        The reference picture (e.g. the source image a model was fitted on), any shape.
    b : array-like of the same shape
        The picture to score (e.g. a render: ``conditional_mean_grid`` output).
    data_range : float > 0, optional
        R, the span of possible values. By default it comes from ``a``'s dtype: 255 for
        uint8, 65535 for uint16, 1 for bool, the type's max − min for signed integers; 1 for a
        float image with no negative value (2 otherwise: floats are taken on [−1, 1]). A float
        image on 0–255 needs ``data_range=255``.

    Returns
    -------
    float; ``inf`` for identical pictures.

    Raises ``ValueError`` for pictures of different shapes, empty ones, NaN, values outside the
    range of ``a``'s dtype when ``data_range`` is not given, and a non-positive
    ``data_range``.
    """
    from ._validation import check_positive

    a, b = check_image_pair(a, b)
    if data_range is None:
        low, high = _dtype_range(a.dtype)
        if a.min() < low or a.max() > high:
            raise ValueError(
                f"a has values in [{a.min()}, {a.max()}], outside the range [{low}, {high}] "
                f"expected for its dtype {a.dtype}: give data_range (255 for a float image "
                "on 0–255)"
            )
        data_range = high if a.min() >= 0 else high - low
    data_range = check_positive(data_range, "data_range")
    error = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(error * error))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)
