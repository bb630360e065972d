# Source: Cross Validated question 481881, "Convolutional neural network fails even when given answer"
#   (https://stats.stackexchange.com/questions/481881).
# Original: a binary CNN that predicts "true" for every input: Conv2D(30, 3, relu) -> Conv2D(64, 3,
#   relu) -> Flatten -> Dense(1, activation='softmax'); 'adam', 'categorical_crossentropy'.
# Bug: softmax over a single unit is the constant 1.0 -- the same prediction for every input, and no
#   gradient reaches the weights (the answer: use Dense(1, sigmoid) + binary_crossentropy, or
#   Dense(2, softmax)).
# Made small: widths 30/64 -> 8/16, 32-px RGB images of the two-class build in place of the 99x25x2
#   arrays.
from keras.layers import Conv2D, Dense, Flatten, Input
from keras.models import Sequential

SOURCE = "https://stats.stackexchange.com/questions/481881"
FACTORY = "build"
DATA = "two_class"
HEALTHY = False
MUST_RAISE = {"training.constant_output"}
MUST_NOT_RAISE: set[str] = set()


def build(num_classes, input_shape):
    model = Sequential([
        Input(input_shape),
        Conv2D(8, kernel_size=3, activation="relu"),
        Conv2D(16, kernel_size=3, activation="relu"),
        Flatten(),
        Dense(1, activation="softmax"),
    ])
    model.compile("adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model
