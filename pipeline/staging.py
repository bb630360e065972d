"""The staging folder a build is assembled in, what ``--resume`` may reuse from it, and its publication.

A build never writes into ``--out``: it writes ``.NAME.partial`` beside it and swaps that in when
complete (:func:`publish`, the one way a build folder comes into being: ``build.finish_build`` and
``resplit`` both end there). This module decides whether ``--out`` may be written at all
(overlap with the dump, not a folder, not empty, an interrupted build waiting, another build
running into it: :func:`out_lock`), fingerprints the plan (options, everything each record holds
but the pixels, and each image file's size and mtime) and reopens an interrupted build only if
that fingerprint and the state format still match.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from pipecheck.pipeline import fsio, spec
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.manifest import CHECKSUMS_NAME, MANIFEST_NAME, REJECTS_NAME, Manifest
from pipecheck.pipeline.rejects import Reject
from pipecheck.pipeline.shards import ShardResult, ShardTask, done_path, load_done
from pipecheck.pipeline.stats import STATS_DIR
from pipecheck.pipeline.workers import keep_from_workers

if TYPE_CHECKING:
    from pipecheck.pipeline.options import BuildOptions

STATE_NAME = "state.json"
# Bumped whenever what a resumed build would reuse changes meaning (options' defaults, shard
# planning, done records): an interrupted build of another version is refused with that reason.
# 3: --max-side sizes follow the source (a 512 px JPEG drafted to 256 was kept as is)
# 4: the fingerprint covers label names and metadata types (a renamed class was resumed into a mix)
# 5: records hold at most --max-metadata-keys metadata keys (an option the fingerprint covers)
# 6: records hold quality/* measures and done records carry them (and the hashes) per record
STATE_FORMAT = 6


def resolve_out(out: str) -> str:
    """``--out`` as an absolute path, so the staging folder lands beside it, never inside it.

    ``--out .`` has no name of its own (``..partial`` was made inside the output folder, and the
    swap failed after the whole build), and in ``--out sub/..`` the last name is not the folder
    meant. A path with ``.`` or ``..`` in it is resolved as the kernel resolves it (symlinks
    included); any other is only made absolute, so a symlinked ``--out`` keeps meaning the link.
    Remote paths are returned unchanged.
    """
    if fsio.is_remote(out):
        return out
    out = os.fspath(out)
    name = os.path.basename(out.rstrip(os.sep))
    full = os.path.realpath(out) if name in ("", ".", "..") or ".." in Path(out).parts else os.path.abspath(out)
    if not os.path.basename(full):
        raise InputError(f"--out {out} is the root folder, which a build cannot replace; choose a folder below it")
    return full


def staging_dir(out: str | os.PathLike) -> Path:
    """Where a build of ``out`` is assembled (and where an interrupted one waits for --resume)."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def staging_path(out: str | Path) -> str:
    """:func:`staging_dir` as a string, for local and ``scheme://`` outputs alike."""
    if fsio.is_remote(out):
        parent, name = fsio.split(str(out))
        return fsio.join(parent, f".{name}.partial")
    return str(staging_dir(out))


def _check_remote_out(opts: BuildOptions) -> str:
    """:func:`check_out` for a ``scheme://`` output folder."""
    out = opts.out.rstrip("/")
    if fsio.overlaps(out, opts.dump):
        raise InputError(
            f"--out {opts.out} and the dump {opts.dump} overlap (one is inside the other); "
            "choose an output folder outside the dump that does not contain it"
        )
    if opts.resume and opts.overwrite:
        raise InputError("--resume and --overwrite contradict each other; pass one")
    if fsio.exists(out) and not fsio.isdir(out):
        raise InputError(f"--out {opts.out} exists and is not a folder")
    partial = staging_path(out)
    if fsio.exists(partial) and not (opts.resume or opts.overwrite):
        raise InputError(
            f"an interrupted build of {opts.out} is in {partial}; pass --resume to finish it or --overwrite to start over"
        )
    if opts.resume and not fsio.exists(partial):
        raise InputError(
            f"nothing to resume: no interrupted build of {opts.out} ({partial} not found); run without --resume"
        )
    if fsio.isdir(out) and fsio.listdir(out) and not (opts.overwrite or opts.resume):
        raise InputError(f"output folder {opts.out} is not empty; pass --overwrite to replace it")
    return out


