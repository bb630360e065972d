# Source: Stack Overflow, "Resnet50 produces different prediction when image loading and resizing is
#   done with OpenCV" (mirror: https://www.newbedev.com/resnet50-produces-different-prediction-when-image-loading-and-resizing-is-done-with-opencv)
# Original: imgcv = cv2.imread(img_path); cv2.resize(imgcv, (224, 224), interpolation=cv2.INTER_LINEAR);
#   x = cv2.cvtColor(imgcv_resized, cv2.COLOR_BGR2RGB); np.expand_dims; resnet50.preprocess_input(x).
#   The asker converts BGR to RGB before preprocess_input, as the answer also insists.
# Bug: none (healthy): the loader, run over a folder of images as a batch generator.
# Shrunk: one image -> a loop over the six classes of sample photos, 32 px, batches of 8 with integer
#   labels; cv2 is OpenCV when installed, else the stand-in in _cv2.py (same BGR contract).
import random

import numpy as np
from tensorflow.keras.applications.resnet50 import preprocess_input

from ._cv2 import cv2
from ._data import files_and_labels

BACKBONE = "resnet50"
SOURCE = "train_batches"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.channel_order_swapped", "input_range.raw_unpreprocessed"}

dim = (32, 32)


def load(img_path):
    imgcv = cv2.imread(img_path)
    imgcv_resized = cv2.resize(imgcv, dim, interpolation=cv2.INTER_LINEAR)
    x = cv2.cvtColor(imgcv_resized, cv2.COLOR_BGR2RGB)
    x = np.expand_dims(x, axis=0)
    x = preprocess_input(x)
    return x


def train_batches(batch_size=8):
    paths, labels, _ = files_and_labels("six")
    pairs = list(zip(paths, labels))
    while True:
        random.shuffle(pairs)
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            yield np.vstack([load(p) for p, _ in chunk]), np.array([k for _, k in chunk])
