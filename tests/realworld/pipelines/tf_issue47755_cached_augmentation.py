# Source: https://github.com/tensorflow/tensorflow/issues/47755 ("Cached augmentation in segmentation
#   tutorial - this does not increase dataset size") on https://www.tensorflow.org/tutorials/images/segmentation
#   (tensorflow/docs site/en/tutorials/images/segmentation.ipynb, the 2021 version), also
#   tensorflow/docs#1097.
# Original: load_image_train(datapoint): resize to (128, 128); `if tf.random.uniform(()) > 0.5:
#   flip_left_right`; normalize: tf.cast(image, tf.float32) / 255.0; train =
#   dataset['train'].map(load_image_train); train_dataset = train.cache().shuffle(BUFFER_SIZE)
#   .batch(BATCH_SIZE).repeat(); the encoder is MobileNetV2(input_shape=[128, 128, 3],
#   include_top=False) with ImageNet weights.
# Bugs: (1) the random flip runs before cache(), so the one flip drawn in the first epoch is replayed
#   in every later epoch (augmentation frozen); (2) MobileNetV2 is fed x/255 in [0, 1] while it expects
#   mobilenet_v2.preprocess_input's [-1, 1].
# Shrunk: oxford_iiit_pet with segmentation masks -> the six classes of sample photos with their class
#   label in place of the mask (pipecheck judges classifier inputs; the pipeline's shape is the
#   tutorial's), 128 -> 32 px, batch 8, BUFFER_SIZE 1000.
# Caught: bug 1 from the dataset's structure (generator.augmentation_before_cache: a map drawing random
#   numbers below a cache()), bug 2 from the batches' values (input_range.rescaled_0_1).
import numpy as np
import tensorflow as tf

from ._data import load_data

BACKBONE = "mobilenetv2"
SOURCE = "train_dataset"
HEALTHY = False
MUST_RAISE = {"input_range.rescaled_0_1", "generator.augmentation_before_cache"}
TOLERATED = {"generator.infinite_unsized"}
MUST_NOT_RAISE = {"generator.exhausted"}

BATCH_SIZE = 8
BUFFER_SIZE = 1000


def normalize(input_image, label):
    input_image = tf.cast(input_image, tf.float32) / 255.0
    return input_image, label


@tf.function
def load_image_train(image, label):
    input_image = tf.image.resize(image, (32, 32))

    if tf.random.uniform(()) > 0.5:
        input_image = tf.image.flip_left_right(input_image)

    input_image, label = normalize(input_image, label)

    return input_image, label


def train_dataset():
    x, y = load_data("six", size=48)
    order = np.random.default_rng(6).permutation(len(x))
    dataset = {'train': tf.data.Dataset.from_tensor_slices((x[order], y[order, 0].astype("int64")))}
    train = dataset['train'].map(load_image_train, num_parallel_calls=tf.data.AUTOTUNE)
    train_dataset = train.cache().shuffle(BUFFER_SIZE).batch(BATCH_SIZE).repeat()
    train_dataset = train_dataset.prefetch(buffer_size=tf.data.AUTOTUNE)
    return train_dataset
