# Source: Rajat Garg, "Training on Large Datasets That Don't Fit In Memory in Keras" (Medium, 2019-03-19,
#   https://medium.com/@mrgarg.rajat/training-on-large-datasets-that-dont-fit-in-memory-in-keras-60a974785d71),
#   copied e.g. in github.com/3141592/dlwp ch9/customer_generator.py and
#   github.com/abhidas03/book-classification classes.py.
# Original: My_Custom_Generator(keras.utils.Sequence): __len__ = ceil(len(files) / batch_size);
#   __getitem__ returns np.array([resize(imread('/content/all_images/' + str(file_name)), (80, 80, 3))
#   for file_name in batch_x])/255.0, np.array(batch_y); a small CNN trained from scratch.
# Bug: skimage.transform.resize already returns floats in [0, 1] for uint8 images, so the /255.0 scales a
#   second time: every image lies in [0, 0.0039] and the CNN sees near-black input.
# Shrunk: the six classes of sample photos in a fixed shuffled order, (80, 80, 3) -> (32, 32, 3), batch 8.
# Known miss: the model is a custom CNN (no backbone to compare with), and no input_range check judges
#   the value range without one; [0, 1/255] is a range no preprocessing of 8-bit images produces.
import numpy as np
import keras
from skimage.io import imread
from skimage.transform import resize

from ._data import files_and_labels

BACKBONE = None
SOURCE = "my_training_batch_generator"
HEALTHY = False
MUST_RAISE: set = set()
MISSED = {"input_range.out_of_range"}
KNOWN_MISS = ("no backbone: input_range judges value ranges only against a backbone's expected input, so "
              "images scaled twice into [0, 1/255] for a custom CNN pass silently")
MUST_NOT_RAISE = {"generator.length_overpromised"}


class My_Custom_Generator(keras.utils.Sequence) :

  def __init__(self, image_filenames, labels, batch_size) :
    super().__init__()
    self.image_filenames = image_filenames
    self.labels = labels
    self.batch_size = batch_size


  def __len__(self) :
    return (np.ceil(len(self.image_filenames) / float(self.batch_size))).astype(int)


  def __getitem__(self, idx) :
    batch_x = self.image_filenames[idx * self.batch_size : (idx+1) * self.batch_size]
    batch_y = self.labels[idx * self.batch_size : (idx+1) * self.batch_size]

    return np.array([
            resize(imread(str(file_name)), (32, 32, 3))
               for file_name in batch_x])/255.0, np.array(batch_y)


def my_training_batch_generator():
    paths, labels, classes = files_and_labels("six")
    order = np.random.default_rng(5).permutation(len(paths))
    X_train_filenames = np.array(paths)[order]
    y_train = keras.utils.to_categorical(np.array(labels)[order], len(classes))
    batch_size = 8
    return My_Custom_Generator(X_train_filenames, y_train, batch_size)
