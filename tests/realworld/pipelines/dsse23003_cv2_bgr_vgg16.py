# Source: https://datascience.stackexchange.com/questions/23003/keras-loading-images-in-incorrect-format
#   ("when the image is loaded through opencv and fed into vgg16 ...") and the Stack Overflow answer
#   "How to match cv2.imread to the keras image.img_load output" (mirror:
#   https://newbedev.com/how-to-match-cv2-imread-to-the-keras-image-img-load-output): "OpenCV reads images
#   in BGR format whereas in keras, it is represented in RGB".
# Original: img = cv2.imread(path); cv2.resize(img, (224, 224)); batches fed through
#   vgg16.preprocess_input to VGG16 without reversing the channels.
# Bug: preprocess_input flips RGB to BGR itself; a cv2 (BGR) frame comes out RGB-ordered, so the
#   ImageNet means are subtracted from the wrong channels and the colours are swapped.
# Shrunk: the six classes of sample photos, 32 px, batches of 8 with one-hot labels; cv2 is OpenCV when
#   installed, else the stand-in in _cv2.py (same BGR contract).
import numpy as np
from keras.applications.vgg16 import preprocess_input
from keras.utils import to_categorical

from ._cv2 import cv2
from ._data import files_and_labels

BACKBONE = "vgg16"
SOURCE = "train_batches"
HEALTHY = False
MUST_RAISE = {"input_range.channel_order_swapped"}
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.wrong_mode"}


def train_batches(batch_size=8):
    paths, labels, classes = files_and_labels("six")
    order = np.random.default_rng(3).permutation(len(paths))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        images = []
        for i in idx:
            img = cv2.imread(paths[i])
            img = cv2.resize(img, (32, 32))
            images.append(img)
        x = preprocess_input(np.array(images, dtype="float32"))
        yield x, to_categorical([labels[i] for i in idx], len(classes))
