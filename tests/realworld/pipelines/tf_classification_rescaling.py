# Source: https://www.tensorflow.org/tutorials/images/classification
#   (tensorflow/docs site/en/tutorials/images/classification.ipynb, "Image classification")
# Original: image_dataset_from_directory(data_dir, validation_split=0.2, subset="training", seed=123,
#   image_size=(180, 180), batch_size=32); train_ds.cache().shuffle(1000).prefetch(AUTOTUNE); a small CNN
#   that starts with layers.Rescaling(1./255) (no pretrained backbone).
# Bug: none (healthy).
# Shrunk: flower_photos -> the six classes of sample photos (12 each, 64 px files), image 32 px,
#   batch 8, Conv2D widths 16/32/64 -> 8/16/16. shuffle(1000) gets seed=2 so the run is repeatable: it
#   shuffles *batches* (the dataset is already batched), so the short last batch lands mid-pass, as it
#   does in 7 of 8 unseeded runs.
import tensorflow as tf
from tensorflow.keras import layers
from tensorflow.keras.models import Sequential

from ._data import photo_dir

BACKBONE = None
SOURCE = "train_ds"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.class_sorted_batches", "generator.not_shuffled"}

batch_size = 8
img_height = 32
img_width = 32


def train_ds():
    data_dir = photo_dir("six")
    train_ds = tf.keras.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="training",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size)
    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = train_ds.cache().shuffle(1000, seed=2).prefetch(buffer_size=AUTOTUNE)
    return train_ds


def build_model(num_classes: int = 6):
    model = Sequential([
        layers.Input(shape=(img_height, img_width, 3)),
        layers.Rescaling(1./255),
        layers.Conv2D(8, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(32, activation='relu'),
        layers.Dense(num_classes)
    ])
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    return model
