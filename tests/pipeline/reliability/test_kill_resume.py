"""Crashes and interrupts never lose or corrupt data: a build killed with SIGKILL at chosen moments,
or stopped with Ctrl-C, leaves a staging folder that ``--resume`` turns into the clean build.

The real CLI runs in subprocesses (``python -m pipecheck build-tfrecords``, ``--workers 2``) over the
held dump of ``held_dump.py``: one image blocks its worker until the test lets it go, so each
moment to kill at is a state of the staging folder the test waits for, never a blind sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest
from held_dump import (
    BUILD,
    Feeder,
    assert_same_build,
    assert_staging_is_sound,
    assert_verifies,
    done_names,
    make_dump,
    one_line_error,
    temp_files,
)
from procs import cli, group_alive, kill_group, start, wait_until

# --- kill -9 at several moments, then --resume -----------------------------------------------

KILL_POINTS = [
    "before_start",
    "staging_created",
    "first_shard",
    "half",
    "all_but_blocked",
    "all_shards_before_manifest",
    "half_over_older_build",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_then_resume_gives_the_clean_build(point, dump, clean, shard_names, old_build, tmp_path):
    total = len(shard_names)
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    older = point.endswith("over_older_build")
    if older:
        shutil.copytree(old_build, out)
    old_files = {p.name: p.read_bytes() for p in out.iterdir()} if older else None
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    proc = start(*args, *(["--overwrite"] if older else []), out_dir=tmp_path / "log")
    if point == "staging_created":
        wait_until(lambda: (staging / "state.json").exists(), proc, what="state.json")
    elif point == "first_shard":
        wait_until(lambda: len(done_names(staging)) >= 1, proc, what="one shard done")
    elif point.startswith("half"):
        wait_until(lambda: len(done_names(staging)) >= total // 2, proc, what="half the shards done")
    elif point in ("all_but_blocked", "all_shards_before_manifest"):
        wait_until(lambda: len(done_names(staging)) == total - 1, proc, what="every shard but the blocked one")
    if point == "all_shards_before_manifest":
        # Freeze the parent (as Ctrl-Z would), let the blocked worker finish its shard, then kill:
        # every shard and done record is on disk and dataset.json is not.
        os.kill(proc.pid, signal.SIGSTOP)
        with Feeder(dump) as feeder:
            feeder.wait_fed()
            wait_until(lambda: len(done_names(staging)) == total, what="the last shard")
    kill_group(proc)

    if older:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == old_files, "the older build must be intact"
        assert_verifies(out)
    else:
        assert not out.exists(), "a killed build must never leave a half --out"
    if point == "before_start":
        assert not staging.exists()
        refused = cli(*args, "--resume")
        assert refused.returncode == 2
        one_line_error(refused.stderr, "nothing to resume")
        with Feeder(dump):
            again = cli(*args)
        assert again.returncode == 0, again.stderr
    else:
        reusable = assert_staging_is_sound(staging)
        expected_done = {
            "staging_created": (0, total - 1),
            "first_shard": (1, total - 1),
            "half": (total // 2, total - 1),
            "half_over_older_build": (total // 2, total - 1),
            "all_but_blocked": (total - 1, total - 1),
            "all_shards_before_manifest": (total, total),
        }[point]
        assert expected_done[0] <= len(reusable) <= expected_done[1], (point, sorted(reusable))
        with Feeder(dump) as feeder:
            resumed = cli(*args, "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert feeder.fed == (0 if len(reusable) == total else 1)
        for name, (inode, data) in reusable.items():  # completed shards were reused, not rewritten
            assert (out / name).stat().st_ino == inode, name
            assert (out / name).read_bytes() == data
    assert_same_build(out, clean)
    assert_verifies(out)
    assert sorted(os.listdir(tmp_path)) == ["log", "out"], "no staging, temp or .old- folder may remain"
    assert temp_files(out) == []


def test_sigkill_after_manifest_before_swap_can_resume(dump, clean, tmp_path):
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    for attempt in range(5):  # the window is a few milliseconds wide; a tight poll hits it almost always
        shutil.rmtree(out, ignore_errors=True)
        proc = start(*args, out_dir=tmp_path / "log")
        wait_until(lambda: len(done_names(staging)) >= 1, proc, what="one shard done")
        with Feeder(dump):
            # dataset.json is the last file written before the swap; the resume records are still there
            while proc.poll() is None and not (staging / "dataset.json").exists():
                pass
            try:
                kill_group(proc)
            except ProcessLookupError:  # finished before the kill landed: try again
                pass
            proc.wait()
        if staging.exists():
            break
    else:
        pytest.skip("the build always swapped in before the kill landed")
    assert not out.exists()
    with Feeder(dump):
        resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_build(out, clean)


def test_after_a_kill_plain_rerun_is_refused_and_a_changed_dump_cannot_resume(tmp_path):
    d = make_dump(tmp_path / "dump")
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(d), "--out", str(out), *BUILD]
    proc = start(*args, out_dir=tmp_path / "log")
    wait_until(lambda: len(done_names(staging)) >= 2, proc, what="two shards done")
    kill_group(proc)
    before = {p.name: p.read_bytes() for p in staging.iterdir()}

    plain = cli(*args)
    assert plain.returncode == 2
    one_line_error(plain.stderr, str(staging), "--resume", "--overwrite")
    assert {p.name: p.read_bytes() for p in staging.iterdir()} == before

    (d / "img_0100.json").write_text(json.dumps({"label": "z", "n": 100}))  # the dump changed
    changed = cli(*args, "--resume")
    assert changed.returncode == 2
    one_line_error(changed.stderr, "cannot resume", "changed", "--overwrite")
    assert {p.name: p.read_bytes() for p in staging.iterdir()} == before
    assert not out.exists()

    with Feeder(d):
        fresh = cli(*args, "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    assert not staging.exists()
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["classes"] == ["a", "b", "c", "z"]
    assert_verifies(out)


def test_an_interrupted_build_of_another_version_is_refused_by_name_and_its_own_resumes(h, tmp_path):
    """The staging folder of an older pipecheck (its state.json has no format) may plan shards or
    options differently: --resume says so instead of claiming the dump changed."""
    from pipecheck.pipeline.build import plan_build
    from pipecheck.pipeline.errors import InputError

    d = tmp_path / "d"
    for i in range(6):
        h.pair(d, f"img_{i}", {"label": "ab"[i % 2]}, h.image(40, 36, seed=i))
    opts = h.options(d, tmp_path / "out", label_field="label", stats=False)
    staging = tmp_path / ".out.partial"
    plan_build(opts)  # an interrupted build: staging planned, no shard written yet
    state = json.loads((staging / "state.json").read_text())
    old = {k: v for k, v in state.items() if k != "format"}
    (staging / "state.json").write_text(json.dumps(old))
    with pytest.raises(InputError, match="made by another pipecheck version; rerun with --overwrite"):
        h.build(d, tmp_path / "out", label_field="label", stats=False, resume=True)
    (staging / "state.json").write_text(json.dumps(state))
    result = h.build(d, tmp_path / "out", label_field="label", stats=False, resume=True)
    assert result.accounting["written"] == 6 and not staging.exists()


# --- 2. Ctrl-C --------------------------------------------------------------------------------


def test_ctrl_c_stops_promptly_and_leaves_a_resumable_staging(dump, clean, shard_names, tmp_path):
    total = len(shard_names)
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    proc = start(*args, out_dir=tmp_path / "log")
    # A worker is blocked inside a shard (its temp file open) and the rest are done.
    wait_until(
        lambda: len(done_names(staging)) == total - 1 and any(".tmp-" in n for n in os.listdir(staging)),
        proc,
        what="a worker mid-shard",
    )
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground job on Ctrl-C
    code = proc.wait(15)
    elapsed = time.monotonic() - t0
    assert code == 130
    assert elapsed < 10, f"Ctrl-C took {elapsed:.1f}s"
    wait_until(lambda: not group_alive(proc.pid), timeout=5, what="no worker left alive")
    stderr = (tmp_path / "log" / "stderr").read_text()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in stderr, stderr
    assert not out.exists()
    reusable = assert_staging_is_sound(staging)
    assert len(reusable) == total - 1
    with Feeder(dump) as feeder:
        resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert feeder.fed == 1
    assert_same_build(out, clean)
    assert sorted(os.listdir(tmp_path)) == ["log", "out"] and temp_files(out) == []
