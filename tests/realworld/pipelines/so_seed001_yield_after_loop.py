# Source: Stack Overflow question "Massive overfit during resnet50 transfer learning" (2018-05-16, tags
#   python tensorflow keras conv-neural-network resnet), pipecheck's seed 001 (../shared/seeds/001_*.txt,
#   kept runnable as samples/buggy/seed001_generator.py).
# Original: generate_batches_from_train_folder(images_to_read, labels, batchsize): while 1: n_entries = 0;
#   while n_entries < (filesize - batchsize): xs = paths_to_tensor(...); ys = labels[...]; n_entries +=
#   batchsize; augmented_generator = train_datagen.flow(xs, ys, batch_size=batchsize) -- and
#   `yield next(augmented_generator)` after the inner loop; train_datagen = ImageDataGenerator(rescale=1./255);
#   fed to ResNet50 fit_generator.
# Bugs: the yield sits after the batch loop (only the last batch of each pass is ever yielded, again and
#   again); the bound `n < len - batch` drops the tail; a new flow() per batch; x/255 for ResNet50.
# Shrunk: 100k plant photos -> the six classes of sample photos (folder order, as the dump lists them),
#   IMG_HEIGHT 224 -> 32, batch 8; Keras' own (legacy) ImageDataGenerator.
import numpy as np
from keras.preprocessing import image
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import files_and_labels

BACKBONE = "resnet50"
SOURCE = "train_batches"
HEALTHY = False
MUST_RAISE = {"generator.same_batch_repeated", "generator.yield_after_loop", "generator.tail_dropping_bound",
              "generator.augmenter_per_batch", "input_range.rescaled_0_1"}
MUST_NOT_RAISE: set = set()

BATCH_SIZE = 8
IMG_HEIGHT = 32


def path_to_tensor(img_path):
    # loads RGB image as PIL.Image.Image type
    img = image.load_img(img_path, target_size=(IMG_HEIGHT, IMG_HEIGHT))
    # convert PIL.Image.Image type to 3D tensor with shape (IMG_HEIGHT, IMG_HEIGHT, 3)
    x = image.img_to_array(img)
    # convert 3D tensor to 4D tensor with shape (1, IMG_HEIGHT, IMG_HEIGHT, 3) and return 4D tensor
    return np.expand_dims(x, axis=0)


def paths_to_tensor(img_paths):
    list_of_tensors = [path_to_tensor(img_path) for img_path in img_paths]
    return np.vstack(list_of_tensors)


def generate_batches_from_train_folder(images_to_read, labels, batchsize = BATCH_SIZE):

    #Generator that returns batches of images ('xs') and labels ('ys') from the train folder

    train_datagen = ImageDataGenerator(
        rescale=1./255,
        #rotation_range=20,
        #zoom_range=0.2,
        #fill_mode='nearest',
        #horizontal_flip=True
    )

    # needs to be on a infinite loop for the generator to work
    while 1:
        filesize = len(images_to_read)

        # count how many entries we have read
        n_entries = 0
        # as long as we haven't read all entries from the file: keep reading
        while n_entries < (filesize - batchsize):

            # start the next batch at index 0
            # create numpy arrays of input data (features)
            # - this is already shaped as a tensor (output of the support function paths_to_tensor)
            xs = paths_to_tensor(images_to_read[n_entries : n_entries + batchsize])

            # and label info. Contains 1000 labels in my case for each possible plant species
            ys = labels[n_entries : n_entries + batchsize]

            # we have read one more batch from this file
            n_entries += batchsize

            #perform online augmentation on the xs and ys
            augmented_generator = train_datagen.flow(xs, ys, batch_size = batchsize)

        yield  next(augmented_generator)


def train_batches():
    paths, labels, classes = files_and_labels("six")
    onehot = np.eye(len(classes), dtype="float32")[labels]
    return generate_batches_from_train_folder(paths, onehot, BATCH_SIZE)
