# Source: https://keras.io/examples/vision/cutmix/ (keras-team/keras-io examples/vision/cutmix.py,
#   "CutMix data augmentation for image classification")
# Original: CIFAR-10, y = to_categorical(y, 10); preprocess_image = tf.image.resize(image, (32, 32)) ->
#   tf.image.convert_image_dtype(image, tf.float32) / 255.0 (a no-op convert on the float resize output,
#   then [0, 1]); two copies of the training set, each .shuffle(1024).map(preprocess_image), zipped;
#   train_ds.shuffle(1024).map(cutmix).batch(32).prefetch(AUTO): a Beta(0.25, 0.25) box pasted from
#   the second image into the first, labels mixed by the pasted area (soft one-hot labels). A ResNet-20
#   built from scratch (no Rescaling, no pretrained backbone), categorical_crossentropy.
# Bug: none (healthy).
# Shrunk: CIFAR-10 -> the six classes of sample photos as CIFAR-like 32 px uint8 arrays (in a fixed shuffled order:
#   CIFAR-10 is not class-sorted, so a fixed shuffled order first), 6 classes,
#   batch 8, ResNet-20 depth 20 -> 8; to_categorical cast to float32 (Keras 3 returns float64, which
#   the original's float32 lambda cannot multiply).
import numpy as np
import tensorflow as tf
from tensorflow import keras

from ._data import load_data

BACKBONE = None
SOURCE = "train_ds_cmu"
MODEL = "training_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted"}

np.random.seed(42)
tf.random.set_seed(42)

AUTO = tf.data.AUTOTUNE
BATCH_SIZE = 8
IMG_SIZE = 32
NUM_CLASSES = 6


def preprocess_image(image, label):
    image = tf.image.resize(image, (IMG_SIZE, IMG_SIZE))
    image = tf.image.convert_image_dtype(image, tf.float32) / 255.0
    return image, label


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = tf.random.gamma(shape=[size], alpha=concentration_1)
    gamma_2_sample = tf.random.gamma(shape=[size], alpha=concentration_0)
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


