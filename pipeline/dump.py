"""Find the inputs of a flat dump: images paired with same-stem JSON sidecars, or a manifest table.

Formats are detected from the first bytes (magic), not the extension, so a PNG named ``.jpg`` is
still an image and a text file named ``.jpg`` is rejected as undecodable rather than ignored.
OS litter (``.DS_Store``, ``Thumbs.db``, ``._*`` AppleDouble files, hidden files) is counted and
ignored, and so is every file inside a hidden folder (``in_hidden_folder``). A named pipe, socket
or device (or a followed link to one) is never opened: it is rejected as ``unreadable`` ("not a
regular file"); every read goes through ``inputs.read_input``, which checks again. Nothing here
decodes pixels; that happens in the workers (``images.py``).
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipecheck.pipeline import fsio
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.inputs import (
    NOT_REGULAR,
    NOT_REGULAR_SKIP,
    clean_text,
    key_collision,
    read_input,
    read_sidecar,
)
from pipecheck.pipeline.rejects import Reject

IMAGE_EXTS = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SIDECAR_EXT = ".json"
LITTER_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r", ".localized"}


def sniff_format(head: bytes) -> str | None:
    """Image format from magic bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def is_litter(name: str) -> bool:
    low = name.lower()
    return low in LITTER_NAMES or name.startswith("._") or name.startswith(".")


@dataclass
class Item:
    """One candidate example: an image and its metadata, paired by ``stem`` (relative, no suffix)."""

    stem: str
    image: str  # path relative to the dump root
    meta: dict[str, Any]


@dataclass
class Scan:
    """Result of scanning a dump: paired items, early rejects, and what was ignored."""

    root: str
    items: list[Item] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    litter: list[str] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)  # other files, by extension
    inputs_found: int = 0


HIDDEN = "in_hidden_folder"  # the skip reason (and ``Scan.ignored`` key) of files in hidden folders


def _walk(root: Path, recursive: bool, follow_symlinks: bool):
    """Yield (relative path, skip_reason) for files under root.

    ``skip_reason`` is "" for an input, else why it is not one (a symlink leading out of the dump,
    ``HIDDEN`` for each file inside a folder whose name starts with a dot: never read, but counted).
    A folder that cannot be listed is an :class:`InputError`: its files could be neither written nor
    rejected, and nothing may vanish from the accounting.
    """
    root_real = os.path.realpath(root)

    def outside(path: str) -> bool:
        target = os.path.realpath(path)
        return os.path.commonpath([root_real, target]) != root_real

    def walk(full_dir: str, rel_dir: str):
        entries = _listing(full_dir)
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows links, like os.walk
            except OSError:
                is_dir = False
            if not is_dir or not recursive:
                continue
            rel = f"{rel_dir}{entry.name}"
            if entry.name.startswith("."):
                # not descended into, but every file in it is counted, so none vanishes unnoticed
                yield from _hidden_files(entry, rel)
                continue
            if entry.is_symlink() and not follow_symlinks:
                # not descended into; counted so its files do not vanish unnoticed
                yield rel, ("symlink_outside_dump" if outside(entry.path) else "symlinked_folder")
                continue
            subdirs.append(entry)
        for entry in entries:
            try:
                if entry.is_dir():
                    continue
            except OSError:
                pass
            rel = f"{rel_dir}{entry.name}"
            if not follow_symlinks and entry.is_symlink() and outside(entry.path):
                yield rel, "symlink_outside_dump"
                continue
            yield rel, ("" if _regular(entry) else NOT_REGULAR_SKIP)
        for entry in subdirs:
            yield from walk(entry.path, f"{rel_dir}{entry.name}{os.sep}")

    yield from walk(os.fspath(root), "")


def _listing(folder: str) -> list[os.DirEntry]:
    """A folder's entries by name. os.scandir rather than os.walk + relpath + islink per file: the
    entries already know whether they are links, and relative paths are built by joining.
    """
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise InputError(
            f"cannot list folder {exc.filename}: {exc.strerror}; fix its permissions or move it out of the dump"
        ) from None


