"""``gmmfast render``: a method computes its numbers (``data``) and the picture of them
(``image``); :data:`METHODS` is the registry the demo reuses. Writing is separate: an output
kind is one more function of a :class:`Rendered` (PNG today, or a Zarr store of the numbers)."""

from __future__ import annotations

import os
import time
from typing import Callable, NamedTuple

import numpy as np

from .._pictures import dots, fill_empty, label_colours
from .arguments import (
    MAX_LEVELS,
    MAX_PIXELS,
    MAX_SAMPLES,
    MAX_SIDE,
    bounded_int,
    parse_background,
    parse_dims,
    parse_knots,
    parse_size,
    positive_int,
    rtol_type,
    seed_type,
    too_large,
)
from .files import check_output, image_format, load_model, write_image
from .messages import HELP_FORMAT, CommandError, UsageError, ms
from .models import feature_names, model_mode, render_grid, resolve_dims

# Samples drawn by ``render --method samples`` (and the demo) unless --samples says otherwise:
# about one for every three pixels of a 640 × 427 line drawing (a stippled copy of it), and
# four per pixel for a colour picture, enough to give most pixels a mean colour.
DEFAULT_SAMPLES = {"bw": 100_000, "color": 1_000_000}


class Rendered(NamedTuple):
    data: np.ndarray  # the model's numbers on the grid (log-density, counts, colours, labels)
    image: np.ndarray  # the picture: uint8 (h, w) grey or (h, w, 3) RGB
    description: str


