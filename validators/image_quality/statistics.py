"""Where the flags sit: split and class concentration, and drift of image properties between splits
(the tests, corrections and effect floors are described in the package's docstring).
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from typing import Any

import numpy as np

from pipecheck.pipeline import quality
from pipecheck.validators.findings import Finding
from pipecheck.validators.image_quality.checks import (
    CLASS_CONCENTRATED,
    DRIFT,
    MAX_EXAMPLES,
    PER_IMAGE,
    SPLIT_CONCENTRATED,
    ImageQualityThresholds,
)
from pipecheck.validators.image_quality.flags import WORDS, Judged, class_cells
from pipecheck.validators.labels.stats import format_p, format_pct, two_proportion_pvalue

DRIFT_PROPERTIES = ("brightness_p50", "contrast", "mean_r", "mean_g", "mean_b", "long_side", "aspect_ratio")


ALL_CLASSES = "all classes"


def unit_cells(j: Judged, issue: str, *, whole_groups: bool = False) -> dict[str, dict[str, list[int]]]:
    """Per class, per split: ``[flagged, units]``; a unit is an image, or in a build with a group field a
    (group, class) whose images are flagged when at least half of them are (package docstring). With
    ``whole_groups`` a unit is a whole group, under its most frequent class (the pooled test's strata:
    a group counted once, not once per class it holds).
    """
    if j.groups is None:
        return class_cells(j, issue, flagged_only=False)
    per: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # (group, class) -> [flagged, images]
    where: dict[tuple[str, str], str] = {}
    if whole_groups:
        top: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for i in j.rows(issue):
            for label in j.m.labels[i]:
                top[j.groups[i]][label] += 1
        major = {g: min(c, key=lambda k: (-c[k], k)) for g, c in top.items()}
    for i in j.rows(issue):
        for label in [major[j.groups[i]]] if whole_groups else j.m.labels[i]:
            cell = per[(j.groups[i], label)]
            cell[0] += issue in j.issues[i]
            cell[1] += 1
            where[(j.groups[i], label)] = j.m.splits[i]
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: {s: [0, 0] for s in j.splits})
    for (_, label), (k, n) in per.items():
        cell = out[label][where[(_, label)]]
        cell[0] += 2 * k >= n
        cell[1] += 1
    return dict(out)


def cmh_pvalue(strata: list[tuple[int, int, int, int]]) -> float:
    """Two-sided Cochran-Mantel-Haenszel p-value (continuity-corrected) over ``(ka, na, kb, nb)`` 2x2 strata."""
    from scipy.stats import chi2

    dev = var = 0.0
    for ka, na, kb, nb in strata:
        n, m = na + nb, ka + kb
        if n < 2 or m in (0, n):
            continue
        dev += ka - na * m / n
        var += na * nb * m * (n - m) / (n * n * (n - 1))
    if var <= 0:
        return 1.0
    return float(chi2.sf(max(abs(dev) - 0.5, 0.0) ** 2 / var, 1))


def split_concentrated(j: Judged, t: ImageQualityThresholds) -> list[Finding]:
    """One warning per (issue, concentrated split, other split) naming the classes, and one per (issue,
    split pair) concentrated over all classes (package docstring).
    """
    floor = max(t.split_min_images, 1)
    tests = []
    for issue in PER_IMAGE:
        cells = unit_cells(j, issue)
        pooled = cells if j.groups is None else unit_cells(j, issue, whole_groups=True)
        for a, b in combinations(j.splits, 2):
            strata = [
                (c[a][0], c[a][1], c[b][0], c[b][1])
                for c in pooled.values()
                if c[a][0] + c[b][0] and min(c[a][1], c[b][1]) >= 1
            ]
            for cls, c in cells.items():
                (ka, na), (kb, nb) = c[a], c[b]
                if ka + kb and min(na, nb) >= floor:
                    tests.append(
                        (issue, cls, *_sides(a, ka, na, b, kb, nb), float(two_proportion_pvalue(ka, na, kb, nb)[0]))
                    )
            ka, na, kb, nb = (sum(c[side][k] for c in pooled.values()) for side in (a, b) for k in (0, 1))
            if len(strata) >= 2 and min(na, nb) >= floor:
                tests.append((issue, ALL_CLASSES, *_sides(a, ka, na, b, kb, nb), cmh_pvalue(strata)))
    level = t.alpha / max(len(tests), 1)
    hits: dict[tuple[str, str, str, bool], list[dict[str, Any]]] = defaultdict(list)
    for issue, cls, (sh, kh, nh), (sl, kl, nl), p in tests:
        rh, rl = kh / nh, kl / nl
        if p < level and rh - rl >= t.split_min_difference and (rl == 0 or rh / rl >= t.split_min_ratio):
            hits[(issue, sh, sl, cls == ALL_CLASSES)].append(
                {"class": cls, sh: [kh, nh], sl: [kl, nl], "difference": round(rh - rl, 4), "p_value": _sig(p)}
            )
    unit = "group" if j.groups is not None else "image"
    out = []
    for (issue, sh, sl, pooled), classes in hits.items():
        if pooled and (issue, sh, sl, False) in hits:
            continue  # the classes named say more; the pooled test is for an issue spread thin over many

        classes.sort(key=lambda c: (-c["difference"], c["class"]))
        named = "; ".join(
            f"{c['class']}: {c[sh][0]}/{c[sh][1]} in {sh} vs {c[sl][0]}/{c[sl][1]} in {sl} ({format_p(c['p_value'])})"
            for c in classes[:3]
        )
        more = f" and {len(classes) - 3} more" if len(classes) > 3 else ""
        where = "over all classes (Cochran-Mantel-Haenszel)" if pooled else f"in {len(classes)} class(es)"
        counted = " (counting groups)" if unit == "group" else ""
        out.append(
            SPLIT_CONCENTRATED.finding(
                f"images that are {WORDS[issue]} concentrate in {sh} against {sl} {where}{counted}: {named}{more}",
                subject=f"{sh} vs {sl}: {issue}" + (f" ({ALL_CLASSES})" if pooled else ""),
                evidence={
                    "issue": issue,
                    "split": sh,
                    "against": sl,
                    "classes": classes[: 4 * MAX_EXAMPLES],
                    "unit": unit,
                    "tests": len(tests),
                    "level": _sig(level),
                },
            )
        )
    return out


def _sides(a: str, ka: int, na: int, b: str, kb: int, nb: int) -> tuple[tuple[str, int, int], tuple[str, int, int]]:
    """(higher-rate split, lower-rate split), each ``(name, flagged, units)``."""
    return ((a, ka, na), (b, kb, nb)) if ka / na >= kb / nb else ((b, kb, nb), (a, ka, na))


def class_concentrated(j: Judged, t: ImageQualityThresholds) -> list[Finding]:
    """One info per issue whose images sit mostly in one class, far beyond its share (module docstring)."""
    from scipy.stats import hypergeom

    labelled = [i for i in j.measured if j.m.labels[i]]
    sizes: dict[str, int] = defaultdict(int)
    for i in labelled:
        for label in j.m.labels[i]:
            sizes[label] += 1
    tests = []
    for issue in PER_IMAGE:
        rows = [i for i in labelled if issue in j.issues[i]]
        if len(rows) < t.class_min_flagged:
            continue
        counts: dict[str, int] = defaultdict(int)
        for i in rows:
            for label in j.m.labels[i]:
                counts[label] += 1
        k = np.array([counts.get(cls, 0) for cls in sizes])
        p = np.where(k > 0, hypergeom.sf(k - 1, len(labelled), np.array(list(sizes.values())), len(rows)), 1.0)
        tests += [(issue, cls, int(kc), len(rows), n, float(pc)) for (cls, n), kc, pc in zip(sizes.items(), k, p)]
    level = t.alpha / max(len(tests), 1)
    out = []
    for issue, cls, k, flagged, n, p in tests:
        share, base = k / flagged, n / len(labelled)
        if p < level and share >= t.class_min_share and share >= t.class_min_ratio * base:
            out.append(
                CLASS_CONCENTRATED.finding(
                    f"{k} of the {flagged} images that are {WORDS[issue]} ({format_pct(share)}) are in class "
                    f"{cls!r}, which holds {format_pct(base)} of the images ({format_p(p)})",
                    subject=f"{cls}: {issue}",
                    evidence={
                        "issue": issue,
                        "class": cls,
                        "flagged_in_class": k,
                        "flagged": flagged,
                        "class_images": n,
                        "images": len(labelled),
                        "p_value": _sig(p),
                        "tests": len(tests),
                    },
                )
            )
    return out


def _properties(j: Judged, rows: list[int]) -> dict[str, np.ndarray]:
    s = np.asarray([j.m.scores[i] for i in rows], np.float64).reshape(len(rows), len(quality.MEASURES))
    w, h = s[:, quality.column("width")], s[:, quality.column("height")]
    out = {name: s[:, quality.column(name)] for name in DRIFT_PROPERTIES[:5]}
    out["long_side"] = np.maximum(w, h)
    out["aspect_ratio"] = w / np.maximum(h, 1)
    return out


def _split_values(j: Judged, split: str) -> dict[str, np.ndarray]:
    """A split's drift properties: one value per image, or per group (its median) in a grouped build."""
    rows = [i for i in j.measured if j.m.splits[i] == split]
    values = _properties(j, rows)
    if j.groups is None:
        return values
    by: dict[str, list[int]] = defaultdict(list)
    for k, i in enumerate(rows):
        by[j.groups[i]].append(k)
    at = list(by.values())
    return {name: np.asarray([np.median(v[idx]) for idx in at], np.float64) for name, v in values.items()}


