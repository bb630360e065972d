"""``input_range.*`` label checks: do the label tensors match the label mode the loss expects?

Part of the ``input_range`` family (imported by :mod:`pipecheck.validators.input_range`); kept apart
so the image-range decisions stay readable. Works on :class:`~pipecheck.validators.input_range.stats.LabelStats`.
"""

from __future__ import annotations

from pipecheck.pipeline.labels import LabelMode
from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.input_range.stats import LabelStats

LABELS_NOT_ONE_HOT = registry.define(
    "input_range.labels_not_one_hot",
    "error",
    "One-hot (categorical) label rows that do not sum to 1.",
    "build labels with tf.one_hot(index, num_classes) / keras.utils.to_categorical",
)
SPARSE_LABEL_OUT_OF_RANGE = registry.define(
    "input_range.sparse_label_out_of_range",
    "error",
    "Sparse (integer) labels outside [0, num_classes).",
    "map class names to indices 0..num_classes-1 with one vocabulary for every split",
)
MULTI_HOT_NOT_BINARY = registry.define(
    "input_range.multi_hot_not_binary",
    "error",
    "Multi-hot label values other than 0 and 1.",
    "build multi-hot rows with 1.0 for present classes and 0.0 elsewhere (e.g. MultiLabelBinarizer)",
)
LABEL_MODE_MISMATCH = registry.define(
    "input_range.label_mode_mismatch",
    "error",
    "Label tensor shape does not fit the label mode (1-D indices vs 2-D rows).",
    "use sparse_categorical_crossentropy for index labels, categorical_crossentropy for one-hot rows",
)
LABEL_CHECK_IDS = tuple(
    c.id for c in (LABELS_NOT_ONE_HOT, SPARSE_LABEL_OUT_OF_RANGE, MULTI_HOT_NOT_BINARY, LABEL_MODE_MISMATCH)
)


def normalize_label_mode(label_mode: str | None) -> LabelMode | None:
    """:meth:`LabelMode.normalize` (kept for callers of this name)."""
    return LabelMode.normalize(label_mode)


def infer_label_mode(labels: LabelStats) -> LabelMode | None:
    """The mode the labels most plausibly follow, or None when they do not say clearly."""
    if labels.rows == 0:
        return None
    if labels.ndim == 1:
        return LabelMode.INT if labels.non_integer == 0 else None
    if labels.rows_not_sum_1 <= 0.1 * labels.rows:
        return LabelMode.CATEGORICAL
    if labels.values_not_binary == 0:
        return LabelMode.MULTI_HOT
    return None


def diagnose_labels(labels: LabelStats, label_mode: str | None, num_classes: int | None) -> list[Finding]:
    """Findings for label tensors under the given (or inferred) label mode: first whether the tensor's
    shape fits the mode at all, then the values the mode allows.
    """
    mode = LabelMode.normalize(label_mode) or infer_label_mode(labels)
    if mode is None or labels.rows == 0:
        return []
    subject = f"labels ({mode})"
    mismatch = _shape_mismatch(labels, mode, subject)
    if mismatch is not None:
        return [mismatch]
    if mode == LabelMode.CATEGORICAL:
        found = _one_hot_rows(labels, num_classes, subject)
    elif mode == LabelMode.MULTI_HOT:
        found = _multi_hot_values(labels, subject)
    else:
        found = _sparse_range(labels, mode, num_classes, subject)
    return [found] if found is not None else []


def _shape_mismatch(labels: LabelStats, mode: LabelMode, subject: str) -> Finding | None:
    """1-D indices under a row mode (categorical, multi-hot), or 2-D rows under an index mode."""
    shape = f"{labels.ndim}-D" + (f" rows of width {labels.width}" if labels.ndim == 2 else " indices")
    if mode in (LabelMode.CATEGORICAL, LabelMode.MULTI_HOT) and labels.ndim == 1:
        return LABEL_MODE_MISMATCH.finding(
            f"labels are {shape} but label mode {mode} needs one row per image",
            subject=subject,
            evidence={"ndim": labels.ndim, "label_mode": mode.value},
            hint="one-hot encode with tf.one_hot(y, num_classes), or use label mode int with sparse_categorical_crossentropy",
        )
    if mode in (LabelMode.INT, LabelMode.BINARY) and labels.ndim == 2:
        return LABEL_MODE_MISMATCH.finding(
            f"labels are {shape} but label mode {mode} expects one index per image",
            subject=subject,
            evidence={"ndim": labels.ndim, "width": labels.width, "label_mode": mode.value},
            hint="use label mode categorical with categorical_crossentropy, or tf.argmax(y, -1) for sparse labels",
        )
    return None


def _one_hot_rows(labels: LabelStats, num_classes: int | None, subject: str) -> Finding | None:
    """Categorical rows that do not sum to 1 (or hold values outside [0, 1]), or a width other than
    ``num_classes``.
    """
    width_bad = num_classes is not None and labels.width != num_classes
    if not (labels.rows_not_sum_1 or labels.values_outside_0_1 or width_bad):
        return None
    parts = [
        f"{labels.rows_not_sum_1} of {labels.rows} one-hot rows do not sum to 1 "
        f"(row sums in [{labels.row_sum_min:.4g}, {labels.row_sum_max:.4g}])"
    ]
    if width_bad:
        parts.append(f"rows have width {labels.width}, not num_classes {num_classes}")
    return LABELS_NOT_ONE_HOT.finding(
        "; ".join(parts),
        subject=subject,
        evidence={
            "rows": labels.rows,
            "rows_not_sum_1": labels.rows_not_sum_1,
            "width": labels.width,
            "row_sum_min": labels.row_sum_min,
            "row_sum_max": labels.row_sum_max,
            "examples": labels.examples_bad_rows,
        },
    )


def _multi_hot_values(labels: LabelStats, subject: str) -> Finding | None:
    """Multi-hot values other than 0 and 1."""
    if not labels.values_not_binary:
        return None
    return MULTI_HOT_NOT_BINARY.finding(
        f"{labels.values_not_binary} of {labels.total_values} multi-hot values are not 0 or 1 "
        f"(values in [{labels.value_min:.4g}, {labels.value_max:.4g}])",
        subject=subject,
        evidence={
            "values_not_binary": labels.values_not_binary,
            "value_min": labels.value_min,
            "value_max": labels.value_max,
            "examples": labels.examples_bad_rows,
        },
    )


def _sparse_range(labels: LabelStats, mode: LabelMode, num_classes: int | None, subject: str) -> Finding | None:
    """Index labels outside [0, 1] (binary), [0, num_classes) when known, else negative or fractional."""
    upper = 2 if mode == LabelMode.BINARY else num_classes
    if mode == LabelMode.BINARY:
        bad = labels.values_outside_0_1
    elif upper is not None and labels.count_outside(upper) is not None:
        bad = labels.count_outside(upper)
    else:
        bad = sum(c for v, c in labels.values.items() if v < 0) + labels.non_integer
    if not bad:
        return None
    allowed = "[0, 1]" if mode == LabelMode.BINARY else (f"[0, {upper})" if upper else "non-negative integers")
    return SPARSE_LABEL_OUT_OF_RANGE.finding(
        f"{bad} of {labels.rows} labels fall outside {allowed} (seen [{labels.value_min:.6g}, {labels.value_max:.6g}])",
        subject=subject,
        evidence={
            "bad": bad,
            "rows": labels.rows,
            "value_min": labels.value_min,
            "value_max": labels.value_max,
            "num_classes": num_classes,
        },
    )
