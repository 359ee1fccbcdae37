"""The ``gmmfast`` command line (also ``python -m gmmfast``).

    gmmfast demo [--out DIR] [--refit]
    gmmfast fit IMAGE --mode bw|color -k N [...] -o MODEL.npz
    gmmfast render MODEL.npz --method density|contour|samples|mean|labels [...] -o OUT.png
    gmmfast render MODEL.npz --method density|labels|mean --zarr PATH [--chunks N]
    gmmfast info MODEL.npz

Exit status: 0 on success; 1 when a command fails on its inputs (a missing or unreadable file,
an image where a model file is expected or the reverse, a model file that is truncated, foreign
or tampered with, K larger than the number of points, a file that cannot be written, not
enough memory); 2 for a usage error (unknown option, a bad value such as ``--size 0x5``, an
option that does not apply to the chosen method); 130 when interrupted. Every such error is one
line ``gmmfast: error: ...`` on stderr, without a traceback; anything else is a bug and keeps
its traceback.

Files: inputs are read only if they are regular files (a FIFO or a device is refused, never
waited on); every output is written to a temporary file beside it and renamed into place
(``gmmfast._files``), so a failed or interrupted command leaves the user's files as they were;
an output that names an input is refused. Text printed from a file has its control characters
escaped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

# Largest side and pixel count ``render --size`` accepts for a picture: a float64 image of 2^26
# pixels is half a gigabyte; larger renders go to a Zarr store (``--zarr``), block by block.
MAX_SIDE = 16384
MAX_PIXELS = 2**26
# Largest side of a Zarr render: a sanity bound (2^20 × 2^20 float64 would be 8 TiB).
MAX_ZARR_SIDE = 2**20
# Samples drawn by ``render --method samples`` (and the demo) unless --samples says otherwise:
# about one for every three pixels of a 640 × 427 line drawing (a stippled copy of it), and
# four per pixel for a colour picture, enough to give most pixels a mean colour.
DEFAULT_SAMPLES = {"bw": 100_000, "color": 1_000_000}
# Largest --samples: the count gmmfast.sample_image accepts (a 64-bit signed integer).
MAX_SAMPLES = 2**63 - 1
# Largest --levels: more contour lines than any picture can show apart.
MAX_LEVELS = 1000
FEATURE_NAMES = {"bw": ("x", "y"), "color": ("x", "y", "r", "g", "b")}
MODE_TEXT = {
    "bw": "black and white: (x, y) of the dark pixels",
    "color": "colour: (x, y, r, g, b) of every pixel",
}


class CommandError(Exception):
    """A failure on the user's inputs, reported as one line (exit status 1)."""

    status = 1


class UsageError(CommandError):
    """A usage error found after parsing (exit status 2, as argparse's own)."""

    status = 2


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line ``gmmfast: error: ...`` instead of usage + error."""

    def error(self, message):
        sys.stderr.write(f"gmmfast: error: {_one_line(message)} (see '{self.prog} --help')\n")
        sys.exit(2)


def _one_line(message) -> str:
    """A message on one line, safe to print: messages of PIL, NumPy or zipfile may hold
    newlines, and text from a file may hold terminal escapes."""
    return printable(" ".join(str(message).split()))


def printable(text: str) -> str:
    """``text`` with every non-printable character (ESC, CR, BEL, DEL, C1 controls, bidi
    overrides, ...) written as a Python escape, so that text read from a file cannot move the
    cursor, set the title, clear the screen or forge lines on a terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# ---------------------------------------------------------------------------------------------
# Argument types: each raises ArgumentTypeError, which argparse turns into a usage error.


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _number(text: str, convert, accept, expected: str):
    """``convert(text)`` if it parses and ``accept``s it, else an ArgumentTypeError naming
    what was ``expected`` and what was given."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not accept(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _bounded_int(maximum: int):
    """An argument type: a positive integer at most ``maximum``."""

    def convert(text: str) -> int:
        return _number(
            text, int, lambda v: 1 <= v <= maximum, f"a positive integer at most {maximum}"
        )

    return convert


def _seed(text: str) -> int:
    return _number(text, int, lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)")


def _threshold(text: str) -> float:
    return _number(text, float, lambda v: 0 < v <= 255, "a grey level in (0, 255]")


def _rtol(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def parse_dims(text: str) -> tuple:
    """``"A,B"``: two features, each a name (x, y, r, g, b) or a 0-based index, checked
    against the model once it is loaded (:func:`resolve_dims`)."""
    parts = tuple(part.strip() for part in text.split(","))
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected two features separated by a comma, e.g. x,y or r,g or 2,3, got {text!r}"
        )
    return parts


def parse_background(text: str):
    """``fill`` or a colour as PIL reads it (a name such as white or black, #rrggbb, #rgb,
    rgb(r, g, b)): the string ``"fill"`` or an (r, g, b) tuple of ints in 0–255."""
    from PIL import ImageColor

    if text.strip().lower() == "fill":
        return "fill"
    try:
        colour = ImageColor.getrgb(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a colour (white, black, #rrggbb, ...) or fill, got {text!r}"
        ) from None
    return tuple(int(v) for v in colour[:3])


def parse_size(text: str) -> tuple:
    """``"WxH"`` as (width, height): positive ints, each side at most MAX_ZARR_SIDE (a picture
    is held to MAX_SIDE and MAX_PIXELS when it is drawn)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT in pixels, e.g. 640x427, got {text!r}"
        )
    width, height = int(match[1]), int(match[2])
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"width and height must be at least 1, got {text!r}")
    if max(width, height) > MAX_ZARR_SIDE:
        raise argparse.ArgumentTypeError(
            f"{width}x{height} is too large: at most {MAX_ZARR_SIDE} pixels a side"
        )
    return width, height


