"""Models that preprocess inside, written the way their sources write them, and the raw batches they eat.

Each factory keeps its source's layer stack and shrinks only the input size; ``weights=None`` (no
download). Used by test_model_input.py through ``--model model_input_cases:<factory>``.
"""

from __future__ import annotations

import numpy as np
from input_range_sources import photos

SIZE = 32


def raw_batches(size: int = SIZE):
    """What ``image_dataset_from_directory`` yields: float32 RGB in [0, 255], integer labels."""
    x = photos(size)
    y = np.arange(len(x)) % 2
    for start in range(0, len(x), 4):
        yield x[start:start + 4], y[start:start + 4]


def tutorial_batches_preprocessed(size: int = SIZE):
    """The same batches with mobilenet_v2.preprocess_input already applied in the data pipeline."""
    from keras.applications.mobilenet_v2 import preprocess_input

    for x, y in raw_batches(size):
        yield np.asarray(preprocess_input(x.copy())), y


def tf_transfer_learning_tutorial(input_shape=(SIZE, SIZE, 3)):
    """https://www.tensorflow.org/tutorials/images/transfer_learning ("Create the base model from the
    pre-trained convnets" and "Build the model"): augmentation, then mobilenet_v2.preprocess_input on the
    model's input, then the frozen base called with training=False. Healthy: the batches stay raw."""
    import keras
    import tensorflow as tf

    data_augmentation = keras.Sequential([
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(0.2),
    ])
    preprocess_input = tf.keras.applications.mobilenet_v2.preprocess_input
    base_model = tf.keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=None)
    base_model.trainable = False
    inputs = keras.Input(shape=input_shape)
    x = data_augmentation(inputs)
    x = preprocess_input(x)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0001),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def keras_io_xception_rescaling(input_shape=(SIZE * 3, SIZE * 3, 3)):
    """https://keras.io/guides/transfer_learning/ ("An end-to-end example"): Xception's [-1, 1] range
    made inside the model by ``Rescaling(scale=1 / 127.5, offset=-1)``. Healthy on raw batches."""
    import keras

    base_model = keras.applications.Xception(weights=None, input_shape=input_shape, include_top=False)
    base_model.trainable = False
    inputs = keras.Input(shape=input_shape)
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(inputs)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    return keras.Model(inputs, outputs)


def lambda_preprocess_resnet(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """A common pattern (e.g. StackOverflow answers on ResNet50 fine-tuning): ``Lambda(preprocess_input)``
    as the first layer of a Sequential. Healthy on raw batches."""
    import keras
    from keras.applications.resnet50 import preprocess_input

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Lambda(preprocess_input),
        keras.applications.ResNet50(include_top=False, weights=None, input_shape=input_shape, pooling="avg"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def rescaling_before_resnet(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """The seed-001 bug moved into the model: ``Rescaling(1/255)`` in front of ResNet50, which expects
    caffe-mode input. The data are raw; the backbone receives [0, 1]."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Rescaling(1.0 / 255),
        keras.applications.ResNet50(include_top=False, weights=None, input_shape=input_shape, pooling="avg"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def efficientnet_itself(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """EfficientNetB0 as the whole model (keras.io "Image classification via fine-tuning with
    EfficientNet", built with ``input_tensor=`` after augmentation): its own Rescaling and Normalization
    layers are the backbone's, not a preprocessing step of the user's. Healthy on raw batches."""
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.RandomFlip()(inputs)
    return keras.applications.EfficientNetB0(include_top=True, weights=None, input_tensor=x, classes=num_classes)
