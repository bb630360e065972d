# Source: https://github.com/ageron/handson-ml3/blob/main/14_deep_computer_vision_with_cnns.ipynb
#   (A. Géron, "Hands-On Machine Learning", 3rd ed., chapter 14, "Pretrained Models for Transfer Learning")
# Original: tfds.load("tf_flowers", split=["train[:10%]", "train[10%:25%]", "train[25%:]"],
#   as_supervised=True) (decoded uint8 images of varying size, int64 labels); preprocess =
#   tf.keras.Sequential([Resizing(height=224, width=224, crop_to_aspect_ratio=True),
#   Lambda(tf.keras.applications.xception.preprocess_input)]); train_set = train_set_raw.map(lambda X, y:
#   (preprocess(X), y)).shuffle(1000, seed=42).batch(32).prefetch(1); base_model = Xception(
#   weights="imagenet", include_top=False), inlined: Model(inputs=base_model.input, outputs=Dense(
#   n_classes, softmax)(GlobalAveragePooling2D()(base_model.output))), base frozen, SGD(0.1, momentum 0.9),
#   sparse_categorical_crossentropy, fit(train_set, epochs=3). (The chapter's data_augmentation Sequential
#   is defined but not part of this model.)
# Bug: none (healthy): Xception's own preprocess_input ([-1, 1]) applied once, per image, in the data;
#   the model takes its input straight into the pretrained base.
# Shrunk: tf_flowers -> the six sample-photo classes (64 px JPEGs decoded in a fixed shuffled order, the
#   last 75% as train[25%:]), Resizing 224 -> 72 (Xception's minimum), batch 32 -> 8, weights=None marked
#   pretrained (stand_ins.pretrained), Dense(6).
import numpy as np
import tensorflow as tf

from ._data import files_and_labels
from stand_ins import pretrained

BACKBONE = "xception"
SOURCE = "train_set"
MODEL = "build_model"
IMAGE_SIZE = 72
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {
    "generator.exhausted",
    "generator.class_sorted_batches",
    "input_range.raw_unpreprocessed",
    "input_range.preprocessed_twice",
    "input_range.channel_order_swapped",
}
MUST_NOT_WARN = {"input_range.raw_unpreprocessed", "input_range.preprocessed_twice"}

batch_size = 8
n_classes = 6


def _tf_flowers_like():
    paths, labels, _ = files_and_labels("six")
    order = np.random.default_rng(14).permutation(len(paths))
    paths = [paths[i] for i in order]
    labels = np.asarray([labels[i] for i in order], dtype="int64")
    start = int(len(paths) * 0.25)

    def decode(path, label):
        return tf.io.decode_jpeg(tf.io.read_file(path), channels=3), label

    return tf.data.Dataset.from_tensor_slices((paths[start:], labels[start:])).map(decode)


def train_set():
    train_set_raw = _tf_flowers_like()
    preprocess = tf.keras.Sequential(
        [
            tf.keras.layers.Resizing(height=72, width=72, crop_to_aspect_ratio=True),
            tf.keras.layers.Lambda(tf.keras.applications.xception.preprocess_input),
        ]
    )
    train_set = train_set_raw.map(lambda X, y: (preprocess(X), y))
    train_set = train_set.shuffle(1000, seed=42).batch(batch_size).prefetch(1)
    return train_set


def build_model():
    base_model = pretrained(
        tf.keras.applications.xception.Xception(weights=None, include_top=False, input_shape=(72, 72, 3))
    )
    avg = tf.keras.layers.GlobalAveragePooling2D()(base_model.output)
    output = tf.keras.layers.Dense(n_classes, activation="softmax")(avg)
    model = tf.keras.Model(inputs=base_model.input, outputs=output)
    for layer in base_model.layers:
        layer.trainable = False
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model
