"""Argument types (each raises ``ArgumentTypeError``, which argparse turns into a usage error)
and the limits they enforce."""

from __future__ import annotations

import argparse
import re

# Largest side and pixel count ``render --size`` accepts for a picture: a float64 image of 2^26
# pixels is half a gigabyte; larger renders go to a Zarr store (``--zarr``), block by block.
MAX_SIDE = 16384


MAX_PIXELS = 2**26


# Largest side of a Zarr render: a sanity bound (2^20 × 2^20 float64 would be 8 TiB).
MAX_ZARR_SIDE = 2**20


# Largest --samples: the count gmmfast.sample_image accepts (a 64-bit signed integer).
MAX_SAMPLES = 2**63 - 1


# Largest --levels: more contour lines than any picture can show apart.
MAX_LEVELS = 1000


def positive_int(text: str) -> int:
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


def bounded_int(maximum: int):
    """An argument type: a positive integer at most ``maximum``."""

    def convert(text: str) -> int:
        return _number(
            text, int, lambda v: 1 <= v <= maximum, f"a positive integer at most {maximum}"
        )

    return convert


def seed_type(text: str) -> int:
    return _number(text, int, lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)")


def threshold_type(text: str) -> float:
    return _number(text, float, lambda v: 0 < v <= 255, "a grey level in (0, 255]")


def rtol_type(text: str) -> float:
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


def too_large(width: int, height: int) -> bool:
    return max(width, height) > MAX_SIDE or width * height > MAX_PIXELS


def parse_knots(text: str) -> tuple:
    """``"x,y x,y ..."`` (pairs separated by spaces or semicolons) as a tuple of pairs,
    validated as :func:`gmmfast.image.piecewise` requires."""
    from .._tone import check_knots

    try:
        pairs = [tuple(float(v) for v in pair.split(",")) for pair in re.split(r"[\s;]+", text)]
        xs, ys = check_knots(pairs)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected pairs x,y separated by spaces, e.g. '0,0 0.05,0 0.3,0.9 1,1' ({exc})"
        ) from None
    return tuple(zip(xs.tolist(), ys.tolist()))
