"""input_range: every backbone mode family stays silent on its own Keras preprocessing, and each
mistake fires exactly its check id with a hint that names the right ``preprocess_input``."""

from __future__ import annotations

import json
import weakref

import numpy as np
import pytest
from input_range_sources import dark_photos, labels, photos

from pipecheck.pipeline import backbones
from pipecheck.pipeline.errors import InputError
from pipecheck.validators.findings import Report, Severity
from pipecheck.validators.input_range import (
    CHECK_IDS,
    Thresholds,
    accumulate,
    check_input_range,
    diagnose,
)

SIZE = 80  # above every backbone's minimum side (InceptionV3: 75), still tiny


def _pre(module: str):
    import importlib

    return importlib.import_module(f"keras.applications.{module}").preprocess_input


def caffe(x):
    return np.asarray(_pre("vgg16")(np.array(x, dtype="float32")))


def tf_mode(x):
    return np.asarray(_pre("mobilenet_v2")(np.array(x, dtype="float32")))


def torch(x):
    return np.asarray(_pre("densenet")(np.array(x, dtype="float32")))


def batches(x, batch_size=4, with_labels=True):
    y = labels(len(x))
    for start in range(0, len(x), batch_size):
        if with_labels:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            yield (x[start : start + batch_size],)


def run(x, backbone, **kw):
    kw.setdefault("image_size", x.shape[1])
    return check_input_range(batches(x), backbone, **kw)


def ids(findings):
    return sorted(f.check for f in findings)


@pytest.fixture(scope="session")
def raw():
    return photos(SIZE)


# backbone -> its keras.applications module, typed here (not read from pipecheck) so the test is independent
FAMILIES = {
    "resnet50": "resnet50",
    "vgg16": "vgg16",  # caffe
    "inception_v3": "inception_v3",
    "mobilenet_v2": "mobilenet_v2",
    "resnet50v2": "resnet_v2",
    "xception": "xception",  # tf
    "densenet121": "densenet",  # torch
    "efficientnetb0": "efficientnet",
    "convnexttiny": "convnext",
    "mobilenetv3small": "mobilenet_v3",  # in-model
}


@pytest.mark.parametrize("backbone", sorted(FAMILIES))
def test_healthy_keras_preprocessing_is_silent(raw, backbone):
    x = np.asarray(_pre(FAMILIES[backbone])(raw.copy()))
    assert run(x, backbone) == []


MISTAKES = [
    # (backbone, how the batch was made, expected check id)
    ("resnet50", lambda r: r / 255.0, "input_range.rescaled_0_1"),  # seed 001
    ("vgg16", lambda r: r / 255.0 - 0.5, "input_range.centered_0_5"),  # seed 003
    ("mobilenet_v2", lambda r: r / 255.0, "input_range.rescaled_0_1"),
    ("densenet121", lambda r: r / 255.0, "input_range.rescaled_0_1"),
    ("efficientnetb0", lambda r: r / 255.0, "input_range.rescaled_0_1"),
    ("convnexttiny", lambda r: r / 255.0 - 0.5, "input_range.centered_0_5"),
    ("xception", lambda r: r / 255.0 - 0.5, "input_range.centered_0_5"),
    ("resnet50", lambda r: r, "input_range.raw_unpreprocessed"),
    ("inception_v3", lambda r: r, "input_range.raw_unpreprocessed"),
    ("densenet121", lambda r: r, "input_range.raw_unpreprocessed"),
    ("efficientnetb0", tf_mode, "input_range.preprocessed_for_in_model"),
    ("mobilenetv3small", caffe, "input_range.preprocessed_for_in_model"),
    ("convnexttiny", torch, "input_range.preprocessed_for_in_model"),
    ("resnet50", tf_mode, "input_range.wrong_mode"),
    ("xception", caffe, "input_range.wrong_mode"),
    ("densenet121", tf_mode, "input_range.wrong_mode"),
    ("resnet50v2", torch, "input_range.wrong_mode"),
    ("mobilenet_v2", lambda r: tf_mode(tf_mode(r)), "input_range.preprocessed_twice"),
    ("vgg16", lambda r: caffe(caffe(r)), "input_range.preprocessed_twice"),
    ("densenet121", lambda r: torch(torch(r)), "input_range.preprocessed_twice"),
    ("resnet50v2", lambda r: tf_mode(r / 255.0), "input_range.rescaled_and_preprocessed"),
    ("resnet50", lambda r: caffe(r / 255.0), "input_range.rescaled_and_preprocessed"),
    ("resnet50", lambda r: caffe(r[..., ::-1]), "input_range.channel_order_swapped"),  # cv2 BGR into preprocess_input
    ("resnet50", lambda r: r - RGB_MEANS, "input_range.channel_order_swapped"),  # hand-written caffe, flip forgotten
    ("resnet50", lambda r: caffe(r) / 255.0, "input_range.preprocessed_then_rescaled"),
    ("mobilenet_v2", lambda r: tf_mode(r) / 255.0, "input_range.preprocessed_then_rescaled"),
    ("densenet121", lambda r: torch(r) / 255.0, "input_range.preprocessed_then_rescaled"),
]
RGB_MEANS = np.array([123.68, 116.779, 103.939], dtype="float32")  # ImageNet means in R, G, B order


