"""Label and metadata extraction from sidecar objects, and the class vocabulary.

Sidecar values are data, never paths: nothing here opens a file named by a sidecar.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from pipecheck.pipeline.errors import InputError

_MISSING = object()


class LabelMode(enum.StrEnum):
    """How label tensors are laid out: the one vocabulary of the reader (``load_dataset(label_mode=)``),
    the input checks (``validate``'s label checks) and the training checks (``run_train_check``).

    ``INT``: one class index per image, for sparse_categorical_crossentropy. ``CATEGORICAL``: one-hot
    rows of ``C``. ``BINARY``: one 0/1 value per image, for a one-unit sigmoid head on two classes.
    ``MULTI_HOT``: rows of ``C`` with a 1 for every class present (multi-label data).

    Members are ``str``: they compare equal to, and print and serialize as, their value. The manifest's
    own ``label_mode`` field (``single_label``/``multi_label``, a file format) is not one of these: read
    it through ``Manifest.multi_label`` and :meth:`for_data`.
    """

    INT = "int"
    CATEGORICAL = "categorical"
    BINARY = "binary"
    MULTI_HOT = "multi_hot"

    @classmethod
    def normalize(cls, value: str | LabelMode | None) -> LabelMode | None:
        """The mode ``value`` names (None stays None): a member, its value or one of :data:`LABEL_MODE_ALIASES`,
        in any case, with ``-`` for ``_``. Raises a one-line :class:`InputError` naming the valid values.
        """
        if value is None or isinstance(value, cls):
            return value
        key = str(value).strip().lower().replace("-", "_") if isinstance(value, str) else None
        if key not in LABEL_MODE_ALIASES:
            raise InputError(
                f"label_mode {value!r} is not a label mode; use {', '.join(m.value for m in cls)} "
                f"(or an alias: {', '.join(a for a in LABEL_MODE_ALIASES if a not in cls._value2member_map_)})"
            )
        return cls(LABEL_MODE_ALIASES[key])

    @classmethod
    def for_data(cls, multi_label: bool) -> LabelMode:
        """The reader's default for a build: ``MULTI_HOT`` for multi-label data, else ``CATEGORICAL``."""
        return cls.MULTI_HOT if multi_label else cls.CATEGORICAL


# Every spelling users pass today (the reader's, the input checks' and the training run's), lowercased
# with ``_`` for ``-``, and the mode it names.
LABEL_MODE_ALIASES: dict[str, str] = {
    "int": "int",
    "sparse": "int",
    "sparse_categorical": "int",
    "categorical": "categorical",
    "one_hot": "categorical",
    "onehot": "categorical",
    "binary": "binary",
    "multi_hot": "multi_hot",
    "multihot": "multi_hot",
    "multi_label": "multi_hot",
    "multilabel": "multi_hot",
}


def lookup(obj: dict[str, Any], dotted: str) -> Any:
    """Value at ``dotted`` (``taxon.species``); a literal key containing dots wins over nesting."""
    if dotted in obj:
        return obj[dotted]
    cur: Any = obj
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return _MISSING
    return cur


def _scalar_label(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        value = value.strip()
        return value or ""
    return None


@dataclass(frozen=True)
class LabelSpec:
    """Which field holds the label(s) and how to read it."""

    field: str
    multi_label: bool = False
    sep: str | None = None
    allow_empty: bool = False


def label_values(value: Any, sep: str | None = None) -> list[str] | None:
    """The label names in one field value; None when the value is not a label at all.

    Lists/tuples/arrays give one label each; a string gives one label, or several split on
    ``sep``; numbers and booleans become their text; null, NaN and blanks give no label.
    Duplicates are dropped, order kept.
    """
    if value is None or (isinstance(value, float) and value != value):
        return []
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, str) and sep:
        value = value.split(sep)
    values = value if isinstance(value, (list, tuple, set)) else [value]
    labels: list[str] = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        label = _scalar_label(v)
        if label is None:
            return None
        if label and label not in labels:
            labels.append(label)
    return labels


def extract_labels(meta: dict[str, Any], spec: LabelSpec) -> tuple[list[str], str, str]:
    """Labels of one item: ``(labels, reject_reason, detail)``; reason is "" when usable."""
    value = lookup(meta, spec.field)
    if value is _MISSING:
        return [], "label_missing", f"no field {spec.field!r}"
    if value is None:
        return [], "label_empty", f"{spec.field!r} is null"
    labels = label_values(value, spec.sep if spec.multi_label else None)
    if labels is None:
        bad = next((v for v in (value if isinstance(value, list) else [value]) if _scalar_label(v) is None), value)
        return [], "label_invalid", f"{spec.field!r} holds {type(bad).__name__}, not a string or number"
    if not labels:
        if spec.multi_label and spec.allow_empty:
            return [], "", ""
        return [], "label_empty", f"{spec.field!r} is empty"
    if not spec.multi_label and len(labels) > 1:
        return [], "multiple_labels", f"{spec.field!r} has {len(labels)} values: {labels[:5]}"
    return labels, "", ""


def flatten_meta(meta: dict[str, Any], skip: Iterable[str] = (), prefix: str = "") -> dict[str, Any]:
    """Scalar fields of a (nested) sidecar, nested keys joined with ``.``; lists and nulls dropped."""
    skip = set(skip)
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if name in skip:
            continue
        if isinstance(value, dict):
            out.update(flatten_meta(value, skip, prefix=f"{name}."))
        elif isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value)):
            out[name] = value
    return out


