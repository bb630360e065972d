"""What the model receives, as pictures for the HTML report: per-channel value histograms against the
backbone's expected range, and a few sample images turned back into viewable RGB.

:class:`VisualSample` rides along in :class:`~pipecheck.validators.input_range.stats.InputStats` (it sees
every batch once): it keeps the first :data:`SAMPLE_IMAGES` images shrunk to at most :data:`THUMB_SIDE`
pixels a side, and a systematic subsample of values per channel that stays under :data:`VALUE_CAP`
rows however many batches stream by (when full, every other row goes and later batches contribute half
as many). Nothing else of a batch is kept.

:func:`input_visuals` turns that into ``report.summary["input_visuals"]`` (the layout is in
``pipecheck/html_inputs.py``, which draws it): histograms over fixed bins spanning both the observed and
the expected range, and the samples de-preprocessed with the backbone's inverse map
(:meth:`~pipecheck.pipeline.backbones.Backbone.undo_preprocessing`), PNG-encoded. Healthy input comes
back as the photos; input made another way (x/255 for a caffe backbone, raw pixels for a tf one) comes
back flat grey, washed out or odd-coloured, which shows what went wrong.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_IMAGES = 4  # first images seen (those of the first batch, unless it holds fewer)
THUMB_SIDE = 96  # longest side of a sample thumbnail, pixels
HIST_BINS = 64
VALUE_CAP = 32_768  # sampled values per channel kept for the histograms, at most
_PER_BATCH = 4_096  # values per channel taken from a batch until the cap first fills

_MODE_NOTES = {
    "caffe": "caffe mode: BGR order, ImageNet mean subtracted per channel, not scaled",
    "tf": "tf mode: RGB scaled to [-1, 1]",
    "torch": "torch mode: RGB / 255, then ImageNet mean and std per channel",
    "none": "raw [0, 255] RGB: the model preprocesses its input itself",
}


@dataclass
class VisualSample:
    """Bounded material for the report's pictures, folded from each batch of what the model receives.

    Attributes:
        thumbs: Up to :data:`SAMPLE_IMAGES` images (3 channels only), values as fed, shrunk by block means.
        parts: Sampled value rows ``(n, channels)``, float32, at most about :data:`VALUE_CAP` in all.
        take: Rows taken from the next batch.
    """

    thumbs: list[np.ndarray] = field(default_factory=list)
    parts: list[np.ndarray] = field(default_factory=list)
    size: int = 0
    take: int = _PER_BATCH

    def update(self, xf: np.ndarray) -> None:
        """Fold one batch ``(N, H, W, C)`` in; copies what it keeps, so the batch can go."""
        width, c = xf.shape[2], xf.shape[-1]
        if c == 3 and len(self.thumbs) < SAMPLE_IMAGES:
            self.thumbs += [shrink(img, THUMB_SIDE) for img in xf[: SAMPLE_IMAGES - len(self.thumbs)]]
        flat = xf.reshape(-1, c)
        step = max(1, len(flat) // self.take)
        while step > 1 and math.gcd(step, width) != 1:
            step += 1  # a step sharing a factor with the row width would visit only a few columns
        part = flat[::step].astype("float32")
        self.parts.append(part)
        self.size += len(part)
        if self.size > VALUE_CAP:
            kept = np.concatenate(self.parts)[::2]
            self.parts, self.size, self.take = [kept], len(kept), max(1, self.take // 2)

    def values(self, channels: int) -> np.ndarray:
        """The sampled rows of ``channels`` columns (batches of another channel count are not sampled)."""
        parts = [p for p in self.parts if p.shape[1] == channels]
        return np.concatenate(parts) if parts else np.empty((0, channels), dtype="float32")


def shrink(image: np.ndarray, side: int) -> np.ndarray:
    """``(H, W, C)`` image shrunk by whole-block means so its longest side is at most ``side`` (float32 copy)."""
    h, w = image.shape[:2]
    f = math.ceil(max(h, w) / side)
    if f <= 1:
        return image.astype("float32")
    rows = np.linspace(0, h, max(1, h // f) + 1).astype(int)
    cols = np.linspace(0, w, max(1, w // f) + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(image, rows[:-1], axis=0), cols[:-1], axis=1)
    return (sums / (np.diff(rows)[:, None, None] * np.diff(cols)[None, :, None])).astype("float32")


def png_base64(rgb: np.ndarray) -> str:
    """An ``(H, W, 3)`` uint8 image as a base64 PNG (zlib only: no imaging library needed)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = a.shape[:2]
    sub = a.copy()
    sub[:, 1:] = a[:, 1:] - a[:, :-1]  # PNG filter 1 ("Sub", modulo 256): photos compress far better
    raw = np.concatenate([np.ones((h, 1), np.uint8), sub.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode("ascii")


def _r(v: float) -> float:
    return float(f"{float(v):.6g}")


def channel_labels(bb, channels: int) -> list[str | int]:
    """Names of the channels in the order the model receives them (``B, G, R`` for caffe), else indices."""
    if channels == 3 and bb is not None:
        return list(bb.channel_order)
    return list(range(channels))


def input_visuals(stats: Any, backbone: str, preprocessing: str = "in-data") -> dict[str, Any] | None:
    """``report.summary["input_visuals"]`` for what ``stats`` (an ``InputStats``, which holds this module's
    :class:`VisualSample`) saw, judged against ``backbone``.

    ``preprocessing="in-model"`` means the model applies the backbone's preprocessing itself, so the data
    is expected raw and comes back unchanged. None when no image was seen.
    """
    from pipecheck.pipeline.backbones import get

    if stats.images == 0 or not stats.has_values:
        return None
    bb = get(backbone)  # known: diagnose has judged against it already
    if preprocessing == "in-model":
        bb = bb.fed_raw()
    c = stats.channels
    labels = channel_labels(bb, c)
    ranges = bb.value_range if c == 3 else [(0.0, 255.0)] * c
    exp_lo, exp_hi = min(lo for lo, _ in ranges), max(hi for _, hi in ranges)
    same = all(r == ranges[0] for r in ranges)
    note = _MODE_NOTES.get(bb.mode, bb.mode)
    if bb.in_model:
        note += f" (--preprocessing in-model: the model applies keras.applications.{bb.module}.preprocess_input)"
    else:
        note = f"keras.applications.{bb.module}.preprocess_input, {note}"
    return {
        "backbone": bb.name,
        "expected": {
            "range": [_r(exp_lo), _r(exp_hi)],
            "per_channel": None if same else {str(k): [_r(lo), _r(hi)] for k, (lo, hi) in zip(labels, ranges)},
            "channel_order": bb.channel_order,
            "note": note,
        },
        "histograms": _histograms(stats, labels, ranges),
        "samples": [_sample(t, bb) for t in stats.visuals.thumbs] if c == 3 else [],
    }


def _histograms(stats: Any, labels: list, ranges: list) -> list[dict]:
    """One histogram per channel, :data:`HIST_BINS` equal bins spanning its observed and its expected range
    (so healthy input's expected bounds are the outer edges).
    """
    values = stats.visuals.values(stats.channels)
    out = []
    for k, label in enumerate(labels):
        v = values[:, k]
        v = v[np.isfinite(v)]
        r_lo, r_hi = ranges[k]
        edges = np.linspace(min(r_lo, float(stats.min[k])), max(r_hi, float(stats.max[k])), HIST_BINS + 1)
        counts, _ = np.histogram(v, bins=edges)
        outside = float(np.mean((v < r_lo) | (v > r_hi))) if v.size else 0.0
        out.append(
            {
                "channel": label,
                "edges": [_r(e) for e in edges],
                "counts": counts.tolist(),
                "observed": [_r(stats.min[k]), _r(stats.max[k])],
                "expected": [_r(r_lo), _r(r_hi)],
                "outside_share": round(outside, 4),
            }
        )
    return out


def _sample(thumb: np.ndarray, bb) -> dict[str, Any]:
    """One thumbnail de-preprocessed to RGB uint8; says how much of it fell outside [0, 255]."""
    rgb = bb.undo_preprocessing(thumb)
    finite = np.isfinite(rgb)
    clipped = float(np.mean(~finite | (rgb < -0.5) | (rgb > 255.5)))
    pixels = np.clip(np.round(np.where(finite, rgb, 0.0)), 0, 255).astype(np.uint8)
    note = "de-preprocessed" if not bb.in_model else "as fed (raw)"
    if clipped > 0.01:
        note += f"; {clipped:.0%} of values outside [0, 255], clipped"
    return {
        "png_base64": png_base64(pixels),
        "note": note,
        "size": [int(pixels.shape[0]), int(pixels.shape[1])],
        "clipped_share": round(clipped, 4),
    }
