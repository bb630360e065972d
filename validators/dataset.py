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


registry.define("dataset.record_corrupt", "error", "a shard fails its TFRecord CRC check or ends mid-record",
                "copy the dataset again from a good source or rebuild it")
registry.define("dataset.record_changed", "error", "a record differs from its checksum in checksums.jsonl written at build time",
                "copy the dataset again from a good source or rebuild it")
registry.define("dataset.record_count", "error", "a shard holds a different number of records than dataset.json says",
                "copy the dataset again from a good source or rebuild it")
registry.define("dataset.shard_checksum", "error", "a shard's sha256 differs from dataset.json",
                "copy the dataset again from a good source or rebuild it")
registry.define("dataset.no_checksums", "warning", "checksums.jsonl is missing, so records can only be CRC-checked",
                "rebuild with this pipecheck version to get per-record checksums")

VERIFY_CHECKS = CHECKS + ("dataset.record_corrupt", "dataset.record_changed", "dataset.record_count",
                          "dataset.shard_checksum", "dataset.no_checksums")


def verify_dataset(data_dir: str) -> tuple[list[Finding], dict[str, int]]:
    """Re-read every shard: CRCs, per-record sha256, record counts and shard sha256 against the build.

    Returns:
        The findings and a summary ``{"shards": n, "records": n, "bytes": n}``.
    """
    import hashlib
    import json

    from pipecheck.pipeline import spec
    from pipecheck.pipeline.manifest import CHECKSUMS_NAME

    manifest = read_manifest(data_dir)
    findings = [f for f in check_dataset(data_dir) if f.check not in ("dataset.shard_size",)]
    expected: dict[str, tuple] = {}  # shard file -> (digest function, digests in record order)
    sums = Path(data_dir) / CHECKSUMS_NAME
    if sums.is_file():
        for line in sums.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if spec.RECORD_DIGEST_KEY in row:
                    expected[row["file"]] = (spec.record_digest, row[spec.RECORD_DIGEST_KEY])
                else:
                    expected[row["file"]] = (spec.legacy_record_digest, row[spec.LEGACY_RECORD_DIGEST_KEY])
    else:
        findings.append(registry.finding("dataset.no_checksums", f"{sums} not found", subject=str(sums)))
    totals = {"shards": 0, "records": 0, "bytes": 0}
    for info in manifest["splits"].values():
        for shard in info["shards"]:
            path = Path(data_dir) / shard["file"]
            if not path.is_file():
                continue  # already reported as dataset.shard_missing
            totals["shards"] += 1
            totals["bytes"] += path.stat().st_size
            digest_of, digests = expected.get(shard["file"], (None, None))
            n = 0
            changed: list[int] = []
            try:
                for n, record in enumerate(spec.iter_records(str(path)), start=1):
                    if digests is not None and (n > len(digests) or digest_of(record) != digests[n - 1]):
                        changed.append(n - 1)
            except ValueError as exc:
                findings.append(registry.finding("dataset.record_corrupt", f"{shard['file']}: {exc} after {n} good record(s)",
                                                 subject=str(path), evidence={"good_records": n}))
                continue
            totals["records"] += n
            if changed:
                findings.append(registry.finding("dataset.record_changed", f"{shard['file']}: {len(changed)} record(s) differ from the build",
                                                 subject=str(path), evidence={"records": changed[:20]}))
            if n != shard["records"]:
                findings.append(registry.finding("dataset.record_count", f"{shard['file']} has {n} records, dataset.json says {shard['records']}",
                                                 subject=str(path), evidence={"actual": n, "expected": shard["records"]}))
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != shard["sha256"]:
                findings.append(registry.finding("dataset.shard_checksum", f"{shard['file']}: sha256 differs from dataset.json",
                                                 subject=str(path), evidence={"actual": digest.hexdigest(), "expected": shard["sha256"]}))
    return findings, totals