def _too_large(width: int, height: int) -> bool:
    return max(width, height) > MAX_SIDE or width * height > MAX_PIXELS


def parse_knots(text: str) -> tuple:
    """``"x,y x,y ..."`` (pairs separated by spaces or semicolons) as a tuple of pairs,
    validated as :func:`gmmfast.image.piecewise` requires."""
    from ._tone import check_knots

    try:
        pairs = [tuple(float(v) for v in pair.split(",")) for pair in re.split(r"[\s;]+", text)]
        xs, ys = check_knots(pairs)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected pairs x,y separated by spaces, e.g. '0,0 0.05,0 0.3,0.9 1,1' ({exc})"
        ) from None
    return tuple(zip(xs.tolist(), ys.tolist()))


# ---------------------------------------------------------------------------------------------
# Files in and out, with the errors a user can cause turned into one-line messages.


def _is_image(path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path):
                return True
    except Image.DecompressionBombError:
        return True
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def read_image(path: str) -> np.ndarray:
    """The picture at ``path`` as float64 on 0–255, (h, w) grey or (h, w, 3) RGB, transparency
    composited over white (:func:`gmmfast.image.as_array`); pass it on with ``scale=255``."""
    from PIL import Image

    from . import _io
    from .image import as_array

    check_input(path)
    try:
        # Pillow only warns between its pixel limit and twice that (two lines of warning,
        # then perhaps a MemoryError): refuse those pictures as it refuses larger ones.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return as_array(path)
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CommandError(
            f"cannot read {path}: {exc} (gmmfast reads pictures of at most "
            f"{Image.MAX_IMAGE_PIXELS:,} pixels, Pillow's limit)"
        ) from None
    except ValueError as exc:
        try:
            _io.load(path)
        except (ValueError, OSError):
            raise CommandError(str(exc)) from None
        raise CommandError(
            f"{path} is a gmmfast model file, not an image (render it with: "
            f"gmmfast render {path} -o OUT.png)"
        ) from None


def check_input(path) -> None:
    """Refuse (one line) an input that cannot be read as a regular file: missing, a
    directory, unreadable, a FIFO or a device (reading those would block or fail later)."""
    from ._files import NotRegularFileError, check_regular

    try:
        check_regular(path)
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except NotRegularFileError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None


