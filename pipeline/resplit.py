"""Re-split labels with iterative stratification: a label table gets a new split column, a built
dataset gets rebuilt into new split shards by copying its raw records (no image is decoded and
the original dump is not needed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pipecheck.pipeline import spec
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import label_values, vocabulary
from pipecheck.pipeline.fsio import write_atomic
from pipecheck.pipeline.manifest import CHECKSUMS_NAME, read_manifest, shard_paths, swap_in, write_manifest
from pipecheck.pipeline.shards import shard_count
from pipecheck.pipeline.split import iterative_split
from pipecheck.pipeline.staging import out_lock, resolve_out, staging_dir


def fractions_for(val_fraction: float, test_fraction: float = 0.0) -> dict[str, float]:
    train = 1.0 - val_fraction - test_fraction
    if train <= 0:
        raise InputError("--val-fraction plus --test-fraction must be below 1")
    out = {"train": train, "val": val_fraction, "test": test_fraction}
    return {k: v for k, v in out.items() if v > 0}


def assign(labels: Sequence[Sequence[str]], fractions: dict[str, float], *, groups: Sequence[Any] | None = None,
           keys: Sequence[str] | None = None, seed: int = 0) -> list[str]:
    """Split names for items given their label names (vocabulary sorted as in a build)."""
    classes = vocabulary(labels)
    index = {c: i for i, c in enumerate(classes)}
    return iterative_split([[index[n] for n in ls] for ls in labels], fractions, groups=groups, keys=keys, seed=seed)


def resplit_table(df, label_column: str, *, sep: str | None, fractions: dict[str, float],
                  group_column: str | None = None, seed: int = 0) -> list[str]:
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
    desc = {spec.IMAGE_ID: tf.io.FixedLenFeature([], tf.string), spec.LABEL_NAME: tf.io.RaggedFeature(tf.string)}
    for name, kind in meta_types.items():
        desc[spec.META_PREFIX + name] = tf.io.RaggedFeature(kinds[kind])
    records = list(spec.iter_records(path))
    if not records:
        return []
    parsed = tf.io.parse_example(tf.constant(records), desc)
    ids = [v.decode("utf-8", "surrogateescape") for v in parsed[spec.IMAGE_ID].numpy()]
    names = [[v.decode() for v in row] for row in parsed[spec.LABEL_NAME].to_list()]
    metas = [{} for _ in records]
    for name in meta_types:
        for m, row in zip(metas, parsed[spec.META_PREFIX + name].to_list()):
            if row:
                m[name] = row[0].decode("utf-8", "replace") if isinstance(row[0], bytes) else row[0]
    out = []
    for i, rec in enumerate(records):
        out.append({"record": i, "id": ids[i], "labels": names[i], "meta": metas[i],
                    "group": metas[i].get(group_key) if group_key else None, "bytes": len(rec) + 16})
    return out


def resplit_dataset(src: str, dst: str, *, fractions: dict[str, float], seed: int = 0,
                    group_field: str | None = None, shard_size_mb: float = 128.0, overwrite: bool = False) -> dict[str, Any]:
    """Rebuild ``src`` into ``dst`` with a fresh iterative-stratification split; returns the manifest."""
    manifest = read_manifest(src)
    out = Path(resolve_out(dst))  # `--out .` must not put the staging folder inside --out
    from pipecheck.pipeline import fsio

    if fsio.overlaps(out, src):
        raise InputError(f"--out {dst} and --data {src} overlap (one is inside the other); the source is read while "
                         "the new dataset is written and --overwrite would delete it: choose a separate folder")
    # The staging folder is shared with build-tfrecords: one writer at a time, whichever command.
    with out_lock(out):
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise InputError(f"output folder {dst} is not empty; pass --overwrite to replace it")
        return _resplit(src, out, manifest, fractions, seed, group_field, shard_size_mb)


def _resplit(src: str, out: Path, manifest: dict[str, Any], fractions: dict[str, float], seed: int,
             group_field: str | None, shard_size_mb: float) -> dict[str, Any]:
    from pipecheck.pipeline import stats as stats_mod

    group_field = group_field or manifest.get("options", {}).get("group_field")
    types = manifest.get("meta_features", {})
    if group_field and group_field not in types:
        raise InputError(f"{src} has no metadata field {group_field!r} to group by (has: {', '.join(types) or 'none'})")
    items = []
    for split in manifest["splits"]:
        for path in shard_paths(src, manifest, split):
            for row in _parse_shard(path, types, group_field):
                row["source"] = path
                items.append(row)
    new_split = assign([r["labels"] for r in items], fractions,
                       groups=[r["group"] for r in items] if group_field else None,
                       keys=[r["id"] for r in items], seed=seed)
    import numpy as np

    target: dict[tuple[str, int], tuple[str, int, int]] = {}
    by_split: dict[str, list[int]] = {}
    for i, s in enumerate(new_split):
        by_split.setdefault(s, []).append(i)
    plan: dict[str, int] = {}
    for split in sorted(by_split):
        members = sorted(by_split[split], key=lambda i: items[i]["id"])
        members = [members[j] for j in np.random.default_rng([seed, len(members)]).permutation(len(members))]
        count = shard_count(len(members), sum(items[i]["bytes"] for i in members), shard_size_mb * 1024 * 1024)
        plan[split] = count
        for k, chunk in enumerate(np.array_split(np.arange(len(members)), count)):
            for j in chunk:
                it = items[members[j]]
                target[(it["source"], it["record"])] = (split, k, count)

    staging = staging_dir(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files, digests, sizes, counts, record_digests, rows_by_split = {}, {}, Counter(), {}, {}, {}
        for split, count in plan.items():
            for k in range(count):
                name = spec.shard_name(split, k, count)
                files[(split, k)] = open(staging / name, "wb")
                digests[(split, k)] = hashlib.sha256()
                counts[(split, k)] = Counter()
                record_digests[(split, k)] = []
        by_id = {(it["source"], it["record"]): it for it in items}
        sources = list(dict.fromkeys(it["source"] for it in items))
        for path in sources:
            for i, rec in enumerate(spec.iter_records(path)):
                split, k, _ = target[(path, i)]
                framed = spec.frame_record(rec)
                files[(split, k)].write(framed)
                digests[(split, k)].update(framed)
                sizes[(split, k)] += len(framed)
                it = by_id[(path, i)]
                counts[(split, k)].update(it["labels"])
                record_digests[(split, k)].append(spec.record_digest(rec))
                rows_by_split.setdefault(split, []).append((it["labels"], it["meta"]))
        for fh in files.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        classes = manifest["classes"]
        splits: dict[str, Any] = {}
        for (split, k) in sorted(files):
            name = spec.shard_name(split, k, plan[split])
            s = splits.setdefault(split, {"examples": 0, "class_counts": Counter(), "shards": []})
            n = len(record_digests[(split, k)])
            s["examples"] += n
            s["class_counts"].update(counts[(split, k)])
            s["shards"].append({"file": name, "records": n, "bytes": sizes[(split, k)], "sha256": digests[(split, k)].hexdigest()})
        for s in splits.values():
            s["class_counts"] = {c: s["class_counts"].get(c, 0) for c in classes}
        new = dict(manifest)
        new["splits"] = {k: splits[k] for k in sorted(splits, key=lambda s: (s != "train", s != "val", s))}
        new["options"] = {**manifest.get("options", {}), "split_field": None, "group_field": group_field, "seed": seed,
                          "val_fraction": fractions.get("val", 0.0), "test_fraction": fractions.get("test", 0.0)}
        new["resplit_from"] = os.path.abspath(src)
        if manifest.get("statistics"):
            new["statistics"] = stats_mod.write_statistics(staging, {s: stats_mod.frame(r, types) for s, r in rows_by_split.items()})
        write_atomic(staging / CHECKSUMS_NAME, "".join(
            json.dumps({"file": spec.shard_name(s, k, plan[s]), spec.RECORD_DIGEST_KEY: record_digests[(s, k)]}) + "\n"
            for (s, k) in sorted(files)).encode())
        src_rejects = Path(src) / "rejects.jsonl"
        if src_rejects.is_file():
            shutil.copyfile(src_rejects, staging / "rejects.jsonl")
        write_manifest(staging, new)
        swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return new
