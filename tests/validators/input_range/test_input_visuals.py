"""input_visuals: what the model receives, as report pictures. Histograms of the values against the
backbone's expected range, and sample images de-preprocessed back to RGB, which look like the photos when
the input is right and visibly wrong (flat grey, white) when it is not. Real Keras preprocess_input and
real photos throughout; the reader's path runs on the session's sample build."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from input_range_sources import photos

from pipecheck.html import render_html
from pipecheck.html_inputs import render_input_visuals
from pipecheck.pipeline import backbones
from pipecheck.validators.input_range import accumulate
from pipecheck.validators.input_range.visuals import (
    HIST_BINS,
    SAMPLE_IMAGES,
    THUMB_SIDE,
    VALUE_CAP,
    input_visuals,
    png_base64,
    shrink,
)
from pipecheck.validators.runners.validate import ValidateOptions, run_validate

SIZE = 64


def _pre(module: str):
    import importlib

    return importlib.import_module(f"keras.applications.{module}").preprocess_input


def decode_png(data: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), dtype="float64")


def nearest_mad(image: np.ndarray, references: np.ndarray) -> float:
    """Mean absolute difference (grey levels) to the closest reference image of the same shape."""
    return float(np.min(np.abs(references - image[None]).mean(axis=(1, 2, 3))))


def batches_of(x: np.ndarray, batch_size: int = 4):
    y = np.arange(len(x)) % 3
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]


# ---- the inverse map ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, module",
    [
        ("resnet50", "resnet50"),
        ("mobilenet_v2", "mobilenet_v2"),
        ("densenet121", "densenet"),
        ("efficientnetb0", "efficientnet"),
    ],
)
def test_undo_preprocessing_inverts_keras_preprocess_input(name, module):
    raw = photos(SIZE).astype("float64")
    bb = backbones.get(name)
    fed = np.asarray(_pre(module)(raw.astype("float32").copy()))
    assert np.abs(bb.undo_preprocessing(fed) - raw).max() < 0.01
    # The wrong input (x/255) does not come back as the photos.
    assert np.abs(bb.undo_preprocessing(raw / 255.0) - raw).mean() > 40.0


def test_undo_of_a_model_that_preprocesses_itself_is_the_identity():
    raw = photos(SIZE).astype("float64")
    assert np.array_equal(backbones.get("resnet50").fed_raw().undo_preprocessing(raw), raw)


# ---- bounded material ---------------------------------------------------------------------------
def test_png_encoder_round_trips_exactly():
    rng = np.random.default_rng(1)
    for shape in ((7, 5, 3), (THUMB_SIDE, 40, 3), (1, 1, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(decode_png(png_base64(img)), img.astype("float64"))


def test_shrink_keeps_block_means_and_bounds_the_side():
    big = photos(300)[0].astype("float64")
    small = shrink(big, THUMB_SIDE)
    assert max(small.shape[:2]) <= THUMB_SIDE and small.shape[2] == 3
    assert abs(float(small.mean()) - float(big.mean())) < 1.0
    tall = np.zeros((500, 7, 3))
    assert max(shrink(tall, THUMB_SIDE).shape[:2]) <= THUMB_SIDE
    tiny = photos(SIZE)[0]
    assert np.array_equal(shrink(tiny, THUMB_SIDE), tiny)  # small enough already: unchanged


def test_value_sample_stays_bounded_and_weighs_every_batch_alike():
    # 300 batches; batch i holds values near i. A sample that favoured early (or late) batches would move
    # the median away from the middle batch.
    rng = np.random.default_rng(0)

    def stream():
        for i in range(300):
            yield rng.normal(i, 0.5, (8, 32, 32, 3)).astype("float32"), np.zeros(8, "int64")

    stats = accumulate(stream())
    sample = stats.visuals
    assert sample.size <= VALUE_CAP + 4096
    assert len(sample.thumbs) == SAMPLE_IMAGES
    values = sample.values(3)[:, 0]
    assert abs(float(np.median(values)) - 150.0) < 10.0
    counts, _ = np.histogram(values, bins=10, range=(-0.5, 299.5))
    assert counts.min() > 0.7 * counts.max(), counts


def test_the_first_images_are_the_samples_and_other_channel_counts_give_none():
    x = np.asarray(_pre("resnet50")(photos(SIZE)))
    stats = accumulate(batches_of(x, batch_size=2))  # first batch holds 2: the next batch fills up to 4
    assert len(stats.visuals.thumbs) == SAMPLE_IMAGES
    assert np.allclose(stats.visuals.thumbs[3], x[3])
    grey = accumulate([np.zeros((2, 8, 8, 1), "float32") + 5.0])
    assert grey.visuals.thumbs == []
    visuals = input_visuals(grey, "resnet50")
    assert visuals["samples"] == [] and [h["channel"] for h in visuals["histograms"]] == [0]


# ---- healthy and buggy input through validate -------------------------------------------------
def _visuals(source, backbone: str) -> dict:
    report = run_validate(ValidateOptions(source=source, backbone=backbone, batches=3))
    return report, report.summary["input_visuals"]


def _assert_photos_come_back(visuals: dict, raw: np.ndarray) -> None:
    assert len(visuals["samples"]) == SAMPLE_IMAGES
    for k, sample in enumerate(visuals["samples"]):
        got = decode_png(sample["png_base64"])
        assert np.abs(got - raw[k]).mean() < 1.0, k
        assert sample["clipped_share"] == 0.0


def caffe_photos():
    return batches_of(np.asarray(_pre("resnet50")(photos(SIZE))))


def rescaled_photos():
    return batches_of(photos(SIZE) / 255.0)


def tf_photos():
    return batches_of(np.asarray(_pre("mobilenet_v2")(photos(SIZE))))


def raw_photos():
    return batches_of(photos(SIZE))


def test_healthy_caffe_input_comes_back_as_the_photos_inside_the_expected_range():
    _, visuals = _visuals(caffe_photos, "resnet50")
    assert visuals["expected"]["channel_order"] == "BGR"
    assert [h["channel"] for h in visuals["histograms"]] == ["B", "G", "R"]
    for h, (lo, hi) in zip(visuals["histograms"], backbones.get("resnet50").value_range):
        assert len(h["counts"]) == HIST_BINS and len(h["edges"]) == HIST_BINS + 1
        assert h["outside_share"] == 0.0
        assert lo - 1e-3 <= h["observed"][0] and h["observed"][1] <= hi + 1e-3
        assert h["edges"][0] == pytest.approx(lo) and h["edges"][-1] == pytest.approx(hi)
        assert max(h["counts"]) < 0.2 * sum(h["counts"])  # spread over the range, as photos are
    _assert_photos_come_back(visuals, photos(SIZE))


def test_rescaled_input_to_caffe_comes_back_flat_grey_squeezed_into_one_bin():
    report, visuals = _visuals(rescaled_photos, "resnet50")
    assert "input_range.rescaled_0_1" in {f.check for f in report.findings}
    raw = photos(SIZE)
    for h in visuals["histograms"]:
        assert h["observed"][1] - h["observed"][0] <= 1.0
        assert sum(sorted(h["counts"])[-2:]) > 0.99 * sum(h["counts"])  # a sliver of the expected range
    for k, sample in enumerate(visuals["samples"]):
        got = decode_png(sample["png_base64"])
        assert np.abs(got - raw[k]).mean() > 20.0  # healthy twin: below 1
        assert float(got.std(axis=(0, 1)).max()) < 1.0 < 20.0 < float(raw[k].std(axis=(0, 1)).min())
        assert np.abs(got.mean(axis=(0, 1)) - [124, 117, 104]).max() < 2.0  # flat ImageNet-mean grey


def test_healthy_tf_input_comes_back_as_the_photos():
    _, visuals = _visuals(tf_photos, "mobilenet_v2")
    assert [h["channel"] for h in visuals["histograms"]] == ["R", "G", "B"]
    assert all(h["outside_share"] == 0.0 for h in visuals["histograms"])
    _assert_photos_come_back(visuals, photos(SIZE))


def test_raw_input_to_a_tf_backbone_lies_outside_the_range_and_comes_back_white():
    report, visuals = _visuals(raw_photos, "mobilenet_v2")
    assert "input_range.raw_unpreprocessed" in {f.check for f in report.findings}
    assert all(h["outside_share"] > 0.9 for h in visuals["histograms"])
    for sample in visuals["samples"]:
        assert float(decode_png(sample["png_base64"]).mean()) > 240.0
        assert sample["clipped_share"] > 0.9 and "clipped" in sample["note"]


def test_declared_in_model_preprocessing_expects_raw_and_shows_it_as_fed():
    report = run_validate(ValidateOptions(source=raw_photos, backbone="resnet50", batches=3, preprocessing="in-model"))
    visuals = report.summary["input_visuals"]
    assert visuals["expected"]["range"] == [0.0, 255.0] and visuals["expected"]["channel_order"] == "RGB"
    assert "in-model" in visuals["expected"]["note"]
    _assert_photos_come_back(visuals, photos(SIZE))


def test_no_backbone_no_visuals():
    report = run_validate(ValidateOptions(source=raw_photos, batches=3))
    assert "input_visuals" not in report.summary


# ---- pipecheck's own reader on the sample build -----------------------------------------------
@pytest.fixture(scope="module")
def sample_run(sample_build):
    opts = ValidateOptions(
        data_dir=str(sample_build.out_dir), backbone="resnet50", image_size=SIZE, batches=1, split="val"
    )
    return run_validate(opts), sample_build


def _records_resized(out_dir: str, split: str) -> np.ndarray:
    """Every record of ``split`` decoded from its stored bytes and resized (antialiased) to SIZE x SIZE."""
    import tensorflow as tf

    from pipecheck.pipeline import spec
    from pipecheck.pipeline.manifest import load_manifest

    files = load_manifest(out_dir).shard_paths(out_dir, split)
    out = []
    for record in tf.data.TFRecordDataset(files):
        parsed = tf.io.parse_single_example(record, {spec.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)})
        image = tf.io.decode_image(parsed[spec.IMAGE_ENCODED], channels=3, expand_animations=False)
        out.append(tf.image.resize(tf.cast(image, tf.float32), [SIZE, SIZE], antialias=True).numpy())
    return np.stack(out).astype("float64")


def _reader_raw(out_dir: str, split: str) -> np.ndarray:
    """The same records through pipecheck's reader without a backbone: raw [0, 255] pixels."""
    from pipecheck.pipeline.reader import load_dataset

    ds = load_dataset(out_dir, split, image_size=SIZE, batch_size=32, shuffle=False)
    return np.concatenate([x for x, _ in ds.as_numpy_iterator()]).astype("float64")


