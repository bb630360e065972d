# Source: https://keras.io/guides/preprocessing_layers/ (keras-team/keras-io guides/preprocessing_layers.py,
#   "Quick recipes" -> "Image data augmentation")
# Original: (x_train, y_train) = keras.datasets.cifar10.load_data(); Dataset.from_tensor_slices((x_train,
#   y_train)).batch(16).map(lambda x, y: (data_augmentation(x), y)) with RandomFlip("horizontal"),
#   RandomRotation(0.1), RandomZoom(0.1); raw uint8 -> float 0..255 batches, (N, 1) integer labels; the
#   model rescales inside: Rescaling(1.0 / 255) -> keras.applications.ResNet50(weights=None,
#   input_shape=input_shape, classes=10); sparse_categorical_crossentropy; fit(steps_per_epoch=5).
# Bug: none (healthy): ResNet50 is built with weights=None and trained from scratch, so [0, 1] inputs
#   are a legitimate choice (no ImageNet statistics to match); the guide's own example.
# Shrunk: CIFAR-10 -> the six classes of sample photos as a CIFAR-like (N, 32, 32, 3) uint8 array with
#   (N, 1) labels in a fixed shuffled order (CIFAR-10 is not class-sorted; the guide adds no shuffle),
#   classes=6, batch 8.
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from ._data import load_data

BACKBONE = "resnet50"
SOURCE = "train_dataset"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.rescaled_0_1"}

# Create a data augmentation stage with horizontal flipping, rotations, zooms
data_augmentation = keras.Sequential(
    [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.1),
    ]
)
classes = 6
input_shape = (32, 32, 3)


def train_dataset():
    # Load some data
    x_train, y_train = load_data("six", size=32)
    order = np.random.default_rng(2).permutation(len(x_train))  # CIFAR-10's own (fixed) record order
    x_train, y_train = x_train[order], y_train[order]
    # Create a tf.data pipeline of augmented images (and their labels)
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train_dataset = train_dataset.batch(8).map(lambda x, y: (data_augmentation(x), y))
    return train_dataset


def build_model():
    # Create a model and train it on the augmented image data
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)  # Rescale inputs
    outputs = keras.applications.ResNet50(  # Add the rest of the model
        weights=None, input_shape=input_shape, classes=classes
    )(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model
