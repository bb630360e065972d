# Source: https://www.tensorflow.org/tutorials/images/cnn (tensorflow/docs site/en/tutorials/images/cnn.ipynb,
#   "Convolutional Neural Network (CNN)")
# Original: datasets.cifar10.load_data(); train_images / 255.0 (uint8 / float -> float64 arrays); labels kept
#   as the (N, 1) uint8 class ids; Sequential Conv2D(32)/MaxPool/Conv2D(64)/MaxPool/Conv2D(64)/Flatten/
#   Dense(64)/Dense(10) logits; SparseCategoricalCrossentropy(from_logits=True);
#   model.fit(train_images, train_labels, epochs=10, validation_data=(test_images, test_labels)) (batch 32).
# Bug: none (healthy).
# Shrunk: CIFAR-10 -> the six classes of sample photos at 32 px (a fixed shuffled order: CIFAR is not
#   class-sorted), batch 32 -> 16; model.fit's slicing of the arrays (reshuffled each epoch) written as the
#   tf.data batches Keras makes of them.
import numpy as np
import tensorflow as tf
from tensorflow.keras import datasets, layers, models

from ._data import load_data

BACKBONE = None
SOURCE = "train_batches"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted"}


def _cifar_like():
    x, y = load_data("six", size=32)
    order = np.random.default_rng(7).permutation(len(x))
    return x[order], y[order]


def train_batches():
    train_images, train_labels = _cifar_like()
    # Normalize pixel values to be between 0 and 1
    train_images = train_images / 255.0
    n = len(train_images)
    return tf.data.Dataset.from_tensor_slices((train_images, train_labels)).shuffle(n).batch(16)


def build_model():
    model = models.Sequential()
    model.add(layers.Input((32, 32, 3)))
    model.add(layers.Conv2D(32, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation='relu'))
    model.add(layers.Dense(6))
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    return model
