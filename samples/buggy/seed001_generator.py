"""Seed 001's hand-written generator, kept as the user wrote it, reading the sample dump.

The ``yield`` sits after the inner ``while`` loop, so each pass builds every batch and yields only
the last one: the model sees the same 8 images again and again. The bound
``n_entries < (filesize - batchsize)`` also drops the tail, and a new ``ImageDataGenerator.flow`` is
made per batch. pipecheck catches all three, and the 1/255 rescale that ResNet50 does not expect::

    pipecheck validate --backbone resnet50 --source samples.buggy.seed001_generator:train_batches --batches 20

Reads ``samples/dump/IMG_*.jpg`` with their JSON sidecars (label field ``species``); without that
folder it makes a few small random images so the generator still runs.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
from keras.preprocessing import image

DUMP = Path(__file__).resolve().parent.parent / "dump"
BATCH_SIZE = 8
IMG_HEIGHT = 224
_SYNTHETIC: dict[str, np.ndarray] = {}


class ImageDataGenerator:
    """The part of Keras 2's ``keras.preprocessing.image.ImageDataGenerator`` the seed uses.

    Keras 3 removed the class; this keeps the seed's code runnable: ``rescale`` and ``flow()``, which
    shuffles within what it is given (as Keras 2 did by default) and returns float32 batches.
    """

    def __init__(self, rescale=None, **kwargs):
        self.rescale = rescale

    def flow(self, x, y, batch_size=32, shuffle=True):
        order = np.random.permutation(len(x)) if shuffle else np.arange(len(x))
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            xs = x[idx].astype("float32")
            yield (xs * self.rescale if self.rescale else xs), y[idx]


@functools.lru_cache(maxsize=None)
def _decoded(img_path: str) -> np.ndarray:
    # Decoded once per file: the seed's loop re-reads every image for every batch it yields.
    if img_path in _SYNTHETIC:
        return _SYNTHETIC[img_path]
    img = image.load_img(img_path, target_size=(IMG_HEIGHT, IMG_HEIGHT))
    return image.img_to_array(img).astype(np.uint8)


def path_to_tensor(img_path):
    # loads RGB image as PIL.Image.Image type, converts it to a 3D tensor (IMG_HEIGHT, IMG_HEIGHT, 3)
    x = _decoded(img_path).astype("float32")
    # convert 3D tensor to 4D tensor with shape (1, IMG_HEIGHT, IMG_HEIGHT, 3) and return 4D tensor
    return np.expand_dims(x, axis=0)


def paths_to_tensor(img_paths):
    list_of_tensors = [path_to_tensor(img_path) for img_path in img_paths]
    return np.vstack(list_of_tensors)


# ---- as written in the seed -----------------------------------------------------------------------
def generate_batches_from_train_folder(images_to_read, labels, batchsize = BATCH_SIZE):

    #Generator that returns batches of images ('xs') and labels ('ys') from the train folder
    #:param string filepath: Full filepath of files to read - this needs to be a list of image files
    #:param np.array: list of all labels for the images_to_read - those need to be one-hot-encoded
    #:param int batchsize: Size of the batches that should be generated.
    #:return: (ndarray, ndarray) (xs, ys): Yields a tuple which contains a full batch of images and labels.

    dimensions = (BATCH_SIZE, IMG_HEIGHT, IMG_HEIGHT, 3)

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


# ---------------------------------------------------------------------------------------------------
def _dump() -> tuple[list[str], list[str]]:
    """Image paths and their ``species`` from the flat dump (images mixed with metadata files)."""
    paths, species = [], []
    for path in sorted(DUMP.glob("IMG_*.jpg")):
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            paths.append(str(path))
            species.append(json.loads(sidecar.read_text(encoding="utf-8"))["species"])
    if paths:
        return paths, species
    rng = np.random.default_rng(0)
    for i in range(48):
        _SYNTHETIC[f"synthetic_{i:03d}"] = rng.integers(0, 256, (IMG_HEIGHT, IMG_HEIGHT, 3), dtype=np.uint8)
        species.append(f"species_{i % 4}")
    return list(_SYNTHETIC), species


def train_batches(batch_size: int = BATCH_SIZE, img_size: int = IMG_HEIGHT):
    """The generator over the sample dump with one-hot labels, as the seed feeds ``fit_generator``."""
    global IMG_HEIGHT
    if img_size != IMG_HEIGHT:
        IMG_HEIGHT = img_size
        _decoded.cache_clear()
        _SYNTHETIC.clear()
    paths, species = _dump()
    classes = sorted(set(species))
    labels = np.eye(len(classes), dtype="float32")[[classes.index(s) for s in species]]
    return generate_batches_from_train_folder(paths, labels, batch_size)
