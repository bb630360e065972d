"""Train/val(/test) assignment: iterative stratification (Sechidis, Tsoumakas & Vlahavas 2011)
over units, where a unit is a group (``--group-field``) or a single image.

One algorithm serves single-label data (each unit has one label: it reduces to per-class
proportional allocation), multi-label data, and grouped data (a unit carries the label counts of
all its images, and all of them go to one split). Unlike ``MultilabelStratifiedShuffleSplit``,
groups are honoured and classes with one example do not raise. Deterministic for a seed and
independent of input order.

Algorithm: while units remain, take the label with the fewest remaining positive units (ties:
random), and hand each unit holding it to the split whose remaining demand for that label is
largest (ties: largest remaining total demand, then random); demands are decremented by the
unit's label counts and size. Units without labels go where total demand is largest.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Hashable, Iterable, Sequence

import numpy as np

SPLIT_ALIASES = {
    "training": "train",
    "tr": "train",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "eval": "val",
    "evaluation": "val",
    "testing": "test",
    "holdout": "test",
}


# A split name becomes part of file names (``train-00000-of-00004.tfrecord``, ``stats/train.stats.pb``):
# one safe token, never a path (``/tmp/x``, ``../evil``, ``fold/1``), never empty, never huge.
SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def normalize_split(value: str) -> str:
    value = str(value).strip().lower()
    return SPLIT_ALIASES.get(value, value)


def is_split_name(name: str) -> bool:
    """Whether ``name`` may be used as a split (and so inside a file name)."""
    return isinstance(name, str) and SPLIT_NAME.fullmatch(name) is not None


def split_from_value(raw: Any, field: str) -> tuple[str, str, str]:
    """A sidecar's or table's ``--split-field`` value as a split: ``(name, reason, detail)``.

    ``reason`` is "" when usable, ``split_missing`` for an absent, blank or non-scalar value, and
    ``split_invalid`` for one that is not a name (a path, a NUL, 300 characters): split values are
    data and end up in file names, so they are validated, never joined as they come.
    """
    if not isinstance(raw, (str, int)) or not str(raw).strip():
        return "", "split_missing", f"no usable {field!r}"
    name = normalize_split(str(raw))
    if not is_split_name(name):
        shown = repr(str(raw)) if len(str(raw)) <= 80 else repr(str(raw)[:80]) + f"... ({len(str(raw))} characters)"
        return (
            "",
            "split_invalid",
            (
                f"{field!r} is {shown}: a split is 1-64 letters, digits, '_' or '-' "
                "(train, val, test, fold_1); fix the value"
            ),
        )
    return name, "", ""


def iterative_split(
    labels: Sequence[Sequence[int]],
    fractions: dict[str, float],
    *,
    groups: Sequence[Hashable] | None = None,
    keys: Sequence[str] | None = None,
    seed: int = 0,
) -> list[str]:
    """Assign each item to a split.

    Args:
        labels: Class indices of each item (one for single-label data, zero or more for multi-label).
        fractions: Split name -> fraction, summing to 1 (e.g. ``{"train": 0.9, "val": 0.1}``).
        groups: Optional group key per item; items of one group always share a split.
        keys: Stable per-item keys (e.g. stems) that define the processing order, so the result
            does not depend on input order. Defaults to the item positions.
        seed: Tie-breaking seed.

    Returns:
        The split name of each item, in input order.
    """
    n = len(labels)
    names = list(fractions)
    frac = np.array([fractions[s] for s in names], dtype="float64")
    if n == 0:
        return []
    if not np.isclose(frac.sum(), 1.0) or (frac < 0).any():
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    if len(names) == 1:  # one split (e.g. --val-fraction 0): nothing to balance
        return [names[0]] * n
    order = sorted(range(n), key=lambda i: keys[i]) if keys is not None else list(range(n))
    members = _units(order, groups)
    demand = _Demand(
        frac, [_label_counts(m, labels) for m in members], [len(m) for m in members], np.random.default_rng(seed)
    )
    demand.assign_all()
    out = [""] * n
    for u, m in enumerate(members):
        for i in m:
            out[i] = names[demand.assigned[u]]
    return out


def _units(order: list[int], groups: Sequence[Hashable] | None) -> list[list[int]]:
    """Items per unit (a group, or one ungrouped item), units numbered in the order of their first member."""
    unit_of: dict[Hashable, int] = {}
    members: list[list[int]] = []
    for i in order:
        g = ("group", groups[i]) if groups is not None and groups[i] is not None else ("item", i)
        if g not in unit_of:
            unit_of[g] = len(members)
            members.append([])
        members[unit_of[g]].append(i)
    return members


def _label_counts(members: list[int], labels: Sequence[Sequence[int]]) -> dict[int, int]:
    """Class -> number of the unit's items that carry it."""
    counts: dict[int, int] = defaultdict(int)
    for i in members:
        for c in set(labels[i]):
            counts[c] += 1
    return dict(counts)


