"""Streaming statistics of model-input batches: one pass, constant memory, no judgement.

:class:`InputStats` folds each ``(x, y)`` batch into per-channel moments (Chan/Welford merge, so
values near -1 with tiny spread such as doubly-preprocessed input keep their precision), a fixed
symmetric-log histogram, per-image constant counts, per-batch spread and label summaries. The
dataset is never held: only a few numbers per channel and one float per batch survive a batch, plus
the report's bounded picture material (:mod:`~pipecheck.validators.input_range.visuals`: four small
thumbnails, at most 32k sampled values per channel). :mod:`pipecheck.validators.input_range` turns
these numbers into findings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipecheck.validators.input_range.visuals import VisualSample

# Symmetric log edges: 24 bins per decade from 1e-4 to 1e4 on each side (about 10% wide), plus a bin
# around zero and two overflow bins. Data-independent, so histograms of any stream merge and compare.
_DECADES = np.logspace(-4, 4, 8 * 24 + 1)
HIST_EDGES = np.concatenate([[-np.inf], -_DECADES[::-1], _DECADES, [np.inf]])

_HIST_SAMPLE = 65_536  # histogram values per channel and batch, at most about this many
_MAX_DISTINCT_LABELS = 100_000  # sparse label values remembered exactly; beyond that, min/max only


def as_array(part: Any, what: str) -> np.ndarray:
    """Numpy view of a batch part (numpy, tf tensor, list); a one-entry dict/list/tuple is unwrapped."""
    if isinstance(part, dict) and len(part) == 1:
        part = next(iter(part.values()))
    if isinstance(part, (list, tuple)) and len(part) == 1 and not np.isscalar(part[0]):
        part = part[0]
    if hasattr(part, "numpy") and not isinstance(part, np.ndarray):
        part = part.numpy()
    arr = np.asarray(part)
    if arr.dtype == object:
        raise ValueError(f"{what} is not a numeric array (got {type(part).__name__})")
    return arr


@dataclass
class LabelStats:
    """Summary of the label tensors seen: enough to judge one-hot, sparse and multi-hot modes."""

    rows: int = 0
    ndim: int | None = None
    width: int | None = None  # classes per row for 2-D labels
    integer_dtype: bool = True
    # 2-D labels
    rows_not_sum_1: int = 0
    rows_not_single_1: int = 0  # rows that are not exactly one 1 and the rest 0
    values_not_binary: int = 0
    values_outside_0_1: int = 0
    row_sum_min: float = float("inf")
    row_sum_max: float = float("-inf")
    examples_bad_rows: list[list[float]] = field(default_factory=list)
    # 1-D (sparse) labels
    value_min: float = float("inf")
    value_max: float = float("-inf")
    non_integer: int = 0
    values: Counter = field(default_factory=Counter)
    values_overflowed: bool = False
    total_values: int = 0

    def update(self, y: np.ndarray) -> None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # (n, 1) sparse / binary labels
        if y.ndim == 0:
            y = y.reshape(1)
        self.ndim = y.ndim if self.ndim is None else self.ndim
        self.integer_dtype &= bool(np.issubdtype(y.dtype, np.integer) or y.dtype == bool)
        yf = y.astype("float64")
        self.rows += int(y.shape[0])
        self.total_values += int(yf.size)
        if yf.size == 0:
            return
        self.value_min = min(self.value_min, float(np.nanmin(yf)))
        self.value_max = max(self.value_max, float(np.nanmax(yf)))
        binary = (yf == 0) | (yf == 1)
        self.values_not_binary += int((~binary).sum())
        self.values_outside_0_1 += int(((yf < 0) | (yf > 1) | np.isnan(yf)).sum())
        if yf.ndim == 1:
            self.non_integer += int((yf != np.round(yf)).sum())
            if not self.values_overflowed:
                uniq, counts = np.unique(yf[np.isfinite(yf)], return_counts=True)
                self.values.update(dict(zip(uniq.tolist(), counts.tolist())))
                if len(self.values) > _MAX_DISTINCT_LABELS:
                    self.values_overflowed, self.values = True, Counter()
            return
        flat = yf.reshape(yf.shape[0], -1)
        self.width = flat.shape[1]
        sums = flat.sum(axis=1)
        self.row_sum_min = min(self.row_sum_min, float(np.nanmin(sums)))
        self.row_sum_max = max(self.row_sum_max, float(np.nanmax(sums)))
        bad_sum = ~np.isclose(sums, 1.0, atol=1e-3)
        single = binary.reshape(flat.shape).all(axis=1) & ((flat == 1).sum(axis=1) == 1)
        self.rows_not_sum_1 += int(bad_sum.sum())
        self.rows_not_single_1 += int((~single).sum())
        for row in flat[bad_sum][: max(0, 3 - len(self.examples_bad_rows))]:
            self.examples_bad_rows.append([round(float(v), 4) for v in row[:12]])

    def count_outside(self, num_classes: int) -> int | None:
        """Sparse values that are not an index in ``[0, num_classes)``; None if not known exactly."""
        if self.values_overflowed:
            return None
        return sum(c for v, c in self.values.items() if v < 0 or v >= num_classes or v != int(v))


@dataclass
class InputStats:
    """One-pass accumulator over ``(x, y[, sample_weight])`` batches.

    Attributes (after :meth:`update` calls):
        batches: Batches seen. images: Images seen.
        count/mean/m2/min/max: Per channel (last axis) over finite values; ``std`` derives from m2.
        hist: Per-channel counts over :data:`HIST_EDGES` (of a systematic subsample for big batches).
        nan/inf: Non-finite value counts.
        constant_images/zero_images: Images whose every value is equal / zero.
        batch_spread: Per batch, the mean over positions of the across-image std (NaN if undefined).
        constant_batches: Indices of batches made only of constant images.
        dtypes/shapes: What x looked like (``shapes`` counts ``(H, W, C)`` per batch).
        labels: :class:`LabelStats`, or None if batches carried no labels.
        visuals: A bounded sample (first images, subsampled values) for the report's pictures.
    """

    batches: int = 0
    images: int = 0
    channels: int | None = None
    count: np.ndarray | None = None
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    hist: np.ndarray | None = None
    nan: int = 0
    inf: int = 0
    constant_images: int = 0
    zero_images: int = 0
    batch_spread: list[float] = field(default_factory=list)
    constant_batches: list[int] = field(default_factory=list)
    dtypes: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)
    labels: LabelStats | None = None
    visuals: VisualSample = field(default_factory=VisualSample)

    def update(self, x: Any, y: Any = None) -> None:
        """Fold one batch in. ``x`` is ``(N, H, W, C)`` (or ``(N, H, W)`` greyscale)."""
        x = as_array(x, "batch x")
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError(f"batch x has shape {x.shape}; expected (batch, height, width, channels)")
        self.batches += 1
        self.dtypes[str(x.dtype)] += 1
        self.shapes[tuple(int(s) for s in x.shape[1:])] += 1
        n, c = int(x.shape[0]), int(x.shape[-1])
        self.images += n
        if y is not None:
            try:
                y = as_array(y, "batch y")
            except ValueError:
                y = None  # multi-output dicts, string labels: not judged here, and not an error
            if y is not None and (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
                if self.labels is None:
                    self.labels = LabelStats()
                self.labels.update(y)
        if n == 0:
            return
        if self.channels is None:
            self._start(c)
        elif c != self.channels:
            # Mixed channel counts cannot share per-channel moments; the shape tally still reports it.
            return
        xf = x.astype("float64", copy=False)
        finite = np.isfinite(xf)
        all_finite = bool(finite.all())
        if not all_finite:
            self.nan += int(np.isnan(xf).sum())
            self.inf += int(np.isinf(xf).sum())
        self._fold_moments(xf.reshape(-1, c), None if all_finite else finite.reshape(-1, c))
        self._fold_images(xf, finite if not all_finite else None)
        self.visuals.update(xf)

    def _start(self, c: int) -> None:
        self.channels = c
        self.count = np.zeros(c)
        self.mean = np.zeros(c)
        self.m2 = np.zeros(c)
        self.min = np.full(c, np.inf)
        self.max = np.full(c, -np.inf)
        self.hist = np.zeros((c, len(HIST_EDGES) - 1), dtype="int64")

    def _fold_moments(self, flat: np.ndarray, finite: np.ndarray | None) -> None:
        if finite is not None:
            for ch in range(flat.shape[1]):  # rare path: only batches holding NaN/Inf
                self._merge([ch], flat[finite[:, ch], ch][None, :])
            return
        # Channel-major copy: reductions along a contiguous axis are several times faster.
        self._merge(list(range(flat.shape[1])), np.ascontiguousarray(flat.T))

    def _merge(self, ch: list[int], v: np.ndarray) -> None:
        """Fold values ``v`` of shape (len(ch), n) into channels ``ch``."""
        n_b = v.shape[1]
        if n_b == 0:
            return
        mean_b = v.mean(axis=1)
        m2_b = ((v - mean_b[:, None]) ** 2).sum(axis=1)
        n_a, mean_a = self.count[ch], self.mean[ch]
        total = n_a + n_b
        delta = mean_b - mean_a
        # Chan et al. parallel merge: exact and stable, unlike sum-of-squares minus squared sum.
        self.mean[ch] = mean_a + delta * n_b / total
        self.m2[ch] = self.m2[ch] + m2_b + delta * delta * n_a * n_b / total
        self.count[ch] = total
        self.min[ch] = np.minimum(self.min[ch], v.min(axis=1))
        self.max[ch] = np.maximum(self.max[ch], v.max(axis=1))
        bins = self.hist.shape[1]
        # The histogram only feeds shares and quantiles: a systematic subsample of large batches
        # (every step-th pixel, across all images) keeps it exact enough at a fraction of the cost.
        step = max(1, n_b // _HIST_SAMPLE)
        idx = np.searchsorted(HIST_EDGES, v[:, ::step], side="right") - 1
        np.clip(idx, 0, bins - 1, out=idx)
        idx += np.arange(len(ch))[:, None] * bins  # one bincount for all channels
        self.hist[ch] += np.bincount(idx.ravel(), minlength=len(ch) * bins).reshape(len(ch), bins)

    def _fold_images(self, xf: np.ndarray, finite: np.ndarray | None) -> None:
        per_image = xf.reshape(xf.shape[0], -1)
        if finite is not None:
            masked = np.where(finite.reshape(per_image.shape), per_image, np.nan)
            lo, hi = np.nanmin(masked, axis=1), np.nanmax(masked, axis=1)
        else:
            lo, hi = per_image.min(axis=1), per_image.max(axis=1)
        const = (hi - lo) <= 1e-6 * np.maximum(1.0, np.abs(hi))
        self.constant_images += int(const.sum())
        self.zero_images += int((const & (hi == 0) & (lo == 0)).sum())
        if const.all():
            self.constant_batches.append(self.batches - 1)
            self.batch_spread.append(float("nan"))
        elif xf.shape[0] < 2:
            self.batch_spread.append(float("nan"))
        else:
            if finite is None:
                spread = float(xf.reshape(xf.shape[0], -1).std(axis=0).mean())
            else:
                spread = float(np.nanmean(np.nanstd(np.where(finite, xf, np.nan), axis=0)))
            self.batch_spread.append(spread)

    # ---- read-outs ---------------------------------------------------------------------------
    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / np.maximum(self.count, 1))

    @property
    def has_values(self) -> bool:
        return self.count is not None and bool((self.count > 0).all())

    def quantile(self, q: float) -> np.ndarray:
        """Approximate per-channel quantile from the histogram (within one bin), clipped to min/max."""
        out = []
        for ch in range(self.channels or 0):
            counts = self.hist[ch]
            cum = np.cumsum(counts)
            if cum[-1] == 0:
                out.append(np.nan)
                continue
            target = q * cum[-1]
            b = int(np.searchsorted(cum, target, side="left"))
            lo, hi = HIST_EDGES[b], HIST_EDGES[b + 1]
            lo, hi = max(lo, self.min[ch]), min(hi, self.max[ch])
            before = cum[b - 1] if b > 0 else 0
            frac = (target - before) / counts[b] if counts[b] else 0.0
            out.append(float(lo + frac * (hi - lo)))
        return np.asarray(out)

    def cdf(self, ch: int, value: float) -> float:
        """Approximate fraction of channel ``ch`` values below ``value`` (uniform within a bin,
        the bin narrowed to the observed min/max).
        """
        counts = self.hist[ch]
        total = counts.sum()
        if total == 0:
            return float("nan")
        if value <= self.min[ch]:
            return 0.0
        if value >= self.max[ch]:
            return 1.0
        b = int(np.searchsorted(HIST_EDGES, value, side="right")) - 1
        lo, hi = max(HIST_EDGES[b], self.min[ch]), min(HIST_EDGES[b + 1], self.max[ch])
        inside = (value - lo) / (hi - lo) if hi > lo else 1.0
        return float((counts[:b].sum() + counts[b] * min(max(inside, 0.0), 1.0)) / total)

    def pooled_std(self) -> float:
        """Mean within-channel std: the scale against which a batch's spread is judged.

        Within-channel, because channels with different offsets (caffe means) would otherwise make
        every batch look flat next to the gaps between channel means.
        """
        return float(self.std.mean())