def _density(model, mode, grid, args) -> Rendered:
    from .._density import log_density_grid
    from ..image import colormap, linear, log, piecewise

    log_density = _drawable(log_density_grid(model, grid, args.dims, rtol=args.rtol), args)
    mapping = args.mapping or "linear"
    options = {"knots": args.knots} if args.knots is not None else {}
    if args.colormap is not None:
        try:
            image = colormap(log_density, args.colormap, mapping=mapping, **options)
        except (ImportError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        return Rendered(log_density, image, f"density, {mapping} mapping, '{args.colormap}'")
    image = {"linear": linear, "log": log, "piecewise": piecewise}[mapping](log_density, **options)
    return Rendered(log_density, image, f"density, {mapping} mapping")


def _drawable(log_density: np.ndarray, args) -> np.ndarray:
    """The log-density, if it has something to draw: a density that underflows to zero (−inf)
    at every pixel (components far outside the picture, or far narrower than a pixel) is
    refused in one line rather than by the tone mapping's ValueError."""
    if not np.isfinite(log_density).any():
        raise CommandError(
            f"the density of {args.model} is zero (log-density -inf) at every pixel of the "
            f"grid: nothing to draw (its components lie outside the picture or are far "
            f"narrower than a pixel)"
        )
    return log_density


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _contour(model, mode, grid, args) -> Rendered:
    from .._density import log_density_grid
    from ..image import DEFAULT_LEVELS, contour_figure, contour_image, figure_to_rgb

    levels = args.levels or DEFAULT_LEVELS
    style = args.contour_style or "auto"
    if style == "auto":
        big_enough = grid.width >= 2 and grid.height >= 2
        style = "matplotlib" if big_enough and matplotlib_available() else "raster"
    log_density = _drawable(log_density_grid(model, grid, args.dims, rtol=args.rtol), args)
    if style == "raster":
        why = (
            "" if args.contour_style or matplotlib_available() else ": matplotlib is not installed"
        )
        picture = contour_image(log_density, levels)
        return Rendered(log_density, picture, f"log-density contours (raster{why})")
    if grid.width < 2 or grid.height < 2:
        raise CommandError("matplotlib contours need at least 2x2 pixels: use a larger --size")
    try:
        figure = contour_figure(model, grid, levels, dims=args.dims, rtol=args.rtol)
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    return Rendered(log_density, figure_to_rgb(figure), "log-density contours (matplotlib)")


def _samples(model, mode, grid, args) -> Rendered:
    from .._sampling import sample_image
    from ..image import to_uint8_rgb

    n = args.samples or DEFAULT_SAMPLES.get(mode, DEFAULT_SAMPLES["bw"])
    seed = 0 if args.random_state is None else args.random_state
    background = (255, 255, 255) if args.background is None else args.background
    if mode == "color":
        colours, counts = sample_image(model, n, grid, color_dims=(2, 3, 4), random_state=seed)
        if background == "fill":
            return Rendered(
                colours,
                to_uint8_rgb(fill_empty(colours, counts)),
                f"{n:,} samples, mean colour per pixel, empty pixels filled from their neighbours",
            )
        where = "white" if background == (255, 255, 255) else f"{_colour_text(background)}"
        return Rendered(
            colours,
            to_uint8_rgb(colours, background),
            f"{n:,} samples, mean colour per pixel ({where} where none)",
        )
    if background == "fill":
        raise UsageError("--background fill fills colour samples; give a colour for a bw model")
    counts = sample_image(model, n, grid, random_state=seed)
    return Rendered(counts, dots(counts, background), f"{n:,} samples, pixels with any drawn dark")


def _colour_text(colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _mean(model, mode, grid, args) -> Rendered:
    from .._conditional import conditional_mean_grid
    from ..image import to_uint8_rgb

    if mode != "color":
        raise CommandError(
            f"--method mean needs a colour model (x, y, r, g, b); {args.model} is "
            + ("a black-and-white model" if mode == "bw" else f"{model.n_features}-feature")
        )
    mean = conditional_mean_grid(model, grid, rtol=args.rtol)
    return Rendered(mean, to_uint8_rgb(mean), "conditional mean E[r, g, b | x, y]")


def _labels(model, mode, grid, args) -> Rendered:
    from .._density import label_grid

    labels = label_grid(model, grid, args.dims, rtol=args.rtol)
    return Rendered(labels, label_colours(model.n_components)[labels], "most responsible component")


METHODS: dict[str, Callable] = {
    "density": _density,
    "contour": _contour,
    "samples": _samples,
    "mean": _mean,
    "labels": _labels,
}


# Options that only make sense for some methods (given with another: a usage error).
METHOD_OPTIONS = {
    "mapping": ("--mapping", {"density"}),
    "knots": ("--knots", {"density"}),
    "colormap": ("--colormap", {"density"}),
    "levels": ("--levels", {"contour"}),
    "contour_style": ("--contour-style", {"contour"}),
    "samples": ("--samples", {"samples"}),
    "random_state": ("--random-state", {"samples"}),
    "background": ("--background", {"samples"}),
    "dims": ("--dims", {"contour", "density", "labels"}),
}


# What ``render --zarr`` stores for each method: the raw numbers, no picture.
ZARR_METHODS = {"density": "density", "labels": "labels", "mean": "mean"}


def run(args) -> None:
    for attr, (flag, methods) in METHOD_OPTIONS.items():
        if getattr(args, attr) is not None and args.method not in methods:
            raise UsageError(f"{flag} applies to --method {' or '.join(sorted(methods))} only")
    if args.knots is not None and args.mapping != "piecewise":
        raise UsageError("--knots applies to --mapping piecewise only")
    if (args.output is None) == (args.zarr is None):
        raise UsageError("give exactly one of -o/--output OUT.png and --zarr PATH")
    if args.zarr is None and args.chunks is not None:
        raise UsageError("--chunks applies to --zarr only")
    if args.zarr is not None:
        if args.method not in ZARR_METHODS:
            raise UsageError(
                f"--zarr stores the numbers of --method {', '.join(ZARR_METHODS)}; "
                f"{args.method} is a picture: use -o OUT.png"
            )
        for flag, value in (("--mapping", args.mapping), ("--colormap", args.colormap)):
            if value is not None:
                raise UsageError(f"{flag} draws a picture; --zarr stores the log-density itself")
    elif args.size is not None and too_large(*args.size):
        raise UsageError(
            f"{args.size[0]}x{args.size[1]} is too large for a picture: at most {MAX_SIDE} "
            f"pixels a side and {MAX_PIXELS} in all (use --zarr PATH for larger renders)"
        )
    if args.output is not None:
        image_format(args.output)
        check_output(args.output, inputs=(args.model,))
    model = load_model(args.model)
    mode = model_mode(model, args.model)
    args.dims = resolve_dims(model, mode, args.dims, args.model)
    grid = render_grid(
        model, args.size, args.model, limit=args.zarr is None, dims=args.dims, mode=mode
    )
    if args.zarr is not None:
        _render_zarr(model, mode, grid, args)
    else:
        start = time.perf_counter()
        rendered = METHODS[args.method](model, mode, grid, args)
        elapsed = time.perf_counter() - start
        write_image(rendered.image, args.output)
        print(
            f"wrote {args.output}: {rendered.description}, K={model.n_components}, "
            f"{grid.width}x{grid.height} pixels, rendered in {ms(elapsed)}"
        )
    if args.method in ("contour", "density", "labels"):
        note = marginal_note(model, mode, args.dims, grid)
        if note:
            print(note)


def marginal_note(model, mode, dims, grid) -> str | None:
    """What a density, contour or labels render drew, when it is not simply the picture's
    (x, y) density of an (x, y) model: the marginal of which features, and their ranges."""
    names = feature_names(model, mode)
    across, down = (names[d] for d in dims)
    d = model.n_features
    if d == 2 and tuple(dims) == (0, 1):
        return None
    what = (
        f"drew the ({across}, {down}) marginal of a {d}-feature model ({', '.join(names)})"
        if d > 2
        else f"drew features ({across}, {down})"
    )
    if tuple(dims) == (0, 1):
        return what + "; --dims chooses two other features"
    x0, x1 = grid.x_range
    y0, y1 = grid.y_range
    return (
        f"{what}: {across} across from {x0:.4g} to {x1:.4g}, {down} down from {y0:.4g} to {y1:.4g}"
    )


def _render_zarr(model, mode, grid, args) -> None:
    """``render --zarr``: the log-density, labels or conditional mean of every pixel, written
    block by block into a Zarr store with gmmfast.dask (memory: a few blocks)."""
    try:
        from ..dask import render_to_zarr
    except ImportError:
        raise CommandError('--zarr needs Dask and Zarr: pip install "gmmfast[dask]"') from None
    if args.method == "mean" and mode != "color":
        raise CommandError(f"--method mean needs a colour model; {args.model} is not one")
    chunks = args.chunks if args.chunks is not None else 1024
    if os.path.lexists(args.zarr):
        raise CommandError(f"{args.zarr} exists already: choose a new path")
    parent = os.path.dirname(os.path.abspath(args.zarr))
    if not os.path.isdir(parent):
        raise CommandError(f"cannot write {args.zarr}: no such directory {parent}")
    start = time.perf_counter()
    # render_to_zarr writes into a temporary store beside the path and moves it into place
    # when complete; on failure or Ctrl-C it removes it, so nothing is left at the path.
    try:
        dims = {"dims": args.dims} if args.method != "mean" else {}
        render_to_zarr(
            model,
            args.zarr,
            grid,
            ZARR_METHODS[args.method],
            chunks=chunks,
            rtol=args.rtol,
            **dims,
        )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"nothing was written to {args.zarr}") from None
    except OSError as exc:
        raise CommandError(
            f"cannot write {args.zarr}: {exc.strerror or exc} (nothing was left at that path)"
        ) from None
    elapsed = time.perf_counter() - start
    print(
        f"wrote {args.zarr}: {args.method} of K={model.n_components}, {grid.width}x{grid.height} "
        f"pixels in blocks of {chunks}x{chunks}, rendered in {ms(elapsed)}"
    )


def add_parser(commands) -> None:
    """Add ``gmmfast render`` to the sub-parsers ``commands``."""
    render = commands.add_parser(
        "render",
        formatter_class=HELP_FORMAT,
        help="render a model file as a picture",
        description=(
            "Render a model file on a pixel grid, by default at the size of the picture it\n"
            "was fitted on.\n\n"
            "methods:\n"
            "  density   density of (x, y), dense = dark; --mapping linear (density / max),\n"
            "            log (3 decades below the max) or piecewise (--knots x,y ...: ink y\n"
            "            at relative density x; default '0,0 0.05,0 0.3,0.9 1,1');\n"
            "            --colormap NAME for colours through matplotlib\n"
            "  contour   log-density contours, --levels N over 3 decades below the max\n"
            "  samples   bw: pixels that got a sample dark; colour: mean colour of the samples\n"
            "            in each pixel; --samples N, --random-state S, --background COLOUR\n"
            "            for pixels no sample landed on (default white) or 'fill' (colour:\n"
            "            the mean of the nearest samples around)\n"
            "  mean      colour models: the conditional mean colour E[r, g, b | x, y]\n"
            "  labels    the most responsible component of each pixel, one colour each\n\n"
            "density, contour and labels draw the marginal of two features, by default\n"
            "(x, y): on a colour model that is where its components sit, whatever their\n"
            "colour (the output says so). --dims r,g (names x, y, r, g, b or indices from\n"
            "0) draws another pair: the first across, the second down, x and y over the\n"
            "source picture and r, g, b over 0-255 (256 pixels at the default size)."
        ),
        epilog=(
            "examples:\n"
            "  gmmfast render drawing.npz -o density.png\n"
            "  gmmfast render drawing.npz --mapping piecewise --knots '0,0 0.1,0 0.3,1 1,1' "
            "-o d.png\n"
            "  gmmfast render photo.npz --method mean --size 1280x854 -o mean.png\n"
            "  gmmfast render drawing.npz --method samples --samples 200000 -o samples.png\n"
            "  gmmfast render photo.npz --method samples --background fill -o samples.png\n"
            "  gmmfast render photo.npz --dims r,g --mapping log -o colours.png\n"
            "  gmmfast render drawing.npz --size 20000x13344 --rtol 1e-9 --zarr big.zarr"
        ),
    )
    render.add_argument("model", metavar="MODEL.npz", help="a model file from 'gmmfast fit'")
    render.add_argument(
        "--method",
        choices=tuple(METHODS),
        default="density",
        help="what to draw (default: density; see above)",
    )
    render.add_argument(
        "-o",
        "--output",
        metavar="OUT.png",
        help="the picture (PNG; the extension picks the format)",
    )
    render.add_argument(
        "--zarr",
        metavar="PATH",
        help="instead of a picture, store the numbers (log-density, labels or mean colours) "
        "in a new Zarr store, block by block: for renders larger than memory "
        '(needs pip install "gmmfast[dask]")',
    )
    render.add_argument(
        "--chunks",
        type=positive_int,
        metavar="N",
        help="--zarr: blocks of NxN pixels (default 1024)",
    )
    render.add_argument(
        "--size",
        type=parse_size,
        metavar="WxH",
        help="pixels of the picture (default: the source image's size)",
    )
    render.add_argument(
        "--mapping",
        choices=("linear", "log", "piecewise"),
        help="density: tone mapping (default: linear)",
    )
    render.add_argument(
        "--knots", type=parse_knots, metavar="'X,Y ...'", help="piecewise: the curve"
    )
    render.add_argument("--colormap", metavar="NAME", help="density: matplotlib colour map")
    render.add_argument(
        "--levels", type=bounded_int(MAX_LEVELS), metavar="N", help="contour: levels (4)"
    )
    render.add_argument(
        "--contour-style",
        choices=("auto", "matplotlib", "raster"),
        help="contour: matplotlib's lines, or raster lines without matplotlib (auto: "
        "matplotlib if installed)",
    )
    render.add_argument(
        "--samples",
        type=bounded_int(MAX_SAMPLES),
        metavar="N",
        help="samples: how many (1e5 bw, 1e6 colour)",
    )
    render.add_argument("--random-state", type=seed_type, metavar="S", help="samples: seed (0)")
    render.add_argument(
        "--background",
        type=parse_background,
        metavar="COLOUR|fill",
        help="samples: colour of the pixels no sample landed on (white, black, #rrggbb, ...; "
        "default white), or fill (colour models: the mean colour of the nearest samples)",
    )
    render.add_argument(
        "--dims",
        type=parse_dims,
        metavar="A,B",
        help="density, contour, labels: the two features drawn, across and down (default "
        "x,y; e.g. r,g or 2,3)",
    )
    render.add_argument(
        "--rtol",
        type=rtol_type,
        default=0.0,
        metavar="R",
        help="relative error allowed for speed, as in gmmfast.log_density_grid (default: 0, exact)",
    )
    render.set_defaults(func=run)