def _regular(entry: os.DirEntry) -> bool:
    """Whether an entry may be opened: a regular file (links followed), or a broken link or one
    that vanished (its read fails and says so). Free for plain files (the d_type).
    """
    try:
        if entry.is_file():
            return True
        return stat.S_ISREG(entry.stat().st_mode)
    except OSError:
        return True


def _hidden_files(entry: os.DirEntry, rel: str):
    """``(path, HIDDEN)`` for every file under a hidden folder (a link to one, or an unreadable
    one, counts as one entry).
    """
    if entry.is_symlink():  # never followed: counted as one entry
        yield rel, HIDDEN
        return
    counted = False
    for dirpath, dirs, files in os.walk(entry.path, followlinks=False):
        counted = True
        sub = rel + dirpath[len(entry.path) :]
        links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]  # not walked: one each
        for name in sorted(files + links):
            yield f"{sub}{os.sep}{name}", HIDDEN
    if not counted:  # unreadable: its files cannot be counted, so it counts as one
        yield rel, HIDDEN


def _walk_remote(root: str, recursive: bool):
    """``_walk`` for a ``scheme://`` dump (``tf.io.gfile.walk``; object stores have no symlinks)."""
    prefix = root.rstrip("/") + "/"
    for dirpath, dirnames, filenames in fsio.walk(root):
        dirnames[:] = sorted(d.rstrip("/") for d in dirnames) if recursive else []
        rel_dir = dirpath.rstrip("/")[len(prefix) :] if dirpath.rstrip("/") != root.rstrip("/") else ""
        skip = HIDDEN if any(part.startswith(".") for part in rel_dir.split("/")) else ""
        for name in sorted(filenames):
            yield (f"{rel_dir}/{name}" if rel_dir else name), skip


def _outside(root: Path, path: Path) -> bool:
    """Whether ``path`` resolves (symlinks followed) outside ``root``."""
    root_real = os.path.realpath(root)
    return os.path.commonpath([root_real, os.path.realpath(path)]) != root_real


def _read_head(path: str, n: int = 16) -> bytes:
    return read_input(path, n)


@dataclass
class _Found:
    """A dump's files by kind, keyed by stem: what the walk saw, before pairing."""

    images: dict[str, list[str]] = field(default_factory=dict)
    sidecars: dict[str, list[str]] = field(default_factory=dict)
    special: set[str] = field(default_factory=set)  # not regular files: rejected as unreadable wherever they pair


def scan_sidecars(
    root: str,
    *,
    recursive: bool = True,
    follow_symlinks: bool = False,
    on_images: Callable[[list[str]], None] | None = None,
) -> Scan:
    """Pair every image with the ``.json`` of the same stem in the same folder.

    ``root`` may be a ``scheme://`` folder (``gs://``, ``s3://`` ...), walked with ``tf.io.gfile``.
    ``on_images`` receives the images paired with a sidecar (relative paths, in stem order) once
    the folder is walked and before the sidecars are read, so their checks can start early.
    """
    remote = fsio.is_remote(root)
    base = root if remote else Path(root)
    if not (fsio.isdir(root) if remote else base.is_dir()):
        raise InputError(f"dump folder not found: {root} (pass the folder that holds the images)")
    scan = Scan(root=str(base))
    if not remote and not os.access(base, os.R_OK | os.X_OK):
        raise InputError(f"cannot read dump folder {root}: permission denied; fix its permissions")
    walked = _walk_remote(root, recursive) if remote else _walk(base, recursive, follow_symlinks)
    found = _sort_files(scan, base, walked)
    ordered = sorted(found.images.items())
    if on_images is not None:  # the images that will be read: one per stem, one sidecar
        on_images(
            [
                paths[0]
                for stem, paths in ordered
                if len(paths) == 1 and len(found.sidecars.get(stem, ())) == 1 and paths[0] not in found.special
            ]
        )
    for stem, paths in ordered:
        scan.inputs_found += len(paths)
        paired = _pair(base, stem, paths, found)
        if isinstance(paired, Item):
            scan.items.append(paired)
        else:
            scan.rejects.extend(paired)
    for stem, sidecars in sorted(found.sidecars.items()):
        if stem not in found.images:
            for sidecar in sidecars:
                scan.inputs_found += 1
                scan.rejects.append(
                    Reject(sidecar, stem, "unreadable", NOT_REGULAR)
                    if sidecar in found.special
                    else Reject(sidecar, stem, "orphan_sidecar", "no image with this stem")
                )
    return scan


