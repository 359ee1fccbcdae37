"""Model files: a :class:`Mixture` in a ``.npz`` archive, read without pickle.

Layout (format version 1), every entry a plain NumPy array:

``format``             "gmmfast-mixture"
``format_version``     1
``covariance_type``    "full" | "tied" | "diag" | "spherical"
``weights``, ``means``, ``covariances``      scikit-learn's layouts
``precisions_cholesky`` the factors in use (scikit-learn's, for a model taken from an estimator)
``metadata``           a JSON object as a string

Files are read with ``allow_pickle=False``: a model file from a stranger cannot run code. A
file that is truncated, of another kind, or whose parameters are invalid or inconsistent raises
``ValueError``.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import re
import zipfile
import zlib
from tokenize import TokenError

import numpy as np

from ._canonical import COVARIANCE_TYPES as _COVARIANCE_TYPES
from ._files import open_regular, replacing
from ._mixture import Mixture
from ._model import as_mixture

FORMAT = "gmmfast-mixture"
FORMAT_VERSION = 1
_ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")
# Scalar entries: (dtype kind, largest itemsize in bytes). NumPy stores a str of n characters
# as 4n bytes.
_SCALARS = {
    "format": ("U", 4 * 64),
    "format_version": ("i", 8),
    "covariance_type": ("U", 4 * 64),
}
#: Longest metadata JSON text a model file may hold, in characters, and how deeply its arrays
#: and objects may nest: far more than any image's metadata needs, far less than what would
#: exhaust memory or Python's recursion limit.
MAX_METADATA_CHARS = 2**20
MAX_METADATA_DEPTH = 64
_SCALARS["metadata"] = ("U", 4 * MAX_METADATA_CHARS)
_ENTRIES = (*_SCALARS, *_ARRAYS)
#: Default largest size, in bytes, of the parameters (weights, means, covariances and factors,
#: float64) that :func:`load` reads: 1 GiB, about K = 60,000 full covariances of 64 features,
#: or K = 10^6 of 8. ``load(path, max_bytes=...)`` raises or lifts it.
MAX_BYTES = 2**30
# Bytes read from an entry to parse its .npy header: NumPy's own limit on header length
# (10,000) plus the magic string and the length field.
_HEADER_LIMIT = 10_000 + 12
# Factors read from a file must match those recomputed from its covariances to this relative
# tolerance; a mismatch means the file was edited by hand or corrupted.
_FACTOR_RTOL = 1e-6


def save(model, path, **metadata) -> None:
    """Write ``model``'s mixture (plug-in parameters for a ``BayesianGaussianMixture``) to
    ``path`` as a ``.npz`` file, with ``metadata`` (JSON-serialisable keyword arguments) added
    to the mixture's own. The path is used as given (no ``.npz`` is appended).

    The file is written beside ``path`` under a temporary name and renamed over it when
    complete: a failed write (disk full, Ctrl-C) leaves a file already at ``path`` unchanged.
    Metadata that :func:`load` would refuse (deeper than ``MAX_METADATA_DEPTH``, longer than
    ``MAX_METADATA_CHARS``) raises ``ValueError``.
    """
    mixture = as_mixture(model)
    merged = {**mixture.metadata, **metadata}
    try:
        text = json.dumps(merged, allow_nan=False, sort_keys=True)
    except RecursionError:
        raise ValueError(f"metadata is nested more than {MAX_METADATA_DEPTH} levels deep") from None
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from exc
    if len(text) > MAX_METADATA_CHARS:
        raise ValueError(
            f"metadata is {len(text):,} characters of JSON, more than {MAX_METADATA_CHARS:,}"
        )
    _metadata(text)  # the depth check of load
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "covariance_type": np.array(mixture.covariance_type),
        "weights": mixture.weights,
        "means": mixture.means,
        "covariances": mixture.covariances,
        "precisions_cholesky": mixture.precisions_cholesky,
        "metadata": np.array(text),
    }
    with replacing(path) as handle:
        # NumPy's stubs type **kwds as allow_pickle's bool; any array is accepted.
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]


def _factors_match(stored: np.ndarray, own: np.ndarray, covariance_type: str) -> bool:
    """Stored factors equal ours to ``_FACTOR_RTOL`` relative to each component's largest
    entry (entries that are zero in exact arithmetic may differ by rounding)."""
    if stored.shape != own.shape:
        return False
    rows = 1 if covariance_type == "tied" else own.shape[0]
    stored, own = stored.reshape(rows, -1), own.reshape(rows, -1)
    scale = np.abs(own).max(axis=1)
    return bool(np.all(np.abs(stored - own).max(axis=1) <= _FACTOR_RTOL * scale))


def _member_header(archive: zipfile.ZipFile, name: str) -> tuple:
    """(shape, fortran_order, dtype) from the .npy header of entry ``name``, reading at most
    the header's bytes (NumPy allocates what a header declares before it reads the data)."""
    with archive.open(name) as member:
        head = io.BytesIO(member.read(_HEADER_LIMIT))
    version = np.lib.format.read_magic(head)
    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    if version not in readers:
        raise ValueError(f"entry {name!r} has .npy format version {version}")
    try:
        return readers[version](head)
    except ValueError as exc:
        raise ValueError(f"entry {name!r} has a damaged or oversized .npy header ({exc})") from exc


