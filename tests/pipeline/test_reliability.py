"""Issue 7: bad inputs, crashes and resumes never lose or corrupt data.

The real CLI runs in subprocesses (``python -m pipecheck build-tfrecords``, ``--workers 2``) and is
killed with SIGKILL / SIGINT at chosen moments. To choose the moment without sleeping blindly, one
image of the ~300-image dump is held under a write lease (``fcntl F_SETLEASE``) by the test: the
worker that opens it blocks, like a file on a stalled network disk, until the test lets go. (It was
a named pipe; builds now refuse pipes unread.) While it blocks the other worker finishes the rest,
so "one shard done", "half the shards done" and "every shard but one done" are states the test
waits for by polling the staging folder, and the build cannot finish behind the test's back. The
file is a plain JPEG whose bytes and mtime never change, so the dump's fingerprint is the same for
every run. The kernel breaks a lease after ``/proc/sys/fs/lease-break-time`` (45 s) on its own, so
no wait here may be longer than that.

Environment stand-ins (all real, nothing mocked):
- disk full: a 64 KiB tmpfs mounted as the output parent (skipped, with the reason shown, where
  mounting is not permitted), and RLIMIT_FSIZE (``EFBIG``) which works everywhere;
- permissions: the build runs as ``nobody`` via ``setpriv`` (we run as root, who ignores modes);
- a file removed mid-build: deleted while the single worker is blocked on the pipe, before the
  worker reaches the shard that holds it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pipecheck.pipeline import spec
from pipecheck.pipeline.dump import clean_text, read_sidecar
from pipecheck.pipeline.labels import LabelSpec, coerce_meta, extract_labels, flatten_meta, meta_types
from pipecheck.pipeline.rejects import REASONS
from pipecheck.pipeline.shards import load_done

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from procs import ENV, PIPECHECK, cli, group_alive, kill_group, start, wait_until  # noqa: E402
N_IMAGES = 300
FIFO_STEM = "img_0007"
BUILD = ["--label-field", "label", "--workers", "2", "--shard-size-mb", "0.05", "--no-stats"]


# --- dumps, the pipe feeder and process helpers -------------------------------------------------


def _jpeg(i: int, size=(40, 36)) -> bytes:
    import io

    arr = np.random.default_rng(i).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


FIFO_BYTES = _jpeg(7)
_HELD: dict[Path, "Lease"] = {}


class Lease:
    """A write lease on one file of a dump: other processes' open() of it blocks while it is held."""

    def __init__(self, path: Path):
        import fcntl

        self.path, self.fd = path, None
        self.asked = threading.Event()  # set by SIGIO: somebody tried to open the file
        signal.signal(signal.SIGIO, lambda *_: self._notice())
        self.fcntl = fcntl
        self.take()

    def _notice(self) -> None:
        for lease in _HELD.values():
            lease.asked.set()

    def take(self, timeout: float = 10) -> None:
        """Hold the lease (again); waits while another process still has the file open."""
        deadline = time.monotonic() + timeout
        while True:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                self.fcntl.fcntl(fd, self.fcntl.F_SETLEASE, self.fcntl.F_WRLCK)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EBUSY) and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                raise
            self.fd = fd
            self.asked.clear()
            return

    def release(self) -> None:
        if self.fd is not None:
            self.fcntl.fcntl(self.fd, self.fcntl.F_SETLEASE, self.fcntl.F_UNLCK)
            os.close(self.fd)
            self.fd = None


def make_dump(root: Path, n: int = N_IMAGES, fifo: bool = True) -> Path:
    """``n`` noise JPEGs (~8 KB, 3 classes) with sidecars; ``img_0007.jpg`` held under a lease when ``fifo``."""
    root.mkdir(parents=True)
    for i in range(n):
        stem = f"img_{i:04d}"
        (root / f"{stem}.json").write_text(json.dumps({"label": "abc"[i % 3], "n": i}))
        (root / f"{stem}.jpg").write_bytes(FIFO_BYTES if stem == FIFO_STEM else _jpeg(i))
        if fifo and stem == FIFO_STEM:
            os.utime(root / f"{stem}.jpg", ns=(10**18, 10**18))
            _HELD[root] = Lease(root / f"{stem}.jpg")
    return root


