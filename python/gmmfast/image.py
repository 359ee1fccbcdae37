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
``colormap``, ``to_uint8_rgb``), contours (``contour_image``, ``contour_figure``) and
``contact_sheet`` live in private modules and are re-exported here, so that the whole image
workflow has one public namespace.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings

import numpy as np

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
from ._validation import check_int

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
    "figure_to_rgb",
    "fit",
    "grey",
    "linear",
    "log",
    "piecewise",
    "relative_density",
    "to_uint8_rgb",
]

# Variance of a uniform distribution over one unit: pixel coordinates and 8-bit colours are
# integers, so this is the resolution of the data. As ``reg_covar`` it keeps components on
# one-pixel-wide lines (all x equal) from collapsing to a zero variance.
PIXEL_VARIANCE = 1.0 / 12.0

_LUMA = np.array([299, 587, 114]) / 1000.0  # ITU-R 601-2, as PIL's convert("L")


# PIL modes of 16-bit grey images (PNGs of 16-bit depth open as one of these).
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def as_array(image) -> np.ndarray:
    """An image as a float64 array on the 0–255 scale: (H, W) grey or (H, W, 3) RGB.

    ``image`` is a path, a PIL image or an array. uint16 arrays and 16-bit images are on the
    0–65535 scale (divided by 257), other integer arrays on 0–255, float arrays on 0–1 (as
    matplotlib and scikit-image use them; PIL's float images "F" on 0–255, as PIL's own
    conversions produce them), bool arrays are white where True. An alpha channel is dropped;
    a grey-with-alpha image becomes grey.
    """
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
        if image.mode in _SIXTEEN_BIT_MODES:
            array = np.asarray(image, dtype=np.float64) / 257.0
        elif image.mode == "F":
            array = np.asarray(image, dtype=np.float64)
        else:
            mode = "L" if image.mode in ("1", "L", "LA") else "RGB"
            array = np.asarray(image.convert(mode), dtype=np.float64)
    else:
        array = np.asarray(image)
        if array.dtype == bool or np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float64) * 255.0
        elif array.dtype == np.uint16:
            array = array.astype(np.float64) / 257.0
        elif np.issubdtype(array.dtype, np.integer):
            array = array.astype(np.float64)
        else:
            raise ValueError(f"an image array must be numeric, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = array[:, :, :-1]  # drop alpha
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(
            f"an image must have shape (height, width) or (height, width, 3 or 4), "
            f"got {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"an image must have at least one pixel, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or inf")
    return array


def grey(image) -> np.ndarray:
    """The image as (H, W) float64 luma on 0–255 (RGB weighted as PIL's ``convert("L")``)."""
    array = as_array(image)
    return array if array.ndim == 2 else array @ _LUMA


def bw_points(image, threshold: float = 128) -> np.ndarray:
    """(x, y) of the dark pixels of an image: those whose grey level is below ``threshold``.

    Returns a float64 array of shape (n_dark, 2) in row-major order, x the column and y the row.
    Raises ``ValueError`` if no pixel is dark.
    """
    dark = grey(image) < threshold
    rows, cols = np.nonzero(dark)
    if rows.size == 0:
        raise ValueError(f"no pixel of the image is darker than threshold={threshold}")
    return np.column_stack([cols, rows]).astype(np.float64)


def color_points(image) -> np.ndarray:
    """(x, y, r, g, b) of every pixel, shape (height·width, 5), float64, colours on 0–255.

    A grey image gives r = g = b.
    """
    array = as_array(image)
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
    **kwargs,
):
    """Fit a scikit-learn ``GaussianMixture`` on image points, showing the EM's progress.

    Parameters
    ----------
    points : array-like of shape (n_points, n_features)
        E.g. :func:`bw_points` or :func:`color_points`.
    n_components : int >= 1, at most n_points
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    max_iter : int, default=100
    random_state : None or int or numpy.random.RandomState
    progress : True, False or 'auto', default='auto'
        Print each EM iteration and the lower bound (scikit-learn's mean log-likelihood per
        point) on stderr; 'auto' prints only when stderr is a terminal. Display only: the fit
        is the same either way.
    reg_covar : float, default=PIXEL_VARIANCE (1/12)
        scikit-learn's default is 1e-6; image coordinates and colours are integers, whose
        quantisation variance is 1/12, and a smaller floor lets components on straight lines
        of pixels collapse.
    **kwargs
        Any other ``GaussianMixture`` parameter (``n_init``, ``tol``, ``init_params``, ...).

    Returns
    -------
    sklearn.mixture.GaussianMixture
        Fitted exactly as ``GaussianMixture(n_components=n_components,
        covariance_type=covariance_type, max_iter=max_iter, random_state=random_state,
        reg_covar=reg_covar, **kwargs).fit(points)``: this *is* that call (progress is read
        from scikit-learn's per-iteration hooks), so parameters, ``n_iter_``, ``converged_``,
        ``lower_bound_`` and any ``ConvergenceWarning`` are scikit-learn's own.

    Raises ``ValueError`` if ``n_components`` exceeds the number of points.
    """
    from sklearn.mixture import GaussianMixture
    from sklearn.utils.validation import check_array

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
        return estimator.fit(points)
    reporter = _Progress(estimator, points.shape, stream)
    with reporter.hooked():
        estimator.fit(points)
    return estimator


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
            f"{self.lower_bound:.6f}{step}  ({now - self.last:.2f} s{with_init})",
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
