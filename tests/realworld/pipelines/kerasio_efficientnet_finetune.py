# Source: https://keras.io/examples/vision/image_classification_efficientnet_fine_tuning/
#   (keras-team/keras-io examples/vision/image_classification_efficientnet_fine_tuning.py)
# Original: tfds stanford_dogs -> map(tf.image.resize(image, (224, 224))) -> input_preprocess (one-hot
#   labels) -> batch(64, drop_remainder=True) -> prefetch; raw 0..255 pixels, because EfficientNet
#   rescales and normalizes inside (EfficientNetB0(include_top=False, input_tensor=img_augmentation(inputs))).
# Bug: none (healthy).
# Shrunk: stanford_dogs (a download) -> six classes of sample photos in a fixed shuffled order, 32 px,
#   batch 8, weights=None marked pretrained
#   (stand_ins.pretrained, as the original's ImageNet weights).
import numpy as np
import tensorflow as tf
import keras
from keras import layers
from keras.applications import EfficientNetB0

from ._data import load_data
from stand_ins import pretrained

BACKBONE = "efficientnetb0"
SOURCE = "ds_train"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.rescaled_0_1", "input_range.raw_unpreprocessed"}

IMG_SIZE = 32
BATCH_SIZE = 8
NUM_CLASSES = 6


def ds_train():
    x, y = load_data("six", size=48)
    order = np.random.default_rng(1).permutation(len(x))
    ds_train = tf.data.Dataset.from_tensor_slices((x[order], y[order, 0].astype("int64")))
    size = (IMG_SIZE, IMG_SIZE)
    ds_train = ds_train.map(lambda image, label: (tf.image.resize(image, size), label))

    # One-hot / categorical encoding
    def input_preprocess_train(image, label):
        label = tf.one_hot(label, NUM_CLASSES)
        return image, label

    ds_train = ds_train.map(input_preprocess_train, num_parallel_calls=tf.data.AUTOTUNE)
    ds_train = ds_train.batch(batch_size=BATCH_SIZE, drop_remainder=True)
    ds_train = ds_train.prefetch(tf.data.AUTOTUNE)
    return ds_train


img_augmentation_layers = [
    layers.RandomRotation(factor=0.15),
    layers.RandomTranslation(height_factor=0.1, width_factor=0.1),
    layers.RandomFlip(),
    layers.RandomContrast(factor=0.1),
]


def img_augmentation(images):
    for layer in img_augmentation_layers:
        images = layer(images)
    return images


def build_model(num_classes: int = NUM_CLASSES):
    inputs = layers.Input(shape=(IMG_SIZE, IMG_SIZE, 3))
    model = pretrained(EfficientNetB0(include_top=False, input_tensor=img_augmentation(inputs), weights=None))
    # Freeze the pretrained weights
    model.trainable = False
    # Rebuild top
    x = layers.GlobalAveragePooling2D(name="avg_pool")(model.output)
    x = layers.BatchNormalization()(x)
    top_dropout_rate = 0.2
    x = layers.Dropout(top_dropout_rate, name="top_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="pred")(x)
    # Compile
    model = keras.Model(inputs, outputs, name="EfficientNet")
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model
