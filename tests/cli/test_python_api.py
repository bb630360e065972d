"""``import pipecheck``: the commands as functions for notebooks and scripts, each returning a Report
that scripts can test (``.ok``, ``.errors``, ``.raise_for_errors()``) and notebooks draw (``_repr_html_``).
Objects are passed directly: a tf.data.Dataset, a generator function, a keras.Model, a DataFrame."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import pipecheck

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validators"))
from input_range_sources import photos  # noqa: E402


def raw_batches():
    x = photos(32)
    for i in range(0, len(x), 4):
        yield x[i : i + 4], np.arange(4) % 2


def test_validate_a_generator_function_and_read_the_report():
    report = pipecheck.validate(source=raw_batches, backbone="resnet50", image_size=32, batches=3)
    assert not report.ok and "input_range.raw_unpreprocessed" in [f.check for f in report.errors]
    assert json.loads(report.to_json())["status"] == "fail"
    with pytest.raises(pipecheck.ReportFailed, match="input_range.raw_unpreprocessed"):
        report.raise_for_errors()
    page = report._repr_html_()
    assert "input_range.raw_unpreprocessed" in page
    # a fragment inside the notebook's page: no document of its own, and styles that cannot leak out
    assert "<html" not in page and "<body" not in page and 'class="pipecheck-report"' in page
    import re

    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    selectors = [sel.strip() for rule in re.findall(r"([^{}]+)\{", css) for sel in rule.split(",")]
    assert selectors and all(sel.startswith(".pipecheck-report") for sel in selectors), selectors


def test_validate_a_dataset_object_with_a_model_object():
    import keras
    import tensorflow as tf

    x = photos(32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(len(x)) % 2)).batch(4)
    inputs = keras.Input((32, 32, 3))
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    h = base(keras.applications.mobilenet_v2.preprocess_input(inputs), training=False)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(h)))
    report = pipecheck.validate(source=ds, backbone="mobilenet_v2", model=model, image_size=32, batches=3)
    assert report.ok and report.errors == [], report.to_json()
    assert report.raise_for_errors() is report


def test_validate_a_label_table_given_as_a_dataframe():
    import pandas as pd

    df = pd.DataFrame({"species": ["ant", "bee"] * 35 + ["ant"] * 15, "split": ["train"] * 70 + ["val"] * 15})
    report = pipecheck.validate(labels=df, label_field="species")
    assert "label_skew.absent_in_split" in [f.check for f in report.errors]


def test_build_tfrecords_returns_its_report(tmp_path):
    from PIL import Image

    dump = tmp_path / "dump"
    dump.mkdir()
    for i in range(6):
        Image.fromarray(photos(48)[i].astype("uint8")).save(dump / f"im{i}.jpg")
        (dump / f"im{i}.json").write_text(json.dumps({"label": "ab"[i % 2]}))
    report = pipecheck.build_tfrecords(dump, tmp_path / "out", label_field="label", val_fraction=0.34, stats=False)
    assert report.ok and (tmp_path / "out" / "dataset.json").exists()
    assert pipecheck.load_dataset(str(tmp_path / "out"), "train", image_size=32, batch_size=2) is not None
    assert pipecheck.VerifyTraining.__name__ == "VerifyTraining"
