"""File operations on local paths and on any filesystem ``tf.io.gfile`` supports (``gs://``, ``s3://``,
``hdfs://``, ``ram://`` ...), chosen by the path: a path with ``://`` goes through ``tf.io.gfile``,
anything else through ``os`` exactly as before.

Local builds never import TensorFlow through here (build workers stay light); a remote path does,
once, in the process that touches it. Remote paths are kept as plain strings: ``pathlib`` folds
``gs://bucket`` into ``gs:/bucket``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import posixpath
import sys
from typing import Iterator


def is_remote(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a file on a ``scheme://`` filesystem."""
    return "://" in os.fspath(path)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def join(base: str | os.PathLike, *parts: str) -> str:
    base = os.fspath(base)
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(base, *parts)


def split(path: str) -> tuple[str, str]:
    """``(parent, name)`` of a path; a remote path keeps its scheme."""
    if is_remote(path):
        head, tail = posixpath.split(path.rstrip("/"))
        return head, tail
    head, tail = os.path.split(os.path.normpath(path))
    return head or ".", tail


def open_read(path: str):
    """A binary file open for reading (``tf.io.gfile.GFile`` for remote paths)."""
    return _gfile().GFile(path, "rb") if is_remote(path) else open(path, "rb")


def read_bytes(path: str) -> bytes:
    if is_remote(path):
        with _gfile().GFile(path, "rb") as fh:
            return fh.read()
    # Plain descriptor calls: a build reads every image and sidecar once, and ``open().read()``
    # spends a third of a small file's read time building the buffered file object.
    fd = os.open(path, _READ_FLAGS)
    try:
        size = os.fstat(fd).st_size
        first = os.read(fd, size) if size > 0 else b""
        more = os.read(fd, max(size - len(first), 1 << 20))  # b"" at the end: the usual case
        if not more:
            return first
        # A file over one read() (2 GiB on Linux), one that grew, or one that reports no size:
        # gather the pieces and join once (appending would copy the whole buffer every time).
        chunks = [first, more]
        while more:
            more = os.read(fd, 1 << 24)
            chunks.append(more)
        return b"".join(chunks)
    except OSError as exc:
        if exc.filename is None:  # a failed read() names no file (e.g. a folder); say which
            exc.filename = path
        raise
    finally:
        os.close(fd)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
    if is_remote(path):
        return _gfile().exists(path) and not _gfile().isdir(path)
    return os.path.isfile(path)


def listdir(path: str) -> list[str]:
    names = _gfile().listdir(path) if is_remote(path) else os.listdir(path)
    return sorted(n.rstrip("/") for n in names)


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def remove(path: str) -> None:
    """Delete a file; a missing one is not an error."""
    try:
        if is_remote(path):
            _gfile().remove(path)
        else:
            os.unlink(path)
    except (OSError, FileNotFoundError):
        pass
    except Exception as exc:  # noqa: BLE001 - tf.errors.NotFoundError is not an OSError
        if exc.__class__.__name__ != "NotFoundError":
            raise


def rmtree(path: str) -> None:
    import shutil

    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def replace(src: str, dst: str) -> None:
    """Rename ``src`` over ``dst`` (atomic locally; copy-then-delete on object stores)."""
    if is_remote(src):
        _gfile().rename(src, dst, overwrite=True)
    else:
        os.replace(src, dst)


def size(path: str) -> int:
    return _gfile().stat(path).length if is_remote(path) else os.stat(path).st_size


def stamp(path: str) -> tuple[int, int]:
    """``(size, mtime in ns)`` of a file, ``(-1, -1)`` when it cannot be read."""
    try:
        if is_remote(path):
            st = _gfile().stat(path)
            return st.length, st.mtime_nsec
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    except Exception:  # noqa: BLE001 - OSError locally, tf.errors.* remotely
        return -1, -1


def walk(root: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk``-like walk of a remote folder (top-down; prune ``dirnames`` in place)."""
    for dirpath, dirnames, filenames in _gfile().walk(root):
        yield dirpath, dirnames, filenames


def open_write(path: str):
    """A binary file open for writing (``tf.io.gfile.GFile`` for remote paths)."""
    return _gfile().GFile(path, "wb") if is_remote(path) else open(path, "wb")


def write_atomic(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` under a temp name beside ``path`` and rename it over ``path`` (fsynced first
    unless ``durable=False``, for records that are re-checked before use anyway).
    """
    path = os.fspath(path)
    if not is_remote(path):
        _write_atomic_local(path, data, durable)
        return
    parent, name = split(path)
    tmp = join(parent, f".{name}.tmp-{os.getpid()}")
    with _gfile().GFile(tmp, "wb") as fh:
        fh.write(data)
    _gfile().rename(tmp, path, overwrite=True)


def _write_atomic_local(path: str, data: bytes, durable: bool) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.filename is None:  # a failed write() names no file; say which one
            raise OSError(exc.errno, f"{exc.strerror} while writing", tmp) from exc
        raise


def overlaps(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two folders are the same or one contains the other (local paths resolved, symlinks
    included; remote ones compared as strings). Writing or replacing one would touch the other.
    """
    a, b = os.fspath(a), os.fspath(b)
    if is_remote(a) or is_remote(b):
        x, y = a.rstrip("/") + "/", b.rstrip("/") + "/"
    else:
        x, y = os.path.realpath(a).rstrip(os.sep) + os.sep, os.path.realpath(b).rstrip(os.sep) + os.sep
    return x.startswith(y) or y.startswith(x)


_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writing dirty pages, do not wait


@functools.cache
def _sync_file_range():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except Exception:  # noqa: BLE001 - no such symbol (an unusual libc): fsync instead
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def start_writeback(fd: int) -> None:
    """Start writing a local file's data to disk without waiting for it (Linux ``sync_file_range``;
    elsewhere a plain ``fsync``). :func:`make_durable` later waits for it, usually finding it done.

    A shard writer that fsynced each shard waited ~5 ms per shard with its core idle (3-4% of a
    build); this way the disk works while the worker decodes the next shard. A write-back error
    then reaches the later fsync through another descriptor, which Linux (4.16+) reports to the
    first fsync that follows it.
    """
    fn = _sync_file_range()
    if fn is None or fn(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
        os.fsync(fd)


def make_durable(paths: list[str]) -> list[tuple[str, OSError]]:
    """Fsync every local file in ``paths`` (written with :func:`start_writeback`); returns the ones
    that failed, each with its error (all of them, so a caller can discard every bad one).
    """
    failed = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            failed.append((path, exc))
    return failed


# A folder's fsync makes the names in it durable; some filesystems (FUSE, network mounts) and
# platforms cannot fsync a folder at all, and there it is skipped, as PostgreSQL and SQLite do.
_NO_FOLDER_FSYNC = {
    errno.EINVAL,
    errno.ENOTSUP,
    errno.EOPNOTSUPP,
    errno.ENOSYS,
    errno.EBADF,
    errno.EISDIR,
    errno.EACCES,
    errno.EPERM,
}


def sync_folder(folder: str) -> None:
    """Fsync a local folder, so renames into or out of it survive a power loss."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in _NO_FOLDER_FSYNC:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_FSYNC:
            raise OSError(exc.errno, f"{exc.strerror} while flushing the folder to disk", folder) from exc
    finally:
        os.close(fd)
