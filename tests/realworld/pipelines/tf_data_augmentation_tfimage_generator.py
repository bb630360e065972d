# Source: https://www.tensorflow.org/tutorials/images/data_augmentation
#   (tensorflow/docs site/en/tutorials/images/data_augmentation.ipynb, "Data augmentation",
#   "Apply augmentation to a dataset" with tf.image, Option 2: tf.random.Generator)
# Original: as tf_data_augmentation_tfimage_counter (resize_and_rescale to [0, 1], resize_with_crop_or_pad,
#   stateless_random_crop, stateless_random_brightness(0.5), clip to [0, 1]) but the seed comes from
#   rng = tf.random.Generator.from_seed(123, alg='philox'); f(x, y): seed = rng.make_seeds(2)[0];
#   train_datasets.shuffle(1000).map(f).batch(32).prefetch(AUTOTUNE).
# Bug: none (healthy).
# Shrunk: as the Counter case (six classes of sample photos, IMG_SIZE 32, batch 8).
import tensorflow as tf

from .tf_data_augmentation_tfimage_counter import AUTOTUNE, augment, batch_size, train_datasets

BACKBONE = None
SOURCE = "train_ds"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "input_range.constant_images"}
MUST_NOT_WARN = {"generator.augmentation_repeats_each_epoch", "generator.augmentation_before_cache"}

# Create a generator.
rng = tf.random.Generator.from_seed(123, alg='philox')


# Create a wrapper function for updating seeds.
def f(x, y):
    seed = rng.make_seeds(2)[0]
    image, label = augment((x, y), seed)
    return image, label


def train_ds():
    train_ds = (
        train_datasets()
        .shuffle(1000)
        .map(f, num_parallel_calls=AUTOTUNE)
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )
    return train_ds
