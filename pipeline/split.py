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
from typing import Any, Hashable, Sequence

import numpy as np

SPLIT_ALIASES = {
    "training": "train", "tr": "train",
    "valid": "val", "validation": "val", "dev": "val", "eval": "val", "evaluation": "val",
    "testing": "test", "holdout": "test",
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
        return "", "split_invalid", (f"{field!r} is {shown}: a split is 1-64 letters, digits, '_' or '-' "
                                     "(train, val, test, fold_1); fix the value")
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
    rng = np.random.default_rng(seed)
    order = sorted(range(n), key=lambda i: keys[i]) if keys is not None else list(range(n))

    # Units: groups or single items, numbered in the stable order of their first member.
    unit_of: dict[Hashable, int] = {}
    members: list[list[int]] = []
    for i in order:
        g = ("group", groups[i]) if groups is not None and groups[i] is not None else ("item", i)
        if g not in unit_of:
            unit_of[g] = len(members)
            members.append([])
        members[unit_of[g]].append(i)
    unit_counts: list[dict[int, int]] = []
    for m in members:
        counts: dict[int, int] = defaultdict(int)
        for i in m:
            for c in set(labels[i]):
                counts[c] += 1
        unit_counts.append(dict(counts))
    sizes = np.array([len(m) for m in members], dtype="float64")

    n_classes = 1 + max((c for uc in unit_counts for c in uc), default=-1)
    label_total = np.zeros(n_classes)
    units_with: list[list[int]] = [[] for _ in range(n_classes)]
    for u, uc in enumerate(unit_counts):
        for c, k in uc.items():
            label_total[c] += k
            units_with[c].append(u)
    demand_label = np.outer(frac, label_total)  # splits x classes
    demand_total = frac * sizes.sum()
    assigned = np.full(len(members), -1)
    remaining = np.array([len(u) for u in units_with], dtype="int64")

    def best_split(c: int | None) -> int:
        score = np.zeros(len(names)) if c is None else demand_label[:, c]
        # Lexicographic: label demand, then total demand, then a random tie-break.
        keys_ = list(zip(score, demand_total, rng.random(len(names))))
        return max(range(len(names)), key=lambda s: keys_[s])

    def give(u: int, s: int) -> None:
        assigned[u] = s
        for c, k in unit_counts[u].items():
            demand_label[s, c] -= k
            remaining[c] -= 1
        demand_total[s] -= sizes[u]

    while True:
        open_labels = np.flatnonzero(remaining > 0)
        if open_labels.size == 0:
            break
        fewest = remaining[open_labels].min()
        candidates = open_labels[remaining[open_labels] == fewest]
        c = int(candidates[rng.integers(len(candidates))])
        units = [u for u in units_with[c] if assigned[u] < 0]
        rng.shuffle(units)
        for u in units:
            if assigned[u] < 0:
                give(u, best_split(c))
    for u in np.flatnonzero(assigned < 0):
        give(int(u), best_split(None))

    out = [""] * n
    for u, m in enumerate(members):
        for i in m:
            out[i] = names[assigned[u]]
    return out
