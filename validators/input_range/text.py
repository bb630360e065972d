"""Wording of ``input_range`` findings: numbers as a person reads them, what a backbone expects."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from pipecheck.validators.input_range.regimes import affine_of, imagenet_mean_rgb
from pipecheck.validators.input_range.stats import InputStats


def _fmt(values: Iterable[float], spread: float) -> str:
    """Numbers with enough digits to tell them apart at the scale ``spread`` they vary on."""
    values = [float(v) for v in values]
    values = [0.0 if abs(v) < 1e-6 * spread else v for v in values]  # float dust from resampling
    big = max([abs(v) for v in values] + [1e-12])
    digits = max(3, int(math.ceil(math.log10(big / max(spread, 1e-12)))) + 2) if spread > 0 else 3
    return "[" + ", ".join(f"{v:.{min(digits, 8)}g}" for v in values) + "]"


def list5(values: np.ndarray) -> list[float]:
    """Plain floats with 5 significant digits, so evidence prints as [0.414, 0.312, 0.258]."""
    return [float(f"{float(v):.5g}") for v in values]


def order_text(bb) -> str:
    return "/".join(bb.channel_order)


def observed_text(stats: InputStats) -> str:
    lo, hi = float(stats.min.min()), float(stats.max.max())
    spread = hi - lo
    return f"channel means {_fmt(stats.mean, spread)} in {_fmt([lo, hi], spread)}"


def expected_text(bb) -> str:
    means = affine_of(bb).apply(imagenet_mean_rgb())
    lo = min(r[0] for r in bb.value_range)
    hi = max(r[1] for r in bb.value_range)
    return f"{bb.name} expects {order_text(bb)} means near {_fmt(means, hi - lo)} in {_fmt([lo, hi], hi - lo)}"


def preprocess_name(bb) -> str:
    return f"keras.applications.{bb.module}.preprocess_input"


def right_input(bb) -> str:
    if bb.in_model:
        return (
            f"feed raw [0, 255] RGB pixels as float32: your model applies {preprocess_name(bb)} itself "
            "(--preprocessing in-model)"
        )
    if bb.mode == "none":
        return (
            f"feed raw [0, 255] RGB pixels as float32: {bb.constructor} preprocesses inside the model "
            f"({preprocess_name(bb)} is a pass-through)"
        )
    return f"apply {preprocess_name(bb)} once to raw [0, 255] RGB pixels"