class Feeder:
    """Lets the held image go once, when (and if) a build tries to open it; holds it again after."""

    def __init__(self, dump: Path):
        self.lease = _HELD[dump]
        self.fed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.lease.asked.wait(0.01):
                self.lease.release()
                self.fed += 1
                return

    def __enter__(self) -> "Feeder":
        self._thread.start()
        return self

    def wait_fed(self, timeout: float = 30) -> None:
        self._thread.join(timeout)
        assert self.fed == 1, "the build never opened the held image"

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.lease.fd is None:
            self.lease.take()


def done_names(staging: Path) -> list[str]:
    try:
        names = os.listdir(staging)
    except FileNotFoundError:
        return []
    return sorted(n[1:-len(".done.json")] for n in names if n.endswith(".done.json") and not n.startswith(".."))


def temp_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name)


def one_line_error(stderr: str, *fragments: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pipecheck: error:"), lines[0]
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_staging_is_sound(staging: Path) -> dict[str, tuple[int, bytes]]:
    """After a crash: only state.json, whole shards (CRC-clean), their done records and temp files.

    Returns the shards that have a valid done record (what --resume must reuse): name -> (inode, bytes).
    """
    names = os.listdir(staging)
    assert "state.json" in names
    assert "dataset.json" not in names
    reusable = {}
    for name in names:
        path = staging / name
        if name == "state.json":
            json.loads(path.read_text())
        elif name.endswith(".tfrecord"):
            list(spec.iter_records(str(path)))  # every final-named shard is whole (raises on a torn one)
            if load_done(str(staging), name) is not None:
                reusable[name] = (path.stat().st_ino, path.read_bytes())
        elif name.endswith(".done.json") and not name.startswith(".."):
            shard = name[1:-len(".done.json")]
            assert load_done(str(staging), shard) is not None, f"done record without its intact shard: {name}"
        else:
            assert name.startswith(".") and ".tmp-" in name, f"unexpected file after a crash: {name}"
    return reusable


def assert_same_build(out: Path, clean: Path) -> None:
    """Byte-identical shards, rejects, checksums and statistics; the same manifest but for timings."""
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert names == sorted(str(p.relative_to(clean)) for p in clean.rglob("*"))
    for name in names:
        if name == "dataset.json" or (out / name).is_dir():
            continue
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
    a, b = (json.loads((d / "dataset.json").read_text()) for d in (out, clean))
    for m in (a, b):
        m.pop("created_unix"), m.pop("build_seconds")
    assert a == b
    assert a["accounting"]["balanced"]


def assert_verifies(out: Path) -> None:
    result = cli("verify", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the shared dump and its clean build -------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="module")
def dump(base) -> Path:
    return make_dump(base / "dump")


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def shard_names(clean) -> list[str]:
    """Shards in task order (split, index): the order a single worker writes them."""
    manifest = json.loads((clean / "dataset.json").read_text())
    return [s["file"] for split in sorted(manifest["splits"]) for s in manifest["splits"][split]["shards"]]


@pytest.fixture(scope="module")
def shard_of(clean, h) -> dict[str, str]:
    """stem -> shard file of the clean build (read with TensorFlow's own Example parser)."""
    return {r["image/id"][0]: r["_shard"] for r in h.records(clean)}


@pytest.fixture(scope="module")
def old_build(base) -> Path:
    """A complete build of another, tiny dump: the "previous good build" under --out."""
    d = base / "old_dump"
    d.mkdir()
    for i in range(4):
        (d / f"old_{i}.jpg").write_bytes(_jpeg(1000 + i))
        (d / f"old_{i}.json").write_text(json.dumps({"label": "xy"[i % 2]}))
    out = base / "old_build" / "out"
    result = cli("build-tfrecords", str(d), "--out", str(out), "--label-field", "label", "--workers", "1", "--no-stats",
                 "--val-fraction", "0.25")
    assert result.returncode == 0, result.stderr
    return out


# --- 1. kill -9 at several moments, then --resume -----------------------------------------------

KILL_POINTS = ["before_start", "staging_created", "first_shard", "half", "all_but_blocked",
               "all_shards_before_manifest", "half_over_older_build"]


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
        expected_done = {"staging_created": (0, total - 1), "first_shard": (1, total - 1), "half": (total // 2, total - 1),
                         "half_over_older_build": (total // 2, total - 1), "all_but_blocked": (total - 1, total - 1),
                         "all_shards_before_manifest": (total, total)}[point]
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
    wait_until(lambda: len(done_names(staging)) == total - 1 and any(".tmp-" in n for n in os.listdir(staging)),
               proc, what="a worker mid-shard")
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


# --- 3. environmental failures ----------------------------------------------------------------


def _small_dump(root: Path, n: int = 40) -> Path:
    return make_dump(root, n, fifo=False)


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode}); "
                    "the RLIMIT_FSIZE variant covers a full disk instead")