def check_out_path(opts: BuildOptions) -> Path | str:
    """The checks of ``--out`` that depend only on the paths and flags (safe before the lock)."""
    if fsio.is_remote(opts.out):
        return opts.out.rstrip("/")
    out = Path(opts.out)
    # Either way round is dangerous: --out inside the dump is scanned as input next time, and a dump
    # inside --out would be deleted when --overwrite replaces --out.
    if fsio.overlaps(out, opts.dump):
        raise InputError(
            f"--out {opts.out} and the dump {opts.dump} overlap (one is inside the other); "
            "choose an output folder outside the dump that does not contain it"
        )
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {opts.out} exists and is not a folder")
    if opts.resume and opts.overwrite:
        raise InputError("--resume and --overwrite contradict each other; pass one")
    return out


def check_out(opts: BuildOptions) -> Path | str:
    """``--out`` as the build will use it, or an :class:`InputError` saying why it may not be written.

    The checks of what is there (an interrupted build, a non-empty folder) are only final while the
    build holds :func:`out_lock`; ``build()`` takes it before calling this.
    """
    if fsio.is_remote(opts.out):
        return _check_remote_out(opts)
    out = check_out_path(opts)
    partial = staging_dir(out)
    if partial.exists() and not (opts.resume or opts.overwrite):
        raise InputError(
            f"an interrupted build of {opts.out} is in {partial}; pass --resume to finish it or --overwrite to start over"
        )
    if opts.resume and not partial.exists() and not (out / STATE_NAME).is_file():
        raise InputError(
            f"nothing to resume: no interrupted build of {opts.out} ({partial} not found); run without --resume"
        )
    if out.is_dir() and any(out.iterdir()) and not (opts.overwrite or opts.resume):
        raise InputError(f"output folder {opts.out} is not empty; pass --overwrite to replace it")
    return out


def fingerprint(
    opts: BuildOptions, tasks: list[ShardTask], stamps: dict[str, tuple[int, int]], types: dict[str, str] | None = None
) -> str:
    """Identity of a planned build: everything a record holds but the image bytes (options, every
    item's path, id, label indices *and names*, typed metadata), plus each image file's size and
    mtime standing in for its bytes.

    Label names matter on their own: fixing a typo in every sidecar (``dgo`` -> ``dog``) keeps every
    index, and a resumed build would mix shards holding both names. ``--max-metadata-keys`` is
    among the options (it decides which metadata keys records hold), and the metadata hashed is
    the kept metadata only.
    """
    h = hashlib.sha256()
    relevant = {k: v for k, v in dataclasses.asdict(opts).items() if k not in ("out", "overwrite", "resume", "workers")}
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    h.update(json.dumps(types or {}, sort_keys=True).encode())
    for t in tasks:
        h.update(t.name.encode())
        for rel, stem, idx, names, meta in t.items:
            stamp = stamps[rel]
            h.update(
                json.dumps([rel, stem, idx, names, meta, stamp], sort_keys=True, default=str).encode(
                    "utf-8", "surrogateescape"
                )
            )
    return h.hexdigest()


def _check_resumable(path: str, expected: str, out: str, what: str) -> None:
    try:
        state = json.loads(fsio.read_bytes(path))
    except Exception:  # noqa: BLE001 - missing/garbled state (OSError, ValueError, tf.errors.*)
        state = {}
    if state.get("format") != STATE_FORMAT and state.get("fingerprint"):
        raise InputError(f"cannot resume {out}: {what} was made by another pipecheck version; rerun with --overwrite")
    if state.get("fingerprint") != expected:
        raise InputError(f"cannot resume {out}: the dump or the options changed since {what}; rerun with --overwrite")


