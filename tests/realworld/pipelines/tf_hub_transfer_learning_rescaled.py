# Source: https://www.tensorflow.org/tutorials/images/transfer_learning_with_hub
#   (tensorflow/docs site/en/tutorials/images/transfer_learning_with_hub.ipynb, "Transfer learning with
#   TensorFlow Hub", "Simple transfer learning")
# Original: image_dataset_from_directory(flower_photos, validation_split=0.2, subset="training", seed=123,
#   image_size=(224, 224), batch_size=32); normalization_layer = tf.keras.layers.Rescaling(1./255);
#   train_ds.map(lambda x, y: (normalization_layer(x), y)) ("TensorFlow Hub's convention for image models
#   is to expect float inputs in the [0, 1] range"); train_ds.cache().prefetch(buffer_size=AUTOTUNE);
#   model = Sequential([hub.KerasLayer(mobilenet_v2 feature_vector/4, input_shape=(224, 224, 3),
#   trainable=False), Dense(num_classes)]); SparseCategoricalCrossentropy(from_logits=True); fit(epochs=10).
# Bug: none (healthy): the TF-Hub image modules take float images in [0, 1], which the mapped Rescaling
#   gives. (The cache() sits below the shuffle image_dataset_from_directory does, so every epoch replays
#   the first epoch's batches in the same order: generator.not_shuffled warns, and that is true, measured
#   over three passes (uncached, the same dataset reorders every pass). With a frozen feature extractor
#   and a linear head it costs little; cache().shuffle(...) would keep the speed and reshuffle.)
# Shrunk: flower_photos -> the six sample-photo classes (64 px files), image_size 32, batch 8; the TF-Hub
#   MobileNetV2 feature vector (a download) -> a small stand-in feature extractor taking [0, 1] images
#   (so no --backbone: no keras.applications backbone), TensorBoard callback left out.
import tensorflow as tf

from ._data import photo_dir

BACKBONE = None
SOURCE = "train_ds"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.shape_changed", "generator.not_shuffled"}

batch_size = 8
img_height = 32
img_width = 32


def train_ds():
    data_root = photo_dir("six")
    train_ds = tf.keras.utils.image_dataset_from_directory(
        str(data_root),
        validation_split=0.2,
        subset="training",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size,
    )
    normalization_layer = tf.keras.layers.Rescaling(1.0 / 255)
    train_ds = train_ds.map(lambda x, y: (normalization_layer(x), y))  # Where x—images, y—labels.
    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = train_ds.cache().prefetch(buffer_size=AUTOTUNE)
    return train_ds


def _feature_extractor_layer():
    # Stand-in for hub.KerasLayer(feature_extractor_model, input_shape=(224, 224, 3), trainable=False):
    # a frozen image feature-vector model that expects [0, 1] floats.
    extractor = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(img_height, img_width, 3)),
            tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            tf.keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
        ],
        name="feature_extractor_stand_in",
    )
    extractor.trainable = False
    return extractor


def build_model(num_classes=6):
    feature_extractor_layer = _feature_extractor_layer()
    model = tf.keras.Sequential([feature_extractor_layer, tf.keras.layers.Dense(num_classes)])
    model.compile(
        optimizer=tf.keras.optimizers.Adam(),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    return model