def check_output(path, inputs=()) -> None:
    """Refuse, before any work, an output that names one of ``inputs`` (the same file by any
    name: links included), is a directory, or lies in a directory that does not exist."""
    from ._files import same_file

    for source in inputs:
        if same_file(path, source):
            raise CommandError(
                f"the output {path} is the input {source}: gmmfast never overwrites its input; "
                f"choose another output file"
            )
    if os.path.isdir(path):
        raise CommandError(f"cannot write {path}: it is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CommandError(f"cannot write {path}: no such directory {parent}")


def load_model(path: str):
    """The :class:`gmmfast.Mixture` in model file ``path``."""
    from ._files import NotRegularFileError
    from ._io import load

    try:
        return load(path)
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except OSError as exc:  # PermissionError, IsADirectoryError, ...: said as they are
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except NotRegularFileError as exc:  # never opened as an image either: it would block
        raise CommandError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:  # load reports every other unreadable file as a ValueError
        if _is_image(path):
            raise CommandError(
                f"{path} is an image, not a gmmfast model file (make a model with: "
                f"gmmfast fit {path} --mode bw|color -k N -o MODEL.npz)"
            ) from None
        raise CommandError(str(exc)) from None


def image_format(path) -> str:
    """PIL's format name for the extension of ``path`` (``CommandError`` if it has none)."""
    from PIL import Image

    extension = os.path.splitext(os.fspath(path))[1].lower()
    found = Image.registered_extensions().get(extension)
    if found is None or found not in Image.SAVE:
        raise CommandError(f"cannot write {path}: unknown file extension {extension!r}")
    return found


def write_image(pixels: np.ndarray, path) -> None:
    """Write a uint8 (h, w) grey or (h, w, 3) RGB image; the format follows the extension.

    Written to a temporary file beside ``path`` and renamed over it when complete: a failed
    write leaves a file already at ``path`` as it was.
    """
    from PIL import Image

    from ._files import replacing

    picture_format = image_format(path)
    try:
        with replacing(path) as handle:
            Image.fromarray(pixels).save(handle, format=picture_format)
    except ValueError as exc:  # PIL: a mode the format cannot hold
        raise CommandError(f"cannot write {path}: {exc}") from None
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def _model_mode(model, path: str) -> str | None:
    """'bw', 'color' or None (neither: a model saved from Python over other features)."""
    mode = model.metadata.get("mode")
    if mode is None:  # saved from Python without metadata: guess from the features
        mode = {2: "bw", 5: "color"}.get(model.n_features)
    elif mode not in FEATURE_NAMES:
        raise CommandError(f"{path} has an unknown mode {mode!r} in its metadata")
    if mode is not None and model.n_features != len(FEATURE_NAMES[mode]):
        raise CommandError(
            f"{path} says mode {mode!r} ({len(FEATURE_NAMES[mode])} features) but its "
            f"mixture has {model.n_features} features"
        )
    if model.n_features < 2:
        raise CommandError(f"{path} holds a mixture of 1 feature: it has no (x, y) to render")
    return mode


def source_size(model) -> tuple | None:
    """(width, height) of the image the model was fitted on, from its metadata."""
    width, height = model.metadata.get("width"), model.metadata.get("height")
    sizes = (width, height)
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes):
        return sizes
    return None


def resolve_dims(model, mode, given, path: str) -> tuple:
    """``--dims`` as two distinct feature indices of ``model`` ((0, 1) if not given)."""
    if given is None:
        return (0, 1)
    names = FEATURE_NAMES.get(mode, ())
    dims = []
    for token in given:
        if token.lower() in names:
            dims.append(names.index(token.lower()))
        elif token.isdigit() and int(token) < model.n_features:
            dims.append(int(token))
        else:
            known = f"{', '.join(names)} or " if names else ""
            raise UsageError(
                f"--dims: {path} has no feature {token!r}: it has {model.n_features} features "
                f"({known}0 to {model.n_features - 1})"
            )
    if dims[0] == dims[1]:
        raise UsageError(f"--dims needs two different features, got {','.join(given)}")
    return tuple(dims)


def _feature_names(model, mode) -> tuple:
    return FEATURE_NAMES.get(mode) or tuple(str(i) for i in range(model.n_features))


def _feature_extents(model, mode, dims) -> tuple:
    """(across, down): how many source pixels (x, y) or colour levels (r, g, b: 256) span
    each of ``dims``, None where the model does not say."""
    source = source_size(model) or (None, None)
    known = {0: source[0], 1: source[1]}
    if mode == "color":
        known.update({2: 256, 3: 256, 4: 256})
    return tuple(known.get(dim) for dim in dims)


def render_grid(model, size, path: str, limit: bool = True, dims=(0, 1), mode=None):
    """The grid of ``size`` pixels (default: the source image's) over the source picture.

    Pixel (i, j) of the source image is at (x=j, y=i), its pixels span [−½, w − ½] ×
    [−½, h − ½]; a grid of W × H pixels over the same picture has its centres at
    −½ + (j + ½)·w/W, which is exactly the source's own grid when W = w and H = h.

    With other ``dims`` (features across and down) each axis spans its feature the same way:
    x and y the source picture, a colour r, g or b its 256 levels (pixel centres 0 … 255 at
    the default size); a feature of unknown extent one unit per pixel, at ``size``.
    """
    from ._grid import Grid

    source = _feature_extents(model, mode, dims)
    if size is None:
        if tuple(dims) == (0, 1) and None in source:
            raise CommandError(
                f"{path} does not record the size of its source image: give --size WxH"
            )
        if None in source:
            raise CommandError(
                f"{path} does not say what range its features "
                f"{', '.join(_feature_names(model, mode)[d] for d in dims)} span: give "
                "--size WxH (one unit per pixel)"
            )
        if limit and _too_large(*source):
            raise CommandError(
                f"{path} records a source image of {source[0]}x{source[1]} pixels, more than "
                f"render draws (at most {MAX_SIDE} a side, {MAX_PIXELS} in all): give --size WxH"
            )
        size = source
    width, height = size
    src_w = width if source[0] is None else source[0]
    src_h = height if source[1] is None else source[1]

    def axis(n: int, src: int) -> tuple:
        half = 0.5 * src / n
        return (-0.5 + half, src - 0.5 - half)

    return Grid(width, height, axis(width, src_w), axis(height, src_h))


