"""Images as training data for a mixture, and back.

Coordinates follow the image: x is the column, y the row, both in pixels, so that a model fitted
on these points renders back onto ``Grid(width, height)`` pixel for pixel.
"""

from __future__ import annotations

import os

import numpy as np

_LUMA = np.array([299, 587, 114]) / 1000.0  # ITU-R 601-2, as PIL's convert("L")


def as_array(image) -> np.ndarray:
    """An image as a float64 array on the 0–255 scale: (H, W) grey or (H, W, 3) RGB.

    ``image`` is a path, a PIL image or an array. Integer arrays are on the 0–255 scale, float
    arrays on 0–1 (as matplotlib and scikit-image use them), bool arrays are white where True.
    An alpha channel is dropped; a grey-with-alpha image becomes grey.
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
        mode = "L" if image.mode in ("1", "L", "LA", "I", "I;16", "F", "P") else "RGB"
        if image.mode == "P":
            mode = "RGB"
        image = np.asarray(image.convert(mode))
    array = np.asarray(image)
    if array.dtype == bool or np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64) * 255.0
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
