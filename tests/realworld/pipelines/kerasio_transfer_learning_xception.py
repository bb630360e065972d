# Source: https://keras.io/guides/transfer_learning/ (keras-team/keras-io guides/transfer_learning.py,
#   "An end-to-end example: fine-tuning an image classification model on a cats vs. dogs dataset")
# Original: tfds cats_vs_dogs -> map(tf.image.resize(x, (150, 150))) -> cache().batch(32).prefetch(10), raw
#   0..255 pixels; the model scales inside: data_augmentation -> Rescaling(scale=1/127.5, offset=-1) ->
#   Xception(weights="imagenet", include_top=False) called with training=False -> GAP -> Dropout -> Dense(1).
# Bug: none (healthy).
# Shrunk: tfds (a download) -> the two-class sample photos in a fixed shuffled order (as TFDS shards
#   come), resized to 72 px (Xception's minimum is 71), batch 8, weights=None marked pretrained
#   (stand_ins.pretrained, as the original's ImageNet weights).
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from ._data import load_data
from stand_ins import pretrained

BACKBONE = "xception"
SOURCE = "train_ds"
MODEL = "build_model"
IMAGE_SIZE = 72
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "generator.exhausted"}

size = (72, 72)
batch_size = 8


def train_ds():
    x, y = load_data("two", size=64)
    order = np.random.default_rng(0).permutation(len(x))  # TFDS's own (fixed) record order
    train_ds = tf.data.Dataset.from_tensor_slices((x[order], y[order, 0].astype("int64")))
    train_ds = train_ds.map(lambda x, y: (tf.image.resize(x, size), y))
    train_ds = train_ds.cache().batch(batch_size).prefetch(buffer_size=10)
    return train_ds


def build_model():
    data_augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    base_model = pretrained(keras.applications.Xception(weights=None, input_shape=size + (3,), include_top=False))
    base_model.trainable = False
    inputs = keras.Input(shape=size + (3,))
    x = data_augmentation(inputs)  # Apply random data augmentation
    # Pre-trained Xception weights requires that input be scaled
    # from (0, 255) to a range of (-1., +1.), the rescaling layer
    # outputs: `(inputs * scale) + offset`
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(x)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy()])
    return model
