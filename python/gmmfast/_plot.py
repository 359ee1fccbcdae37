"""Pictures for people: matplotlib contour figures and contact sheets.

matplotlib is optional (``pip install 'gmmfast[plot]'``) and imported only when a figure is
asked for. Figures are built on matplotlib's non-interactive Agg canvas without pyplot, so no
GUI backend is touched and no global figure list grows.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._density import log_density_grid
from ._grid import Grid, as_grid
from ._tone import DEFAULT_LEVELS, contour_levels
from ._validation import check_positive


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "contour_figure needs matplotlib: pip install 'gmmfast[plot]' (or matplotlib); "
            "gmmfast.image.contour_image draws contours without it"
        ) from None
    return Figure, FigureCanvasAgg


def contour_figure(
    model,
    grid: Grid,
    levels=DEFAULT_LEVELS,
    *,
    dims=(0, 1),
    rtol=0.0,
    dpi: float = 100.0,
    colors="black",
    linewidths: float = 0.8,
):
    """A matplotlib figure of the contours of the log-density of ``model`` on ``grid``.

    This is a picture in pixel space, the same size as the grid and in image orientation,
    without axes (for contact sheets and the command line). For figures in data space — axes
    with ticks, y upward, labelled levels and colour bars — use :mod:`gmmfast.plot`
    (``gmmfast.plot.contours(model, ax)``, and ``density``, ``ellipses``,
    ``decision_regions``, ``responsibility``, ``mixture_1d``, ``samples``, ``tone_curve``).

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    grid : Grid of at least 2 × 2 pixels
    levels : int or sequence of float, default=4
        As :func:`gmmfast.image.contour_levels`: n levels evenly spaced in log-density over
        the ln 1000 below the maximum, or the log-density values themselves.
    dims, rtol
        As :func:`gmmfast.log_density_grid`.
    dpi : float > 0, default=100
    colors, linewidths
        Passed to ``Axes.contour``.

    Returns
    -------
    matplotlib.figure.Figure
        ``grid.width / dpi`` × ``grid.height / dpi`` inches, one axes filling it without
        frame or ticks, in image orientation (row 0 at the top, column 0 at the left) and
        limited to the grid's pixel edges, so ``fig.savefig("contours.png")`` writes an image
        of the grid's size whose pixels line up with the grid's. The figure is attached to an
        Agg canvas (no GUI); ``fig.axes[0]`` can take titles, ticks or more artists.
    """
    grid = as_grid(grid)
    dpi = check_positive(dpi, "dpi")
    if grid.width < 2 or grid.height < 2:
        raise ValueError(
            f"contours need a grid of at least 2 × 2 pixels, got {grid.width} × {grid.height}"
        )
    figure_class, canvas_class = _matplotlib()
    log_density = log_density_grid(model, grid, dims, rtol=rtol)
    values = contour_levels(log_density, levels)
    fig = figure_class(figsize=(grid.width / dpi, grid.height / dpi), dpi=dpi)
    canvas_class(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    xs, ys = grid.xs, grid.ys
    # Solid lines: with one colour matplotlib draws negative levels dashed, and log-densities
    # are usually all negative.
    ax.contour(
        xs,
        ys,
        log_density,
        levels=values,
        colors=colors,
        linewidths=linewidths,
        linestyles="solid",
    )
    # Half a pixel beyond the first and last centres (signed: ranges may be reversed), and the
    # y limits swapped so that row 0 is at the top, as in the image.
    half_x = (xs[-1] - xs[0]) / (2 * (len(xs) - 1))
    half_y = (ys[-1] - ys[0]) / (2 * (len(ys) - 1))
    ax.set_xlim(xs[0] - half_x, xs[-1] + half_x)
    ax.set_ylim(ys[-1] + half_y, ys[0] - half_y)
    ax.set_axis_off()
    return fig


def _int_in(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high]: ``TypeError`` for a non-integer (a float such as
    300.0 too: a colour level of 300.0 would wrap to 44), ``ValueError`` out of range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {span}, got {value}")
    return value


def figure_to_rgb(fig) -> np.ndarray:
    """The pixels of a matplotlib figure drawn on its Agg canvas: (height, width, 3) uint8."""
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())[:, :, :3]


def contact_sheet(
    images,
    labels,
    columns: int = 4,
    tile_width: int = 320,
    background: int = 255,
) -> np.ndarray:
    """Images side by side with a label under each, as one (height, width, 3) uint8 image.

    ``images``: (h, w) grey or (h, w, 3) RGB uint8 arrays; each is resized to ``tile_width``
    pixels wide (keeping its aspect ratio) and placed in row-major order, ``columns`` per row.
    ``labels``: one string per image, written under it in PIL's default font. ``columns`` and
    ``tile_width`` are integers >= 1 and ``background`` (the grey level around the tiles) an
    integer in [0, 255]; anything else raises ``TypeError`` or ``ValueError``.
    """
    from PIL import Image, ImageDraw, ImageFont

    columns = _int_in(columns, "columns", 1)
    tile_width = _int_in(tile_width, "tile_width", 1)
    background = _int_in(background, "background", 0, 255)
    images, labels = list(images), list(labels)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    # Image.Resampling arrived in Pillow 9.1; the bare name warns there until Pillow 10.
    lanczos = getattr(Image, "Resampling", Image).LANCZOS
    tiles = []
    for image in images:
        picture = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        height = max(1, round(picture.height * tile_width / picture.width))
        tiles.append(picture.resize((tile_width, height), lanczos))
    font = ImageFont.load_default()
    margin, text_height = 8, 18
    tile_height = max(tile.height for tile in tiles)
    rows = -(-len(tiles) // columns)
    sheet = Image.new(
        "RGB",
        (
            margin + columns * (tile_width + margin),
            margin + rows * (tile_height + text_height + margin),
        ),
        (background,) * 3,
    )
    draw = ImageDraw.Draw(sheet)
    for index, (tile, label) in enumerate(zip(tiles, labels)):
        row, column = divmod(index, columns)
        left = margin + column * (tile_width + margin)
        top = margin + row * (tile_height + text_height + margin)
        sheet.paste(tile, (left, top))
        draw.text((left, top + tile_height + 3), label, fill=(0, 0, 0), font=font)
    return np.asarray(sheet)
