"""A dump with one image held under a write lease, and the assertions the reliability tests share.

``make_dump`` writes ~300 noise JPEGs with sidecars; one image (``img_0007.jpg``) is held under a
write lease (``fcntl F_SETLEASE``) by the test: the worker that opens it blocks, like a file on a
stalled network disk, until the test lets go (``Feeder``). (It was a named pipe; builds now refuse
pipes unread.) While it blocks the other worker finishes the rest, so "one shard done", "half the
shards done" and "every shard but one done" are states a test waits for by polling the staging
folder, and the build cannot finish behind the test's back. The file is a plain JPEG whose bytes and
mtime never change, so the dump's fingerprint is the same for every run. The kernel breaks a lease
after ``/proc/sys/fs/lease-break-time`` (45 s) on its own, so no wait may be longer than that.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from procs import cli

from pipecheck.pipeline import spec
from pipecheck.pipeline.shards import load_done

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
    return sorted(n[1 : -len(".done.json")] for n in names if n.endswith(".done.json") and not n.startswith(".."))


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
            shard = name[1 : -len(".done.json")]
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


def _small_dump(root: Path, n: int = 40) -> Path:
    return make_dump(root, n, fifo=False)