@tf.function
def get_box(lambda_value):
    cut_rat = tf.math.sqrt(1.0 - lambda_value)

    cut_w = IMG_SIZE * cut_rat  # rw
    cut_w = tf.cast(cut_w, tf.int32)

    cut_h = IMG_SIZE * cut_rat  # rh
    cut_h = tf.cast(cut_h, tf.int32)

    cut_x = tf.random.uniform((1,), minval=0, maxval=IMG_SIZE, dtype=tf.int32)  # rx
    cut_y = tf.random.uniform((1,), minval=0, maxval=IMG_SIZE, dtype=tf.int32)  # ry

    boundaryx1 = tf.clip_by_value(cut_x[0] - cut_w // 2, 0, IMG_SIZE)
    boundaryy1 = tf.clip_by_value(cut_y[0] - cut_h // 2, 0, IMG_SIZE)
    bbx2 = tf.clip_by_value(cut_x[0] + cut_w // 2, 0, IMG_SIZE)
    bby2 = tf.clip_by_value(cut_y[0] + cut_h // 2, 0, IMG_SIZE)

    target_h = bby2 - boundaryy1
    if target_h == 0:
        target_h += 1

    target_w = bbx2 - boundaryx1
    if target_w == 0:
        target_w += 1

    return boundaryx1, boundaryy1, target_h, target_w


@tf.function
def cutmix(train_ds_one, train_ds_two):
    (image1, label1), (image2, label2) = train_ds_one, train_ds_two

    alpha = [0.25]
    beta = [0.25]

    # Get a sample from the Beta distribution
    lambda_value = sample_beta_distribution(1, alpha, beta)

    # Define Lambda
    lambda_value = lambda_value[0][0]

    # Get the bounding box offsets, heights and widths
    boundaryx1, boundaryy1, target_h, target_w = get_box(lambda_value)

    # Get a patch from the second image (`image2`)
    crop2 = tf.image.crop_to_bounding_box(image2, boundaryy1, boundaryx1, target_h, target_w)
    # Pad the `image2` patch (`crop2`) with the same offset
    image2 = tf.image.pad_to_bounding_box(crop2, boundaryy1, boundaryx1, IMG_SIZE, IMG_SIZE)
    # Get a patch from the first image (`image1`)
    crop1 = tf.image.crop_to_bounding_box(image1, boundaryy1, boundaryx1, target_h, target_w)
    # Pad the `image1` patch (`crop1`) with the same offset
    img1 = tf.image.pad_to_bounding_box(crop1, boundaryy1, boundaryx1, IMG_SIZE, IMG_SIZE)

    # Modify the first image by subtracting the patch from `image1`
    # (before applying the `image2` patch)
    image1 = image1 - img1
    # Add the modified `image1` and `image2`  together to get the CutMix image
    image = image1 + image2

    # Adjust Lambda in accordance to the pixel ration
    lambda_value = 1 - (target_w * target_h) / (IMG_SIZE * IMG_SIZE)
    lambda_value = tf.cast(lambda_value, tf.float32)

    # Combine the labels of both images
    label = lambda_value * label1 + (1 - lambda_value) * label2
    return image, label


def train_ds_cmu():
    x, y = load_data("six", size=32)
    order = np.random.default_rng(7).permutation(len(x))  # CIFAR-10's own (not class-sorted) order
    x_train = x[order]
    y_train = tf.keras.utils.to_categorical(y[order], num_classes=NUM_CLASSES).astype("float32")  # Keras 3: float64
    train_ds_one = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(1024)
        .map(preprocess_image, num_parallel_calls=AUTO)
    )
    train_ds_two = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(1024)
        .map(preprocess_image, num_parallel_calls=AUTO)
    )
    # Combine two shuffled datasets from the same training data.
    train_ds = tf.data.Dataset.zip((train_ds_one, train_ds_two))
    train_ds_cmu = (
        train_ds.shuffle(1024)
        .map(cutmix, num_parallel_calls=AUTO)
        .batch(BATCH_SIZE)
        .prefetch(AUTO)
    )
    return train_ds_cmu


def resnet_layer(inputs, num_filters=16, kernel_size=3, strides=1, activation="relu",
                 batch_normalization=True, conv_first=True):
    conv = keras.layers.Conv2D(num_filters, kernel_size=kernel_size, strides=strides, padding="same",
                               kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.l2(1e-4))
    x = inputs
    if conv_first:
        x = conv(x)
        if batch_normalization:
            x = keras.layers.BatchNormalization()(x)
        if activation is not None:
            x = keras.layers.Activation(activation)(x)
    else:
        if batch_normalization:
            x = keras.layers.BatchNormalization()(x)
        if activation is not None:
            x = keras.layers.Activation(activation)(x)
        x = conv(x)
    return x


def resnet_v20(input_shape, depth, num_classes=10):
    if (depth - 2) % 6 != 0:
        raise ValueError("depth should be 6n+2 (eg 20, 32, 44 in [a])")
    num_filters = 16
    num_res_blocks = int((depth - 2) / 6)
    inputs = keras.layers.Input(shape=input_shape)
    x = resnet_layer(inputs=inputs)
    for stack in range(3):
        for res_block in range(num_res_blocks):
            strides = 1
            if stack > 0 and res_block == 0:
                strides = 2
            y = resnet_layer(inputs=x, num_filters=num_filters, strides=strides)
            y = resnet_layer(inputs=y, num_filters=num_filters, activation=None)
            if stack > 0 and res_block == 0:
                x = resnet_layer(inputs=x, num_filters=num_filters, kernel_size=1, strides=strides,
                                 activation=None, batch_normalization=False)
            x = keras.layers.add([x, y])
            x = keras.layers.Activation("relu")(x)
        num_filters *= 2
    x = keras.layers.AveragePooling2D(pool_size=8)(x)
    y = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(y)
    return keras.models.Model(inputs=inputs, outputs=outputs)


def training_model():
    model = resnet_v20((32, 32, 3), 8, num_classes=NUM_CLASSES)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
