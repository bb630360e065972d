"""``input_range.*``: does the data a model is fed match what its ``keras.applications`` backbone expects?

The input's *regime* is identified, not range-checked: every candidate transform of raw [0, 255] RGB
pixels (raw, x/255, x/255 - 0.5, each Keras preprocessing mode, a mode applied twice, x/255 then a
mode) is a per-channel affine map built from :mod:`pipecheck.pipeline.backbones` (so the expected
numbers come from Keras itself). Inverting a map turns the observed per-channel min/max/mean into the
pixel statistics the images would have had; a regime explains the data when those look like photos
(within [0, 255], using most of it, mean near ImageNet's). The backbone's own regime is kept unless
another explains the data clearly better, so healthy caffe input (range about [-124, 152]) is never
flagged by a generic "within [-1, 1]" rule.

Heavy imports stay inside functions; :func:`diagnose` is pure, so the decisions test without data.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Iterator

import numpy as np

from pipecheck.pipeline.errors import InputError
from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.input_range.labels import LABEL_CHECK_IDS, diagnose_labels, normalize_label_mode
from pipecheck.validators.input_range.order import CHANNEL_ORDER_SWAPPED, channel_order
from pipecheck.validators.input_range.regimes import (
    Regime,
    Thresholds,
    candidate_regimes,
    outside_fraction,
    regime_cost,
)
from pipecheck.validators.input_range.stats import InputStats
from pipecheck.validators.input_range.text import (
    expected_text,
    observed_text,
    preprocess_name,
)
from pipecheck.validators.input_range.text import (
    list5 as _list,
)
from pipecheck.validators.input_range.text import (
    right_input as _right_input,
)

_PRE = "the backbone's keras.applications.<module>.preprocess_input"
RESCALED_0_1 = registry.define(
    "input_range.rescaled_0_1",
    "error",
    "Input is in [0, 1] (rescaled by 1/255) but the backbone expects another range.",
    f"remove the 1/255 rescale and apply {_PRE} to raw [0, 255] pixels",
)
CENTERED_0_5 = registry.define(
    "input_range.centered_0_5",
    "error",
    "Input is in [-0.5, 0.5] (x/255 - 0.5) but the backbone expects another range.",
    f"remove the x/255 - 0.5 scaling and apply {_PRE} to raw [0, 255] pixels",
)
RAW_UNPREPROCESSED = registry.define(
    "input_range.raw_unpreprocessed",
    "error",
    "Input is raw [0, 255] pixels but the backbone expects preprocessed input.",
    f"apply {_PRE} to the batches",
)
PREPROCESSED_FOR_IN_MODEL = registry.define(
    "input_range.preprocessed_for_in_model",
    "error",
    "Input is preprocessed but the backbone preprocesses inside the model and expects raw [0, 255].",
    "remove the preprocessing step and feed raw [0, 255] pixels",
)
WRONG_MODE = registry.define(
    "input_range.wrong_mode",
    "error",
    "Input is preprocessed for another Keras mode (caffe / tf / torch) than the backbone's.",
    f"use {_PRE} instead of the other backbone's",
)
PREPROCESSED_TWICE = registry.define(
    "input_range.preprocessed_twice",
    "error",
    "Preprocessing was applied twice (e.g. tf mode twice squeezes input into about [-1.008, -0.992]).",
    "apply preprocess_input exactly once (not in both the data pipeline and the model)",
)
PREPROCESSED_THEN_RESCALED = registry.define(
    "input_range.preprocessed_then_rescaled",
    "error",
    "Input was preprocessed and then divided by 255 (e.g. preprocess_input, then ImageDataGenerator(rescale=1/255)).",
    f"drop the 1/255 rescale after preprocessing: {_PRE} already produces the backbone's range",
)
RESCALED_AND_PREPROCESSED = registry.define(
    "input_range.rescaled_and_preprocessed",
    "error",
    "Input was rescaled by 1/255 and then preprocessed, which expects [0, 255].",
    "drop the 1/255 rescale: preprocess_input expects raw [0, 255] pixels",
)
# A regime's kind (regimes.candidate_regimes) -> the check that says the input is in it.
REGIME_CHECKS = {
    "rescaled_0_1": RESCALED_0_1,
    "centered_0_5": CENTERED_0_5,
    "raw": RAW_UNPREPROCESSED,
    "for_in_model": PREPROCESSED_FOR_IN_MODEL,
    "wrong_mode": WRONG_MODE,
    "twice": PREPROCESSED_TWICE,
    "then_rescaled": PREPROCESSED_THEN_RESCALED,
    "rescaled_then": RESCALED_AND_PREPROCESSED,
}
OUT_OF_RANGE = registry.define(
    "input_range.out_of_range",
    "error",
    "Input values fit no known preprocessing of [0, 255] images for this backbone.",
    f"check the preprocessing: {_PRE} on raw [0, 255] pixels",
)
SIZE_MISMATCH = registry.define(
    "input_range.size_mismatch",
    "warning",
    "Image side differs from the backbone's (or --image-size) input size.",
    "resize to the backbone's default size, e.g. tf.image.resize(x, (224, 224))",
)
SIZE_BELOW_MINIMUM = registry.define(
    "input_range.size_below_minimum",
    "error",
    "Image side is smaller than the backbone accepts.",
    "resize up to at least the backbone's minimum side before feeding it",
)
CHANNELS = registry.define(
    "input_range.channels",
    "error",
    "Images do not have 3 channels (RGB) in the last axis.",
    "convert to 3-channel RGB (PIL .convert('RGB'), tf.image.grayscale_to_rgb) in channels-last layout",
)
INTEGER_DTYPE = registry.define(
    "input_range.integer_dtype",
    "warning",
    "Input has an integer dtype; Keras backbones expect float32.",
    "cast to float32 (tf.cast(x, tf.float32)) before feeding the model",
)
NON_FINITE = registry.define(
    "input_range.non_finite",
    "error",
    "Input holds NaN or Inf values.",
    "find the division or decode that makes them (np.isfinite) and drop or repair those images",
)
CONSTANT_IMAGES = registry.define(
    "input_range.constant_images",
    "warning",
    "Some images are constant (every value equal, e.g. all zero).",
    "check decoding and augmentation; drop blank images from the dataset",
)
NEAR_CONSTANT_BATCH = registry.define(
    "input_range.near_constant_batch",
    "warning",
    "A batch whose images are (almost) identical to each other.",
    "check the generator: it may yield the same image repeatedly or an unfilled buffer",
)
NO_DATA = registry.define(
    "input_range.no_data",
    "error",
    "The input yielded no images at all.",
    "check the generator's loop bounds and that it yields inside the loop",
)
# The ones that still run when no --backbone is given.
_BACKBONE_FREE = (CHANNELS, NON_FINITE, CONSTANT_IMAGES, NEAR_CONSTANT_BATCH, NO_DATA)
_BACKBONE_ONLY = (
    *REGIME_CHECKS.values(),
    OUT_OF_RANGE,
    CHANNEL_ORDER_SWAPPED,
    SIZE_MISMATCH,
    SIZE_BELOW_MINIMUM,
    INTEGER_DTYPE,
)
# Every id this family can emit: what ``pipecheck validate`` lists as run (one JUnit testcase each).
CHECK_IDS = tuple(sorted({c.id for c in (*_BACKBONE_FREE, *_BACKBONE_ONLY)} | set(LABEL_CHECK_IDS)))
BACKBONE_FREE_CHECK_IDS = tuple(sorted({c.id for c in _BACKBONE_FREE} | set(LABEL_CHECK_IDS)))

PREPROCESSING = ("auto", "in-data", "in-model")


def _regime_hint(kind: str, found: Regime, bb, preprocessing: str = "in-data") -> str:
    fix = _right_input(bb)
    if kind == "raw" and preprocessing == "auto":
        return (
            f"use {preprocess_name(bb)} on the batches (ds.map(lambda x, y: (preprocess_input(x), y))); or, if "
            "your model applies it itself (preprocess_input, Rescaling or Normalization inside the model), say so: "
            "--model module:factory (pipecheck then checks what the backbone receives) or --preprocessing in-model"
        )
    return {
        "rescaled_0_1": f"remove the 1/255 rescale (x/255, Rescaling(1/255), ImageDataGenerator(rescale=1/255)) and {fix}",
        "centered_0_5": f"remove the x/255 - 0.5 scaling and {fix}",
        "raw": f"use {preprocess_name(bb)} on the batches, e.g. ds.map(lambda x, y: (preprocess_input(x), y))",
        "for_in_model": f"remove the {found.mode}-mode preprocessing: {fix}",
        "wrong_mode": f"input is {found.mode}-mode preprocessed; {bb.name} needs {bb.mode} mode: use {preprocess_name(bb)} instead",
        "twice": f"preprocessing ran twice ({found.mode} mode); {fix}, in one place only",
        "rescaled_then": f"drop the 1/255 rescale before preprocessing: {fix}",
        "then_rescaled": (
            f"drop the 1/255 rescale after {found.mode}-mode preprocessing (x/255, Rescaling(1/255), "
            f"ImageDataGenerator(rescale=1/255) together with preprocessing_function): {fix}"
        ),
    }[kind]


# ---- decisions ---------------------------------------------------------------------------------
def diagnose(
    stats: InputStats,
    backbone: str | None,
    *,
    image_size: int | None = None,
    label_mode: str | None = None,
    num_classes: int | None = None,
    thresholds: Thresholds | None = None,
    preprocessing: str = "in-data",
) -> list[Finding]:
    """Turn accumulated statistics into findings for ``backbone`` (pure: no data, no Keras model).

    With ``backbone=None`` only what needs no backbone is judged (channels, NaN/Inf, constant images,
    near-constant batches, labels); range, regime, size and channel order need one.

    ``preprocessing`` says where the backbone's preprocessing happens: ``in-data`` (the statistics are
    of what the backbone receives: the data as fed, or the output of the model's input stage),
    ``in-model`` (the user's model applies it, so the data must be raw [0, 255]) or ``auto`` (not
    known: like ``in-data``, but a raw-input finding names both fixes).
    """
    t = thresholds or Thresholds()
    if preprocessing not in PREPROCESSING:
        raise InputError(f"--preprocessing {preprocessing!r}: use auto, in-data or in-model")
    bb = _backbone(backbone) if backbone is not None else None
    if bb is not None and preprocessing == "in-model":
        bb = bb.fed_raw()
    subject = bb.name if bb else "input"
    if stats.images == 0:
        return [
            NO_DATA.finding(
                f"{stats.batches} batch(es) and no images were produced",
                subject=subject,
                evidence={"batches": stats.batches},
            )
        ]
    out: list[Finding] = _shape_findings(stats, bb, image_size)
    if stats.nan or stats.inf:
        out.append(
            NON_FINITE.finding(
                f"{stats.nan} NaN and {stats.inf} Inf values in {stats.images} images",
                subject=subject,
                evidence={"nan": stats.nan, "inf": stats.inf, "images": stats.images},
            )
        )
    out += _constant_findings(stats, subject, t)
    regime_fired = False
    if bb is not None and stats.channels == 3 and stats.has_values and float((stats.max - stats.min).max()) > 0:
        regime = _regime_finding(stats, bb, t, preprocessing)
        if regime is not None:
            out.append(regime)
            # A wrong regime already says the data is unpreprocessed; the dtype would repeat it.
            regime_fired = regime.check != CHANNEL_ORDER_SWAPPED.id
    integer = sorted(d for d in stats.dtypes if np.issubdtype(np.dtype(d), np.integer) or d == "bool")
    if bb is not None and integer and not regime_fired:
        out.append(
            INTEGER_DTYPE.finding(
                f"input dtype {', '.join(integer)}; {bb.constructor} expects float32",
                subject=subject,
                evidence={"dtypes": dict(stats.dtypes)},
                hint=f"cast to float32 (tf.cast(x, tf.float32)) and {_right_input(bb)}",
            )
        )
    if stats.labels is not None:
        out += diagnose_labels(stats.labels, label_mode, num_classes)
    return out


def backbone_info(name: str):
    """The backbone table's entry for ``name``; an unknown name is an :class:`InputError`."""
    return _backbone(name)


