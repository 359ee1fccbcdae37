"""Pictures of diffusion with a Gaussian mixture: the forward process as a strip of densities,
the score field as arrows over a density, and the reverse process as an animated GIF.

Everything is exact: the noised data q(x_t) of a mixture is the mixture
``model.diffuse(ᾱ_t)`` and its score is computed in closed form, with no training. Drawn with
NumPy into uint8 arrays (no matplotlib); Pillow writes the GIF. Re-exported by
:mod:`gmmfast.image`.

Diffusion adds noise of unit variance: it is meant for data of about unit scale (DDPM scales
images to [-1, 1]). A model fitted on pixel coordinates, hundreds of units wide, would only
shrink towards the origin; :func:`unit_square` maps a model and a grid over its picture to the
unit scale first (the pictures of the result are the same pictures).
"""

from __future__ import annotations

import os
from typing import BinaryIO, Union

import numpy as np

from . import diffusion
from ._density import log_density_grid
from ._grid import Grid, as_grid, pixel_cells
from ._model import ModelLike, as_mixture, check_marginal
from ._pictures import dots
from ._score import score_grid
from ._tone import linear as linear_tone
from ._tone import log, piecewise
from ._validation import check_alpha_bar, check_int, check_n_samples, check_schedule, empty

__all__ = ["diffusion_strip", "reverse_gif", "score_field", "unit_square"]

#: How the density under each picture is toned (:mod:`gmmfast._tone`): dense = dark.
MAPPINGS = {"linear": linear_tone, "log": log, "piecewise": piecewise}
#: Separator between the panels of a strip: a mid grey, visible against both the white of
#: empty space and the black of dense regions.
GAP_COLOUR = (128, 128, 128)
#: Arrows of :func:`score_field`: a red that reads over every grey.
ARROW_COLOUR = (215, 25, 28)
#: Height in pixels of the progress bar under each frame of :func:`reverse_gif`.
BAR_HEIGHT = 4

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


def _tone(mapping: str):
    try:
        return MAPPINGS[mapping]
    except (KeyError, TypeError):
        raise ValueError(f"mapping must be one of {sorted(MAPPINGS)}, got {mapping!r}") from None


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def _noised(model: ModelLike, dims: tuple, alpha_bar: float) -> tuple:
    """(model, dims) whose density on a grid is q(x_t) of the marginal over ``dims``: the model
    itself at ᾱ = 1 (so the picture is the model's own, a ``BayesianGaussianMixture``'s
    scoring form included), else the plug-in marginal diffused (the marginal of a diffused
    mixture is the diffused marginal: the noise is independent per coordinate)."""
    if alpha_bar == 1.0:
        return model, dims
    return as_mixture(model).marginal(dims).diffuse(alpha_bar), (0, 1)


def _density_picture(model, grid, dims, alpha_bar, mapping, rtol) -> np.ndarray:
    noised, noised_dims = _noised(model, dims, alpha_bar)
    return _tone(mapping)(log_density_grid(noised, grid, noised_dims, rtol=rtol))


def unit_square(model: ModelLike, grid: Grid, dims=(0, 1)) -> tuple:
    """The marginal of ``model`` over ``dims`` and ``grid`` in coordinates where the picture
    spans [-1, 1] along its longer side, centred on 0: the scale diffusion expects its data
    at (unit noise is then as large as the picture).

    The picture covers the grid's pixels, half a pixel beyond the first and last centres on
    every side; both axes are scaled by the same factor (the picture keeps its shape).

    Returns ``(mixture, grid)``: a 2-feature :class:`~gmmfast.Mixture` (the plug-in marginal)
    and a :class:`~gmmfast.Grid` of the same pixels in the new coordinates. Its pictures are
    the original's: densities change by a constant factor, which the tone mappings (relative
    to the maximum) remove.
    """
    grid = as_grid(grid)
    dims = check_marginal(model, dims, length=2)
    if grid.is_window:
        raise ValueError("unit_square takes a whole grid, not a window of one")
    (x0, x1), (y0, y1) = grid.x_range, grid.y_range
    half_x = 0.5 * abs(x1 - x0) / max(grid.width - 1, 1)
    half_y = 0.5 * abs(y1 - y0) / max(grid.height - 1, 1)
    extent = max(abs(x1 - x0) + 2 * half_x, abs(y1 - y0) + 2 * half_y)
    if not (np.isfinite(extent) and extent > 0):
        raise ValueError(f"the grid spans no area to scale: {grid!r}")
    scale = 2.0 / extent
    centre = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1)])
    mixture = as_mixture(model).marginal(dims).affine(scale * np.eye(2), -scale * centre)
    unit = Grid(
        grid.width,
        grid.height,
        (scale * (x0 - centre[0]), scale * (x1 - centre[0])),
        (scale * (y0 - centre[1]), scale * (y1 - centre[1])),
    )
    return mixture, unit


