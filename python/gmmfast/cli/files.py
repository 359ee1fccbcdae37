"""Files in and out, with the errors a user can cause turned into one-line messages."""

from __future__ import annotations

import os
import warnings

import numpy as np

from .messages import CommandError


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

    from .. import _io
    from ..image import as_array

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
    from .._files import NotRegularFileError, check_regular

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
    from .._files import same_file

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
    from .._files import NotRegularFileError
    from .._io import load

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

    from .._files import replacing

    picture_format = image_format(path)
    try:
        with replacing(path) as handle:
            Image.fromarray(pixels).save(handle, format=picture_format)
    except ValueError as exc:  # PIL: a mode the format cannot hold
        raise CommandError(f"cannot write {path}: {exc}") from None
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