@pytest.fixture(params=["tmpfs_full", "rlimit_fsize"])
def full_disk(request, tmp_path):
    """(parent folder for --out, preexec_fn for the build, a function that frees the space)."""
    if request.param == "tmpfs_full":
        mnt = tmp_path / "small_disk"
        _mount_tmpfs(mnt, "64k")
        request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(mnt)], capture_output=True))
        free = lambda: subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)  # noqa: E731
        return mnt, None, free
    import resource

    parent = tmp_path / "limited"
    parent.mkdir()
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))  # noqa: E731
    return parent, limit, lambda: None


def _fill_disk_build(full_disk, old_build, tmp_path):
    parent, preexec, free = full_disk
    d = _small_dump(tmp_path / "dump")
    out = parent / "out"
    shutil.copytree(old_build, out)
    args = ["build-tfrecords", str(d), "--out", str(out), "--label-field", "label", "--workers", "2",
            "--shard-size-mb", "0.03", "--no-stats"]
    result = subprocess.run([*PIPECHECK, *args, "--overwrite"], capture_output=True, text=True, env=ENV, timeout=120,
                            preexec_fn=preexec)
    return d, out, args, result, free


def test_disk_full_fails_cleanly_keeps_the_old_build_and_resumes(full_disk, old_build, tmp_path):
    old_files = {p.name: p.read_bytes() for p in old_build.iterdir()}
    d, out, args, result, free = _fill_disk_build(full_disk, old_build, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    one_line_error(result.stderr)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old_files, "the previous build must be intact"
    assert_verifies(out)
    staging = out.parent / ".out.partial"
    assert_staging_is_sound(staging)
    free()
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    clean_out = tmp_path / "clean" / "out"
    assert cli(*args[:3], str(clean_out), *args[4:]).returncode == 0
    assert_same_build(out, clean_out)
    assert not staging.exists() and temp_files(out.parent) == []


def test_disk_full_error_names_the_path(full_disk, old_build, tmp_path):
    d, out, args, result, free = _fill_disk_build(full_disk, old_build, tmp_path)
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert str(out.parent) in line, line


def _unprivileged() -> list[str]:
    """Command prefix that runs as an unprivileged user (root ignores file modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to test permissions")
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    # An interpreter installed under a private home (pyenv in /root) may not start as nobody at all
    # (libpython not found): that is this machine, not pipecheck, so these tests cannot run here.
    probe = subprocess.run([*prefix, sys.executable, "-c", "import pipecheck"], capture_output=True, text=True,
                           env={**ENV, "HOME": "/nonexistent"}, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"{sys.executable} cannot run as nobody here: {(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    return prefix


@pytest.fixture
def world():
    """A folder every user can traverse (pytest's tmp root is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pipecheck-rel-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path)


def run_as_nobody(*args: str) -> subprocess.CompletedProcess:
    env = {**ENV, "HOME": "/nonexistent"}
    return subprocess.run([*_unprivileged(), *PIPECHECK, *args], capture_output=True, text=True, env=env, timeout=120)


def test_read_only_output_parent_is_one_clear_error_and_keeps_the_old_build(world, old_build):
    d = _small_dump(world / "dump", 6)
    parent = world / "readonly"
    parent.mkdir()
    shutil.copytree(old_build, parent / "out")
    parent.chmod(0o755)  # owned by root: not writable for nobody
    before = {p.name: p.read_bytes() for p in (parent / "out").iterdir()}
    result = run_as_nobody("build-tfrecords", str(d), "--out", str(parent / "out"), "--label-field", "label",
                           "--workers", "1", "--no-stats", "--overwrite")
    assert result.returncode == 2, result.stdout + result.stderr
    one_line_error(result.stderr, str(parent))
    assert os.listdir(parent) == ["out"]
    assert {p.name: p.read_bytes() for p in (parent / "out").iterdir()} == before


def test_unreadable_image_and_sidecar_are_rejected_and_accounted(world):
    d = _small_dump(world / "dump", 6)
    (d / "locked_img.jpg").write_bytes(_jpeg(500))
    (d / "locked_img.json").write_text('{"label": "a"}')
    (d / "locked_side.jpg").write_bytes(_jpeg(501))
    (d / "locked_side.json").write_text('{"label": "a"}')
    (d / "locked_img.jpg").chmod(0)
    (d / "locked_side.json").chmod(0)
    outs = world / "outs"
    outs.mkdir()
    outs.chmod(0o777)
    result = run_as_nobody("build-tfrecords", str(d), "--out", str(outs / "out"), "--label-field", "label",
                           "--workers", "2", "--no-stats", "--val-fraction", "0.3")  # 6 images: keep val non-empty
    assert result.returncode == 0, result.stdout + result.stderr
    rejects = [json.loads(line) for line in (outs / "out" / "rejects.jsonl").read_text().splitlines()]
    by_path = {r["path"]: r for r in rejects}
    assert sorted(by_path) == ["locked_img.jpg", "locked_side.jpg"]
    assert by_path["locked_img.jpg"]["reason"] == "unreadable"
    assert "Permission denied" in by_path["locked_img.jpg"]["detail"]
    assert by_path["locked_side.jpg"]["reason"] == "bad_sidecar"
    assert "locked_side.json" in by_path["locked_side.jpg"]["detail"] and "Permission denied" in by_path["locked_side.jpg"]["detail"]
    acc = json.loads((outs / "out" / "dataset.json").read_text())["accounting"]
    assert (acc["inputs_found"], acc["written"], acc["rejected"], acc["balanced"]) == (8, 6, 2, True)


def test_unreadable_subfolder_is_not_silently_skipped(world):
    d = _small_dump(world / "dump", 6)
    sub = d / "locked"
    sub.mkdir()
    (sub / "inner.jpg").write_bytes(_jpeg(600))
    (sub / "inner.json").write_text('{"label": "a"}')
    sub.chmod(0)
    outs = world / "outs"
    outs.mkdir()
    outs.chmod(0o777)
    result = run_as_nobody("build-tfrecords", str(d), "--out", str(outs / "out"), "--label-field", "label",
                           "--workers", "1", "--no-stats")
    if result.returncode == 0:
        acc = json.loads((outs / "out" / "dataset.json").read_text())["accounting"]
        assert acc["inputs_found"] == 7, f"{sub} was skipped silently: {acc}"
    else:
        one_line_error(result.stderr, str(sub))


def test_unreadable_dump_folder_is_one_line_error(world):
    d = _small_dump(world / "dump", 3)
    d.chmod(0o311)
    outs = world / "outs"
    outs.mkdir()
    outs.chmod(0o777)
    result = run_as_nobody("build-tfrecords", str(d), "--out", str(outs / "out"), "--label-field", "label", "--no-stats")
    assert result.returncode == 2
    one_line_error(result.stderr, str(d))


def test_file_removed_while_the_build_runs_is_rejected_unreadable(shard_of, shard_names, tmp_path):
    d = make_dump(tmp_path / "dump")
    fifo_shard = shard_of[FIFO_STEM]
    later = shard_names[shard_names.index(fifo_shard) + 1:]
    assert later, "the pipe's shard must not be the last one written"
    victim = sorted(s for s, f in shard_of.items() if f == later[0])[0]
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = ["build-tfrecords", str(d), "--out", str(out), "--label-field", "label", "--workers", "1",
            "--shard-size-mb", "0.05", "--no-stats"]
    proc = start(*args, out_dir=tmp_path / "log")
    # The single worker is inside the pipe's shard; the victim's shard has not started.
    wait_until(lambda: staging.exists() and any(n.startswith(f".{fifo_shard}.tmp-") for n in os.listdir(staging)),
               proc, what="the worker blocked on the pipe")
    assert later[0] not in done_names(staging)
    (d / f"{victim}.jpg").unlink()
    with Feeder(d):
        assert proc.wait(60) == 0, (tmp_path / "log" / "stderr").read_text()
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["path"], r["reason"]) for r in rejects] == [(f"{victim}.jpg", "unreadable")]
    assert "No such file" in rejects[0]["detail"]
    acc = json.loads((out / "dataset.json").read_text())["accounting"]
    assert (acc["inputs_found"], acc["written"], acc["rejected"], acc["balanced"]) == (N_IMAGES, N_IMAGES - 1, 1, True)
    assert_verifies(out)