def _expected_shapes(covariance_type: str, n_components: int, d: int) -> dict:
    covariances = {
        "full": (n_components, d, d),
        "tied": (d, d),
        "diag": (n_components, d),
        "spherical": (n_components,),
    }[covariance_type]
    return {
        "weights": (n_components,),
        "means": (n_components, d),
        "covariances": covariances,
        "precisions_cholesky": covariances,
    }


def _check_entries(archive: zipfile.ZipFile) -> dict:
    """Check every entry load reads against its .npy header before any data is read.

    Returns {key: (shape, dtype)}. Refuses (``ValueError``) an entry missing from the
    archive; a header declaring more data than the entry holds; scalars of the wrong kind or
    longer than a model file needs; parameter arrays that are not float64, or weights and
    means whose shapes do not agree on K. With :func:`_check_parameter_shapes` (the
    covariances as K and d allow, at most ``max_bytes`` in all), nothing is read that K and d
    do not allow: a small archive cannot decompress into gigabytes.
    """
    infos = {info.filename: info for info in archive.infolist()}
    missing = [f"{key}.npy" for key in _ENTRIES if f"{key}.npy" not in infos]
    if missing:
        raise ValueError(f"entries {sorted(m[:-4] for m in missing)} are missing")
    headers = {}
    for key in _ENTRIES:
        info = infos[f"{key}.npy"]
        shape, _, dtype = _member_header(archive, info.filename)
        if dtype.hasobject:
            raise ValueError(
                f"Object arrays cannot be loaded without pickle, which gmmfast never uses "
                f"(entry {key!r} holds Python objects)"
            )
        declared = math.prod(shape) * dtype.itemsize
        if declared > info.file_size:
            raise ValueError(
                f"entry {info.filename!r} declares {declared} bytes of data but holds "
                f"{info.file_size}"
            )
        headers[key] = (shape, dtype)
    for key, (kind, limit) in _SCALARS.items():
        shape, dtype = headers[key]
        if shape != () or dtype.kind != kind:
            raise ValueError(f"entry {key!r} has the wrong type ({dtype}, shape {shape})")
        if dtype.itemsize > limit:
            raise ValueError(
                f"entry {key!r} is {dtype.itemsize:,} bytes long, more than a model file "
                f"holds (at most {limit:,})"
            )
    for key in _ARRAYS:
        shape, dtype = headers[key]
        if dtype != np.float64:
            raise ValueError(f"entry {key!r} has dtype {dtype}, not float64")
    weights, means = headers["weights"][0], headers["means"][0]
    if len(weights) != 1 or len(means) != 2 or means[0] != weights[0]:
        raise ValueError(
            f"weights of shape {weights} and means of shape {means} do not describe "
            f"(n_components,) and (n_components, n_features)"
        )
    return headers


def _check_parameter_shapes(headers: dict, covariance_type: str, max_bytes) -> None:
    """The declared shapes of the covariances and factors are those K and d allow, and all
    four parameter arrays together declare at most ``max_bytes``."""
    if covariance_type not in _COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {_COVARIANCE_TYPES}, got {covariance_type!r}"
        )
    n_components, d = headers["means"][0]
    expected = _expected_shapes(covariance_type, n_components, d)
    for key in ("covariances", "precisions_cholesky"):
        if headers[key][0] != expected[key]:
            raise ValueError(
                f"{key} for covariance_type={covariance_type!r} with {n_components} "
                f"components of {d} features must have shape {expected[key]}, got "
                f"{headers[key][0]}"
            )
    total = sum(math.prod(headers[key][0]) * 8 for key in _ARRAYS)
    if max_bytes is not None and total > max_bytes:
        raise ValueError(
            f"its parameters take {total:,} bytes, more than max_bytes={max_bytes:,} "
            f"(K={n_components}, {d} features, {covariance_type!r} covariances); "
            f"load(path, max_bytes=None) reads it anyway"
        )


