"""leakage: one image (or one group) on both sides of a split boundary, on real tiny builds.

Every firing case is a healthy base dump plus one planted copy, with the split forced through a
``split`` field in the sidecars; the healthy base itself must be silent. ``near_pairs`` (LSH
banding) is checked against brute force on random 64-bit hashes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipecheck.validators import registry
from pipecheck.validators.leakage import check_leakage, near_pairs

N_BASE = 24  # photos 0..23; photos from 24 on are free for planted copies


def base_rows(vh, photos, *, group_of=None):
    """24 distinct photo crops, classes a/b, 16 train + 8 val, one specimen per photo."""
    rows = []
    for i in range(N_BASE):
        meta = {
            "label": "ab"[i % 2],
            "split": "train" if i < 16 else "val",
            "specimen": group_of(i) if group_of else f"S{i:02d}",
        }
        rows.append((f"p{i:02d}", meta, vh.encode(photos[i]), ".jpg"))
    return rows


def build_rows(vh, tmp_path, rows, **kw):
    dump = vh.write_all(tmp_path / "dump", rows)
    kw.setdefault("split_field", "split")
    return vh.build(dump, tmp_path / "out", label_field="label", **kw)


def by_check(findings, check_id):
    return [f for f in findings if f.check == check_id]


def assert_registry_hint(finding):
    info = registry.get(finding.check)
    assert finding.hint == info.hint and finding.hint
    assert finding.severity == info.severity


# --------------------------------------------------------------------------- healthy twin
def test_distinct_photos_with_distinct_groups_are_silent(vh, photos, tmp_path):
    result = build_rows(vh, tmp_path, base_rows(vh, photos), group_field="specimen")
    assert result.manifest["options"]["group_field"] == "specimen"
    assert {s: v["examples"] for s, v in result.manifest["splits"].items()} == {"train": 16, "val": 8}
    assert check_leakage(result.out_dir) == []


# --------------------------------------------------------------------------- exact duplicates
def test_identical_file_in_train_and_val_is_an_exact_duplicate(vh, photos, tmp_path):
    rows = base_rows(vh, photos)
    data = rows[3][2]  # p03, a train photo
    rows.append(("copy_of_p03", {"label": "b", "split": "val", "specimen": "X1"}, data, ".jpg"))
    findings = check_leakage(build_rows(vh, tmp_path, rows).out_dir)
    assert [f.check for f in findings] == ["leakage.exact_duplicate"]
    (f,) = findings
    assert f.subject == "train, val"
    assert_registry_hint(f)
    assert f.evidence["images"] == 1
    assert [sorted(e) for e in f.evidence["examples"]] == [["train:p03", "val:copy_of_p03"]]


def test_png_reencode_of_a_jpeg_matches_by_decoded_pixels(vh, photos, tmp_path):
    rows = base_rows(vh, photos)
    jpeg = rows[5][2]  # p05, train
    png = vh.encode(vh.decode(jpeg), "PNG")
    assert png != jpeg
    rows.append(("reencoded", {"label": "b", "split": "val", "specimen": "X2"}, png, ".png"))
    findings = check_leakage(build_rows(vh, tmp_path, rows).out_dir)
    # an exact duplicate, not reported a second time as a near duplicate
    assert [f.check for f in findings] == ["leakage.exact_duplicate"]
    assert findings[0].subject == "train, val"
    assert_registry_hint(findings[0])
    assert [sorted(e) for e in findings[0].evidence["examples"]] == [["train:p05", "val:reencoded"]]


def test_duplicates_inside_one_split_are_info_not_leakage(vh, photos, tmp_path):
    rows = base_rows(vh, photos)
    rows.append(("p07_again", {"label": "b", "split": "train", "specimen": "X3"}, rows[7][2], ".jpg"))
    findings = check_leakage(build_rows(vh, tmp_path, rows).out_dir)
    assert [f.check for f in findings] == ["leakage.duplicate_within_split"]
    (f,) = findings
    assert f.severity.value == "info"
    assert_registry_hint(f)
    assert [sorted(e) for e in f.evidence["examples"]] == [["train:p07", "train:p07_again"]]


# --------------------------------------------------------------------------- groups
def test_group_value_in_two_splits_is_shared_group(vh, photos, tmp_path):
    # Specimens of three photos each; the split is forced, so specimen G5 (photos 15, 16, 17)
    # straddles train (15) and val (16, 17). group_field is recorded in the manifest.
    rows = base_rows(vh, photos, group_of=lambda i: f"G{i // 3}")
    result = build_rows(vh, tmp_path, rows, group_field="specimen")
    assert result.manifest["options"]["group_field"] == "specimen"
    findings = check_leakage(result.out_dir)
    assert [f.check for f in findings] == ["leakage.shared_group"]
    (f,) = findings
    assert f.subject == "specimen"
    assert_registry_hint(f)
    assert f.evidence == {"groups": 1, "examples": {"G5": ["train", "val"]}}


def test_group_values_are_ignored_without_a_recorded_group_field(vh, photos, tmp_path):
    rows = base_rows(vh, photos, group_of=lambda i: f"G{i // 3}")
    result = build_rows(vh, tmp_path, rows)
    assert result.manifest["options"]["group_field"] is None
    assert check_leakage(result.out_dir) == []


# --------------------------------------------------------------------------- near duplicates
def _q60(vh, img):
    return vh.encode(vh.decode(vh.encode(img, quality=95)), quality=60)


def _one_pixel(vh, img):
    arr = np.asarray(img).copy()
    arr[10, 10] = 255 - arr[10, 10]
    from PIL import Image

    return vh.encode(Image.fromarray(arr), "PNG")


@pytest.mark.parametrize("modify, ext", [(_q60, ".jpg"), (_one_pixel, ".png")], ids=["jpeg_q60", "one_pixel"])
def test_slightly_modified_copy_across_splits_is_a_near_duplicate(vh, photos, tmp_path, modify, ext):
    rows = base_rows(vh, photos)
    rows.append(("edited_p03", {"label": "b", "split": "val", "specimen": "X4"}, modify(vh, photos[3]), ext))
    findings = check_leakage(build_rows(vh, tmp_path, rows).out_dir)
    assert [f.check for f in findings] == ["leakage.near_duplicate"]
    (f,) = findings
    assert_registry_hint(f)
    assert f.evidence["pairs"] == 1
    (example,) = f.evidence["examples"]
    assert example.startswith("train:p03 ~ val:edited_p03 (d=")


def test_near_copy_inside_one_split_is_not_leakage(vh, photos, tmp_path):
    rows = base_rows(vh, photos)
    rows.append(("edited_p03", {"label": "b", "split": "train", "specimen": "X4"}, _q60(vh, photos[3]), ".jpg"))
    assert check_leakage(build_rows(vh, tmp_path, rows).out_dir) == []


# --------------------------------------------------------------------------- near_pairs (LSH banding)
def _signed(u: int) -> int:
    return u - (1 << 64) if u >= (1 << 63) else u


def _brute(hashes, max_distance):
    out = set()
    splits = list(hashes)
    for a, b in itertools.combinations(splits, 2):
        for ia, ha in hashes[a]:
            for ib, hb in hashes[b]:
                d = bin((ha ^ hb) & ((1 << 64) - 1)).count("1")
                if d <= max_distance:
                    out.add((frozenset({(a, ia), (b, ib)}), d))
    return out


def _random_hashes(seed: int):
    """Random signed 64-bit hashes in three splits, with planted copies 0..8 bits apart across
    and inside splits (random pairs alone are almost never this close)."""
    rng = np.random.default_rng(seed)
    splits = {"train": [], "val": [], "test": []}
    names = list(splits)
    for i in range(150):
        u = int(rng.integers(0, 1 << 63)) | (int(rng.integers(0, 2)) << 63)
        s = names[i % 3]
        splits[s].append((f"{s}{i}", _signed(u)))
        if i % 2 == 0:
            flip = 0
            for bit in rng.choice(64, int(rng.integers(0, 9)), replace=False):
                flip |= 1 << int(bit)
            t = names[int(rng.integers(0, 3))]
            splits[t].append((f"{t}{i}c", _signed(u ^ flip)))
    return splits


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_distance", [0, 1, 3, 4, 6, 8])
def test_near_pairs_finds_exactly_the_brute_force_pairs(seed, max_distance):
    hashes = _random_hashes(seed)
    got = near_pairs(hashes, max_distance)
    got_set = {(frozenset({(sa, ia), (sb, ib)}), d) for sa, ia, sb, ib, d in got}
    assert len(got_set) == len(got), "a pair was reported twice"
    assert all(sa != sb for sa, _, sb, _, _ in got)
    assert got_set == _brute(hashes, max_distance)


def test_near_pairs_planted_pairs_are_found():
    base = 0x0123_4567_89AB_CDEF
    hashes = {
        "train": [("t", _signed(base))],
        "val": [
            ("v1", _signed(base ^ 0b1111)),
            ("v2", _signed(base ^ (0b11111 << 59))),
            ("v3", _signed(base ^ (1 << 63))),
        ],
    }
    assert near_pairs(hashes, 4) == [("train", "t", "val", "v1", 4), ("train", "t", "val", "v3", 1)]