def _alpha_bars(alpha_bars) -> np.ndarray:
    values = check_alpha_bar(alpha_bars, "alpha_bars")
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"alpha_bars must be a non-empty 1-d sequence of ᾱ in (0, 1], got shape {values.shape}"
        )
    return values


def diffusion_strip(
    model: ModelLike,
    grid: Grid,
    alpha_bars,
    *,
    dims=(0, 1),
    mapping: str = "linear",
    gap: int = 2,
    rtol=0.0,
) -> np.ndarray:
    """The forward process, left to right: the density of q(x_t) = ``model.diffuse(ᾱ)``
    (its marginal over ``dims``) on ``grid``, one panel per ᾱ in ``alpha_bars``.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
        In the coordinates the noise is added in (see :func:`unit_square` for a model fitted
        on pixels).
    grid : Grid
        The pixels of each panel, in the model's coordinates.
    alpha_bars : sequence of float in (0, 1]
        ᾱ of each panel, in the order drawn (e.g. ``1`` then values of a
        :mod:`gmmfast.diffusion` schedule). At ᾱ = 1 the panel is the model's own density
        (a ``BayesianGaussianMixture``'s scoring form, as :func:`gmmfast.log_density_grid`
        draws it); below 1 the plug-in mixture is diffused, as its samples would be.
    dims : pair of int, default=(0, 1)
        The features across and down.
    mapping : {'linear', 'log', 'piecewise'}, default='linear'
        Tone mapping of :mod:`gmmfast.image`, applied to each panel on its own (each is
        scaled by its own maximum: a noised density is lower and wider).
    gap : int >= 0, default=2
        Width in pixels of the grey separator between panels.
    rtol : float in [0, 1), default=0
        As in :func:`gmmfast.log_density_grid`.

    Returns
    -------
    ndarray of shape (height, n·width + (n − 1)·gap, 3), uint8
        Panel i occupies columns ``i·(width + gap)`` to ``i·(width + gap) + width``; it is
        ``image.<mapping>(log_density_grid(model.diffuse(ᾱ_i), grid, dims))`` in grey.
    """
    grid = as_grid(grid)
    dims = check_marginal(model, dims, length=2)
    values = _alpha_bars(alpha_bars)
    _tone(mapping)
    gap = check_int(gap, "gap", minimum=0)
    panels = [_density_picture(model, grid, dims, float(a), mapping, rtol) for a in values]
    out = empty((grid.height, len(panels) * (grid.width + gap) - gap, 3), np.uint8)
    out[...] = GAP_COLOUR
    for i, panel in enumerate(panels):
        left = i * (grid.width + gap)
        out[:, left : left + grid.width] = panel[:, :, np.newaxis]
    return out


def _pixel_size(grid: Grid) -> tuple:
    """Model units per column and per row, signed (negative for a reversed range); a side of
    one pixel borrows the other's (square pixels), as :func:`pixel_cells` does."""
    (_, x_scale), (_, y_scale) = pixel_cells(grid)
    return 1.0 / x_scale, 1.0 / y_scale


