"""Durability: workers only start their shards' writes; the build waits for the disk before publishing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from held_dump import assert_same_build


@pytest.mark.parametrize("stats", [False, True], ids=["no-stats", "stats"])
def test_shards_that_cannot_reach_the_disk_fail_the_build_and_are_rewritten_on_resume(
    h, mini_dump, tmp_path, monkeypatch, stats
):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell which file an fsync is for")
    # With statistics on, the resumed build computes them over shards written by two runs (and the
    # plan's items are released before TFDV runs): they must equal the clean build's, byte for byte.
    kw = dict(label_field="species", val_fraction=0.2, shard_size_mb=0.01, stats=stats)
    clean = h.build(mini_dump, tmp_path / "clean" / "out", **kw).out_dir
    shards = sorted(p.name for p in Path(clean).glob("*.tfrecord"))
    assert len(shards) >= 4
    bad = {shards[1], shards[3]}
    real_fsync = os.fsync

    def failing_fsync(fd):  # the disk gives up on two shards' data when the build flushes them
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) in bad:
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "out"
    with pytest.raises(OSError) as failed:
        h.build(mini_dump, out, **kw)
    assert failed.value.filename.endswith(shards[1]), failed.value
    assert "flushing to disk (removed and 1 more shard; --resume writes them again)" in failed.value.strerror
    assert not out.exists(), "nothing is published before every shard is on disk"
    staging = tmp_path / ".out.partial"
    # Both bad shards are gone with their done records (a copy in memory only must not be reused);
    # the others are kept for --resume.
    assert {p.name for p in staging.glob(".*.done.json")} == {f".{s}.done.json" for s in shards if s not in bad}
    assert {p.name for p in staging.glob("*.tfrecord")} == set(shards) - bad
    monkeypatch.setattr(os, "fsync", real_fsync)
    resumed = h.build(mini_dump, out, resume=True, **kw)
    assert_same_build(Path(resumed.out_dir), Path(clean))


def test_shard_writers_do_not_wait_for_the_disk_and_the_build_flushes_every_shard_once(
    h, mini_dump, tmp_path, monkeypatch
):
    from pipecheck.pipeline import fsio

    if fsio._sync_file_range() is None or not os.path.isdir("/proc/self/fd"):
        pytest.skip("no sync_file_range here (not Linux/glibc): shard writers fsync themselves")
    # workers=1 (h.build's default): the shard writer runs in this process, so its fsyncs, if it
    # made any, would be recorded here too.
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    result = h.build(
        mini_dump, tmp_path / "out", label_field="species", val_fraction=0.2, shard_size_mb=0.01, workers=1
    )
    shards = sorted(p.name for p in Path(result.out_dir).glob("*.tfrecord"))
    # A shard fsynced by its writer would show under its temporary name (.NAME.tmp-PID).
    flushed = [os.path.basename(p).lstrip(".").split(".tmp-")[0] for p in synced if ".tfrecord" in p]
    assert sorted(flushed) == shards, "each shard fsynced exactly once, by the build before publishing"
    assert not [p for p in synced if ".done.json" in p], "done records are checked on resume, not fsynced"