def _sort_files(scan: Scan, base, walked) -> _Found:
    """Images and sidecars by stem; litter, skipped and other files counted in ``scan``, and a special
    file that is neither image nor sidecar rejected there. Files without an image extension are
    sniffed (a PNG named ``.dat`` is an image).
    """
    found = _Found()
    for rel, skipped in walked:
        name = os.path.basename(rel)
        stem, ext = os.path.splitext(rel)
        if skipped and skipped != NOT_REGULAR_SKIP:
            scan.ignored[skipped] += 1
            continue
        if is_litter(name):
            scan.litter.append(rel)
            continue
        ext = ext.lower()
        if skipped:  # a FIFO, socket or device: never opened, never sniffed
            found.special.add(rel)
            if ext not in IMAGE_EXTS and ext != SIDECAR_EXT:
                scan.inputs_found += 1
                scan.rejects.append(Reject(rel, stem, "unreadable", NOT_REGULAR))
                continue
        if ext == SIDECAR_EXT:
            found.sidecars.setdefault(stem, []).append(rel)
            continue
        if ext in IMAGE_EXTS:
            found.images.setdefault(stem, []).append(rel)
            continue
        try:
            head = _read_head(fsio.join(base, rel))
        except Exception:  # noqa: BLE001 - OSError locally, tf.errors.* remotely
            head = b""
        if sniff_format(head):
            found.images.setdefault(stem, []).append(rel)
        else:
            scan.ignored[ext or "(no extension)"] += 1
    return found


def _pair(base, stem: str, paths: list[str], found: _Found) -> Item | list[Reject]:
    """The item of one stem's image(s), or why it is rejected (its sidecar read only when needed)."""
    if len(paths) > 1:
        return [
            Reject(p, stem, "duplicate_stem", f"same stem as {', '.join(q for q in paths if q != p)}") for p in paths
        ]
    image = paths[0]
    candidates = found.sidecars.get(stem, [])
    if len(candidates) > 1:  # a.json and a.JSON: which one describes the image is ambiguous
        return [Reject(image, stem, "duplicate_stem", f"several sidecars: {', '.join(candidates)}")]
    sidecar = candidates[0] if candidates else None
    if image in found.special or sidecar in found.special:
        return [
            Reject(image, stem, "unreadable", NOT_REGULAR if image in found.special else f"{sidecar}: {NOT_REGULAR}")
        ]
    if sidecar is None:
        return [Reject(image, stem, "no_sidecar", f"expected {os.path.basename(stem)}.json next to it")]
    meta, problem = read_sidecar(fsio.join(base, sidecar))
    if problem:
        return [Reject(image, stem, "bad_sidecar", f"{sidecar}: {problem}")]
    return Item(stem=stem, image=image, meta=meta)


def read_table(path: str):
    """A label/metadata table (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``) as a DataFrame;
    one-line :class:`InputError` when it cannot be read.
    """
    import pandas as pd

    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            _refuse_duplicate_columns(path)
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".jsonl", ".ndjson"):
            _refuse_duplicate_keys(path)
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except FileNotFoundError:
        raise InputError(f"table not found: {path}") from None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for unreadable tables
        raise InputError(f"{path}: cannot read table ({' '.join(str(exc).split())[:160]})") from None
    raise InputError(f"{path}: unsupported table type {suffix!r}; use .csv, .jsonl or .parquet")


def _refuse_duplicate_columns(path: str) -> None:
    """Pandas renames a repeated CSV header to ``name.1``: the label column would be the first of two
    and the other value silently become metadata. Refuse the table instead.
    """
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}: column {name!r} appears twice in the header; rename or remove one")
        seen.add(name)