def _draw_segments(image: np.ndarray, start: np.ndarray, end: np.ndarray, colour) -> None:
    """Draws straight segments from ``start`` to ``end`` ((n, 2) arrays of (column, row) in
    pixels) into ``image`` (h, w, 3) in place: each is sampled at twice its length in points,
    every one rounded to its pixel; the parts outside the image are left out."""
    if start.shape[0] == 0:
        return
    longest = float(np.max(np.linalg.norm(end - start, axis=1), initial=0.0))
    t = np.linspace(0.0, 1.0, int(np.ceil(2 * longest)) + 2)[:, np.newaxis, np.newaxis]
    points = np.rint(start + t * (end - start)).reshape(-1, 2)
    height, width = image.shape[:2]
    inside = (
        (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    )
    columns, rows = points[inside].astype(np.int64).T
    image[rows, columns] = colour


def score_field(
    model: ModelLike,
    grid: Grid,
    *,
    alpha_bar=1.0,
    dims=(0, 1),
    step: int = 24,
    mapping: str = "linear",
    rtol=0.0,
) -> np.ndarray:
    """The score field ∇ log q(x_t) as arrows over the density of q(x_t) =
    ``model.diffuse(alpha_bar)`` (marginal over ``dims``), drawn into an RGB image.

    One arrow every ``step`` pixels across and down, centred on the pixel it is computed at
    (the first at ``step // 2``), in red over the grey density of :func:`diffusion_strip`'s
    panel. An arrow points where a reverse step moves a point: along the score vector of the
    model's coordinates, drawn in pixels (the grid's orientation, a reversed range included).
    Lengths grow with the score's size in pixels on a log scale, log(1 + size / median size),
    the 90th percentile of that drawn ``0.9 · step`` long and longer ones held at that length
    (the score grows without bound near a narrow component: on a linear scale all but the
    largest arrows would be dots). A zero score draws no arrow.

    Parameters
    ----------
    model, grid, dims, mapping, rtol
        As in :func:`diffusion_strip`.
    alpha_bar : float in (0, 1], default=1
        ᾱ_t of the noised mixture; 1 is the model itself.
    step : int >= 1, default=24
        Pixels between arrows.

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
    """
    grid = as_grid(grid)
    dims = check_marginal(model, dims, length=2)
    alpha = check_alpha_bar(alpha_bar)
    if alpha.ndim != 0:
        raise ValueError(f"alpha_bar must be a single number, got an array of shape {alpha.shape}")
    # A step beyond the picture's size draws the one arrow that a step of that size draws.
    step = min(check_int(step, "step", minimum=1), max(grid.width, grid.height) + 1)
    _tone(mapping)
    out = _rgb(_density_picture(model, grid, dims, float(alpha), mapping, rtol))
    columns = np.arange(min(step // 2, grid.width - 1), grid.width, step)
    rows = np.arange(min(step // 2, grid.height - 1), grid.height, step)
    # The arrows' pixels as a grid of their own: the score where they are, not everywhere.
    xs, ys = grid.xs[columns], grid.ys[rows]
    lattice = Grid(
        len(columns),
        len(rows),
        (float(xs[0]), float(xs[-1])) if len(xs) > 1 else (float(xs[0]),) * 2,
        (float(ys[0]), float(ys[-1])) if len(ys) > 1 else (float(ys[0]),) * 2,
    )
    noised, noised_dims = _noised(model, dims, float(alpha))
    score = score_grid(noised, lattice, noised_dims)  # (rows, columns, 2), model units⁻¹
    dx, dy = _pixel_size(grid)
    # A displacement of s model units is s / (units per pixel) pixels.
    with np.errstate(over="ignore", invalid="ignore"):
        vectors = np.stack([score[..., 0] / dx, score[..., 1] / dy], axis=-1).reshape(-1, 2)
        size = np.linalg.norm(vectors, axis=1)
    drawn = np.isfinite(size) & (size > 0)
    if not drawn.any():
        return out
    # Lengths on a log scale of the size relative to the median arrow's: near a narrow
    # component the score is thousands of times its typical size, and on a linear scale the
    # few largest would leave every other arrow a dot.
    compressed = np.log1p(size[drawn] / float(np.median(size[drawn])))
    length = 0.9 * step * np.minimum(compressed / float(np.percentile(compressed, 90)), 1.0)
    direction = vectors[drawn] / size[drawn, np.newaxis]
    cc, rr = np.meshgrid(columns, rows)
    centre = np.column_stack([cc.ravel(), rr.ravel()]).astype(np.float64)[drawn]
    half = 0.5 * length[:, np.newaxis] * direction
    tail, tip = centre - half, centre + half
    _draw_segments(out, tail, tip, ARROW_COLOUR)
    # The head: two barbs at ±30° back from the tip, a third of the arrow long (2 pixels at
    # least, so that short arrows still show their direction).
    barb = np.maximum(length / 3.0, 2.0)[:, np.newaxis]
    for angle in (np.pi / 6, -np.pi / 6):
        c, s = np.cos(angle), np.sin(angle)
        back = -np.column_stack(
            [c * direction[:, 0] - s * direction[:, 1], s * direction[:, 0] + c * direction[:, 1]]
        )
        _draw_segments(out, tip, tip + barb * back, ARROW_COLOUR)
    return out


def _splat(points: np.ndarray, grid: Grid) -> np.ndarray:
    """Counts (height, width) int64 of the rows of ``points`` (n, 2) in the pixels of ``grid``,
    by :func:`gmmfast.sample_image`'s cell rule; points outside the grid are dropped."""
    (x_start, x_scale), (y_start, y_scale) = pixel_cells(grid)
    with np.errstate(over="ignore", invalid="ignore"):
        u = (points[:, 0] - x_start) * x_scale + 0.5
        v = (points[:, 1] - y_start) * y_scale + 0.5
    inside = (u >= 0) & (u < grid.width) & (v >= 0) & (v < grid.height)
    pixel = np.floor(v[inside]).astype(np.int64) * grid.width + np.floor(u[inside]).astype(np.int64)
    return np.bincount(pixel, minlength=grid.size).reshape(grid.shape)


def _frame(points: np.ndarray, grid: Grid, done: float) -> np.ndarray:
    """One frame: the points as dots (grey, uint8) with a progress bar of ``done`` (0 to 1)
    under it. The bar also keeps consecutive frames apart: Pillow merges identical frames
    of a GIF, which would change their number."""
    picture = dots(_splat(points, grid))
    bar = np.full((BAR_HEIGHT, grid.width), 220, np.uint8)
    bar[:, : round(done * grid.width)] = 0
    return np.concatenate([picture, bar])


def reverse_gif(
    model: ModelLike,
    grid: Grid,
    path_or_file: PathOrFile,
    *,
    schedule=None,
    n_samples=20_000,
    method: str = "ddpm",
    random_state=None,
    frames: int = 30,
    dims=(0, 1),
    duration: int = 80,
) -> np.ndarray:
    """An animated GIF of the reverse diffusion process: noise turning into samples of
    ``model``, with the exact score of every noised mixture.

    The samples of :func:`gmmfast.diffusion.reverse_sample` (``return_path=True``) are drawn
    as black dots on white (:func:`gmmfast.sample_image`'s pixels, the marginal over ``dims``;
    points outside the grid are not drawn) at ``frames`` steps evenly spaced from the start
    x_T to the end, with a progress bar of ``BAR_HEIGHT`` = 4 pixels under each picture. The
    last frame is held 15 times as long; the GIF loops.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
        In the coordinates the noise is added in (see :func:`unit_square`).
    grid : Grid
        The pixels of each frame, in the model's coordinates.
    path_or_file : str, path or binary file object
        Where the GIF goes. A path is written to a temporary file beside it and renamed into
        place when complete (a failure leaves the file that was there as it was).
    schedule : array of ᾱ_1 > … > ᾱ_T, default ``cosine_schedule(100)``
        The diffusion's schedule (:mod:`gmmfast.diffusion`).
    n_samples : int >= 1, default=20000
    method : {'ddpm', 'ode'}, default='ddpm'
        Ancestral sampling or the probability-flow ODE (:func:`reverse_sample`).
    random_state : None, int, numpy.random.Generator or RandomState
    frames : int >= 2, default=30
        Frames of the GIF (at most T + 1).
    duration : int >= 1, default=80
        Milliseconds per frame.

    Returns
    -------
    samples : ndarray of shape (n_samples, n_features)
        The end of the reverse process (the last frame's points).
    """
    from PIL import Image

    from ._files import replacing

    grid = as_grid(grid)
    dims = check_marginal(model, dims, length=2)
    alpha_bars = diffusion.cosine_schedule(100) if schedule is None else check_schedule(schedule)
    n = check_n_samples(n_samples)
    frames = check_int(frames, "frames", minimum=2)
    duration = check_int(duration, "duration", minimum=1)
    if method not in diffusion.METHODS:
        raise ValueError(f"method must be one of {diffusion.METHODS}, got {method!r}")
    steps = alpha_bars.size
    if frames > steps + 1:
        raise ValueError(f"frames must be at most n_steps + 1 = {steps + 1}, got {frames}")
    is_path = isinstance(path_or_file, (str, os.PathLike))
    if not is_path and not hasattr(path_or_file, "write"):
        raise TypeError(
            "path_or_file must be a path or a binary file object, got "
            f"{type(path_or_file).__name__}"
        )
    samples, path = diffusion.reverse_sample(
        model, alpha_bars, n, method=method, random_state=random_state, return_path=True
    )
    chosen = np.unique(np.rint(np.linspace(0, steps, frames)).astype(np.int64))
    pictures = [Image.fromarray(_frame(path[i][:, list(dims)], grid, i / steps)) for i in chosen]
    durations = [duration] * (len(pictures) - 1) + [15 * duration]
    options: dict = {
        "save_all": True,
        "append_images": pictures[1:],
        "duration": durations,
        "loop": 0,
    }
    if is_path:
        with replacing(path_or_file) as handle:
            pictures[0].save(handle, format="GIF", **options)
    else:
        pictures[0].save(path_or_file, format="GIF", **options)
    return samples