def test_reader_with_resnet50_is_inside_the_range_and_its_samples_are_the_records(sample_run):
    report, build = sample_run
    visuals = report.summary["input_visuals"]
    assert visuals["backbone"] == "resnet50" and visuals["expected"]["channel_order"] == "BGR"
    for h, (lo, hi) in zip(visuals["histograms"], backbones.get("resnet50").value_range):
        assert h["outside_share"] == 0.0
        assert lo - 1e-3 <= h["observed"][0] and h["observed"][1] <= hi + 1e-3
        assert sum(h["counts"]) > 1000
    assert len(visuals["samples"]) == SAMPLE_IMAGES
    thumbs = [decode_png(s["png_base64"]) for s in visuals["samples"]]
    assert all(t.shape == (SIZE, SIZE, 3) for t in thumbs)
    # The reader's own raw pixels for these records, up to PNG rounding: the inverse undoes its preprocessing.
    raw = _reader_raw(str(build.out_dir), "val")
    assert max(nearest_mad(t, raw) for t in thumbs) < 1.0
    # The stored records decoded and resized independently: close (the reader may decode a JPEG at a
    # reduced scale before its resize, so not bit-equal), and closer than the thumbnails shown BGR.
    records = _records_resized(str(build.out_dir), "val")
    straight = [nearest_mad(t, records) for t in thumbs]
    swapped = [nearest_mad(t[..., ::-1], records) for t in thumbs]
    assert max(straight) < 10.0, straight
    assert np.mean(swapped) > np.mean(straight) + 2.0, (straight, swapped)


