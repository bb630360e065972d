"""Integrity of a built dataset folder, cheap enough to run on every ``validate --data``:
the manifest's accounting balances, every shard it lists exists with the recorded size.
Full per-record CRC/sha256 verification is ``pipecheck verify`` (:func:`run_verify`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipecheck.pipeline.manifest import CHECKSUMS_NAME, Manifest, ShardInfo, load_manifest
from pipecheck.validators import registry
from pipecheck.validators.findings import Finding, Report

SHARD_MISSING = registry.define(
    "dataset.shard_missing",
    "error",
    "A shard listed in dataset.json is missing.",
    "copy the dataset again or rebuild it with `pipecheck build-tfrecords`",
)
SHARD_SIZE = registry.define(
    "dataset.shard_size",
    "error",
    "A shard's size differs from dataset.json (truncated or replaced).",
    "copy the dataset again or rebuild it; run `pipecheck verify` for a per-record check",
)
ACCOUNTING = registry.define(
    "dataset.accounting",
    "error",
    "The manifest does not account for every input.",
    "rebuild with the current pipecheck; check rejects.jsonl",
)
EMPTY_SPLIT = registry.define(
    "dataset.empty_split",
    "error",
    "A split has no examples.",
    "check --val-fraction, --split-field values and rejects.jsonl, then rebuild",
)

CLASSES_MISMATCH = registry.define(
    "dataset.classes_mismatch",
    "error",
    "Records name other classes than dataset.json lists at their indices (the class list was edited or mixed up).",
    "copy dataset.json again from the build, or rebuild the dataset",
)

# What check_dataset runs (validate --data): ``registry.ids(*CHECKS)``.
CHECKS = (SHARD_MISSING, SHARD_SIZE, ACCOUNTING, EMPTY_SPLIT, CLASSES_MISMATCH)


def check_dataset(data_dir: str) -> list[Finding]:
    """Findings about the folder's structure (raises InputError if it is not a build at all)."""
    manifest = load_manifest(data_dir)
    out: list[Finding] = []
    acc = dict(manifest.accounting or {})
    if acc and not acc.get("balanced", True):
        out.append(
            ACCOUNTING.finding(
                f"{acc.get('written')} written + {acc.get('rejected')} rejected != {acc.get('inputs_found')} found",
                evidence=acc,
            )
        )
    for split, info in manifest.splits.items():
        if info.examples == 0:
            out.append(EMPTY_SPLIT.finding(f"split {split} has no examples", subject=split))
        for shard in info.shards:
            path = Path(data_dir) / shard.file
            if not path.is_file():
                out.append(SHARD_MISSING.finding(f"{shard.file} is missing", subject=str(path)))
            elif os.path.getsize(path) != shard.bytes:
                out.append(
                    SHARD_SIZE.finding(
                        f"{shard.file} has {os.path.getsize(path)} bytes, manifest says {shard.bytes}",
                        subject=str(path),
                        evidence={"actual": os.path.getsize(path), "expected": shard.bytes},
                    )
                )
    if not out:
        out += _classes_findings(data_dir, manifest)
    return out


def _classes_findings(data_dir: str, manifest: Manifest) -> list[Finding]:
    """Each record's label names against ``dataset.json``'s classes at its label indices (no image decoded)."""
    from pipecheck.pipeline.reader import read_columns

    classes = manifest.classes
    bad: dict[str, list] = {}
    for split in manifest.splits:
        try:
            cols = read_columns(data_dir, split, ["label/index", "label/name"])
        except Exception:  # noqa: BLE001 - a damaged shard: `pipecheck verify` names it record by record
            continue
        for indices, names in zip(cols["label/index"], cols["label/name"]):
            for i, name in zip(indices, names):
                if not 0 <= i < len(classes) or classes[i] != name:
                    bad.setdefault(split, []).append(
                        {
                            "index": int(i),
                            "record_name": name,
                            "manifest_name": classes[i] if 0 <= i < len(classes) else None,
                        }
                    )
    return [
        CLASSES_MISMATCH.finding(
            f"{len(rows)} label(s) in split {split} do not match dataset.json's classes "
            f"(e.g. index {rows[0]['index']} is {rows[0]['record_name']!r} in the records, "
            f"{rows[0]['manifest_name']!r} in dataset.json)",
            subject=split,
            evidence={"mismatches": len(rows), "examples": rows[:5], "classes": len(classes)},
        )
        for split, rows in bad.items()
    ]


RECORD_CORRUPT = registry.define(
    "dataset.record_corrupt",
    "error",
    "A shard fails its TFRecord CRC check or ends mid-record.",
    "copy the dataset again from a good source or rebuild it",
)
RECORD_CHANGED = registry.define(
    "dataset.record_changed",
    "error",
    "A record differs from its checksum in checksums.jsonl written at build time.",
    "copy the dataset again from a good source or rebuild it",
)
RECORD_COUNT = registry.define(
    "dataset.record_count",
    "error",
    "A shard holds a different number of records than dataset.json says.",
    "copy the dataset again from a good source or rebuild it",
)
SHARD_CHECKSUM = registry.define(
    "dataset.shard_checksum",
    "error",
    "A shard's sha256 differs from dataset.json.",
    "copy the dataset again from a good source or rebuild it",
)
CHECKSUMS_DAMAGED = registry.define(
    "dataset.checksums_damaged",
    "error",
    "Lines of checksums.jsonl cannot be read (half-copied or edited).",
    "copy checksums.jsonl again from the build, or rebuild the dataset",
)
NO_CHECKSUMS = registry.define(
    "dataset.no_checksums",
    "warning",
    "The checksums.jsonl file is missing, so records can only be CRC-checked.",
    "rebuild with this pipecheck version to get per-record checksums",
)

