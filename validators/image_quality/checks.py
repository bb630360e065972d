"""The ``image_quality`` checks (their handles) and both threshold objects, parsed from one namespace."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

from pipecheck.pipeline import quality
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.quality import QualityThresholds, parse_pairs
from pipecheck.validators import registry

_LOOK = "see the examples (--html report; OUT/image_quality.jsonl lists them all)"
ISSUE_CHECKS = {
    "dark": registry.define(
        "image_quality.dark",
        "info",
        "Images are dark: even their brightest twentieth is dim (brightness_p95 <= dark_p95, luma 0-255).",
        f"{_LOOK}; drop capture failures, keep a class that is dark by nature",
    ),
    "light": registry.define(
        "image_quality.light",
        "info",
        "Images are washed out: even their darkest twentieth is bright (brightness_p05 >= light_p05).",
        f"{_LOOK}; drop overexposed captures",
    ),
    "low_information": registry.define(
        "image_quality.low_information",
        "info",
        "Images carry little information: blank or flat (luma entropy < low_information_entropy bits and "
        "brightness_p95 - brightness_p05 < low_information_range).",
        f"{_LOOK}; drop blank frames and placeholders",
    ),
    "blurry": registry.define(
        "image_quality.blurry",
        "info",
        "Images are blurry: their edges are soft (edge sharpness < blurry_sharpness; a step edge scores 1).",
        f"{_LOOK}; drop out-of-focus or upscaled images, or keep them if blur is what deployment sees",
    ),
    "grayscale": registry.define(
        "image_quality.grayscale",
        "info",
        "Images are gray pictures, also when saved as RGB (colour spread max(R,G,B) - min(R,G,B) <= grayscale_spread).",
        f"{_LOOK}; a colour model sees gray inputs as their own domain: keep them in every split or convert all",
    ),
    "odd_aspect_ratio": registry.define(
        "image_quality.odd_aspect_ratio",
        "info",
        "Images are far more elongated than the build's own (long side over short side beyond aspect_factor "
        "times its upper quartile).",
        f"{_LOOK}; a resize to a square distorts them: crop or pad them, or drop panoramas and strips",
    ),
    "odd_size": registry.define(
        "image_quality.odd_size",
        "info",
        "Images have a long side far outside the build's own (beyond its quartiles by fence IQRs of the log, "
        "and at least size_factor from the median).",
        f"{_LOOK}; a thumbnail upscaled to the input size is soft: replace it with the full-size image",
    ),
}
SPLIT_CONCENTRATED = registry.define(
    "image_quality.split_concentrated",
    "warning",
    "Within a class or over all classes (Cochran-Mantel-Haenszel), an image-quality issue is far more frequent "
    "in one split than another (Bonferroni; rates split_min_difference apart, split_min_ratio times; counting "
    "groups in a grouped build).",
    "the splits were captured differently, so val/test metrics do not measure what train taught: re-split "
    "(`pipecheck split`) or fix the capture, and report metrics per capture condition",
)
CLASS_CONCENTRATED = registry.define(
    "image_quality.class_concentrated",
    "info",
    "Most images with an image-quality issue are in one class, far beyond that class's share of the build.",
    "natural for some classes (a night sky is dark); otherwise the model can learn the issue as the class: "
    "add clean images of that class or flagged images of the others",
)
DRIFT = registry.define(
    "image_quality.drift",
    "warning",
    "An image property (brightness, contrast, colour means, long side or aspect ratio) is distributed "
    "differently in a split than in train (Kolmogorov-Smirnov, Bonferroni, D >= drift_min_effect; on per-group "
    "medians when the build has a group field).",
    "the splits were captured differently (sources, cameras, lighting): re-split (`pipecheck split`, keeping "
    "--group-field if the build has one) so each split draws from every capture condition, or collect more "
    "groups of the missing kind for the drifted split; or keep the drift on purpose and say so",
)
NOT_MEASURED = registry.define(
    "image_quality.not_measured",
    "info",
    "The build's records carry no quality/* measures (built with --no-quality, or by an older pipecheck).",
    "rebuild without --no-quality to get the image_quality checks",
)

PER_IMAGE = quality.ISSUES[:7]  # judged here; the two duplicate issues are leakage's findings
MAX_EXAMPLES = 8


@dataclass(frozen=True)
class ImageQualityThresholds:
    """How the ``image_quality`` family judges the flags (the flags themselves: ``QualityThresholds``).

    Attributes:
        alpha: Family-wise error rate of each statistical check (split and class concentration,
            drift), spent by Bonferroni over that check's tests.
        split_min_difference: ``split_concentrated`` needs the two splits' rates of the issue in the
            class at least this far apart ...
        split_min_ratio: ... and the higher at least this many times the lower.
        split_min_images: ... and the class to have at least this many images (groups, in a build with a
            group field) in both splits.
        class_min_flagged: ``class_concentrated`` needs at least this many images with the issue ...
        class_min_share: ... at least this share of them in one class ...
        class_min_ratio: ... which is at least this many times the class's share of the images.
        drift_min_effect: ``drift`` needs a KS statistic D of at least this (0.2: the D of a normal
            shift by half a standard deviation, Cohen's medium effect) ...
        drift_min_images: ... and at least this many images in both splits ...
        drift_min_groups: ... or, in a build with a group field, this many groups (each group one value:
            its median).
    """

    alpha: float = 0.01
    split_min_difference: float = 0.25
    split_min_ratio: float = 2.0
    split_min_images: int = 3
    class_min_flagged: int = 5
    class_min_share: float = 0.5
    class_min_ratio: float = 3.0
    drift_min_effect: float = 0.2
    drift_min_images: int = 20
    drift_min_groups: int = 5


def parse_thresholds(pairs: Iterable[str]) -> tuple[dict[str, float], ImageQualityThresholds]:
    """The flag thresholds given and the judgement from ``--quality-threshold NAME=VALUE`` strings (one namespace).

    The flag thresholds come back as the names given only: ``check_image_quality`` lays them over the
    thresholds the build flagged with (``dataset.json``'s ``image_quality.thresholds``).

    Raises:
        InputError: a name neither object has, a value that is not a number, or an alpha outside (0, 1).
    """
    pairs = list(pairs)
    flags = {f.name: f.type for f in dataclasses.fields(QualityThresholds)}
    own = {f.name: f.type for f in dataclasses.fields(ImageQualityThresholds)}
    values = parse_pairs(pairs, {**flags, **own})
    if not 0 < values.get("alpha", 0.5) < 1:
        pair = next(p for p in reversed(pairs) if p.partition("=")[0].strip() == "alpha")
        raise InputError(f"--quality-threshold {pair!r}: alpha must be between 0 and 1")
    return (
        {k: v for k, v in values.items() if k in flags},
        ImageQualityThresholds(**{k: v for k, v in values.items() if k in own}),
    )
