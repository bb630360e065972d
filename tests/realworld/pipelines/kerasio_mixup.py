# Source: https://keras.io/examples/vision/mixup/ (keras-team/keras-io examples/vision/mixup.py,
#   "MixUp augmentation for image classification")
# Original: FashionMNIST, x_train.astype("float32") / 255.0 reshaped to (-1, 28, 28, 1), y = tf.one_hot(y, 10);
#   the first 2000 set aside for validation; two copies of the rest, each
#   .shuffle(BATCH_SIZE * 100).batch(64), zipped and mapped batch-wise through mix_up (lambda per sample
#   from Beta(0.2, 0.2): images and one-hot labels mixed, so the labels are soft); a small Conv2D network
#   from scratch (input_shape (28, 28, 1)), categorical_crossentropy.
# Bug: none (healthy).
# Shrunk: FashionMNIST -> the six classes of sample photos as 28 px grayscale in a fixed shuffled order
#   (FashionMNIST is not class-sorted), 6 classes, the first 8 set aside, batch 8.
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_ds_mu"
MODEL = "get_training_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.shape_changed", "input_range.channels"}

AUTO = tf.data.AUTOTUNE
BATCH_SIZE = 8
NUM_CLASSES = 6


def _fashion_like():
    from PIL import Image

    paths, labels, _ = files_and_labels("six")
    x = np.stack([np.asarray(Image.open(p).convert("L").resize((28, 28), Image.BILINEAR)) for p in paths])
    y = np.asarray(labels, dtype="uint8")
    order = np.random.default_rng(11).permutation(len(x))
    return x[order], y[order]


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = tf.random.gamma(shape=[size], alpha=concentration_1)
    gamma_2_sample = tf.random.gamma(shape=[size], alpha=concentration_0)
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def mix_up(ds_one, ds_two, alpha=0.2):
    # Unpack two datasets
    images_one, labels_one = ds_one
    images_two, labels_two = ds_two
    batch_size = tf.shape(images_one)[0]

    # Sample lambda and reshape it to do the mixup
    l = sample_beta_distribution(batch_size, alpha, alpha)
    x_l = tf.reshape(l, (batch_size, 1, 1, 1))
    y_l = tf.reshape(l, (batch_size, 1))

    # Perform mixup on both images and labels by combining a pair of images/labels
    # (one from each dataset) into one image/label
    images = images_one * x_l + images_two * (1 - x_l)
    labels = labels_one * y_l + labels_two * (1 - y_l)
    return (images, labels)


def train_ds_mu():
    x_train, y_train = _fashion_like()
    x_train = x_train.astype("float32") / 255.0
    x_train = np.reshape(x_train, (-1, 28, 28, 1))
    y_train = tf.one_hot(y_train, NUM_CLASSES)

    # Put aside a few samples to create our validation set
    val_samples = 8
    new_x_train, new_y_train = x_train[val_samples:], y_train[val_samples:]

    train_ds_one = (
        tf.data.Dataset.from_tensor_slices((new_x_train, new_y_train))
        .shuffle(BATCH_SIZE * 100)
        .batch(BATCH_SIZE)
    )
    train_ds_two = (
        tf.data.Dataset.from_tensor_slices((new_x_train, new_y_train))
        .shuffle(BATCH_SIZE * 100)
        .batch(BATCH_SIZE)
    )
    # Because we will be mixing up the images and their corresponding labels, we will be
    # combining two shuffled datasets from the same training data.
    train_ds = tf.data.Dataset.zip((train_ds_one, train_ds_two))
    train_ds_mu = train_ds.map(lambda ds_one, ds_two: mix_up(ds_one, ds_two, alpha=0.2), num_parallel_calls=AUTO)
    return train_ds_mu


def get_training_model():
    model = tf.keras.Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.Conv2D(16, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(32, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.2),
            layers.GlobalAvgPool2D(),
            layers.Dense(128, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
