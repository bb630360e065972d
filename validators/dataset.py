"""Integrity of a built dataset folder, cheap enough to run on every ``validate --data``:
the manifest's accounting balances, every shard it lists exists with the recorded size.
(Full per-record CRC/sha256 verification is ``pipecheck verify``.)"""

from __future__ import annotations

import os
from pathlib import Path

from pipecheck.pipeline.manifest import read_manifest
from pipecheck.validators import registry
from pipecheck.validators.findings import Finding

registry.define("dataset.shard_missing", "error", "a shard listed in dataset.json is missing",
                "copy the dataset again or rebuild it with `pipecheck build-tfrecords`")
registry.define("dataset.shard_size", "error", "a shard's size differs from dataset.json (truncated or replaced)",
                "copy the dataset again or rebuild it; run `pipecheck verify` for a per-record check")
registry.define("dataset.accounting", "error", "the manifest does not account for every input",
                "rebuild with the current pipecheck; check rejects.jsonl")
registry.define("dataset.empty_split", "error", "a split has no examples",
                "check --val-fraction, --split-field values and rejects.jsonl, then rebuild")

CHECKS = ("dataset.shard_missing", "dataset.shard_size", "dataset.accounting", "dataset.empty_split")


def check_dataset(data_dir: str) -> list[Finding]:
    """Findings about the folder's structure (raises InputError if it is not a build at all)."""
    manifest = read_manifest(data_dir)
    out: list[Finding] = []
    acc = manifest.get("accounting", {})
    if acc and not acc.get("balanced", True):
        out.append(registry.finding("dataset.accounting",
                                    f"{acc.get('written')} written + {acc.get('rejected')} rejected != {acc.get('inputs_found')} found",
                                    evidence=acc))
    for split, info in manifest["splits"].items():
        if info.get("examples", 0) == 0:
            out.append(registry.finding("dataset.empty_split", f"split {split} has no examples", subject=split))
        for shard in info["shards"]:
            path = Path(data_dir) / shard["file"]
            if not path.is_file():
                out.append(registry.finding("dataset.shard_missing", f"{shard['file']} is missing", subject=str(path)))
            elif os.path.getsize(path) != shard["bytes"]:
                out.append(registry.finding("dataset.shard_size",
                                            f"{shard['file']} has {os.path.getsize(path)} bytes, manifest says {shard['bytes']}",
                                            subject=str(path), evidence={"actual": os.path.getsize(path), "expected": shard["bytes"]}))
    return out
