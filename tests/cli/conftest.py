"""Shared builds and a CLI runner for the ``tests/cli`` command tests.

Builds happen once per session (``workers=1``); commands run in process through click's runner,
so TensorFlow is imported once. Treat every build as read-only: commands that write take a
``tmp_path`` output.
"""

from __future__ import annotations

import io
import json
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def invoke(*args: str):
    """Run ``pipecheck ARGS`` in process; the result has ``exit_code``, ``stdout`` and ``stderr``."""
    from click.testing import CliRunner

    from pipecheck.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="session")
def pipecheck_cli():
    return invoke


@pytest.fixture(scope="session")
def cli_sample_build(sample_build) -> str:
    """The committed sample dump as ``./dev sample`` builds it (species, grouped by specimen, TFDV stats): the
    folder of the session's one ``sample_build`` (tests/conftest.py)."""
    return str(sample_build.out_dir)


def _noise(seed: int, side: int = 32):
    """A small random RGB image: random difference hashes, so no two are near duplicates."""
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8), "RGB")


@pytest.fixture(scope="session")
def skewed_build(tmp_path_factory) -> str:
    """Forced split, single label: train ant/bee/cow 100 each; val ant 12, bee 12, cow 0 (absent).

    Only ``cow`` is wrong: ant and bee have enough images everywhere and their val share (50% of
    24 vs 33% of 300) is not a significant gap."""
    from pipecheck.pipeline.build import BuildOptions, build

    root = tmp_path_factory.mktemp("cli_skewed")
    dump = root / "dump"
    dump.mkdir()
    i = 0
    for split, counts in (("train", {"ant": 100, "bee": 100, "cow": 100}), ("val", {"ant": 12, "bee": 12, "cow": 0})):
        for cls, n in counts.items():
            for _ in range(n):
                buf = io.BytesIO()
                _noise(i).save(buf, "JPEG", quality=90)
                (dump / f"{cls}_{i:03d}.jpg").write_bytes(buf.getvalue())
                (dump / f"{cls}_{i:03d}.json").write_text(json.dumps({"species": cls, "split": split}))
                i += 1
    out = root / "out"
    build(BuildOptions(dump=str(dump), out=str(out), label_field="species", split_field="split", workers=1))
    return str(out)