@pytest.mark.parametrize("backbone,make,check", MISTAKES, ids=[f"{b}-{c.split('.')[1]}" for b, _, c in MISTAKES])
def test_each_mistake_fires_exactly_its_check(raw, backbone, make, check):
    findings = run(make(raw.copy()), backbone)
    assert ids(findings) == [check]
    assert f"keras.applications.{FAMILIES[backbone]}.preprocess_input" in findings[0].hint


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v2", "densenet121", "efficientnetb0"])
def test_unclipped_jitter_and_dark_photos_are_not_false_alarms(raw, backbone):
    rng = np.random.default_rng(0)
    mean = raw.mean(axis=(1, 2, 3), keepdims=True)
    # Brightness +-10% and contrast 0.9-1.1 without clipping: a few values leave [0, 255].
    jittered = (raw - mean) * rng.uniform(0.9, 1.1, (12, 1, 1, 1)) + mean + rng.uniform(-25, 25, (12, 1, 1, 1))
    assert jittered.min() < 0 or jittered.max() > 255
    pre = _pre(FAMILIES[backbone])
    assert run(np.asarray(pre(jittered.astype("float32"))), backbone) == []
    dark = np.concatenate([dark_photos(SIZE)] * 3)
    assert run(np.asarray(pre(dark.copy())), backbone) == []


def test_values_no_regime_explains_are_out_of_range(raw):
    (f,) = run(raw * 4.0, "resnet50")  # e.g. a stray scale factor: [0, 1020]
    assert f.check == "input_range.out_of_range"
    assert "keras.applications.resnet50.preprocess_input" in f.hint
    assert max(f.evidence["outside_share"]) > 0.5


def test_dark_photos_rescaled_are_still_caught():
    dark = np.concatenate([dark_photos(SIZE)] * 3)
    assert ids(run(dark / 255.0, "resnet50")) == ["input_range.rescaled_0_1"]


def test_seed_001_message_carries_the_numbers(raw):
    (f,) = run(raw / 255.0, "resnet50")
    assert f.severity is Severity.ERROR
    assert "channel means [" in f.message and "in [0, " in f.message
    assert "resnet50 expects B/G/R means near [0, 0, 0] in [-124, 151]" in f.message
    assert "1/255" in f.hint
    assert all(0.0 <= m <= 1.0 for m in f.evidence["channel_mean"])
    text = _render(f)
    assert (
        "input_range (1)" in text
        and "channel means [" in text
        and "keras.applications.resnet50.preprocess_input" in text
    )


def _render(*findings):
    from pipecheck.render import render

    return render(Report("validate", list(findings)), "text")


def test_tf_twice_is_reported_in_its_squeezed_range(raw):
    (f,) = run(tf_mode(tf_mode(raw)), "mobilenet_v2")
    assert f.evidence["channel_min"][0] >= -1.0079 and f.evidence["channel_max"][0] <= -0.9921
    assert "[-1.008, -0.99" in f.message  # enough digits to see the squeeze


def test_greyish_photos_do_not_trip_the_channel_order_check(raw):
    grey = raw.mean(axis=-1, keepdims=True) * 0.8 + raw * 0.2
    assert run(caffe(grey), "resnet50") == []
    assert run(caffe(grey[..., ::-1]), "resnet50") == []