def _backbone(name: str):
    from pipecheck.pipeline.backbones import UnknownBackbone, get

    try:
        return get(name)
    except UnknownBackbone as exc:
        raise InputError(str(exc)) from None


def _shape_findings(stats: InputStats, bb, image_size: int | None) -> list[Finding]:
    out = []
    channels = sorted({s[2] for s in stats.shapes})
    first_hw = sorted({s[:2] for s in stats.shapes})
    # (N, 3, H, W) or (N, 1, H, W): a colour or grey axis first and a long last axis.
    channels_first = any(h == 3 for h, _ in first_hw) or any(s[0] in (1, 4) and s[2] > 4 for s in stats.shapes)
    # Without a backbone the model decides: one channel count in channels-last layout (grayscale for a
    # custom CNN, RGBA, RGB-D) is the user's design; a channels-first layout or mixed counts are not.
    wrong = channels != [3] if bb is not None else (channels_first and channels != [3]) or len(channels) > 1
    if wrong:
        hint = "transpose to channels-last (N, H, W, 3): tf.transpose(x, [0, 2, 3, 1])" if channels_first else None
        out.append(
            CHANNELS.finding(
                f"images have {channels} channels in the last axis; {bb.constructor if bb else 'Keras backbones'} need 3 (RGB)",
                subject=bb.name if bb else "input",
                evidence={"shapes": [list(s) for s in stats.shapes]},
                hint=hint,
            )
        )
        if channels_first:
            return out  # height and width are misread too; the transpose fixes both
    if bb is None:
        return out
    want = image_size or bb.default_size
    sizes = sorted({s[:2] for s in stats.shapes})
    small = [s for s in sizes if min(s) < bb.min_size]
    other = [s for s in sizes if s not in small and s != (want, want)]
    if small:
        out.append(
            SIZE_BELOW_MINIMUM.finding(
                f"image size {_sizes(small)} is below {bb.constructor}'s minimum side {bb.min_size}",
                subject=bb.name,
                evidence={"sizes": [list(s) for s in small], "min_size": bb.min_size},
                hint=f"resize to {want}x{want} (tf.image.resize(x, ({want}, {want}))); {bb.constructor} needs at least {bb.min_size}",
            )
        )
    if other:
        whose = "--image-size" if image_size else f"{bb.constructor}'s default"
        out.append(
            SIZE_MISMATCH.finding(
                f"image size {_sizes(other)} differs from {whose} {want}x{want}",
                subject=bb.name,
                evidence={"sizes": [list(s) for s in other], "expected": want, "default_size": bb.default_size},
                hint=f"resize to {want}x{want} (tf.image.resize(x, ({want}, {want}))) or pass --image-size for a model built at another size",
            )
        )
    return out


