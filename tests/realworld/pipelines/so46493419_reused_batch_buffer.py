# Source: Stack Overflow, "Use a generator for Keras model.fit_generator" (question 46493419), the answer's
#   generator, copied widely (the corpus's code search finds it verbatim in several GitHub files).
# Original:
#   def generator(features, labels, batch_size):
#    # Create empty arrays to contain batch of features and labels#
#    batch_features = np.zeros((batch_size, 64, 64, 3))
#    batch_labels = np.zeros((batch_size,1))
#    while True:
#      for i in range(batch_size):
#        # choose random index in features
#        index= random.choice(len(features),1)
#        batch_features[i] = some_processing(features[index])
#        batch_labels[i] = labels[index]
#      yield batch_features, batch_labels
# Bug: the same two arrays are filled in place and yielded every time; Keras' generator queue
#   (max_queue_size=10, workers) holds earlier batches by reference, so they turn into later ones.
#   (Indices are also drawn with replacement, so an "epoch" repeats some images and skips others.)
# Shrunk: features = the six classes of sample photos at 32 px (64 -> 32), batch 8;
#   some_processing = vgg16.preprocess_input; random.choice(len, 1) is numpy's (np.random.choice).
import numpy as np
from keras.applications.vgg16 import preprocess_input as some_processing

from ._data import load_data

BACKBONE = "vgg16"
SOURCE = "train_generator"
HEALTHY = False
MUST_RAISE = {"generator.buffer_mutated"}
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "generator.exhausted"}

random = np.random


def generator(features, labels, batch_size):
 # Create empty arrays to contain batch of features and labels#
 batch_features = np.zeros((batch_size, 32, 32, 3))
 batch_labels = np.zeros((batch_size,1))
 while True:
   for i in range(batch_size):
     # choose random index in features
     index= random.choice(len(features),1)
     batch_features[i] = some_processing(features[index].astype("float64"))
     batch_labels[i] = labels[index]
   yield batch_features, batch_labels


def train_generator():
    features, labels = load_data("six", size=32)
    return generator(features, labels, 8)