def test_channel_order_twin_needs_strong_evidence(raw):
    # Same swapped input, but the thresholds demand more than the colour cast offers: silent.
    strict = Thresholds(order_min_cast=500.0)
    assert run(caffe(raw[..., ::-1]), "resnet50", thresholds=strict) == []


def test_size_below_minimum_is_an_error_and_mismatch_a_warning(raw):
    small = photos(16)
    (f,) = check_input_range(batches(caffe(small)), "resnet50")
    assert f.check == "input_range.size_below_minimum" and f.severity is Severity.ERROR
    assert "224x224" in f.hint and "32" in f.hint
    (g,) = check_input_range(batches(caffe(raw)), "resnet50")
    assert g.check == "input_range.size_mismatch" and g.severity is Severity.WARNING
    assert "80x80" in g.message and "224x224" in g.hint
    assert check_input_range(batches(caffe(raw)), "resnet50", image_size=SIZE) == []


def test_channels(raw):
    grey = raw.mean(axis=-1, keepdims=True)
    (f,) = run(grey, "efficientnetb0")
    assert f.check == "input_range.channels" and "RGB" in f.hint
    nchw = np.ascontiguousarray(np.transpose(raw, (0, 3, 1, 2)))
    (g,) = check_input_range(batches(nchw), "efficientnetb0", image_size=SIZE)
    assert g.check == "input_range.channels" and "tf.transpose" in g.hint


def test_channels_without_a_backbone_are_the_models_choice(raw):
    # keras-io MixUp: (N, 28, 28, 1) grayscale into a small CNN from scratch; no backbone to need RGB.
    grey = raw.mean(axis=-1, keepdims=True) / 255.0
    assert [f.check for f in check_input_range(batches(grey), None)] == []
    assert [f.check for f in check_input_range(batches(np.concatenate([raw, raw[..., :1]], -1) / 255.0), None)] == []
    nchw = np.ascontiguousarray(np.transpose(raw, (0, 3, 1, 2))) / 255.0
    (f,) = check_input_range(batches(nchw), None)
    assert f.check == "input_range.channels" and "tf.transpose" in f.hint
    grey_first = np.ascontiguousarray(np.transpose(grey, (0, 3, 1, 2)))  # (N, 1, H, W)
    (g,) = check_input_range(batches(grey_first), None)
    assert g.check == "input_range.channels" and "tf.transpose" in g.hint
    mixed = [(raw[:4] / 255.0, None), (grey[:4], None)]
    assert [f.check for f in check_input_range(mixed, None)] == ["input_range.channels"]


def test_integer_dtype_only_where_the_range_is_right(raw):
    as_uint8 = np.clip(raw, 0, 255).astype("uint8")
    (f,) = run(as_uint8, "efficientnetb0")
    assert f.check == "input_range.integer_dtype" and f.severity is Severity.WARNING
    assert "float32" in f.hint and "keras.applications.efficientnet.preprocess_input" in f.hint
    assert run(as_uint8.astype("float32"), "efficientnetb0") == []
    # Unpreprocessed uint8 for ResNet50 is one problem, reported once, with the dtype as evidence.
    (g,) = run(as_uint8, "resnet50")
    assert g.check == "input_range.raw_unpreprocessed" and g.evidence["dtypes"] == {"uint8": 3}


def test_non_finite(raw):
    x = tf_mode(raw)
    x[0, 0, 0, 0], x[5, 3, 3, 2] = np.nan, np.inf
    (f,) = run(x, "mobilenet_v2")
    assert f.check == "input_range.non_finite"
    assert f.evidence["nan"] == 1 and f.evidence["inf"] == 1
    assert "np.isfinite" in f.hint


def test_constant_and_zero_images(raw):
    x = tf_mode(raw)
    x[1], x[6] = 0.0, -0.25
    (f,) = run(x, "mobilenet_v2")
    assert f.check == "input_range.constant_images" and f.severity is Severity.WARNING
    assert f.evidence["constant_images"] == 2 and f.evidence["zero_images"] == 1
    (g,) = run(np.zeros_like(x), "mobilenet_v2")
    assert g.check == "input_range.constant_images" and g.severity is Severity.ERROR
    assert g.evidence["zero_images"] == 12


def test_near_constant_batch(raw):
    x = torch(raw)
    x[4:8] = x[4]  # the second batch repeats one image four times
    (f,) = run(x, "densenet121")
    assert f.check == "input_range.near_constant_batch"
    assert f.evidence["batches"] == [1]
    assert "generator" in f.hint


