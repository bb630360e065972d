"""Issue 16 item 2: ``--resume`` refuses a dump whose records would differ, names included.

A real build is SIGKILLed with shards done (frozen first, so it cannot finish behind the test's
back), a typo in a class name is fixed in every sidecar (``dgo`` -> ``dog``: the same sorted position, so
every label index stays the same), and ``--resume`` is tried: the shards already written hold
``dgo``, the rest would hold ``dog``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_lock import BUILD, N_IMAGES, assert_verifies, cli, kill_group, make_dump, one_line_error, reap, stopped_build


@pytest.fixture(autouse=True)
def _reap_frozen_builds():
    yield
    reap()


def _relabel(dump: Path, old: str, new: str) -> None:
    for sidecar in sorted(dump.glob("*.json")):
        meta = json.loads(sidecar.read_text())
        if meta["label"] == old:
            sidecar.write_text(json.dumps({**meta, "label": new}))


def _killed_build(tmp_path: Path, args: list[str]) -> dict[str, bytes]:
    kill_group(stopped_build(args, tmp_path / "out", tmp_path / "log", shards=2))
    return {p.name: p.read_bytes() for p in (tmp_path / ".out.partial").iterdir()}


def test_resume_after_a_class_rename_is_refused_and_the_unchanged_dump_resumes(tmp_path):
    dump = make_dump(tmp_path / "dump", labels=["cat", "dgo", "eel"])
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    before = _killed_build(tmp_path, args)

    _relabel(dump, "dgo", "dog")
    refused = cli(*args, "--resume")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    one_line_error(refused.stderr, "cannot resume", "changed since the interrupted build", "--overwrite")
    assert {p.name: p.read_bytes() for p in staging.iterdir()} == before, "a refused resume touched the staging folder"
    assert not out.exists()

    _relabel(dump, "dog", "dgo")  # back as it was (only the sidecars' mtimes differ): it resumes
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    manifest = assert_verifies(out)
    assert manifest["classes"] == ["cat", "dgo", "eel"]
    counts = {c: sum(s["class_counts"][c] for s in manifest["splits"].values()) for c in manifest["classes"]}
    assert sum(counts.values()) == N_IMAGES and counts["dgo"] == len(range(1, N_IMAGES, 3))


def test_resume_after_a_metadata_change_is_refused(tmp_path):
    """Metadata values are in every record too (``meta/n`` here): a changed value is a changed dump."""
    dump = make_dump(tmp_path / "dump")
    args = ["build-tfrecords", str(dump), "--out", str(tmp_path / "out"), *BUILD]
    _killed_build(tmp_path, args)
    sidecar = dump / "img_0003.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "n": 3.5}))
    refused = cli(*args, "--resume")
    assert refused.returncode == 2
    one_line_error(refused.stderr, "cannot resume", "changed", "--overwrite")
    assert sorted(os.listdir(tmp_path)) == [".out.partial", "dump", "log"]
