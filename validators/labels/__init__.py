"""Label checks: per-class skew between splits (``label_skew``) and class counts (``class_counts``).

Aggregate skew measures hide the classes that matter. TFDV's L-infinity on a multivalent label
feature compares each class's share of all label *occurrences*, so a class on 4% of train images that
never appears in val moves it by ~0.03, and Sechidis et al.'s LD averages over classes. So every
class is judged on its own per-image prevalence, split pair by split pair, and the aggregate numbers
are reported next to it (``label_skew.summary``) for comparison with the literature.

Entry points: build a :class:`LabelSet` (``from_table`` for a DataFrame, ``from_label_lists`` for
Python lists, or directly from per-split :class:`SplitCounts` when streaming), then call
:func:`check_label_skew` and :func:`check_class_counts`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.labels.class_counts import (  # noqa: F401  (one import declares both families)
    check_class_counts,
    class_finding,
    list_or_aggregate,
    suggest_class_weights,
    suggest_pos_weight,
)
from pipecheck.validators.labels.label_set import (  # noqa: F401  (the public label API lives here too)
    LabelSet,
    LabelThresholds,
    SplitCounts,
    split_order,
)
from pipecheck.validators.labels.stats import (
    absence_pvalue,
    cohens_h,
    compare_cardinality,
    exact_bonferroni_level,
    example_distribution,
    format_p,
    format_pct,
    jensen_shannon_divergence,
    label_distribution,
    linf_distance,
    two_proportion_pvalue,
    wilson_interval,
    zero_positive_counts,
)

_SPLIT_HINT = (
    "Re-split so every class keeps its prevalence: iterative stratification for multi-label data "
    "(`pipecheck split`, or iterstrat.ml_stratifiers.MultilabelStratifiedShuffleSplit), "
    "sklearn.model_selection.StratifiedShuffleSplit for single-label data. If the shift is real "
    "(val drawn from the deployment distribution), report per-class metrics and recalibrate."
)
ABSENT_IN_SPLIT = registry.define(
    "label_skew.absent_in_split",
    "error",
    "A class never occurs in a split although a random split would almost surely have put some of "
    "its images there; error when the other split's prevalence predicts several images, warning "
    "for a rarer class whose absence is still statistically clear.",
    _SPLIT_HINT,
)
PREVALENCE_GAP = registry.define(
    "label_skew.prevalence_gap",
    "warning",
    "A class's per-image prevalence differs between two splits, significantly and by a clear "
    "effect size (Cohen's h); error when the effect is medium or larger.",
    _SPLIT_HINT,
)
LABELS_PER_IMAGE = registry.define(
    "label_skew.labels_per_image",
    "warning",
    "The number of labels per image is distributed differently in two splits.",
    "Check that both splits were labelled with the same vocabulary and annotation protocol, then "
    "re-split with iterative stratification (`pipecheck split`), which also balances label "
    "combinations.",
)
SUMMARY = registry.define(
    "label_skew.summary",
    "info",
    "Aggregate skew metrics (Sechidis LD/ED, FZ/FLZ, TFDV L-infinity and Jensen-Shannon) for "
    "comparison with the literature.",
    "Aggregates dilute rare classes; read the per-class label_skew findings for what to fix.",
)


def check_label_skew(labels: LabelSet, thresholds: LabelThresholds | None = None) -> list[Finding]:
    """Per-class prevalence skew between every pair of splits, plus the aggregate metrics.

    For each split pair (train/val first) and each class:

    * ``label_skew.absent_in_split``: zero images in one split although the pair's split being
      random makes that improbable: its :func:`absence_pvalue` at or below the level that keeps
      the family-wise error over classes x directions x pairs at ``alpha``
      (:func:`exact_bonferroni_level`). Error when the lower Wilson bound of the prevalence in the
      other split also predicts at least ``min_expected_absent`` images there, warning otherwise
      (a rare class: 0.3% of 5,000 train images, none of 2,000 val images). A class missing
      from a split is named once, against the reference split that makes it clearest.
    * ``label_skew.prevalence_gap``: otherwise, when the prevalences differ significantly (pooled
      z-test, Fisher's exact test for small counts, Bonferroni over classes x pairs at ``alpha``) and
      |Cohen's h| >= ``min_cohens_h`` and the absolute gap >= ``min_abs_gap``; warning, error from
      |h| >= ``error_cohens_h``.

    Per pair, ``label_skew.labels_per_image`` (warning) compares the labels-per-image histograms
    (chi-square p < ``alpha`` and total variation distance >= ``min_labels_tvd``). One
    ``label_skew.summary`` (info) carries LD, ED, FZ, FLZ and the TFDV-style L-infinity / JS per pair.

    Args:
        labels: The label set; at least two non-empty splits, else nothing is reported.
        thresholds: Defaults to :class:`LabelThresholds`.

    Returns:
        Findings, worst classes first within each check.
    """
    th = thresholds or LabelThresholds()
    counts = {s: c for s, c in labels.counts().items() if c.n_images > 0}
    names = list(counts)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    if not pairs:
        return []
    alpha_test = th.alpha / (max(1, len(labels.classes)) * len(pairs))
    absence = _absence_tests(counts, pairs, th)
    per_pair = {
        (a, b): _pair_skew(labels.classes, a, counts[a], b, counts[b], th, alpha_test, absence) for a, b in pairs
    }
    clearest = _clearest_absences(per_pair)
    out: list[Finding] = []
    for a, b in pairs:
        absent, gaps = per_pair[(a, b)]
        absent = [it for it in absent if clearest[(it["class"], it["split"])] is it]
        out += list_or_aggregate(
            ABSENT_IN_SPLIT,
            absent,
            class_finding(ABSENT_IN_SPLIT),
            f"never occur in one of {a}/{b} although a random split would put some there",
            th.max_listed,
            severity="error" if any(it["severity"] == "error" for it in absent) else "warning",
        )
        worst = "error" if any(g["severity"] == "error" for g in gaps) else "warning"
        out += list_or_aggregate(
            PREVALENCE_GAP,
            gaps,
            class_finding(PREVALENCE_GAP),
            f"differ in prevalence between {a} and {b}",
            th.max_listed,
            severity=worst,
        )
        out += _labels_per_image(a, counts[a], b, counts[b], th)
    out.append(_summary(labels, counts, pairs))
    return out


# What _pair_skew needs to judge absences: p-value per (reference, split) and class, the per-test
# level that keeps the family-wise error at alpha, and how many tests that level counted.
Absence = tuple[dict[tuple[str, str], np.ndarray], float, int]


def _absence_tests(counts: dict[str, SplitCounts], pairs: list[tuple[str, str]], th: LabelThresholds) -> Absence:
    # One one-sided test per class and direction (split lacks it / reference lacks it) and pair.
    p_absent = {
        (src, dst): absence_pvalue(
            counts[src].positives, counts[src].n_images, counts[dst].positives, counts[dst].n_images
        )
        for a, b in pairs
        for src, dst in ((a, b), (b, a))
    }
    alpha_absent, n_testable = exact_bonferroni_level(np.concatenate(list(p_absent.values())), th.alpha)
    return p_absent, alpha_absent, n_testable


def _clearest_absences(
    per_pair: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]],
) -> dict[tuple[str, str], dict[str, Any]]:
    """A class missing from a split is named once, against the reference that makes it clearest."""
    clearest: dict[tuple[str, str], dict[str, Any]] = {}
    for absent, _ in per_pair.values():
        for it in absent:
            key = (it["class"], it["split"])
            if key not in clearest or it["p_value"] < clearest[key]["p_value"]:
                clearest[key] = it
    return clearest


# Per split: its counts and the lower and upper Wilson bounds of each class's prevalence.
Side = dict[str, tuple[SplitCounts, np.ndarray, np.ndarray]]


def _pair_skew(
    classes: list[str],
    a: str,
    ca: SplitCounts,
    b: str,
    cb: SplitCounts,
    th: LabelThresholds,
    alpha_test: float,
    absence: Absence,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One pair's classes absent from one split (worst first), then its prevalence gaps (worst first)."""
    side = {
        a: (ca, *wilson_interval(ca.positives, ca.n_images, th.ci_level)),
        b: (cb, *wilson_interval(cb.positives, cb.n_images, th.ci_level)),
    }
    absent, absent_mask = _absences(classes, side, a, b, th, absence)
    return absent, _gaps(classes, side, a, b, th, alpha_test, absent_mask)


def _ci(side: Side, split: str, i: int) -> str:
    return f"CI {format_pct(side[split][1][i])}–{format_pct(side[split][2][i])}"


def _absences(
    classes: list[str], side: Side, a: str, b: str, th: LabelThresholds, absence: Absence
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Classes with no image in one split of the pair although the other predicts some, in both
    directions, most expected images first; and the mask of those classes.
    """
    p_absent_by, alpha_absent, n_testable = absence
    absent: list[dict[str, Any]] = []
    absent_mask = np.zeros(len(classes), dtype=bool)
    for src, dst in ((a, b), (b, a)):
        cs, low, _ = side[src]
        cd = side[dst][0]
        expected_low = low * cd.n_images
        p_absent = p_absent_by[(src, dst)]
        hit = (cd.positives == 0) & (cs.positives > 0) & (p_absent <= alpha_absent)
        absent_mask |= hit
        for i in np.flatnonzero(hit):
            expected = cs.prevalence[i] * cd.n_images
            error = expected_low[i] >= th.min_expected_absent
            absent.append(
                {
                    "class": classes[i],
                    "severity": "error" if error else "warning",
                    "message": f"{classes[i]}: {format_pct(cs.prevalence[i])} of {src} images "
                    f"({_ci(side, src, i)}) but 0 of {cd.n_images:,} {dst} images; "
                    f"~{expected:,.{0 if expected >= 10 else 1}f} expected, {format_p(p_absent[i])} "
                    "for a random split",
                    "split": dst,
                    "reference_split": src,
                    "count_reference": int(cs.positives[i]),
                    "n_reference": cs.n_images,
                    "prevalence_reference": float(cs.prevalence[i]),
                    "n_split": cd.n_images,
                    "expected": float(expected),
                    "expected_lower_bound": float(expected_low[i]),
                    "p_value": float(p_absent[i]),
                    "alpha_per_test": alpha_absent,
                    "tests_counted": n_testable,
                }
            )
    absent.sort(key=lambda it: -it["expected"])
    return absent, absent_mask


def _gaps(
    classes: list[str], side: Side, a: str, b: str, th: LabelThresholds, alpha_test: float, absent_mask: np.ndarray
) -> list[dict[str, Any]]:
    """Classes (not already absent) whose prevalence differs significantly and clearly, largest |h| first."""
    ca, cb = side[a][0], side[b][0]
    h = cohens_h(ca.prevalence, cb.prevalence)
    diff = cb.prevalence - ca.prevalence
    pvals = two_proportion_pvalue(ca.positives, ca.n_images, cb.positives, cb.n_images)
    fire = (~absent_mask) & (pvals < alpha_test) & (np.abs(h) >= th.min_cohens_h)
    fire &= np.abs(diff) >= th.min_abs_gap
    gaps = []
    for i in sorted(np.flatnonzero(fire), key=lambda i: -abs(h[i])):
        gaps.append(
            {
                "class": classes[i],
                "severity": "error" if abs(h[i]) >= th.error_cohens_h else "warning",
                "message": f"{classes[i]}: {format_pct(ca.prevalence[i])} of {a} images ({_ci(side, a, i)}) vs "
                f"{format_pct(cb.prevalence[i])} of {b} images ({_ci(side, b, i)}); Cohen's h {h[i]:+.2f}, "
                f"{format_p(pvals[i])}",
                "split_a": a,
                "split_b": b,
                "count_a": int(ca.positives[i]),
                "n_a": ca.n_images,
                "prevalence_a": float(ca.prevalence[i]),
                "ci_a": [float(side[a][1][i]), float(side[a][2][i])],
                "count_b": int(cb.positives[i]),
                "n_b": cb.n_images,
                "prevalence_b": float(cb.prevalence[i]),
                "ci_b": [float(side[b][1][i]), float(side[b][2][i])],
                "cohens_h": float(h[i]),
                "p_value": float(pvals[i]),
                "alpha_per_test": alpha_test,
            }
        )
    return gaps


def _labels_per_image(a: str, ca: SplitCounts, b: str, cb: SplitCounts, th: LabelThresholds) -> list[Finding]:
    cmp = compare_cardinality(ca.cardinality, cb.cardinality)
    if not (cmp["p_value"] < th.alpha and cmp["tvd"] >= th.min_labels_tvd):
        return []
    message = (
        f"{a} vs {b}: {cmp['mean_a']:.2f} labels per image in {a} vs {cmp['mean_b']:.2f} in {b}; "
        f"{cmp['tvd']:.0%} of images would have to change their label count (total variation), "
        f"{format_p(cmp['p_value'])}"
    )
    evidence = {
        "split_a": a,
        "split_b": b,
        **cmp,
        "histogram_a": ca.cardinality.tolist(),
        "histogram_b": cb.cardinality.tolist(),
    }
    return [LABELS_PER_IMAGE.finding(message, subject=f"{a} vs {b}", evidence=evidence)]


def _summary(labels: LabelSet, counts: dict[str, SplitCounts], pairs: list[tuple[str, str]]) -> Finding:
    ld, undefined = label_distribution(counts)
    fz, flz = zero_positive_counts(counts)
    sizes = {s: c.n_images for s, c in counts.items()}
    ed = example_distribution(sizes, labels.target_fractions) if labels.target_fractions else None
    per_pair: dict[str, dict[str, Any]] = {}
    for a, b in pairs:
        linf, at = linf_distance(counts[a].positives, counts[b].positives)
        per_pair[f"{a} vs {b}"] = {
            "linf": linf,
            "linf_class": labels.classes[at] if labels.classes else "",
            "js_bits": jensen_shannon_divergence(counts[a].positives, counts[b].positives),
        }
    a, b = pairs[0]
    first = per_pair[f"{a} vs {b}"]
    message = (
        f"LD {ld:.3g} ({undefined} undefined terms), FZ {fz}, FLZ {flz}"
        + (f", ED {ed:,.1f} images" if ed is not None else "")
        + f"; {a} vs {b}: TFDV L∞ {first['linf']:.3g} (at {first['linf_class']}), "
        f"JS {first['js_bits']:.3g} bits"
    )
    evidence = {
        "LD": ld,
        "LD_undefined_terms": undefined,
        "ED": ed,
        "FZ": fz,
        "FLZ": flz,
        "pairs": per_pair,
        "n_images": sizes,
    }
    return SUMMARY.finding(message, subject="all splits", evidence=evidence)


def prevalence_table(labels: LabelSet) -> dict[str, dict[str, float]]:
    """``{class: {split: per-image prevalence}}`` in split order."""
    counts = labels.counts()
    return {
        c: {s: float(sc.prevalence[i]) if sc.n_images else 0.0 for s, sc in counts.items()}
        for i, c in enumerate(labels.classes)
    }


def split_metrics(labels: LabelSet) -> dict[str, Any]:
    """Literature figures of a split (Sechidis LD, FZ, FLZ) to compare before/after a re-split."""
    counts = labels.counts()
    ld, undefined = label_distribution(counts)
    fz, flz = zero_positive_counts(counts)
    return {
        "LD": ld,
        "LD_undefined_terms": undefined,
        "FZ": fz,
        "FLZ": flz,
        "images": {s: c.n_images for s, c in counts.items()},
    }