LABEL_CASES = [
    # (y, label_mode, num_classes, expected ids)
    (np.eye(3)[labels()], "categorical", 3, []),
    (np.eye(3)[labels()] * 0.9 + 0.1 / 3, "categorical", 3, []),  # label smoothing sums to 1
    (
        np.eye(3)[labels()] + np.eye(3)[(labels() + 1) % 3] * (np.arange(12) == 2)[:, None],
        "categorical",
        3,
        ["input_range.labels_not_one_hot"],
    ),
    (np.eye(3)[labels()], "categorical", 5, ["input_range.labels_not_one_hot"]),  # width is not num_classes
    (labels(), "int", 3, []),
    (np.where(np.arange(12) == 7, 3, labels()), "int", 3, ["input_range.sparse_label_out_of_range"]),
    (np.where(np.arange(12) == 7, -1, labels()), None, None, ["input_range.sparse_label_out_of_range"]),
    ((np.arange(24).reshape(12, 2) % 3 == 0).astype("float32"), "multi_hot", 2, []),
    (np.where(np.arange(24).reshape(12, 2) == 5, 0.5, 1.0), "multi_hot", 2, ["input_range.multi_hot_not_binary"]),
    (labels(), "categorical", 3, ["input_range.label_mode_mismatch"]),
    (np.eye(3)[labels()], "int", 3, ["input_range.label_mode_mismatch"]),
    # Inferred: mostly one-hot rows, one sums to 2.
    (
        np.eye(3)[labels()] + np.eye(3)[(labels() + 1) % 3] * (np.arange(12) == 2)[:, None],
        None,
        None,
        ["input_range.labels_not_one_hot"],
    ),
]


@pytest.mark.parametrize("y,mode,n,expected", LABEL_CASES)
def test_labels(raw, y, mode, n, expected):
    x = caffe(raw)
    pairs = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4)]
    findings = check_input_range(pairs, "vgg16", image_size=SIZE, label_mode=mode, num_classes=n)
    assert ids(findings) == expected
    for f in findings:
        assert f.hint


def test_sparse_out_of_range_counts():
    from pipecheck.validators.input_range.stats import InputStats

    stats = InputStats()
    stats.update(np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)), np.array([0, 1, 9, 2]))
    (f,) = diagnose(stats, None, label_mode="sparse", num_classes=3)
    assert f.check == "input_range.sparse_label_out_of_range" and f.evidence["bad"] == 1
    assert "[0, 3)" in f.message


def test_no_data_and_bad_options():
    (f,) = check_input_range(iter([]), "resnet50")
    assert f.check == "input_range.no_data" and "yield" in f.hint
    with pytest.raises(InputError, match="pipecheck backbones"):
        check_input_range(iter([]), "resnet5O")
    with pytest.raises(InputError, match="label mode"):
        check_input_range(iter([]), "resnet50", label_mode="one-hotish")
    with pytest.raises(InputError, match="batch 0"):
        check_input_range(iter([(np.zeros((4, 4)), None)]), "resnet50")


def test_streams_without_holding_batches(raw):
    """A long generator is consumed one batch at a time; no earlier batch stays referenced."""
    base = tf_mode(raw)
    alive: list[weakref.ref] = []
    produced = 0

    def stream():
        nonlocal produced
        rng = np.random.default_rng(0)

        def make():
            x = base[rng.integers(0, 12, size=4)].copy()
            alive.append(weakref.ref(x))
            return x, rng.integers(0, 3, size=4)

        while True:  # endless, like a Keras generator; max_batches bounds it
            held = sum(r() is not None for r in alive)
            assert held == 0, f"{held} earlier batches still referenced"
            produced += 1
            yield make()  # no local keeps the batch alive on this side either

    findings = check_input_range(stream(), "mobilenet_v2", image_size=SIZE, max_batches=150)
    assert findings == []
    assert produced == 150  # no batch pulled beyond the limit


def test_check_ids_are_declared_and_stable():
    from pipecheck.validators import registry

    assert {c.id for c in registry.all_checks() if c.family == "input_range"} == set(CHECK_IDS)
    for check in (
        "input_range.rescaled_0_1",
        "input_range.centered_0_5",
        "input_range.preprocessed_twice",
        "input_range.channel_order_swapped",
        "input_range.size_mismatch",
        "input_range.size_below_minimum",
    ):
        assert check in CHECK_IDS
    assert registry.get("input_range.size_mismatch").severity is Severity.WARNING