DEFAULT_MAX_META_KEYS = 256  # ``--max-metadata-keys``: metadata features a build keeps
DROPPED_EXAMPLES = 10  # dropped keys named in the manifest (the most frequent first)


def cap_meta_keys(counts: Counter, max_keys: int) -> tuple[set[str], dict[str, Any]]:
    """The metadata keys a build keeps, and what the manifest records about the cap.

    ``counts`` holds, per flattened key, how many kept items carry it. The ``max_keys`` most
    frequent keys are kept, ties broken by name, so the choice depends on the dump alone (not on
    file or key order). Every per-key thing downstream (records, types, TFDV statistics and
    schema) sees only these: a sidecar with 10,000 fields made TFDV grow past 24 GB.
    The summary is ``{"max", "found", "kept", "dropped", "dropped_examples": {key: items}}``.
    """
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = {key for key, _ in ranked[:max_keys]}
    dropped = ranked[max_keys:]
    summary = {
        "max": max_keys,
        "found": len(ranked),
        "kept": len(kept),
        "dropped": len(dropped),
        "dropped_examples": dict(dropped[:DROPPED_EXAMPLES]),
    }
    return kept, summary


def meta_types(metas: Iterable[dict[str, Any]]) -> dict[str, str]:
    """One TFRecord type per meta key across all items: ``int``, ``float`` or ``bytes``.

    A key that is an int in one sidecar and a string in another becomes ``bytes`` for every item,
    so the reader and TFDV see one type per feature.
    """
    kinds: dict[str, set[str]] = {}
    for meta in metas:
        for key, value in meta.items():
            if isinstance(value, (bool, int)):
                # A serial number beyond int64 would wrap silently in a TFRecord: keep it as text.
                kind = "int" if -(1 << 63) <= int(value) < (1 << 63) else "bytes"
            else:
                kind = "float" if isinstance(value, float) else "bytes"
            kinds.setdefault(key, set()).add(kind)
    out = {}
    for key, seen in sorted(kinds.items()):
        out[key] = "bytes" if "bytes" in seen else "float" if "float" in seen else "int"
    return out


def coerce_meta(meta: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    out = {}
    for key, value in meta.items():
        kind = types.get(key)
        if kind == "int":
            out[key] = int(value)
        elif kind == "float":
            out[key] = float(value)
        elif kind == "bytes":
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def vocabulary(label_lists: Iterable[list[str]]) -> list[str]:
    """Sorted class names, so indices are stable across rebuilds of the same label set."""
    return sorted({label for labels in label_lists for label in labels})
