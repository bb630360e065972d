"""Re-split labels with iterative stratification: a label table gets a new split column, a built
dataset gets rebuilt into new split shards by copying its raw records (no image is decoded and
the original dump is not needed). The new folder is planned (``shards.plan_shards``) and
published (``staging.publish``) by the same code as a build, so it is the same kind of folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pipecheck.pipeline import spec
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import label_values, vocabulary
from pipecheck.pipeline.manifest import REJECTS_NAME, Manifest, ShardInfo, load_manifest, splits_from_shards
from pipecheck.pipeline.shards import plan_shards
from pipecheck.pipeline.split import iterative_split
from pipecheck.pipeline.staging import out_lock, publish, resolve_out, staging_dir


def fractions_for(val_fraction: float, test_fraction: float = 0.0) -> dict[str, float]:
    train = 1.0 - val_fraction - test_fraction
    if train <= 0:
        raise InputError("--val-fraction plus --test-fraction must be below 1")
    out = {"train": train, "val": val_fraction, "test": test_fraction}
    return {k: v for k, v in out.items() if v > 0}


def assign(
    labels: Sequence[Sequence[str]],
    fractions: dict[str, float],
    *,
    groups: Sequence[Any] | None = None,
    keys: Sequence[str] | None = None,
    seed: int = 0,
) -> list[str]:
    """Split names for items given their label names (vocabulary sorted as in a build)."""
    classes = vocabulary(labels)
    index = {c: i for i, c in enumerate(classes)}
    return iterative_split([[index[n] for n in ls] for ls in labels], fractions, groups=groups, keys=keys, seed=seed)


def resplit_table(
    df,
    label_column: str,
    *,
    sep: str | None,
    fractions: dict[str, float],
    group_column: str | None = None,
    seed: int = 0,
) -> list[str]:
    """New split names for every row of a label table (rows keep their order)."""
    if label_column not in df.columns:
        raise InputError(f"no column {label_column!r} in the label table (columns: {', '.join(map(str, df.columns))})")
    if group_column and group_column not in df.columns:
        raise InputError(f"no column {group_column!r} in the label table for --group-field")
    labels = [label_values(v, sep) or [] for v in df[label_column]]
    groups = [None if g is None or g != g else str(g) for g in df[group_column]] if group_column else None
    return assign(labels, fractions, groups=groups, keys=[f"{i:012d}" for i in range(len(df))], seed=seed)


def _parse_shard(path: str, meta_types: dict[str, str], group_key: str | None) -> list[dict[str, Any]]:
    import tensorflow as tf

    kinds = {"int": tf.int64, "float": tf.float32, "bytes": tf.string}
    desc = {
        spec.IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
        spec.LABEL_NAME: tf.io.RaggedFeature(tf.string),
        spec.IMAGE_PIXEL_HASH: tf.io.FixedLenFeature([], tf.string, default_value=""),
        spec.IMAGE_PHASH: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
    for key in spec.QUALITY_FEATURES:
        desc[key] = tf.io.RaggedFeature(tf.float32)
    for name, kind in meta_types.items():
        desc[spec.META_PREFIX + name] = tf.io.RaggedFeature(kinds[kind])
    records = list(spec.iter_records(path))
    if not records:
        return []
    parsed = tf.io.parse_example(tf.constant(records), desc)
    ids = [v.decode("utf-8", "surrogateescape") for v in parsed[spec.IMAGE_ID].numpy()]
    names = [[v.decode() for v in row] for row in parsed[spec.LABEL_NAME].to_list()]
    pixel_hashes = [v.decode() for v in parsed[spec.IMAGE_PIXEL_HASH].numpy()]
    phashes = [int(v) for v in parsed[spec.IMAGE_PHASH].numpy()]
    quality = [parsed[key].to_list() for key in spec.QUALITY_FEATURES]
    metas = [{} for _ in records]
    for name in meta_types:
        for m, row in zip(metas, parsed[spec.META_PREFIX + name].to_list()):
            if row:
                m[name] = row[0].decode("utf-8", "replace") if isinstance(row[0], bytes) else row[0]
    out = []
    for i, rec in enumerate(records):
        out.append(
            {
                "record": i,
                "id": ids[i],
                "labels": names[i],
                "meta": metas[i],
                "group": metas[i].get(group_key) if group_key else None,
                "bytes": len(rec) + 16,
                "pixel_hash": pixel_hashes[i],
                "phash": phashes[i],
                "scores": [col[i][0] for col in quality] if all(col[i] for col in quality) else [],
            }
        )
    return out


def resplit_dataset(
    src: str,
    dst: str,
    *,
    fractions: dict[str, float],
    seed: int = 0,
    group_field: str | None = None,
    shard_size_mb: float = 128.0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Rebuild ``src`` into ``dst`` with a fresh iterative-stratification split; returns the manifest
    (the JSON object of its ``dataset.json``).
    """
    manifest = load_manifest(src)
    out = Path(resolve_out(dst))  # `--out .` must not put the staging folder inside --out
    from pipecheck.pipeline import fsio

    if fsio.overlaps(out, src):
        raise InputError(
            f"--out {dst} and --data {src} overlap (one is inside the other); the source is read while "
            "the new dataset is written and --overwrite would delete it: choose a separate folder"
        )
    # The staging folder is shared with build-tfrecords: one writer at a time, whichever command.
    with out_lock(out):
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise InputError(f"output folder {dst} is not empty; pass --overwrite to replace it")
        return _resplit(src, out, manifest, fractions, seed, group_field, shard_size_mb).to_dict()