def test_evidence_is_json_ready(raw):
    (f,) = run(raw / 255.0 - 0.5, "vgg16")
    json.dumps(f.to_dict())


def test_accumulate_accepts_x_only_batches(raw):
    stats = accumulate(batches(caffe(raw), with_labels=False))
    assert stats.images == 12 and stats.labels is None
    assert diagnose(stats, "resnet50", image_size=SIZE) == []


def test_forgotten_flip_is_proven_by_bounds_and_is_an_error(raw):
    # Channel 0 of correct caffe input is B - 103.939: it can never go below -103.939. RGB minus the
    # means in RGB order puts R - 123.68 there, and dark-red pixels take it down to -123.68.
    (f,) = run(raw - RGB_MEANS, "resnet50")
    assert f.check == "input_range.channel_order_swapped" and f.severity is Severity.ERROR
    assert f.evidence["evidence"] == "bounds"
    assert f.evidence["channel_min"][0] < -103.939 - 8
    assert max(f.evidence["outside_share_without_flip"]) <= 0.1 * max(f.evidence["outside_share_as_expected"])
    assert "x[..., ::-1]" in f.hint and "keras.applications.resnet50.preprocess_input" in f.hint


def test_flipped_twice_is_a_colour_judgement_and_only_a_warning(raw):
    # A BGR frame through preprocess_input has the bounds of correct input: only colour can tell.
    (f,) = run(caffe(raw[..., ::-1]), "resnet50")
    assert f.check == "input_range.channel_order_swapped" and f.severity is Severity.WARNING
    assert f.evidence["evidence"] == "colour" and f.evidence["r_minus_b_median_as_expected"] < 0
    assert "cv2.cvtColor" in f.hint


def test_naturally_blue_photos_are_not_called_swapped():
    # skimage's rocket: sky-heavy, R-B about -30 as shot. Correctly preprocessed it must stay silent.
    import skimage.data
    from skimage.transform import resize

    img = skimage.data.rocket()
    crops = [
        resize(img[i * 40 : i * 40 + 380, j * 60 : j * 60 + 380], (SIZE, SIZE), preserve_range=True)
        for i in range(2)
        for j in range(4)
    ]
    x = np.stack(crops).astype("float32")
    assert run(caffe(x), "resnet50") == []


def test_preprocessed_then_rescaled_is_not_mistaken_for_centered(raw):
    (f,) = run(caffe(raw) / 255.0, "vgg16")
    assert f.check == "input_range.preprocessed_then_rescaled"
    assert f.evidence["regime"] == "caffe then x/255"
    assert "rescale=1/255" in f.hint
    # and its twin: plain x/255 - 0.5 stays centered_0_5
    (g,) = run(raw / 255.0 - 0.5, "vgg16")
    assert g.check == "input_range.centered_0_5"


# --- low-contrast inputs (moved from test_review_fixes.py) ---------------------------------------


def _labels(n, rng):
    return np.eye(3, dtype="float32")[rng.integers(0, 3, n)]


@pytest.mark.parametrize("name,lo,hi", [("mobilenetv2", 190, 255), ("mobilenetv2", 60, 190), ("densenet121", 100, 140)])
def test_correct_preprocessing_of_low_contrast_images_is_at_most_a_warning(name, lo, hi):
    rng = np.random.default_rng(0)
    x = rng.uniform(lo, hi, size=(8, 32, 32, 3)).astype("float32")
    pre = backbones.get(name).preprocess_function()(x.copy())
    found = [f for f in check_input_range([(pre, _labels(8, rng))], name, image_size=32)]
    assert all(f.severity.value != "error" for f in found), [(f.check, f.severity.value) for f in found]
    assert all(
        "low-contrast" in f.message for f in found if f.check.startswith("input_range.") and "size" not in f.check
    )


def test_seed001_rescaled_input_stays_an_error():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(8, 32, 32, 3)).astype("float32") / 255.0
    (f,) = [f for f in check_input_range([(x, _labels(8, rng))], "resnet50", image_size=32) if "size" not in f.check]
    assert (f.check, f.severity.value) == ("input_range.rescaled_0_1", "error")
    assert "keras.applications.resnet50.preprocess_input" in f.hint
