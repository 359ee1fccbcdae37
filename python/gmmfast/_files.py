"""Files the user owns: written atomically, read only when they are regular files.

Every file gmmfast writes (model files, pictures, Zarr stores) is first written to a temporary
path in the same directory and then renamed over the target (``os.replace``, atomic on POSIX
and on Windows within one file system): a write that fails or is interrupted half way (disk
full, file-size limit, Ctrl-C) leaves the file that was there before untouched, and a new path
absent. The temporary file is removed on failure.

Reading opens a path without blocking (``O_NONBLOCK``: opening a FIFO would otherwise wait for
a writer) and refuses anything but a regular file, so a FIFO, a device or a directory given as
an input is an error, not a hang.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator

_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


class NotRegularFileError(ValueError):
    """A path that names a FIFO, a device or a socket where a file is expected."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path):
    """``path`` opened for reading in binary mode, if it is a regular file.

    Raises ``FileNotFoundError`` / ``PermissionError`` as the system reports them,
    ``IsADirectoryError`` for a directory and :class:`NotRegularFileError` (a ``ValueError``)
    for a FIFO, a device or a socket. Never blocks: the file is opened with ``O_NONBLOCK``
    (which does nothing to reads of a regular file) and checked with ``fstat`` after opening,
    so the check and the read are about the same file.
    """
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_BINARY)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{os.fspath(path)!r} is {_kind(mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path) -> None:
    """Raise what :func:`open_regular` raises if ``path`` cannot be read as a regular file."""
    open_regular(path).close()


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same existing file (hard and symbolic links
    included); False when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _target(path) -> str:
    """The path to replace: a symbolic link is followed, so the file it points to is
    replaced and the link kept."""
    path = os.fspath(path)
    return os.path.realpath(path) if os.path.islink(path) else path


def _temporary_name(target: str, suffix: str = ".tmp") -> str:
    head, tail = os.path.split(target)
    return os.path.join(head, f".{tail}.{secrets.token_hex(4)}{suffix}")


def _writes_in_place(target: str) -> bool:
    """An existing target that is neither a regular file nor a directory (``/dev/null``, a
    FIFO, ``/dev/stdout``) is written directly: there is nothing to keep, and it cannot be
    renamed over."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def replacing(path) -> Iterator:
    """A binary file to write instead of ``path``, renamed over ``path`` on success.

    The temporary file is created beside ``path`` (same directory, so the rename is atomic),
    with the permissions a new file would get, flushed to disk before the rename, and removed
    if the block raises (any exception, ``KeyboardInterrupt`` included)::

        with replacing("model.npz") as handle:
            np.savez_compressed(handle, **arrays)
    """
    target = _target(path)
    if _writes_in_place(target):
        with open(target, "wb") as handle:
            yield handle
        return
    while True:
        temporary = _temporary_name(target)
        try:
            # 0o666 and the umask: the mode an ordinary new file gets.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(target, temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _keep_mode(target: str, temporary: str) -> None:
    """A replaced file keeps its permission bits."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.chmod(temporary, mode)


@contextlib.contextmanager
def replacing_directory(path, *, overwrite: bool = False) -> Iterator[str]:
    """A new, empty directory to fill instead of ``path``, moved to ``path`` on success.

    The directory is created beside ``path`` and removed with everything in it if the block
    raises. Without ``overwrite`` an existing ``path`` is a ``FileExistsError`` (checked
    before and again just before the move); with it, the old tree is moved aside, the new one
    moved in, and only then the old one deleted.
    """
    target = os.path.abspath(os.fspath(path))
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(path))
    while True:
        temporary = _temporary_name(target)
        try:
            os.mkdir(temporary)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    try:
        yield temporary
        if not os.path.lexists(target):
            os.rename(temporary, target)
        elif not overwrite:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(path))
        else:
            old = _temporary_name(target, ".old")
            os.rename(target, old)
            try:
                os.rename(temporary, target)
            except BaseException:
                os.rename(old, target)
                raise
            _remove(old)
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)
