"""Inputs never escape: sidecar values are data, never paths; the build writes only under ``--out``;
symlinks out of the dump are ignored and counted unless ``--follow-symlinks``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from procs import ENV

# --- inputs never escape -------------------------------------------------------------------

_AUDITED_BUILD = r"""
import json, os, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        opened.append([os.path.abspath(os.fsdecode(args[0])), str(args[1]), int(args[2] or 0)])
sys.addaudithook(hook)
from pipecheck.pipeline.build import BuildOptions, build
build(BuildOptions(dump=sys.argv[1], out=sys.argv[2], label_field="label", workers=1, stats=False, val_fraction=0.0))
hook_done = list(opened)
with open(sys.argv[3], "w") as fh:
    json.dump(hook_done, fh)
"""


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st_ = p.lstat()
        out[str(p)] = (
            st_.st_mode,
            st_.st_size,
            st_.st_mtime_ns,
            p.read_bytes() if p.is_file() and not p.is_symlink() else None,
        )
    return out


def test_sidecar_values_are_data_never_paths_and_output_stays_under_out(h, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("not for the dataset")
    d = tmp_path / "work" / "dump"
    h.pair(d, "a", {"label": "../../etc/passwd", "path": str(secret), "file": "../outside/secret.txt"}, h.image(seed=1))
    h.pair(d, "b", {"label": str(secret), "path": "/etc/hostname", "nested": {"src": "/etc/passwd"}}, h.image(seed=2))
    h.pair(d, "c", {"label": "plain", "path": "a.jpg"}, h.image(seed=3))
    out = tmp_path / "work" / "out"
    log = tmp_path / "opened.json"
    before = _snapshot(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", _AUDITED_BUILD, str(d), str(out), str(log)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    opened = json.loads(log.read_text())
    paths = {p for p, _, _ in opened}
    for value in (
        "/etc/passwd",
        "/etc/hostname",
        str(secret),
        os.path.abspath(d / "../outside/secret.txt"),
        os.path.abspath(d / "../../etc/passwd"),
    ):
        assert value not in paths, f"the build opened {value}, a sidecar value"
    writes = [
        p
        for p, mode, flags in opened
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    ]
    assert writes, "the audit hook saw no writes at all"
    staging = str(tmp_path / "work" / ".out.partial")
    lock = str(tmp_path / "work" / ".out.lock")  # one build at a time into --out (issue 16); removed at the end
    assert all(p == lock or p.startswith((str(out) + os.sep, staging + os.sep)) for p in writes), writes
    after = _snapshot(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all(
        k == str(out) or k.startswith(str(out) + os.sep) or k == str(log) or k == str(tmp_path / "work")
        for k in changed
    ), sorted(changed)
    recs = h.by_id(out)
    assert recs["a"]["label/name"] == ["../../etc/passwd"]
    assert recs["a"]["meta/path"] == [str(secret)] and recs["a"]["meta/file"] == ["../outside/secret.txt"]
    assert recs["b"]["label/name"] == [str(secret)] and recs["b"]["meta/nested.src"] == ["/etc/passwd"]
    assert recs["c"]["meta/path"] == ["a.jpg"]
    assert all(b"not for the dataset" not in r["image/encoded"][0] for r in recs.values())


@pytest.fixture
def symlink_dump(h, tmp_path):
    outside = tmp_path / "outside"
    h.write_image(outside / "real.jpg", h.image(seed=40))
    h.pair(outside / "far", "far", {"label": "b"}, h.image(seed=41))
    d = tmp_path / "dump"
    for i in range(3):
        h.pair(d, f"in_{i}", {"label": "a"}, h.image(seed=i))
    os.symlink(outside / "real.jpg", d / "ext.jpg")
    h.write_json(d / "ext.json", {"label": "b"})
    os.symlink(d / "in_0.jpg", d / "inner_link.jpg")  # inside the dump: allowed
    h.write_json(d / "inner_link.json", {"label": "a"})
    return d, outside


def test_symlink_file_outside_the_dump_is_ignored_and_counted(h, symlink_dump, tmp_path):
    d, outside = symlink_dump
    result = h.build(d, tmp_path / "out", label_field="label", val_fraction=0.0)
    acc = result.accounting
    assert acc["other_files_ignored"] == {"symlink_outside_dump": 1}
    assert h.rejects_by_path(result) == {"ext.json": "orphan_sidecar"}
    sources = sorted(r["image/source"][0] for r in h.records(result.out_dir))
    assert sources == ["in_0.jpg", "in_1.jpg", "in_2.jpg", "inner_link.jpg"]
    assert acc["balanced"]


def test_follow_symlinks_reads_the_outside_target(h, symlink_dump, tmp_path):
    d, outside = symlink_dump
    result = h.build(d, tmp_path / "out", label_field="label", val_fraction=0.0, follow_symlinks=True)
    recs = h.by_id(result.out_dir)
    assert recs["ext"]["image/source"] == ["ext.jpg"] and recs["ext"]["label/name"] == ["b"]
    assert recs["ext"]["image/encoded"][0] == (outside / "real.jpg").read_bytes()
    assert result.rejects == [] and result.accounting["other_files_ignored"] == {}


def test_symlink_folder_outside_the_dump_is_counted_or_followed(h, symlink_dump, tmp_path):
    d, outside = symlink_dump
    os.symlink(outside / "far", d / "extdir")
    result = h.build(d, tmp_path / "out", label_field="label", val_fraction=0.0)
    assert "extdir/far" not in h.by_id(result.out_dir)
    assert result.accounting["other_files_ignored"].get("symlink_outside_dump") == 2, result.accounting
    followed = h.build(d, tmp_path / "out2", label_field="label", val_fraction=0.0, follow_symlinks=True)
    assert h.by_id(followed.out_dir)["extdir/far"]["image/source"] == ["extdir/far.jpg"]