# --- 4. inputs never escape -------------------------------------------------------------------

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
        out[str(p)] = (st_.st_mode, st_.st_size, st_.st_mtime_ns, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
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
    result = subprocess.run([sys.executable, "-c", _AUDITED_BUILD, str(d), str(out), str(log)],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    opened = json.loads(log.read_text())
    paths = {p for p, _, _ in opened}
    for value in ("/etc/passwd", "/etc/hostname", str(secret), os.path.abspath(d / "../outside/secret.txt"),
                  os.path.abspath(d / "../../etc/passwd")):
        assert value not in paths, f"the build opened {value}, a sidecar value"
    writes = [p for p, mode, flags in opened
              if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)]
    assert writes, "the audit hook saw no writes at all"
    staging = str(tmp_path / "work" / ".out.partial")
    lock = str(tmp_path / "work" / ".out.lock")  # one build at a time into --out (issue 16); removed at the end
    assert all(p == lock or p.startswith((str(out) + os.sep, staging + os.sep)) for p in writes), writes
    after = _snapshot(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all(k == str(out) or k.startswith(str(out) + os.sep) or k == str(log) or k == str(tmp_path / "work")
               for k in changed), sorted(changed)
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


# --- 5. odd names -----------------------------------------------------------------------------


def test_odd_names_are_accounted_and_non_utf8_names_round_trip(h, tf, tmp_path):
    d = tmp_path / "dump"
    d.mkdir()
    raw_names = {  # stem bytes -> image extension
        b"caf\xe9 \xff": b".jpg",           # Latin-1 bytes: not UTF-8
        "zürich 猫 ё".encode(): b".jpg",
        b"my photo 1": b".JPG",
        b"IMG_2": b".JPEG",
        b"IMG_1": b".jpg",
    }
    for i, (stem, ext) in enumerate(raw_names.items()):
        for name, data in ((stem + ext, h.encode(h.image(seed=i))), (stem + b".json", json.dumps({"label": "ab"[i % 2]}).encode())):
            fd = os.open(os.path.join(os.fsencode(d), name), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, data)
            os.close(fd)
    lonely = b"lonely\xfe.jpg"  # a non-UTF-8 reject must reach rejects.jsonl and the report intact
    fd = os.open(os.path.join(os.fsencode(d), lonely), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, h.encode(h.image(seed=9)))
    os.close(fd)
    h.pair(d, ".hidden", {"label": "a"}, h.image(seed=10))
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)
    (d / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    (d / "._IMG_1.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 64)
    out = tmp_path / "out"
    result = cli("build-tfrecords", str(d), "--out", str(out), "--label-field", "label", "--workers", "2",
                 "--no-stats", "--val-fraction", "0.2")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    acc = json.loads((out / "dataset.json").read_text())["accounting"]
    assert (acc["inputs_found"], acc["written"], acc["rejected"]) == (6, 5, 1)
    assert acc["litter_ignored"] == 5  # .hidden.jpg, .hidden.json, .DS_Store, Thumbs.db, ._IMG_1.jpg
    assert acc["other_files_ignored"] == {}
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(os.fsencode(r["path"]), r["reason"]) for r in rejects] == [(lonely, "no_sidecar")]
    sources, ids = set(), set()
    for name in os.listdir(out):
        if name.endswith(".tfrecord"):
            for raw in spec.iter_records(str(out / name)):
                feats = tf.train.Example.FromString(raw).features.feature
                sources.add(feats["image/source"].bytes_list.value[0])
                ids.add(feats["image/id"].bytes_list.value[0])
    assert sources == {stem + ext for stem, ext in raw_names.items()}
    assert ids == set(raw_names)


# --- 6. sidecar fuzzing -----------------------------------------------------------------------

_any_char = st.characters(blacklist_categories=())  # includes lone surrogates
_keys = st.one_of(st.sampled_from(["label", "tags", "a", "a.b", "b", "", "label.x", "n"]), st.text(_any_char, max_size=6))
_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(_any_char, max_size=12),
    st.sampled_from(["NaN", "nan", "Infinity", "-0", "", "  ", "null", "../../etc/passwd", "/etc/passwd", "\ud800", "a,b,,c"]),
)
json_values = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                            st.dictionaries(_keys, kids, max_size=4)), max_leaves=12)
sidecar_objects = st.one_of(json_values, st.dictionaries(_keys, json_values, max_size=5),
                            st.builds(lambda label, rest: {**rest, "label": label}, json_values,
                                      st.dictionaries(_keys, json_values, max_size=3)))
