# Source: https://github.com/keras-team/keras/pull/8275 ("Fix incorrect __len__ method in CIFAR10Sequence
#   example"): the keras.utils.Sequence docstring example before the fix.
# Original: class CIFAR10Sequence(Sequence): __len__ returned len(self.x) // self.batch_size;
#   __getitem__ sliced x/y by idx and returned np.array([resize(imread(file_name), (200, 200)) ...]),
#   np.array(batch_y). No shuffling.
# Bug: floor division drops the last partial batch: "if len(x) is 3 and the batch size is 2, 3//2 == 1
#   but there really is 2 batches"; without shuffling the same tail samples are never trained on.
# Shrunk: the six classes of sample photos in a fixed shuffled order, 68 files (8 full batches of 8 + 4),
#   resize to 32 px.
import numpy as np
from keras.utils import Sequence
from skimage.io import imread
from skimage.transform import resize

from ._data import files_and_labels

BACKBONE = None
SOURCE = "train_sequence"
HEALTHY = False
MUST_RAISE = {"generator.samples_skipped"}
MUST_NOT_RAISE = {"generator.length_overpromised", "generator.exhausted"}


class CIFAR10Sequence(Sequence):

    def __init__(self, x_set, y_set, batch_size):
        super().__init__()
        self.x, self.y = x_set, y_set
        self.batch_size = batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, idx):
        batch_x = self.x[idx * self.batch_size:(idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size:(idx + 1) * self.batch_size]

        return np.array([
            resize(imread(file_name), (32, 32))
               for file_name in batch_x]), np.array(batch_y)


def train_sequence():
    paths, labels, _ = files_and_labels("six")
    order = np.random.default_rng(4).permutation(len(paths))[:68]
    return CIFAR10Sequence([paths[i] for i in order], [labels[i] for i in order], batch_size=8)
