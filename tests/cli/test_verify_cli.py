"""``pipecheck verify OUT_DIR``: re-read every shard and compare with what the build recorded.

A real build (in-process ``build()``, several shards) is copied per test and damaged the way a bad
copy or a bad disk damages data: a flipped bit (CRC fails), a record rewritten with valid framing
(CRC passes, the record checksum does not), records reordered, a shard truncated, deleted or extended. Each must
exit 1 via the CLI with the right check id; the untouched copy exits 0.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pipecheck.cli import cli
from pipecheck.pipeline import spec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """24 images in three classes, ~6 train shards of 3-4 records each."""
    from pipecheck.pipeline.build import BuildOptions, build

    dump = tmp_path_factory.mktemp("verify_dump") / "dump"
    dump.mkdir()
    for i in range(24):
        arr = np.random.default_rng(i).integers(0, 255, (36, 40, 3), dtype=np.uint8)
        Image.fromarray(arr, "RGB").save(dump / f"img_{i:02d}.jpg", "JPEG", quality=90)
        (dump / f"img_{i:02d}.json").write_text(json.dumps({"label": "abc"[i % 3]}))
    out = tmp_path_factory.mktemp("verify_build") / "out"
    build(
        BuildOptions(
            dump=str(dump),
            out=str(out),
            label_field="label",
            workers=1,
            stats=False,
            shard_size_mb=0.02,
            val_fraction=0.2,
        )
    )
    return out


@pytest.fixture
def copy(built, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(built, dst)
    return dst


def _verify(folder: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["verify", str(folder), "--format", "json"])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def _ids(report: dict) -> set[str]:
    return {f["check"] for f in report["findings"]}


def _a_shard(folder: Path) -> tuple[Path, int]:
    """The first train shard with at least three records, and its record count."""
    manifest = json.loads((folder / "dataset.json").read_text())
    for s in manifest["splits"]["train"]["shards"]:
        if s["records"] >= 3:
            return folder / s["file"], s["records"]
    raise AssertionError("fixture should have a train shard with >= 3 records")


def _frames(path: Path) -> list[bytes]:
    return list(spec.iter_records(str(path)))


def test_clean_build_verifies(built):
    manifest = json.loads((built / "dataset.json").read_text())
    shards = sum(len(s["shards"]) for s in manifest["splits"].values())
    assert shards >= 3, "the fixture must have several shards"
    code, report = _verify(built)
    assert code == 0, report
    assert report["findings"] == []
    assert report["summary"]["shards"] == shards
    assert report["summary"]["records"] == manifest["accounting"]["written"] == 24


def test_flipped_byte_inside_a_record_fails_its_crc(copy):
    shard, _ = _a_shard(copy)
    data = bytearray(shard.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    data[12 + length // 2] ^= 0x01  # one bit in the middle of the first record's payload
    shard.write_bytes(bytes(data))
    code, report = _verify(copy)
    assert code == 1
    corrupt = [f for f in report["findings"] if f["check"] == "dataset.record_corrupt"]
    assert len(corrupt) == 1 and corrupt[0]["subject"] == str(shard), report
    assert "CRC" in corrupt[0]["message"]


def test_flipped_byte_in_a_record_length_fails_its_crc(copy):
    shard, _ = _a_shard(copy)
    data = bytearray(shard.read_bytes())
    data[0] ^= 0x02
    shard.write_bytes(bytes(data))
    code, report = _verify(copy)
    assert code == 1 and "dataset.record_corrupt" in _ids(report)


def test_record_changed_with_valid_framing_is_caught_by_its_checksum(copy):
    """The hard case: the CRCs are recomputed (a tool rewrote the record), only the digests catch it."""
    shard, n = _a_shard(copy)
    frames = _frames(shard)
    changed = bytearray(frames[1])
    changed[len(changed) // 2] ^= 0xFF
    frames[1] = bytes(changed)
    before = shard.stat().st_size
    shard.write_bytes(b"".join(spec.frame_record(r) for r in frames))
    assert shard.stat().st_size == before, "same length: only the content differs"
    code, report = _verify(copy)
    assert code == 1
    ids = _ids(report)
    assert {"dataset.record_changed", "dataset.shard_checksum"} <= ids, report
    assert "dataset.record_corrupt" not in ids
    changed_f = next(f for f in report["findings"] if f["check"] == "dataset.record_changed")
    assert changed_f["evidence"]["records"] == [1]


def test_reordered_records_are_caught(copy):
    shard, n = _a_shard(copy)
    frames = _frames(shard)
    assert len(frames) == n
    shard.write_bytes(b"".join(spec.frame_record(r) for r in reversed(frames)))
    code, report = _verify(copy)
    assert code == 1
    ids = _ids(report)
    assert {"dataset.record_changed", "dataset.shard_checksum"} <= ids and "dataset.record_corrupt" not in ids
    changed_f = next(f for f in report["findings"] if f["check"] == "dataset.record_changed")
    middle = {(n - 1) // 2} if n % 2 else set()
    assert set(changed_f["evidence"]["records"]) == set(range(n)) - middle


def test_truncated_shard_is_corrupt(copy):
    shard, _ = _a_shard(copy)
    data = shard.read_bytes()
    shard.write_bytes(data[:-10])
    code, report = _verify(copy)
    assert code == 1
    corrupt = [f for f in report["findings"] if f["check"] == "dataset.record_corrupt"]
    assert len(corrupt) == 1 and "truncated" in corrupt[0]["message"], report


def test_deleted_shard_is_missing(copy):
    shard, _ = _a_shard(copy)
    shard.unlink()
    code, report = _verify(copy)
    assert code == 1
    missing = [f for f in report["findings"] if f["check"] == "dataset.shard_missing"]
    assert [f["subject"] for f in missing] == [str(shard)]


def test_extra_valid_record_appended_is_counted(copy):
    shard, n = _a_shard(copy)
    frames = _frames(shard)
    with open(shard, "ab") as fh:
        fh.write(spec.frame_record(frames[0]))
    code, report = _verify(copy)
    assert code == 1
    ids = _ids(report)
    assert {"dataset.record_count", "dataset.shard_checksum"} <= ids and "dataset.record_corrupt" not in ids
    count = next(f for f in report["findings"] if f["check"] == "dataset.record_count")
    assert count["evidence"] == {"actual": n + 1, "expected": n}


def test_missing_checksums_is_a_warning_and_crc_still_checked(copy):
    (copy / "checksums.jsonl").unlink()
    code, report = _verify(copy)
    assert code == 0 and _ids(report) == {"dataset.no_checksums"}
    shard, _ = _a_shard(copy)
    data = bytearray(shard.read_bytes())
    data[20] ^= 0x10
    shard.write_bytes(bytes(data))
    code, report = _verify(copy)
    assert code == 1 and "dataset.record_corrupt" in _ids(report)


def test_not_a_build_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["verify", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipecheck: error:") and str(tmp_path) in lines[0], result.stderr


def test_checksums_of_older_builds_record_sha256_still_verify(copy):
    """Builds before the XXH3 record checksums wrote ``record_sha256`` (sha256, 128 bits): verify
    reads that form too, passes the intact copy and still names a rewritten record."""
    import hashlib

    rows = []
    for line in (copy / "checksums.jsonl").read_text().splitlines():
        row = json.loads(line)
        frames = _frames(copy / row["file"])
        rows.append({"file": row["file"], "record_sha256": [hashlib.sha256(r).hexdigest()[:32] for r in frames]})
        assert spec.RECORD_DIGEST_KEY in row and len(row[spec.RECORD_DIGEST_KEY]) == len(frames)
    (copy / "checksums.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, report = _verify(copy)
    assert code == 0 and not _ids(report), report
    shard, _ = _a_shard(copy)
    frames = _frames(shard)
    changed = bytearray(frames[0])
    changed[-3] ^= 0x01
    frames[0] = bytes(changed)
    shard.write_bytes(b"".join(spec.frame_record(r) for r in frames))
    code, report = _verify(copy)
    changed_f = next(f for f in report["findings"] if f["check"] == "dataset.record_changed")
    assert code == 1 and changed_f["evidence"]["records"] == [0]
