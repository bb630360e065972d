# Source: github.com/afshinea/keras-data-generator my_classes.py and the blog post it goes with,
#   https://stanford.edu/~shervine/blog/keras-how-to-generate-data-on-the-fly
# Original: DataGenerator(keras.utils.Sequence) over list_IDs with labels dict; __len__ =
#   int(np.floor(len(self.list_IDs) / self.batch_size)); on_epoch_end reshuffles self.indexes when
#   shuffle=True; __data_generation fills np.empty((batch_size, *dim, n_channels)) with
#   np.load('data/' + ID + '.npy') and returns keras.utils.to_categorical(y, num_classes=n_classes).
# Bug: none (healthy). floor() drops fewer than batch_size samples per epoch, a different few each epoch
#   since the order is reshuffled (afshinea/keras-data-generator#5 discusses it); no error is due.
# Shrunk: the six classes of sample photos saved as 32 px .npy files, batch 8, dim (32, 32).
import numpy as np
import keras

from ._data import npy_dataset

BACKBONE = None
SOURCE = "training_generator"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"generator.length_overpromised", "generator.buffer_mutated", "generator.labels_misaligned",
                  "generator.not_shuffled"}


class DataGenerator(keras.utils.Sequence):
    'Generates data for Keras'
    def __init__(self, list_IDs, labels, batch_size=32, dim=(32,32,32), n_channels=1,
                 n_classes=10, shuffle=True, data_dir='data/'):
        'Initialization'
        super().__init__()
        self.dim = dim
        self.batch_size = batch_size
        self.labels = labels
        self.list_IDs = list_IDs
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.shuffle = shuffle
        self.data_dir = data_dir
        self.on_epoch_end()

    def __len__(self):
        'Denotes the number of batches per epoch'
        return int(np.floor(len(self.list_IDs) / self.batch_size))

    def __getitem__(self, index):
        'Generate one batch of data'
        # Generate indexes of the batch
        indexes = self.indexes[index*self.batch_size:(index+1)*self.batch_size]

        # Find list of IDs
        list_IDs_temp = [self.list_IDs[k] for k in indexes]

        # Generate data
        X, y = self.__data_generation(list_IDs_temp)

        return X, y

    def on_epoch_end(self):
        'Updates indexes after each epoch'
        self.indexes = np.arange(len(self.list_IDs))
        if self.shuffle == True:
            np.random.shuffle(self.indexes)

    def __data_generation(self, list_IDs_temp):
        'Generates data containing batch_size samples' # X : (n_samples, *dim, n_channels)
        # Initialization
        X = np.empty((self.batch_size, *self.dim, self.n_channels))
        y = np.empty((self.batch_size), dtype=int)

        # Generate data
        for i, ID in enumerate(list_IDs_temp):
            # Store sample
            X[i,] = np.load(self.data_dir + '/' + ID + '.npy')

            # Store class
            y[i] = self.labels[ID]

        return X, keras.utils.to_categorical(y, num_classes=self.n_classes)


def training_generator():
    data_dir, ids, labels = npy_dataset("six", size=32)
    params = {'dim': (32, 32),
              'batch_size': 8,
              'n_classes': 6,
              'n_channels': 3,
              'shuffle': True}
    # Datasets
    partition = {'train': ids[:68]}
    return DataGenerator(partition['train'], labels, data_dir=data_dir, **params)
