"""The records of a build flagged with the current thresholds: reading, the summary, one finding per issue."""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipecheck.pipeline import quality
from pipecheck.pipeline.quality import QualityThresholds
from pipecheck.validators.findings import Finding
from pipecheck.validators.image_quality.checks import (
    ISSUE_CHECKS,
    MAX_EXAMPLES,
    PER_IMAGE,
    ImageQualityThresholds,
)
from pipecheck.validators.labels.stats import format_pct

# Per content issue, the measure that says how bad an image is and whether low (1) or high (-1) is worse.
_WORST = {
    "dark": ("brightness_p95", 1),
    "light": ("brightness_p05", -1),
    "low_information": ("entropy", 1),
    "blurry": ("sharpness", 1),
    "grayscale": ("gray_spread", 1),
}
# How a message says an image has the issue, and the flag thresholds behind it (QualityThresholds).
WORDS = {
    "dark": "dark",
    "light": "washed out",
    "low_information": "low in information",
    "blurry": "blurry",
    "grayscale": "gray",
    "odd_aspect_ratio": "of an odd aspect ratio",
    "odd_size": "of an odd size",
}
_THRESHOLDS = {
    "dark": ("dark_p95",),
    "light": ("light_p05",),
    "low_information": ("low_information_entropy", "low_information_range"),
    "blurry": ("blurry_sharpness",),
    "grayscale": ("grayscale_spread",),
    "odd_aspect_ratio": ("aspect_factor", "min_images"),
    "odd_size": ("fence", "size_factor", "min_images"),
}


@dataclass
class Judged:
    """The build's records flagged with the current thresholds."""

    m: quality.Measured
    splits: list[str]
    issues: list[list[str]]
    partners: dict[int, list[int]]
    fences: dict[str, list[float]] | None
    measured: list[int]  # records with every measure
    groups: list[str] | None = None  # each record's group (the build's group field), None without one

    def rows(self, issue: str) -> list[int]:
        """The records the issue is judged on (duplicates: every record; the others: the measured)."""
        return self.measured if issue in PER_IMAGE else list(range(len(self.m.ids)))


def read_judged(data_dir: str, t: QualityThresholds) -> Judged:
    """Every record's id, labels, hashes and measures (no image decoded), flagged by ``quality.flag_all``."""
    from pipecheck.pipeline import spec
    from pipecheck.pipeline.manifest import load_manifest
    from pipecheck.pipeline.reader import read_columns

    manifest = load_manifest(data_dir)
    splits = list(manifest.splits)
    field = manifest.option.get("group_field")
    group_key = spec.META_PREFIX + field if field and field in manifest.meta_types else None
    keys = [spec.IMAGE_ID, spec.LABEL_NAME, spec.IMAGE_PIXEL_HASH, spec.IMAGE_PHASH, *spec.QUALITY_FEATURES]
    m = quality.Measured([], [], [], [], [], [])
    groups: list[str] | None = [] if group_key else None
    for split in splits:
        c = read_columns(data_dir, split, keys + ([group_key] if group_key else []))
        if groups is not None:  # a record without the field is a group of its own
            groups += [
                f"{v}" if v not in (None, []) else f"\0{split}:{i}" for v, i in zip(c[group_key], c[spec.IMAGE_ID])
            ]
        m.ids += c[spec.IMAGE_ID]
        m.splits += [split] * len(c[spec.IMAGE_ID])
        m.labels += c[spec.LABEL_NAME]
        m.pixel_hashes += [h or "" for h in c[spec.IMAGE_PIXEL_HASH]]
        m.phashes += [h or 0 for h in c[spec.IMAGE_PHASH]]
        rows = zip(*(c[k] for k in spec.QUALITY_FEATURES))
        m.scores += _as_measured([list(row) if None not in row else [] for row in rows])
    issues, partners, fences = quality.flag_all(m, t)
    measured = [i for i, s in enumerate(m.scores) if len(s) == len(quality.MEASURES)]
    return Judged(m, splits, issues, partners, fences, measured, groups)


def _as_measured(rows: list[list[float]]) -> list[list[float]]:
    """Scores read back from the records (float32) as the decimals the build measured and flagged on.

    ``quality.measure`` rounds each measure to a few decimal places and the record stores it as a
    float32 (0.5075 becomes 0.50749999...): flagged as read, an image scored exactly at a threshold
    would be flagged here and not by the build. Each value becomes the decimal with the fewest places
    that is stored as the same float32: the build's own (two decimals of up to 6 significant digits
    are always different float32 values).
    """
    at = [i for i, row in enumerate(rows) if row]
    if not at:
        return rows
    stored = np.asarray([rows[i] for i in at], np.float32)
    wide = stored.astype(np.float64)
    out, done = wide.copy(), np.zeros(stored.shape, bool)
    for places in range(7):
        rounded = np.round(wide, places)
        same = ~done & (rounded.astype(np.float32) == stored)
        out[same] = rounded[same]
        done |= same
    for i, row in zip(at, out.tolist()):
        rows[i] = row
    return rows


