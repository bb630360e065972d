# Source: https://github.com/keras-team/keras-io/issues/1549 ("Problem training EfficientNetB0 on CIFAR-10
#   with a minimal code (same code works with MobileNet)")
# Original: x_train = cifar10 x_train.astype("float32") / 255; model = keras.Sequential([Input((32, 32, 3)),
#   Resizing(224, 224), EfficientNetB0(weights='imagenet', include_top=False), GlobalAveragePooling2D(),
#   Dense(10, softmax)]); model.fit(x_train, y_train, batch_size=64, epochs=3, validation_split=0.1).
# Bug: EfficientNet rescales inside and expects [0, 255]; the /255 data reach it as [0, 1] (MobileNet,
#   which the asker also tried with the same data, is no better off: it expects [-1, 1]).
# Shrunk: CIFAR-10 (a download) -> the six classes of sample photos at 32 px; Resizing(224) -> Resizing(48);
#   weights=None marked pretrained (stand_ins.pretrained, as the original's ImageNet weights); model.fit's slicing of the arrays written as the tf.data batches Keras makes of them.
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras.applications import EfficientNetB0

from ._data import load_data
from stand_ins import pretrained

BACKBONE = "efficientnetb0"
SOURCE = "train_batches"
MODEL = "build_model"
IMAGE_SIZE = 48  # what EfficientNet receives after the model's Resizing
HEALTHY = False
MUST_RAISE = {"input_range.rescaled_0_1"}
MUST_NOT_RAISE = {"generator.exhausted"}


def train_batches():
    (x_train, y_train) = load_data("six", size=32)
    x_train = x_train.astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train, 6)
    # model.fit(x_train, y_train, batch_size=64, validation_split=0.1) slices the arrays like this:
    n_train = int(len(x_train) * 0.9)
    return tf.data.Dataset.from_tensor_slices((x_train[:n_train], y_train[:n_train])).shuffle(n_train).batch(16)


def build_model():
    backbone = pretrained(EfficientNetB0(weights=None, include_top=False, input_shape=(48, 48, 3)))
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            keras.layers.Resizing(48, 48),
            backbone,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(6, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
