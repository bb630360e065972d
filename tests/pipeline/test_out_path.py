"""Issue 16 item 10: ``--out .`` and ``--out sub/..`` name a folder by where they lead.

Before, ``--out .`` staged into ``./..partial`` (inside ``--out``), built everything, then failed to
swap the folder in and left that staging folder blocking every rerun. The real CLI runs in a real
working folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_lock import _jpeg, cli, one_line_error

ARGS = ["--label-field", "label", "--workers", "1", "--no-stats", "--val-fraction", "0.25"]


@pytest.fixture
def dump(tmp_path) -> Path:
    d = tmp_path / "dump"
    d.mkdir()
    for i in range(6):
        (d / f"img_{i}.jpg").write_bytes(_jpeg(i))
        (d / f"img_{i}.json").write_text(json.dumps({"label": "xy"[i % 2]}))
    return d


def _built(out: Path) -> None:
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["accounting"]["written"] == 6 and manifest["accounting"]["balanced"]
    assert not [n for n in os.listdir(out) if n.endswith((".partial", ".lock")) or ".old-" in n], os.listdir(out)
    verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_out_dot_from_an_empty_folder_builds_there_and_reruns(dump, tmp_path):
    work = tmp_path / "work" / "flowers"
    work.mkdir(parents=True)
    first = cli("build-tfrecords", str(dump), "--out", ".", *ARGS, cwd=work)
    assert first.returncode == 0, first.stderr
    _built(work)
    assert sorted(os.listdir(tmp_path / "work")) == ["flowers"], "the staging folder goes beside --out, then away"

    again = cli("build-tfrecords", str(dump), "--out", ".", *ARGS, cwd=work)  # a build is there now
    assert again.returncode == 2
    one_line_error(again.stderr, "not empty", "--overwrite")
    replaced = cli("build-tfrecords", str(dump), "--out", ".", *ARGS, "--overwrite", cwd=work)
    assert replaced.returncode == 0, replaced.stderr
    _built(work)
    assert sorted(os.listdir(tmp_path / "work")) == ["flowers"]


def test_out_with_dot_dot_means_the_folder_it_leads_to(dump, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    refused = cli("build-tfrecords", str(dump), "--out", "a/b/..", *ARGS, cwd=tmp_path)
    assert refused.returncode == 2  # a/b/.. is a, which holds b
    one_line_error(refused.stderr, "not empty", "--overwrite")
    assert sorted(os.listdir(tmp_path / "a")) == ["b"] and sorted(os.listdir(tmp_path)) == ["a", "dump"]

    built = cli("build-tfrecords", str(dump), "--out", "a/b/..", *ARGS, "--overwrite", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    _built(tmp_path / "a")
    assert sorted(os.listdir(tmp_path)) == ["a", "dump"]


def test_out_root_is_refused_before_anything_is_written(dump, tmp_path):
    refused = cli("build-tfrecords", str(dump), "--out", "/", *ARGS)
    assert refused.returncode == 2
    one_line_error(refused.stderr, "--out /")
