"""Issue 16 item 1: one build at a time into an ``--out``.

Real processes, as in ``reliability/test_kill_resume.py``: the CLI runs in its own process group. To hold a
build mid-way without sleeping blindly, the test polls the staging folder and freezes the whole
group (SIGSTOP, as Ctrl-Z would) the moment shards are being written: a stopped build is alive and
holds its lock, and cannot finish behind the test's back; SIGCONT lets it go on, SIGKILL kills it.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from procs import cli, group_alive, kill_group, start, wait_until  # noqa: E402

N_IMAGES = 120
BUILD = ["--label-field", "label", "--workers", "2", "--shard-size-mb", "0.01", "--no-stats"]  # 18 shards


def _jpeg(i: int) -> bytes:
    arr = np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_dump(root: Path, labels=("a", "b", "c")) -> Path:
    """``N_IMAGES`` 32 px noise JPEGs with sidecars (label, n)."""
    root.mkdir(parents=True)
    for i in range(N_IMAGES):
        stem = f"img_{i:04d}"
        (root / f"{stem}.json").write_text(json.dumps({"label": labels[i % len(labels)], "n": i}))
        (root / f"{stem}.jpg").write_bytes(_jpeg(i))
    return root


def done_count(staging: Path) -> int:
    try:
        return sum(1 for n in os.listdir(staging) if n.endswith(".done.json"))
    except FileNotFoundError:
        return 0


_FROZEN: list[subprocess.Popen] = []


def reap() -> None:
    """Kill what a failed test left frozen (a stopped build waits for ever)."""
    while _FROZEN:
        proc = _FROZEN.pop()
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(autouse=True)
def _reap_frozen_builds():
    yield
    reap()


def stopped_build(args: list[str], out: Path, log: Path, shards: int = 1, tries: int = 5) -> subprocess.Popen:
    """A build of ``args`` frozen (SIGSTOP on its group) once ``shards`` shards are done; a build
    that finished before the freeze landed is removed and started again."""
    staging = out.parent / f".{out.name}.partial"
    for _ in range(tries):
        proc = start(*args, out_dir=log)
        _FROZEN.append(proc)
        while proc.poll() is None and done_count(staging) < shards:
            time.sleep(0.0005)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGSTOP)
            if proc.poll() is None:
                return proc
        proc.wait()
        for leftover in (out, staging):
            shutil.rmtree(leftover, ignore_errors=True)
    pytest.skip("the build always finished before it could be frozen")


def one_line_error(stderr: str, *fragments: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pipecheck: error:") and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_verifies(out: Path) -> dict:
    result = cli("verify", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / "dataset.json").read_text())
    acc = manifest["accounting"]
    assert acc["balanced"] and acc["written"] == N_IMAGES, acc
    return manifest


def fds_to(pid: int, target: Path) -> list[str]:
    """The descriptors of process ``pid`` open on ``target``."""
    found = []
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in entries:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(target):
                found.append(fd)
        except OSError:
            pass
    return found


@pytest.fixture
def dump(tmp_path) -> Path:
    return make_dump(tmp_path / "dump")


def test_a_second_build_into_a_running_builds_out_is_refused_and_the_first_finishes_clean(dump, tmp_path):
    """Before: the second build was told the running one was "interrupted" (pass --resume or
    --overwrite), and with --overwrite it deleted the running build's staging folder; shards of two
    builds mixed under one --out, published with balanced: true."""
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    first = stopped_build(args, out, tmp_path / "log")
    before = {p.name: p.read_bytes() for p in staging.iterdir()}
    for flags in ([], ["--overwrite"], ["--resume"]):
        second = cli(*args, *flags)
        assert second.returncode == 2, (flags, second.stderr)
        line = one_line_error(
            second.stderr, "is running", f"pid {first.pid}", socket.gethostname(), "since", "not interrupted", str(out)
        )
        assert "--overwrite" not in line and "--resume" not in line, line
        assert {p.name: p.read_bytes() for p in staging.iterdir()} == before, "the running build's staging was touched"
    os.killpg(first.pid, signal.SIGCONT)
    assert first.wait(60) == 0, (tmp_path / "log" / "stderr").read_text()
    assert_verifies(out)
    assert sorted(os.listdir(tmp_path)) == ["dump", "log", "out"], "no staging folder or lock file may remain"


def test_the_lock_is_taken_before_anything_is_checked_or_staged(dump, tmp_path):
    """Two builds started together both passed the --out checks before either had created the
    staging folder; the lock comes first, so the second sees the first even then."""
    from pipecheck.pipeline.staging import lock_path, out_lock

    out = tmp_path / "out"
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    with out_lock(str(out)):  # this test process is the "first build", before it staged anything
        held = json.loads(lock_path(out).read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        refused = cli(*args)
        assert refused.returncode == 2
        one_line_error(refused.stderr, "is running", f"pid {os.getpid()}")
        assert sorted(os.listdir(tmp_path)) == [".out.lock", "dump"], "the refused build created nothing"
    assert not lock_path(out).exists(), "the lock file goes when its holder finishes"
    built = cli(*args)
    assert built.returncode == 0, built.stderr
    assert_verifies(out)


def test_a_lock_left_by_a_sigkilled_build_is_stale(dump, tmp_path):
    out, lock = tmp_path / "out", tmp_path / ".out.lock"
    args = ["build-tfrecords", str(dump), "--out", str(out), *BUILD]
    proc = stopped_build(args, out, tmp_path / "log", shards=2)
    kill_group(proc)
    assert json.loads(lock.read_text())["pid"] == proc.pid, "the killed build's lock file is left behind"

    plain = cli(*args)  # nobody runs it any more: it is an interrupted build, not a running one
    assert plain.returncode == 2
    line = one_line_error(plain.stderr, "interrupted build", "--resume", "--overwrite")
    assert "is running" not in line
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_verifies(out)
    assert sorted(os.listdir(tmp_path)) == ["dump", "log", "out"]


def test_workers_do_not_keep_the_lock_when_the_driver_alone_is_killed(dump, tmp_path):
    """The OOM killer takes the driver, not its workers: forked workers must not inherit the lock,
    or a build nobody runs would stay "running" until they exit."""
    out, lock = tmp_path / "out", tmp_path / ".out.lock"
    proc = stopped_build(["build-tfrecords", str(dump), "--out", str(out), *BUILD], out, tmp_path / "log")
    try:
        workers = [p for p in group_alive(proc.pid) if p != proc.pid]
        assert workers, "the build runs worker processes"
        assert fds_to(proc.pid, lock), "the driver holds the lock"
        assert all(not fds_to(p, lock) for p in workers), "a worker holds the lock file open"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert group_alive(proc.pid), "the (stopped) workers outlive the driver"
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if still held
        finally:
            os.close(fd)
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        wait_until(lambda: not group_alive(proc.pid), timeout=10, what="the workers to die")


def test_without_flock_a_lock_file_of_a_dead_process_is_stale_and_a_live_ones_refuses(tmp_path):
    """Some network and FUSE mounts have no flock: the lock file is then created exclusively and
    judged by the pid and host it records (real processes: one finished, this one alive)."""
    from pipecheck.pipeline.errors import InputError
    from pipecheck.pipeline.staging import _acquire_pidfile

    lock, out = tmp_path / ".out.lock", tmp_path / "out"
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock.write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "since": time.time()}))
    fd = _acquire_pidfile(lock, out)
    os.close(fd)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
    with pytest.raises(InputError, match=f"is running \\(pid {os.getpid()} on "):
        _acquire_pidfile(lock, out)
    lock.write_text(json.dumps({"pid": gone.pid, "host": "another-host", "since": time.time()}))
    with pytest.raises(InputError, match="another-host"):  # another machine's pid says nothing here
        _acquire_pidfile(lock, out)
