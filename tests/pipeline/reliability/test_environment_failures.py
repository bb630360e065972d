"""Environmental failures never lose or corrupt data: a full disk, missing permissions, a file removed
mid-build are one clear error (and the previous build kept) or an accounted reject.

Environment stand-ins (all real, nothing mocked):
- disk full: a 64 KiB tmpfs mounted as the output parent (skipped, with the reason shown, where
  mounting is not permitted), and RLIMIT_FSIZE (``EFBIG``) which works everywhere;
- permissions: the build runs as ``nobody`` via ``setpriv`` (we run as root, who ignores modes);
- a file removed mid-build: deleted while the single worker is blocked on the held image of
  ``held_dump.py``, before the worker reaches the shard that holds it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from held_dump import (
    FIFO_STEM,
    N_IMAGES,
    Feeder,
    _jpeg,
    _small_dump,
    assert_same_build,
    assert_staging_is_sound,
    assert_verifies,
    done_names,
    make_dump,
    one_line_error,
    temp_files,
)
from procs import ENV, PIPECHECK, cli, start, wait_until

# --- environmental failures ----------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode}); "
            "the RLIMIT_FSIZE variant covers a full disk instead"
        )


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
    args = [
        "build-tfrecords",
        str(d),
        "--out",
        str(out),
        "--label-field",
        "label",
        "--workers",
        "2",
        "--shard-size-mb",
        "0.03",
        "--no-stats",
    ]
    result = subprocess.run(
        [*PIPECHECK, *args, "--overwrite"], capture_output=True, text=True, env=ENV, timeout=120, preexec_fn=preexec
    )
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
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import pipecheck"],
        capture_output=True,
        text=True,
        env={**ENV, "HOME": "/nonexistent"},
        timeout=120,
    )
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
    result = run_as_nobody(
        "build-tfrecords",
        str(d),
        "--out",
        str(parent / "out"),
        "--label-field",
        "label",
        "--workers",
        "1",
        "--no-stats",
        "--overwrite",
    )
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
    result = run_as_nobody(
        "build-tfrecords",
        str(d),
        "--out",
        str(outs / "out"),
        "--label-field",
        "label",
        "--workers",
        "2",
        "--no-stats",
        "--val-fraction",
        "0.3",
    )  # 6 images: keep val non-empty
    assert result.returncode == 0, result.stdout + result.stderr
    rejects = [json.loads(line) for line in (outs / "out" / "rejects.jsonl").read_text().splitlines()]
    by_path = {r["path"]: r for r in rejects}
    assert sorted(by_path) == ["locked_img.jpg", "locked_side.jpg"]
    assert by_path["locked_img.jpg"]["reason"] == "unreadable"
    assert "Permission denied" in by_path["locked_img.jpg"]["detail"]
    assert by_path["locked_side.jpg"]["reason"] == "bad_sidecar"
    assert (
        "locked_side.json" in by_path["locked_side.jpg"]["detail"]
        and "Permission denied" in by_path["locked_side.jpg"]["detail"]
    )
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
    result = run_as_nobody(
        "build-tfrecords", str(d), "--out", str(outs / "out"), "--label-field", "label", "--workers", "1", "--no-stats"
    )
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
    result = run_as_nobody(
        "build-tfrecords", str(d), "--out", str(outs / "out"), "--label-field", "label", "--no-stats"
    )
    assert result.returncode == 2
    one_line_error(result.stderr, str(d))


def test_file_removed_while_the_build_runs_is_rejected_unreadable(shard_of, shard_names, tmp_path):
    d = make_dump(tmp_path / "dump")
    fifo_shard = shard_of[FIFO_STEM]
    later = shard_names[shard_names.index(fifo_shard) + 1 :]
    assert later, "the pipe's shard must not be the last one written"
    victim = sorted(s for s, f in shard_of.items() if f == later[0])[0]
    out, staging = tmp_path / "out", tmp_path / ".out.partial"
    args = [
        "build-tfrecords",
        str(d),
        "--out",
        str(out),
        "--label-field",
        "label",
        "--workers",
        "1",
        "--shard-size-mb",
        "0.05",
        "--no-stats",
    ]
    proc = start(*args, out_dir=tmp_path / "log")
    # The single worker is inside the pipe's shard; the victim's shard has not started.
    wait_until(
        lambda: staging.exists() and any(n.startswith(f".{fifo_shard}.tmp-") for n in os.listdir(staging)),
        proc,
        what="the worker blocked on the pipe",
    )
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
