# Source: https://medium.com/@vijayabhaskar96/tutorial-on-keras-imagedatagenerator-with-flow-from-dataframe-8bd5776e45c1
#   (V. Bhaskar, "Tutorial on Keras ImageDataGenerator with flow_from_dataframe", Kaggle CIFAR-10; read as
#   copied, with that URL, into GitHub files the index holds: repositories not named by the index)
# Original: df = pd.read_csv("train.csv") (columns id, label: one row per image file, classes in no
#   order); datagen = ImageDataGenerator(rescale=1./255); train_generator = datagen.flow_from_dataframe(
#   dataframe=df, directory="train_imgs", x_col="id", y_col="label", class_mode="categorical",
#   target_size=(32, 32), batch_size=32) (shuffle=True by default); Sequential CNN from scratch (Conv2D 32,
#   32, MaxPooling, Dropout, Conv2D 64, 64, MaxPooling, Dropout, Flatten, Dense(512), Dropout(0.5),
#   Dense(10, softmax)); rmsprop(lr=0.0001), categorical_crossentropy; fit_generator(train_generator,
#   steps_per_epoch=train_generator.n // train_generator.batch_size, epochs=10).
# Bug: none (healthy): [0, 1] inputs into a CNN trained from scratch, one-hot labels for a softmax and
#   categorical_crossentropy, reshuffled every epoch. (steps_per_epoch = n // batch_size on the endless
#   Keras iterator does not drop images: the iterator carries on where the last epoch stopped.)
# Shrunk: Kaggle CIFAR-10 -> the six sample-photo classes (64 px JPEGs; the CSV as a DataFrame of file
#   names relative to the photo folder in a fixed shuffled row order, labels as strings), batch 32 -> 8,
#   Dense(6); rmsprop's lr -> learning_rate (Keras 3).
from pathlib import Path

import numpy as np
import pandas as pd
from tensorflow.keras import optimizers
from tensorflow.keras.layers import Activation, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from tensorflow.keras.models import Sequential
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import files_and_labels, photo_dir

BACKBONE = None
SOURCE = "train_generator"
MODEL = "build_model"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {
    "generator.not_shuffled",
    "generator.class_sorted_batches",
    "generator.samples_skipped",
    "input_range.labels_not_one_hot",
    "input_range.label_mode_mismatch",
}
MUST_NOT_WARN = {"generator.not_shuffled", "input_range.label_mode_mismatch", "input_range.labels_not_one_hot"}


def _train_csv():
    root = photo_dir("six")
    paths, labels, classes = files_and_labels("six")
    order = np.random.default_rng(7).permutation(len(paths))
    ids = [str(Path(paths[i]).relative_to(root)) for i in order]
    return root, pd.DataFrame({"id": ids, "label": [classes[labels[i]] for i in order]}, dtype=str)


def train_generator():
    directory, df = _train_csv()
    datagen = ImageDataGenerator(rescale=1.0 / 255)
    train_generator = datagen.flow_from_dataframe(
        dataframe=df,
        directory=directory,
        x_col="id",
        y_col="label",
        class_mode="categorical",
        target_size=(32, 32),
        batch_size=8,
    )
    return train_generator


def build_model():
    model = Sequential()
    model.add(Input(shape=(32, 32, 3)))
    model.add(Conv2D(32, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(Conv2D(32, (3, 3)))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))

    model.add(Conv2D(64, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(Conv2D(64, (3, 3)))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))

    model.add(Flatten())
    model.add(Dense(512))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(6, activation="softmax"))

    model.compile(optimizers.RMSprop(learning_rate=0.0001), loss="categorical_crossentropy", metrics=["accuracy"])
    return model
