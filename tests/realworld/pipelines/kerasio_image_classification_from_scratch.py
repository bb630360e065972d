# Source: https://keras.io/examples/vision/image_classification_from_scratch/
#   (keras-team/keras-io examples/vision/image_classification_from_scratch.py, Keras 3 version, 2023/11/09)
# Original: keras.utils.image_dataset_from_directory("PetImages", validation_split=0.2, subset="both",
#   seed=1337, image_size=(180, 180), batch_size=128); data_augmentation (RandomFlip("horizontal"),
#   RandomRotation(0.1)) applied to the *batched* dataset with train_ds.map(lambda img, label:
#   (data_augmentation(img), label), num_parallel_calls=AUTOTUNE); prefetch(AUTOTUNE). Raw 0..255 float
#   batches; the small Xception-like model starts with layers.Rescaling(1.0 / 255); one logit,
#   BinaryCrossentropy(from_logits=True). No pretrained backbone.
# Bug: none (healthy).
# Shrunk: PetImages -> the two-class sample photos (cat, rocket), image 32 px, batch 8, widths
#   128/256/512/728/1024 -> 8/16/16/16/32.
import keras
from keras import layers
from tensorflow import data as tf_data

from ._data import photo_dir

BACKBONE = None
SOURCE = "train_ds"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.shape_changed"}

image_size = (32, 32)
batch_size = 8

data_augmentation_layers = [
    layers.RandomFlip("horizontal"),
    layers.RandomRotation(0.1),
]


def data_augmentation(images):
    for layer in data_augmentation_layers:
        images = layer(images)
    return images


def train_ds():
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        photo_dir("two"),
        validation_split=0.2,
        subset="both",
        seed=1337,
        image_size=image_size,
        batch_size=batch_size,
    )
    # Apply `data_augmentation` to the training images.
    train_ds = train_ds.map(
        lambda img, label: (data_augmentation(img), label),
        num_parallel_calls=tf_data.AUTOTUNE,
    )
    # Prefetching samples in GPU memory helps maximize GPU utilization.
    train_ds = train_ds.prefetch(tf_data.AUTOTUNE)
    return train_ds


def make_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)

    # Entry block
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    for size in [16, 16, 16]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    x = layers.SeparableConv2D(32, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        units = 1
    else:
        units = num_classes

    x = layers.Dropout(0.25)(x)
    # We specify activation=None so as to return logits
    outputs = layers.Dense(units, activation=None)(x)
    return keras.Model(inputs, outputs)


def build_model():
    model = make_model(input_shape=image_size + (3,), num_classes=2)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-4),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(name="acc")],
    )
    return model