def _refuse_duplicate_keys(path: str) -> None:
    """Pandas keeps the last of two equal keys in a JSON Lines row (a label silently replaced, as a
    duplicate key in a sidecar would: there it is ``bad_sidecar``). Refuse the table, naming the line.
    """
    import json

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise InputError(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                json.loads(line, object_pairs_hook=pairs)
            except InputError as dup:
                raise InputError(f"{path}, line {number}: duplicate key {str(dup)!r} in one row; keep one") from None
            except ValueError:
                return  # not JSON: pandas says so with its own message below


def write_table(df, path: str) -> None:
    """Write a table in the format its suffix names, atomically (temp name, then rename)."""
    import io

    from pipecheck.pipeline.fsio import write_atomic

    suffix = Path(path).suffix.lower()
    buf = io.BytesIO()
    if suffix == ".csv":
        buf.write(df.to_csv(index=False).encode("utf-8"))
    elif suffix in (".jsonl", ".ndjson"):
        buf.write(df.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8"))
    elif suffix == ".parquet":
        df.to_parquet(buf, index=False)
    else:
        raise InputError(f"{path}: unsupported table type {suffix!r}; use .csv, .jsonl or .parquet")
    write_atomic(path, buf.getvalue())


def scan_manifest(
    root: str,
    manifest: str,
    path_column: str = "path",
    *,
    recursive: bool = True,
    follow_symlinks: bool = False,
    on_images: Callable[[list[str]], None] | None = None,
) -> Scan:
    """Items from one table (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``) with a path column.

    Images under ``root`` that the table does not list are rejected as ``no_sidecar`` so nothing in
    the dump is silently left out. ``on_images``: as for :func:`scan_sidecars`.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"dump folder not found: {root} (pass the folder that holds the images)")
    df = read_table(manifest)
    if path_column not in df.columns:
        raise InputError(
            f"{manifest}: no column {path_column!r} (columns: {', '.join(map(str, df.columns))}); pass --path-column"
        )
    scan = Scan(root=str(base))
    listed: set[str] = set()
    for row in df.to_dict(orient="records"):
        rel = os.path.normpath(str(row.pop(path_column)))
        stem = os.path.splitext(rel)[0]
        scan.inputs_found += 1
        if rel.startswith("..") or os.path.isabs(rel):
            scan.rejects.append(Reject(rel, stem, "outside_dump", "the path leaves the dump folder"))
            continue
        if not follow_symlinks and _outside(base, base / rel):
            scan.rejects.append(
                Reject(rel, stem, "outside_dump", "a symlink leads outside the dump; pass --follow-symlinks to read it")
            )
            continue
        if rel in listed:
            scan.rejects.append(Reject(rel, stem, "duplicate_row", "path listed more than once"))
            continue
        listed.add(rel)
        if not (base / rel).is_file():
            if (base / rel).exists() and not (base / rel).is_dir():  # a FIFO, socket, or a link to a device
                scan.rejects.append(Reject(rel, stem, "unreadable", NOT_REGULAR))
            else:
                scan.rejects.append(Reject(rel, stem, "missing_image", f"not found under {root}"))
            continue
        meta = clean_text({str(k): _plain(v) for k, v in row.items()})
        if collision := key_collision(meta):  # a "taxon.species" column and a nested {"taxon": {"species": ..}}
            scan.rejects.append(Reject(rel, stem, "bad_sidecar", f"{os.path.basename(manifest)}: {collision}"))
            continue
        scan.items.append(Item(stem=stem, image=rel, meta=meta))
    if on_images is not None:
        on_images([item.image for item in scan.items])
    for rel, skipped in _walk(base, recursive, False):
        name = os.path.basename(rel)
        if (
            (skipped and skipped != NOT_REGULAR_SKIP)
            or is_litter(name)
            or rel in listed
            or os.path.abspath(base / rel) == os.path.abspath(manifest)
        ):
            continue
        if os.path.splitext(rel)[1].lower() in IMAGE_EXTS:
            scan.inputs_found += 1
            scan.rejects.append(
                Reject(rel, os.path.splitext(rel)[0], "no_sidecar", f"not listed in {os.path.basename(manifest)}")
            )
    return scan


def _plain(value: Any) -> Any:
    """Numpy/pandas scalars to Python; NaN to None."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value
