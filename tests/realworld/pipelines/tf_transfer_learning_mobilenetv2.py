# Source: https://www.tensorflow.org/tutorials/images/transfer_learning
#   (tensorflow/docs site/en/tutorials/images/transfer_learning.ipynb, "Transfer learning and fine-tuning")
# Original: image_dataset_from_directory(train_dir, shuffle=True, batch_size=32, image_size=(160, 160)),
#   .prefetch(AUTOTUNE); raw 0..255 batches go into a model that preprocesses itself:
#   data_augmentation -> tf.keras.applications.mobilenet_v2.preprocess_input -> MobileNetV2(include_top=False,
#   weights='imagenet') called with training=False -> GlobalAveragePooling2D -> Dropout(0.2) -> Dense(1).
# Bug: none (healthy). The raw batches are right because preprocess_input sits inside the model.
# Shrunk: cats_and_dogs_filtered -> the sample photos' two classes (cat, rocket, 16 each, 64 px files),
#   image_size 32, batch 8, weights=None (no download), marked pretrained
#   (stand_ins.pretrained: BatchNormalization statistics off their initial values, as ImageNet weights have).
import tensorflow as tf

from ._data import photo_dir
from stand_ins import pretrained

BACKBONE = "mobilenetv2"
SOURCE = "train_dataset"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.preprocessed_for_in_model", "generator.exhausted"}

BATCH_SIZE = 8
IMG_SIZE = (32, 32)


def train_dataset():
    train_dir = photo_dir("two")
    train_dataset = tf.keras.utils.image_dataset_from_directory(train_dir,
                                                                shuffle=True,
                                                                batch_size=BATCH_SIZE,
                                                                image_size=IMG_SIZE)
    AUTOTUNE = tf.data.AUTOTUNE
    train_dataset = train_dataset.prefetch(buffer_size=AUTOTUNE)
    return train_dataset


def build_model():
    data_augmentation = tf.keras.Sequential([
        tf.keras.layers.RandomFlip('horizontal'),
        tf.keras.layers.RandomRotation(0.2),
    ])
    preprocess_input = tf.keras.applications.mobilenet_v2.preprocess_input
    IMG_SHAPE = IMG_SIZE + (3,)
    base_model = pretrained(tf.keras.applications.MobileNetV2(input_shape=IMG_SHAPE, include_top=False, weights=None))
    base_model.trainable = False
    global_average_layer = tf.keras.layers.GlobalAveragePooling2D()
    prediction_layer = tf.keras.layers.Dense(1, activation='sigmoid')

    inputs = tf.keras.Input(shape=IMG_SHAPE)
    x = data_augmentation(inputs)
    x = preprocess_input(x)
    x = base_model(x, training=False)
    x = global_average_layer(x)
    x = tf.keras.layers.Dropout(0.2)(x)
    outputs = prediction_layer(x)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.0001),
                  loss=tf.keras.losses.BinaryCrossentropy(),
                  metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0.5, name='accuracy')])
    return model
