# Source: https://github.com/ashrefm/multi-label-soft-f1 ("Multi-Label Image Classification in TensorFlow 2.0.ipynb",
#   companion of the Towards Data Science post "Multi-Label Image Classification in TensorFlow 2.0", A. Maiza)
# Original: movie posters with '|'-separated genres -> list of genres per poster (rare ones dropped);
#   train_test_split(test_size=0.2, random_state=44); MultiLabelBinarizer fit on y_train -> multi-hot (N, N_LABELS)
#   int targets; parse_function: read_file -> decode_jpeg(channels=3) -> resize([224, 224]) -> / 255.0;
#   create_dataset: from_tensor_slices((filenames, labels)).map(parse_function, AUTOTUNE).cache()
#   .shuffle(1024).batch(256).prefetch(AUTOTUNE); model = Sequential(hub.KerasLayer(mobilenet_v2_100_224
#   feature_vector, which takes [0, 1] images), Dense(1024, relu), Dense(N_LABELS, sigmoid)); macro soft-F1 loss
#   (a second model with binary_crossentropy).
# Bug: none (healthy): TF-Hub image feature vectors expect float images in [0, 1]; multi-hot labels, sigmoid head.
# Shrunk: the posters -> the six sample-photo classes, each photo given the tags of its class (several per photo,
#   some shared, as genres are: animal / food+indoor / plant+outdoor / space+sky / space+sky+vehicle /
#   building+outdoor), IMG_SIZE 224 -> 32, batch 256 -> 8, shuffle buffer 1024 (kept); the TF-Hub MobileNetV2
#   feature vector (a download) -> a small stand-in feature extractor, so no --backbone.
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_ds"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted"}

IMG_SIZE = 32
CHANNELS = 3
BATCH_SIZE = 8
AUTOTUNE = tf.data.experimental.AUTOTUNE
SHUFFLE_BUFFER_SIZE = 1024

TAGS = {
    "cat": ["animal"],
    "coffee": ["food", "indoor"],
    "flower": ["plant", "outdoor"],
    "galaxy": ["space", "sky"],
    "rocket": ["space", "sky", "vehicle"],
    "temple": ["building", "outdoor"],
}


def _posters_like():
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MultiLabelBinarizer

    paths, labels, classes = files_and_labels("six")
    genres = [TAGS[classes[k]] for k in labels]
    X_train, X_val, y_train, y_val = train_test_split(paths, genres, test_size=0.2, random_state=44)
    mlb = MultiLabelBinarizer()
    mlb.fit(y_train)
    y_train_bin = mlb.transform(y_train)
    return list(X_train), y_train_bin, len(mlb.classes_)


def parse_function(filename, label):
    image_string = tf.io.read_file(filename)
    image_decoded = tf.image.decode_jpeg(image_string, channels=CHANNELS)
    image_resized = tf.image.resize(image_decoded, [IMG_SIZE, IMG_SIZE])
    # Normalize it from [0, 255] to [0.0, 1.0]
    image_normalized = image_resized / 255.0
    return image_normalized, label


def create_dataset(filenames, labels, is_training=True):
    dataset = tf.data.Dataset.from_tensor_slices((filenames, labels))
    dataset = dataset.map(parse_function, num_parallel_calls=AUTOTUNE)
    if is_training == True:
        dataset = dataset.cache()
        dataset = dataset.shuffle(buffer_size=SHUFFLE_BUFFER_SIZE)
    dataset = dataset.batch(BATCH_SIZE)
    dataset = dataset.prefetch(buffer_size=AUTOTUNE)
    return dataset


def train_ds():
    X_train, y_train_bin, _ = _posters_like()
    return create_dataset(X_train, y_train_bin)


@tf.function
def macro_soft_f1(y, y_hat):
    y = tf.cast(y, tf.float32)
    y_hat = tf.cast(y_hat, tf.float32)
    tp = tf.reduce_sum(y_hat * y, axis=0)
    fp = tf.reduce_sum(y_hat * (1 - y), axis=0)
    fn = tf.reduce_sum((1 - y_hat) * y, axis=0)
    soft_f1 = 2 * tp / (2 * tp + fn + fp + 1e-16)
    return tf.reduce_mean(1 - soft_f1)


def build_model():
    _, _, N_LABELS = _posters_like()
    # stand-in for hub.KerasLayer(".../imagenet/mobilenet_v2_100_224/feature_vector/4"): [0, 1] images -> features
    feature_extractor_layer = tf.keras.Sequential(
        [layers.Conv2D(16, 3, strides=2, activation="relu"), layers.GlobalAveragePooling2D()], name="feature_extractor"
    )
    feature_extractor_layer.trainable = False
    model = tf.keras.Sequential([
        layers.Input((IMG_SIZE, IMG_SIZE, CHANNELS)),
        feature_extractor_layer,
        layers.Dense(1024, activation='relu', name='hidden_layer'),
        layers.Dense(N_LABELS, activation='sigmoid', name='output')
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-5), loss=macro_soft_f1)
    return model
