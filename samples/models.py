"""Model factories for `pipecheck train-check` / `pipecheck gate` on the bundled sample.

``build`` is a small healthy CNN; ``build_logits_mixup`` is its twin with a classic silent bug:
a softmax output fed to a loss built with ``from_logits=True`` (the loss applies softmax again,
gradients shrink, and training crawls without any error).
"""

import keras
from keras import layers


def _body(num_classes: int, input_shape: tuple) -> tuple:
    inputs = keras.Input(input_shape)
    # resnet50 (caffe) preprocessing gives mean-centred values of about +-128: bring them near +-1.
    x = layers.Rescaling(1 / 128.0)(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return inputs, outputs


def build(num_classes: int, input_shape: tuple = (64, 64, 3)) -> keras.Model:
    """Healthy: softmax output, categorical cross-entropy on probabilities, Adam 1e-3."""
    inputs, outputs = _body(num_classes, input_shape)
    model = keras.Model(inputs, outputs, name="sample_cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy())
    return model


def build_logits_mixup(num_classes: int, input_shape: tuple = (64, 64, 3)) -> keras.Model:
    """Buggy: the same network, but the loss treats its softmax probabilities as logits."""
    inputs, outputs = _body(num_classes, input_shape)
    model = keras.Model(inputs, outputs, name="sample_cnn_logits_mixup")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model