def drift(j: Judged, t: ImageQualityThresholds) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Each split against train (the first split without one), property by property (module docstring).

    Returns:
        The findings (one per drifted split) and every test made, for the summary.
    """
    from scipy.stats import ks_2samp

    ref = "train" if "train" in j.splits else j.splits[0]
    values = {s: _split_values(j, s) for s in j.splits}
    floor = max(t.drift_min_groups if j.groups is not None else t.drift_min_images, 1)
    tests: list[tuple[dict[str, Any], float, float]] = []  # (summary row, D, p)
    for other in j.splits:
        a, b = values[ref], values[other]
        n_a, n_b = len(a["long_side"]), len(b["long_side"])
        if other == ref or min(n_a, n_b) < floor:
            continue
        for prop in DRIFT_PROPERTIES:
            res = ks_2samp(a[prop], b[prop], method="exact" if n_a * n_b <= 250_000 else "asymp")
            d, p = float(res.statistic), float(res.pvalue)
            row = {"property": prop, "a": ref, "b": other, "statistic": round(d, 4), "p_value": _sig(p)}
            row["effect"] = row["statistic"]  # the KS statistic D is the effect size too
            row.update(median_a=_median(a[prop]), median_b=_median(b[prop]), n_a=n_a, n_b=n_b)
            tests.append((row, d, p))
    level = t.alpha / max(len(tests), 1)
    for row, d, p in tests:
        row["flagged"] = bool(p < level and d >= t.drift_min_effect)
    rows = [row for row, _, _ in tests]
    out = []
    for other in j.splits:
        hits = [r for r in rows if r["b"] == other and r["flagged"]]
        if hits:
            named = ", ".join(
                f"{r['property']} (median {_num(r['median_a'])} -> {_num(r['median_b'])}, D = {r['statistic']:.2f})"
                for r in hits
            )
            out.append(
                DRIFT.finding(
                    f"{other} differs from {ref} in {named}",
                    subject=f"{ref} vs {other}",
                    evidence={
                        "properties": hits,
                        "unit": "group median" if j.groups is not None else "image",
                        "tests": len(rows),
                        "level": _sig(level),
                    },
                )
            )
    return out, rows


def _median(x: np.ndarray) -> float:
    return round(float(np.median(x)), 4)


def _sig(p: float) -> float:
    """A p-value to 4 significant digits: stable across scipy versions, readable in JSON."""
    return float(f"{p:.4g}") if p > 0 and math.isfinite(p) else float(p)


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"
