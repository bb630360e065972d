"""Real batch sources, each generator bug next to its fixed twin, loaded by the tests through
``load_source("generator_cases:<name>")``.

Seed 001's generator is copied as written in the seed (loop structure, comments, ``yield`` after the
inner loop); only its inputs are swapped for small in-memory arrays: ``paths_to_tensor`` looks the
"paths" up in an array, and ``ImageDataGenerator`` (gone from Keras 3) is a tiny stand-in with the
old ``.flow()``/``.standardize()`` behaviour: rescale, float32, shuffle within the flow by default.
"""

import math

import keras
import numpy as np

BATCH_SIZE = 8
IMG_HEIGHT = 8
N = 64

_rng = np.random.default_rng(1)
IMAGES = _rng.integers(0, 256, (N, IMG_HEIGHT, IMG_HEIGHT, 3), dtype=np.uint8)
CLASSES = _rng.integers(0, 4, N)
ONE_HOT = np.eye(4, dtype="float32")[CLASSES]
PATHS = [f"img_{i:03d}.jpg" for i in range(N)]
_BY_PATH = dict(zip(PATHS, IMAGES))


class ImageDataGenerator:
    """Stand-in for keras.preprocessing.image.ImageDataGenerator (Keras 2): rescale only."""

    def __init__(self, rescale=None, **kwargs):
        self.rescale = rescale

    def standardize(self, x):
        x = x.astype("float32")
        return x * self.rescale if self.rescale else x

    def flow(self, x, y, batch_size=32, shuffle=True):
        order = np.random.permutation(len(x)) if shuffle else np.arange(len(x))
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            yield self.standardize(x[idx]), y[idx]


def paths_to_tensor(img_paths):
    list_of_tensors = [_BY_PATH[p][None] for p in img_paths]
    return np.vstack(list_of_tensors)


# ---- seed 001, as written in the seed -------------------------------------------------------------
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


def seed001_train_batches():
    return generate_batches_from_train_folder(PATHS, ONE_HOT)


# Half fixed: `yield` moved into the loop; the `n < filesize - batchsize` bound and the
# per-batch flow are still there.
def generate_yield_in_loop(images_to_read, labels, batchsize=BATCH_SIZE):
    train_datagen = ImageDataGenerator(rescale=1./255)
    while 1:
        filesize = len(images_to_read)
        n_entries = 0
        while n_entries < (filesize - batchsize):
            xs = paths_to_tensor(images_to_read[n_entries : n_entries + batchsize])
            ys = labels[n_entries : n_entries + batchsize]
            n_entries += batchsize
            augmented_generator = train_datagen.flow(xs, ys, batch_size=batchsize)
            yield next(augmented_generator)


def yield_in_loop_batches():
    return generate_yield_in_loop(PATHS, ONE_HOT)


# Fully fixed twin: yield per batch, the tail becomes a partial batch, one generator object.
def generate_fixed(images_to_read, labels, batchsize=BATCH_SIZE):
    train_datagen = ImageDataGenerator(rescale=1./255)
    while 1:
        filesize = len(images_to_read)
        n_entries = 0
        while n_entries < filesize:
            xs = train_datagen.standardize(paths_to_tensor(images_to_read[n_entries : n_entries + batchsize]))
            ys = labels[n_entries : n_entries + batchsize]
            n_entries += batchsize
            yield xs, ys


def fixed_batches():
    return generate_fixed(PATHS, ONE_HOT)


# ---- in-memory generators: bug and twin ---------------------------------------------------------
def cycling(x, y, bs=BATCH_SIZE):
    """Bug: the batch index wraps at 2, so a pass sees two distinct batches."""
    steps = len(x) // bs
    while True:
        for i in range(steps):
            start = (i % 2) * bs
            yield x[start:start + bs], y[start:start + bs]


def stepping(x, y, bs=BATCH_SIZE):
    steps = len(x) // bs
    while True:
        for i in range(steps):
            start = i * bs
            yield x[start:start + bs], y[start:start + bs]


def reused_buffer(x, y, bs=BATCH_SIZE):
    """Bug: one buffer is filled and yielded for every batch."""
    buf = np.empty((bs,) + x.shape[1:], x.dtype)
    while True:
        for i in range(0, len(x), bs):
            buf[:] = x[i:i + bs]
            yield buf, y[i:i + bs]


def copied_buffer(x, y, bs=BATCH_SIZE):
    buf = np.empty((bs,) + x.shape[1:], x.dtype)
    while True:
        for i in range(0, len(x), bs):
            buf[:] = x[i:i + bs]
            yield buf.copy(), y[i:i + bs]


