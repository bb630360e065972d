# Source: https://keras.io/examples/vision/bit/ (keras-team/keras-io examples/vision/bit.py,
#   "Image Classification using BigTransfer (BiT)")
# Original: tfds.load("tf_flowers", split=["train[:85%]", "train[85%:]"], as_supervised=True) (decoded uint8
#   images of varying size, int64 labels); preprocess_train: random_flip_left_right -> resize(384, 384) ->
#   random_crop(224, 224, 3) -> / 255.0; pipeline_train = train_ds.shuffle(10000).repeat(repeat_count)
#   .map(preprocess_train).batch(64).prefetch(AUTO), repeat_count = int(SCHEDULE_LENGTH * BATCH_SIZE /
#   DATASET_NUM_TRAIN_EXAMPLES * STEPS_PER_EPOCH) + 51; a TF-Hub BiT-M R50x1 KerasLayer (expects [0, 1]
#   inputs) with a zero-initialised Dense(5) head in a subclassed keras.Model; SparseCategoricalCrossentropy
#   (from_logits=True); fit(steps_per_epoch=10).
# Bug: none (healthy): BiT's TF-Hub models take float images in [0, 1].
# Shrunk: tf_flowers -> the six sample-photo classes (64 px JPEGs decoded in a fixed shuffled order, the
#   first 85% as train), RESIZE_TO 384 -> 56, CROP_TO 224 -> 32, batch 64 -> 8; the TF-Hub BiT module (a
#   download) -> a small stand-in feature extractor, so no --backbone (no keras.applications backbone).
import numpy as np
import tensorflow as tf
from tensorflow import keras

from ._data import files_and_labels

BACKBONE = None
SOURCE = "pipeline_train"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.shape_changed"}

RESIZE_TO = 56
CROP_TO = 32
BATCH_SIZE = 8
STEPS_PER_EPOCH = 10
AUTO = tf.data.AUTOTUNE
NUM_CLASSES = 6
SCHEDULE_LENGTH = 500
SCHEDULE_LENGTH = SCHEDULE_LENGTH * 512 / BATCH_SIZE


def _tf_flowers_like():
    paths, labels, _ = files_and_labels("six")
    order = np.random.default_rng(21).permutation(len(paths))
    paths = [paths[i] for i in order]
    labels = np.asarray([labels[i] for i in order], dtype="int64")
    n_train = int(len(paths) * 0.85)

    def decode(path, label):
        return tf.io.decode_jpeg(tf.io.read_file(path), channels=3), label

    return tf.data.Dataset.from_tensor_slices((paths[:n_train], labels[:n_train])).map(decode)


@tf.function
def preprocess_train(image, label):
    image = tf.image.random_flip_left_right(image)
    image = tf.image.resize(image, (RESIZE_TO, RESIZE_TO))
    image = tf.image.random_crop(image, (CROP_TO, CROP_TO, 3))
    image = image / 255.0
    return (image, label)


def pipeline_train():
    train_ds = _tf_flowers_like()
    DATASET_NUM_TRAIN_EXAMPLES = tf.data.experimental.cardinality(train_ds).numpy()
    repeat_count = int(SCHEDULE_LENGTH * BATCH_SIZE / DATASET_NUM_TRAIN_EXAMPLES * STEPS_PER_EPOCH)
    repeat_count += 50 + 1  # To ensure at least there are 50 epochs of training
    return (
        train_ds.shuffle(10000)
        .repeat(repeat_count)  # Repeat dataset_size / num_steps
        .map(preprocess_train, num_parallel_calls=AUTO)
        .batch(BATCH_SIZE)
        .prefetch(AUTO)
    )


class MyBiTModel(keras.Model):
    def __init__(self, num_classes, module, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.head = keras.layers.Dense(num_classes, kernel_initializer="zeros")
        self.bit_model = module

    def call(self, images):
        bit_embedding = self.bit_model(images)
        return self.head(bit_embedding)


def build_model():
    # stand-in for hub.KerasLayer("https://tfhub.dev/google/bit/m-r50x1/1"): images in [0, 1] -> embedding
    bit_module = keras.Sequential([keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.GlobalAveragePooling2D()])
    model = MyBiTModel(num_classes=NUM_CLASSES, module=bit_module)
    model.build((None, CROP_TO, CROP_TO, 3))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.003 * BATCH_SIZE / 512, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
