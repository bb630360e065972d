"""Reading input files safely: only regular files are opened (:func:`open_regular`), and a
sidecar's JSON is parsed strictly (:func:`read_sidecar`: duplicate keys, colliding dotted names,
deep nesting and lone surrogates are answers, never surprises).

Used by the walk (``dump.py``), the precheck and the shard writers; it imports nothing heavy.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections import deque
from typing import Any

from pipecheck.pipeline import fsio

NOT_REGULAR = "not a regular file"  # the detail of an ``unreadable`` FIFO, socket or device
NOT_REGULAR_SKIP = "not_regular"  # the walk's skip reason for them
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """A descriptor open for reading on ``path`` and its stat, if it is a regular file; else
    ``OSError`` with strerror :data:`NOT_REGULAR` (a named pipe would block the build for ever,
    ``/dev/zero`` never ends). Opened non-blocking, so a pipe swapped in after the walk is refused,
    not waited on.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS | getattr(os, "O_NONBLOCK", 0))
    except BlockingIOError:
        # Only a regular file under a lease (a Samba or NFS server holding it) refuses a
        # non-blocking open; its holder has lease-break-time to let go, as for any reader.
        fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, NOT_REGULAR, path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_input(path: str, limit: int | None = None) -> bytes:
    """The bytes of an input file (all, or the first ``limit``), never reading what is not a
    regular file (see :func:`open_regular`); remote paths through ``fsio``.
    """
    if fsio.is_remote(path):
        if limit is None:
            return fsio.read_bytes(path)
        with fsio.open_read(path) as fh:
            return fh.read(limit)
    fd, st = open_regular(path)
    try:
        if limit is not None:
            return os.read(fd, limit)
        size = st.st_size
        chunks = [os.read(fd, size) if size > 0 else b""]
        while more := os.read(fd, 1 << 24):  # a file that grew, or is over one read() (2 GiB)
            chunks.append(more)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as exc:
        if exc.filename is None:  # a failed read() names no file; say which
            exc.filename = path
        raise
    finally:
        os.close(fd)


def read_sidecar(path: str) -> tuple[dict[str, Any], str]:
    """Parse a sidecar; returns (object, "") or ({}, problem). Never raises on bad content."""
    try:
        raw = read_input(path)
    except OSError as exc:
        return {}, f"unreadable: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - tf.errors.* from a remote filesystem
        return {}, f"unreadable: {exc.__class__.__name__}"
    dotted: list[bool] = []

    def strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # json keeps the last of two equal keys: the label would silently be the second value.
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            key = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise _DuplicateKey(f"duplicate key {key!r}")
        if not dotted and any("." in k for k in obj):
            dotted.append(True)
        return obj

    try:
        obj = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=strict_object)
    except _DuplicateKey as exc:
        return {}, f"{exc}; keep one"
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return {}, f"invalid JSON: {' '.join(str(exc).split())[:200]}"
    if not isinstance(obj, dict):
        return {}, f"expected a JSON object, got {type(obj).__name__}"
    # Both walks below cost more than the parse for a small sidecar; skip them when the bytes show
    # they cannot find anything: nesting needs that many brackets, a lone surrogate a \u escape.
    if raw.count(b"{") + raw.count(b"[") > MAX_SIDECAR_DEPTH and _depth_exceeds(obj, MAX_SIDECAR_DEPTH):
        return {}, f"nested deeper than {MAX_SIDECAR_DEPTH} levels"
    if dotted and (collision := key_collision(obj)):
        return {}, collision
    return (clean_text(obj) if b"\\u" in raw else obj), ""


class _DuplicateKey(ValueError):
    pass


def key_collision(obj: dict[str, Any]) -> str:
    """Why two key paths of ``obj`` read as one dotted field name (an empty string when none do).

    Fields are named by dotted paths (``--label-field taxon.species``, ``meta/taxon.species``), so
    ``{"taxon.species": .., "taxon": {"species": ..}}`` holds two values under one name and one of
    them would be dropped depending on key order. Lists are not walked (no field name enters them).
    """
    seen: dict[str, tuple[str, ...]] = {}
    queue: deque[tuple[dict[str, Any], tuple[str, ...]]] = deque([(obj, ())])  # shallower keys first
    while queue:
        node, path = queue.popleft()
        for key, value in node.items():
            here = (*path, key)
            name = ".".join(here)
            if name in seen:
                return f"keys {_pointer(seen[name])} and {_pointer(here)} collide (both read as {name!r}); rename one"
            seen[name] = here
            if isinstance(value, dict):
                queue.append((value, here))
    return ""


def _pointer(path: tuple[str, ...]) -> str:
    """A key path as a JSON Pointer (RFC 6901): ``/taxon/species``, ``/taxon.species``."""
    return "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in path)


MAX_SIDECAR_DEPTH = 64


def _depth_exceeds(obj: Any, limit: int) -> bool:
    """Iteratively (no recursion limit to hit) whether containers nest deeper than ``limit``."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def clean_text(obj: Any) -> Any:
    """Replace lone surrogates (valid in JSON escapes such as backslash-u-d800, invalid in UTF-8) with U+FFFD in
    every key and string, so labels and metadata can be encoded, written and compared.
    """
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
            return obj
        except UnicodeEncodeError:
            return obj.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(obj, dict):
        return {clean_text(k): clean_text(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_text(v) for v in obj]
    return obj