def _plan(
    items: list[dict[str, Any]], new_split: list[str], seed: int, shard_size_mb: float
) -> dict[str, list[list[dict[str, Any]]]]:
    """Per new split, its records cut into shards exactly as a build plans them (``shards.plan_shards``)."""
    by_split: dict[str, list[dict[str, Any]]] = {}
    for it, split in zip(items, new_split):
        by_split.setdefault(split, []).append(it)
    plan = {}
    for split in sorted(by_split):
        rows = sorted(by_split[split], key=lambda it: it["id"])
        plan[split] = plan_shards(
            rows, seed=seed, est_bytes=sum(it["bytes"] for it in rows), target_bytes=shard_size_mb * 1024 * 1024
        )
    return plan


class _Shard:
    """One shard being copied: its open file, sha256, size, label counts and record digests."""

    def __init__(self, split: str, name: str, path: Path):
        self.split, self.name, self.fh = split, name, open(path, "wb")
        self.sha256, self.size, self.counts, self.digests = hashlib.sha256(), 0, Counter(), []

    def add(self, record: bytes, labels: list[str]) -> None:
        framed = spec.frame_record(record)
        self.fh.write(framed)
        self.sha256.update(framed)
        self.size += len(framed)
        self.counts.update(labels)
        self.digests.append(spec.record_digest(record))

    def close(self) -> ShardInfo:
        """Flushed to disk and closed (publish expects the shards durable)."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        return ShardInfo(self.name, len(self.digests), self.size, self.sha256.hexdigest())


def _image_quality(staging: Path, manifest: Manifest, items: list[dict[str, Any]], splits: list[str]) -> Any:
    """The source's image-quality summary again for the new splits (``image_quality.jsonl`` written
    into ``staging``), from the measures its records hold and with the thresholds it used; None
    when the source has none (a ``--no-quality`` build).
    """
    from pipecheck.pipeline import fsio, quality

    if not manifest.image_quality:
        return None
    try:
        thresholds = quality.QualityThresholds(**manifest.image_quality.get("thresholds", {}))
    except TypeError:  # written by another pipecheck version
        thresholds = quality.QualityThresholds()
    measured = quality.Measured(
        [it["id"] for it in items],
        list(splits),
        [it["labels"] for it in items],
        [it["scores"] for it in items],
        [it["pixel_hash"] for it in items],
        [it["phash"] for it in items],
    )
    summary, lines = quality.summarise(measured, thresholds)
    fsio.write_atomic(str(staging / quality.QUALITY_NAME), lines)
    return summary


def _resplit(
    src: str,
    out: Path,
    manifest: Manifest,
    fractions: dict[str, float],
    seed: int,
    group_field: str | None,
    shard_size_mb: float,
) -> Manifest:
    # long: read -> assign -> write -> publish in sequence, each a call; the signature alone takes 10 lines
    from pipecheck.pipeline import stats as stats_mod

    group_field = group_field or manifest.option.get("group_field")
    types = manifest.meta_types
    if group_field and group_field not in types:
        raise InputError(f"{src} has no metadata field {group_field!r} to group by (has: {', '.join(types) or 'none'})")
    items = []
    for split in manifest.splits:
        for path in manifest.shard_paths(src, split):
            for row in _parse_shard(path, types, group_field):
                row["source"] = path
                items.append(row)
    new_split = assign(
        [r["labels"] for r in items],
        fractions,
        groups=[r["group"] for r in items] if group_field else None,
        keys=[r["id"] for r in items],
        seed=seed,
    )
    plan = _plan(items, new_split, seed, shard_size_mb)
    target: dict[tuple[str, int], tuple[str, int]] = {}
    for split, chunks in plan.items():
        for k, chunk in enumerate(chunks):
            for it in chunk:
                target[(it["source"], it["record"])] = (split, k)

    staging = staging_dir(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shards: dict[tuple[str, int], _Shard] = {}
    try:
        for split, chunks in plan.items():
            for k in range(len(chunks)):
                name = spec.shard_name(split, k, len(chunks))
                shards[(split, k)] = _Shard(split, name, staging / name)
        by_id = {(it["source"], it["record"]): it for it in items}
        rows_by_split: dict[str, list] = {}
        for path in dict.fromkeys(it["source"] for it in items):
            for i, rec in enumerate(spec.iter_records(path)):
                it = by_id[(path, i)]
                split, k = target[(path, i)]
                shards[(split, k)].add(rec, it["labels"])
                rows_by_split.setdefault(split, []).append((it["labels"], it["meta"]))
        written = [(s, s.close()) for _, s in sorted(shards.items())]
        new = manifest.replace(
            splits=splits_from_shards(((s.split, info, s.counts) for s, info in written), manifest.classes, fractions),
            options={
                **manifest.option,
                "split_field": None,
                "group_field": group_field,
                "seed": seed,
                "val_fraction": fractions.get("val", 0.0),
                "test_fraction": fractions.get("test", 0.0),
            },
            resplit_from=os.path.abspath(src),
        )
        new = new.replace(image_quality=_image_quality(staging, manifest, items, new_split))
        if manifest.statistics:
            new = new.replace(
                statistics=stats_mod.write_statistics(
                    staging, {s: stats_mod.frame(r, types) for s, r in rows_by_split.items()}
                )
            )
        # The source's rejects are this dataset's too (the same inputs were left out), byte for byte.
        src_rejects = Path(src) / REJECTS_NAME
        rejects = src_rejects.read_bytes() if src_rejects.is_file() else []
        publish(str(staging), out, new, rejects, ((info.file, s.digests) for s, info in written))
    except BaseException:
        for shard in shards.values():
            shard.fh.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return new
