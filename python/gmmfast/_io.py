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

import json
import math
import os
import zipfile
import zlib
from tokenize import TokenError

import numpy as np

from ._mixture import Mixture
from ._model import as_mixture

FORMAT = "gmmfast-mixture"
FORMAT_VERSION = 1
_ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")
# Factors read from a file must match those recomputed from its covariances to this relative
# tolerance; a mismatch means the file was edited by hand or corrupted.
_FACTOR_RTOL = 1e-6


def save(model, path, **metadata) -> None:
    """Write ``model``'s mixture (plug-in parameters for a ``BayesianGaussianMixture``) to
    ``path`` as a ``.npz`` file, with ``metadata`` (JSON-serialisable keyword arguments) added
    to the mixture's own. The path is used as given (no ``.npz`` is appended)."""
    mixture = as_mixture(model)
    merged = {**mixture.metadata, **metadata}
    try:
        text = json.dumps(merged, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from exc
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
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _scalar(data, key: str, kind) -> object:
    value = data[key]
    if value.shape != () or value.dtype.kind != kind:
        raise ValueError(f"entry {key!r} has the wrong type ({value.dtype}, shape {value.shape})")
    return value.item()


def _factors_match(stored: np.ndarray, own: np.ndarray, covariance_type: str) -> bool:
    """Stored factors equal ours to ``_FACTOR_RTOL`` relative to each component's largest
    entry (entries that are zero in exact arithmetic may differ by rounding)."""
    if stored.shape != own.shape:
        return False
    rows = 1 if covariance_type == "tied" else own.shape[0]
    stored, own = stored.reshape(rows, -1), own.reshape(rows, -1)
    scale = np.abs(own).max(axis=1)
    return bool(np.all(np.abs(stored - own).max(axis=1) <= _FACTOR_RTOL * scale))


def _check_entry_sizes(archive: zipfile.ZipFile) -> None:
    """Refuse an entry whose .npy header declares more data than the entry holds.

    NumPy allocates the declared size before it reads, so a tampered header could ask for
    terabytes and end in a ``MemoryError`` instead of a refusal.
    """
    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    for info in archive.infolist():
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in readers:
                raise ValueError(f"entry {info.filename!r} has .npy format version {version}")
            shape, _, dtype = readers[version](member)
        if dtype.hasobject:
            continue  # refused when read: object arrays need pickle
        declared = math.prod(shape) * dtype.itemsize
        if declared > info.file_size:
            raise ValueError(
                f"entry {info.filename!r} declares {declared} bytes of data but holds "
                f"{info.file_size}"
            )


def _read(handle) -> tuple:
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
    data = np.load(handle, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError("it holds a single array, not a model archive")
    with data:
        _check_entry_sizes(data.zip)
        missing = {"format", "format_version", "covariance_type", "metadata", *_ARRAYS}
        missing -= set(data.files)
        if missing:
            raise ValueError(f"entries {sorted(missing)} are missing")
        if _scalar(data, "format", "U") != FORMAT:
            raise ValueError(f"format is {data['format'].item()!r}, not {FORMAT!r}")
        version = _scalar(data, "format_version", "i")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"format version {version} is not supported (this gmmfast reads "
                f"version {FORMAT_VERSION})"
            )
        covariance_type = _scalar(data, "covariance_type", "U")
        metadata = json.loads(_scalar(data, "metadata", "U"))
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a JSON object")
        arrays = {}
        for key in _ARRAYS:
            arrays[key] = data[key]
            if arrays[key].dtype != np.float64:
                raise ValueError(f"entry {key!r} has dtype {arrays[key].dtype}, not float64")
    return covariance_type, metadata, arrays


def load(path) -> Mixture:
    """Read a model file written by :func:`save`; the metadata is ``result.metadata``.

    Raises ``FileNotFoundError`` if there is no such file and ``ValueError`` if it is not a
    valid gmmfast model file (truncated, another format, pickled objects, bad parameters).
    """
    where = os.fspath(path)
    try:
        # Open the file ourselves: np.load leaks its handle when a zip archive is truncated.
        with open(path, "rb") as handle:
            covariance_type, metadata, arrays = _read(handle)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, TokenError) as exc:
        # zlib.error: a damaged compressed entry; NotImplementedError: zipfile's answer to
        # flags or a compression method it does not know, as corrupted bytes may claim;
        # TokenError: NumPy's parser of a damaged .npy header.
        raise ValueError(
            f"{where!r} is not a valid gmmfast model file: it is a truncated or damaged "
            f"archive ({exc})"
        ) from exc
    except (ValueError, OSError, EOFError, KeyError) as exc:
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
