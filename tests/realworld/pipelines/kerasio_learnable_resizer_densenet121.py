# Source: https://keras.io/examples/vision/learnable_resizer/ (keras-team/keras-io
#   examples/vision/learnable_resizer.py, "Learning to Resize in Computer Vision")
# Original: tfds.load("cats_vs_dogs", split=["train[:40%]", "train[40%:50%]"], as_supervised=True) (decoded
#   uint8 images of varying size, int64 labels); preprocess_dataset: tf.image.resize(image, INP_SIZE =
#   (300, 300)), label = tf.one_hot(label, depth=2); train_ds.shuffle(BATCH_SIZE * 100).map(
#   preprocess_dataset).batch(64).prefetch(AUTO); raw 0..255 float batches into Model(Input((300, 300,
#   3)) -> Rescaling(1.0 / 255) -> learnable_resizer (a small conv net: naive Resizing to TARGET_SIZE =
#   (150, 150) plus a learned residual) -> DenseNet121(weights=None, include_top=True, classes=2,
#   input_shape=(150, 150, 3))); CategoricalCrossentropy(label_smoothing=0.1), "sgd"; trained from scratch.
# Bug: none (healthy): DenseNet121 is trained from scratch here, behind a learned resizer, on [0, 1]
#   images; there are no ImageNet statistics for its inputs to match, so rescaled_0_1 is an info, as it is
#   without the resizer. Was a false alarm until 2026-12-05 (see PIPELINES.md, I): the input-stage walk
#   stops at learnable_resizer (a nested model with weights), found no backbone inside it and judged the
#   Rescaling output against pretrained DenseNet121 statistics (a warning); the weights of the
#   keras.applications model after it now decide.
# Shrunk: cats_vs_dogs -> the two-class sample photos (cat, rocket: 64 px JPEGs decoded in a fixed
#   shuffled order, as the TFDS split's order is fixed), the first 40% kept as train[:40%] is (12 of 32);
#   INP_SIZE 300 -> 48, TARGET_SIZE 150 -> 32, batch 64 -> 4 (three batches).
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from ._data import files_and_labels

BACKBONE = "densenet121"
SOURCE = "train_ds"
MODEL = "get_model"
IMAGE_SIZE = 48
BATCHES = 3
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {
    "generator.exhausted",
    "generator.class_sorted_batches",
    "input_range.rescaled_0_1",
    "input_range.raw_unpreprocessed",
}
MUST_NOT_WARN = {"input_range.rescaled_0_1"}

INP_SIZE = (48, 48)
TARGET_SIZE = (32, 32)
INTERPOLATION = "bilinear"

AUTO = tf.data.AUTOTUNE
BATCH_SIZE = 4
EPOCHS = 5


def _cats_vs_dogs_like():
    paths, labels, _ = files_and_labels("two")
    order = np.random.default_rng(40).permutation(len(paths))
    paths = [paths[i] for i in order]
    labels = np.asarray([labels[i] for i in order], dtype="int64")
    n_train = int(len(paths) * 0.4)

    def decode(path, label):
        return tf.io.decode_jpeg(tf.io.read_file(path), channels=3), label

    return tf.data.Dataset.from_tensor_slices((paths[:n_train], labels[:n_train])).map(decode)


def preprocess_dataset(image, label):
    image = tf.image.resize(image, (INP_SIZE[0], INP_SIZE[1]))
    label = tf.one_hot(label, depth=2)
    return (image, label)


def train_ds():
    train_ds = _cats_vs_dogs_like()
    train_ds = (
        train_ds.shuffle(BATCH_SIZE * 100)
        .map(preprocess_dataset, num_parallel_calls=AUTO)
        .batch(BATCH_SIZE)
        .prefetch(AUTO)
    )
    return train_ds


def conv_block(x, filters, kernel_size, strides, activation=layers.LeakyReLU(0.2)):
    x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    if activation:
        x = activation(x)
    return x


def res_block(x):
    inputs = x
    x = conv_block(x, 16, 3, 1)
    x = conv_block(x, 16, 3, 1, activation=None)
    return layers.Add()([inputs, x])


def get_learnable_resizer(filters=16, num_res_blocks=1, interpolation=INTERPOLATION):
    inputs = layers.Input(shape=[None, None, 3])

    # First, perform naive resizing.
    naive_resize = layers.Resizing(*TARGET_SIZE, interpolation=interpolation)(inputs)

    # First convolution block without batch normalization.
    x = layers.Conv2D(filters=filters, kernel_size=7, strides=1, padding="same")(inputs)
    x = layers.LeakyReLU(0.2)(x)

    # Second convolution block with batch normalization.
    x = layers.Conv2D(filters=filters, kernel_size=1, strides=1, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.BatchNormalization()(x)

    # Intermediate resizing as a bottleneck.
    bottleneck = layers.Resizing(*TARGET_SIZE, interpolation=interpolation)(x)

    # Residual passes.
    x = res_block(bottleneck)
    for _ in range(num_res_blocks - 1):
        x = res_block(x)

    # Projection.
    x = layers.Conv2D(filters=filters, kernel_size=3, strides=1, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)

    # Skip connection.
    x = layers.Add()([bottleneck, x])

    # Final resized image.
    x = layers.Conv2D(filters=3, kernel_size=7, strides=1, padding="same")(x)
    final_resize = layers.Add()([naive_resize, x])

    return tf.keras.Model(inputs, final_resize, name="learnable_resizer")


def get_model():
    learnable_resizer = get_learnable_resizer()
    backbone = tf.keras.applications.DenseNet121(
        weights=None,
        include_top=True,
        classes=2,
        input_shape=((TARGET_SIZE[0], TARGET_SIZE[1], 3)),
    )
    backbone.trainable = True

    inputs = layers.Input((INP_SIZE[0], INP_SIZE[1], 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)
    x = learnable_resizer(x)
    outputs = backbone(x)

    model = tf.keras.Model(inputs, outputs)
    model.compile(
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    return model