def _sizes(sizes: list[tuple[int, int]]) -> str:
    return ", ".join(f"{h}x{w}" for h, w in sizes)


def _constant_findings(stats: InputStats, subject: str, t: Thresholds) -> list[Finding]:
    out = []
    if stats.constant_images:
        frac = stats.constant_images / stats.images
        out.append(
            CONSTANT_IMAGES.finding(
                f"{stats.constant_images} of {stats.images} images are constant ({stats.zero_images} all zero)",
                subject=subject,
                severity="error" if frac >= t.constant_error_fraction else None,
                evidence={
                    "constant_images": stats.constant_images,
                    "zero_images": stats.zero_images,
                    "images": stats.images,
                    "constant_batches": stats.constant_batches[:10],
                },
            )
        )
    if stats.has_values:
        scale = stats.pooled_std()
        near = [i for i, s in enumerate(stats.batch_spread) if not math.isnan(s) and s < t.near_constant * scale]
        if near and scale > 0:
            out.append(
                NEAR_CONSTANT_BATCH.finding(
                    f"{len(near)} of {stats.batches} batches hold (nearly) identical images: across-image std "
                    f"{min(stats.batch_spread[i] for i in near):.3g} vs {scale:.3g} over the sample",
                    subject=subject,
                    evidence={"batches": near[:20], "sample_std": scale},
                )
            )
    return out


