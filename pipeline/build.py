"""``build-tfrecords``: scan a dump, check every image, split, and write sharded TFRecords.

Orchestration only: pairing lives in ``dump.py``, per-image work in ``images.py``, labels in
``labels.py``, splitting in ``split.py``, the record layout in ``spec.py``. Shards are planned up
front (their count depends on the data and ``--shard-size-mb``, never on ``--workers``, so the
output is the same for any number of workers), then worker processes write whole shards
(``shards.py``). The build happens in a staging folder beside ``--out`` (``.NAME.partial``) that
replaces it only when complete, so a failed or killed build never leaves a half dataset behind;
``--resume`` reopens that folder, checks the plan is unchanged, and writes only missing shards
(``staging.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipecheck.pipeline import fsio
from pipecheck.pipeline.dump import Scan, scan_manifest, scan_sidecars
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import (
    cap_meta_keys,
    coerce_meta,
    extract_labels,
    flatten_meta,
    lookup,
    meta_types,
    vocabulary,
)
from pipecheck.pipeline.manifest import (
    FORMAT_VERSION,
    MULTI_LABEL,
    SINGLE_LABEL,
    Manifest,
    ShardInfo,
    SplitInfo,
    splits_from_shards,
)
from pipecheck.pipeline.options import BuildOptions
from pipecheck.pipeline.precheck import Precheck
from pipecheck.pipeline.rejects import Reject
from pipecheck.pipeline.shards import DONE_SUFFIX, ShardResult, ShardTask, plan_shards, run_tasks
from pipecheck.pipeline.split import iterative_split, split_from_value
from pipecheck.pipeline.staging import (
    STATE_NAME,
    check_out,
    check_out_path,
    make_durable,
    out_lock,
    prepare_staging,
    publish,
    resolve_out,
    staging_path,
)
from pipecheck.pipeline.version import __version__
from pipecheck.pipeline.workers import gc_paused


@dataclass
class BuildResult:
    """Plain result of a build; the face turns it into findings."""

    out_dir: str
    manifest: dict[str, Any]
    rejects: list[Reject]
    repairs: Counter = field(default_factory=Counter)
    litter: int = 0
    ignored: Counter = field(default_factory=Counter)

    @property
    def accounting(self) -> dict[str, Any]:
        return self.manifest["accounting"]


def _prepare(
    opts: BuildOptions, on_images: Callable[[list[str]], None] | None = None
) -> tuple[Scan, list[dict[str, Any]], list[str], dict[str, str], dict[str, Any]]:
    """Scan, read labels/splits/groups, and return kept item records plus early rejects (in scan),
    the classes, the metadata types and the metadata cap's summary (``labels.cap_meta_keys``).
    """
    label_spec = opts.label_spec
    if opts.manifest:
        scan = scan_manifest(
            opts.dump,
            opts.manifest,
            opts.path_column,
            recursive=opts.recursive,
            follow_symlinks=opts.follow_symlinks,
            on_images=on_images,
        )
    else:
        scan = scan_sidecars(
            opts.dump, recursive=opts.recursive, follow_symlinks=opts.follow_symlinks, on_images=on_images
        )
    kept: list[dict[str, Any]] = []
    key_counts: Counter = Counter()  # items carrying each metadata key
    skip = {label_spec.field} | ({opts.split_field} if opts.split_field else set())
    for item in scan.items:
        labels, reason, detail = extract_labels(item.meta, label_spec)
        if reason:
            scan.rejects.append(Reject(item.image, item.stem, reason, detail))
            continue
        split = None
        if opts.split_field:
            split, reason, detail = split_from_value(lookup(item.meta, opts.split_field), opts.split_field)
            if reason:  # split_missing, or split_invalid: a value that is no name (a path) never names a file
                scan.rejects.append(Reject(item.image, item.stem, reason, detail))
                continue
        group = lookup(item.meta, opts.group_field) if opts.group_field else None
        group = None if group is None or isinstance(group, (dict, list)) else str(group)
        meta = flatten_meta(item.meta, skip=skip)
        key_counts.update(meta.keys())
        kept.append({"item": item, "labels": labels, "split": split, "group": group, "meta": meta})
        item.meta = {}  # flattened above; the raw sidecar is not needed again (memory at 100k images)
    keep, meta_keys = cap_meta_keys(key_counts, opts.max_metadata_keys)
    if meta_keys["dropped"]:
        for k in kept:
            k["meta"] = {key: v for key, v in k["meta"].items() if key in keep}
    classes = vocabulary(k["labels"] for k in kept)
    types = meta_types(k["meta"] for k in kept)
    return scan, kept, classes, types, meta_keys


def requested_splits(opts: BuildOptions) -> dict[str, float]:
    """The splits a build was asked for and their fractions (empty with --split-field: the data says)."""
    if opts.split_field:
        return {}
    fractions = {"train": 1.0 - opts.val_fraction - opts.test_fraction, "val": opts.val_fraction}
    if opts.test_fraction:
        fractions["test"] = opts.test_fraction
    if fractions["train"] <= 0:
        raise InputError("--val-fraction plus --test-fraction must be below 1")
    return {k: v for k, v in fractions.items() if v > 0}


def _assign_splits(opts: BuildOptions, kept: list[dict[str, Any]], index: dict[str, int]) -> None:
    if opts.split_field:
        return
    fractions = requested_splits(opts)
    splits = iterative_split(
        [[index[name] for name in k["labels"]] for k in kept],
        fractions,
        groups=[k["group"] for k in kept] if opts.group_field else None,
        keys=[k["item"].stem for k in kept],
        seed=opts.seed,
    )
    for k, s in zip(kept, splits):
        k["split"] = s


def _plan(
    opts: BuildOptions, kept: list[dict[str, Any]], index: dict[str, int], types: dict[str, str], staging: str
) -> tuple[list[ShardTask], dict[str, tuple[int, int]]]:
    """The shard tasks (``shards.plan_shards``), and each image's ``(size, mtime)`` (stat once: sizes
    size the shards, both go into the resume fingerprint).
    """
    stamps: dict[str, tuple[int, int]] = {}

    target = opts.shard_size_mb * 1024 * 1024
    tasks: list[ShardTask] = []
    by_split: dict[str, list[dict[str, Any]]] = {}
    for k in sorted(kept, key=lambda k: k["item"].stem):
        by_split.setdefault(k["split"], []).append(k)
    for split in sorted(by_split):
        rows = by_split[split]
        for k in rows:
            stamps[k["item"].image] = fsio.stamp(fsio.join(opts.dump, k["item"].image))
        est = sum(max(0, stamps[k["item"].image][0]) for k in rows)
        if opts.max_side:
            est = min(est, len(rows) * opts.max_side * opts.max_side * 0.5)
        chunks = plan_shards(rows, seed=opts.seed, est_bytes=est, target_bytes=target)
        for i, chunk in enumerate(chunks):
            items = []
            for k in chunk:
                labels = sorted(k["labels"], key=index.__getitem__)
                items.append(
                    (k["item"].image, k["item"].stem, [index[n] for n in labels], labels, coerce_meta(k["meta"], types))
                )
                k["meta"] = None  # now in the task; freeing it as we go lowers the plan's peak
            tasks.append(ShardTask(split, i, len(chunks), opts.dump, staging, opts.image_options, items))
    return tasks, stamps


@dataclass
class Planned:
    """A build planned and staged, ready for any runner to write its missing shards."""

    started: float
    out: Path | str
    staging: str
    scan: Scan
    classes: list[str]
    types: dict[str, str]
    tasks: list[ShardTask]
    done: list[ShardResult]
    meta_keys: dict[str, Any] = field(default_factory=dict)  # the manifest's ``metadata_keys``

    @property
    def todo(self) -> list[ShardTask]:
        finished = {r.file for r in self.done}
        return [t for t in self.tasks if t.name not in finished]


def _gc_paused(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with gc_paused():
            return fn(*args, **kwargs)

    return wrapper


@_gc_paused
def plan_build(opts: BuildOptions, on_images: Callable[[list[str]], None] | None = None) -> Planned:
    """Everything before the shards are written, shared by every runner: check ``--out``, scan,
    read labels, split, plan the shards, and create (or reopen for ``--resume``) the staging folder.

    ``on_images`` receives the images paired with a sidecar as soon as the walk has found them,
    before the sidecars are read (see ``scan_sidecars``; the build's precheck starts there).
    """
    started = time.time()
    opts = dataclasses.replace(opts, out=resolve_out(opts.out))
    out = check_out(opts)
    scan, kept, classes, types, meta_keys = _prepare(opts, on_images)
    index = {name: i for i, name in enumerate(classes)}
    _assign_splits(opts, kept, index)
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        fsio.makedirs(fsio.split(out)[0])
    staging = staging_path(out)
    tasks, stamps = _plan(opts, kept, index, types, staging)
    done = prepare_staging(opts, staging, tasks, stamps, types)
    # From here on the tasks hold what each record needs; the per-item scan records (raw and
    # flattened sidecars) would only keep ~1 KB per image alive through the statistics step.
    scan.items.clear()
    return Planned(started, out, staging, scan, classes, types, tasks, done, meta_keys)


def build(opts: BuildOptions, *, progress: bool = False) -> BuildResult:
    """Run a build end to end and return what happened (see :class:`BuildResult`).

    On any failure or interrupt the staging folder keeps the complete shards, and
    ``BuildOptions(resume=True)`` finishes the same build reusing them. One build at a time writes
    into an ``--out``: another one running refuses this one (``staging.out_lock``).
    """
    opts = dataclasses.replace(opts, out=resolve_out(opts.out))
    opts.thresholds  # noqa: B018 - a bad --quality-threshold is refused before any work
    check_out_path(opts)  # refused before the lock creates anything beside --out
    with out_lock(opts.out):
        return _build_locked(opts, progress)


def _build_locked(opts: BuildOptions, progress: bool) -> BuildResult:
    workers = opts.workers or os.cpu_count() or 1
    # Images are checked on the worker processes while the driver plans (see Precheck), unless
    # there is no idle worker, on --resume (most images are in shards already), or for a remote
    # dump (its files would be fetched twice).
    precheck = None
    if workers > 1 and not opts.resume and not fsio.is_remote(opts.dump):
        precheck = Precheck(workers, opts.dump, opts.image_options)
    try:
        planned = plan_build(opts, on_images=precheck.start if precheck else None)
        if precheck:
            checked = precheck.stop(timeout=5.0)
            for task in planned.todo:
                task.prechecked = {rel: checked[rel] for rel, *_ in task.items if rel in checked}
            del checked
        # Closed explicitly: a Ctrl-C landing between two results (outside the generator) must
        # still stop the workers, not wait for the generator to be garbage-collected.
        with contextlib.closing(
            run_tasks(planned.todo, workers, progress, pool=precheck.pool if precheck else None)
        ) as results:
            new = list(results)
    except BaseException:  # Ctrl-C, or an input error found while planning
        if precheck:
            precheck.abort()
        raise
    for task in planned.tasks:
        task.prechecked = {}
    return finish_build(opts, planned, new)


def finish_build(
    opts: BuildOptions, planned: Planned, new: list[ShardResult], statistics: Callable[[], dict[str, str]] | None = None
) -> BuildResult:
    """Everything after the shards are written, shared by every runner: account, compute the
    statistics, wait for the shards to reach the disk, then ``staging.publish`` (``rejects.jsonl``,
    ``checksums.jsonl``, ``dataset.json``, the swap). ``statistics`` writes ``stats/`` itself when a
    runner computes them (Beam); by default they are computed here, in process, and then the plan's
    task items are released (emptied; the tasks keep their names and splits).
    """
    staging, scan = planned.staging, planned.scan
    results = sorted(planned.done + list(new), key=lambda r: r.file)
    rejects = list(scan.rejects)
    repairs: Counter = Counter()
    for r in results:
        rejects.extend(r.rejects)
        repairs.update(r.repairs)
    rejects.sort(key=lambda r: (r.path, r.reason))
    splits = splits_from_shards(
        ((r.split, ShardInfo(r.file, r.records, r.bytes, r.sha256), r.class_counts) for r in results),
        planned.classes,
        requested_splits(opts),
    )
    manifest = _manifest(opts, planned, splits, rejects, repairs)
    if opts.quality:
        manifest = manifest.replace(image_quality=_image_quality(opts, planned, results))
    if opts.stats and statistics:
        manifest = manifest.replace(statistics=statistics())
    elif opts.stats:
        from pipecheck.pipeline import stats

        frames = _statistics_frames(planned.tasks, results, planned.types)
        # Nothing below reads the plan's per-image items (paths, labels, metadata) again, and TFDV
        # peaks while it runs: released first, the part of a build's peak memory that grew with
        # the number of images goes (at 100k images the driver peaked 81 MiB lower).
        for task in planned.tasks:
            task.items = []
        try:
            written = stats.write_statistics(staging, frames)
        except OSError as exc:  # after every shard: say which step failed, and that --resume finishes it
            why = f"{exc.strerror or exc} while writing the statistics (complete shards are kept: run the same command with --resume to finish)"
            raise OSError(exc.errno, why, exc.filename) from exc
        manifest = manifest.replace(statistics=written)
    if not fsio.is_remote(staging):
        make_durable(staging, results)
    # The resume records go only after the swap: a kill before it leaves a staging folder that
    # --resume can finish; a kill after it leaves them in --out, which --resume also accepts.
    publish(
        staging,
        planned.out,
        manifest,
        rejects,
        ((r.file, r.record_digests) for r in results),
        bookkeeping=[f".{r.file}{DONE_SUFFIX}" for r in results] + [STATE_NAME],
    )
    return BuildResult(str(planned.out), manifest.to_dict(), rejects, repairs, len(scan.litter), scan.ignored)


def _manifest(
    opts: BuildOptions, planned: Planned, splits: dict[str, SplitInfo], rejects: list[Reject], repairs: Counter
) -> Manifest:
    """The build's ``dataset.json`` (without statistics, computed after it)."""
    scan = planned.scan
    written = sum(s.examples for s in splits.values())
    return Manifest(
        pipecheck_version=__version__,
        format_version=FORMAT_VERSION,
        created_unix=round(planned.started, 3),
        build_seconds=round(time.time() - planned.started, 3),
        dump=opts.dump if fsio.is_remote(opts.dump) else os.path.abspath(opts.dump),
        options={
            k: list(v) if isinstance(v, tuple) else v  # as JSON reads it back
            for k, v in dataclasses.asdict(opts).items()
            if k not in ("dump", "out", "overwrite", "resume", "workers", "stats")
        },
        label_mode=MULTI_LABEL if opts.multi_label_field else SINGLE_LABEL,
        label_field=opts.label_spec.field,
        classes=tuple(planned.classes),
        meta_features=planned.types,
        metadata_keys=planned.meta_keys,
        splits=splits,
        accounting={
            "inputs_found": scan.inputs_found,
            "written": written,
            "rejected": len(rejects),
            "balanced": written + len(rejects) == scan.inputs_found,
            "rejects_by_reason": dict(sorted(Counter(r.reason for r in rejects).items())),
            "repairs": dict(sorted(repairs.items())),
            "litter_ignored": len(scan.litter),
            "other_files_ignored": dict(sorted(scan.ignored.items())),
        },
    )


def _image_quality(opts: BuildOptions, planned: Planned, results: list[ShardResult]) -> dict[str, Any]:
    """Flag every written image (``quality.summarise``), write ``image_quality.jsonl`` into the
    staging folder (published with it) and return the manifest's ``image_quality`` summary.
    """
    from pipecheck.pipeline import quality

    labels = {stem: names for t in planned.tasks for _rel, stem, _idx, names, _meta in t.items}
    summary, lines = quality.summarise(quality.Measured.from_shards(results, labels), opts.thresholds)
    fsio.write_atomic(fsio.join(planned.staging, quality.QUALITY_NAME), lines)
    return summary


def _statistics_frames(tasks: list[ShardTask], results: list[ShardResult], types: dict[str, str]) -> dict[str, Any]:
    """Per split, the columns of exactly the written records' labels and metadata (read from the shard
    tasks, like the Beam runner does), for TFDV statistics (``stats.batch``: no pandas).
    """
    from pipecheck.pipeline import stats

    if not stats.tfdv_available():  # no statistics are written (stats.TFDV_MISSING)
        return {}
    by_stem = {stem: (names, meta) for t in tasks for _rel, stem, _idx, names, meta in t.items}
    rows: dict[str, list] = {}
    for r in results:
        rows.setdefault(r.split, []).extend(by_stem[s] for s in r.written)
    return {split: stats.batch(v, types) for split, v in rows.items()}
