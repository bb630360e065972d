# Source: https://github.com/TBSDrJ/Transfer-Learning-2023/blob/main/transfer.py
# Original: utils.image_dataset_from_directory('people', labels='inferred', label_mode='categorical',
#   color_mode='rgb', batch_size=32, image_size=(224, 224), shuffle=True, seed=8008, validation_split=0.3,
#   subset='training'); train.map(lambda x, y: (resnet.preprocess_input(x), y)); ResNet50(include_top=True,
#   classifier_activation=None, weights='imagenet', input_shape=(224, 224, 3)), trainable=False;
#   Input -> res -> Dense(5, softmax); SGD(1e-4), CategoricalCrossentropy.
# Bug: none (healthy): caffe-mode preprocess_input on the raw 0..255 float batches, as ImageNet ResNet50 wants.
# Shrunk: 'people' (5 classes) -> the six sample-photo classes (64 px files), image_size 224 -> 32, batch 32 -> 8,
#   weights=None marked pretrained (stand_ins.pretrained); include_top=True at 32 px (allowed with weights=None).
import tensorflow as tf
import tensorflow.keras.applications.resnet as resnet
import tensorflow.keras.applications.resnet50 as resnet50
import tensorflow.keras.layers as layers
import tensorflow.keras.losses as losses
import tensorflow.keras.optimizers as optimizers
import tensorflow.keras.utils as utils

from ._data import photo_dir
from stand_ins import pretrained

BACKBONE = "resnet50"
SOURCE = "train_dataset"
MODEL = None
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "generator.exhausted", "generator.shape_changed"}

SIZE = (32, 32)


def train_dataset():
    train = utils.image_dataset_from_directory(
        photo_dir("six"),
        labels='inferred',
        label_mode='categorical',
        class_names=None,
        color_mode='rgb',
        batch_size=8,
        image_size=SIZE,
        shuffle=True,
        seed=8008,
        validation_split=0.3,
        subset='training',
    )
    # Prepare train and test sets for input into ResNet
    train = train.map(lambda x, y: (resnet.preprocess_input(x), y))
    return train


def build_model():
    res = pretrained(resnet50.ResNet50(include_top=True, classifier_activation=None, weights=None,
                                       input_shape=SIZE + (3,)))
    res.trainable = False
    inputs = tf.keras.Input(shape=SIZE + (3,))
    outputs = res(inputs)
    outputs = layers.Dense(6, activation='softmax')(outputs)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=optimizers.SGD(learning_rate=.0001), loss=losses.CategoricalCrossentropy(),
                  metrics=['accuracy'])
    return model
