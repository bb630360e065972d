"""Small natural-photo batches for the input_range tests, and ``--source`` callables for the CLI test.

Photos are crops of scikit-image's chelsea, coffee and astronaut, resized small: real colour and
contrast statistics (not uniform noise), so healthy input looks like what users feed.
"""

from __future__ import annotations

import functools

import numpy as np

NAMES = ("chelsea", "coffee", "astronaut")


@functools.lru_cache(maxsize=None)
def _photo_stack(size: int, names: tuple[str, ...] = NAMES) -> np.ndarray:
    import skimage.data
    from skimage.transform import resize

    out = []
    for name in names:
        image = getattr(skimage.data, name)()
        h, w = image.shape[:2]
        for i in range(4):
            side = int(min(h, w) * (0.6 + 0.1 * i))
            top, left = (h - side) * i // 4, (w - side) * (3 - i) // 4
            crop = image[top : top + side, left : left + side]
            out.append(resize(crop, (size, size), preserve_range=True, anti_aliasing=True))
    stack = np.stack(out).astype("float32")
    stack.setflags(write=False)
    return stack


def photos(size: int = 48) -> np.ndarray:
    """12 raw RGB photos, float32 in [0, 255], shape (12, size, size, 3); a fresh writable copy."""
    return _photo_stack(size).copy()


def dark_photos(size: int = 48) -> np.ndarray:
    """4 crops of the Hubble deep field: mean pixel about 18, a few bright stars."""
    return _photo_stack(size, ("hubble_deep_field",)).copy()


def labels(n: int = 12, classes: int = 3) -> np.ndarray:
    return np.arange(n) % classes


def _batches(x: np.ndarray, batch_size: int = 4):
    y = labels(len(x))
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


def healthy_resnet(size: int = 32):
    """What a correct ResNet50 pipeline yields: Keras' own preprocess_input on raw pixels."""
    from keras.applications.resnet50 import preprocess_input

    return _batches(np.asarray(preprocess_input(photos(size))))


def rescaled_resnet(size: int = 32):
    """Seed 001: the same photos scaled by 1/255 for ResNet50."""
    return _batches(photos(size) / 255.0)


def healthy_resnet_list(size: int = 32):
    """The healthy batches as a re-iterable list (a sized source, so no generator findings either)."""
    return list(healthy_resnet(size))
