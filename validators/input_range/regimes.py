"""Candidate input regimes: affine maps from raw [0, 255] RGB pixels, and how well each explains data.

Each Keras preprocessing mode is read off :mod:`pipecheck.pipeline.backbones` (so no constant here
can drift from Keras); common mistakes are compositions of those maps with x/255 or with themselves.
A regime is scored by inverting its map on the observed per-channel min/max/mean: photos use most
of [0, 255], never leave it, and have a mean near ImageNet's. Used by
:mod:`pipecheck.validators.input_range`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pipecheck.validators.input_range.stats import InputStats


@dataclass(frozen=True)
class Thresholds:
    """Decision knobs of the ``input_range`` family (pixel units are raw [0, 255] values).

    Attributes:
        tolerance: Pixel units a regime may overshoot [0, 255] (resampling ringing) for free.
        outside_weight: Cost of all values falling outside [0, 255] under a regime (10% cost 1).
        extreme_tolerance: Pixel units the extremes may overshoot [0, 255] for free (brightness or
            contrast jitter without clipping reaches about this far).
        overshoot_weight: Cost of extremes overshooting by the whole range beyond that.
        mean_weight: Cost of an implied mean 128 units away from ImageNet's.
        margin: Cost lead another regime needs over the backbone's own before it is reported.
        accept: Highest cost at which a regime still "explains" the data.
        out_of_range: Share of values outside the backbone's own range that is reported when no
            other regime explains the data.
        order_margin: How much closer (R−B pixel units) the swapped order must bring the means to
            ImageNet's before ``channel_order_swapped`` fires.
        order_min_cast: The blue cast (R−B below minus this) the expected order must imply; smaller
            colour signals are not evidence and stay silent.
        order_bound_share: Share of a channel's values that correct input cannot take (beyond
            ``tolerance``) from which the bounds alone prove the channel order wrong, provided the
            other order explains at most a tenth of that share.
        near_constant: A batch is near-constant when its across-image std is below this fraction
            of the whole sample's std.
        constant_error_fraction: Fraction of constant images from which the finding is an error.
    """

    tolerance: float = 8.0
    outside_weight: float = 10.0
    extreme_tolerance: float = 48.0
    overshoot_weight: float = 8.0
    mean_weight: float = 0.5
    margin: float = 0.75
    accept: float = 1.5
    out_of_range: float = 0.05
    order_margin: float = 30.0
    order_min_cast: float = 35.0
    order_bound_share: float = 0.001
    near_constant: float = 0.02
    constant_error_fraction: float = 0.5


@dataclass(frozen=True)
class Affine:
    """``out[k] = scale[k] * in[source[k]] + offset[k]`` on RGB pixels in [0, 255]."""

    scale: tuple[float, float, float]
    offset: tuple[float, float, float]
    source: tuple[int, int, int] = (0, 1, 2)

    def then(self, nxt: "Affine") -> "Affine":
        """The map applying ``self`` first, then ``nxt``."""
        src = tuple(self.source[nxt.source[k]] for k in range(3))
        scale = tuple(nxt.scale[k] * self.scale[nxt.source[k]] for k in range(3))
        offset = tuple(nxt.scale[k] * self.offset[nxt.source[k]] + nxt.offset[k] for k in range(3))
        return Affine(scale, offset, src)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        return np.array([self.scale[k] * rgb[self.source[k]] + self.offset[k] for k in range(3)])

    def implied(self, values: np.ndarray) -> np.ndarray:
        """Per output channel values -> the RGB pixel values they came from (indexed by RGB)."""
        out = np.empty(3)
        for k in range(3):
            out[self.source[k]] = (values[k] - self.offset[k]) / self.scale[k]
        return out


@dataclass(frozen=True)
class Regime:
    name: str  # e.g. "tf", "tf twice", "x/255"
    kind: str  # key of REGIME_CHECKS, or "expected"
    mode: str | None
    affine: Affine


def affine_of(bb) -> Affine:
    """The backbone's own preprocessing map."""
    return Affine(tuple(bb.scale), tuple(bb.offset), tuple(bb.source_channel))


