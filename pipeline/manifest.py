"""``dataset.json``: what was built, from what, with which options; read by the reader and verify.

Written to a temporary name and renamed, like every output file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipecheck.pipeline import fsio
from pipecheck.pipeline.errors import InputError

MANIFEST_NAME = "dataset.json"
REJECTS_NAME = "rejects.jsonl"
CHECKSUMS_NAME = "checksums.jsonl"
FORMAT_VERSION = 1


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """``dataset.json`` as written (one place for its formatting)."""
    return (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()


def write_manifest(out_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    fsio.write_atomic(Path(out_dir) / MANIFEST_NAME, manifest_bytes(manifest))


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Load ``dataset.json``; one-line :class:`InputError` when the folder is not a build."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} not found: {out_dir} is not a folder built by `pipecheck build-tfrecords`") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); rebuild the dataset") from None
    if not isinstance(data, dict) or "splits" not in data or "classes" not in data:
        raise InputError(f"{path}: not a pipecheck manifest (no splits/classes); rebuild the dataset")
    problem = manifest_problem(data)
    if problem:
        raise InputError(f"{path} is damaged: {problem}; copy the dataset again from a good source or rebuild it")
    return data


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def manifest_problem(data: dict[str, Any]) -> str | None:
    """What makes ``dataset.json`` unusable, in a few words, or None when its shape is whole.

    Checked: ``classes`` a list of distinct strings; ``splits`` a mapping of split name to
    ``{"examples": count, "shards": [{"file", "records", "bytes", "sha256"}, ...]}``, each shard file a
    plain name inside the folder; ``statistics`` and ``accounting``, when present, mappings.
    """
    classes = data.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return "'classes' is not a list of class names"
    if len(set(classes)) != len(classes):
        return "'classes' lists a class twice"
    splits = data.get("splits")
    if not isinstance(splits, dict) or not splits:
        return "'splits' is not a mapping of split names"
    for name, info in splits.items():
        if not isinstance(info, dict) or not _is_count(info.get("examples")) or not isinstance(info.get("shards"), list):
            return f"split {name!r} lacks 'examples' or 'shards'"
        for i, shard in enumerate(info["shards"]):
            if not isinstance(shard, dict):
                return f"split {name!r} shard {i} is not a mapping"
            file = shard.get("file")
            if not isinstance(file, str) or not file or file.startswith(("/", "\\")) or ".." in Path(file).parts \
                    or "\x00" in file:
                return f"split {name!r} shard {i} has no plain file name inside the folder"
            if not (_is_count(shard.get("records")) and _is_count(shard.get("bytes")) and isinstance(shard.get("sha256"), str)):
                return f"split {name!r} shard {file} lacks records/bytes/sha256"
    for key in ("statistics", "accounting", "options", "metadata_keys"):
        if key in data and not isinstance(data[key], dict):
            return f"{key!r} is not a mapping"
    return None


def shard_paths(out_dir: str | os.PathLike, manifest: dict[str, Any], split: str) -> list[str]:
    splits = manifest["splits"]
    if split not in splits:
        raise InputError(f"split {split!r} not in {out_dir} (has: {', '.join(splits)})")
    return [str(Path(out_dir) / s["file"]) for s in splits[split]["shards"]]


def swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by a finished staging folder; the old output is removed only afterwards."""
    import shutil

    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in out.parent.glob(f".{out.name}.old-*"):  # from a process killed mid-swap
        shutil.rmtree(leftover, ignore_errors=True)


def swap_in_remote(staging: str, out: str) -> None:
    """:func:`swap_in` for ``scheme://`` folders, which object stores cannot rename in one step.

    The old ``dataset.json`` goes first and the new one comes last, so a reader never sees a
    manifest next to shards of another build: until the last rename ``out`` is not a build.
    """
    if fsio.exists(out):
        fsio.remove(fsio.join(out, MANIFEST_NAME))
        fsio.rmtree(out)
    fsio.makedirs(out)
    last = None
    for dirpath, _dirs, files in fsio.walk(staging):
        rel_dir = dirpath.rstrip("/")[len(staging.rstrip("/")):].lstrip("/")
        target_dir = fsio.join(out, rel_dir) if rel_dir else out
        fsio.makedirs(target_dir)
        for name in files:
            if not rel_dir and name == MANIFEST_NAME:
                last = fsio.join(dirpath, name)
                continue
            fsio.replace(fsio.join(dirpath, name), fsio.join(target_dir, name))
    if last is not None:
        fsio.replace(last, fsio.join(out, MANIFEST_NAME))
    fsio.rmtree(staging)