SPECS = [LabelSpec("label"), LabelSpec("label", True), LabelSpec("label", True, ",", True), LabelSpec("a.b"),
         LabelSpec("tags", True, "|")]


def _sidecar_bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=True).encode()


def _check_labels(meta: dict) -> None:
    for label_spec in SPECS:
        labels, reason, detail = extract_labels(meta, label_spec)
        assert reason == "" or reason in REASONS
        if reason == "":
            assert all(isinstance(x, str) and x for x in labels)
            assert labels or (label_spec.multi_label and label_spec.allow_empty)
            if not label_spec.multi_label:
                assert len(labels) == 1
    flat = flatten_meta(meta, skip={"label"})
    types = meta_types([flat])
    coerce_meta(flat, types)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=200), sidecar_objects.map(_sidecar_bytes),
                 st.builds(lambda a, b: a + b, sidecar_objects.map(_sidecar_bytes), st.binary(max_size=8))))
def test_read_sidecar_and_labels_never_raise(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz_sidecar.json"
    path.write_bytes(raw)
    meta, problem = read_sidecar(str(path))
    if problem:
        assert meta == {} and isinstance(problem, str)
        return
    assert isinstance(meta, dict)
    json.dumps(meta, ensure_ascii=False).encode("utf-8")  # clean_text: every string is encodable
    _check_labels(meta)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, json_values, max_size=6))
