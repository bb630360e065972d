"""The ``class_counts`` checks: enough images per class and split, imbalance, label cardinality.

Declared here and re-exported by :mod:`pipecheck.validators.labels` (the module the registry
imports), which also holds the sibling ``label_skew`` family.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.labels.label_set import LabelSet, LabelThresholds, SplitCounts
from pipecheck.validators.labels.stats import balanced_class_weights, format_pct, pos_weights

_WEIGHT_HINT = (
    "Weight the rare classes: multi-label sigmoid loss -> "
    "tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight=w) with "
    "w = pipecheck.validators.labels.suggest_pos_weight(labels); single-label softmax -> "
    "model.fit(..., class_weight=suggest_class_weights(labels, by_index=True)); or oversample the "
    "rare classes."
)

TOO_FEW_TRAIN = registry.define(
    "class_counts.too_few_train",
    "warning",
    "Classes with fewer training images than fine-tuning usually needs.",
    "Collect more images for these classes, merge them into a broader class, or train a linear "
    "head on frozen bottleneck features instead of fine-tuning the backbone.",
)
TOO_FEW_VAL = registry.define(
    "class_counts.too_few_val",
    "warning",
    "Classes with too few images in an evaluation split to measure them.",
    "Move images of these classes into the evaluation split (re-split with `pipecheck split`) or "
    "report their metrics with confidence intervals.",
)
MISSING_IN_TRAIN = registry.define(
    "class_counts.missing_in_train",
    "error",
    "Classes that occur in an evaluation split but never in train.",
    "Add training images for these classes or re-split with `pipecheck split`; the model cannot "
    "learn a class it never sees.",
)
EMPTY_CLASS = registry.define(
    "class_counts.empty_class",
    "warning",
    "Vocabulary classes with no image in any split.",
    "Drop these classes from the vocabulary (and the model's output layer) or add images; check "
    "that the label field maps to the vocabulary you expect.",
)
OUT_OF_VOCABULARY = registry.define(
    "class_counts.out_of_vocabulary",
    "error",
    "Labels that are not in the declared class vocabulary.",
    "Fix the label strings or extend the vocabulary; the output layer has no unit for them.",
)
IMBALANCE = registry.define(
    "class_counts.imbalance",
    "warning",
    "Training class counts are strongly imbalanced (largest over smallest class).",
    _WEIGHT_HINT,
)
UNLABELED_IMAGES = registry.define(
    "class_counts.unlabeled_images",
    "error",
    "Images with no label (error for single-label data; info for multi-label data unless empty "
    "label sets are allowed).",
    "Drop or label these images; for multi-label data where 'no object' is a valid answer, pass --allow-empty.",
)
MULTIPLE_LABELS_SINGLE_LABEL_DATA = registry.define(
    "class_counts.multiple_labels_single_label_data",
    "error",
    "Images with more than one label in data declared single-label.",
    "Resolve the conflicting labels, or treat the task as multi-label (sigmoid outputs with "
    "binary cross-entropy instead of softmax).",
)


def list_or_aggregate(
    check_id: str,
    items: list[dict[str, Any]],
    one: Any,
    noun: str,
    max_listed: int,
    *,
    severity: str | None = None,
    hint: str | None = None,
) -> list[Finding]:
    """One finding per affected class, or one aggregated finding for many.

    ``items`` must be sorted worst first and carry ``class`` and ``message`` keys; ``one(item)``
    builds the per-class finding. The aggregate names the worst ``max_listed`` classes in
    ``subject`` and keeps their evidence.
    """
    if len(items) <= max_listed:
        return [one(it) for it in items]
    shown = items[:max_listed]
    names = ", ".join(it["class"] for it in shown)
    more = len(items) - len(shown)
    message = (
        f"{len(items)} classes {noun}; worst: "
        + "; ".join(it["message"] for it in shown[:3])
        + f" (+{len(items) - 3} more)"
    )
    evidence = {
        "n_classes": len(items),
        "worst": [{k: v for k, v in it.items() if k != "message"} for it in shown],
    }
    return [
        registry.finding(
            check_id,
            message,
            subject=f"{names} (+{more} more)",
            evidence=evidence,
            severity=severity,
            hint=hint,
        )
    ]


def class_finding(check_id: str) -> Any:
    def one(item: dict[str, Any]) -> Finding:
        evidence = {k: v for k, v in item.items() if k not in ("message", "severity")}
        return registry.finding(
            check_id,
            item["message"],
            subject=item["class"],
            evidence=evidence,
            severity=item.get("severity"),
        )

    return one


def suggest_class_weights(labels: LabelSet, split: str | None = None, *, by_index: bool = False) -> dict[Any, float]:
    """Softmax class weights from the training counts (``n / (K * n_c)``, scikit-learn "balanced").

    Args:
        labels: The label set.
        split: Split to count; the train split by default.
        by_index: Key by column index (what ``keras.Model.fit(class_weight=...)`` expects) instead
            of class name.

    Returns:
        Weight per class that occurs in the split (absent classes are left out: Keras would
        otherwise multiply a loss that never happens).
    """
    counts = labels.counts()[split or labels.train_split()]
    w = balanced_class_weights(counts.positives, counts.n_images)
    return {(i if by_index else c): float(w[i]) for i, c in enumerate(labels.classes) if counts.positives[i] > 0}


def suggest_pos_weight(labels: LabelSet, split: str | None = None, cap: float | None = None) -> np.ndarray:
    """Per-class ``pos_weight`` (negatives / positives) for sigmoid cross-entropy, column order.

    Pass it to ``tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight=...)``;
    ``cap`` bounds the weight of very rare classes.
    """
    counts = labels.counts()[split or labels.train_split()]
    return pos_weights(counts.positives, counts.n_images, cap)


def check_class_counts(labels: LabelSet, thresholds: LabelThresholds | None = None) -> list[Finding]:
    """Examples per class per split, imbalance, and labels-per-image sanity.

    Checks (thresholds from :class:`LabelThresholds`): ``out_of_vocabulary`` (error),
    ``empty_class`` (warning: no image anywhere), ``missing_in_train`` (error: 0 in train, present
    elsewhere), ``too_few_train`` (warning: 0 < n < ``min_train``), ``too_few_val`` (warning, every
    non-train split: n < ``min_eval``, 0 included), ``imbalance`` (warning: largest / smallest
    non-empty train class > ``imbalance_ratio``; suggested weights in evidence and hint),
    ``unlabeled_images`` (error single-label, info multi-label, silent with ``allow_empty``) and
    ``multiple_labels_single_label_data`` (error). Per-class checks aggregate beyond ``max_listed``.
    """
    th = thresholds or LabelThresholds()
    counts = labels.counts()
    train = labels.train_split()
    # Labels outside the vocabulary are reported once, as such, not again as missing or rare.
    declared = np.array([c not in labels.out_of_vocabulary for c in labels.classes], dtype=bool)
    out = _out_of_vocabulary(labels, th)
    out += _per_class_counts(labels, counts, train, th, declared)
    out += _imbalance(labels, counts[train], train, th, declared)
    out += _label_cardinality(labels, counts)
    return out


def _out_of_vocabulary(labels: LabelSet, th: LabelThresholds) -> list[Finding]:
    if not labels.out_of_vocabulary:
        return []
    oov = sorted(labels.out_of_vocabulary.items(), key=lambda kv: -kv[1])
    return [
        OUT_OF_VOCABULARY.finding(
            f"{len(oov)} label(s) outside the vocabulary: "
            + ", ".join(f"{k} ({v:,} images)" for k, v in oov[: th.max_listed]),
            subject=", ".join(k for k, _ in oov[: th.max_listed]),
            evidence={"labels": dict(oov)},
        )
    ]


def _per_class_counts(
    labels: LabelSet, counts: dict[str, SplitCounts], train: str, th: LabelThresholds, declared: np.ndarray
) -> list[Finding]:
    """``empty_class``, ``missing_in_train``, ``too_few_train``, then ``too_few_val`` per evaluation split."""
    classes = labels.classes
    ct = counts[train]
    total = np.sum([c.positives for c in counts.values()], axis=0)
    out: list[Finding] = []

    def per_class(check_id: str, mask: np.ndarray, msg: Any, noun: str, order: np.ndarray) -> None:
        items = [
            {"class": classes[i], "message": msg(i), "counts": {s: int(c.positives[i]) for s, c in counts.items()}}
            for i in sorted(np.flatnonzero(mask & declared), key=lambda i: order[i])
        ]
        out.extend(list_or_aggregate(check_id, items, class_finding(check_id), noun, th.max_listed))

    per_class(
        EMPTY_CLASS, total == 0, lambda i: f"{classes[i]}: no image in any split", "have no image in any split", total
    )
    per_class(
        MISSING_IN_TRAIN,
        (ct.positives == 0) & (total > 0),
        lambda i: f"{classes[i]}: 0 {train} images but {int(total[i]):,} in other splits",
        f"never occur in {train}",
        -total,
    )
    per_class(
        TOO_FEW_TRAIN,
        (ct.positives > 0) & (ct.positives < th.min_train),
        lambda i: f"{classes[i]}: {int(ct.positives[i]):,} {train} images (< {th.min_train})",
        f"have fewer than {th.min_train} {train} images",
        ct.positives,
    )
    for s, cs in counts.items():
        if s == train:
            continue
        per_class(
            TOO_FEW_VAL,
            (total > 0) & (cs.positives < th.min_eval),
            lambda i, s=s, cs=cs: f"{classes[i]}: {int(cs.positives[i]):,} {s} images (< {th.min_eval})",
            f"have fewer than {th.min_eval} {s} images",
            cs.positives,
        )
    return out


def _label_cardinality(labels: LabelSet, counts: dict[str, SplitCounts]) -> list[Finding]:
    """Per split: ``unlabeled_images`` and ``multiple_labels_single_label_data``."""
    out: list[Finding] = []
    for s, cs in counts.items():
        empty = int(cs.cardinality[0]) if cs.cardinality.size else 0
        if empty and not (labels.multi_label and labels.allow_empty):
            out.append(
                UNLABELED_IMAGES.finding(
                    f"{empty:,} of {cs.n_images:,} {s} images ({format_pct(empty / cs.n_images)}) have no label",
                    subject=s,
                    evidence={"split": s, "unlabeled": empty, "n_images": cs.n_images},
                    severity="info" if labels.multi_label else "error",
                )
            )
        multi = int(cs.cardinality[2:].sum())
        if multi and not labels.multi_label:
            out.append(
                MULTIPLE_LABELS_SINGLE_LABEL_DATA.finding(
                    f"{multi:,} of {cs.n_images:,} {s} images carry more than one label (up to "
                    f"{cs.cardinality.size - 1}) in data declared single-label",
                    subject=s,
                    evidence={
                        "split": s,
                        "multi_labelled": multi,
                        "n_images": cs.n_images,
                        "labels_per_image_histogram": cs.cardinality.tolist(),
                    },
                )
            )
    return out


def _imbalance(
    labels: LabelSet, ct: SplitCounts, train: str, th: LabelThresholds, declared: np.ndarray
) -> list[Finding]:
    pos = np.where(declared, ct.positives, 0)
    present = np.flatnonzero(pos > 0)
    if present.size < 2:
        return []
    big = int(present[np.argmax(pos[present])])
    ir = pos[big] / np.where(pos > 0, pos, 1)  # Charte et al.'s IRLbl per class
    rare = sorted((i for i in present if ir[i] > th.imbalance_ratio), key=lambda i: -ir[i])
    if not rare:
        return []
    if labels.multi_label:
        kind, weights = "pos_weight", pos_weights(pos, ct.n_images)
    else:
        kind, weights = "class_weight", balanced_class_weights(pos, ct.n_images)
    shown = rare[: th.max_listed]
    suggested = {labels.classes[i]: round(float(weights[i]), 3) for i in shown}
    names = ", ".join(labels.classes[i] for i in shown)
    if len(rare) > len(shown):
        names += f" (+{len(rare) - len(shown)} more)"
    worst = rare[0]
    message = (
        f"{labels.classes[big]} has {ir[worst]:,.0f}x the {train} images of {labels.classes[worst]} "
        f"({int(pos[big]):,} vs {int(pos[worst]):,}); {len(rare)} classes are under "
        f"1/{th.imbalance_ratio:g} of the largest"
    )
    hint = (
        _WEIGHT_HINT
        + " Suggested "
        + kind
        + ": "
        + ", ".join(f"{k} {v:g}" for k, v in list(suggested.items())[:5])
        + ("; all in evidence." if len(suggested) > 5 else ".")
    )
    evidence = {
        "split": train,
        "ratio": float(ir[worst]),
        "largest_class": labels.classes[big],
        "largest_count": int(pos[big]),
        "mean_ir": float(ir[present].mean()),
        "n_imbalanced_classes": len(rare),
        "weight_kind": kind,
        "suggested_weights": suggested,
    }
    return [IMBALANCE.finding(message, subject=names, evidence=evidence, hint=hint)]