class _Demand:
    """What each split still wants (per label and in total) while units are handed out."""

    def __init__(
        self, frac: np.ndarray, unit_counts: list[dict[int, int]], sizes: list[int], rng: np.random.Generator
    ) -> None:
        self.unit_counts, self.rng = unit_counts, rng
        self.sizes = np.array(sizes, dtype="float64")
        n_classes = 1 + max((c for uc in unit_counts for c in uc), default=-1)
        label_total = np.zeros(n_classes)
        self.units_with: list[list[int]] = [[] for _ in range(n_classes)]
        for u, uc in enumerate(unit_counts):
            for c, k in uc.items():
                label_total[c] += k
                self.units_with[c].append(u)
        self.label = np.outer(frac, label_total)  # splits x classes
        self.total = frac * self.sizes.sum()
        self.assigned = np.full(len(unit_counts), -1)
        self.remaining = np.array([len(u) for u in self.units_with], dtype="int64")  # unassigned units per label

    def assign_all(self) -> None:
        """Rarest open label first (ties: random); its unassigned units in random order."""
        while True:
            open_labels = np.flatnonzero(self.remaining > 0)
            if open_labels.size == 0:
                break
            fewest = self.remaining[open_labels].min()
            candidates = open_labels[self.remaining[open_labels] == fewest]
            c = int(candidates[self.rng.integers(len(candidates))])
            units = [u for u in self.units_with[c] if self.assigned[u] < 0]
            self.rng.shuffle(units)
            for u in units:
                if self.assigned[u] < 0:
                    self.give(u, self.best_split(c))
        for u in np.flatnonzero(self.assigned < 0):  # units without labels
            self.give(int(u), self.best_split(None))

    def best_split(self, c: int | None) -> int:
        score = np.zeros(len(self.total)) if c is None else self.label[:, c]
        # Lexicographic: label demand, then total demand, then a random tie-break.
        keys_ = list(zip(score, self.total, self.rng.random(len(self.total))))
        return max(range(len(self.total)), key=lambda s: keys_[s])

    def give(self, u: int, s: int) -> None:
        self.assigned[u] = s
        for c, k in self.unit_counts[u].items():
            self.label[s, c] -= k
            self.remaining[c] -= 1
        self.total[s] -= self.sizes[u]


SPLIT_ORDER = ("train", "val", "test")  # the canonical names, in reading order


def split_order(names: Iterable[str]) -> list[str]:
    """Split names in reading order, the one order of manifests, reports and label tables:
    train (and its aliases), then val (validation, eval, ...), then test (holdout, ...), then the rest
    by name. Among names of one split the canonical name comes first, then its aliases in the order
    of :data:`SPLIT_ALIASES`. Names are kept as given (not normalised).
    """
    aliases = list(SPLIT_ALIASES)

    def key(name: str) -> tuple[int, int, str]:
        low = str(name).strip().lower()
        canonical = SPLIT_ALIASES.get(low, low)
        rank = SPLIT_ORDER.index(canonical) if canonical in SPLIT_ORDER else len(SPLIT_ORDER)
        return rank, aliases.index(low) + 1 if low in SPLIT_ALIASES else 0, low

    return sorted(names, key=key)