def _regime_finding(stats: InputStats, bb, t: Thresholds, preprocessing: str = "in-data") -> Finding | None:
    regimes = candidate_regimes(bb)
    costs = [regime_cost(r, stats, t) for r in regimes]
    own_cost = costs[0]
    best = _best_regime(regimes, costs, stats)
    evidence = {
        "channel_mean": _list(stats.mean),
        "channel_std": _list(stats.std),
        "channel_min": _list(stats.min),
        "channel_max": _list(stats.max),
        "p01": _list(stats.quantile(0.01)),
        "p99": _list(stats.quantile(0.99)),
        "expected_range": [list(r) for r in bb.value_range],
        "dtypes": dict(stats.dtypes),
    }
    found = regimes[best]
    if best != 0 and own_cost - costs[best] >= t.margin and costs[best] <= t.accept:
        kind = found.kind
        evidence.update(regime=found.name, cost=round(costs[best], 3), expected_cost=round(own_cost, 3))
        looks = f"looks like {found.name}" + ("" if kind in ("twice", "rescaled_then", "then_rescaled") else " input")
        severity = None
        if _own_regime_plausible(regimes[0], stats, t):
            # Correct preprocessing of low-contrast images (microscopy, satellite) can also look like
            # this: nothing contradicts the expected input, only its narrow span does. Say so, softly.
            severity = "warning"
            looks += "; the expected preprocessing of low-contrast images would also fit"
        return REGIME_CHECKS[kind].finding(
            f"{observed_text(stats)} ({looks}); {expected_text(bb)}",
            subject=bb.name,
            evidence=evidence,
            hint=_regime_hint(kind, found, bb, preprocessing),
            severity=severity,
        )
    outside = outside_fraction(regimes[0].affine, stats, t.tolerance)
    if own_cost > t.accept and float(outside.max()) > t.out_of_range:
        evidence.update(regime=None, expected_cost=round(own_cost, 3), outside_share=_list(outside))
        return OUT_OF_RANGE.finding(
            f"{observed_text(stats)} fits no known preprocessing ({float(outside.max()):.0%} of a channel's values outside "
            f"the expected range); {expected_text(bb)}",
            subject=bb.name,
            evidence=evidence,
            hint=f"check the preprocessing: {_right_input(bb)}",
        )
    if bb.mode == "caffe" and best == 0:
        return channel_order(stats, bb, t)
    return None


