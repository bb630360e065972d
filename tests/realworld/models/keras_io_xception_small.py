# Source: keras-team/keras-io, examples/vision/image_classification_from_scratch.py
#   ("Image classification from scratch", https://keras.io/examples/vision/image_classification_from_scratch/),
#   function make_model(input_shape, num_classes).
# Original: a small Xception-like network trained from scratch on Cats vs Dogs (2 classes):
#   Rescaling(1/255), Conv-BN-ReLU entry block, four residual SeparableConv2D blocks (128, 256, 512,
#   728), SeparableConv2D(1024), GlobalAveragePooling2D, Dropout(0.5), Dense(1, sigmoid) because
#   num_classes == 2; Adam(1e-3), loss "binary_crossentropy".
# Bug: none (healthy, the official way).
# Made small: widths divided by 8 (entry 32/64 -> 4/8, blocks -> 16/32/64/96, top 1024 -> 128), 32-px
#   input, the two-class build (cat vs rocket) in place of Cats vs Dogs. The data-augmentation
#   layers are mapped over the dataset in the original, not part of the model: left out.
import keras
from keras import layers

SOURCE = "keras-team/keras-io examples/vision/image_classification_from_scratch.py (make_model)"
FACTORY = "make_model"
DATA = "two_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE: set[str] = {"training.cannot_overfit", "training.constant_output", "training.num_outputs_mismatch"}


def make_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)

    # Entry block
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(4, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.Conv2D(8, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    for size in [16, 32, 64, 96]:
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

    x = layers.SeparableConv2D(128, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        activation = "sigmoid"
        units = 1
    else:
        activation = "softmax"
        units = num_classes

    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(units, activation=activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    return model
