"""Fingerprints and data-set tracing for the dynamic generator checks.

A sample is identified by ``blake2b`` (8 bytes) over its bytes, a batch by the sorted multiset of its
samples; only these digests are kept, never the arrays.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from pipecheck.validators.sources import Source


def fingerprint(*chunks: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=8)
    for c in chunks:
        h.update(c)
    return h.digest()


def array_leaves(part: Any, path: str = "") -> list[tuple[str, Any]]:
    import numpy as np

    if isinstance(part, dict):
        return [leaf for k in sorted(part, key=str) for leaf in array_leaves(part[k], f"{path}.{k}")]
    if isinstance(part, tuple):
        return [leaf for i, v in enumerate(part) for leaf in array_leaves(v, f"{path}[{i}]")]
    return [(path, np.asarray(part))]


def batch_fp(batch: tuple) -> bytes:
    import numpy as np

    chunks = []
    for name, arr in array_leaves(batch):
        chunks += [name.encode(), arr.dtype.str.encode(), str(arr.shape).encode(), np.ascontiguousarray(arr).tobytes()]
    return fingerprint(*chunks)


def sample_fps(x: Any) -> list[bytes]:
    import numpy as np

    leaves = [a if a.ndim else a.reshape(1) for _, a in array_leaves(x)]
    # parts of unequal length (batch_count_mismatch's to report): fingerprint the rows they share
    n = min(len(a) for a in leaves) if leaves else 0
    return [fingerprint(*(np.ascontiguousarray(a[i]).tobytes() for a in leaves)) for i in range(n)]


def label_key(row: Any) -> Any:
    """One canonical key per label so a one-hot row and its integer class compare equal."""
    import numpy as np

    a = np.asarray(row)
    if a.ndim == 0:
        v = a.item()
        return ("v", float(v)) if isinstance(v, (int, float, bool)) else ("v", v)
    if a.ndim == 1 and a.size > 1 and a.dtype.kind in "biuf" and np.all((a == 0) | (a == 1)) and a.sum() == 1:
        return ("v", float(np.argmax(a)))
    if a.dtype.kind in "biuf":
        return ("a", a.shape, a.astype("float64").tobytes())
    return ("a", a.shape, a.tobytes())


def batch_signature(batch: tuple) -> list[tuple[str, int, tuple, str, int]]:
    return [
        (name, a.ndim, tuple(a.shape[1:]), a.dtype.str, int(a.shape[0]) if a.ndim else 1)
        for name, a in array_leaves(batch)
    ]


def stream_period(fps: list[bytes]) -> int | None:
    """Smallest p such that the batch sequence repeats with period p at least twice, else None."""
    n = len(fps)
    for p in range(1, n // 2 + 1):
        if all(fps[i] == fps[i - p] for i in range(p, n)):
            return p
    return None


def shape_summary(sig: list) -> dict[str, list]:
    """``{leaf: [batch, *sample shape]}`` of a :func:`batch_signature`, for messages."""
    return {(n or "x"): [b, *s] for n, _, s, _, b in sig}


def dtype_summary(sig: list) -> dict[str, str]:
    return {(n or "x"): t for n, _, _, t, _ in sig}


def shuffle_asked(src: Source) -> bool:
    """Whether the source asked for shuffling: a ``shuffle`` argument/attribute/--source-arg, or a
    shuffle step anywhere in a ``tf.data`` chain (read through the private ``_input_dataset`` links).
    """
    for key in ("shuffle", "shuffled", "do_shuffle"):
        if key in src.params:
            return bool(src.params[key])
    if src.kind == "tf.data":
        ds, depth = src.obj, 0
        while ds is not None and depth < 64:
            if "Shuffle" in type(ds).__name__:
                return True
            ds, depth = getattr(ds, "_input_dataset", None), depth + 1
    return False


class LabelTrace:
    """Matches yielded samples back to the traced data set to size it and to check their labels."""

    def __init__(self, src: Source):
        self.src = src
        traced = src.traced
        lengths = Counter(len(v) for v in traced.values())
        # The length most traced arrays share is the data set's; ties go to the longer one.
        self.size: int | None = max(lengths, key=lambda n: (lengths[n], n)) if lengths else None
        self._xs = [(k, v) for k, v in traced.items() if hasattr(v, "ndim") and v.ndim >= 2]
        self._index: dict[bytes, list[int]] | None = None
        self._x_name = ""
        self._ys: list[tuple[str, Any]] = []
        self.matched = 0
        self.unmatched = 0
        self.disagree: Counter = Counter()
        self.examples: dict[str, list] = {}

    def _build(self, x: Any) -> None:
        import numpy as np

        self._index = {}
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            return
        for name, arr in self._xs:
            if tuple(arr.shape[1:]) != tuple(x.shape[1:]):
                continue
            cast = arr if arr.dtype == x.dtype else arr.astype(x.dtype)
            for j in range(len(cast)):
                self._index.setdefault(fingerprint(np.ascontiguousarray(cast[j]).tobytes()), []).append(j)
            self._x_name = name
            self.size = len(arr)
            self._ys = [(k, v) for k, v in self.src.traced.items() if v is not arr and len(v) == len(arr)]
            return

    def add(self, x: Any, y: Any, fps: list[bytes]) -> None:
        import numpy as np

        if self._index is None:
            self._build(x)
        if not self._index:
            return
        y = np.asarray(y) if not isinstance(y, (dict, tuple)) else None
        for i, fp in enumerate(fps):
            where = self._index.get(fp)
            if where is None:
                self.unmatched += 1
                continue
            self.matched += 1
            if y is None or i >= len(y):
                continue
            got = label_key(y[i])
            for name, arr in self._ys:
                if got not in {label_key(arr[j]) for j in where}:
                    self.disagree[name] += 1
                    self.examples.setdefault(name, [])
                    if len(self.examples[name]) < 5:
                        self.examples[name].append(
                            {
                                "dataset_index": where[0],
                                "label_yielded": plain(got),
                                "label_in_dataset": plain(label_key(arr[where[0]])),
                            }
                        )

    def reliable(self) -> bool:
        """Nearly every yielded sample was found in the traced data set."""
        return bool(self._index) and self.matched >= 0.9 * (self.matched + self.unmatched)

    def distinct_in_dataset(self) -> int | None:
        return len(self._index) if self.reliable() else None

    def dataset_duplicates(self) -> int:
        """Images stored more than once in the traced data set (a pass may rightly repeat them)."""
        return (self.size or 0) - len(self._index) if self.reliable() else 0

    def reached(self, seen: set[bytes]) -> int:
        if self.reliable():
            return sum(1 for fp in seen if fp in self._index)
        return len(seen)

    def best_labels(self) -> tuple[str, int] | None:
        """The traced label array that agrees best with the yielded labels, and its mismatch count."""
        if not self._ys:
            return None
        name = min(self._ys, key=lambda kv: self.disagree[kv[0]])[0]
        return name, self.disagree[name]

    @property
    def images_name(self) -> str:
        return self._x_name


def plain(key: Any) -> Any:
    return key[1] if key and key[0] == "v" else "array"
