# Source: https://keras.io/examples/vision/deit/ (keras-team/keras-io examples/vision/deit.py,
#   "Distilling Vision Transformers")
# Original: tf.keras.utils.set_random_seed(42) after the imports; tfds.load("tf_flowers",
#   split=["train[:90%]", "train[90%:]"], as_supervised=True) (decoded uint8 images of varying size, int64
#   labels); prepare_dataset(is_training=True): dataset.shuffle(BATCH_SIZE * 10) -> map(fn) where fn
#   resizes to (RESOLUTION + 20) -> tf.image.random_crop to RESOLUTION = 224 -> tf.image.random_flip_left_right
#   -> tf.one_hot(label, 5) -> batch(256) -> prefetch; deit_distiller.fit(train_dataset, epochs=20) (finite:
#   a new iterator each epoch). The student ViT divides by 255 in its train_step; the teacher is a BiT
#   ResNet downloaded as a SavedModel.
# Bug: none (healthy). keras.utils.set_random_seed sets TensorFlow's global seed, so the crop and flip
#   ops restart their sequence every epoch, but the shuffle above the map reshuffles each epoch and hands
#   the replayed draws to other images: each image's crop and flip still change from epoch to epoch.
#   generator.augmentation_repeats_each_epoch fired here before 8d0ab7f (a false alarm; checked by
#   running this source through the random_maps.py of 8d0ab7f^, which reports RandomUniform /
#   RandomUniformInt with a fixed seed); silent since.
# Shrunk: tf_flowers -> the six sample-photo classes (64 px JPEGs decoded in a fixed shuffled order, the
#   first 90% as train), RESOLUTION 224 -> 32 (resize to 52), batch 256 -> 8, one-hot depth 6; the
#   distiller (custom train_step, a downloaded teacher) is not built, so no --model and no backbone. The
#   seed is set in train_dataset(), before the datasets are built as in the script (the corpus conftest
#   clears TensorFlow's, NumPy's, Python's and Keras's seeds around each case).
import numpy as np
import tensorflow as tf

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_dataset"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.not_shuffled", "generator.class_sorted_batches"}
MUST_NOT_WARN = {"generator.augmentation_repeats_each_epoch", "generator.augmentation_before_cache"}

# Model
RESOLUTION = 32

# Data
BATCH_SIZE = 8
AUTO = tf.data.AUTOTUNE
NUM_CLASSES = 6


def _tf_flowers_like():
    """``tfds.load("tf_flowers", split=["train[:90%]", "train[90%:]"], as_supervised=True)`` in small:
    decoded uint8 images and int64 labels, in a fixed order that is not class-sorted."""
    paths, labels, _ = files_and_labels("six")
    order = np.random.default_rng(42).permutation(len(paths))
    paths = [paths[i] for i in order]
    labels = np.asarray([labels[i] for i in order], dtype="int64")
    n_train = int(len(paths) * 0.9)

    def decode(path, label):
        return tf.io.decode_jpeg(tf.io.read_file(path), channels=3), label

    train = tf.data.Dataset.from_tensor_slices((paths[:n_train], labels[:n_train])).map(decode)
    val = tf.data.Dataset.from_tensor_slices((paths[n_train:], labels[n_train:])).map(decode)
    return train, val


def preprocess_dataset(is_training=True):
    def fn(image, label):
        if is_training:
            # Resize to a bigger spatial resolution and take the random
            # crops.
            image = tf.image.resize(image, (RESOLUTION + 20, RESOLUTION + 20))
            image = tf.image.random_crop(image, (RESOLUTION, RESOLUTION, 3))
            image = tf.image.random_flip_left_right(image)
        else:
            image = tf.image.resize(image, (RESOLUTION, RESOLUTION))
        label = tf.one_hot(label, depth=NUM_CLASSES)
        return image, label

    return fn


def prepare_dataset(dataset, is_training=True):
    if is_training:
        dataset = dataset.shuffle(BATCH_SIZE * 10)
    dataset = dataset.map(preprocess_dataset(is_training), num_parallel_calls=AUTO)
    return dataset.batch(BATCH_SIZE).prefetch(AUTO)


def train_dataset():
    tf.keras.utils.set_random_seed(42)

    train_dataset, val_dataset = _tf_flowers_like()
    train_dataset = prepare_dataset(train_dataset, is_training=True)
    return train_dataset
