# Source: https://keras.io/examples/keras_recipes/tfrecord/ (keras-team/keras-io
#   examples/keras_recipes/tfrecord.py, "How to train a Keras model on TFRecord files", melanoma)
# Original: TFRecordDataset(filenames) with Options().experimental_deterministic = False; map(read_tfrecord):
#   parse_single_example({"image": string, "target": int64}), decode_image = decode_jpeg(channels=3) ->
#   cast float32 -> reshape([*IMAGE_SIZE, 3]); label = cast(target, int32); then .shuffle(2048)
#   .prefetch(AUTOTUNE).batch(64). Raw 0..255 into a model that preprocesses itself:
#   Input -> tf.keras.applications.xception.preprocess_input -> Xception(include_top=False,
#   weights="imagenet", trainable=False) -> GAP -> Dense(8, relu) -> Dropout(0.7) -> Dense(1, sigmoid);
#   binary_crossentropy, AUC.
# Bug: none (healthy).
# Shrunk: the SIIM-ISIC melanoma TFRecords (GCS) -> the two-class sample photos (cat = 0 "benign",
#   rocket = 1 "malignant") as 72 px JPEGs in two TFRecord files, fixed shuffled order; batch 8,
#   IMAGE_SIZE [1024, 1024] -> [72, 72] (Xception's minimum is 71), weights=None marked pretrained (stand_ins.pretrained); metrics=AUC -> [AUC]
#   (Keras 3 refuses a bare metric).
import os
from functools import partial

import numpy as np
import tensorflow as tf

from ._data import _root, files_and_labels
from stand_ins import pretrained

BACKBONE = "xception"
SOURCE = "train_dataset"
MODEL = "make_model"
IMAGE_SIZE = 72
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.preprocessed_for_in_model"}

AUTOTUNE = tf.data.AUTOTUNE
BATCH_SIZE = 8
IMAGE_SIZE_HW = [72, 72]


def _write_tfrecords():
    from PIL import Image
    import io

    folder = str(_root() / "tfrecords_melanoma_like")
    done = os.path.join(folder, ".complete")
    if os.path.isfile(done):
        return folder
    os.makedirs(folder, exist_ok=True)
    paths, labels, _ = files_and_labels("two")
    order = np.random.default_rng(5).permutation(len(paths))
    half = len(order) // 2
    for n, part in enumerate((order[:half], order[half:])):
        with tf.io.TFRecordWriter(f"{folder}/train{n:02d}-{len(part)}.tfrec") as writer:
            for i in part:
                buf = io.BytesIO()
                with Image.open(paths[i]) as img:
                    img.convert("RGB").resize(tuple(IMAGE_SIZE_HW), Image.BILINEAR).save(buf, "JPEG", quality=92)
                feature = {
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[buf.getvalue()])),
                    "target": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(labels[i])])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    with open(done, "w") as f:
        f.write("ok")
    return folder


def decode_image(image):
    image = tf.image.decode_jpeg(image, channels=3)
    image = tf.cast(image, tf.float32)
    image = tf.reshape(image, [*IMAGE_SIZE_HW, 3])
    return image


def read_tfrecord(example, labeled):
    tfrecord_format = (
        {
            "image": tf.io.FixedLenFeature([], tf.string),
            "target": tf.io.FixedLenFeature([], tf.int64),
        }
        if labeled
        else {
            "image": tf.io.FixedLenFeature([], tf.string),
        }
    )
    example = tf.io.parse_single_example(example, tfrecord_format)
    image = decode_image(example["image"])
    if labeled:
        label = tf.cast(example["target"], tf.int32)
        return image, label
    return image


def load_dataset(filenames, labeled=True):
    ignore_order = tf.data.Options()
    ignore_order.experimental_deterministic = False  # disable order, increase speed
    dataset = tf.data.TFRecordDataset(filenames)  # automatically interleaves reads from multiple files
    dataset = dataset.with_options(ignore_order)
    dataset = dataset.map(partial(read_tfrecord, labeled=labeled), num_parallel_calls=AUTOTUNE)
    return dataset


def get_dataset(filenames, labeled=True):
    dataset = load_dataset(filenames, labeled=labeled)
    dataset = dataset.shuffle(2048)
    dataset = dataset.prefetch(buffer_size=AUTOTUNE)
    dataset = dataset.batch(BATCH_SIZE)
    return dataset


def train_dataset():
    folder = _write_tfrecords()
    TRAINING_FILENAMES = tf.io.gfile.glob(folder + "/train*.tfrec")
    return get_dataset(TRAINING_FILENAMES)


def make_model():
    base_model = pretrained(tf.keras.applications.Xception(input_shape=(*IMAGE_SIZE_HW, 3), include_top=False, weights=None))
    base_model.trainable = False
    inputs = tf.keras.layers.Input([*IMAGE_SIZE_HW, 3])
    x = tf.keras.applications.xception.preprocess_input(inputs)
    x = base_model(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dense(8, activation="relu")(x)
    x = tf.keras.layers.Dropout(0.7)(x)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid")(x)
    model = tf.keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=[tf.keras.metrics.AUC(name="auc")])  # Keras 3 wants a list
    return model
