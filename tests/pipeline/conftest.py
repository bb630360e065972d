"""Shared fixtures for the build-tfrecords / reader tests.

Everything is generated with Pillow into pytest's tmp folders; builds are tiny (a few dozen images
of 40-72 px), run with ``workers=1`` and without TFDV statistics unless a test is about those.
Helpers are exposed through the session fixture ``h`` (no imports of conftest from test files).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DUMP = REPO / "samples" / "dump"

MINI_CLASSES = ("ant", "bee", "cow")
MINI_COLORS = {"ant": (200, 40, 30), "bee": (230, 200, 20), "cow": (40, 60, 210)}
MINI_TAGS = {"ant": ["insect", "small"], "bee": ["insect", "flying"], "cow": ["mammal"]}


class Helpers:
    """Image/sidecar generators and record readers shared by the test files."""

    @staticmethod
    def pixels(width: int, height: int, color=(128, 128, 128), seed: int = 0) -> np.ndarray:
        """A textured RGB array (gradient + class colour + seeded noise), shape (H, W, 3)."""
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack(
            [
                xx * 255.0 / max(1, width - 1),
                yy * 255.0 / max(1, height - 1),
                (xx + yy) * 127.0 / max(1, width + height - 2),
            ],
            axis=-1,
        )
        arr = 0.45 * base + 0.45 * np.asarray(color, dtype="float64") + rng.normal(0, 12, (height, width, 3))
        return np.clip(arr, 0, 255).astype("uint8")

    @staticmethod
    def image(
        width: int = 48, height: int = 40, color=(128, 128, 128), seed: int = 0, mode: str = "RGB"
    ) -> Image.Image:
        img = Image.fromarray(Helpers.pixels(width, height, color, seed), "RGB")
        return img if mode == "RGB" else img.convert(mode)

    @staticmethod
    def encode(img: Image.Image, fmt: str = "JPEG", **kw: Any) -> bytes:
        buf = io.BytesIO()
        if fmt == "JPEG":
            kw.setdefault("quality", 90)
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    @staticmethod
    def write_image(path: str | Path, img: Image.Image | None = None, fmt: str = "JPEG", **kw: Any) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Helpers.encode(img if img is not None else Helpers.image(), fmt, **kw))
        return path

    @staticmethod
    def write_json(path: str | Path, obj: Any) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj), encoding="utf-8")
        return path

    @staticmethod
    def pair(
        folder: str | Path,
        stem: str,
        meta: Any,
        img: Image.Image | None = None,
        ext: str = ".jpg",
        fmt: str = "JPEG",
        **kw: Any,
    ) -> Path:
        """Write ``stem+ext`` and ``stem.json``; returns the image path."""
        folder = Path(folder)
        Helpers.write_json(folder / f"{stem}.json", meta)
        return Helpers.write_image(folder / f"{stem}{ext}", img, fmt, **kw)

    @staticmethod
    def options(dump, out, **kw: Any):
        from pipecheck.pipeline.build import BuildOptions

        kw.setdefault("workers", 1)
        kw.setdefault("stats", False)
        return BuildOptions(dump=str(dump), out=str(out), **kw)

    @staticmethod
    def build(dump, out, **kw: Any):
        from pipecheck.pipeline.build import build

        return build(Helpers.options(dump, out, **kw))

    @staticmethod
    def records(out_dir: str | Path, split: str | None = None) -> list[dict[str, Any]]:
        """Every record of a build (manifest shard order) as ``{key: list of values}`` + ``_split``/``_shard``.

        Parsed with TensorFlow's own ``tf.train.Example`` protobuf from raw TFRecord frames.
        """
        import tensorflow as tf

        from pipecheck.pipeline.manifest import read_manifest

        manifest = read_manifest(out_dir)
        out = []
        for name, info in manifest["splits"].items():
            if split is not None and name != split:
                continue
            for shard in info["shards"]:
                path = str(Path(out_dir) / shard["file"])
                for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
                    ex = tf.train.Example.FromString(raw)
                    rec: dict[str, Any] = {"_split": name, "_shard": shard["file"]}
                    for key, feat in ex.features.feature.items():
                        kind = feat.WhichOneof("kind")
                        values = list(getattr(feat, kind).value) if kind else []
                        if kind == "bytes_list" and key != "image/encoded":
                            values = [v.decode("utf-8") for v in values]
                        rec[key] = values
                    out.append(rec)
        return out

    @staticmethod
    def by_id(out_dir: str | Path) -> dict[str, dict[str, Any]]:
        recs = Helpers.records(out_dir)
        ids = [r["image/id"][0] for r in recs]
        assert len(ids) == len(set(ids)), "duplicate image/id in the build"
        return {r["image/id"][0]: r for r in recs}

    @staticmethod
    def decode(rec: dict[str, Any]) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(rec["image/encoded"][0])).convert("RGB"))

    @staticmethod
    def rejects_by_path(result) -> dict[str, str]:
        return {r.path: r.reason for r in result.rejects}

    @staticmethod
    def files_under(folder: str | Path) -> dict[str, bytes]:
        folder = Path(folder)
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    @staticmethod
    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    return Helpers


@pytest.fixture(scope="session")
def tf():
    import tensorflow as tf_

    return tf_


def _mini_meta(cls: str, g: int, j: int, idx: int) -> dict[str, Any]:
    tags = list(MINI_TAGS[cls])
    if idx % 5 == 0:
        tags.append("blurry")
    return {
        "species": cls,
        "group": f"{cls}-g{g}",
        "tags": tags,
        "photographer": ["ana", "ben", "chen"][idx % 3],
        "iso": [100, 200, 400, 800][idx % 4],
        "exposure": [0.5, 0.25, 0.125][idx % 3],
        "info": {"taxon": {"species": cls}},
    }


@pytest.fixture(scope="session")
def mini_dump(tmp_path_factory) -> Path:
    """36 clean RGB JPEGs, 3 classes x 4 groups x 3 shots, sidecars with labels, groups, tags, meta.

    Treat as read-only: copy it (``shutil.copytree``) before changing anything.
    """
    root = tmp_path_factory.mktemp("mini_dump")
    idx = 0
    for cls in MINI_CLASSES:
        for g in range(4):
            for j in range(3):
                w, hgt = 40 + 8 * ((idx * 7) % 5), 40 + 6 * ((idx * 3) % 4)
                img = Helpers.image(w, hgt, MINI_COLORS[cls], seed=idx)
                Helpers.pair(root, f"{cls}_{g}_{j}", _mini_meta(cls, g, j, idx), img)
                idx += 1
    return root


@pytest.fixture(scope="session")
def mini_build(mini_dump, tmp_path_factory):
    """The mini dump built once: single label ``species``, groups ``group``, seed 0, 20% val."""
    out = tmp_path_factory.mktemp("mini_build") / "out"
    return Helpers.build(mini_dump, out, label_field="species", group_field="group", val_fraction=0.2)


# sample_build (the committed sample dump, built once per session) is in tests/conftest.py.


@pytest.fixture(scope="session")
def sample_multilabel_build(tmp_path_factory):
    """The committed sample dump, multi-label on ``tags``, grouped by ``specimen``, seed 0."""
    out = tmp_path_factory.mktemp("sample_ml_build") / "out"
    return Helpers.build(SAMPLE_DUMP, out, multi_label_field="tags", group_field="specimen")


@pytest.fixture(scope="session")
def sample_dump() -> Path:
    return SAMPLE_DUMP


@pytest.fixture
def copy_of(tmp_path):
    """Copy a (read-only) fixture dump into this test's tmp_path and return the copy."""

    def _copy(src: Path, name: str = "dump") -> Path:
        dst = tmp_path / name
        shutil.copytree(src, dst)
        return dst

    return _copy
