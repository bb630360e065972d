# Source: keras-team/keras, examples/cifar10_resnet.py (Keras 2 examples; "Trains a ResNet on the
#   CIFAR10 dataset", https://keras.io/examples/cifar10_resnet/ in the Keras 2 docs).
# Original: ResNet v1 (depth 6n+2, n=3 -> ResNet20) on CIFAR-10 (32 px, 10 classes): resnet_layer =
#   Conv2D(he_normal, l2(1e-4)) -> BatchNormalization -> ReLU; 3 stacks of residual blocks (16, 32,
#   64 filters, stride 2 and a 1x1 projection at each new stack), AveragePooling2D(8), Flatten,
#   Dense(num_classes, softmax, he_normal); Adam(lr_schedule(0) = 1e-3), categorical_crossentropy.
#   The script divides the images by 255 before fit.
# Bug: none (healthy, the official way).
# Made small: n=1 (ResNet8), the six-class sample build at 32 px (CIFAR's size). The /255 moves into
#   the model as Rescaling(1/255), since train-check feeds the build's 0-255 pixels.
import keras
from keras.layers import Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Flatten, Input, Rescaling
from keras.models import Model
from keras.optimizers import Adam
from keras.regularizers import l2

SOURCE = "keras-team/keras examples/cifar10_resnet.py (resnet_v1)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE: set[str] = {"training.cannot_overfit", "training.bn_stats_frozen", "training.vanishing_gradients"}


def resnet_layer(inputs, num_filters=16, kernel_size=3, strides=1, activation="relu", batch_normalization=True,
                 conv_first=True):
    conv = Conv2D(num_filters, kernel_size=kernel_size, strides=strides, padding="same",
                  kernel_initializer="he_normal", kernel_regularizer=l2(1e-4))
    x = inputs
    if conv_first:
        x = conv(x)
        if batch_normalization:
            x = BatchNormalization()(x)
        if activation is not None:
            x = Activation(activation)(x)
    else:
        if batch_normalization:
            x = BatchNormalization()(x)
        if activation is not None:
            x = Activation(activation)(x)
        x = conv(x)
    return x


def resnet_v1(input_shape, depth, num_classes=10):
    if (depth - 2) % 6 != 0:
        raise ValueError("depth should be 6n+2 (eg 20, 32, 44 in [a])")
    num_filters = 16
    num_res_blocks = int((depth - 2) / 6)

    inputs = Input(shape=input_shape)
    x = Rescaling(1.0 / 255)(inputs)
    x = resnet_layer(inputs=x)
    for stack in range(3):
        for res_block in range(num_res_blocks):
            strides = 1
            if stack > 0 and res_block == 0:
                strides = 2  # downsample
            y = resnet_layer(inputs=x, num_filters=num_filters, strides=strides)
            y = resnet_layer(inputs=y, num_filters=num_filters, activation=None)
            if stack > 0 and res_block == 0:
                x = resnet_layer(inputs=x, num_filters=num_filters, kernel_size=1, strides=strides, activation=None,
                                 batch_normalization=False)
            x = keras.layers.add([x, y])
            x = Activation("relu")(x)
        num_filters *= 2

    x = AveragePooling2D(pool_size=8)(x)
    y = Flatten()(x)
    outputs = Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(y)
    return Model(inputs=inputs, outputs=outputs)


def build(num_classes, input_shape):
    model = resnet_v1(input_shape=input_shape, depth=8, num_classes=num_classes)
    model.compile(loss="categorical_crossentropy", optimizer=Adam(learning_rate=1e-3), metrics=["accuracy"])
    return model
