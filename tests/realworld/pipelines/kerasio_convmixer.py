# Source: https://keras.io/examples/vision/convmixer/ (keras-team/keras-io examples/vision/convmixer.py,
#   "Image classification with ConvMixer")
# Original: cifar10.load_data() raw uint8, labels (N, 1) ids; the first 10% held out for validation;
#   from_tensor_slices((x, y)).shuffle(batch_size * 10).batch(128).map(lambda x, y: (data_augmentation(x), y))
#   .prefetch(AUTOTUNE) with data_augmentation = Sequential(RandomCrop(32, 32), RandomFlip("horizontal"));
#   the model rescales itself: Input((32, 32, 3)) -> Rescaling(1/255) -> conv stem (patch 2) -> 8 ConvMixer
#   blocks (BatchNormalization) -> GAP -> Dense(10, softmax); sparse_categorical_crossentropy.
# Bug: none (healthy).
# Shrunk: CIFAR-10 -> the six classes of sample photos at 32 px (fixed shuffled order), 6 classes, batch 128 -> 8
#   (shuffle buffer batch_size * 10 = 80), ConvMixer-256/8 -> 16 filters, depth 1.
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from ._data import load_data

BACKBONE = None
SOURCE = "train_dataset"
MODEL = "get_conv_mixer_256_8"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "generator.exhausted"}

batch_size = 8
image_size = 32
auto = tf.data.AUTOTUNE


def _cifar_like():
    x, y = load_data("six", size=32)
    order = np.random.default_rng(13).permutation(len(x))
    return x[order], y[order]


data_augmentation = keras.Sequential(
    [layers.RandomCrop(image_size, image_size), layers.RandomFlip("horizontal"),],
    name="data_augmentation",
)


def make_datasets(images, labels, is_train=False):
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if is_train:
        dataset = dataset.shuffle(batch_size * 10)
    dataset = dataset.batch(batch_size)
    if is_train:
        dataset = dataset.map(lambda x, y: (data_augmentation(x), y), num_parallel_calls=auto)
    return dataset.prefetch(auto)


def train_dataset():
    x_train, y_train = _cifar_like()
    val_split = 0.1
    val_indices = int(len(x_train) * val_split)
    new_x_train, new_y_train = x_train[val_indices:], y_train[val_indices:]
    return make_datasets(new_x_train, new_y_train, is_train=True)


def activation_block(x):
    x = layers.Activation("gelu")(x)
    return layers.BatchNormalization()(x)


def conv_stem(x, filters: int, patch_size: int):
    x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
    return activation_block(x)


def conv_mixer_block(x, filters: int, kernel_size: int):
    x0 = x
    x = layers.Conv2D(filters, kernel_size=kernel_size, groups=filters, padding="same")(x)
    x = layers.Add()([activation_block(x), x0])  # Residual.
    x = layers.Conv2D(filters, kernel_size=1)(x)
    x = activation_block(x)
    return x


def get_conv_mixer_256_8(image_size=32, filters=16, depth=1, kernel_size=5, patch_size=2, num_classes=6):
    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)
    x = conv_stem(x, filters, patch_size)
    for _ in range(depth):
        x = conv_mixer_block(x, filters, kernel_size)
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
