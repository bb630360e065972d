# Source: tensorflow/docs, site/en/tutorials/images/classification.ipynb
#   ("Image classification", https://www.tensorflow.org/tutorials/images/classification), the first model.
# Original: flowers (5 classes) at 180 px: Sequential([Rescaling(1./255), Conv2D(16, 3, relu),
#   MaxPooling2D, Conv2D(32, 3, relu), MaxPooling2D, Conv2D(64, 3, relu), MaxPooling2D, Flatten,
#   Dense(128, relu), Dense(num_classes)]) -- logits; optimizer 'adam',
#   loss SparseCategoricalCrossentropy(from_logits=True) on integer labels.
# Bug: none (healthy, the official way).
# Made small: 32-px input, the six-class sample build. Layer stack, widths (already small),
#   activations, loss and optimizer unchanged -- including the sparse loss: the tutorial's users
#   compile with it, so train-check has to cope with it.
import keras
import tensorflow as tf
from keras import layers

SOURCE = "tensorflow/docs site/en/tutorials/images/classification.ipynb (first model)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE: set[str] = {"training.cannot_overfit", "training.logits_as_probabilities", "training.num_outputs_mismatch"}


def build(num_classes, input_shape):
    model = keras.Sequential([
        keras.Input(input_shape),
        layers.Rescaling(1. / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes),
    ])
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model