@functools.lru_cache(maxsize=1)
def _mode_maps() -> dict[str, Affine]:
    """One representative map per Keras preprocessing mode, read from the backbone table."""
    from pipecheck.pipeline.backbones import all_backbones

    maps: dict[str, Affine] = {}
    for bb in all_backbones():
        maps.setdefault(bb.mode, affine_of(bb))
    return maps


def imagenet_mean_rgb() -> np.ndarray:
    """ImageNet mean pixel (R, G, B), read off the caffe mode's offsets."""
    caffe = _mode_maps()["caffe"]
    return caffe.implied(np.zeros(3))


_IDENTITY = Affine((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
_RESCALE = Affine((1 / 255,) * 3, (0.0,) * 3)
_CENTER = Affine((1 / 255,) * 3, (-0.5,) * 3)


def candidate_regimes(bb) -> list[Regime]:
    """Regimes to weigh for a backbone: its own first, then the common mistakes."""
    own = Regime("raw" if bb.mode == "none" else bb.mode, "expected", bb.mode, affine_of(bb))
    out = [own]
    if bb.mode != "none":
        out.append(Regime("raw", "raw", None, _IDENTITY))
    out += [Regime("x/255", "rescaled_0_1", None, _RESCALE), Regime("x/255 - 0.5", "centered_0_5", None, _CENTER)]
    for mode, m in _mode_maps().items():
        if mode == "none":
            continue
        if mode != bb.mode:
            out.append(Regime(mode, "for_in_model" if bb.mode == "none" else "wrong_mode", mode, m))
        out.append(Regime(f"{mode} twice", "twice", mode, m.then(m)))
        out.append(Regime(f"x/255 then {mode}", "rescaled_then", mode, _RESCALE.then(m)))
        out.append(Regime(f"{mode} then x/255", "then_rescaled", mode, m.then(_RESCALE)))
    return out


def forgot_flip(bb) -> Affine | None:
    """A BGR backbone's map written by hand without the RGB->BGR flip: RGB minus the means in RGB order.

    Its channel k is ``RGB[k] - mean_rgb[k]`` where the backbone's channel k is ``BGR[k] - mean_bgr[k]``:
    same offsets in reversed order, no channel swap. None for backbones whose order is RGB.
    """
    own = affine_of(bb)
    if own.source == (0, 1, 2):
        return None
    return Affine(tuple(reversed(own.scale)), tuple(reversed(own.offset)), tuple(reversed(own.source)))


def outside_fraction(a: Affine, stats: InputStats, tolerance: float) -> np.ndarray:
    """Per output channel, the share of values whose implied pixel lies outside [0, 255] ± tolerance."""
    out = []
    for k in range(3):
        lo, hi = sorted(a.scale[k] * v + a.offset[k] for v in (-tolerance, 255.0 + tolerance))
        out.append(stats.cdf(k, lo) + 1.0 - stats.cdf(k, hi))
    return np.asarray(out)


def regime_cost(regime: Regime, stats: InputStats, t: Thresholds) -> float:
    """How badly ``regime`` explains the observed statistics (0: like a sample of photos).

    Four terms: the share of values that would lie outside [0, 255] beyond ``t.tolerance`` (a share,
    so a few odd pixels weigh little), how far the extremes overshoot beyond what unclipped
    augmentation does (``t.extreme_tolerance``; a wrong regime overshoots by 100+), how little of
    [0, 255] the implied pixels span (log2: half the range costs 1; a sample of photos nearly always
    reaches both dark and bright pixels) and how far the implied mean pixel is from ImageNet's.
    """
    a = regime.affine
    outside = float(np.mean(outside_fraction(a, stats, t.tolerance)))
    lo, hi = a.implied(stats.min), a.implied(stats.max)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    over = np.maximum(0.0, -lo - t.extreme_tolerance) + np.maximum(0.0, hi - 255.0 - t.extreme_tolerance)
    over_cost = t.overshoot_weight * float(np.mean(over)) / 255.0
    span = np.maximum(hi - lo, 1e-9)
    span_cost = float(np.mean(np.maximum(0.0, -np.log2(span / 255.0))))
    mean_cost = abs(float(np.mean(a.implied(stats.mean))) - float(imagenet_mean_rgb().mean())) / 128.0
    return t.outside_weight * outside + over_cost + span_cost + t.mean_weight * mean_cost
