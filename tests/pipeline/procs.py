"""The CLI run in real subprocesses, for the tests that kill, stop or race builds (shared by
reliability/ and test_lock.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("PIPECHECK_MP_START", None)
ENV.pop("PIPECHECK_DEBUG", None)
PIPECHECK = [sys.executable, "-m", "pipecheck"]


def cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*PIPECHECK, *args], capture_output=True, text=True, env=ENV, timeout=timeout, **kw)


def start(*args: str, out_dir: Path) -> subprocess.Popen:
    """The CLI in its own process group (like a shell job), output to files (pipes could fill)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "stdout", "w") as stdout, open(out_dir / "stderr", "w") as stderr:
        return subprocess.Popen([*PIPECHECK, *args], stdout=stdout, stderr=stderr, env=ENV, start_new_session=True)


def group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def wait_until(cond, proc: subprocess.Popen | None = None, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"build exited ({proc.returncode}) before: {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.001)


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    os.killpg(proc.pid, sig)
    proc.wait(10)
    wait_until(lambda: not group_alive(proc.pid), timeout=10, what="every process of the build to die")
