# Source: https://github.com/tensorflow/docs/blob/master/site/en/guide/mixed_precision.ipynb
#   ("Mixed precision", https://www.tensorflow.org/guide/mixed_precision), "Building the model".
# Original: mixed_precision.set_global_policy('mixed_float16'); MNIST flattened to 784 floats / 255;
#   Input(784) -> Dense(num_units, relu) -> Dense(num_units, relu) (num_units = 4096 on a GPU, 64 on a
#   CPU) -> Dense(10) logits -> Activation('softmax', dtype='float32') (the guide's "CORRECT" output);
#   loss 'sparse_categorical_crossentropy', RMSprop() (lr 1e-3), Model.fit's automatic loss scaling.
# Bug: none (healthy, the official way).
# Made small: the guide's CPU width (64 units), the six-class sample build at 32 px; the guide divides
#   by 255 and reshapes before fit, so the model starts with Rescaling(1/255) + Flatten (train-check
#   feeds 0-255 images). The global policy is put back after the model is built and compiled, so the
#   rest of the test session runs in float32; the layers keep their mixed_float16 policy.
import keras
from keras import layers

SOURCE = "tensorflow/docs site/en/guide/mixed_precision.ipynb (mixed_float16 MLP)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE: set[str] = {"training.cannot_overfit", "training.nan", "training.logits_as_probabilities",
                            "training.probabilities_as_logits", "training.weights_not_updating"}


def build(num_classes, input_shape):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input(shape=input_shape, name="digits")
        x = layers.Rescaling(1.0 / 255)(inputs)
        x = layers.Flatten()(x)
        num_units = 64  # the guide's CPU width
        dense1 = layers.Dense(num_units, activation="relu", name="dense_1")
        x = dense1(x)
        dense2 = layers.Dense(num_units, activation="relu", name="dense_2")
        x = dense2(x)
        # CORRECT: softmax and model output are float32
        x = layers.Dense(num_classes, name="dense_logits")(x)
        outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
        model = keras.Model(inputs=inputs, outputs=outputs)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.RMSprop(),
                      metrics=["accuracy"])
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model
