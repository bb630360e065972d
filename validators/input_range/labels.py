"""``input_range.*`` label checks: do the label tensors match the label mode the loss expects?

Part of the ``input_range`` family (imported by :mod:`pipecheck.validators.input_range`); kept apart
so the image-range decisions stay readable. Works on :class:`~pipecheck.validators.input_range.stats.LabelStats`.
"""

from __future__ import annotations

from pipecheck.pipeline.labels import LabelMode
from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.input_range.stats import LabelStats

LABEL_CHECK_IDS = tuple(
    c.id
    for c in (
        registry.define(
            "input_range.labels_not_one_hot",
            "error",
            "One-hot (categorical) label rows that do not sum to 1.",
            "build labels with tf.one_hot(index, num_classes) / keras.utils.to_categorical",
        ),
        registry.define(
            "input_range.sparse_label_out_of_range",
            "error",
            "Sparse (integer) labels outside [0, num_classes).",
            "map class names to indices 0..num_classes-1 with one vocabulary for every split",
        ),
        registry.define(
            "input_range.multi_hot_not_binary",
            "error",
            "Multi-hot label values other than 0 and 1.",
            "build multi-hot rows with 1.0 for present classes and 0.0 elsewhere (e.g. MultiLabelBinarizer)",
        ),
        registry.define(
            "input_range.label_mode_mismatch",
            "error",
            "Label tensor shape does not fit the label mode (1-D indices vs 2-D rows).",
            "use sparse_categorical_crossentropy for index labels, categorical_crossentropy for one-hot rows",
        ),
    )
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
    """Findings for label tensors under the given (or inferred) label mode."""
    mode = LabelMode.normalize(label_mode) or infer_label_mode(labels)
    if mode is None or labels.rows == 0:
        return []
    subject = f"labels ({mode})"
    shape = f"{labels.ndim}-D" + (f" rows of width {labels.width}" if labels.ndim == 2 else " indices")
    if mode in (LabelMode.CATEGORICAL, LabelMode.MULTI_HOT) and labels.ndim == 1:
        return [
            registry.finding(
                "input_range.label_mode_mismatch",
                f"labels are {shape} but label mode {mode} needs one row per image",
                subject=subject,
                evidence={"ndim": labels.ndim, "label_mode": mode.value},
                hint="one-hot encode with tf.one_hot(y, num_classes), or use label mode int with sparse_categorical_crossentropy",
            )
        ]
    if mode in (LabelMode.INT, LabelMode.BINARY) and labels.ndim == 2:
        return [
            registry.finding(
                "input_range.label_mode_mismatch",
                f"labels are {shape} but label mode {mode} expects one index per image",
                subject=subject,
                evidence={"ndim": labels.ndim, "width": labels.width, "label_mode": mode.value},
                hint="use label mode categorical with categorical_crossentropy, or tf.argmax(y, -1) for sparse labels",
            )
        ]
    out: list[Finding] = []
    if mode == LabelMode.CATEGORICAL:
        width_bad = num_classes is not None and labels.width != num_classes
        if labels.rows_not_sum_1 or labels.values_outside_0_1 or width_bad:
            parts = [
                f"{labels.rows_not_sum_1} of {labels.rows} one-hot rows do not sum to 1 "
                f"(row sums in [{labels.row_sum_min:.4g}, {labels.row_sum_max:.4g}])"
            ]
            if width_bad:
                parts.append(f"rows have width {labels.width}, not num_classes {num_classes}")
            out.append(
                registry.finding(
                    "input_range.labels_not_one_hot",
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
            )
    elif mode == LabelMode.MULTI_HOT:
        if labels.values_not_binary:
            out.append(
                registry.finding(
                    "input_range.multi_hot_not_binary",
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
            )
    else:
        upper = 2 if mode == LabelMode.BINARY else num_classes
        if mode == LabelMode.BINARY:
            bad = labels.values_outside_0_1
        elif upper is not None and labels.count_outside(upper) is not None:
            bad = labels.count_outside(upper)
        else:
            bad = sum(c for v, c in labels.values.items() if v < 0) + labels.non_integer
        if bad:
            allowed = "[0, 1]" if mode == LabelMode.BINARY else (f"[0, {upper})" if upper else "non-negative integers")
            out.append(
                registry.finding(
                    "input_range.sparse_label_out_of_range",
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
            )
    return out
