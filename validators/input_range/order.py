"""``input_range.channel_order_swapped``: RGB fed where a caffe backbone expects BGR.

Part of the ``input_range`` family, called by :mod:`pipecheck.validators.input_range` once the
backbone's own regime explains the value range; kept apart because it weighs two kinds of evidence
(bounds, which are certain, and colour, which is not).
"""

from __future__ import annotations

import numpy as np

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.input_range.regimes import (
    Affine,
    Thresholds,
    affine_of,
    forgot_flip,
    imagenet_mean_rgb,
    outside_fraction,
)
from pipecheck.validators.input_range.stats import InputStats
from pipecheck.validators.input_range.text import expected_text, observed_text, preprocess_name
from pipecheck.validators.input_range.text import list5 as _list
from pipecheck.validators.input_range.text import order_text as _order

CHANNEL_ORDER_SWAPPED = registry.define(
    "input_range.channel_order_swapped",
    "warning",
    "Per-channel means, or OpenCV reads the source never converts, say the colour channels are in the opposite order "
    "to what the backbone expects (RGB vs BGR).",
    "feed RGB images to preprocess_input; convert cv2 (BGR) images with cv2.cvtColor(img, cv2.COLOR_BGR2RGB)",
)


def channel_order(stats: InputStats, bb, t: Thresholds) -> Finding | None:
    """RGB where BGR is expected (caffe), from two kinds of evidence.

    Bounds (certain, an error): correct caffe channel 0 is B − 103.939, so it can go neither below
    −103.939 nor above 151.061; a hand-written caffe that forgets the flip (RGB minus the means in RGB
    order) puts channel 0 at R − 123.68 and reaches values correct input cannot. Fired when a share
    of values the expected order rules out is seen and the forgotten-flip order explains them.

    Colour (a warning, only when strong): a BGR image passed through ``preprocess_input`` (flipped
    twice) has the same bounds as correct input, so only the picture's colours can tell; mean and
    median R−B must both imply a clear blue cast that the opposite order removes. Grey images,
    casts near ImageNet's own (R−B about +20) and naturally blue scenes (a sky-heavy photo reaches
    R−B −30) stay silent, so vegetation-dominated frames with a weak cast are left to the source's
    code (:mod:`pipecheck.validators.input_range.order_source`), which ``validate --source`` reads.
    """
    bounds = _order_bounds(stats, bb, t)
    if bounds is not None:
        return bounds
    prior = imagenet_mean_rgb()
    own = affine_of(bb)
    swapped = Affine(own.scale, own.offset, tuple(reversed(own.source)))
    rb_own = float(own.implied(stats.mean)[0] - own.implied(stats.mean)[2])
    rb_swapped = float(swapped.implied(stats.mean)[0] - swapped.implied(stats.mean)[2])
    median = stats.quantile(0.5)
    rb_median = float(own.implied(median)[0] - own.implied(median)[2])
    rb_prior = float(prior[0] - prior[2])
    gain = abs(rb_own - rb_prior) - abs(rb_swapped - rb_prior)
    if gain < t.order_margin or rb_own > -t.order_min_cast or rb_median > 0:
        return None
    spread = float(stats.max.max() - stats.min.min())
    return CHANNEL_ORDER_SWAPPED.finding(
        f"{observed_text(stats)}: read as {_order(bb)} the images average R−B {rb_own:+.1f} (median {rb_median:+.1f}: "
        f"a strong blue cast); read in the opposite order R−B {rb_swapped:+.1f}, closer to ImageNet's {rb_prior:+.1f}; "
        f"{expected_text(bb)}",
        subject=bb.name,
        evidence={
            "channel_mean": _list(stats.mean),
            "channel_p50": _list(median),
            "r_minus_b_as_expected": round(rb_own, 2),
            "r_minus_b_median_as_expected": round(rb_median, 2),
            "r_minus_b_swapped": round(rb_swapped, 2),
            "imagenet_r_minus_b": round(rb_prior, 2),
            "spread": round(spread, 3),
            "evidence": "colour",
        },
        hint=f"pass RGB images to {preprocess_name(bb)} (it flips RGB to BGR itself); convert cv2.imread images with "
        f"cv2.cvtColor(img, cv2.COLOR_BGR2RGB) and do not flip channels by hand",
    )


def _order_bounds(stats: InputStats, bb, t: Thresholds) -> Finding | None:
    """The bounds half of :func:`_channel_order`: values correct input cannot take, explained by a missing flip."""
    alt = forgot_flip(bb)
    if alt is None:
        return None
    own_out = outside_fraction(affine_of(bb), stats, t.tolerance)
    alt_out = outside_fraction(alt, stats, t.tolerance)
    if float(own_out.max()) < t.order_bound_share or float(alt_out.max()) > 0.1 * float(own_out.max()):
        return None
    lo, hi = [r[0] for r in bb.value_range], [r[1] for r in bb.value_range]
    worst = int(np.argmax(own_out))
    side = "below" if stats.min[worst] < lo[worst] - t.tolerance else "above"
    bound = lo[worst] if side == "below" else hi[worst]
    seen = float(stats.min[worst] if side == "below" else stats.max[worst])
    return CHANNEL_ORDER_SWAPPED.finding(
        f"{observed_text(stats)}: channel {worst} reaches {seen:.4g}, {side} {bound:.4g}, which correct {bb.mode} input "
        f"({_order(bb)} minus the ImageNet means) can never reach ({float(own_out[worst]):.2%} of its values); RGB minus "
        f"the means in RGB order explains every channel's range — the RGB->BGR flip is missing",
        subject=bb.name,
        severity="error",
        evidence={
            "channel_min": _list(stats.min),
            "channel_max": _list(stats.max),
            "p01": _list(stats.quantile(0.01)),
            "p99": _list(stats.quantile(0.99)),
            "expected_range": [list(r) for r in bb.value_range],
            "outside_share_as_expected": _list(own_out),
            "outside_share_without_flip": _list(alt_out),
            "evidence": "bounds",
        },
        hint=f"use {preprocess_name(bb)} on RGB images instead of subtracting the means by hand; if you must, flip "
        f"first: x[..., ::-1] - [103.939, 116.779, 123.68]",
    )