def _saturation_hits(regime: Regime, stats: InputStats, within: float = 1.5) -> int:
    """Channels whose implied darkest pixel is 0 or brightest is 255 (8-bit photos clip there)."""
    lo, hi = regime.affine.implied(stats.min), regime.affine.implied(stats.max)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return int(np.sum(np.abs(lo) <= within) + np.sum(np.abs(hi - 255.0) <= within))


def _best_regime(regimes: list[Regime], costs: list[float], stats: InputStats, window: float = 0.25) -> int:
    """The cheapest regime; among other regimes (not the backbone's own) nearly as cheap, the one
    under which the most channels clip exactly at 0 or 255, as decoded photos do. This tells caffe
    output divided by 255 (channel minima at -103.939/255, -116.779/255, -123.68/255) from x/255 - 0.5,
    whose costs are otherwise close.
    """
    best = int(np.argmin(costs))
    if best == 0:
        return best
    near = [i for i in range(1, len(regimes)) if costs[i] <= costs[best] + window]
    return max(near, key=lambda i: (_saturation_hits(regimes[i], stats), -costs[i]))


def _own_regime_plausible(own, stats: InputStats, t: Thresholds, min_levels: float = 24.0) -> bool:
    """Whether the backbone's expected preprocessing explains the data without contradiction: no
    values outside [0, 255] once mapped back, and pixels spanning at least ``min_levels`` grey
    levels in every channel (x/255 fed to a caffe model spans about one level).
    """
    a = own.affine
    if float(np.max(outside_fraction(a, stats, t.tolerance))) > 0.0:
        return False
    lo, hi = a.implied(stats.min), a.implied(stats.max)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if float(np.min(lo)) < -t.extreme_tolerance or float(np.max(hi)) > 255.0 + t.extreme_tolerance:
        return False
    return float(np.min(hi - lo)) >= min_levels