def with_replacement(x, y, bs=BATCH_SIZE, seed=0):
    """Bug: indices drawn with replacement: duplicates in a pass, some samples never seen."""
    rng = np.random.default_rng(seed)
    while True:
        idx = rng.integers(0, len(x), bs)
        yield x[idx], y[idx]


def permuted(x, y, bs=BATCH_SIZE, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for i in range(0, len(x), bs):
            idx = order[i:i + bs]
            yield x[idx], y[idx]


def images_only_shuffled(x, y, bs=BATCH_SIZE, seed=0):
    """Bug: images shuffled, labels left in file order."""
    rng = np.random.default_rng(seed)
    while True:
        xs = x[rng.permutation(len(x))]
        for i in range(0, len(x), bs):
            yield xs[i:i + bs], y[i:i + bs]


def shuffled_together(x, y, bs=BATCH_SIZE, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        idx = rng.permutation(len(x))
        xs, ys = x[idx], y[idx]
        for i in range(0, len(x), bs):
            yield xs[i:i + bs], ys[i:i + bs]


def size_drift(x, y, bs=BATCH_SIZE):
    """Bug: every third batch is cropped to a different size."""
    while True:
        for k, i in enumerate(range(0, len(x), bs)):
            batch = x[i:i + bs]
            yield (batch[:, :6, :6] if k % 3 == 2 else batch), y[i:i + bs]


def dtype_drift(x, y, bs=BATCH_SIZE):
    """Bug: odd batches are divided (float64), even ones cast to float32."""
    while True:
        for k, i in enumerate(range(0, len(x), bs)):
            batch = x[i:i + bs]
            yield (batch / 255.0 if k % 2 else batch.astype("float32") / 255), y[i:i + bs]


def steady_float(x, y, bs=BATCH_SIZE):
    while True:
        for i in range(0, len(x), bs):
            yield x[i:i + bs].astype("float32") / 255, y[i:i + bs]


def one_epoch(x, y, bs=BATCH_SIZE):
    """Bug: no outer `while True`: the second epoch of model.fit gets nothing."""
    for i in range(0, len(x), bs):
        yield x[i:i + bs], y[i:i + bs]


def ignores_shuffle(x, y, bs=BATCH_SIZE, shuffle=True):
    """Bug: takes shuffle=True and never shuffles."""
    while True:
        for i in range(0, len(x), bs):
            yield x[i:i + bs], y[i:i + bs]


def honours_shuffle(x, y, bs=BATCH_SIZE, shuffle=True, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        for i in range(0, len(x), bs):
            idx = order[i:i + bs]
            yield x[idx], y[idx]


GENERATORS = {f.__name__: f for f in (cycling, stepping, reused_buffer, copied_buffer, with_replacement, permuted,
                                        images_only_shuffled, shuffled_together, size_drift, dtype_drift, steady_float,
                                        one_epoch, ignores_shuffle, honours_shuffle)}


def make(name, stored_twice=False, **kwargs):
    """--source entry point: generator `name` over the in-memory data set.

    ``stored_twice`` makes image 1 a copy of image 0 (a data set with an exact duplicate), which a
    healthy pass must yield twice without alarm.
    """
    x = IMAGES
    if stored_twice:
        x = IMAGES.copy()
        x[1] = x[0]
    return GENERATORS[name](x, CLASSES, **kwargs)


def fixed_batches_over_paths_with_a_copy():
    """The fixed generator over "files" where one image is stored twice under another name."""
    _BY_PATH["copy_of_000.jpg"] = IMAGES[0]
    return generate_fixed(PATHS + ["copy_of_000.jpg"], np.vstack([ONE_HOT, ONE_HOT[:1]]))


# ---- Keras PyDataset: bug and twin --------------------------------------------------------------
class Batches(keras.utils.PyDataset):
    """x/y in attributes so labels and data set size can be traced.

    ``floor=True`` is the bug: ``__len__`` rounds down and the last samples are never served.
    ``reshuffle=False`` with ``shuffle=True`` is the bug: the order never changes between epochs.
    ``misalign=True`` is the bug: images follow the shuffled order, labels the file order.
    """

    def __init__(self, x, y, batch_size=BATCH_SIZE, shuffle=False, floor=False, reshuffle=True, misalign=False, seed=0):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.floor, self.reshuffle, self.misalign = shuffle, floor, reshuffle, misalign
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x)) if shuffle else np.arange(len(x))

    def __len__(self):
        n = len(self.x) / self.batch_size
        return int(n) if self.floor else int(np.ceil(n))

    def __getitem__(self, i):
        window = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = self.order[window]
        return self.x[idx], (self.y[window] if self.misalign else self.y[idx])

    def on_epoch_end(self):
        if self.shuffle and self.reshuffle:
            self.order = self.rng.permutation(len(self.x))


def pydataset(n=N - 4, **kwargs):
    """60 samples: the last batch of a ceil-sized pass is partial (4 samples)."""
    return Batches(IMAGES[:n], CLASSES[:n], **kwargs)


def tf_dataset(reshuffle=True, repeat=False, filtered=False):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((IMAGES, CLASSES)).shuffle(N, seed=0, reshuffle_each_iteration=reshuffle)
    if filtered:  # cardinality becomes unknown; Keras still walks it to its end every epoch
        ds = ds.filter(lambda x, y: True)
    ds = ds.batch(BATCH_SIZE)
    return ds.repeat() if repeat else ds


class FlowPerItem(Batches):
    """Bug: a new ImageDataGenerator flow for every batch Keras asks for."""

    datagen = ImageDataGenerator(rescale=1./255)

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return next(self.datagen.flow(x, y, batch_size=len(x)))


def pydataset_flow_per_item():
    return FlowPerItem(IMAGES, CLASSES)


# ---- len() and row-count contracts: bug and twin -----------------------------------------------
class LenContract(Batches):
    """A PyDataset whose ``len()`` and ``__getitem__`` must agree.

    Bugs: ``len_bug="plus_one"`` (ceil + 1: the last batch comes back empty from numpy slicing),
    ``len_bug="floor_plus_one"`` (``n // bs + 1`` on a data set that divides evenly), ``build="per_item"``
    (a per-sample list lookup that assumes every batch is full: IndexError on the partial one),
    ``build="stack"`` (``np.stack`` of the batch's samples: ValueError on an empty one), ``pad=True``
    (images zero-padded to a full last batch, labels not). Twins: the same without the bug.
    """

    def __init__(self, x, y, len_bug="", build="slice", pad=False, **kwargs):
        super().__init__(x, y, **kwargs)
        self.len_bug, self.build, self.pad = len_bug, build, pad
        self.items = list(range(len(x)))

    def __len__(self):
        n, bs = len(self.x), self.batch_size
        if self.len_bug == "plus_one":
            return math.ceil(n / bs) + 1
        if self.len_bug == "floor_plus_one":
            return n // bs + 1
        return math.ceil(n / bs)

    def __getitem__(self, i):
        bs, n = self.batch_size, len(self.x)
        if self.build == "per_item":
            idx = [self.items[j] for j in range(i * bs, (i + 1) * bs)]
        elif self.build == "per_item_clipped":
            idx = [self.items[j] for j in range(i * bs, min((i + 1) * bs, n))]
        elif self.build == "stack":
            idx = range(i * bs, min((i + 1) * bs, n))
            return np.stack([self.x[j] for j in idx]), np.array([self.y[j] for j in idx])
        else:
            x, y = super().__getitem__(i)
            if self.pad and len(x) < bs:
                x = np.concatenate([x, np.zeros((bs - len(x),) + x.shape[1:], x.dtype)])
            return x, y
        return self.x[idx], self.y[idx]


def len_contract(n=N - 4, **kwargs):
    """60 samples in batches of 8 (the last holds 4) unless ``n`` says otherwise."""
    return LenContract(IMAGES[:n], CLASSES[:n], **kwargs)


def weighted(short_weights=False, bs=BATCH_SIZE):
    """(x, y, sample_weight) batches; the bug: weights sliced with a batch size one too small."""
    w = np.ones(N, "float32")
    while True:
        for i in range(0, N, bs):
            yield IMAGES[i:i + bs], CLASSES[i:i + bs], w[i:i + bs - (1 if short_weights else 0)]


# ---- class order: bug and twin ------------------------------------------------------------------
def directory_flow(root, shuffle=False, batch_size=4):
    """Keras' own ImageDataGenerator.flow_from_directory over class subfolders of ``root``."""
    import tensorflow as tf

    datagen = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1. / 255)
    return datagen.flow_from_directory(root, target_size=(8, 8), batch_size=batch_size, shuffle=shuffle, seed=0)


def sorted_files(root, shuffle=False, batch_size=4):
    """tf.data over the sorted file list of ``root``'s class subfolders; shuffled first if asked."""
    from pathlib import Path

    import tensorflow as tf

    files = sorted(str(p) for p in Path(root).glob("*/*.png"))
    classes = sorted({Path(f).parent.name for f in files})
    labels = [classes.index(Path(f).parent.name) for f in files]
    ds = tf.data.Dataset.from_tensor_slices((files, labels))
    if shuffle:
        ds = ds.shuffle(len(files), seed=0)

    def load(path, label):
        return tf.image.decode_png(tf.io.read_file(path), channels=3), label

    return ds.map(load).batch(batch_size)
