# Source: udacity/intro-to-ml-tensorflow, lessons/intro-to-tensorflow/
#   Part_7_Loading_Image_Data_(Solution).ipynb; bug report: issue 5 "Incorrect number of neurons in
#   output layer" (https://github.com/udacity/intro-to-ml-tensorflow/issues/5): "should be 2 because
#   there are 2 classes (cats and dogs)".
# Original: Cats vs Dogs: Flatten -> [Dense(n, relu) -> Dropout(0.3)] for n in 1024, 512, 256, 128,
#   56, 28, 14 -> Dense(10, activation='softmax'); 'adam', 'sparse_categorical_crossentropy'.
# Bug: 10 output units for 2 classes (copied from the Fashion-MNIST lesson): with integer labels
#   the loss silently trains 8 classes that never occur.
# Made small: widths 1024/512/256/128 -> 64/64/32/32 (56, 28, 14 kept), 32-px input, the two-class
#   build; the sparse loss is kept.
import tensorflow as tf

SOURCE = "udacity/intro-to-ml-tensorflow Part_7_Loading_Image_Data_(Solution).ipynb, issue #5"
FACTORY = "build"
DATA = "two_class"
HEALTHY = False
MUST_RAISE = {"training.num_outputs_mismatch"}
MUST_NOT_RAISE: set[str] = set()


def build(num_classes, input_shape):
    layer_neurons = [64, 64, 32, 32, 56, 28, 14]
    model = tf.keras.Sequential()
    model.add(tf.keras.Input(input_shape))
    model.add(tf.keras.layers.Flatten())
    for neurons in layer_neurons:
        model.add(tf.keras.layers.Dense(neurons, activation="relu"))
        model.add(tf.keras.layers.Dropout(0.3))
    model.add(tf.keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
