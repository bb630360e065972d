# Source: https://keras.io/examples/vision/mnist_convnet/ (keras-team/keras-io examples/vision/mnist_convnet.py,
#   "Simple MNIST convnet")
# Original: mnist.load_data(); x_train.astype("float32") / 255; np.expand_dims(x_train, -1) -> (N, 28, 28, 1);
#   y = keras.utils.to_categorical(y, 10); Sequential(Input((28, 28, 1)), Conv2D 32, MaxPool, Conv2D 64, MaxPool,
#   Flatten, Dropout(0.5), Dense(10, softmax)); categorical_crossentropy;
#   model.fit(x_train, y_train, batch_size=128, epochs=15, validation_split=0.1).
# Bug: none (healthy).
# Shrunk: MNIST -> the six classes of sample photos as 28 px grayscale in a fixed shuffled order (MNIST is
#   not class-sorted), 6 classes, batch 16; model.fit's slicing of the arrays (last 10% held out, the rest
#   reshuffled each epoch) written as the tf.data batches Keras makes of them.
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_batches"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.channels", "generator.exhausted"}

num_classes = 6
input_shape = (28, 28, 1)
batch_size = 16


def _mnist_like():
    from PIL import Image

    paths, labels, _ = files_and_labels("six")
    x = np.stack([np.asarray(Image.open(p).convert("L").resize((28, 28), Image.BILINEAR)) for p in paths])
    y = np.asarray(labels, dtype="uint8")
    order = np.random.default_rng(3).permutation(len(x))
    return x[order], y[order]


def train_batches():
    x_train, y_train = _mnist_like()
    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    # model.fit(..., batch_size=batch_size, validation_split=0.1): the last 10% held out, the rest shuffled
    n_train = int(len(x_train) * 0.9)
    return tf.data.Dataset.from_tensor_slices((x_train[:n_train], y_train[:n_train])).shuffle(n_train).batch(batch_size)


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
