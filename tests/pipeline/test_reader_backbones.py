"""``load_dataset`` with three backbone families (caffe, tf, in-model preprocessing), checked against
``keras.applications.<module>.preprocess_input`` on the same decoded images, and feeding
``model.fit`` of a tiny Keras model."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from pipecheck.pipeline import load_dataset
from pipecheck.pipeline.errors import InputError

SIZE = 40
# backbone -> (keras.applications module, expected family)
BACKBONES = {
    "resnet50": ("resnet50", "caffe"),
    "mobilenet_v2": ("mobilenet_v2", "tf"),
    "efficientnetb0": ("efficientnet", "none"),
}
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


@pytest.fixture(scope="module")
def train_reference(tf, mini_build, h):
    """Decoded, resized train images and label indices, in shard order (one shard per split)."""
    out = mini_build.out_dir
    shards = mini_build.manifest["splits"]["train"]["shards"]
    assert len(shards) == 1
    images, labels = [], []
    for rec in h.records(out, "train"):
        img = tf.io.decode_image(rec["image/encoded"][0], channels=3, expand_animations=False)
        img = tf.clip_by_value(tf.image.resize(tf.cast(img, tf.float32), [SIZE, SIZE]), 0.0, 255.0)
        images.append(img.numpy())
        labels.append(rec["label/index"][0])
    return np.stack(images), np.array(labels)


def _collect(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_reader_applies_the_backbones_own_preprocessing(mini_build, train_reference, backbone):
    module, family = BACKBONES[backbone]
    raw, label_index = train_reference
    ds = load_dataset(
        mini_build.out_dir, "train", backbone=backbone, image_size=SIZE, batch_size=8, shuffle=False, deterministic=True
    )
    x, y = _collect(ds)
    assert x.dtype == np.float32 and x.shape == (len(raw), SIZE, SIZE, 3)
    preprocess = importlib.import_module(f"keras.applications.{module}").preprocess_input
    expected = np.asarray(preprocess(raw.copy()))
    np.testing.assert_allclose(x, expected, atol=1e-3)
    # The same facts without Keras: channel order and value range of each family.
    if family == "caffe":
        np.testing.assert_allclose(x, raw[..., ::-1] - CAFFE_MEAN_BGR, atol=1e-3)
        assert x.min() >= -123.68 - 1e-3 and x.max() <= 255 - 103.939 + 1e-3
    elif family == "tf":
        np.testing.assert_allclose(x, raw / 127.5 - 1.0, atol=1e-5)
        assert x.min() >= -1.0 and x.max() <= 1.0
    else:
        np.testing.assert_allclose(x, raw, atol=1e-4)
        assert x.max() > 100.0, "in-model preprocessing expects raw [0, 255] pixels"
    # categorical labels, in the same order as the records
    assert y.shape == (len(raw), 3)
    assert np.array_equal(y.argmax(1), label_index) and np.array_equal(y.sum(1), np.ones(len(raw)))


def test_reader_without_backbone_gives_raw_pixels_and_int_labels(mini_build, train_reference):
    raw, label_index = train_reference
    ds = load_dataset(
        mini_build.out_dir,
        "train",
        image_size=SIZE,
        batch_size=None,
        shuffle=False,
        deterministic=True,
        label_mode="int",
    )
    x, y = [], []
    for xi, yi in ds:
        x.append(xi.numpy())
        y.append(int(yi))
    np.testing.assert_allclose(np.stack(x), raw, atol=1e-4)
    assert y == label_index.tolist()
    n_val = mini_build.manifest["splits"]["val"]["examples"]
    assert sum(1 for _ in load_dataset(mini_build.out_dir, "val", image_size=SIZE, batch_size=None)) == n_val


def test_reader_rejects_bad_arguments(mini_build):
    with pytest.raises(InputError, match="split"):
        load_dataset(mini_build.out_dir, "holdout")
    with pytest.raises(InputError, match="backbone"):
        load_dataset(mini_build.out_dir, "train", backbone="resnet_51")
    with pytest.raises(InputError, match="label_mode"):
        load_dataset(mini_build.out_dir, "train", label_mode="soft")  # "sparse" is an alias of int (LabelMode)


def _tiny_model(keras, n_out, activation):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(n_out, activation=activation)(x))
    return model


def test_dataset_feeds_model_fit_single_label(mini_build):
    import keras

    ds = load_dataset(
        mini_build.out_dir, "train", backbone="resnet50", image_size=SIZE, batch_size=4, repeat=True, seed=1
    )
    model = _tiny_model(keras, 3, "softmax")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_multi_label_build_reads_as_multi_hot_and_fits(h, mini_dump, tmp_path):
    import keras

    result = h.build(mini_dump, tmp_path / "out", multi_label_field="tags", group_field="group", val_fraction=0.2)
    classes = result.manifest["classes"]
    assert classes == ["blurry", "flying", "insect", "mammal", "small"]
    recs = h.records(result.out_dir, "train")
    ds = load_dataset(result.out_dir, "train", image_size=SIZE, batch_size=5, shuffle=False, deterministic=True)
    _, y = _collect(ds)
    expected = np.zeros((len(recs), len(classes)), dtype="float32")
    for i, rec in enumerate(recs):
        expected[i, rec["label/index"]] = 1.0
    assert np.array_equal(y, expected)
    assert (y.sum(1) >= 1).all() and (y.sum(1) > 1).any()
    with pytest.raises(InputError, match="multi_hot"):
        load_dataset(result.out_dir, "train", label_mode="categorical")
    model = _tiny_model(keras, len(classes), "sigmoid")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    fit_ds = load_dataset(
        result.out_dir, "train", backbone="efficientnetb0", image_size=SIZE, batch_size=4, repeat=True
    )
    assert np.isfinite(model.fit(fit_ds, epochs=1, steps_per_epoch=1, verbose=0).history["loss"][0])


def test_allow_empty_negatives_read_as_all_zero_multi_hot(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "pos", {"tags": ["a", "b"]}, h.image(seed=1))
    h.pair(d, "neg", {"tags": []}, h.image(seed=2))
    result = h.build(d, tmp_path / "out", multi_label_field="tags", allow_empty=True, val_fraction=0.0)
    assert result.accounting["written"] == 2 and result.accounting["balanced"]
    ds = load_dataset(result.out_dir, "train", image_size=SIZE, batch_size=None, shuffle=False, deterministic=True)
    rows = sorted(tuple(y.numpy().tolist()) for _, y in ds)
    assert rows == [(0.0, 0.0), (1.0, 1.0)]


def test_large_images_decode_at_a_dct_scale_and_max_side_builds_decode_in_full(h, tmp_path):
    """Stored images at least 4x the target side are decoded at 1/4 scale (fast IDCT), then
    resized; a build whose --max-side rules that out decodes every record in full (and does not
    parse the size features it would need)."""
    import tensorflow as tf

    d = tmp_path / "d"
    for i in range(4):
        h.pair(d, f"big_{i}", {"label": "ab"[i % 2]}, h.image(200, 176, seed=i), ".jpg", "JPEG")
    full = h.build(d, tmp_path / "full", label_field="label", val_fraction=0.0, stats=False).out_dir
    small = h.build(d, tmp_path / "small", label_field="label", val_fraction=0.0, max_side=60, stats=False).out_dir

    def read(out):
        ds = load_dataset(out, "train", image_size=SIZE, batch_size=None, shuffle=False, deterministic=True)
        return [x.numpy() for x, _ in ds]

    def reference(data, ratio):
        img = tf.io.decode_jpeg(data, channels=3, ratio=ratio, dct_method="INTEGER_FAST" if ratio > 1 else "")
        return tf.image.resize(img, [SIZE, SIZE]).numpy()

    for out, ratio in ((full, 4), (small, 1)):
        records = [r["image/encoded"][0] for r in h.records(out, "train")]
        got = read(out)
        assert len(got) == len(records) == 4
        for data, x in zip(records, got):
            np.testing.assert_allclose(x, reference(data, ratio), atol=1e-3)
    # the scale is really in use: a full decode of the same records reads differently
    full_records = [r["image/encoded"][0] for r in h.records(full, "train")]
    assert max(np.abs(x - reference(data, 1)).max() for data, x in zip(full_records, read(full))) > 1.0
