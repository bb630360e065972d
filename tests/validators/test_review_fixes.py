"""Judgement fixes from review: low-contrast inputs, --lr keeping the optimizer, table split aliases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipecheck.pipeline import backbones
from pipecheck.validators.input_range import check_input_range


def _labels(n, rng):
    return np.eye(3, dtype="float32")[rng.integers(0, 3, n)]


@pytest.mark.parametrize("name,lo,hi", [("mobilenetv2", 190, 255), ("mobilenetv2", 60, 190), ("densenet121", 100, 140)])
def test_correct_preprocessing_of_low_contrast_images_is_at_most_a_warning(name, lo, hi):
    rng = np.random.default_rng(0)
    x = rng.uniform(lo, hi, size=(8, 32, 32, 3)).astype("float32")
    pre = backbones.get(name).preprocess_function()(x.copy())
    found = [f for f in check_input_range([(pre, _labels(8, rng))], name, image_size=32)]
    assert all(f.severity.value != "error" for f in found), [(f.check, f.severity.value) for f in found]
    assert all("low-contrast" in f.message for f in found if f.check.startswith("input_range.") and "size" not in f.check)


def test_seed001_rescaled_input_stays_an_error():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(8, 32, 32, 3)).astype("float32") / 255.0
    (f,) = [f for f in check_input_range([(x, _labels(8, rng))], "resnet50", image_size=32) if "size" not in f.check]
    assert (f.check, f.severity.value) == ("input_range.rescaled_0_1", "error")
    assert "keras.applications.resnet50.preprocess_input" in f.hint


def test_lr_alone_keeps_the_users_optimizer():
    import keras

    from pipecheck.validators.train_suite import TrainCheckOptions, _compile

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, clipnorm=1.0), loss="categorical_crossentropy")
    _compile(model, TrainCheckOptions(model="m:f", data_dir="d", lr=0.003))
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9 and opt.clipnorm == 1.0
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.003)


def test_label_table_split_names_use_the_builds_aliases():
    from pipecheck.validators.labels import LabelSet

    df = pd.DataFrame({"label": ["a", "b"] * 6, "split": ["train"] * 8 + ["Validation "] * 2 + ["dev"] * 2})
    labels = LabelSet.from_table(df, "label", "split")
    assert sorted(labels.splits) == ["train", "val"]
    assert labels.counts()["val"].n_images == 4