# ---- streaming entry point ---------------------------------------------------------------------
def accumulate(batches: Iterable[Any], *, max_batches: int | None = None) -> InputStats:
    """Stream ``(x, y)`` / ``(x, y, w)`` / ``x`` batches once into an :class:`InputStats`."""
    stats = InputStats()
    # islice stops before pulling one batch too many from an endless generator. No enumerate():
    # its cached result tuple would keep the previous batch alive while the next one is made.
    i = -1
    for batch in itertools.islice(batches, max_batches):
        i += 1
        if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
            x, y = batch[0], batch[1]
        elif isinstance(batch, (tuple, list)) and len(batch) == 1:
            x, y = batch[0], None
        else:
            x, y = batch, None
        del batch  # hold no reference to a batch once it is folded in
        try:
            stats.update(x, y)
        except ValueError as exc:
            # Not one array: a structure (a multi-input model's inputs, or what a custom train_step
            # unpacks: keras-io SimCLR zips ((images, labels), (images, labels))). Its image-shaped
            # leaves are the images; which labels go with them is the train_step's business.
            images = [leaf for leaf in _leaves(x) if _image_shaped(leaf)] if isinstance(x, (tuple, list, dict)) else []
            if images and isinstance(y, (tuple, dict)):  # the other zipped side's images
                images += [leaf for leaf in _leaves(y) if _image_shaped(leaf)]
            if not images:
                raise InputError(f"batch {i}: {exc}; yield (x, y) with x of shape (batch, height, width, 3)") from None
            for leaf in images:
                try:
                    stats.update(leaf, None)
                except ValueError as leaf_exc:
                    raise InputError(
                        f"batch {i}: {leaf_exc}; yield (x, y) with x of shape (batch, height, width, 3)"
                    ) from None
            del images
        del x, y
    return stats


def _leaves(structure: Any) -> Iterator[Any]:
    """The arrays in a nest of tuples, lists and dicts, in order."""
    if isinstance(structure, dict):
        for value in structure.values():
            yield from _leaves(value)
    elif isinstance(structure, (tuple, list)):
        for value in structure:
            yield from _leaves(value)
    else:
        yield structure


def _image_shaped(array: Any) -> bool:
    """A numeric batch of images: rank 4 (or 3: grayscale without a channel axis), not strings."""
    shape = getattr(array, "shape", None)
    dtype = getattr(array, "dtype", None)
    if shape is None or len(shape) not in (3, 4):
        return False
    kind = getattr(np.dtype(getattr(dtype, "as_numpy_dtype", dtype)), "kind", "O") if dtype is not None else "O"
    return kind in "uif"


def check_input_range(
    batches: Iterable[Any],
    backbone: str | None,
    *,
    image_size: int | None = None,
    label_mode: str | None = None,
    num_classes: int | None = None,
    max_batches: int | None = None,
    thresholds: Thresholds | None = None,
    preprocessing: str = "in-data",
) -> list[Finding]:
    """Stream batches once and report every ``input_range.*`` problem for ``backbone``.

    Args:
        batches: Iterable of ``(x, y)`` or ``(x, y, sample_weight)`` (numpy arrays or tensors).
        backbone: A ``keras.applications`` name (``resnet50``, ``EfficientNetB0``, ...), or None
            for the backbone-free checks only.
        image_size: Side the model is built for (default: the backbone's default size).
        label_mode: ``int``/``sparse``, ``categorical``, ``binary`` or ``multi_hot``; inferred if None.
        num_classes: Needed to check sparse labels against the upper bound and one-hot widths.
        max_batches: Stop after this many batches (an endless generator needs it).
        thresholds: The regime and saturation thresholds (default: :class:`Thresholds`).
        preprocessing: Where the backbone's preprocessing happens (see :func:`diagnose`).

    Raises:
        InputError: Unknown backbone or label mode, or a batch that is not image-shaped.
    """
    if backbone is not None:
        _backbone(backbone)  # fail on a typo before streaming anything
    normalize_label_mode(label_mode)
    stats = accumulate(batches, max_batches=max_batches)
    return diagnose(
        stats,
        backbone,
        image_size=image_size,
        label_mode=label_mode,
        num_classes=num_classes,
        thresholds=thresholds,
        preprocessing=preprocessing,
    )
