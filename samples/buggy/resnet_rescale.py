"""A user-style input pipeline for ResNet50 with the bug of seed 001: pixels scaled by 1/255.

ResNet50 expects ``keras.applications.resnet50.preprocess_input`` (caffe mode: RGB->BGR, ImageNet
mean subtracted, no scaling); ``x / 255`` feeds it values in [0, 1] instead. Training still runs and
the loss still moves, which is why the bug stays silent. pipecheck catches it::

    pipecheck validate --backbone resnet50 --source samples.buggy.resnet_rescale:train_batches

Reads ``samples/dump/IMG_*.jpg`` with their JSON sidecars (label field ``species``); without that
folder it falls back to a few scikit-image photos. Like the generator of seed 001 it loops forever
(``model.fit(..., steps_per_epoch=...)`` style), so ``--batches`` bounds what pipecheck samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

DUMP = Path(__file__).resolve().parent.parent / "dump"
SIZE = 224


def _examples() -> list[tuple[Path | str, str]]:
    paths = sorted(DUMP.glob("IMG_*.jpg"))
    if paths:
        return [(p, json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))["species"]) for p in paths]
    return [(name, name) for name in ("chelsea", "coffee", "astronaut", "rocket")]


def _load(where: Path | str) -> Image.Image:
    if isinstance(where, Path):
        return Image.open(where)
    import skimage.data

    return Image.fromarray(getattr(skimage.data, where)())


def train_batches(batch_size: int = 8) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x, y)`` batches forever: x float32 (batch, 224, 224, 3), y int64 class indices."""
    examples = _examples()
    classes = sorted({label for _, label in examples})
    index = {name: i for i, name in enumerate(classes)}
    rng = np.random.default_rng(0)
    while True:
        order = rng.permutation(len(examples))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [examples[i] for i in order[start:start + batch_size]]
            x = np.stack([np.asarray(_load(p).convert("RGB").resize((SIZE, SIZE)), dtype="float32") for p, _ in chunk])
            y = np.array([index[label] for _, label in chunk], dtype="int64")
            yield x / 255.0, y  # the bug: should be keras.applications.resnet50.preprocess_input(x)