def prepare_staging(
    opts: BuildOptions,
    staging: str,
    tasks: list[ShardTask],
    stamps: dict[str, tuple[int, int]],
    types: dict[str, str] | None = None,
) -> list[ShardResult]:
    """Create (or, with --resume, reopen) the staging folder; returns the shards already done."""
    import fnmatch

    state = fsio.join(staging, STATE_NAME)
    digest = fingerprint(opts, tasks, stamps, types)
    out = Path(opts.out)
    if opts.resume and not fsio.is_remote(opts.out) and not Path(staging).exists() and (out / STATE_NAME).is_file():
        # Killed after the swap, before the cleanup: --out is that build; finish it from there.
        _check_resumable(str(out / STATE_NAME), digest, opts.out, "that build")
        os.replace(out, staging)
    if opts.resume:
        _check_resumable(state, digest, opts.out, "the interrupted build")
        for stray in fnmatch.filter(fsio.listdir(staging), ".*.tmp-*"):
            fsio.remove(fsio.join(staging, stray))
        return [r for r in (load_done(staging, t.name) for t in tasks) if r is not None]
    fsio.rmtree(staging)
    fsio.makedirs(staging)
    fsio.write_atomic(
        state, json.dumps({"format": STATE_FORMAT, "fingerprint": digest, "shards": [t.name for t in tasks]}).encode()
    )
    return []


def make_durable(staging: str, results: list[ShardResult]) -> None:
    """Wait until every shard is on disk (workers only started the writes) before anything is
    published. Shards that cannot be flushed lose their file and done record, so ``--resume``
    writes them again instead of trusting a copy that may exist only in memory.
    """
    failed = fsio.make_durable([fsio.join(staging, r.file) for r in results])
    for path, _ in failed:
        fsio.remove(done_path(staging, os.path.basename(path)))
        fsio.remove(path)
    if failed:
        path, exc = failed[0]
        more = f" and {len(failed) - 1} more shard{'s' if len(failed) > 2 else ''}" if len(failed) > 1 else ""
        raise OSError(
            exc.errno, f"{exc.strerror or exc} while flushing to disk (removed{more}; --resume writes them again)", path
        ) from exc


# --- publishing: the three files, then the swap ------------------------------------------------


def publish(
    staging: str,
    out: Path | str,
    manifest: Manifest,
    rejects: Sequence[Reject] | bytes,
    checksums: Iterable[tuple[str, Sequence[str]]],
    *,
    bookkeeping: Sequence[str] = (),
) -> None:
    """Finish a staging folder whose shards (and ``stats/``) are written and on disk, and make it ``out``.

    Writes ``rejects.jsonl`` (``rejects``: records, or the bytes of a file to carry over),
    ``checksums.jsonl`` (``checksums``: each shard's file name and record digests, in file order)
    and ``dataset.json`` last, each fsynced and renamed into place; then, for a local folder,
    fsyncs ``stats/`` and the staging folder (the names in them), swaps it in for ``out``, removes
    the ``bookkeeping`` files (the resume records, which a kill before this point still needs) and
    fsyncs ``out``'s parent (the swap). A ``scheme://`` folder is copied in manifest-last instead
    (:func:`swap_in_remote`). The shards' own bytes are the writer's to flush first.
    """
    if not isinstance(rejects, bytes):
        rejects = "".join(json.dumps(r.to_dict(), ensure_ascii=True) + "\n" for r in rejects).encode()
    fsio.write_atomic(fsio.join(staging, REJECTS_NAME), rejects)
    fsio.write_atomic(
        fsio.join(staging, CHECKSUMS_NAME),
        "".join(
            json.dumps({"file": file, spec.RECORD_DIGEST_KEY: list(digests)}) + "\n" for file, digests in checksums
        ).encode(),
    )
    fsio.write_atomic(fsio.join(staging, MANIFEST_NAME), manifest.to_json())
    if fsio.is_remote(out):
        for name in bookkeeping:
            fsio.remove(fsio.join(staging, name))
        swap_in_remote(staging, str(out))
        return
    out = Path(out)
    if os.path.isdir(fsio.join(staging, STATS_DIR)):
        fsio.sync_folder(fsio.join(staging, STATS_DIR))
    fsio.sync_folder(staging)  # the shards' and the three files' names
    swap_in(Path(staging), out)
    for name in bookkeeping:
        (out / name).unlink(missing_ok=True)
    try:
        fsio.sync_folder(str(out.parent))  # the swap itself
    except OSError:
        pass  # the folder is complete and in place; only the rename's durability is in doubt


def swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by a finished staging folder; the old output is removed only afterwards."""
    import shutil

    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in out.parent.glob(f".{out.name}.old-*"):  # from a process killed mid-swap
        shutil.rmtree(leftover, ignore_errors=True)


def swap_in_remote(staging: str, out: str) -> None:
    """:func:`swap_in` for ``scheme://`` folders, which object stores cannot rename in one step.

    The old ``dataset.json`` goes first and the new one comes last, so a reader never sees a
    manifest next to shards of another build: until the last rename ``out`` is not a build.
    """
    if fsio.exists(out):
        fsio.remove(fsio.join(out, MANIFEST_NAME))
        fsio.rmtree(out)
    fsio.makedirs(out)
    last = None
    for dirpath, _dirs, files in fsio.walk(staging):
        rel_dir = dirpath.rstrip("/")[len(staging.rstrip("/")) :].lstrip("/")
        target_dir = fsio.join(out, rel_dir) if rel_dir else out
        fsio.makedirs(target_dir)
        for name in files:
            if not rel_dir and name == MANIFEST_NAME:
                last = fsio.join(dirpath, name)
                continue
            fsio.replace(fsio.join(dirpath, name), fsio.join(target_dir, name))
    if last is not None:
        fsio.replace(last, fsio.join(out, MANIFEST_NAME))
    fsio.rmtree(staging)


# --- one build at a time per --out ------------------------------------------------------------


def lock_path(out: str | os.PathLike) -> Path:
    """The lock file of builds into ``out``: ``.NAME.lock`` beside it and its staging folder."""
    out = Path(out)
    return out.parent / f".{out.name}.lock"


def _holder(path: Path) -> dict:
    """What the lock file says about the build holding it (it may be mid-write: retried briefly)."""
    for _ in range(20):
        try:
            info = json.loads(path.read_bytes() or b"null")
            if isinstance(info, dict):
                return info
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    return {}


def _running(out: str | os.PathLike, path: Path, info: dict) -> InputError:
    since = info.get("since")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        if isinstance(since, (int, float))
        else "an unknown time"
    )
    who = f"pid {info.get('pid', '?')} on {info.get('host', '?')}, since {when}"
    return InputError(
        f"another build into {out} is running ({who}; lock {path}); it is not interrupted: "
        "wait for it to finish, or stop it, then run this again"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire_flock(path: Path, out) -> int | None:
    """An fd holding an exclusive ``flock`` on ``path``; ``None`` where the filesystem has no flock."""
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _running(out, path, _holder(path)) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL):
                return None
            raise
        # The holder before us may have removed the file between our open and our lock: then we
        # hold a lock on a name nobody else sees; start over on the file that is there now.
        try:
            st, now = os.fstat(fd), os.stat(path)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _acquire_pidfile(path: Path, out) -> int:
    """Where ``flock`` is missing (some network and FUSE mounts): the lock file itself, created
    exclusively; one whose recorded process is gone (same host, pid not alive) is stale.
    """
    for _ in range(100):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            info = _holder(path)
            pid = info.get("pid")
            if info.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # stale: left by a build that was killed
                continue
            raise _running(out, path, info) from None
    raise _running(out, path, _holder(path))


@contextlib.contextmanager
def out_lock(out: str | os.PathLike):
    """Hold the one lock of builds into ``out`` (and its staging folder) while the block runs.

    A second build into the same ``--out`` started meanwhile (with or without ``--overwrite`` or
    ``--resume``) is refused with one line naming this one (pid, host, start time) instead of
    deleting or sharing its staging folder. The lock is an exclusive ``flock`` on ``.NAME.lock``
    beside ``--out``, so the kernel drops it when the process dies however it dies: the file a
    SIGKILLed build leaves behind blocks nobody. It is removed on every exit of the block. Worker
    processes forked while it is held do not keep it (see ``workers.keep_from_workers``). Remote
    (``scheme://``) outputs are not locked: object stores have no such lock.
    """
    if fsio.is_remote(out):
        yield None
        return
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire_flock(path, out)
    flocked = fd is not None
    if fd is None:
        fd = _acquire_pidfile(path, out)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": round(time.time(), 3), "out": str(out)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with keep_from_workers(fd):
            yield path
    finally:
        # Removed while still held, so a build waiting on this file never locks a removed name.
        with contextlib.suppress(OSError):
            os.unlink(path)
        if flocked:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
