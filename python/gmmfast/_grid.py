"""``Grid``: the pixel centres of an image in model coordinates."""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_int, empty


def _check_range(value, name: str, default: tuple) -> tuple:
    if value is None:
        return default
    try:
        lo, hi = value
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers (start, stop), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got {(lo, hi)}")
    return (lo, hi)


class Grid:
    """A ``height`` × ``width`` image whose pixel centres sit at model coordinates.

    Column j has ``x = linspace(*x_range, width)[j]``, row i has
    ``y = linspace(*y_range, height)[i]``. The defaults ``(0, width - 1)`` and
    ``(0, height - 1)`` put pixel (row i, column j) at (x=j, y=i), as for a model fitted on the
    pixel coordinates of an image. Ranges may be reversed (``y_range=(top, bottom)`` flips the
    image) or negative.

    Parameters
    ----------
    width, height : int >= 1
    x_range, y_range : (float, float), optional
    """

    __slots__ = ("_height", "_width", "_x_range", "_xs", "_y_range", "_ys")

    def __init__(self, width, height, x_range=None, y_range=None):
        self._width = check_int(width, "width", minimum=1)
        self._height = check_int(height, "height", minimum=1)
        self._x_range = _check_range(x_range, "x_range", (0.0, float(self._width - 1)))
        self._y_range = _check_range(y_range, "y_range", (0.0, float(self._height - 1)))
        self._xs = np.linspace(*self._x_range, self._width)
        self._ys = np.linspace(*self._y_range, self._height)
        self._xs.flags.writeable = False
        self._ys.flags.writeable = False

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def shape(self) -> tuple:
        """``(height, width)``: the shape of an image rendered on this grid."""
        return (self._height, self._width)

    @property
    def size(self) -> int:
        """Number of pixels."""
        return self._height * self._width

    @property
    def x_range(self) -> tuple:
        return self._x_range

    @property
    def y_range(self) -> tuple:
        return self._y_range

    @property
    def xs(self) -> np.ndarray:
        """x of every column's centre, shape (width,), read-only."""
        return self._xs

    @property
    def ys(self) -> np.ndarray:
        """y of every row's centre, shape (height,), read-only."""
        return self._ys

    def points(self) -> np.ndarray:
        """All pixel centres as an array of shape (height·width, 2) in row-major order.

        Equal to ``np.column_stack([xx.ravel(), yy.ravel()])`` for
        ``xx, yy = np.meshgrid(grid.xs, grid.ys)``. The kernels never need it; it is for
        comparing with code that works on points.
        """
        out = empty((self.size, 2))
        view = out.reshape(self._height, self._width, 2)
        view[:, :, 0] = self._xs[np.newaxis, :]
        view[:, :, 1] = self._ys[:, np.newaxis]
        return out

    def __repr__(self) -> str:
        return (
            f"Grid(width={self._width}, height={self._height}, "
            f"x_range={self._x_range}, y_range={self._y_range})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return (self._width, self._height, self._x_range, self._y_range) == (
            other._width,
            other._height,
            other._x_range,
            other._y_range,
        )

    def __hash__(self) -> int:
        return hash((Grid, self._width, self._height, self._x_range, self._y_range))

    def __reduce__(self):
        return (Grid, (self._width, self._height, self._x_range, self._y_range))