def test_visuals_are_drawn_in_the_html_page_and_kept_out_of_json(sample_run):
    report, _ = sample_run
    page = render_html(report)
    assert page.count('class="pc-hist"') == 3
    assert page.count("data:image/png;base64,") == SAMPLE_IMAGES
    as_json = report.to_json()
    assert "input_visuals" not in as_json and "png_base64" not in as_json
    assert "input_visuals" in report.summary  # still there for the page and for notebooks
    assert len(json.dumps(report.summary["input_visuals"])) < 4 * 20_000 + 20_000


# ---- the fragment ---------------------------------------------------------------------------------
def test_fragment_has_one_svg_per_channel_in_channel_order_and_the_thumbnails():
    _, visuals = _visuals(caffe_photos, "resnet50")
    html = render_input_visuals(visuals)
    svgs = re.findall(r'<svg class="pc-hist".*?</svg>', html, flags=re.S)
    assert len(svgs) == 3
    assert [re.search(r"channel (\w+)</text>", s).group(1) for s in svgs] == ["B", "G", "R"]
    assert all('class="pc-expected"' in s and 'class="pc-observed"' in s for s in svgs)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert uris == [s["png_base64"] for s in visuals["samples"]]
    assert "<style>" in html and all(
        rule.startswith(".pipecheck-report ")
        for rule in re.findall(r"^\S.*?\{", html.split("<style>")[1].split("</style>")[0], flags=re.M)
    )
    assert len(html) < 4 * 40_000 + 30_000  # four 96-px thumbnails at most, plus three small SVGs


def test_fragment_outside_values_are_drawn_red_and_inside_blue():
    _, healthy = _visuals(tf_photos, "mobilenet_v2")
    _, raw = _visuals(raw_photos, "mobilenet_v2")
    assert 'fill="#b3261e"><title>[' not in render_input_visuals(healthy)
    assert render_input_visuals(raw).count('fill="#b3261e"><title>[') > 3 * 10


def test_fragment_escapes_text_and_drops_a_payload_that_is_not_base64():
    _, visuals = _visuals(caffe_photos, "resnet50")
    visuals = json.loads(json.dumps(visuals))
    visuals["backbone"] = "<script>alert(1)</script>"
    visuals["samples"][0]["note"] = '"><script>x</script>'
    visuals["samples"][1]["png_base64"] = 'AAAA" onerror="alert(1)'
    html = render_input_visuals(visuals)
    assert "<script>" not in html
    assert html.count("data:image/png;base64,") == SAMPLE_IMAGES - 1
    assert render_input_visuals(None) == "" and render_input_visuals({}) == ""
