"""Each repair and each reject reason of ``build-tfrecords``, one generated file per case.

One dump holds every case that needs only default options (built once per module); the reasons
that need other modes (``--split-field``, ``--manifest``, multi-label) get their own tiny builds.
Every case also checks the accounting: each input ends up written or rejected, exactly once.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from pipecheck.pipeline.dump import sniff_format
from pipecheck.pipeline.rejects import REASONS

GOOD = {"label": "good"}

# stem+ext -> (repairs expected, stored format expected)
REPAIR_CASES = {
    "rep_cmyk.jpg": ({"cmyk_to_rgb"}, "jpeg"),
    "rep_gray.jpg": ({"grayscale_to_rgb"}, "jpeg"),
    "rep_bilevel.png": ({"grayscale_to_rgb"}, "png"),
    "rep_palette.png": ({"palette_to_rgb"}, "png"),
    "rep_palette_transparent.png": ({"palette_to_rgb", "alpha_flattened"}, "png"),
    "rep_rgba.png": ({"alpha_flattened"}, "png"),
    "rep_la.png": ({"alpha_flattened"}, "png"),
    "rep_16bit.png": ({"high_bit_depth_to_8bit"}, "png"),
    "rep_lab.tif": ({"lab_to_rgb", "reencoded_from_tiff"}, "png"),
    "rep_exif6.jpg": ({"exif_orientation"}, "jpeg"),
    "rep_png_named.jpg": ({"extension_mismatch"}, "png"),
    "rep_jpeg_named.png": ({"extension_mismatch"}, "jpeg"),
    "rep_upper.JPG": (set(), "jpeg"),
    "rep_webp.webp": ({"reencoded_from_webp"}, "jpeg"),
    "rep_bmp.bmp": ({"reencoded_from_bmp"}, "png"),
    "rep_tiff.tif": ({"reencoded_from_tiff"}, "png"),
    "rep_anim.gif": ({"first_frame_only", "palette_to_rgb", "reencoded_from_gif"}, "png"),
}

# path -> reason, for the default-options dump
REJECT_CASES = {
    "rej_empty.jpg": "empty_file",
    "rej_truncated.jpg": "truncated",
    "rej_random.jpg": "undecodable",
    "rej_text.jpg": "undecodable",
    "rej_broken_png.png": "undecodable",
    "rej_nosidecar.jpg": "no_sidecar",
    "rej_orphan.json": "orphan_sidecar",
    "rej_badjson.jpg": "bad_sidecar",
    "rej_jsonlist.jpg": "bad_sidecar",
    "rej_nolabel.jpg": "label_missing",
    "rej_nulllabel.jpg": "label_empty",
    "rej_blanklabel.jpg": "label_empty",
    "rej_dictlabel.jpg": "label_invalid",
    "rej_twolabels.jpg": "multiple_labels",
    "rej_small.jpg": "too_small",
    "rej_bomb.png": "too_many_pixels",
    "rej_dup.jpg": "duplicate_stem",
    "rej_dup.png": "duplicate_stem",
    "rej_gone.jpg": "unreadable",
}
# Reasons covered by the separate builds below.
# outside_dump: test_review_fixes.py; split_invalid: test_hostile_inputs.py
OTHER_MODE_REASONS = {"split_missing", "missing_image", "duplicate_row", "outside_dump", "split_invalid"}
N_GOOD = 6


def _make_cases(h, root):
    rng = np.random.default_rng(1)
    for i in range(N_GOOD):
        h.pair(root, f"good_{i}", GOOD, h.image(48, 40, (90, 160, 60), seed=100 + i))
    img = h.image(56, 44, (200, 80, 40), seed=7)
    h.pair(root, "rep_cmyk", GOOD, img.convert("CMYK"))
    h.pair(root, "rep_gray", GOOD, img.convert("L"))
    h.pair(root, "rep_bilevel", GOOD, img.convert("1"), ".png", "PNG")
    h.pair(root, "rep_palette", GOOD, img.convert("P", palette=Image.ADAPTIVE, colors=64), ".png", "PNG")
    pal = img.convert("P", palette=Image.ADAPTIVE, colors=64)
    h.pair(root, "rep_palette_transparent", GOOD, pal, ".png", "PNG", transparency=int(np.asarray(pal)[0, 0]))
    rgba = img.convert("RGBA")
    alpha = np.zeros((44, 56), dtype="uint8")
    alpha[10:34, 14:42] = 255  # opaque centre, transparent border
    rgba.putalpha(Image.fromarray(alpha, "L"))
    h.pair(root, "rep_rgba", GOOD, rgba, ".png", "PNG")
    h.pair(root, "rep_la", GOOD, img.convert("LA"), ".png", "PNG")
    deep = Image.fromarray((np.arange(44 * 56).reshape(44, 56) * 23).astype("uint16"))
    assert deep.mode.startswith("I;16")
    h.pair(root, "rep_16bit", GOOD, deep, ".png", "PNG")
    h.pair(root, "rep_lab", GOOD, img.convert("LAB"), ".tif", "TIFF")
    exif = img.getexif()
    exif[0x0112] = 6
    h.pair(root, "rep_exif6", GOOD, img, exif=exif.tobytes())
    h.pair(root, "rep_png_named", GOOD, img, ".jpg", "PNG")
    h.pair(root, "rep_jpeg_named", GOOD, img, ".png", "JPEG")
    h.pair(root, "rep_upper", GOOD, img, ".JPG", "JPEG")
    h.pair(root, "rep_webp", GOOD, img, ".webp", "WEBP")
    h.pair(root, "rep_bmp", GOOD, img, ".bmp", "BMP")
    h.pair(root, "rep_tiff", GOOD, img, ".tif", "TIFF")
    frames = [img.convert("P"), img.rotate(180).convert("P")]
    h.write_json(root / "rep_anim.json", GOOD)
    frames[0].save(root / "rep_anim.gif", "GIF", save_all=True, append_images=frames[1:])

    h.write_json(root / "rej_empty.json", GOOD)
    (root / "rej_empty.jpg").write_bytes(b"")
    full = h.encode(Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)), "JPEG")
    h.write_json(root / "rej_truncated.json", GOOD)
    (root / "rej_truncated.jpg").write_bytes(full[: len(full) // 2])
    h.write_json(root / "rej_random.json", GOOD)
    (root / "rej_random.jpg").write_bytes(b"\x00\x01" + rng.bytes(3000))
    h.write_json(root / "rej_text.json", GOOD)
    (root / "rej_text.jpg").write_text("this is not an image\n")
    h.write_json(root / "rej_broken_png.json", GOOD)
    png = bytearray(h.encode(Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)), "PNG"))
    at = png.find(b"IDAT") + 14
    png[at : at + 50] = b"\xff" * 50  # valid signature and chunk lengths, corrupt compressed stream
    (root / "rej_broken_png.png").write_bytes(bytes(png))
    h.write_image(root / "rej_nosidecar.jpg", img)
    h.write_json(root / "rej_orphan.json", GOOD)
    h.write_image(root / "rej_badjson.jpg", img)
    (root / "rej_badjson.json").write_text('{"label": "good", ')
    h.write_image(root / "rej_jsonlist.jpg", img)
    (root / "rej_jsonlist.json").write_text('["good"]')
    h.pair(root, "rej_nolabel", {"other": "good"}, img)
    h.pair(root, "rej_nulllabel", {"label": None}, img)
    h.pair(root, "rej_blanklabel", {"label": "   "}, img)
    h.pair(root, "rej_dictlabel", {"label": {"name": "good"}}, img)
    h.pair(root, "rej_twolabels", {"label": ["good", "bad"]}, img)
    h.pair(root, "rej_small", GOOD, h.image(20, 60))
    h.write_json(root / "rej_bomb.json", GOOD)
    Image.new("1", (10000, 10000)).save(root / "rej_bomb.png", "PNG")  # 1e8 px, 12 KB on disk
    h.write_json(root / "rej_dup.json", GOOD)
    h.write_image(root / "rej_dup.jpg", img)
    h.write_image(root / "rej_dup.png", img, "PNG")
    h.write_json(root / "rej_gone.json", GOOD)
    os.symlink(root / "was_removed.jpg", root / "rej_gone.jpg")  # vanished before it could be read


@pytest.fixture(scope="module")
def cases(h, tmp_path_factory):
    root = tmp_path_factory.mktemp("cases_dump")
    _make_cases(h, root)
    result = h.build(root, tmp_path_factory.mktemp("cases_build") / "out", label_field="label")
    return root, result, h.by_id(result.out_dir)


@pytest.mark.parametrize("name", sorted(REPAIR_CASES))
def test_repair_is_written_and_recorded(cases, h, name):
    root, result, recs = cases
    expected_repairs, expected_format = REPAIR_CASES[name]
    stem = os.path.splitext(name)[0]
    assert stem in recs, f"{name} was not written; rejects: {h.rejects_by_path(result).get(name)}"
    rec = recs[stem]
    assert rec["image/source"] == [name]
    assert set(rec["image/repairs"]) == expected_repairs
    assert rec["image/format"] == [expected_format]
    data = rec["image/encoded"][0]
    assert sniff_format(data[:16]) == expected_format, "image/format must describe the stored bytes"
    img = Image.open(io.BytesIO(data))
    assert img.mode == "RGB", f"stored image is {img.mode}, not RGB"
    assert (img.width, img.height) == (rec["image/width"][0], rec["image/height"][0])
    assert rec["image/channels"] == [3]
    assert name not in h.rejects_by_path(result)


def test_repair_counts_reach_the_manifest(cases):
    _, result, recs = cases
    per_record: dict[str, int] = {}
    for rec in recs.values():
        for r in rec["image/repairs"]:
            per_record[r] = per_record.get(r, 0) + 1
    assert result.accounting["repairs"] == dict(sorted(per_record.items()))
    assert dict(result.repairs) == per_record


def test_alpha_is_flattened_onto_white_and_pixels_kept(cases, h):
    root, _, recs = cases
    out = h.decode(recs["rep_rgba"]).astype(int)
    src = np.asarray(Image.open(root / "rep_rgba.png").convert("RGB")).astype(int)
    assert (out[:8, :8] == 255).all() and (out[-8:, -8:] == 255).all(), "transparent border must become white"
    assert np.array_equal(out[10:34, 14:42], src[10:34, 14:42]), "opaque pixels must be kept exactly (lossless PNG)"


def test_cmyk_conversion_keeps_the_picture(cases, h):
    root, _, recs = cases
    out = h.decode(recs["rep_cmyk"]).astype(float)
    ref = np.asarray(Image.open(root / "rep_cmyk.jpg").convert("RGB")).astype(float)
    assert out.shape == ref.shape
    assert np.abs(out - ref).mean() < 4.0


def test_animated_gif_keeps_first_frame(cases, h):
    root, _, recs = cases
    out = h.decode(recs["rep_anim"]).astype(int)
    gif = Image.open(root / "rep_anim.gif")
    first = np.asarray(gif.convert("RGB")).astype(int)
    gif.seek(1)
    second = np.asarray(gif.convert("RGB")).astype(int)
    assert np.array_equal(out, first)
    assert not np.array_equal(out, second)


@pytest.mark.parametrize("name", sorted(REJECT_CASES))
def test_reject_reason(cases, h, name):
    root, result, recs = cases
    got = h.rejects_by_path(result)
    assert got.get(name) == REJECT_CASES[name], f"{name}: expected {REJECT_CASES[name]}, got {got.get(name)}"
    assert all(rec["image/source"] != [name] for rec in recs.values())


def test_rejects_jsonl_lists_every_reject(cases):
    import json

    _, result, _ = cases
    lines = open(os.path.join(result.out_dir, "rejects.jsonl"), encoding="utf-8").read().splitlines()
    rows = [json.loads(line) for line in lines]
    assert {(r["path"], r["reason"]) for r in rows} == {(r.path, r.reason) for r in result.rejects}
    assert len(rows) == len(result.rejects) == result.accounting["rejected"]
    assert all(set(r) == {"path", "stem", "reason", "detail"} for r in rows)


def test_accounting_balances_and_every_input_is_accounted_once(cases, h):
    root, result, recs = cases
    acc = result.accounting
    n_written = len(recs)
    assert acc["written"] == n_written == N_GOOD + len(REPAIR_CASES)
    assert acc["rejected"] == len(REJECT_CASES)
    assert acc["written"] + acc["rejected"] == acc["inputs_found"]
    assert acc["balanced"] is True
    assert acc["rejects_by_reason"] == {
        r: list(REJECT_CASES.values()).count(r) for r in sorted(set(REJECT_CASES.values()))
    }
    written_paths = [rec["image/source"][0] for rec in recs.values()]
    rejected_paths = [r.path for r in result.rejects]
    assert not set(written_paths) & set(rejected_paths)
    inputs = {p.name for p in root.iterdir() if p.suffix != ".json"} | {"rej_orphan.json"}
    assert sorted(written_paths + rejected_paths) == sorted(inputs)
    split_total = sum(s["examples"] for s in result.manifest["splits"].values())
    assert split_total == n_written


# --- reasons that need another mode ---------------------------------------------------------


def test_split_missing_and_split_aliases(h, tmp_path):
    img = h.image()
    for i, split in enumerate(["train", "Training", "val", "valid", "validation", "test", "dev"]):
        h.pair(tmp_path / "d", f"ok_{i}", {"label": "a" if i % 2 else "b", "fold": split}, img)
    h.pair(tmp_path / "d", "no_fold", {"label": "a"}, img)
    h.pair(tmp_path / "d", "blank_fold", {"label": "a", "fold": "  "}, img)
    result = h.build(tmp_path / "d", tmp_path / "out", label_field="label", split_field="fold")
    assert h.rejects_by_path(result) == {"no_fold.jpg": "split_missing", "blank_fold.jpg": "split_missing"}
    recs = h.by_id(result.out_dir)
    got = {k: r["_split"] for k, r in recs.items()}
    assert got == {
        "ok_0": "train",
        "ok_1": "train",
        "ok_2": "val",
        "ok_3": "val",
        "ok_4": "val",
        "ok_5": "test",
        "ok_6": "val",
    }
    assert "fold" not in result.manifest["meta_features"], "the split field is not metadata"
    assert result.accounting["balanced"]


def test_manifest_missing_image_and_duplicate_row(h, tmp_path):
    dump = tmp_path / "d"
    for i in range(4):
        h.write_image(dump / f"img_{i}.jpg", h.image(seed=i))
    (dump / "labels.csv").write_text(
        "path,label\nimg_0.jpg,a\nimg_1.jpg,b\nimg_1.jpg,b\nnot_there.jpg,a\nimg_2.jpg,a\n"
    )
    result = h.build(dump, tmp_path / "out", label_field="label", manifest=str(dump / "labels.csv"))
    assert sorted((r.path, r.reason) for r in result.rejects) == [
        ("img_1.jpg", "duplicate_row"),
        ("img_3.jpg", "no_sidecar"),
        ("not_there.jpg", "missing_image"),
    ]
    assert sorted(h.by_id(result.out_dir)) == ["img_0", "img_1", "img_2"]
    acc = result.accounting
    assert (acc["inputs_found"], acc["written"], acc["rejected"], acc["balanced"]) == (6, 3, 3, True)


def test_multi_label_empty_list_and_invalid_member(h, tmp_path):
    img = h.image()
    h.pair(tmp_path / "d", "ok", {"tags": ["x", "y"]}, img)
    h.pair(tmp_path / "d", "ok2", {"tags": ["y"]}, img)
    h.pair(tmp_path / "d", "empty", {"tags": []}, img)
    h.pair(tmp_path / "d", "blank", {"tags": ["", " "]}, img)
    h.pair(tmp_path / "d", "bad", {"tags": ["x", {"y": 1}]}, img)
    result = h.build(tmp_path / "d", tmp_path / "out", multi_label_field="tags")
    assert h.rejects_by_path(result) == {
        "empty.jpg": "label_empty",
        "blank.jpg": "label_empty",
        "bad.jpg": "label_invalid",
    }
    assert result.accounting["balanced"]


def test_every_reason_code_is_covered_by_this_file():
    covered = set(REJECT_CASES.values()) | OTHER_MODE_REASONS
    assert covered == set(REASONS), f"untested reject reasons: {sorted(set(REASONS) - covered)}"


def test_sidecar_with_lone_surrogate_does_not_crash_the_build(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "ok", GOOD, h.image(seed=1))
    h.write_image(d / "odd_key.jpg", h.image(seed=2))
    (d / "odd_key.json").write_text('{"label": "good", "note\\ud800": 1}')
    h.write_image(d / "odd_label.jpg", h.image(seed=3))
    (d / "odd_label.json").write_text('{"label": "x\\udc80"}')
    result = h.build(d, tmp_path / "out", label_field="label")
    acc = result.accounting
    assert acc["inputs_found"] == 3 and acc["balanced"]
    assert "ok" in h.by_id(result.out_dir)
