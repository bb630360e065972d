"""The committed sample dump (``samples/dump``, ``--label-field species --group-field specimen``)
gives the outcome that ``samples/README.md`` describes."""

from __future__ import annotations

import json
from collections import Counter

from PIL import Image

EXPECTED_REJECTS = {
    "BAD_empty_file.jpg": "empty_file",
    "BAD_truncated.jpg": "truncated",
    "BAD_undecodable.jpg": "undecodable",
    "BAD_no_sidecar.jpg": "no_sidecar",
    "BAD_orphan_sidecar.json": "orphan_sidecar",
    "BAD_bad_sidecar.jpg": "bad_sidecar",
    "BAD_label_missing.jpg": "label_missing",
    "BAD_too_small.jpg": "too_small",
    "BAD_bomb.png": "too_many_pixels",
    "IMG_0400.jpg": "duplicate_stem",
    "IMG_0400.png": "duplicate_stem",
}

EXPECTED_REPAIRS = {
    "REPAIR_cmyk": {"cmyk_to_rgb"},
    "REPAIR_grayscale": {"grayscale_to_rgb"},
    "REPAIR_palette": {"palette_to_rgb"},
    "REPAIR_rgba": {"alpha_flattened"},
    "REPAIR_exif_rotated": {"exif_orientation"},
    "REPAIR_png_named_jpg": {"extension_mismatch"},
    "IMG_0300": set(),
    "REPAIR_webp": {"reencoded_from_webp"},
    "REPAIR_bmp": {"reencoded_from_bmp"},
}


def test_sample_accounting(sample_build):
    acc = sample_build.accounting
    assert acc["written"] == 250
    assert acc["rejected"] == 11
    assert acc["inputs_found"] == 261 == acc["written"] + acc["rejected"]
    assert acc["balanced"] is True
    assert acc["litter_ignored"] == 3
    assert acc["other_files_ignored"] == {}
    assert acc["rejects_by_reason"] == dict(sorted(Counter(EXPECTED_REJECTS.values()).items()))


def test_sample_rejects_each_bad_file_with_its_reason(h, sample_build):
    assert h.rejects_by_path(sample_build) == EXPECTED_REJECTS
    lines = sample_build.out_dir + "/rejects.jsonl"
    rows = [json.loads(x) for x in open(lines, encoding="utf-8").read().splitlines()]
    assert {r["path"]: r["reason"] for r in rows} == EXPECTED_REJECTS
    assert not any("DS_Store" in r["path"] or "Thumbs" in r["path"] or "._" in r["path"] for r in rows)


def test_sample_classes_counts_and_specimens(h, sample_build):
    m = sample_build.manifest
    assert m["classes"] == ["cat", "coffee", "flower", "galaxy", "rocket", "temple"]
    assert m["label_mode"] == "single_label"
    totals = Counter()
    for info in m["splits"].values():
        totals.update(info["class_counts"])
    assert dict(totals) == {"cat": 42, "coffee": 42, "flower": 42, "temple": 42, "galaxy": 41, "rocket": 41}
    recs = h.by_id(sample_build.out_dir)
    assert len(recs) == 250
    assert len({r["meta/specimen"][0] for r in recs.values()}) == 85
    assert {f"batch2/IMG_{i:04d}" for i in range(234, 241)} <= set(recs)
    assert "DUP_IMG_0001" in recs and "IMG_0001" in recs


def test_sample_repairs_are_written_and_recorded(h, sample_build, sample_dump):
    recs = h.by_id(sample_build.out_dir)
    for stem, expected in EXPECTED_REPAIRS.items():
        assert set(recs[stem]["image/repairs"]) == expected, stem
    assert recs["IMG_0300"]["image/source"] == ["IMG_0300.JPG"]
    assert recs["IMG_0300"]["image/encoded"][0] == (sample_dump / "IMG_0300.JPG").read_bytes()
    rotated = recs["REPAIR_exif_rotated"]
    assert (rotated["image/width"], rotated["image/height"]) == ([360], [240])
    assert Image.open(sample_dump / "REPAIR_exif_rotated.jpg").size == (240, 360)
    assert recs["REPAIR_png_named_jpg"]["image/format"] == ["png"]
    assert sample_build.accounting["repairs"] == {
        "alpha_flattened": 1,
        "cmyk_to_rgb": 1,
        "exif_orientation": 1,
        "extension_mismatch": 1,
        "grayscale_to_rgb": 1,
        "palette_to_rgb": 1,
        "reencoded_from_bmp": 1,
        "reencoded_from_webp": 1,
    }
    # The good photos are RGB, upright JPEGs: stored byte for byte.
    for i in (1, 2, 120, 233):
        stem = f"IMG_{i:04d}"
        assert recs[stem]["image/encoded"][0] == (sample_dump / f"{stem}.jpg").read_bytes()
        assert recs[stem]["image/repairs"] == []


def test_sample_specimens_never_cross_splits(h, sample_build):
    split_of: dict[str, set] = {}
    for rec in h.records(sample_build.out_dir):
        split_of.setdefault(rec["meta/specimen"][0], set()).add(rec["_split"])
    assert all(len(v) == 1 for v in split_of.values())
    assert {s for v in split_of.values() for s in v} == {"train", "val"}


def test_sample_build_report(sample_build):
    from pipecheck.validators.build import build_report

    report = build_report(sample_build)
    checks = Counter(f.check for f in report.findings)
    assert "build.accounting" not in checks
    assert checks["build.rejected"] == len(set(EXPECTED_REJECTS.values()))
    assert report.exit_code == 0
    report.fail_on = type(report.fail_on).WARNING
    assert report.exit_code == 1