# ---------------------------------------------------------------------------------------------
# gmmfast render: a method computes its numbers (``data``) and the picture of them (``image``).
# Writing is separate: an output kind is one more function of a Rendered (PNG today).


class Rendered(NamedTuple):
    data: np.ndarray  # the model's numbers on the grid (log-density, counts, colours, labels)
    image: np.ndarray  # the picture: uint8 (h, w) grey or (h, w, 3) RGB
    description: str


def _density(model, mode, grid, args) -> Rendered:
    from ._density import log_density_grid
    from .image import colormap, linear, log, piecewise

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


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _contour(model, mode, grid, args) -> Rendered:
    from ._density import log_density_grid
    from .image import DEFAULT_LEVELS, contour_figure, contour_image, figure_to_rgb

    levels = args.levels or DEFAULT_LEVELS
    style = args.contour_style or "auto"
    if style == "auto":
        big_enough = grid.width >= 2 and grid.height >= 2
        style = "matplotlib" if big_enough and _matplotlib_available() else "raster"
    log_density = _drawable(log_density_grid(model, grid, args.dims, rtol=args.rtol), args)
    if style == "raster":
        return Rendered(log_density, contour_image(log_density, levels), "contours (raster)")
    if grid.width < 2 or grid.height < 2:
        raise CommandError("matplotlib contours need at least 2x2 pixels: use a larger --size")
    try:
        figure = contour_figure(model, grid, levels, dims=args.dims, rtol=args.rtol)
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    return Rendered(log_density, figure_to_rgb(figure), "contours (matplotlib)")


def _samples(model, mode, grid, args) -> Rendered:
    from ._sampling import sample_image
    from .image import to_uint8_rgb

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


def dots(counts: np.ndarray, background=(255, 255, 255)) -> np.ndarray:
    """A count image as a drawing: black where at least one sample landed, ``background``
    (an (r, g, b), default white) elsewhere; (h, w) grey if the background is grey, else
    (h, w, 3) RGB."""
    r, g, b = background
    if r == g == b:
        return np.where(counts > 0, 0, r).astype(np.uint8)
    out = np.empty((*counts.shape, 3), np.uint8)
    out[...] = background
    out[counts > 0] = 0
    return out


