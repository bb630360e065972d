# Source: https://keras.io/api/utils/python_utils/#pydataset-class (keras-team/keras
#   keras/src/trainers/data_adapters/py_dataset_adapter.py, the PyDataset docstring's CIFAR10PyDataset)
# Original: x_set = image paths, y_set = classes; __len__ = math.ceil(len(self.x) / self.batch_size);
#   __getitem__ caps the upper bound at len(self.x) and returns
#   np.array([resize(imread(file_name), (200, 200)) for file_name in batch_x]), np.array(batch_y)
#   (skimage: float images in [0, 1]); the model is the user's own (no pretrained backbone).
# Bug: none (healthy).
# Shrunk: CIFAR files -> the six classes of sample photos in a fixed shuffled order, resize to 32 px,
#   batch 8; 68 files so the last batch is partial (what the ceil and the capped bound are for).
import math

import numpy as np
from keras.utils import PyDataset
from skimage.io import imread
from skimage.transform import resize

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_sequence"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.length_overpromised", "generator.samples_skipped", "generator.batch_count_mismatch"}


class CIFAR10PyDataset(PyDataset):

    def __init__(self, x_set, y_set, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x_set, y_set
        self.batch_size = batch_size

    def __len__(self):
        # Return number of batches.
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        # Return x, y for batch idx.
        low = idx * self.batch_size
        # Cap upper bound at array length; the last batch may be smaller
        # if the total number of items is not a multiple of batch size.
        high = min(low + self.batch_size, len(self.x))
        batch_x = self.x[low:high]
        batch_y = self.y[low:high]

        return np.array([
            resize(imread(file_name), (32, 32))
               for file_name in batch_x]), np.array(batch_y)


def train_sequence():
    paths, labels, _ = files_and_labels("six")
    order = np.random.default_rng(2).permutation(len(paths))
    return CIFAR10PyDataset([paths[i] for i in order][:68], [labels[i] for i in order][:68], batch_size=8)
