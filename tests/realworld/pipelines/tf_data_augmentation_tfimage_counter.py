# Source: https://www.tensorflow.org/tutorials/images/data_augmentation
#   (tensorflow/docs site/en/tutorials/images/data_augmentation.ipynb, "Data augmentation",
#   "Apply augmentation to a dataset" with tf.image, Option 1: tf.data.experimental.Counter)
# Original: tfds tf_flowers (as_supervised: uint8 images of any size, int64 labels); resize_and_rescale =
#   cast float32 -> tf.image.resize(IMG_SIZE) -> / 255.0; augment(image_label, seed) = resize_and_rescale
#   -> resize_with_crop_or_pad(IMG_SIZE + 6) -> stateless_random_crop(seed) -> stateless_random_brightness
#   (max_delta=0.5, new_seed from stateless_split) -> clip_by_value(0, 1); counter = Counter();
#   train_ds = Dataset.zip((train_datasets, (counter, counter))).shuffle(1000).map(augment).batch(32)
#   .prefetch(AUTOTUNE). [0, 1] inputs for the tutorial's own small CNN (no pretrained backbone).
# Bug: the Counter restarts with every iterator (model.fit makes one per epoch) and is zipped before
#   the shuffle, so image k gets seed (k, k), i.e. the same crop and brightness, in every epoch: the
#   augmentation is frozen (measured: all images identical across two passes and three fit epochs).
#   The tutorial does not say so. Its Option 2, tf.random.Generator, is
#   tf_data_augmentation_tfimage_generator (healthy).
# Caught: generator.augmentation_repeats_each_epoch (stateless ops seeded per element), a warning.
# Shrunk: tf_flowers -> the six classes of sample photos (64 px JPEG files) in a fixed shuffled order
#   (TFDS records are not class-sorted), IMG_SIZE 180 -> 32, batch 8.
import numpy as np
import tensorflow as tf

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_ds"
HEALTHY = False
MUST_RAISE = {"generator.augmentation_repeats_each_epoch"}
MUST_NOT_RAISE = {"generator.exhausted", "input_range.constant_images"}

AUTOTUNE = tf.data.AUTOTUNE
IMG_SIZE = 32
batch_size = 8


def train_datasets():
    """tfds.load('tf_flowers', split='train[:80%]', as_supervised=True) stand-in: (uint8 image, int64 label)."""
    paths, labels, _ = files_and_labels("six")
    order = np.random.default_rng(13).permutation(len(paths))
    paths = [paths[i] for i in order]
    labels = np.asarray(labels, dtype="int64")[order]
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    return ds.map(lambda p, y: (tf.io.decode_jpeg(tf.io.read_file(p), channels=3), y))


def resize_and_rescale(image, label):
    image = tf.cast(image, tf.float32)
    image = tf.image.resize(image, [IMG_SIZE, IMG_SIZE])
    image = (image / 255.0)
    return image, label


def augment(image_label, seed):
    image, label = image_label
    image, label = resize_and_rescale(image, label)
    image = tf.image.resize_with_crop_or_pad(image, IMG_SIZE + 6, IMG_SIZE + 6)
    # Make a new seed.
    new_seed = tf.random.split(seed, num=1)[0, :]
    # Random crop back to the original size.
    image = tf.image.stateless_random_crop(image, size=[IMG_SIZE, IMG_SIZE, 3], seed=seed)
    # Random brightness.
    image = tf.image.stateless_random_brightness(image, max_delta=0.5, seed=new_seed)
    image = tf.clip_by_value(image, 0, 1)
    return image, label


def train_ds():
    # Create a `Counter` object and `Dataset.zip` it together with the training set.
    counter = tf.data.experimental.Counter()
    train_ds = tf.data.Dataset.zip((train_datasets(), (counter, counter)))
    train_ds = (
        train_ds
        .shuffle(1000)
        .map(augment, num_parallel_calls=AUTOTUNE)
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )
    return train_ds
