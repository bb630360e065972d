"""Generator correctness (family ``generator``): bugs that make a batch source quietly feed a model
the wrong thing while training still runs.

Dynamic checks walk a :class:`~pipecheck.validators.sources.Source` the way ``model.fit`` would and
fingerprint every batch and every sample (``blake2b``, 8 bytes); only fingerprints are kept, plus
references to the last few batches to notice a buffer that is overwritten after it was yielded.
Static checks (:func:`check_generator_static`) read a generator function's source with ``ast``. What
model.fit assumes of a source (epochs, len(), row counts, class order) lives in :mod:`.contracts`;
what a ``tf.data`` source's own structure shows (random maps that repeat every epoch) in
:mod:`.random_maps`.

Limitations: labels are checked against images only when the data behind the source can be seen
(``Source.traced``: the arguments of a generator before it starts, or a ``PyDataset``'s attributes)
and the yielded images still equal the stored ones byte for byte after casting to the yielded dtype;
rescaled or augmented images cannot be matched, and then the check stays silent. The data set size
(for skipped samples) comes from the same place. Whether shuffling was asked for is read from a
``shuffle`` argument/attribute or a ``shuffle`` step in a ``tf.data`` chain, unless given.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from typing import Any

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.generator.contracts import ContractTrace, epoch_findings, no_batches
from pipecheck.validators.generator.random_maps import random_map_findings
from pipecheck.validators.generator.static import scan
from pipecheck.validators.generator.trace import (
    LabelTrace,
    batch_fp,
    batch_signature,
    dtype_summary,
    fingerprint,
    sample_fps,
    shape_summary,
    shuffle_asked,
    stream_period,
)
from pipecheck.validators.sources import Source

SAME_BATCH_REPEATED = registry.define(
    "generator.same_batch_repeated",
    "error",
    "The source yields the same batch again and again.",
    "Put `yield` inside the loop that builds each batch (seed 001 yields after the loop, so only the last batch is ever seen)",
)
FEW_DISTINCT_BATCHES = registry.define(
    "generator.few_distinct_batches",
    "warning",
    "Far fewer distinct batches than steps in one pass.",
    "Index batches by the step (x[i*bs:(i+1)*bs]); check __getitem__/the loop counter advances",
)
BUFFER_MUTATED = registry.define(
    "generator.buffer_mutated",
    "error",
    "A yielded array is overwritten in place by a later batch.",
    "Allocate a new array per batch (np.empty(...) inside the loop) or yield buf.copy(); Keras keeps earlier batches in a queue",
)
SAMPLES_SKIPPED = registry.define(
    "generator.samples_skipped",
    "warning",
    "Samples of the data set are never reached in a pass.",
    "Let the last batch be partial: loop `while n < len(x)` / `range(0, len(x), bs)` and size epochs with math.ceil(len(x) / bs)",
)
DUPLICATE_SAMPLES = registry.define(
    "generator.duplicate_samples",
    "warning",
    "The same sample appears more than once within one pass.",
    "Draw each epoch from one permutation (np.random.permutation(len(x))) instead of sampling indices with replacement",
)
LABELS_MISALIGNED = registry.define(
    "generator.labels_misaligned",
    "error",
    "Yielded labels do not belong to their images.",
    "Shuffle images and labels with the same permutation: idx = rng.permutation(n); x, y = x[idx], y[idx]",
)
SHAPE_CHANGED = registry.define(
    "generator.shape_changed",
    "error",
    "Batch shapes change between batches (beyond a final partial batch).",
    "Resize every image to one size before batching (tf.image.resize / PIL .resize) and keep one batch size",
)
DTYPE_CHANGED = registry.define(
    "generator.dtype_changed",
    "error",
    "Batch dtypes change between batches.",
    "Cast once in the pipeline, e.g. x.astype('float32'), so every batch has the same dtype",
)
NOT_SHUFFLED = registry.define(
    "generator.not_shuffled",
    "warning",
    "Shuffling was asked for, but every pass has the same order.",
    "Reshuffle per epoch: tf.data .shuffle(..., reshuffle_each_iteration=True), or permute indices in PyDataset.on_epoch_end",
)


@dataclass
class GeneratorThresholds:
    """Knobs of the dynamic generator checks (defaults are the documented behaviour).

    Attributes:
        repeat_fraction: Share of steps whose batch equals the previous one that counts as repeating.
        distinct_fraction: Distinct batches / steps in one pass below which few_distinct fires.
        distinct_error_fraction: ... below which it is an error instead of a warning.
        misaligned_fraction: Share of matched samples with a foreign label that is an error.
        min_matched: Samples matched back to the data set needed before judging labels.
        retained: Batches kept by reference to detect in-place mutation.
        max_pass: Most batches walked for one pass of a sized source.
        duplicate_fraction: Repeats within a pass tolerated when samples cannot be matched to the
            data set (they may be images stored twice in it).
        shuffle_compare_batches: Batches of two passes compared for the shuffle check.
        sorted_min_batches: Batches of 2+ samples a pass needs before class order is judged.
        sorted_min_room: Mean distinct labels per batch that shuffled batches would add over one,
            below which class order is not judged (shuffled batches would be one class anyway).
        sorted_max_ratio: class_sorted_batches fires when batches add at most this share of that.
        sorted_sigmas: ... and fall this many standard deviations (a bound) below shuffled ones.
    """

    repeat_fraction: float = 0.5
    distinct_fraction: float = 0.5
    distinct_error_fraction: float = 0.25
    misaligned_fraction: float = 0.05
    min_matched: int = 8
    retained: int = 4
    max_pass: int = 1000
    duplicate_fraction: float = 0.02
    shuffle_compare_batches: int = 10
    sorted_min_batches: int = 6
    sorted_min_room: float = 0.25
    sorted_max_ratio: float = 0.5
    sorted_sigmas: float = 4.0


def check_generator(
    source: Source,
    *,
    batches: int = 50,
    shuffle_expected: bool | None = None,
    thresholds: GeneratorThresholds | None = None,
) -> list[Finding]:
    """Walk the source like ``model.fit`` and report generator bugs (dynamic checks).

    Args:
        source: From :func:`~pipecheck.validators.sources.load_source`; a fresh one is made from its
            factory if batches were already drawn (a generator *object* named directly by --source
            cannot be re-created, so the walk continues where the last one stopped).
        batches: Batches to walk when the source has no length (a sized source gets one full pass,
            at most ``thresholds.max_pass``).
        shuffle_expected: Whether passes should differ in order; None reads it from the source.
        thresholds: Overrides of :class:`GeneratorThresholds`.

    Returns:
        Findings of the ``generator`` family in the order found (the Report sorts them).
    """
    th = thresholds or GeneratorThresholds()
    src = source.fresh() if source.consumed else source
    subject = src.spec
    length = src.length
    limit = min(length, max(batches, th.max_pass)) if length else batches
    run = _Run(src, th, length)
    for step, batch in enumerate(src.batches(limit)):
        run.add(step, batch)
    steps = run.steps
    out: list[Finding] = list(run.findings)
    if steps == 0:
        return out + [no_batches(src, subject)]
    out += epoch_findings(src, subject, steps, limit)
    out += random_map_findings(src, subject)
    over, counts = run.contracts.length_finding(subject), run.contracts.count_finding(subject, steps)
    out += [f for f in (over, counts) if f]
    window = run.pass_steps()
    repeated = run.repeated_finding(subject, window)
    if repeated:
        out.append(repeated)
    else:
        out += run.pass_findings(subject, window)
    out += run.label_findings(subject)
    expected = shuffle_expected if shuffle_expected is not None else shuffle_asked(src)
    if expected and not repeated:
        f = _shuffle_finding(src, run, subject, window, th)
        if f:
            out.append(f)
    if not repeated:
        f = run.contracts.sorted_finding(subject, window, th)
        if f:
            out.append(f)
    return _drop_explained(out, over, counts)


def _drop_explained(findings: list[Finding], over: Finding | None, counts: Finding | None) -> list[Finding]:
    """Findings that only echo a contract finding: a shape_changed on a short batch that
    length_overpromised explains, duplicate samples no more than the rows a part was padded with.
    """
    start = over.evidence["first_short_batch"] if over else None
    padded = counts.evidence["excess_rows"] if counts else -1

    def echo(f: Finding) -> bool:
        if f.check == DUPLICATE_SAMPLES.id:
            return f.evidence["repeated_samples"] <= padded
        if f.check != SHAPE_CHANGED.id or start is None or f.evidence.get("batch", -1) < start:
            return False
        now, then = f.evidence["shapes"], f.evidence["first_shapes"]
        return now.keys() == then.keys() and all(now[k][1:] == then[k][1:] for k in now)

    return [f for f in findings if not echo(f)]


def check_generator_static(fn_or_code: Any) -> list[Finding]:
    """Read a generator function's source with ``ast`` and flag the three known bug patterns.

    Args:
        fn_or_code: A generator function, a function that calls one (followed one level), a
            generator object, a :class:`Source`, a path to a ``.py`` file, or source text.

    Returns:
        ``generator.yield_after_loop``, ``generator.tail_dropping_bound`` and
        ``generator.augmenter_per_batch`` findings; subject ``file:line``.
    """
    out = []
    for hit in scan(fn_or_code):
        where = f"{_shown_path(hit.file)}:{hit.line}"
        out.append(
            hit.check.finding(
                f"{hit.function}(): {hit.message}",
                subject=where,
                evidence={"file": hit.file, "line": hit.line, "function": hit.function, "code": hit.text, **hit.extra},
            )
        )
    return out


def _shown_path(file: str) -> str:
    """A path under the current directory relative to it (as the user typed --source), else as is."""
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return file
    return file if rel.startswith("..") or not os.path.isabs(file) else rel


# ---------------------------------------------------------------------------------------------
class _Run:
    """Fingerprints and first-seen problems of one walk over a source."""

    def __init__(self, src: Source, th: GeneratorThresholds, length: int | None):
        self.src, self.th, self.length = src, th, length
        self.batch_fps: list[bytes] = []
        self.sample_fps: list[list[bytes]] = []
        self.sizes: list[int] = []
        self.findings: list[Finding] = []
        self._first_sig: list | None = None
        self._flagged: set[registry.CheckInfo] = set()
        self._retained: deque = deque(maxlen=th.retained)
        self.labels = LabelTrace(src)
        self.contracts = ContractTrace(src)

    @property
    def steps(self) -> int:
        return len(self.batch_fps)

    def add(self, step: int, batch: tuple) -> None:
        self._check_mutation(step)
        self._retained.append((step, batch, batch_fp(batch)))
        x = batch[0]
        fps = sample_fps(x)
        # A batch is its multiset of samples, so a flow() that reorders within the batch
        # (ImageDataGenerator shuffles by default) still counts as the same batch.
        self.batch_fps.append(fingerprint(*sorted(fps)))
        self.sample_fps.append(fps)
        self.sizes.append(len(fps))
        self.contracts.add(step, batch, len(fps))
        if fps or self.src.kind != "pydataset" or not self.length:
            self._check_signature(step, batch)  # an empty PyDataset batch is length_overpromised's
        if len(batch) > 1:
            self.labels.add(x, batch[1], fps)

    def _check_mutation(self, step: int) -> None:
        if BUFFER_MUTATED in self._flagged:
            return
        for old_step, old_batch, old_fp in self._retained:
            if batch_fp(old_batch) != old_fp:
                self._flagged.add(BUFFER_MUTATED)
                self.findings.append(
                    BUFFER_MUTATED.finding(
                        f"{self.src.spec}: batch {old_step} changed in place after it was yielded "
                        f"(noticed once batch {step} was produced): every batch a consumer keeps turns into a later one",
                        subject=self.src.spec,
                        evidence={"batch": old_step, "noticed_at": step},
                    )
                )
                return

    def _check_signature(self, step: int, batch: tuple) -> None:
        sig = batch_signature(batch)
        if self._first_sig is None:
            self._first_sig = sig
            return
        first = self._first_sig
        if SHAPE_CHANGED not in self._flagged:
            shapes_now = [(n, d, s) for n, d, s, _, _ in sig]
            shapes_then = [(n, d, s) for n, d, s, _, _ in first]
            bs0, bs = first[0][4], sig[0][4]
            last = self.length is not None and step == self.length - 1
            # tf.data may shuffle whole batches (image_dataset_from_directory(...).shuffle(n), as the TF
            # tutorials write it): its one short batch then lands anywhere, first included.
            partial_ok = (bs < bs0 and (last or self.length is None)) or (
                self.src.kind == "tf.data" and self._one_short_batch(step, bs)
            )
            if shapes_now != shapes_then or (bs != bs0 and not partial_ok):
                self._flagged.add(SHAPE_CHANGED)
                self.findings.append(
                    SHAPE_CHANGED.finding(
                        f"{self.src.spec}: batch {step} has shapes {shape_summary(sig)}, batch 0 had {shape_summary(first)}",
                        subject=self.src.spec,
                        evidence={"batch": step, "shapes": shape_summary(sig), "first_shapes": shape_summary(first)},
                    )
                )
        if DTYPE_CHANGED not in self._flagged:
            if [(n, t) for n, _, _, t, _ in sig] != [(n, t) for n, _, _, t, _ in first]:
                self._flagged.add(DTYPE_CHANGED)
                self.findings.append(
                    DTYPE_CHANGED.finding(
                        f"{self.src.spec}: batch {step} has dtypes {dtype_summary(sig)}, batch 0 had {dtype_summary(first)}",
                        subject=self.src.spec,
                        evidence={"batch": step, "dtypes": dtype_summary(sig), "first_dtypes": dtype_summary(first)},
                    )
                )

    def _one_short_batch(self, step: int, bs: int) -> bool:
        """Whether the batches of this pass so far (``self.sizes``, this one included) hold one size
        and at most one batch smaller than it.
        """
        window = self.sizes[: self.length] if self.length else self.sizes
        if self.length and step >= self.length:
            return True  # a later pass: judged on the first
        full = max(window)
        return len({s for s in window if s != full}) <= 1 and sum(1 for s in window if s < full) <= 1

    # -- pass-level judgements ------------------------------------------------------------------
    def dataset_size(self) -> int | None:
        return self.labels.size

    def expected_steps(self) -> int | None:
        """Steps one pass should take: the length, else ceil(N / batch size) for a traced data set."""
        if self.length:
            return min(self.length, self.steps)
        n = self.dataset_size()
        if n and self.sizes and max(self.sizes):
            return min(self.steps, math.ceil(n / max(self.sizes)))
        return None

    def pass_steps(self) -> int | None:
        """Batches in one pass: the length, else the stream's period, else ceil(N / batch size)."""
        if self.length:
            return min(self.length, self.steps)
        period = stream_period(self.batch_fps)
        return period if period is not None else self.expected_steps()

    def repeated_finding(self, subject: str, window: int | None) -> Finding | None:
        steps = self.steps
        n = self.dataset_size()
        if steps < 2 or self.length == 1 or (n and n <= max(self.sizes)):
            return None  # the whole data set is one batch: repeating it is the only option
        repeats, longest, run_len = 0, 1, 1
        for a, b in zip(self.batch_fps, self.batch_fps[1:]):
            run_len = run_len + 1 if a == b else 1
            repeats += a == b
            longest = max(longest, run_len)
        distinct = len(set(self.batch_fps))
        ev = {"steps": steps, "distinct_batches": distinct, "consecutive_repeats": repeats, "longest_run": longest}
        if repeats >= max(1, math.ceil(self.th.repeat_fraction * (steps - 1))):
            return SAME_BATCH_REPEATED.finding(
                f"{subject} yielded the same batch {longest} times in a row ({distinct} distinct of {steps} batches)",
                subject=subject,
                evidence=ev,
            )
        # Judged over the pass the data set calls for, not the stream's own period: a stream that
        # cycles through 2 batches has period 2 but should need ceil(N / batch) steps.
        span = self.expected_steps() or window
        if span and span >= 4:
            seen = len(set(self.batch_fps[:span]))
            if seen < self.th.distinct_fraction * span:
                severity = "error" if seen <= self.th.distinct_error_fraction * span else None
                return FEW_DISTINCT_BATCHES.finding(
                    f"{subject} yielded only {seen} distinct batches in a pass of {span} steps",
                    subject=subject,
                    evidence={**ev, "pass_steps": span, "distinct_in_pass": seen},
                    severity=severity,
                )
        return None

    def pass_findings(self, subject: str, window: int | None) -> list[Finding]:
        out: list[Finding] = []
        exact = self.labels.reliable()
        if window:
            in_pass = [fp for fps in self.sample_fps[:window] for fp in fps]
            extra = len(in_pass) - len(set(in_pass)) - self.labels.dataset_duplicates()
            # Without the data set in hand, a few repeats may be images stored twice in it.
            allowance = 0 if exact else self.th.duplicate_fraction * len(in_pass)
            # A finite .repeat(k) puts k copies of the data in one pass by design: the window holds
            # as many repeated samples as it runs past the first copy (none while it is inside it).
            repeats = self.src.repeats
            if repeats > 1 and self.length:
                allowance += len(in_pass) * max(0.0, 1 - self.length / repeats / window)
            if extra > allowance:
                out.append(
                    DUPLICATE_SAMPLES.finding(
                        f"{subject}: {extra} of {len(in_pass)} samples in one pass ({window} batches) "
                        "were already yielded earlier in that pass"
                        + (f", more than its .repeat({repeats}) explains" if repeats > 1 else ""),
                        subject=subject,
                        evidence={
                            "pass_steps": window,
                            "samples_in_pass": len(in_pass),
                            "repeated_samples": extra,
                            "repeats": repeats,
                        },
                    )
                )
        skipped = self._skipped(subject, exact)
        if skipped:
            out.append(skipped)
        return out

    def _skipped(self, subject: str, exact: bool) -> Finding | None:
        """Samples of the traced data set a pass never reaches.

        The pass is the whole length of a sized source (walked completely), or the period of an
        endless stream that repeats itself; a stream that never repeats is judged on everything
        walked, and only when its samples can be matched to the data set.
        """
        n = self.dataset_size()
        if not n:
            return None
        if self.length:
            if self.steps < self.length:
                return None
            scope, where = self.sample_fps[: self.length], "one pass"
        elif (p := stream_period(self.batch_fps)) is not None:
            scope, where = self.sample_fps[:p], "one cycle of the stream"
        elif exact:
            scope = self.sample_fps
            where = f"{sum(map(len, scope)) / n:.1f} passes' worth"
            if sum(map(len, scope)) < n:
                return None
        else:
            return None
        yielded = sum(map(len, scope))
        if exact:
            expected = self.labels.distinct_in_dataset() or n
            seen = self.labels.reached({fp for fps in scope for fp in fps})
        else:
            # Counting, not de-duplicating: images stored twice in the data set still count twice.
            expected, seen = n, min(yielded, n)
        if seen >= expected:
            return None
        bs = max(self.sizes)
        return SAMPLES_SKIPPED.finding(
            f"{subject}: {expected - seen} of {expected} samples were never yielded "
            f"in {len(scope)} batches of {bs} ({where})",
            subject=subject,
            evidence={
                "dataset_size": n,
                "samples_seen": seen,
                "batches_walked": len(scope),
                "batch_size": bs,
                "length": self.length,
                "length_x_batch": (self.length * bs) if self.length else None,
            },
        )

    def label_findings(self, subject: str) -> list[Finding]:
        lt, th = self.labels, self.th
        best = lt.best_labels()
        if best is None or lt.matched < min(th.min_matched, lt.size or th.min_matched):
            return []
        name, bad = best
        if bad <= th.misaligned_fraction * lt.matched:
            return []
        return [
            LABELS_MISALIGNED.finding(
                f"{subject}: {bad} of {lt.matched} yielded samples carry a label other than "
                f"their image's in {name!r} ({lt.images_name!r} holds the images)",
                subject=subject,
                evidence={
                    "matched_samples": lt.matched,
                    "mismatched": bad,
                    "images": lt.images_name,
                    "labels": name,
                    "examples": lt.examples.get(name, []),
                },
            )
        ]


def _shuffle_finding(
    src: Source, run: _Run, subject: str, window: int | None, th: GeneratorThresholds
) -> Finding | None:
    if src.one_shot:
        # The stream's next epoch is simply its continuation: compare consecutive passes.
        if not window or run.steps < 2 * window:
            return None
        first = [fp for fps in run.sample_fps[:window] for fp in fps]
        second = [fp for fps in run.sample_fps[window : 2 * window] for fp in fps]
    else:
        # Shuffled passes differ from their first batch on; a short prefix settles it.
        k = min(window or run.steps, th.shuffle_compare_batches)
        if src.length and run.steps < src.length:
            src.end_epoch()  # the walk stopped early; Keras would have ended the epoch here
        first = [fp for fps in run.sample_fps[:k] for fp in fps]
        second = [fp for batch in src.batches(k) for fp in sample_fps(batch[0])]
    if len(first) > 1 and first == second:
        return NOT_SHUFFLED.finding(
            f"{subject}: shuffling was asked for, but the second pass yields the same "
            f"{len(first)} samples in the same order as the first",
            subject=subject,
            evidence={"samples_compared": len(first), "kind": src.kind},
        )
    return None
