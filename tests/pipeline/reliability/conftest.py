"""The shared held dump of ``tests/pipeline/reliability`` (see ``held_dump.py``), its clean build and
an older build to build over: made once per session, read-only for the tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from held_dump import BUILD, N_IMAGES, Feeder, _jpeg, make_dump  # noqa: E402
from procs import cli  # noqa: E402

# --- the shared dump and its clean build -------------------------------------------------------


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="session")
def dump(base) -> Path:
    return make_dump(base / "dump")


@pytest.fixture(scope="session")
def clean(dump, base) -> Path:
    out = base / "clean" / "out"
    with Feeder(dump) as feeder:
        result = cli("build-tfrecords", str(dump), "--out", str(out), *BUILD)
    assert result.returncode == 0, result.stderr
    assert feeder.fed == 1
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["accounting"]["written"] == N_IMAGES
    assert sum(len(s["shards"]) for s in manifest["splits"].values()) >= 10
    return out


@pytest.fixture(scope="session")
def shard_names(clean) -> list[str]:
    """Shards in task order (split, index): the order a single worker writes them."""
    manifest = json.loads((clean / "dataset.json").read_text())
    return [s["file"] for split in sorted(manifest["splits"]) for s in manifest["splits"][split]["shards"]]


@pytest.fixture(scope="session")
def shard_of(clean, h) -> dict[str, str]:
    """stem -> shard file of the clean build (read with TensorFlow's own Example parser)."""
    return {r["image/id"][0]: r["_shard"] for r in h.records(clean)}


@pytest.fixture(scope="session")
def old_build(base) -> Path:
    """A complete build of another, tiny dump: the "previous good build" under --out."""
    d = base / "old_dump"
    d.mkdir()
    for i in range(4):
        (d / f"old_{i}.jpg").write_bytes(_jpeg(1000 + i))
        (d / f"old_{i}.json").write_text(json.dumps({"label": "xy"[i % 2]}))
    out = base / "old_build" / "out"
    result = cli(
        "build-tfrecords",
        str(d),
        "--out",
        str(out),
        "--label-field",
        "label",
        "--workers",
        "1",
        "--no-stats",
        "--val-fraction",
        "0.25",
    )
    assert result.returncode == 0, result.stderr
    return out