def _flagged(j: Judged, issue: str) -> list[int]:
    return [i for i in j.rows(issue) if issue in j.issues[i]]


def _by_split(j: Judged, rows: list[int]) -> dict[str, int]:
    counts = dict.fromkeys(j.splits, 0)
    for i in rows:
        counts[j.m.splits[i]] += 1
    return counts


def _score(j: Judged, i: int, name: str) -> float:
    return float(j.m.scores[i][quality.column(name)])


def _examples(j: Judged, issue: str, rows: list[int]) -> list[int]:
    """The worst :data:`MAX_EXAMPLES` of an issue's images (duplicates: pairs across splits first)."""

    def badness(i: int) -> float:
        if issue in _WORST:
            name, sign = _WORST[issue]
            return sign * _score(j, i, name)
        if issue in ("odd_size", "odd_aspect_ratio") and j.fences:
            w, h = _score(j, i, "width"), _score(j, i, "height")
            value, (lo, hi) = (
                (max(w, h), j.fences["long_side"]) if issue == "odd_size" else (w / max(h, 1), j.fences["aspect_ratio"])
            )
            return -max(lo / max(value, 1e-9), value / hi)
        return 0.0 if any(j.m.splits[p] != j.m.splits[i] for p in j.partners.get(i, [])) else 1.0

    return sorted(rows, key=lambda i: (badness(i), j.m.splits[i], j.m.ids[i]))[:MAX_EXAMPLES]


def _example(j: Judged, i: int, issue: str) -> dict[str, Any]:
    out: dict[str, Any] = {"split": j.m.splits[i], "id": j.m.ids[i], "labels": j.m.labels[i], "issues": j.issues[i]}
    if i in j.measured:
        out["scores"] = {name: round(float(v), 4) for name, v in zip(quality.MEASURES, j.m.scores[i])}
    if issue not in PER_IMAGE:
        out["duplicates"] = [f"{j.m.splits[p]}:{j.m.ids[p]}" for p in j.partners.get(i, [])[:5]]
    return out


def class_cells(j: Judged, issue: str, *, flagged_only: bool) -> dict[str, dict[str, list[int]]]:
    """Per class, per split: ``[flagged, images]`` over the records the issue is judged on."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: {s: [0, 0] for s in j.splits})
    for i in j.rows(issue):
        for label in j.m.labels[i]:
            cell = out[label][j.m.splits[i]]
            cell[0] += issue in j.issues[i]
            cell[1] += 1
    if flagged_only:
        return {c: v for c, v in out.items() if any(k for k, _ in v.values())}
    return dict(out)


def summarise(data_dir: str, j: Judged, flags: QualityThresholds, t: ImageQualityThresholds) -> dict[str, Any]:
    """``report.summary["image_quality"]``: bounded (examples, classes per issue), no pixels."""
    issues, class_rates = {}, {}
    n = len(j.m.ids)
    for issue in quality.ISSUES:
        rows = _flagged(j, issue)
        issues[issue] = {
            "count": len(rows),
            "rate": round(len(rows) / max(len(j.rows(issue)), 1), 4),
            "by_split": _by_split(j, rows),
            "examples": [_example(j, i, issue) for i in _examples(j, issue, rows)],
        }
        if rows:
            cells = class_cells(j, issue, flagged_only=True)
            top = sorted(cells, key=lambda c: (-sum(k for k, _ in cells[c].values()), c))[:100]
            class_rates[issue] = {c: cells[c] for c in top}
    return {
        "data_dir": os.path.abspath(data_dir),
        "images": n,
        "measured": len(j.measured),
        "thresholds": dataclasses.asdict(flags),
        "judgement": dataclasses.asdict(t),
        "fences": j.fences,
        "issues": issues,
        "class_rates": class_rates,
        "drift": [],
    }


def issue_finding(j: Judged, issue: str, flags: QualityThresholds) -> list[Finding]:
    """The issue's info finding: how many, where, which classes, the worst examples (none when none)."""
    rows = _flagged(j, issue)
    if not rows:
        return []
    by_split = _by_split(j, rows)
    classes: dict[str, int] = defaultdict(int)
    for i in rows:
        for label in j.m.labels[i]:
            classes[label] += 1
    rate = len(rows) / len(j.measured)
    where = ", ".join(f"{s} {k}" for s, k in by_split.items())
    return [
        ISSUE_CHECKS[issue].finding(
            f"{len(rows)} of {len(j.measured)} image(s) are {WORDS[issue]} ({format_pct(rate)}): {where}",
            subject=", ".join(s for s, k in by_split.items() if k),
            evidence={
                "count": len(rows),
                "rate": round(rate, 4),
                "by_split": by_split,
                "classes": dict(sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_EXAMPLES]),
                "examples": [f"{j.m.splits[i]}:{j.m.ids[i]}" for i in _examples(j, issue, rows)],
                **({"fences": j.fences} if issue.startswith("odd_") else {}),
                "thresholds": {n: getattr(flags, n) for n in _THRESHOLDS[issue] if hasattr(flags, n)},
            },
        )
    ]
