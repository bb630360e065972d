# Source: https://keras.io/examples/vision/randaugment/ (keras-team/keras-io examples/vision/randaugment.py,
#   "RandAugment for Image Classification for Improved Robustness", the `simple_aug` training set)
# Original: CIFAR-10 (x_train uint8, y_train (N, 1)); Dataset.from_tensor_slices((x_train, y_train))
#   .shuffle(BATCH_SIZE * 100).batch(BATCH_SIZE).map(lambda x, y: (simple_aug(x), y)).prefetch(AUTO)
#   where simple_aug = Sequential([Resizing(72, 72), RandomFlip("horizontal"), RandomRotation(0.02),
#   RandomZoom(0.2, 0.2)]); raw 0..255 float batches into Sequential([Input((72, 72, 3)),
#   Rescaling(scale=1.0 / 127.5, offset=-1), ResNet50V2(weights=None, include_top=True, classes=10)]);
#   sparse_categorical_crossentropy. (The RandAugment set itself uses imgaug inside tf.py_function: not
#   installed here, so the example's comparison set, same model, is the one adapted.)
# Bug: none (healthy).
# Shrunk: CIFAR-10 -> the six classes of sample photos as 32 px uint8 arrays, batch 8, classes=6,
#   weights=None as in the original; Resizing to 72 kept.
import tensorflow as tf
from tensorflow.keras import layers

from ._data import load_data

BACKBONE = "resnet50v2"
SOURCE = "train_ds_simple"
MODEL = "get_training_model"
IMAGE_SIZE = 72
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "generator.class_sorted_batches"}

tf.random.set_seed(42)
AUTO = tf.data.AUTOTUNE
BATCH_SIZE = 8

simple_aug = tf.keras.Sequential(
    [
        layers.Resizing(72, 72),
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(factor=0.02),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ]
)


def train_ds_simple():
    x_train, y_train = load_data("six", size=32)
    train_ds_simple = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(BATCH_SIZE * 100)
        .batch(BATCH_SIZE)
        .map(lambda x, y: (simple_aug(x), y), num_parallel_calls=AUTO)
        .prefetch(AUTO)
    )
    return train_ds_simple


def get_training_model():
    resnet50_v2 = tf.keras.applications.ResNet50V2(
        weights=None, include_top=True, input_shape=(72, 72, 3), classes=6
    )
    model = tf.keras.Sequential(
        [
            layers.Input((72, 72, 3)),
            layers.Rescaling(scale=1.0 / 127.5, offset=-1),
            resnet50_v2,
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
