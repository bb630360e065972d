"""Real-photo test corpora for the benchmarks: crops of the photographs that scikit-image and
scikit-learn ship (no download), re-encoded as JPEG with a JSON sidecar each, like a user's dump."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "coffee", "rocket", "astronaut", "flower", "temple")


def _sources() -> list[np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut()]
    photos += list(load_sample_images().images)
    return [np.asarray(p)[..., :3] for p in photos]


def make_dump(
    root: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    min_side: int = 256,
    max_side: int = 900,
    quality: int = 85,
    class_folders: str | os.PathLike | None = None,
) -> Path:
    """Write ``n`` JPEG crops (sides ``min_side``..``max_side``) + sidecars into a flat ``root``.

    With ``class_folders``, also write the same images into ``class_folders/<class>/`` (the layout
    ``keras.utils.image_dataset_from_directory`` needs), as hard links where possible.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = [Image.fromarray(p) for p in _sources()]
    for i in range(n):
        k = int(rng.integers(len(sources)))
        src = sources[k]
        w, h = src.size
        side = int(rng.integers(min_side, max_side + 1))
        aspect = float(rng.uniform(0.75, 1.33))
        out_w, out_h = side, max(min_side, int(side / aspect))
        cw, ch = int(rng.integers(w // 3, w + 1)), int(rng.integers(h // 3, h + 1))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = src.crop((x, y, x + cw, y + ch)).resize((out_w, out_h), Image.BILINEAR)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        stem = f"IMG_{i:06d}"
        path = root / f"{stem}.jpg"
        img.save(path, "JPEG", quality=quality)
        (root / f"{stem}.json").write_text(
            json.dumps({"species": CLASSES[k], "specimen": f"S{i // 3:06d}", "iso": int(rng.integers(100, 3200))})
        )
        if class_folders is not None:
            d = Path(class_folders) / CLASSES[k]
            d.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, d / path.name)
            except OSError:
                img.save(d / path.name, "JPEG", quality=quality)
    return root
