"""``dataset.json``: what was built, from what, with which options; read by the reader and verify.

One typed form, :class:`Manifest` (with :class:`SplitInfo` and :class:`ShardInfo`), written and read
by every writer and reader of a build folder. ``Manifest.from_json(data).to_json()`` gives back
``data`` byte for byte: keys this version does not know are kept (``extra``) and keys keep the order
they were read in, so a folder built by another pipecheck version reads and re-writes unchanged.
The layout is documented in docs/formats.md. The file is written last, by ``staging.publish``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

from pipecheck.pipeline.errors import InputError

MANIFEST_NAME = "dataset.json"
REJECTS_NAME = "rejects.jsonl"
CHECKSUMS_NAME = "checksums.jsonl"
FORMAT_VERSION = 1
SINGLE_LABEL = "single_label"
MULTI_LABEL = "multi_label"


def split_order(names: Iterable[str]) -> list[str]:
    """Split names as a manifest lists them: the one order, :func:`pipecheck.pipeline.split.split_order`
    (train, val, test, then the others sorted); imported here when called, so reading a manifest stays light.
    """
    from pipecheck.pipeline.split import split_order as one_order

    return one_order(names)


class _Keyed:
    """JSON objects that keep what they were read with: unknown keys and the key order."""

    KEYS: ClassVar[tuple[str, ...]]  # the keys this version knows, in the order it writes them
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()  # left out of the JSON while None

    def _json_value(self, key: str) -> Any:
        return copy.deepcopy(getattr(self, key))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (fresh containers: changing it changes nothing here)."""
        order: tuple[str, ...] = self._keys  # type: ignore[attr-defined]
        present = {k for k in self.KEYS if k in order or not (k in self.OPTIONAL and getattr(self, k) is None)}
        out: dict[str, Any] = {}
        extra = copy.deepcopy(dict(self.extra))  # type: ignore[attr-defined]
        for key in order:  # as read first; then keys set since, in this version's order
            if key in present:
                out[key] = self._json_value(key)
            elif key in extra:
                out[key] = extra.pop(key)
        for key in self.KEYS:
            if key in present and key not in out:
                out[key] = self._json_value(key)
        out.update(extra)
        return out

    @classmethod
    def _split_keys(cls, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        known = {k: v for k, v in data.items() if k in cls.KEYS}
        return known, {k: v for k, v in data.items() if k not in cls.KEYS}


@dataclass(frozen=True)
class ShardInfo(_Keyed):
    """One shard of a split: its file name (inside the build folder), records, size and sha256."""

    KEYS: ClassVar[tuple[str, ...]] = ("file", "records", "bytes", "sha256")

    file: str
    records: int
    bytes: int
    sha256: str
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardInfo:
        known, extra = cls._split_keys(data)
        return cls(**known, extra=extra, _keys=tuple(data))


@dataclass(frozen=True)
class SplitInfo(_Keyed):
    """One split: how many examples, how many per class (every class, zeros included), its shards."""

    KEYS: ClassVar[tuple[str, ...]] = ("examples", "class_counts", "shards")
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"class_counts"})

    examples: int
    class_counts: Mapping[str, int] | None = None
    shards: tuple[ShardInfo, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def _json_value(self, key: str) -> Any:
        if key == "shards":
            return [s.to_dict() for s in self.shards]
        return super()._json_value(key)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitInfo:
        known, extra = cls._split_keys(data)
        known["shards"] = tuple(ShardInfo.from_dict(s) for s in known.get("shards", ()))
        return cls(**known, extra=extra, _keys=tuple(data))


@dataclass(frozen=True)
class Manifest(_Keyed):
    """``dataset.json`` as a value. Every field but ``classes`` and ``splits`` may be None: absent
    from the file (an older build, or one that wrote no statistics).

    ``to_json()`` is the file's bytes; ``to_dict()`` the JSON object (what :func:`read_manifest`
    returns). ``options``, ``accounting``, ``statistics``, ``meta_features`` and ``metadata_keys``
    stay mappings (their keys are documented in docs/formats.md); treat them as read-only.
    """

    KEYS: ClassVar[tuple[str, ...]] = (
        "pipecheck_version",
        "format_version",
        "created_unix",
        "build_seconds",
        "dump",
        "options",
        "label_mode",
        "label_field",
        "classes",
        "meta_features",
        "metadata_keys",
        "splits",
        "accounting",
        "statistics",
        "image_quality",
        "resplit_from",
    )
    OPTIONAL: ClassVar[frozenset[str]] = frozenset(KEYS) - {"classes", "splits"}

    classes: tuple[str, ...]
    splits: Mapping[str, SplitInfo]
    pipecheck_version: str | None = None
    format_version: int | None = None
    created_unix: float | None = None
    build_seconds: float | None = None
    dump: str | None = None
    options: Mapping[str, Any] | None = None
    label_mode: str | None = None  # SINGLE_LABEL or MULTI_LABEL
    label_field: str | None = None
    meta_features: Mapping[str, str] | None = None  # metadata name -> int | float | bytes
    metadata_keys: Mapping[str, Any] | None = None  # the --max-metadata-keys cap's summary
    accounting: Mapping[str, Any] | None = None
    statistics: Mapping[str, str] | None = None  # split -> stats file, relative to the folder
    image_quality: Mapping[str, Any] | None = None  # quality.summarise's summary (docs/formats.md)
    resplit_from: str | None = None  # the build `pipecheck split --data` made this one from
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    # --- reading -------------------------------------------------------------------------------
    @property
    def multi_label(self) -> bool:
        return self.label_mode == MULTI_LABEL

    @property
    def option(self) -> Mapping[str, Any]:
        """``options`` ({} when absent)."""
        return self.options or {}

    @property
    def meta_types(self) -> Mapping[str, str]:
        """``meta_features`` ({} when absent)."""
        return self.meta_features or {}

    def split(self, name: str, where: str | os.PathLike = "the dataset") -> SplitInfo:
        if name not in self.splits:
            raise InputError(f"split {name!r} not in {where} (has: {', '.join(self.splits)})")
        return self.splits[name]

    def shard_paths(self, out_dir: str | os.PathLike, split: str) -> list[str]:
        """The split's shard files inside ``out_dir``, in manifest order."""
        return [str(Path(out_dir) / s.file) for s in self.split(split, out_dir).shards]

    # --- JSON ----------------------------------------------------------------------------------
    def _json_value(self, key: str) -> Any:
        if key == "classes":
            return list(self.classes)
        if key == "splits":
            return {name: info.to_dict() for name, info in self.splits.items()}
        return super()._json_value(key)

    def to_json(self) -> bytes:
        """``dataset.json`` as written (one place for its formatting)."""
        return (json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n").encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """From the JSON object; raises :class:`ManifestError` when its shape is not whole."""
        if not isinstance(data, Mapping) or "splits" not in data or "classes" not in data:
            raise ManifestError("not a pipecheck manifest (no splits/classes); rebuild the dataset")
        problem = manifest_problem(data)
        if problem:
            raise ManifestError(problem, damaged=True)
        known, extra = cls._split_keys(data)
        known["classes"] = tuple(known["classes"])
        known["splits"] = {name: SplitInfo.from_dict(info) for name, info in known["splits"].items()}
        return cls(**known, extra=extra, _keys=tuple(data))

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """From the file's bytes; raises :class:`ManifestError` (a ValueError) when unusable."""
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"not valid JSON ({exc}); rebuild the dataset") from None
        return cls.from_dict(obj)

    def replace(self, **changes: Any) -> Manifest:
        """A copy with ``changes`` (keys keep their order; a key new to the file goes last)."""
        return dataclasses.replace(self, **changes)


def splits_from_shards(
    shards: Iterable[tuple[str, ShardInfo, Mapping[str, int]]], classes: Iterable[str], requested: Iterable[str] = ()
) -> dict[str, SplitInfo]:
    """The manifest's ``splits`` from ``(split, shard, class counts)`` in file order: per split its
    examples, its count for every class (zeros included) and its shards, in :func:`split_order`.
    A ``requested`` split that received no shard stays, empty, so the checks can say so
    (``build.empty_split``, ``dataset.empty_split``) instead of it silently not existing.
    """
    from collections import Counter

    counts: dict[str, Counter] = {name: Counter() for name in requested}
    members: dict[str, list[ShardInfo]] = {name: [] for name in requested}
    for split, shard, class_counts in shards:
        counts.setdefault(split, Counter()).update(class_counts)
        members.setdefault(split, []).append(shard)
    classes = list(classes)
    return {
        name: SplitInfo(
            examples=sum(s.records for s in members[name]),
            class_counts={c: counts[name].get(c, 0) for c in classes},
            shards=tuple(members[name]),
        )
        for name in split_order(members)
    }


class ManifestError(ValueError):
    """Why a ``dataset.json`` cannot be used; :meth:`at` says it as one line naming the file."""

    def __init__(self, problem: str, *, damaged: bool = False):
        super().__init__(problem)
        self.damaged = damaged

    def at(self, path: str | os.PathLike) -> str:
        if self.damaged:
            return f"{path} is damaged: {self}; copy the dataset again from a good source or rebuild it"
        return f"{path}: {self}"


def load_manifest(out_dir: str | os.PathLike) -> Manifest:
    """Load ``dataset.json``; one-line :class:`InputError` when the folder is not a build."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} not found: {out_dir} is not a folder built by `pipecheck build-tfrecords`") from None
    try:
        return Manifest.from_json(data)
    except ManifestError as exc:
        raise InputError(exc.at(path)) from None


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any]:
    """:func:`load_manifest` as the plain JSON object (``Manifest.to_dict()``), for callers that
    still look keys up by name; new code reads the fields of :func:`load_manifest`'s result.
    """
    return load_manifest(out_dir).to_dict()


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
        if (
            not isinstance(info, dict)
            or not _is_count(info.get("examples"))
            or not isinstance(info.get("shards"), list)
        ):
            return f"split {name!r} lacks 'examples' or 'shards'"
        for i, shard in enumerate(info["shards"]):
            if not isinstance(shard, dict):
                return f"split {name!r} shard {i} is not a mapping"
            file = shard.get("file")
            if (
                not isinstance(file, str)
                or not file
                or file.startswith(("/", "\\"))
                or ".." in Path(file).parts
                or "\x00" in file
            ):
                return f"split {name!r} shard {i} has no plain file name inside the folder"
            if not (
                _is_count(shard.get("records"))
                and _is_count(shard.get("bytes"))
                and isinstance(shard.get("sha256"), str)
            ):
                return f"split {name!r} shard {file} lacks records/bytes/sha256"
    for key in ("statistics", "accounting", "options", "metadata_keys"):
        if key in data and not isinstance(data[key], dict):
            return f"{key!r} is not a mapping"
    return None


def shard_paths(out_dir: str | os.PathLike, manifest: Manifest | Mapping[str, Any], split: str) -> list[str]:
    """The split's shard files inside ``out_dir`` (``manifest`` typed, or its JSON object)."""
    if not isinstance(manifest, Manifest):
        manifest = Manifest.from_dict(manifest)
    return manifest.shard_paths(out_dir, split)