# What verify_dataset runs. Not shard_size: verify drops those findings (a shard of the wrong size
# fails its CRCs, record count or sha256 there), so a passing shard_size testcase would be untrue.
VERIFY_CHECKS = tuple(c for c in CHECKS if c is not SHARD_SIZE) + (
    RECORD_CORRUPT,
    RECORD_CHANGED,
    RECORD_COUNT,
    SHARD_CHECKSUM,
    NO_CHECKSUMS,
    CHECKSUMS_DAMAGED,
)


def run_verify(data_dir: str) -> Report:
    """``pipecheck verify DATA_DIR``: :func:`verify_dataset` as one report."""
    findings, totals = verify_dataset(data_dir)
    report = Report("verify", findings, summary={"data": data_dir, **totals})
    report.ran(registry.ids(*VERIFY_CHECKS))
    return report


def verify_dataset(data_dir: str) -> tuple[list[Finding], dict[str, int]]:
    """Re-read every shard: CRCs, per-record sha256, record counts and shard sha256 against the build.

    Returns:
        The findings and a summary ``{"shards": n, "records": n, "bytes": n}``.
    """
    manifest = load_manifest(data_dir)
    findings = [f for f in check_dataset(data_dir) if f.check != SHARD_SIZE.id]
    expected, sums_findings = _expected_digests(Path(data_dir) / CHECKSUMS_NAME)
    findings += sums_findings
    totals = {"shards": 0, "records": 0, "bytes": 0}
    for info in manifest.splits.values():
        for shard in info.shards:
            path = Path(data_dir) / shard.file
            if not path.is_file():
                continue  # already reported as dataset.shard_missing
            totals["shards"] += 1
            totals["bytes"] += path.stat().st_size
            records, shard_findings = _verify_shard(path, shard, expected.get(shard.file, (None, None)))
            totals["records"] += records
            findings += shard_findings
    return findings, totals


def _expected_digests(sums: Path) -> tuple[dict[str, tuple], list[Finding]]:
    """``checksums.jsonl`` read: shard file -> (digest function, digests in record order), and a
    finding when the file is missing or has lines that cannot be read (those shards get no digests).
    """
    import json

    from pipecheck.pipeline import spec

    if not sums.is_file():
        return {}, [NO_CHECKSUMS.finding(f"{sums} not found", subject=str(sums))]
    expected: dict[str, tuple] = {}
    damaged = []
    for number, line in enumerate(sums.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = spec.RECORD_DIGEST_KEY if spec.RECORD_DIGEST_KEY in row else spec.LEGACY_RECORD_DIGEST_KEY
            digest_of = spec.record_digest if key == spec.RECORD_DIGEST_KEY else spec.legacy_record_digest
            if not isinstance(row["file"], str) or not isinstance(row[key], list):
                raise TypeError("wrong types")
            expected[row["file"]] = (digest_of, row[key])
        except (ValueError, TypeError, KeyError, AttributeError):
            damaged.append(number)
    if not damaged:
        return expected, []
    return expected, [
        CHECKSUMS_DAMAGED.finding(
            f"{sums}: {len(damaged)} line(s) cannot be read (first: line {damaged[0]}); "
            "their shards are checked by CRC and sha256 only",
            subject=str(sums),
            evidence={"lines": damaged[:20]},
        )
    ]


def _verify_shard(path: Path, shard: ShardInfo, expected: tuple) -> tuple[int, list[Finding]]:
    """One shard against the build: its records (CRC, each digest in ``expected`` if any), their
    count, its sha256. Returns the records read (0 when the shard is corrupt) and the findings.
    """
    from pipecheck.pipeline import spec

    digest_of, digests = expected
    n = 0
    changed: list[int] = []
    try:
        for n, record in enumerate(spec.iter_records(str(path)), start=1):
            if digests is not None and (n > len(digests) or digest_of(record) != digests[n - 1]):
                changed.append(n - 1)
    except ValueError as exc:
        return 0, [
            RECORD_CORRUPT.finding(
                f"{shard.file}: {exc} after {n} good record(s)", subject=str(path), evidence={"good_records": n}
            )
        ]
    findings = []
    if changed:
        findings.append(
            RECORD_CHANGED.finding(
                f"{shard.file}: {len(changed)} record(s) differ from the build",
                subject=str(path),
                evidence={"records": changed[:20]},
            )
        )
    if n != shard.records:
        findings.append(
            RECORD_COUNT.finding(
                f"{shard.file} has {n} records, dataset.json says {shard.records}",
                subject=str(path),
                evidence={"actual": n, "expected": shard.records},
            )
        )
    sha256 = _file_sha256(path)
    if sha256 != shard.sha256:
        findings.append(
            SHARD_CHECKSUM.finding(
                f"{shard.file}: sha256 differs from dataset.json",
                subject=str(path),
                evidence={"actual": sha256, "expected": shard.sha256},
            )
        )
    return n, findings


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
