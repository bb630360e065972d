"""What ``model.fit`` assumes of a batch source, checked on the walk of :mod:`generator` (family
``generator``): how a pass ends and whether the next epoch gets data, whether ``len()`` matches the
batches ``__getitem__`` fills, whether the parts of a batch have one row count, and whether the
batches mix the classes the way shuffled ones would.

Class-sorted batches are judged on label keys (an integer class, or the bytes of a one-hot /
multi-hot row), per batch, against what random batches of the same sizes drawn from the same pass
would hold (hypergeometric expectation; its variance bounds the noise, the presence of classes in a
draw without replacement being negatively associated). A source whose name or settings say it is for
evaluation (``val``, ``test``, ``subset="validation"``, a ``.../val`` folder) is not judged: keeping
those in file order is normal.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import Any

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.generator.trace import array_leaves, fingerprint
from pipecheck.validators.sources import Source

INFINITE_UNSIZED = registry.define(
    "generator.infinite_unsized",
    "warning",
    "A source without len() does not end within the walk, so Keras cannot tell where an epoch ends.",
    "Pass steps_per_epoch=math.ceil(n / batch_size) to model.fit, or wrap the data in a keras.utils.PyDataset with __len__",
)
EXHAUSTED = registry.define(
    "generator.exhausted",
    "error",
    "A one-shot generator runs dry: the next epoch gets no data.",
    "Loop forever inside the generator (`while True:`) and pass steps_per_epoch, or use a keras.utils.PyDataset / tf.data.Dataset",
)
FINITE_PASS = registry.define(
    "generator.finite_pass",
    "info",
    "A generator function yields one finite pass per call, which suits tf.data.Dataset.from_generator (called anew each epoch) "
    "but not fn() handed to model.fit for several epochs.",
    "Hand the function itself to tf.data.Dataset.from_generator(fn, output_signature=...) or wrap it in a keras.utils.PyDataset; "
    "model.fit(fn(), epochs>1) runs dry after epoch 1 (then loop with `while True` and pass steps_per_epoch)",
)
LENGTH_OVERPROMISED = registry.define(
    "generator.length_overpromised",
    "error",
    "A PyDataset's len() promises more batches than __getitem__ fills: a batch inside len() is empty, fails, or is short before the last.",
    "Make __len__ return math.ceil(len(samples) / batch_size) and let __getitem__ clip its index range at len(samples), "
    "so every batch len() counts holds data and only the last one is short",
)
BATCH_COUNT_MISMATCH = registry.define(
    "generator.batch_count_mismatch",
    "error",
    "Images and labels (and sample weights) of a batch differ in count, so Keras fails at that step or pairs the wrong rows.",
    "Slice images, labels and sample weights with the same index range (x[i*bs:(i+1)*bs], y[i*bs:(i+1)*bs]); never pad one part alone",
)
CLASS_SORTED_BATCHES = registry.define(
    "generator.class_sorted_batches",
    "warning",
    "Batches of a training source hold far fewer classes than shuffled ones would: the samples come grouped by class, "
    "which BatchNorm statistics and SGD suffer from.",
    "Shuffle the training order: flow_from_directory(..., shuffle=True), .shuffle(len(files)) on the file list before .map/.batch in tf.data, "
    "or a permutation in PyDataset.on_epoch_end; keep shuffle=False for evaluation only",
)

_EVAL_WORDS = {"val", "valid", "validation", "test", "testing", "eval", "evaluation", "holdout", "dev"}


# -- epochs -------------------------------------------------------------------------------------
def no_batches(src: Source, subject: str) -> Finding:
    return EXHAUSTED.finding(
        f"{subject} yielded no batches at all", subject=subject, evidence={"kind": src.kind, "batches": 0}
    )


def epoch_findings(src: Source, subject: str, steps: int, limit: int) -> list[Finding]:
    """How a walk of ``steps`` (> 0) batches ended: a spent one-shot stream, a finite pass per call,
    or an endless stream without a length.
    """
    length = src.length
    out: list[Finding] = []
    if src.kind == "generator" and src.ended:
        out.append(_finite(src, subject, steps))
    ended = src.ended or (length is None and steps < limit)
    # tf.data of unknown cardinality (after filter()) is re-iterated to its end every epoch: fine.
    if length is None and not ended and (src.kind != "tf.data" or src.infinite):
        why = "has infinite cardinality (.repeat())" if src.infinite else f"yielded {steps} batches without ending"
        out.append(
            INFINITE_UNSIZED.finding(
                f"{subject} {why} and has no len(): model.fit cannot tell where an epoch ends",
                subject=subject,
                evidence={"kind": src.kind, "batches_walked": steps},
            )
        )
    return out


def _finite(src: Source, subject: str, steps: int) -> Finding:
    """A generator that ended: healthy when its callable hands out a new one per call (from_generator)."""
    name = src.spec.partition(":")[2].strip() or src.spec
    renews = src.renews()
    ev = {"kind": src.kind, "batches": steps, "new_generator_per_call": renews}
    if renews:
        return FINITE_PASS.finding(
            f"{subject}: each call of {name}() returns a new generator that yields {steps} batches "
            f"and ends. tf.data.Dataset.from_generator({name}, ...) calls it anew every epoch, which is right; "
            f"model.fit({name}(), epochs>1) would run dry after the first epoch",
            subject=subject,
            evidence=ev,
        )
    again = "" if src.origin is src.obj else f"; calling {name}() again returns the same spent iterator"
    return EXHAUSTED.finding(
        f"{subject} is a one-shot generator that ended after {steps} batches; the next epoch of "
        f"model.fit gets no new data{again}",
        subject=subject,
        evidence=ev,
    )


# -- per batch ----------------------------------------------------------------------------------
class ContractTrace:
    """Row counts and label keys of every batch of one walk."""

    def __init__(self, src: Source):
        self.src = src
        self.rows: list[int] = []
        self.mismatches: list[tuple[int, dict[str, int]]] = []
        self.codes: list[list[int]] = []
        self._code_of: dict[Any, int] = {}
        self._labels_ok = True

    def add(self, step: int, batch: tuple, rows: int) -> None:
        self.rows.append(rows)
        counts = part_counts(batch)
        if _zipped_sources(batch):
            # ((images, labels), (images, labels)): two sources zipped for a custom train_step (keras-io
            # SimCLR, AdaMatch), not Keras's (x, y): each side must agree with itself, not with the other.
            self._labels_ok = False
            if all(len({n for k, n in counts.items() if k.startswith(part)}) <= 1 for part in ("x", "y")):
                return
        if len(set(counts.values())) > 1:
            self.mismatches.append((step, counts))
            self._labels_ok = False  # rows cannot be paired: no label ordering judged
        if self._labels_ok:
            keys = label_keys(batch[1]) if len(batch) > 1 else None
            if keys is None:
                self._labels_ok = False
            else:
                self.codes.append([self._code_of.setdefault(k, len(self._code_of)) for k in keys])

    # -- judgements ------------------------------------------------------------------------------
    def count_finding(self, subject: str, steps: int) -> Finding | None:
        if not self.mismatches:
            return None
        k, counts = self.mismatches[0]
        shown = ", ".join(f"{name} {n}" for name, n in counts.items())
        return BATCH_COUNT_MISMATCH.finding(
            f"{subject}: batch {k} has {shown} rows: its parts differ in count "
            f"({len(self.mismatches)} of {steps} batches)",
            subject=subject,
            evidence={
                "batch": k,
                "counts": counts,
                "batches_affected": len(self.mismatches),
                "batches_walked": steps,
                "excess_rows": sum(max(c.values()) - min(c.values()) for _, c in self.mismatches),
            },
        )

    def length_finding(self, subject: str) -> Finding | None:
        """len() against the batches a PyDataset fills; None unless the whole pass was walked or it ran out."""
        src, length = self.src, self.src.length
        if src.kind != "pydataset" or not length:
            return None
        rows, out_at = self.rows, src.ran_out
        if out_at is None and len(rows) < length:
            return None
        full = max(rows) if rows else 0
        samples = sum(rows)
        ev = {
            "length": length,
            "batches_walked": len(rows),
            "rows_per_batch": full,
            "samples_seen": samples,
            "ceil_samples_over_batch": math.ceil(samples / full) if full else 0,
        }
        start = self.short_tail_start()
        if out_at is not None:
            k = out_at["batch"]
            after = f"; batch {start} before it already held {rows[start]} of {full} rows" if start < k else ""
            return LENGTH_OVERPROMISED.finding(
                f"{subject}: len() says {length} batches but batch {k} raised "
                f"{out_at['error']}: __getitem__ cannot fill a batch that len() counts{after}",
                subject=subject,
                evidence={**ev, "batch": k, "error": out_at["error"], "first_short_batch": start},
            )
        empty = next((i for i, r in enumerate(rows) if r == 0), None)
        if empty is None and start >= length - 1:
            return None  # at most the last batch is short: the normal partial tail
        k = empty if empty is not None else start
        what = "is empty" if rows[k] == 0 else f"holds {rows[k]} of {full} rows and is not the last"
        return LENGTH_OVERPROMISED.finding(
            f"{subject}: len() says {length} batches but batch {k} {what} "
            f"({samples} samples fill {ev['ceil_samples_over_batch']} batches of {full})",
            subject=subject,
            evidence={**ev, "batch": k, "first_short_batch": start},
        )

    def short_tail_start(self) -> int:
        """First batch of the run of short (or empty) batches that ends the walk; len(rows) if none."""
        full = max(self.rows) if self.rows else 0
        i = len(self.rows)
        while i > 0 and self.rows[i - 1] < full:
            i -= 1
        return i

    def sorted_finding(self, subject: str, window: int | None, th: Any) -> Finding | None:
        """Mean distinct classes per batch against shuffled batches of the same sizes from the same pass."""
        if not self._labels_ok:
            return None
        scope = self.codes[:window] if window else self.codes
        judged = [c for c in scope if len(c) >= 2]
        counts = Counter(code for c in scope for code in c)
        total = sum(counts.values())
        if len(judged) < th.sorted_min_batches or len(counts) < 2 or len(counts) > total / 2:
            return None  # too few batches, one class, or nearly unique labels (regression, mixup)
        expected = variance = 0.0
        cache: dict[int, tuple[float, float]] = {}
        for c in judged:
            e, v = cache.get(len(c)) or cache.setdefault(len(c), _random_distinct(counts, total, len(c)))
            expected, variance = expected + e, variance + v
        m = len(judged)
        observed = sum(len(set(c)) for c in judged)
        room = expected - m
        if room < th.sorted_min_room * m:
            return None  # shuffled batches would mostly hold one class too
        ratio = (observed - m) / room
        if ratio > th.sorted_max_ratio or expected - observed < th.sorted_sigmas * math.sqrt(variance):
            return None
        if evaluation_name(self.src):
            return None
        size = Counter(len(c) for c in judged).most_common(1)[0][0]
        return CLASS_SORTED_BATCHES.finding(
            f"{subject}: batches hold {observed / m:.2f} distinct labels on average where "
            f"shuffled batches of {size} from the same pass would hold {expected / m:.2f} ({len(counts)} labels in "
            f"{total} samples): the samples come grouped by class",
            subject=subject,
            evidence={
                "batches_judged": m,
                "batch_size": size,
                "labels_in_pass": len(counts),
                "samples": total,
                "mean_distinct": round(observed / m, 3),
                "mean_distinct_if_shuffled": round(expected / m, 3),
                "excess_ratio": round(ratio, 3),
            },
        )


# -- helpers ------------------------------------------------------------------------------------
def _zipped_sources(batch: tuple) -> bool:
    """A batch of two structures that each hold images: sources zipped for a custom ``train_step``.
    Keras's own ``train_step`` reads it as (x, y), and a target of images beside inputs of images in
    structures on both sides is no model's contract but a zip's.
    """
    if len(batch) != 2 or not all(isinstance(part, (tuple, dict)) for part in batch):
        return False
    return all(any(arr.ndim >= 3 for _, arr in array_leaves(part, "p")) for part in batch)


def part_counts(batch: tuple) -> dict[str, int]:
    """Leading dimension of every array in the batch, by part name (``x``, ``y``, ``sample_weight``)."""
    out: dict[str, int] = {}
    for part, name in zip(batch, ("x", "y", "sample_weight")):
        for path, arr in array_leaves(part, name):
            if arr.ndim >= 1:
                out[path] = int(arr.shape[0])
    return out


def label_keys(y: Any) -> list | None:
    """One hashable key per row of a single class-like label array (a value, or a digest of a one-hot /
    multi-hot row); None for dict/tuple labels and per-pixel targets (3+ dimensions).
    """
    import numpy as np

    if not isinstance(y, np.ndarray) or y.ndim == 0 or y.ndim > 2:
        return None
    if y.ndim == 1:
        return y.tolist()
    return [fingerprint(r.tobytes()) for r in np.ascontiguousarray(y)]


def _random_distinct(counts: Counter, total: int, b: int) -> tuple[float, float]:
    """Expected distinct labels in a batch of ``b`` drawn without replacement, and a variance bound."""
    expected = variance = 0.0
    lg = math.lgamma
    base = lg(total + 1) - lg(total - b + 1)
    for n, classes in Counter(counts.values()).items():
        rest = total - n
        absent = math.exp(lg(rest + 1) - lg(rest - b + 1) - base) if rest >= b else 0.0
        expected += classes * (1 - absent)
        variance += classes * absent * (1 - absent)
    return expected, variance


def evaluation_name(src: Source) -> str | None:
    """The name or setting that marks the source as evaluation data (``val_batches``, ``subset='validation'``)."""
    module, _, attr = src.spec.partition(":")
    texts = [attr, module.rsplit(".", 1)[-1]]
    for value in src.params.values():
        if isinstance(value, str):
            texts.append(os.path.basename(value.rstrip("/\\")) if ("/" in value or "\\" in value) else value)
    for text in texts:
        if _EVAL_WORDS & set(re.split(r"[^a-z0-9]+", text.lower())):
            return text
    return None