def test_extract_labels_on_arbitrary_objects_never_raises(meta):
    _check_labels(clean_text(meta))


def test_deeply_nested_sidecar_is_a_reject_not_a_crash(tmp_path):
    for depth in (100, 300, 450, 600, 800, 1000, 3000, 20000):
        path = tmp_path / f"deep{depth}.json"
        path.write_text('{"a":' * depth + '"x"' + "}" * depth)
        meta, problem = read_sidecar(str(path))
        assert meta == {} and problem, (depth, problem)  # rejected with a reason, never a crash


def test_deeply_nested_sidecar_does_not_crash_the_build(tmp_path):
    d = _small_dump(tmp_path / "dump", 3)
    (d / "deep.jpg").write_bytes(_jpeg(77))
    (d / "deep.json").write_text('{"label": "a", "x":' + '{"a":' * 700 + "1" + "}" * 700 + "}")
    result = cli("build-tfrecords", str(d), "--out", str(tmp_path / "out"), "--label-field", "label", "--workers", "1",
                 "--no-stats", "--val-fraction", "0")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-500:]
    acc = json.loads((tmp_path / "out" / "dataset.json").read_text())["accounting"]
    assert acc["balanced"] and acc["inputs_found"] == 4 and acc["rejects_by_reason"] == {"bad_sidecar": 1}


_IMAGE_KINDS = ["jpeg", "png", "garbage", "empty", "tiny", "none"]
_entry = st.tuples(
    st.sampled_from(["a", "b", "c", "d", "e", "img 1", "Zé", "x.y"]),
    st.sampled_from(_IMAGE_KINDS),
    st.sampled_from([".jpg", ".JPG", ".jpeg", ".png"]),
    st.one_of(st.none(), sidecar_objects.map(_sidecar_bytes), st.binary(max_size=40),
              st.builds(lambda label: _sidecar_bytes({"label": label}), st.sampled_from(["cat", "dog", 3, ["cat"], "cat,dog"]))),
)


