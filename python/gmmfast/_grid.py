"""``Grid``: the pixel centres of an image in model coordinates, and windows of it."""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_int, check_real, empty


def check_range(value, name: str, default: tuple) -> tuple:
    """``value`` as a pair of finite floats ``(start, stop)`` (``default`` when None); may be
    reversed or empty (start == stop). ``ValueError`` for anything else."""
    if value is None:
        return default
    check_real(value, name)
    try:
        lo, hi = value
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers (start, stop), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got {(lo, hi)}")
    if not math.isfinite(hi - lo):
        raise ValueError(f"{name} spans more than float64 can hold: {(lo, hi)}")
    return (lo, hi)


def _window_range(key, size: int, axis: str) -> tuple:
    """(start, stop) of a slice with step 1 over ``size`` pixels, at least one pixel."""
    if not isinstance(key, slice):
        raise TypeError(f"a grid window takes slices, got {key!r} for the {axis}")
    start, stop, step = key.indices(size)
    if step != 1:
        raise ValueError(
            f"a grid window takes slices of step 1, got step {key.step} for the {axis}"
        )
    if stop <= start:
        raise ValueError(f"a grid window needs at least one pixel, got {key} over {size} {axis}")
    return (start, stop)


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

    Windows
    -------
    ``grid[rows, cols]`` (two slices of step 1) is the window of those pixels: a Grid whose
    ``xs``, ``ys`` and ``points()`` are the window's, and which every rendering function
    accepts. Rendering a window gives bitwise the same values as the same pixels of the whole
    grid's rendering (for any ``rtol``), so large images can be rendered block by block.
    """

    __slots__ = ("_cols", "_height", "_rows", "_width", "_x_range", "_xs", "_y_range", "_ys")

    def __init__(self, width, height, x_range=None, y_range=None) -> None:
        self._width = check_int(width, "width", minimum=1)
        self._height = check_int(height, "height", minimum=1)
        self._x_range = check_range(x_range, "x_range", (0.0, float(self._width - 1)))
        self._y_range = check_range(y_range, "y_range", (0.0, float(self._height - 1)))
        self._xs = np.linspace(self._x_range[0], self._x_range[1], self._width)
        self._ys = np.linspace(self._y_range[0], self._y_range[1], self._height)
        self._xs.flags.writeable = False
        self._ys.flags.writeable = False
        self._rows = (0, self._height)
        self._cols = (0, self._width)

    def __getitem__(self, key) -> Grid:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise TypeError(f"a grid window is grid[rows, cols] with two slices, got {key!r}")
        rows = _window_range(key[0], self.height, "rows")
        cols = _window_range(key[1], self.width, "columns")
        window = object.__new__(Grid)
        for name in ("_width", "_height", "_x_range", "_y_range", "_xs", "_ys"):
            setattr(window, name, getattr(self, name))
        window._rows = (self._rows[0] + rows[0], self._rows[0] + rows[1])
        window._cols = (self._cols[0] + cols[0], self._cols[0] + cols[1])
        return window

    @property
    def width(self) -> int:
        return self._cols[1] - self._cols[0]

    @property
    def height(self) -> int:
        return self._rows[1] - self._rows[0]

    @property
    def shape(self) -> tuple:
        """``(height, width)``: the shape of an image rendered on this grid."""
        return (self.height, self.width)

    @property
    def size(self) -> int:
        """Number of pixels."""
        return self.height * self.width

    @property
    def x_range(self) -> tuple:
        """x of the first and last columns."""
        if self.is_window:
            return (float(self.xs[0]), float(self.xs[-1]))
        return self._x_range

    @property
    def y_range(self) -> tuple:
        """y of the first and last rows."""
        if self.is_window:
            return (float(self.ys[0]), float(self.ys[-1]))
        return self._y_range

    @property
    def xs(self) -> np.ndarray:
        """x of every column's centre, shape (width,), read-only."""
        return self._xs[self._cols[0] : self._cols[1]]

    @property
    def ys(self) -> np.ndarray:
        """y of every row's centre, shape (height,), read-only."""
        return self._ys[self._rows[0] : self._rows[1]]

    @property
    def is_window(self) -> bool:
        """Whether this is a window of a larger grid."""
        return self._rows != (0, self._height) or self._cols != (0, self._width)

    @property
    def origin(self) -> tuple:
        """(row, column) of this window's first pixel in the whole grid; (0, 0) for a grid."""
        return (self._rows[0], self._cols[0])

    @property
    def whole(self) -> Grid:
        """The whole grid this is a window of (itself if it is not a window)."""
        return self if not self.is_window else Grid(*self._whole_args())

    def _whole_args(self) -> tuple:
        return (self._width, self._height, self._x_range, self._y_range)

    def points(self) -> np.ndarray:
        """All pixel centres as an array of shape (height·width, 2) in row-major order.

        Equal to ``np.column_stack([xx.ravel(), yy.ravel()])`` for
        ``xx, yy = np.meshgrid(grid.xs, grid.ys)``. The kernels never need it; it is for
        comparing with code that works on points.
        """
        out = empty((self.size, 2))
        view = out.reshape(self.height, self.width, 2)
        view[:, :, 0] = self.xs[np.newaxis, :]
        view[:, :, 1] = self.ys[:, np.newaxis]
        return out

    def __repr__(self) -> str:
        text = (
            f"Grid(width={self._width}, height={self._height}, "
            f"x_range={self._x_range}, y_range={self._y_range})"
        )
        if self.is_window:
            text += f"[{self._rows[0]}:{self._rows[1]}, {self._cols[0]}:{self._cols[1]}]"
        return text

    def _key(self) -> tuple:
        return (*self._whole_args(), self._rows, self._cols)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((Grid, self._key()))

    def __reduce__(self) -> tuple:
        return (_rebuild, self._key())


