# Source: https://www.tensorflow.org/tutorials/load_data/images ("Using tf.data for finer control")
#   (tensorflow/docs site/en/tutorials/load_data/images.ipynb)
# Original: Dataset.list_files(str(data_dir/'*/*'), shuffle=False) -> .shuffle(image_count,
#   reshuffle_each_iteration=False) -> skip(val_size) -> map(process_path) (label = argmax of the folder name
#   against class_names, decode_jpeg + resize) -> configure_for_performance: cache, shuffle(1000), batch,
#   prefetch. The model (not used here) starts with Rescaling(1./255); no pretrained backbone.
# Bug: none (healthy).
# Shrunk: flower_photos -> the six classes of sample photos (12 each), 32 px, batch 8.
import os
import pathlib

import numpy as np
import tensorflow as tf

from ._data import photo_dir

BACKBONE = None
SOURCE = "train_ds"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.exhausted", "generator.class_sorted_batches", "generator.not_shuffled",
                  "generator.labels_misaligned"}

batch_size = 8
img_height = 32
img_width = 32
AUTOTUNE = tf.data.AUTOTUNE


def train_ds():
    data_dir = pathlib.Path(photo_dir("six"))
    image_count = len(list(data_dir.glob('*/*.jpg')))
    list_ds = tf.data.Dataset.list_files(str(data_dir/'*/*'), shuffle=False)
    list_ds = list_ds.shuffle(image_count, reshuffle_each_iteration=False)
    class_names = np.array(sorted([item.name for item in data_dir.glob('*') if item.name != "LICENSE.txt"
                                   and item.is_dir()]))
    val_size = int(image_count * 0.2)
    train_ds = list_ds.skip(val_size)

    def get_label(file_path):
        # Convert the path to a list of path components
        parts = tf.strings.split(file_path, os.path.sep)
        # The second to last is the class-directory
        one_hot = parts[-2] == class_names
        # Integer encode the label
        return tf.argmax(one_hot)

    def decode_img(img):
        # Convert the compressed string to a 3D uint8 tensor
        img = tf.io.decode_jpeg(img, channels=3)
        # Resize the image to the desired size
        return tf.image.resize(img, [img_height, img_width])

    def process_path(file_path):
        label = get_label(file_path)
        # Load the raw data from the file as a string
        img = tf.io.read_file(file_path)
        img = decode_img(img)
        return img, label

    train_ds = train_ds.map(process_path, num_parallel_calls=AUTOTUNE)

    def configure_for_performance(ds):
        ds = ds.cache()
        ds = ds.shuffle(buffer_size=1000)
        ds = ds.batch(batch_size)
        ds = ds.prefetch(buffer_size=AUTOTUNE)
        return ds

    return configure_for_performance(train_ds)