def _write_entry(h, d: Path, stem: str, kind: str, ext: str, sidecar: bytes | None, seed: int) -> list[str]:
    written = []
    if kind != "none":
        data = {"jpeg": lambda: h.encode(h.image(seed=seed)), "png": lambda: h.encode(h.image(seed=seed), "PNG"),
                "garbage": lambda: b"not an image at all", "empty": lambda: b"",
                "tiny": lambda: h.encode(h.image(8, 8, seed=seed))}[kind]()
        ext = ".png" if kind == "png" else ext
        (d / f"{stem}{ext}").write_bytes(data)
        written.append(f"{stem}{ext}")
    if sidecar is not None:
        (d / f"{stem}.json").write_bytes(sidecar)
    return written


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_entry, min_size=1, max_size=6), multi=st.booleans())
def test_every_input_is_written_or_rejected_with_a_reason(h, tf, entries, multi):
    from pipecheck.pipeline.build import BuildOptions, build

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "dump"
        d.mkdir()
        images: set[str] = set()
        for i, (stem, kind, ext, sidecar) in enumerate(entries):
            images.update(_write_entry(h, d, stem, kind, ext, sidecar, i))
        image_stems = {os.path.splitext(p)[0] for p in images}
        orphans = {p.name for p in d.glob("*.json") if p.stem not in image_stems}
        opts = BuildOptions(dump=str(d), out=str(Path(tmp) / "out"), workers=1, stats=False,
                            **({"multi_label_field": "label", "label_sep": ","} if multi else {"label_field": "label"}))
        result = build(opts)
        acc = result.accounting
        assert acc["inputs_found"] == len(images) + len(orphans)
        assert acc["written"] + acc["rejected"] == acc["inputs_found"] and acc["balanced"]
        lines = (Path(result.out_dir) / "rejects.jsonl").read_text().splitlines()
        rejects = [json.loads(line) for line in lines]
        paths = [r["path"] for r in rejects]
        assert len(paths) == len(set(paths)) == acc["rejected"]
        assert all(r["reason"] in REASONS for r in rejects)
        sources = []
        for name in os.listdir(result.out_dir):
            if name.endswith(".tfrecord"):
                for raw in spec.iter_records(str(Path(result.out_dir) / name)):
                    feats = tf.train.Example.FromString(raw).features.feature
                    sources.append(feats["image/source"].bytes_list.value[0].decode())
        assert len(sources) == acc["written"]
        assert set(sources).isdisjoint(paths)
        assert set(sources) | set(paths) == images | orphans


# --- 5. durability: workers only start their shards' writes; the build waits before publishing -----


@pytest.mark.parametrize("stats", [False, True], ids=["no-stats", "stats"])
def test_shards_that_cannot_reach_the_disk_fail_the_build_and_are_rewritten_on_resume(h, mini_dump, tmp_path, monkeypatch, stats):
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


def test_shard_writers_do_not_wait_for_the_disk_and_the_build_flushes_every_shard_once(h, mini_dump, tmp_path, monkeypatch):
    from pipecheck.pipeline import fsio

    if fsio._sync_file_range() is None or not os.path.isdir("/proc/self/fd"):
        pytest.skip("no sync_file_range here (not Linux/glibc): shard writers fsync themselves")
    # workers=1 (h.build's default): the shard writer runs in this process, so its fsyncs, if it
    # made any, would be recorded here too.
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    result = h.build(mini_dump, tmp_path / "out", label_field="species", val_fraction=0.2, shard_size_mb=0.01, workers=1)
    shards = sorted(p.name for p in Path(result.out_dir).glob("*.tfrecord"))
    # A shard fsynced by its writer would show under its temporary name (.NAME.tmp-PID).
    flushed = [os.path.basename(p).lstrip(".").split(".tmp-")[0] for p in synced if ".tfrecord" in p]
    assert sorted(flushed) == shards, "each shard fsynced exactly once, by the build before publishing"
    assert not [p for p in synced if ".done.json" in p], "done records are checked on resume, not fsynced"
