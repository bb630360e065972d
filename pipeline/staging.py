"""The staging folder a build is assembled in, and what ``--resume`` may reuse from it.

A build never writes into ``--out``: it writes ``.NAME.partial`` beside it and swaps that in when
complete (``build.finish_build``). This module decides whether ``--out`` may be written at all
(overlap with the dump, not a folder, not empty, an interrupted build waiting), fingerprints the
plan (options, every item and its file's size and mtime) and reopens an interrupted build only if
that fingerprint and the state format still match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipecheck.pipeline import fsio
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.shards import ShardResult, ShardTask, load_done

if TYPE_CHECKING:
    from pipecheck.pipeline.build import BuildOptions

STATE_NAME = "state.json"
# Bumped whenever what a resumed build would reuse changes meaning (options' defaults, shard
# planning, done records): an interrupted build of another version is refused with that reason.
STATE_FORMAT = 3  # 3: --max-side sizes follow the source (a 512 px JPEG drafted to 256 was kept as is)


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
        raise InputError(f"--out {opts.out} and the dump {opts.dump} overlap (one is inside the other); "
                         "choose an output folder outside the dump that does not contain it")
    if opts.resume and opts.overwrite:
        raise InputError("--resume and --overwrite contradict each other; pass one")
    if fsio.exists(out) and not fsio.isdir(out):
        raise InputError(f"--out {opts.out} exists and is not a folder")
    partial = staging_path(out)
    if fsio.exists(partial) and not (opts.resume or opts.overwrite):
        raise InputError(f"an interrupted build of {opts.out} is in {partial}; pass --resume to finish it or --overwrite to start over")
    if opts.resume and not fsio.exists(partial):
        raise InputError(f"nothing to resume: no interrupted build of {opts.out} ({partial} not found); run without --resume")
    if fsio.isdir(out) and fsio.listdir(out) and not (opts.overwrite or opts.resume):
        raise InputError(f"output folder {opts.out} is not empty; pass --overwrite to replace it")
    return out


def check_out(opts: BuildOptions) -> Path | str:
    """``--out`` as the build will use it, or an :class:`InputError` saying why it may not be written."""
    if fsio.is_remote(opts.out):
        return _check_remote_out(opts)
    out = Path(opts.out)
    # Either way round is dangerous: --out inside the dump is scanned as input next time, and a dump
    # inside --out would be deleted when --overwrite replaces --out.
    if fsio.overlaps(out, opts.dump):
        raise InputError(f"--out {opts.out} and the dump {opts.dump} overlap (one is inside the other); "
                         "choose an output folder outside the dump that does not contain it")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {opts.out} exists and is not a folder")
    if opts.resume and opts.overwrite:
        raise InputError("--resume and --overwrite contradict each other; pass one")
    partial = staging_dir(out)
    if partial.exists() and not (opts.resume or opts.overwrite):
        raise InputError(f"an interrupted build of {opts.out} is in {partial}; pass --resume to finish it or --overwrite to start over")
    if opts.resume and not partial.exists() and not (out / STATE_NAME).is_file():
        raise InputError(f"nothing to resume: no interrupted build of {opts.out} ({partial} not found); run without --resume")
    if out.is_dir() and any(out.iterdir()) and not (opts.overwrite or opts.resume):
        raise InputError(f"output folder {opts.out} is not empty; pass --overwrite to replace it")
    return out


def fingerprint(opts: BuildOptions, tasks: list[ShardTask], stamps: dict[str, tuple[int, int]]) -> str:
    """Identity of a planned build: options, every item and its file's size and mtime."""
    h = hashlib.sha256()
    relevant = {k: v for k, v in dataclasses.asdict(opts).items() if k not in ("out", "overwrite", "resume", "workers")}
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    for t in tasks:
        h.update(t.name.encode())
        for rel, stem, idx, names, meta in t.items:
            stamp = stamps[rel]
            h.update(json.dumps([rel, stem, idx, meta, stamp], sort_keys=True, default=str).encode("utf-8", "surrogateescape"))
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


def prepare_staging(opts: BuildOptions, staging: str, tasks: list[ShardTask],
                     stamps: dict[str, tuple[int, int]]) -> list[ShardResult]:
    """Create (or, with --resume, reopen) the staging folder; returns the shards already done."""
    import fnmatch

    state = fsio.join(staging, STATE_NAME)
    digest = fingerprint(opts, tasks, stamps)
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
    fsio.write_atomic(state, json.dumps({"format": STATE_FORMAT, "fingerprint": digest,
                                         "shards": [t.name for t in tasks]}).encode())
    return []
