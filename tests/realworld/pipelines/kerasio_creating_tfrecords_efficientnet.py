# Source: https://keras.io/examples/keras_recipes/creating_tfrecords/
#   (keras-team/keras-io examples/keras_recipes/creating_tfrecords.py, "Creating TFRecords")
# Original: COCO val2017 images written to TFRecords (image = tf.io.encode_jpeg(decode_jpeg(read_file)),
#   category_id int64, plus path/area/bbox/id/image_id); read back with TFRecordDataset(filenames,
#   num_parallel_reads=AUTOTUNE).map(parse_tfrecord_fn) (decode_jpeg(channels=3), sparse bbox to dense)
#   .map(prepare_sample) (tf.image.resize(image, (224, 224)), features["category_id"])
#   .shuffle(batch_size * 10).batch(batch_size).prefetch(AUTOTUNE); raw 0..255 float pixels into
#   tf.keras.applications.EfficientNetB0(input_tensor=Input((224, 224, 3)), weights=None, classes=91)
#   (EfficientNet rescales and normalizes inside); SparseCategoricalCrossentropy on the raw COCO
#   category ids (1..90, not contiguous).
# Bug: none (healthy).
# Shrunk: COCO -> the six classes of sample photos, given COCO-like category ids (cat=17, cup=47,
#   potted plant=64, kite=38 for the galaxy, airplane=5 for the rocket, bench=15 for the temple),
#   written to two TFRecord files of 36 in fixed shuffled order (the original's annotation order is
#   not class-sorted); image 32 px, batch 8, weights=None as in the original.
import os

import numpy as np
import tensorflow as tf

from ._data import _root, files_and_labels

BACKBONE = "efficientnetb0"
SOURCE = "train_dataset"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.rescaled_0_1", "input_range.raw_unpreprocessed"}

COCO_IDS = {"cat": 17, "coffee": 47, "flower": 64, "galaxy": 38, "rocket": 5, "temple": 15}
batch_size = 8


def image_feature(value):
    """Returns a bytes_list from a string / byte."""
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_jpeg(value).numpy()]))


def bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))


def float_feature(value):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def int64_feature(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def float_feature_list(value):
    return tf.train.Feature(float_list=tf.train.FloatList(value=value))


def create_example(image, path, example):
    feature = {
        "image": image_feature(image),
        "path": bytes_feature(path),
        "area": float_feature(example["area"]),
        "bbox": float_feature_list(example["bbox"]),
        "category_id": int64_feature(example["category_id"]),
        "id": int64_feature(example["id"]),
        "image_id": int64_feature(example["image_id"]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def parse_tfrecord_fn(example):
    feature_description = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "path": tf.io.FixedLenFeature([], tf.string),
        "area": tf.io.FixedLenFeature([], tf.float32),
        "bbox": tf.io.VarLenFeature(tf.float32),
        "category_id": tf.io.FixedLenFeature([], tf.int64),
        "id": tf.io.FixedLenFeature([], tf.int64),
        "image_id": tf.io.FixedLenFeature([], tf.int64),
    }
    example = tf.io.parse_single_example(example, feature_description)
    example["image"] = tf.io.decode_jpeg(example["image"], channels=3)
    example["bbox"] = tf.sparse.to_dense(example["bbox"])
    return example


def _write_tfrecords():
    tfrecords_dir = str(_root() / "tfrecords_coco_like")
    done = os.path.join(tfrecords_dir, ".complete")
    if os.path.isfile(done):
        return tfrecords_dir
    os.makedirs(tfrecords_dir, exist_ok=True)
    paths, labels, classes = files_and_labels("six")
    order = np.random.default_rng(3).permutation(len(paths))
    annotations = [
        {"image_path": paths[i], "category_id": COCO_IDS[classes[labels[i]]], "id": k, "image_id": int(i),
         "area": 64.0 * 64.0, "bbox": [0.0, 0.0, 64.0, 64.0]}
        for k, i in enumerate(order)
    ]
    n_samples = 36
    n_tfrecods = len(annotations) // n_samples + (1 if len(annotations) % n_samples else 0)
    for tfrec_num in range(n_tfrecods):
        samples = annotations[(tfrec_num * n_samples):((tfrec_num + 1) * n_samples)]
        with tf.io.TFRecordWriter(tfrecords_dir + "/file_%.2i-%i.tfrec" % (tfrec_num, len(samples))) as writer:
            for sample in samples:
                image = tf.io.decode_jpeg(tf.io.read_file(sample["image_path"]))
                example = create_example(image, sample["image_path"], sample)
                writer.write(example.SerializeToString())
    with open(done, "w") as f:
        f.write("ok")
    return tfrecords_dir


def prepare_sample(features):
    image = tf.image.resize(features["image"], size=(32, 32))
    return image, features["category_id"]


def get_dataset(filenames, batch_size):
    """Return a Tensorflow dataset ready for training or inference."""
    dataset = (
        tf.data.TFRecordDataset(filenames, num_parallel_reads=tf.data.experimental.AUTOTUNE)
        .map(parse_tfrecord_fn, num_parallel_calls=tf.data.experimental.AUTOTUNE)
        .map(prepare_sample, num_parallel_calls=tf.data.experimental.AUTOTUNE)
        .shuffle(batch_size * 10)
        .batch(batch_size)
        .prefetch(tf.data.experimental.AUTOTUNE)
    )
    return dataset


def train_dataset():
    tfrecords_dir = _write_tfrecords()
    train_filenames = tf.io.gfile.glob(tfrecords_dir + "/*.tfrec")
    return get_dataset(train_filenames, batch_size)


def build_model():
    input_tensor = tf.keras.layers.Input(shape=(32, 32, 3), name="image")
    model = tf.keras.applications.EfficientNetB0(input_tensor=input_tensor, weights=None, classes=91)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=["sparse_categorical_accuracy"],
    )
    return model
