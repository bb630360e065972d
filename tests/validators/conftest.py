"""Shared fixtures for the validator tests that need real builds (leakage, schema).

Images are crops of scikit-image's bundled photos (not noise: noise has random difference hashes,
and flat colours all hash alike), 128 px crops shrunk to 48 px. Builds run in process with
``workers=1``; helpers are exposed through the session fixture ``vh``.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The family folders' tests import the helpers shared across families that live here
# (input_range_sources, model_input_cases), as tests/cli does.
sys.path.insert(0, str(Path(__file__).resolve().parent))

PHOTO_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


class ValidatorHelpers:
    """Dump writers and a build shortcut for the validator tests."""

    @staticmethod
    def encode(img, fmt: str = "JPEG", **kw: Any) -> bytes:
        buf = io.BytesIO()
        if fmt == "JPEG":
            kw.setdefault("quality", 95)
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    @staticmethod
    def decode(data: bytes):
        from PIL import Image

        return Image.open(io.BytesIO(data)).convert("RGB")

    @staticmethod
    def write(folder: Path, stem: str, meta: dict[str, Any], data: bytes, ext: str = ".jpg") -> Path:
        """Write ``stem+ext`` (the given bytes) and its ``stem.json`` sidecar."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}.json").write_text(json.dumps(meta), encoding="utf-8")
        path = folder / f"{stem}{ext}"
        path.write_bytes(data)
        return path

    @staticmethod
    def write_all(folder: Path, rows: Iterable[tuple[str, dict[str, Any], bytes, str]]) -> Path:
        for stem, meta, data, ext in rows:
            ValidatorHelpers.write(folder, stem, meta, data, ext)
        return folder

    @staticmethod
    def build(dump: Path, out: Path, **kw: Any):
        from pipecheck.pipeline.build import BuildOptions, build

        kw.setdefault("workers", 1)
        kw.setdefault("stats", False)
        return build(BuildOptions(dump=str(dump), out=str(out), **kw))


@pytest.fixture(scope="session")
def vh() -> type[ValidatorHelpers]:
    return ValidatorHelpers


@pytest.fixture(scope="session")
def photos():
    """65 distinct photo crops (PIL RGB, 48x48): non-overlapping 128 px tiles of five photos."""
    import skimage.data
    from PIL import Image

    out = []
    for name in PHOTO_SOURCES:
        arr = getattr(skimage.data, name)()
        height, width = arr.shape[:2]
        for y in range(0, height - 127, 128):
            for x in range(0, width - 127, 128):
                out.append(Image.fromarray(arr[y : y + 128, x : x + 128]).resize((48, 48), Image.BILINEAR))
    return out
