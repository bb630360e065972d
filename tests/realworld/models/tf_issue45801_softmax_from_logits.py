# Source: tensorflow/tensorflow issue 45801, "Said in the docs to add the Softmax Activation function
#   but never did in code" (https://github.com/tensorflow/tensorflow/issues/45801), about
#   tensorflow/docs site/en/tutorials/images/cnn.ipynb (see also tensorflow/docs PR 1627, closed:
#   "the loss function is SparseCategoricalCrossentropy(from_logits=True)").
# Original: the TF "Convolutional Neural Network" tutorial on CIFAR-10: Conv2D(32, 3, relu) ->
#   MaxPooling2D -> Conv2D(64, 3, relu) -> MaxPooling2D -> Conv2D(64, 3, relu) -> Flatten ->
#   Dense(64, relu) -> Dense(10); 'adam', SparseCategoricalCrossentropy(from_logits=True); images /255.
#   The "NEW CODE" appends Activation('softmax') and keeps the loss.
# Bug: a softmax output fed to a loss built with from_logits=True: softmax is applied twice, the
#   gradients shrink and training crawls, without any error.
# Made small: 32-px RGB input (CIFAR's size), the /255 as Rescaling(1/255), the six-class sample
#   build (Dense(num_classes) in place of Dense(10)); the sparse loss is kept.
import tensorflow as tf
from tensorflow.keras import layers, models

SOURCE = "tensorflow/tensorflow#45801 on tensorflow/docs site/en/tutorials/images/cnn.ipynb"
FACTORY = "build"
DATA = "six_class"
HEALTHY = False
MUST_RAISE = {"training.probabilities_as_logits"}
MUST_NOT_RAISE: set[str] = set()


def build(num_classes, input_shape):
    model = models.Sequential()
    model.add(tf.keras.Input(input_shape))
    model.add(layers.Rescaling(1.0 / 255))
    model.add(layers.Conv2D(32, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(num_classes))
    model.add(layers.Activation("softmax"))
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model
