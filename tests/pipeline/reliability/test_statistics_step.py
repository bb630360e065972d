"""The default build (statistics on) fails, stops and resumes as cleanly as ``--no-stats``.

The statistics are computed in the driver after the last shard (``statsgen``, without TFDV's
imports). A statistics step that cannot write says so in one line and leaves a staging folder that
``--resume`` finishes; Ctrl-C during a default build leaves a resumable staging; every resumed
build's statistics are byte for byte those of an uninterrupted build. The held dump of
``held_dump.py`` gives the moments to act at (the real CLI in subprocesses, ``--workers 2``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from extras import needs_tfdv
from held_dump import BUILD, Feeder, assert_same_build, assert_staging_is_sound, done_names, one_line_error, temp_files
from procs import cli, group_alive, kill_group, start, wait_until

pytestmark = needs_tfdv  # statistics are written only with TFDV installed (without it: test_statistics_fast.py)

DEFAULT = [a for a in BUILD if a != "--no-stats"]  # the same build with the default --stats


@pytest.fixture(scope="module")
def clean_stats(dump, base) -> Path:
    out = base / "clean_stats" / "out"
    with Feeder(dump):
        result = cli("build-tfrecords", str(dump), "--out", str(out), *DEFAULT)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "stats").iterdir()) == ["train.stats.pb", "val.stats.pb"]
    return out


def assert_staging_is_sound_but_stats(staging: Path) -> dict[str, tuple[int, bytes]]:
    """``assert_staging_is_sound`` of a build that failed at its statistics, with what the build wrote
    before them (``image_quality.jsonl``) and the test's own obstacle set aside (and put back).
    """
    from pipecheck.pipeline.quality import QUALITY_NAME

    aside = {p: p.read_bytes() for p in (staging / "stats", staging / QUALITY_NAME) if p.exists()}
    for path in aside:
        path.unlink()
    try:
        return assert_staging_is_sound(staging)
    finally:
        for path, data in aside.items():
            path.write_bytes(data)


def test_statistics_that_cannot_be_written_fail_in_one_line_and_resume_finishes(
    dump, clean_stats, shard_names, tmp_path
):
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *DEFAULT]
    proc = start(*args, out_dir=tmp_path / "log")
    wait_until(lambda: len(done_names(staging)) >= 1, proc, what="one shard done")
    kill_group(proc)
    (staging / "stats").write_text("in the way")  # stats/ cannot be created: a real OSError, after every shard

    with Feeder(dump):
        failed = cli(*args, "--resume")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    line = one_line_error(failed.stderr, "while writing the statistics", "--resume", str(staging / "stats"))
    assert "Traceback" not in failed.stderr, line
    assert not out.exists()
    shards = assert_staging_is_sound_but_stats(staging)
    assert len(shards) == len(shard_names), "every shard is complete and kept"

    (staging / "stats").unlink()
    resumed = cli(*args, "--resume")  # every shard is done: the held image is not read again
    assert resumed.returncode == 0, resumed.stderr
    for name, (inode, data) in shards.items():
        assert (out / name).stat().st_ino == inode and (out / name).read_bytes() == data, name
    assert_same_build(out, clean_stats)  # statistics included, byte for byte
    assert sorted(os.listdir(tmp_path)) == ["log", "out"] and temp_files(out) == []


def test_the_same_build_without_the_obstacle_writes_its_statistics(dump, clean_stats, tmp_path):
    """The healthy twin: a build killed at the same moment and resumed with nothing in the way."""
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *DEFAULT]
    proc = start(*args, out_dir=tmp_path / "log")
    wait_until(lambda: len(done_names(staging)) >= 1, proc, what="one shard done")
    kill_group(proc)
    with Feeder(dump):
        resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_build(out, clean_stats)


def test_ctrl_c_during_a_default_build_leaves_a_staging_that_resumes_with_the_same_statistics(
    dump, clean_stats, shard_names, tmp_path
):
    total = len(shard_names)
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *DEFAULT]
    proc = start(*args, out_dir=tmp_path / "log")
    wait_until(
        lambda: len(done_names(staging)) == total - 1 and any(".tmp-" in n for n in os.listdir(staging)),
        proc,
        what="a worker mid-shard",
    )
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(15) == 130
    assert time.monotonic() - t0 < 10
    wait_until(lambda: not group_alive(proc.pid), timeout=5, what="no worker left alive")
    stderr = (tmp_path / "log" / "stderr").read_text()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in stderr, stderr
    assert not out.exists() and not (staging / "stats").exists()
    assert len(assert_staging_is_sound(staging)) == total - 1
    with Feeder(dump):
        resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_build(out, clean_stats)
    assert sorted(os.listdir(tmp_path)) == ["log", "out"] and temp_files(out) == []
