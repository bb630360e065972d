"""Tiny real photos for the pipeline corpus: the committed sample dump, shrunk, as class folders.

The sample dump (``samples/dump``) holds crops of six photographs that scikit-image and
scikit-learn ship (see ``samples/README.md``); here 12 per class are resized to 64 px squares and
written as JPEGs under ``<root>/<layout>/<class>/``, the layout ``image_dataset_from_directory`` and
``flow_from_directory`` read. Built once per root (the test session's temporary folder, set through
``PIPECHECK_REALWORLD_DATA`` by the conftest; else a folder under the system temp dir), so the
case modules also run from the command line. No downloads.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
SAMPLE_DUMP = REPO / "samples" / "dump"
SIDE = 64
LAYOUTS = {
    "six": (("cat", "coffee", "flower", "galaxy", "rocket", "temple"), 12),
    "two": (("cat", "rocket"), 16),  # the originals' cats-vs-dogs problems
}


def _root() -> Path:
    return Path(os.environ.get("PIPECHECK_REALWORLD_DATA") or Path(tempfile.gettempdir()) / "pipecheck-realworld-pipelines")


@functools.lru_cache(maxsize=None)
def _sidecars() -> dict[str, list[Path]]:
    by_class: dict[str, list[Path]] = {}
    for sidecar in sorted(SAMPLE_DUMP.glob("IMG_*.json")):
        image = sidecar.with_suffix(".jpg")
        try:
            species = json.loads(sidecar.read_text(encoding="utf-8")).get("species")
        except ValueError:
            continue
        if species and image.is_file():
            by_class.setdefault(species, []).append(image)
    return by_class


def photo_dir(layout: str = "six") -> str:
    """``<root>/<layout>`` with one sub-folder of 64 px JPEGs per class (built on first use)."""
    from PIL import Image

    classes, per_class = LAYOUTS[layout]
    out = _root() / layout
    done = out / ".complete"
    if done.is_file():
        return str(out)
    for name in classes:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for src in _sidecars()[name][:per_class]:
            with Image.open(src) as img:
                img.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR).save(folder / src.name, "JPEG", quality=92)
    done.write_text("ok")
    return str(out)


def files_and_labels(layout: str = "six") -> tuple[list[str], list[int], list[str]]:
    """Image paths in folder order, their integer labels and the class names (sorted, as Keras does)."""
    root = Path(photo_dir(layout))
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    paths, labels = [], []
    for k, name in enumerate(classes):
        for path in sorted((root / name).glob("*.jpg")):
            paths.append(str(path))
            labels.append(k)
    return paths, labels, classes


@functools.lru_cache(maxsize=None)
def _arrays(layout: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    paths, labels, _ = files_and_labels(layout)
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)) for p in paths])
    x.setflags(write=False)
    y = np.asarray(labels, dtype="uint8").reshape(-1, 1)  # shaped like keras.datasets.cifar10's labels
    y.setflags(write=False)
    return x, y


def load_data(layout: str = "six", size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``(x_train, y_train)`` like ``keras.datasets.cifar10.load_data()[0]``: uint8 images, (N, 1) labels."""
    x, y = _arrays(layout, size)
    return x.copy(), y.copy()


def npy_dataset(layout: str = "six", size: int = 32) -> tuple[str, list[str], dict[str, int]]:
    """One ``<ID>.npy`` per photo under ``<root>/npy_<layout>_<size>/`` (the layout of afshinea's
    keras-data-generator: ``np.load('data/' + ID + '.npy')``); returns the folder, IDs and labels."""
    x, y = _arrays(layout, size)
    folder = _root() / f"npy_{layout}_{size}"
    folder.mkdir(parents=True, exist_ok=True)
    ids, labels = [], {}
    for i in range(len(x)):
        ident = f"id-{i}"
        path = folder / f"{ident}.npy"
        if not path.is_file():
            np.save(path, x[i].astype("float32"))
        ids.append(ident)
        labels[ident] = int(y[i, 0])
    return str(folder), ids, labels


def video_clips(count: int = 6, frames: int = 8, side: int = 96) -> list[tuple[str, int]]:
    """``count`` short "videos" as image sequences (``<root>/clips/clip_<k>/frame_%03d.jpg``, the form
    ``cv2.VideoCapture`` opens as a video) with a 0/1 label each: slow pans over the tree-covered part of
    scikit-learn's ``china.jpg``, so the frames are green-dominated with red about equal to blue (the
    scenes whose colours cannot tell RGB from BGR)."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photo = load_sample_image("china.jpg")  # shipped with scikit-learn: no download
    folder = _root() / "clips"
    clips = []
    for k in range(count):
        clip = folder / f"clip_{k}"
        clip.mkdir(parents=True, exist_ok=True)
        top, left = (240, 340) if k % 2 == 0 else (230, 410)  # two stretches of trees right of the temple
        for j in range(frames):
            path = clip / f"frame_{j:03d}.jpg"
            if not path.is_file():
                y, x = top + 2 * k, left + 5 * j
                crop = photo[y : y + 100, x : x + 100]
                Image.fromarray(crop).resize((side, side), Image.BILINEAR).save(path, "JPEG", quality=92)
        clips.append((str(clip / "frame_%03d.jpg"), k % 2))
    return clips