def _rebuild(width, height, x_range, y_range, rows, cols) -> Grid:
    grid = Grid(width, height, x_range, y_range)
    if (rows, cols) == ((0, height), (0, width)):
        return grid
    return grid[slice(*rows), slice(*cols)]


def as_grid(grid) -> Grid:
    """``grid`` if it is a :class:`Grid`; ``TypeError`` otherwise."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a gmmfast.Grid, got {type(grid).__name__}")
    return grid


def kernel_axes(grid: Grid) -> tuple:
    """(xs, ys, origin) as the kernels take them: the whole grid's centres and where the
    window starts, so that tiles (and any culling decided per tile) stay those of the whole
    grid (kept by the window itself, not rebuilt)."""
    return grid._xs, grid._ys, grid.origin


def pixel_cells(grid: Grid) -> tuple:
    """``((x_start, x_scale), (y_start, y_scale))``: the cells :func:`sample_image` bins into.

    A value v falls in column ``floor((v − x_start)·x_scale + ½)`` when that is in
    ``[0, width)``, and in no column otherwise (rows likewise). See :func:`sample_image` for
    the rule; this function is its single definition, shared with :mod:`gmmfast.reference`.
    """
    # A window of a grid keeps the pixel size of the whole grid.
    whole = grid.whole
    x_scale = _scale(whole.x_range, whole.width, "x_range", "width")
    y_scale = _scale(whole.y_range, whole.height, "y_range", "height")
    # A side of one pixel borrows the size of the other side's pixels (square pixels), or is
    # 1 unit wide when both sides have one pixel.
    if x_scale is None:
        x_scale = 1.0 if y_scale is None else abs(y_scale)
    if y_scale is None:
        y_scale = abs(x_scale)
    return (float(grid.xs[0]), x_scale), (float(grid.ys[0]), y_scale)


def _scale(value_range: tuple, n: int, name: str, side: str) -> float | None:
    """1 / pixel spacing of a side of ``n`` pixels, sign included; None for one pixel."""
    if n == 1:
        return None
    start, stop = value_range
    extent = stop - start
    if extent == 0:
        raise ValueError(
            f"sample_image needs pixels of non-zero size, but {name}={value_range} has zero "
            f"extent for {side}={n}: every pixel centre of that side is the same point"
        )
    with np.errstate(over="ignore", divide="ignore"):
        scale = np.float64(n - 1) / np.float64(extent)
    if not (np.isfinite(extent) and np.isfinite(scale) and scale != 0):
        raise ValueError(
            f"sample_image cannot bin into pixels of size {extent / (n - 1)!r} "
            f"({name}={value_range}, {side}={n})"
        )
    return float(scale)