def fill_empty(colours: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean sampled colours with every empty pixel filled from its neighbours.

    ``colours`` (h, w, c) and ``counts`` (h, w) as :func:`gmmfast.sample_image` returns them
    with ``color_dims`` (NaN where no sample landed). A pixel without samples gets the mean
    colour of all the samples in the smallest square around it, 3 × 3, 5 × 5, ..., that holds
    any (the pixels with samples keep their own mean). NaN remains only if no sample landed
    anywhere.
    """
    colours = np.asarray(colours, dtype=np.float64)
    counts = np.asarray(counts)
    has = counts > 0
    sums = np.where(has[..., np.newaxis], colours, 0.0) * counts[..., np.newaxis]
    filled = colours.copy()
    if not has.any():
        return filled
    empty = ~has
    radius = 1
    # Whole-image box sums while many pixels wait; the last few (typically tens, in the
    # sparsest places) one by one, each with its own growing window.
    while np.count_nonzero(empty) > 256:
        n = _box_sum(counts, radius)
        take = empty & (n > 0)
        filled[take] = _box_sum(sums, radius)[take] / n[take][:, np.newaxis]
        empty &= ~take
        radius += 1
    for row, col in zip(*np.nonzero(empty)):
        r = radius
        while True:
            window = (slice(max(row - r, 0), row + r + 1), slice(max(col - r, 0), col + r + 1))
            n = counts[window].sum()
            if n > 0:
                filled[row, col] = sums[window].sum(axis=(0, 1)) / n
                break
            r += 1
    return filled


def _box_sum(array: np.ndarray, radius: int) -> np.ndarray:
    """Sum of ``array`` over the (2·radius + 1)² square around each pixel (clipped at the
    edges), over the first two axes, by a summed-area table."""
    table = np.cumsum(np.cumsum(array, axis=0), axis=1)
    table = np.pad(table, [(1, 0), (1, 0)] + [(0, 0)] * (array.ndim - 2))
    height, width = array.shape[:2]
    rows, cols = np.arange(height), np.arange(width)
    r0, r1 = np.clip(rows - radius, 0, height), np.clip(rows + radius + 1, 0, height)
    c0, c1 = np.clip(cols - radius, 0, width), np.clip(cols + radius + 1, 0, width)
    return table[r1][:, c1] - table[r0][:, c1] - table[r1][:, c0] + table[r0][:, c0]


def _mean(model, mode, grid, args) -> Rendered:
    from ._conditional import conditional_mean_grid
    from .image import to_uint8_rgb

    if mode != "color":
        raise CommandError(
            f"--method mean needs a colour model (x, y, r, g, b); {args.model} is "
            + ("a black-and-white model" if mode == "bw" else f"{model.n_features}-feature")
        )
    mean = conditional_mean_grid(model, grid, rtol=args.rtol)
    return Rendered(mean, to_uint8_rgb(mean), "conditional mean E[r, g, b | x, y]")


def label_colours(n_components: int) -> np.ndarray:
    """A fixed palette of distinct-looking colours, (n_components, 3) uint8 (seeded)."""
    rng = np.random.default_rng(0)
    return rng.integers(40, 256, size=(n_components, 3)).astype(np.uint8)


def _labels(model, mode, grid, args) -> Rendered:
    from ._density import label_grid

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
_METHOD_OPTIONS = {
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


def cmd_render(args) -> None:
    for attr, (flag, methods) in _METHOD_OPTIONS.items():
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
    elif args.size is not None and _too_large(*args.size):
        raise UsageError(
            f"{args.size[0]}x{args.size[1]} is too large for a picture: at most {MAX_SIDE} "
            f"pixels a side and {MAX_PIXELS} in all (use --zarr PATH for larger renders)"
        )
    if args.output is not None:
        image_format(args.output)
        check_output(args.output, inputs=(args.model,))
    model = load_model(args.model)
    mode = _model_mode(model, args.model)
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
            f"{grid.width}x{grid.height} pixels, rendered in {_ms(elapsed)}"
        )
    if args.method in ("contour", "density", "labels"):
        note = marginal_note(model, mode, args.dims, grid)
        if note:
            print(note)


def marginal_note(model, mode, dims, grid) -> str | None:
    """What a density, contour or labels render drew, when it is not simply the picture's
    (x, y) density of an (x, y) model: the marginal of which features, and their ranges."""
    names = _feature_names(model, mode)
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
        from .dask import render_to_zarr
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
        f"pixels in blocks of {chunks}x{chunks}, rendered in {_ms(elapsed)}"
    )


# ---------------------------------------------------------------------------------------------
# gmmfast fit


def cmd_fit(args) -> None:
    from ._io import save
    from .image import bw_points, color_points, fit

    if args.threshold is not None and args.mode != "bw":
        raise UsageError("--threshold applies to --mode bw only")
    check_output(args.output, inputs=(args.image,))
    image = read_image(args.image)
    height, width = image.shape[:2]
    threshold = 128.0 if args.threshold is None else args.threshold
    if args.mode == "bw":
        try:
            points = bw_points(image, threshold, scale=255)
        except ValueError as exc:
            raise CommandError(f"{args.image}: {exc}") from None
    else:
        points = color_points(image, scale=255)
    n_points = len(points)
    if args.subsample is not None and args.subsample < n_points:
        rng = np.random.default_rng(args.random_state)
        points = points[rng.choice(n_points, args.subsample, replace=False)]
    what = "dark pixels" if args.mode == "bw" else "pixels"
    if len(points) < 2:  # scikit-learn's EM needs two points, whatever K
        raise CommandError(
            f"{args.image} has only {len(points)} {what[:-1]}"
            + (" after --subsample" if len(points) < n_points else "")
            + ": a mixture is fitted on at least 2 training points"
        )
    if args.k > len(points):
        raise CommandError(
            f"-k {args.k} is larger than the number of training points: {args.image} has "
            f"{len(points)} {what}" + (" after --subsample" if len(points) < n_points else "")
        )
    progress = {True: True, False: False, None: "auto"}[args.progress]
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = fit(
                points,
                args.k,
                args.covariance_type,
                max_iter=args.max_iter,
                random_state=args.random_state,
                progress=progress,
            )
        except ValueError as exc:  # scikit-learn on these points, e.g. ill-defined covariances
            raise CommandError(f"cannot fit {args.image}: {exc}") from None
    elapsed = time.perf_counter() - start
    for warning in caught:
        _warn_fit(warning, args)
    metadata = {
        "mode": args.mode,
        "width": width,
        "height": height,
        "source": os.path.basename(args.image),
        "n_training_points": len(points),
        "converged": bool(estimator.converged_),
        "n_iter": int(estimator.n_iter_),
    }
    if args.mode == "bw":
        metadata["threshold"] = threshold
    try:
        save(estimator, args.output, **metadata)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    verdict = "converged" if estimator.converged_ else "did not converge"
    print(
        f"wrote {args.output}: K={args.k} {args.covariance_type}-covariance components fitted "
        f"on {len(points)} points ({', '.join(FEATURE_NAMES[args.mode])}) of {args.image} "
        f"({width}x{height}) in {elapsed:.1f} s; {verdict} after {estimator.n_iter_} EM "
        f"iterations, lower bound {estimator.lower_bound_:.4f}"
    )


def _warn_fit(warning, args) -> None:
    from sklearn.exceptions import ConvergenceWarning

    message = " ".join(str(warning.message).split())
    if issubclass(warning.category, ConvergenceWarning) and "did not converge" in message:
        message = f"EM did not converge in {args.max_iter} iterations (raise --max-iter)"
    print(f"gmmfast: warning: {printable(message)}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# gmmfast info


def cmd_info(args) -> None:
    from ._io import FORMAT, FORMAT_VERSION

    model = load_model(args.model)
    mode = _model_mode(model, args.model)
    names = FEATURE_NAMES.get(mode) or tuple(f"feature {i}" for i in range(model.n_features))
    size = source_size(model)
    lines = [
        ("file", f"{args.model} ({os.path.getsize(args.model):,} bytes)"),
        ("format", f"{FORMAT}, version {FORMAT_VERSION}"),
        (
            "mixture",
            f"K={model.n_components} components of {model.n_features} features, "
            f"'{model.covariance_type}' covariances",
        ),
        ("mode", MODE_TEXT.get(mode, "unknown (no 'mode' in the metadata)")),
        ("source image", _source_text(model, size)),
        ("weights", f"{model.weights.min():.4g} to {model.weights.max():.4g}"),
    ]
    for name, lo, hi in zip(names, model.means.min(axis=0), model.means.max(axis=0)):
        lines.append((f"means of {name}", f"{lo:.4g} to {hi:.4g}"))
    for key in sorted(model.metadata):
        lines.append((f"metadata {key}", json.dumps(model.metadata[key])))
    # Everything here may come from the file (metadata keys and values, the source name):
    # escaped, so that the file cannot write terminal escapes or forge lines.
    lines = [(printable(label), printable(text)) for label, text in lines]
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        print(f"{label + ':':<{width}}{text}")


def _source_text(model, size) -> str:
    source = model.metadata.get("source", "unknown")
    return f"{source}, {size[0]}x{size[1]} pixels" if size else f"{source}, size unknown"


# ---------------------------------------------------------------------------------------------
# gmmfast demo


def cmd_demo(args) -> None:
    from . import datasets
    from ._conditional import conditional_mean_grid
    from ._density import label_grid, log_density_grid
    from ._grid import Grid
    from ._sampling import sample_image
    from .image import (
        colormap,
        contact_sheet,
        contour_figure,
        contour_image,
        figure_to_rgb,
        linear,
        log,
        piecewise,
        to_uint8_rgb,
    )

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {out}: {exc.strerror or exc}") from None
    have_matplotlib = _matplotlib_available()
    begin = time.perf_counter()
    models = {}
    for name in ("china-bw", "flower-color"):
        spec = datasets.DEMO_MODELS[name]
        if args.refit:
            print(
                f"refitting {name}: K={spec['n_components']} on {spec['image']} "
                f"(minutes; progress on stderr)",
                flush=True,
            )
            start = time.perf_counter()
            models[name] = datasets.fit_demo_model(name, progress=True)
            print(f"  refitted {name} in {time.perf_counter() - start:.1f} s", flush=True)
        else:
            models[name] = datasets.demo_model(name)
    china, flower = models["china-bw"], models["flower-color"]
    size = source_size(china)
    grid = Grid(*size)
    source = "refitted now" if args.refit else "shipped with gmmfast"
    print(f"gmmfast demo: writing to {out}/ (models {source})")

    tiles: dict = {}  # file name -> (pixels, label), for the contact sheet

    def emit(filename: str, label: str, render: Callable[[], np.ndarray], what: str) -> None:
        start = time.perf_counter()
        pixels = render()
        elapsed = time.perf_counter() - start
        write_image(pixels, out / filename)
        tiles[filename] = (pixels, label)
        print(f"  {_ms(elapsed):>8}  {out / filename}  {what}", flush=True)

    print(
        f"china-bw: K={china.n_components} full covariances over (x, y) of the dark pixels of "
        f"the line drawing of china.jpg, {grid.width}x{grid.height} pixels"
    )
    n_bw, n_color = DEFAULT_SAMPLES["bw"], DEFAULT_SAMPLES["color"]
    emit("china_edges.png", "china.jpg as a line drawing", datasets.china_edges, "training image")
    emit(
        "china_density_linear.png",
        "density, linear mapping",
        lambda: linear(log_density_grid(china, grid)),
        "log-density, linear mapping",
    )
    emit(
        "china_density_piecewise.png",
        "density, piecewise mapping",
        lambda: piecewise(log_density_grid(china, grid)),
        "log-density, piecewise mapping (only high probabilities dark)",
    )
    if have_matplotlib:
        emit(
            "china_contour.png",
            "log-density contours",
            lambda: figure_to_rgb(contour_figure(china, grid)),
            "log-density contours (matplotlib)",
        )
    else:
        emit(
            "china_contour.png",
            "log-density contours",
            lambda: contour_image(log_density_grid(china, grid)),
            "log-density contours (raster: matplotlib is not installed)",
        )
    emit(
        "china_samples.png",
        f"{n_bw:,} samples",
        lambda: dots(sample_image(china, n_bw, grid, random_state=0)),
        f"{n_bw:,} samples, pixels with any drawn dark",
    )

    if have_matplotlib:
        emit(
            "china_density_magma.png",
            "china density, log, magma",
            lambda: colormap(log_density_grid(china, grid), "magma", mapping="log"),
            "china-bw log-density, log mapping through matplotlib's 'magma'",
        )
    else:
        emit(
            "china_density_log.png",
            "china density, log mapping",
            lambda: log(log_density_grid(china, grid)),
            "china-bw log-density, log mapping (grey: matplotlib is not installed)",
        )
    print(
        f"flower-color: K={flower.n_components} full covariances over (x, y, r, g, b) of "
        f"flower.jpg, {grid.width}x{grid.height} pixels"
    )
    emit("flower.png", "flower.jpg", datasets.flower, "training image")
    emit(
        "flower_mean.png",
        "E[r, g, b | x, y]",
        lambda: to_uint8_rgb(conditional_mean_grid(flower, grid)),
        "conditional mean colour E[r, g, b | x, y]",
    )
    # Filled: about 6 % of the pixels get no sample, and white speckles over the dark leaves
    # do not look like the picture (render --background white shows them).
    emit(
        "flower_samples.png",
        f"{n_color:,} samples, mean colour",
        lambda: to_uint8_rgb(
            fill_empty(*sample_image(flower, n_color, grid, color_dims=(2, 3, 4), random_state=0))
        ),
        f"{n_color:,} samples, mean colour per pixel, empty pixels filled from their "
        "neighbours (render --background fill)",
    )
    palette = label_colours(flower.n_components)
    emit(
        "flower_labels.png",
        "labels: most responsible component",
        lambda: palette[label_grid(flower, grid)],
        "most responsible component of the (x, y) marginal",
    )

    # Two rows of five: the black-and-white workload, then the colour one (with the colour
    # density image of the drawing, which fills the row).
    order = [
        "china_edges.png",
        "china_density_linear.png",
        "china_density_piecewise.png",
        "china_contour.png",
        "china_samples.png",
        "flower.png",
        "flower_mean.png",
        "flower_samples.png",
        "flower_labels.png",
        "china_density_magma.png" if have_matplotlib else "china_density_log.png",
    ]
    start = time.perf_counter()
    sheet = contact_sheet(
        [tiles[name][0] for name in order], [tiles[name][1] for name in order], columns=5
    )
    write_image(sheet, out / "contact_sheet.png")
    print(f"  {_ms(time.perf_counter() - start):>8}  {out / 'contact_sheet.png'}  contact sheet")
    print(f"done in {time.perf_counter() - begin:.1f} s: {len(tiles) + 1} files in {out}/")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


# ---------------------------------------------------------------------------------------------
# The parser


_HELP = argparse.RawDescriptionHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gmmfast",
        formatter_class=_HELP,
        description=(
            "Fit Gaussian mixtures on pictures and render them back, fast and exactly.\n\n"
            "Exit status: 0 success, 1 failure (bad or missing file, K too large, ...),\n"
            "2 usage error. Errors are one line 'gmmfast: error: ...' on stderr."
        ),
        epilog=(
            "examples:\n"
            "  gmmfast demo            # renders of the shipped models, no files needed\n"
            "  gmmfast fit photo.jpg --mode color -k 200 -o photo.npz\n"
            "  gmmfast render photo.npz --method mean -o mean.png\n"
            "  gmmfast info photo.npz\n\n"
            "'gmmfast COMMAND --help' describes each command."
        ),
    )
    from ._core import __version__

    parser.add_argument("--version", action="version", version=f"gmmfast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        formatter_class=_HELP,
        help="render the shipped demo models (no files of yours needed)",
        description=(
            "The main job on scikit-learn's bundled sample images: china.jpg as a black-and-\n"
            "white line drawing (K=500) and flower.jpg in colour (K=1000), with the models\n"
            "fitted on them that ship inside gmmfast. Writes the training images, density\n"
            "images (linear and piecewise mappings), a contour plot (matplotlib's if it is\n"
            "installed, else a raster one), sample images, the conditional-mean colour image,\n"
            "the components' labels and contact_sheet.png with all of them side by side, and\n"
            "prints how long each render took. A few seconds on two cores."
        ),
        epilog="examples:\n  gmmfast demo\n  gmmfast demo --out /tmp/demo --refit",
    )
    demo.add_argument(
        "--out",
        default="gmmfast-demo",
        metavar="DIR",
        help="output directory, created if needed (default: ./gmmfast-demo)",
    )
    demo.add_argument(
        "--refit",
        action="store_true",
        help="fit both models anew with scikit-learn first, showing EM progress: slow "
        "(minutes to tens of minutes on two cores: K=500 on 22k points, K=1000 on 50k)",
    )
    demo.set_defaults(func=cmd_demo)

    fit = commands.add_parser(
        "fit",
        formatter_class=_HELP,
        help="fit a mixture on a picture and save it as a model file",
        description=(
            "Fit a scikit-learn GaussianMixture on a picture and save it (.npz, read without\n"
            "pickle). --mode bw fits (x, y) of the dark pixels (grey level below\n"
            "--threshold), --mode color fits (x, y, r, g, b) of every pixel; x is the column,\n"
            "y the row. The file records the mode and the picture's size, so 'gmmfast render'\n"
            "knows what to draw and at what size. EM progress is shown on a terminal."
        ),
        epilog=(
            "examples:\n"
            "  gmmfast fit drawing.png --mode bw -k 500 -o drawing.npz\n"
            "  gmmfast fit photo.jpg --mode color -k 1000 --subsample 50000 -o photo.npz"
        ),
    )
    fit.add_argument("image", metavar="IMAGE", help="the picture (PNG, JPEG, ...)")
    fit.add_argument("--mode", required=True, choices=("bw", "color"), help="training points")
    fit.add_argument("-k", required=True, type=_positive_int, metavar="N", help="components")
    fit.add_argument("-o", "--output", required=True, metavar="MODEL.npz", help="model file")
    fit.add_argument(
        "--threshold",
        type=_threshold,
        metavar="T",
        help="bw: pixels with grey level below T are dark (default: 128)",
    )
    fit.add_argument(
        "--covariance-type",
        choices=("full", "tied", "diag", "spherical"),
        default="full",
        help="scikit-learn's covariance_type (default: full)",
    )
    fit.add_argument(
        "--max-iter", type=_positive_int, default=100, metavar="N", help="EM iterations (100)"
    )
    fit.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        metavar="S",
        help="seed of the k-means initialisation and of --subsample (default: 0, so the "
        "same command gives the same model)",
    )
    fit.add_argument(
        "--subsample",
        type=_positive_int,
        metavar="N",
        help="fit on N points drawn at random without replacement (large colour pictures)",
    )
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show EM iterations on stderr (default: only on a terminal)",
    )
    fit.set_defaults(func=cmd_fit)

    render = commands.add_parser(
        "render",
        formatter_class=_HELP,
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
        type=_positive_int,
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
        "--levels", type=_bounded_int(MAX_LEVELS), metavar="N", help="contour: levels (4)"
    )
    render.add_argument(
        "--contour-style",
        choices=("auto", "matplotlib", "raster"),
        help="contour: matplotlib's lines, or raster lines without matplotlib (auto: "
        "matplotlib if installed)",
    )
    render.add_argument(
        "--samples",
        type=_bounded_int(MAX_SAMPLES),
        metavar="N",
        help="samples: how many (1e5 bw, 1e6 colour)",
    )
    render.add_argument("--random-state", type=_seed, metavar="S", help="samples: seed (0)")
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
        type=_rtol,
        default=0.0,
        metavar="R",
        help="relative error allowed for speed, as in gmmfast.log_density_grid (default: 0, exact)",
    )
    render.set_defaults(func=cmd_render)

    info = commands.add_parser(
        "info",
        formatter_class=_HELP,
        help="describe a model file",
        description="What a model file holds: the mixture, its mode, source image and metadata.",
        epilog="example:\n  gmmfast info drawing.npz",
    )
    info.add_argument("model", metavar="MODEL.npz", help="a model file")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv=None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    try:
        args.func(args)
    except CommandError as exc:
        print(f"gmmfast: error: {_one_line(exc)}", file=sys.stderr)
        return exc.status
    except MemoryError as exc:
        detail = f": {_one_line(exc)}" if str(exc) else ""
        print(f"gmmfast: error: not enough memory{detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        detail = f": {_one_line(exc)}" if str(exc) else ""
        print(f"gmmfast: interrupted{detail}", file=sys.stderr)
        return 130
    return 0