def _metadata(text: str) -> dict:
    """The metadata JSON object, refused (``ValueError``) if nested deeper than
    ``MAX_METADATA_DEPTH`` (JSON's parser recurses: 100,000 levels would end in a
    ``RecursionError``) or not an object."""
    depth = _json_depth(text)
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested {depth} levels deep, more than {MAX_METADATA_DEPTH}")
    try:
        metadata = json.loads(text)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError("metadata is nested too deeply") from None
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not a JSON object")
    return metadata


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _json_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest (0 for a scalar), counted
    without parsing: brackets outside strings, in one vectorised pass."""
    bare = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(bare, dtype=np.uint8)
    steps = np.zeros(len(codes), dtype=np.int64)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max(initial=0))


def _read(handle, max_bytes) -> tuple:
    """(covariance_type, metadata, arrays) of an open model file; ``ValueError`` if the file
    is not one."""
    head = handle.read(8)
    handle.seek(0)
    # np.load reports any file that is neither a zip archive nor a .npy array as "pickled
    # data", which misleads about a text file or an image.
    if not head.startswith((b"PK\x03\x04", b"\x93NUMPY")):
        if head.startswith(b"\x80"):  # the PROTO opcode that starts pickles since protocol 2
            raise ValueError("it is a Python pickle, which gmmfast never loads")
        if not head:
            raise ValueError("it is empty")
        raise ValueError(f"it is not a NumPy .npz archive (it starts with {head!r})")
    if head.startswith(b"\x93NUMPY"):
        raise ValueError("it holds a single array, not a model archive")
    with zipfile.ZipFile(handle) as archive:
        headers = _check_entries(archive)

        def read(key: str) -> np.ndarray:
            with archive.open(f"{key}.npy") as member:
                return np.lib.format.read_array(member, allow_pickle=False)

        if read("format").item() != FORMAT:
            raise ValueError(f"format is {read('format').item()!r}, not {FORMAT!r}")
        version = read("format_version").item()
        if version != FORMAT_VERSION:
            raise ValueError(
                f"format version {version} is not supported (this gmmfast reads "
                f"version {FORMAT_VERSION})"
            )
        covariance_type = read("covariance_type").item()
        _check_parameter_shapes(headers, covariance_type, max_bytes)
        metadata = _metadata(read("metadata").item())
        arrays = {key: read(key) for key in _ARRAYS}
    return covariance_type, metadata, arrays


def load(path, *, max_bytes=MAX_BYTES) -> Mixture:
    """Read a model file written by :func:`save`; the metadata is ``result.metadata``.

    Parameters
    ----------
    path : str or os.PathLike
        A regular file: a FIFO, a device or a socket is refused without being read (so
        ``load`` never blocks), a directory is an ``IsADirectoryError``.
    max_bytes : int or None, default=MAX_BYTES (1 GiB)
        Largest size of the parameters (weights, means, covariances and their factors, as
        float64) the file may declare; a larger model is refused before anything is read.
        ``None`` lifts the limit.

    Raises ``OSError`` when the file cannot be opened, as the system reports it
    (``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``), and ``ValueError`` if
    it is not a valid gmmfast model file (truncated, another format, pickled objects, bad
    parameters, metadata nested deeper than ``MAX_METADATA_DEPTH``, not a regular file) or
    declares more than ``max_bytes``. Every entry's size is checked against its header, and
    the headers against one another, before any data is decompressed.
    """
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Integral):
            raise TypeError(f"max_bytes must be an integer or None, got {max_bytes!r}")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    where = os.fspath(path)
    # Open the file ourselves: only regular files, never blocking (see _files), and np.load
    # would leak its handle when a zip archive is truncated.
    handle = open_regular(path)  # OSError as is
    try:
        with handle:
            covariance_type, metadata, arrays = _read(handle, max_bytes)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, TokenError, EOFError) as exc:
        # zlib.error: a damaged compressed entry; NotImplementedError: zipfile's answer to
        # flags or a compression method it does not know, as corrupted bytes may claim;
        # TokenError: NumPy's parser of a damaged .npy header.
        raise ValueError(
            f"{where!r} is not a valid gmmfast model file: it is a truncated or damaged "
            f"archive ({exc})"
        ) from exc
    except OSError as exc:
        if exc.errno is not None:  # the system's error reading the file: say it as it is
            raise
        raise ValueError(f"{where!r} is not a valid gmmfast model file: {exc}") from exc
    except (ValueError, KeyError, UnicodeError) as exc:
        raise ValueError(f"{where!r} is not a valid gmmfast model file: {exc}") from exc

    try:
        mixture = Mixture(
            arrays["weights"],
            arrays["means"],
            arrays["covariances"],
            covariance_type,
            metadata=metadata,
        )
        stored = arrays["precisions_cholesky"]
        if not _factors_match(stored, mixture.precisions_cholesky, covariance_type):
            raise ValueError("precisions_cholesky does not match the covariances")
    except ValueError as exc:
        raise ValueError(f"{where!r} holds invalid model parameters: {exc}") from exc
    return mixture._with_precisions_cholesky(stored)
