"""Shard writing: the worker that checks images and writes one whole shard, and the runner that
spreads shards over processes.

A shard is written under a temporary name, sent on its way to disk and renamed; then a small
``.done`` record (counts, rejects, per-record digests, the shard's sha256) is written beside it,
also by rename. A shard with a done record is complete, which is what ``--resume`` reuses after a
crash or SIGKILL, once the shard's bytes match that sha256. A worker that fails removes its
temporary file, so nothing half-written survives under any name.

Workers do not wait for the disk (``fsio.start_writeback``): the build waits once, before it
publishes anything (``fsio.make_durable`` in ``build.finish_build``). After a power loss mid-build
a shard can be on disk under its name with missing data; the sha256 check on resume finds it and
writes it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Sequence, TypeVar

from pipecheck.pipeline import fsio, spec
from pipecheck.pipeline.images import Checked, ImageOptions, Rejected, check_image, finish_quality
from pipecheck.pipeline.inputs import read_input
from pipecheck.pipeline.precheck import reuse
from pipecheck.pipeline.progress import Progress, progress_or_none
from pipecheck.pipeline.rejects import Reject
from pipecheck.pipeline.workers import gc_paused, new_pool, stop_pool

DONE_SUFFIX = ".done.json"
T = TypeVar("T")
# Small builds get several small shards so every core stays busy until the end (with a few large
# shards, one worker idles while the other finishes the last one); this caps how many that adds.
_MIN_RECORDS_PER_SHARD = 128
_MAX_SHARDS_FOR_PARALLELISM = 32
# A shard writer measures image quality a batch at a time (images.finish_quality): this many images,
# or fewer where their encoded bytes (held until their records are written) would pass the second
# bound; one at a time with --no-quality.
QUALITY_BATCH = 32
QUALITY_BATCH_BYTES = 64 << 20


def shard_count(records: int, est_bytes: float, target_bytes: float) -> int:
    """Shards for one split: enough to stay under the target size, and enough to keep cores busy
    on small builds; never more than records, and never dependent on the worker count.
    """
    import math

    count = max(
        1,
        math.ceil(est_bytes / target_bytes),
        min(_MAX_SHARDS_FOR_PARALLELISM, math.ceil(records / _MIN_RECORDS_PER_SHARD)),
    )
    return max(1, min(count, records))


def plan_shards(rows: Sequence[T], *, seed: int, est_bytes: float, target_bytes: float) -> list[list[T]]:
    """One split's rows cut into shards, the one shard plan of every writer (build and resplit).

    ``rows`` come in a stable order (by image id); they are shuffled once with ``seed`` (so every
    shard is class-mixed and interleaved reads see all classes), then cut into :func:`shard_count`
    contiguous, near-equal shards for ``est_bytes`` of data at ``target_bytes`` per shard.
    """
    import numpy as np

    order = np.random.default_rng([seed, len(rows)]).permutation(len(rows))
    shuffled = [rows[i] for i in order]
    count = shard_count(len(rows), est_bytes, target_bytes)
    return [[shuffled[j] for j in chunk] for chunk in np.array_split(np.arange(len(rows)), count)]


@dataclass
class ShardTask:
    """One shard to write: which split, which position, and its items in record order."""

    split: str
    index: int
    count: int
    root: str
    staging: str
    options: ImageOptions
    items: list[tuple[str, str, list[int], list[str], dict[str, Any]]]
    # rel -> (sha256 of the file when checked, result): images checked while the build was planned
    # (see precheck.py); used only if the file still has those bytes.
    prechecked: dict[str, tuple[str, Checked | Rejected]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return spec.shard_name(self.split, self.index, self.count)


@dataclass
class ShardResult:
    """What a finished shard holds (also its ``.done.json`` content)."""

    split: str
    file: str
    records: int
    bytes: int
    sha256: str
    class_counts: dict[str, int]
    rejects: list[Reject]
    repairs: dict[str, int]
    written: list[str] = field(default_factory=list)
    record_digests: list[str] = field(default_factory=list)  # spec.record_digest of each record
    # Per written record, in order: its quality measures ([] when off) and pixel and difference
    # hashes, for the build's image-quality summary (``quality.summarise``).
    quality: list[list[float]] = field(default_factory=list)
    pixel_hashes: list[str] = field(default_factory=list)
    phashes: list[int] = field(default_factory=list)

    def to_json(self) -> bytes:
        # Shallow: asdict would deep-copy every per-record list (12 quality measures an image) only
        # for json.dumps to read it once.
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["rejects"] = [r.to_dict() for r in self.rejects]
        return json.dumps(d).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ShardResult":
        d = json.loads(data)
        d["rejects"] = [Reject(**r) for r in d["rejects"]]
        return cls(**d)


def done_path(staging: str, name: str) -> str:
    return fsio.join(staging, f".{name}{DONE_SUFFIX}")


def load_done(staging: str, name: str, *, verify: bool = True) -> ShardResult | None:
    """The done record of a completed shard, if it and its shard file are intact.

    ``verify=False`` trusts the record without re-reading the shard (for a runner that has just
    written it and already waited for the writer to finish).
    """
    try:
        result = ShardResult.from_json(fsio.read_bytes(done_path(staging, name)))
        if not verify:
            return result
        path = fsio.join(staging, name)
        if fsio.size(path) != result.bytes:
            return None
        digest = hashlib.sha256()
        with fsio.open_read(path) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return result if digest.hexdigest() == result.sha256 else None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    except Exception as exc:  # noqa: BLE001 - tf.errors.NotFoundError from a remote filesystem
        if exc.__class__.__name__ == "NotFoundError":
            return None
        raise


def _features(
    checked: Checked, rel: str, stem: str, label_idx: list[int], label_names: list[str], meta: dict[str, Any]
) -> dict[str, Any]:
    features: dict[str, Any] = {
        spec.IMAGE_ENCODED: checked.encoded,
        spec.IMAGE_FORMAT: checked.format,
        spec.IMAGE_HEIGHT: checked.height,
        spec.IMAGE_WIDTH: checked.width,
        spec.IMAGE_CHANNELS: 3,
        spec.IMAGE_ID: stem.encode("utf-8", "surrogateescape"),
        spec.IMAGE_SHA256: checked.sha256,
        spec.IMAGE_PIXEL_HASH: checked.pixel_hash,
        spec.IMAGE_PHASH: checked.phash,
        spec.IMAGE_SOURCE: rel.encode("utf-8", "surrogateescape"),
        spec.IMAGE_REPAIRS: spec.Strings(checked.repairs),
        spec.LABEL_INDEX: spec.Int64s(label_idx),
        spec.LABEL_NAME: spec.Strings(label_names),
    }
    for key, value in zip(spec.QUALITY_FEATURES, checked.quality):
        features[key] = float(value)
    for key, value in meta.items():
        features[spec.META_PREFIX + key] = value
    return features


def _remove_quietly(path: str) -> None:
    try:
        fsio.remove(path)
    except Exception:  # noqa: BLE001 - best effort; a leftover temp file is removed on --resume
        pass


def write_shard(task: ShardTask) -> ShardResult:
    """Worker: check each image, write the shard under a temp name, rename, then record it done.

    The one per-shard transform of every runner (local processes, Apache Beam). ``task.root`` and
    ``task.staging`` may be local folders or ``scheme://`` paths (read and written through
    ``tf.io.gfile``, see ``fsio.py``); the shard bytes are the same either way.
    """
    # long: one read -> check -> frame -> write loop with its error paths, and the per-record lists the done record keeps
    name = task.name
    remote_out = fsio.is_remote(task.staging)
    tmp = fsio.join(task.staging, f".{name}.tmp-{os.getpid()}")
    digest = hashlib.sha256()
    counts: Counter = Counter()
    repairs: Counter = Counter()
    rejects: list[Reject] = []
    written: list[str] = []
    record_digests: list[str] = []
    quality: list[list[float]] = []
    pixel_hashes: list[str] = []
    phashes: list[int] = []
    size = 0
    batch: list[tuple[Checked, str, str, list[int], list[str], dict[str, Any]]] = []
    batch_bytes = 0

    def write_batch(fh: Any) -> None:
        # The batch's quality measures at once (images.finish_quality), then its records in order.
        nonlocal size, batch_bytes
        failed = finish_quality([item[0] for item in batch])
        for i, (checked, rel, stem, label_idx, label_names, meta) in enumerate(batch):
            if i in failed:
                rejects.append(Reject(rel, stem, "undecodable", failed[i]))
                continue
            record = spec.encode_example(_features(checked, rel, stem, label_idx, label_names, meta))
            framed = spec.frame_record(record)
            fh.write(framed)
            digest.update(framed)
            size += len(framed)
            written.append(stem)
            record_digests.append(spec.record_digest(record))
            quality.append(list(checked.quality))
            pixel_hashes.append(checked.pixel_hash)
            phashes.append(checked.phash)
            counts.update(label_names)
            repairs.update(checked.repairs)
        batch.clear()
        batch_bytes = 0

    try:
        with fsio.open_write(tmp) as fh:
            for rel, stem, label_idx, label_names, meta in task.items:
                try:
                    # never a FIFO (it would block for ever) or a device (/dev/zero never ends)
                    data = read_input(fsio.join(task.root, rel))
                except OSError as exc:
                    rejects.append(Reject(rel, stem, "unreadable", exc.strerror or str(exc)))
                    continue
                except Exception as exc:  # noqa: BLE001 - tf.errors.* from a remote filesystem
                    rejects.append(Reject(rel, stem, "unreadable", f"{exc.__class__.__name__}: {exc}"[:200]))
                    continue
                checked = reuse(task.prechecked.get(rel), data)
                try:
                    checked = checked or check_image(data, rel, task.options, defer_quality=True)
                except Exception as exc:  # noqa: BLE001 - a decoder bug must reject one file, not kill the build
                    rejects.append(Reject(rel, stem, "undecodable", f"{exc.__class__.__name__}: {exc}"[:200]))
                    continue
                if not isinstance(checked, Checked):
                    rejects.append(Reject(rel, stem, checked.reason, checked.detail))
                    continue
                if batch and batch_bytes + len(checked.encoded) > QUALITY_BATCH_BYTES:
                    write_batch(fh)
                batch.append((checked, rel, stem, label_idx, label_names, meta))
                batch_bytes += len(checked.encoded)
                if len(batch) >= (QUALITY_BATCH if task.options.quality else 1):
                    write_batch(fh)
            write_batch(fh)
            fh.flush()
            if not remote_out:  # a GFile is durable once closed; it has no descriptor
                fsio.start_writeback(fh.fileno())
        fsio.replace(tmp, fsio.join(task.staging, name))
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.filename is None:  # a failed write() names no file; say which one (disk full, quota)
            raise OSError(exc.errno, f"{exc.strerror} while writing", tmp) from exc
        raise
    except BaseException:
        fsio.remove(tmp)
        raise
    result = ShardResult(
        task.split,
        name,
        len(written),
        size,
        digest.hexdigest(),
        dict(counts),
        rejects,
        dict(repairs),
        written,
        record_digests,
        quality,
        pixel_hashes,
        phashes,
    )
    # Not fsynced: a done record lost or cut short by a power loss only means the shard is written
    # again, and one that survives its shard's data fails the sha256 check on resume.
    fsio.write_atomic(done_path(task.staging, name), result.to_json(), durable=False)
    return result


def run_tasks(
    tasks: list[ShardTask], workers: int, progress: Progress | None = None, pool: ProcessPoolExecutor | None = None
) -> Iterator[ShardResult]:
    """Write shards, yielding results as they finish; Ctrl-C stops the workers at once.

    ``progress`` hears of each finished shard's images (see ``progress.py``; it draws nothing here).
    ``pool``: a pool of ``workers`` processes to use (it is shut down either way); else one is
    made when there is more than one worker and more than one shard.
    """
    progress = progress_or_none(progress)
    if tasks:
        progress.start(sum(len(t.items) for t in tasks), "checking + writing", "images")
    if workers <= 1 or len(tasks) <= 1:
        if pool is not None:
            pool.shutdown(wait=True)
        for task in tasks:
            result = write_shard(task)
            progress.advance(len(task.items))
            yield result
    else:
        yield from _run_pool(tasks, workers, progress, pool)
    if tasks:
        progress.finish()


def _run_pool(
    tasks: list[ShardTask], workers: int, progress: Progress, pool: ProcessPoolExecutor | None
) -> Iterator[ShardResult]:
    pool = pool or new_pool(min(workers, len(tasks)))
    # The driver only waits and gathers results here (see gc_paused): at 100k images it holds
    # millions of planned objects, and each full collection would take a core from a worker.
    try:
        with gc_paused():
            pending = {pool.submit(write_shard, t): t for t in tasks}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    task.prechecked = {}  # sent with the task; the driver need not hold it any longer
                    result = fut.result()
                    progress.advance(len(task.items))
                    yield result
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True, cancel_futures=True)  # a precheck chunk still queued is not needed
