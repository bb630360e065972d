# Source: https://keras.io/examples/vision/supervised-contrastive-learning/ (keras-team/keras-io
#   examples/vision/supervised-contrastive-learning.py, "Supervised Contrastive Learning")
# Original: cifar10.load_data() raw uint8, labels (N, 1) ids; data_augmentation = Sequential(Normalization(),
#   RandomFlip("horizontal"), RandomRotation(0.02), RandomWidth(0.2), RandomHeight(0.2)), layers[0].adapt(x_train);
#   encoder = Input((32, 32, 3)) -> data_augmentation -> ResNet50V2(include_top=False, weights=None, pooling="avg")
#   (trained from scratch); classifier = encoder -> Dropout -> Dense(512) -> Dropout -> Dense(10, softmax),
#   SparseCategoricalCrossentropy; classifier.fit(x=x_train, y=y_train, batch_size=265, epochs=50)
#   (experiment 1, the baseline classifier).
# Bug: none (healthy): raw 0..255 standardised by the adapted Normalization inside the model, ResNet50V2
#   from scratch (no ImageNet preprocessing to match).
# Shrunk: CIFAR-10 -> the six classes of sample photos at 32 px (fixed shuffled order), 6 classes,
#   batch 265 -> 16, hidden_units 512 -> 32; model.fit's slicing of the arrays (no validation split;
#   reshuffled each epoch) written as the tf.data batches Keras makes of them. weights=None as in the original.
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from ._data import load_data

BACKBONE = "resnet50v2"
SOURCE = "train_batches"
MODEL = "build_classifier"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.preprocessed_for_in_model", "generator.exhausted"}

num_classes = 6
input_shape = (32, 32, 3)
batch_size = 16
hidden_units = 32
dropout_rate = 0.5
learning_rate = 0.001


def _cifar_like():
    x, y = load_data("six", size=32)
    order = np.random.default_rng(17).permutation(len(x))
    return x[order], y[order]


def train_batches():
    x_train, y_train = _cifar_like()
    n = len(x_train)
    return tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(n).batch(batch_size)


def create_encoder(data_augmentation):
    resnet = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=input_shape, pooling="avg")
    inputs = keras.Input(shape=input_shape)
    augmented = data_augmentation(inputs)
    outputs = resnet(augmented)
    return keras.Model(inputs=inputs, outputs=outputs, name="cifar10-encoder")


def create_classifier(encoder, trainable=True):
    for layer in encoder.layers:
        layer.trainable = trainable
    inputs = keras.Input(shape=input_shape)
    features = encoder(inputs)
    features = layers.Dropout(dropout_rate)(features)
    features = layers.Dense(hidden_units, activation="relu")(features)
    features = layers.Dropout(dropout_rate)(features)
    outputs = layers.Dense(num_classes, activation="softmax")(features)
    model = keras.Model(inputs=inputs, outputs=outputs, name="cifar10-classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def build_classifier():
    x_train, _ = _cifar_like()
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.02),
            layers.RandomWidth(0.2),
            layers.RandomHeight(0.2),
        ]
    )
    # Setting the state of the normalization layer.
    data_augmentation.layers[0].adapt(x_train)
    encoder = create_encoder(data_augmentation)
    return create_classifier(encoder)
