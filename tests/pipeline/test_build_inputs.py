"""How ``build-tfrecords`` reads a dump: formats, originals, resizing, EXIF, litter, folders,
label/split/group fields, manifest tables, the class vocabulary and the output folder's life cycle.

Each test generates its own few tiny images under ``tmp_path`` (builds take well under a second).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipecheck.pipeline.errors import InputError

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- formats and stored bytes ---------------------------------------------------------------


def test_format_is_detected_from_content_not_extension(h, tmp_path):
    d = tmp_path / "d"
    png_as_jpg = h.pair(d, "png_as_jpg", {"label": "a"}, h.image(seed=1), ".jpg", "PNG")
    jpg_as_png = h.pair(d, "jpg_as_png", {"label": "a"}, h.image(seed=2), ".png", "JPEG")
    no_ext = h.write_image(d / "no_extension", h.image(seed=3), "PNG")
    h.write_json(d / "no_extension.json", {"label": "b"})
    jpeg_as_dat = h.write_image(d / "camera.dat", h.image(seed=4), "JPEG")
    h.write_json(d / "camera.json", {"label": "b"})
    (d / "notes.txt").write_text("not an image, not a sidecar\n")
    result = h.build(d, tmp_path / "out", label_field="label")
    recs = h.by_id(result.out_dir)
    assert set(recs) == {"png_as_jpg", "jpg_as_png", "no_extension", "camera"}
    assert recs["png_as_jpg"]["image/format"] == ["png"]
    assert recs["jpg_as_png"]["image/format"] == ["jpeg"]
    assert recs["no_extension"]["image/format"] == ["png"]
    assert recs["camera"]["image/format"] == ["jpeg"]
    assert "extension_mismatch" in recs["png_as_jpg"]["image/repairs"]
    assert "extension_mismatch" in recs["jpg_as_png"]["image/repairs"]
    # Content is kept: the stored bytes decode to the file's pixels.
    for stem, path in [
        ("png_as_jpg", png_as_jpg),
        ("jpg_as_png", jpg_as_png),
        ("no_extension", no_ext),
        ("camera", jpeg_as_dat),
    ]:
        assert np.array_equal(h.decode(recs[stem]), np.asarray(Image.open(path).convert("RGB")))
    assert result.rejects == []
    assert result.accounting["other_files_ignored"] == {".txt": 1}
    assert result.accounting["balanced"]


def test_original_bytes_stored_untouched_when_rgb_upright_and_small_enough(h, tmp_path):
    d = tmp_path / "d"
    jpg = h.pair(d, "photo", {"label": "a"}, h.image(64, 48, seed=5), ".jpg", "JPEG", quality=77)
    png = h.pair(d, "drawing", {"label": "a"}, h.image(50, 40, seed=6), ".png", "PNG")
    result = h.build(d, tmp_path / "out", label_field="label", max_side=64)
    recs = h.by_id(result.out_dir)
    assert recs["photo"]["image/encoded"][0] == jpg.read_bytes()
    assert recs["drawing"]["image/encoded"][0] == png.read_bytes()
    assert recs["photo"]["image/repairs"] == [] and recs["drawing"]["image/repairs"] == []
    assert (recs["photo"]["image/width"], recs["photo"]["image/height"]) == ([64], [48])


def test_a_downscaled_jpeg_keeps_its_own_tables_and_chroma_unless_a_quality_is_given(h, tmp_path):
    from PIL import JpegImagePlugin

    d = tmp_path / "d"
    h.pair(d, "q70", {"label": "a"}, h.image(120, 90, seed=3), ".jpg", "JPEG", quality=70, subsampling=2)
    h.pair(d, "q97", {"label": "a"}, h.image(120, 90, seed=4), ".jpg", "JPEG", quality=97, subsampling=0)
    h.pair(d, "png", {"label": "a"}, h.image(120, 90, seed=5), ".png", "PNG")

    def stored(out, **kw):
        recs = h.by_id(h.build(d, tmp_path / out, label_field="label", max_side=60, **kw).out_dir)
        return {k: Image.open(io.BytesIO(r["image/encoded"][0])) for k, r in recs.items()}

    sources = {k: Image.open(d / f"{k}.jpg") for k in ("q70", "q97")}
    kept = stored("keep")
    for key, src in sources.items():
        assert kept[key].size == (60, 45)
        assert kept[key].quantization == src.quantization
        assert JpegImagePlugin.get_sampling(kept[key]) == JpegImagePlugin.get_sampling(src)
    # a source without JPEG tables gets quality 95, full-resolution chroma
    assert JpegImagePlugin.get_sampling(kept["png"]) == 0 and kept["png"].quantization[0][0] == 2
    forced = stored("q80", jpeg_quality=80)
    for img in forced.values():
        assert JpegImagePlugin.get_sampling(img) == 2 and img.quantization[0][0] == 6


def test_a_jpeg_turned_upright_keeps_its_tables_and_a_transposed_422_gets_full_chroma(h, tmp_path):
    from PIL import JpegImagePlugin

    d = tmp_path / "d"
    for stem, orientation, sampling in (("flip", 3, 1), ("turn422", 6, 1), ("turn420", 6, 2)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        h.pair(
            d,
            stem,
            {"label": "a"},
            h.image(64, 48, seed=orientation + sampling),
            ".jpg",
            "JPEG",
            quality=80,
            subsampling=sampling,
            exif=exif.tobytes(),
        )
    recs = h.by_id(h.build(d, tmp_path / "out", label_field="label").out_dir)
    stored = {k: Image.open(io.BytesIO(r["image/encoded"][0])) for k, r in recs.items()}
    assert all("exif_orientation" in r["image/repairs"] for r in recs.values())
    source = Image.open(d / "flip.jpg")
    assert stored["flip"].quantization == source.quantization and stored["flip"].size == (64, 48)
    assert JpegImagePlugin.get_sampling(stored["flip"]) == 1  # 4:2:2 kept: a 180-degree turn keeps the axes
    assert JpegImagePlugin.get_sampling(stored["turn420"]) == 2 and stored["turn420"].size == (48, 64)
    assert JpegImagePlugin.get_sampling(stored["turn422"]) == 0  # halved chroma would fall on the other axis


def test_max_side_downscales_and_reencodes_as_jpeg(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "wide", {"label": "a"}, h.image(90, 60, seed=7), ".jpg", "JPEG")
    h.pair(d, "tall", {"label": "a"}, h.image(40, 100, seed=8), ".png", "PNG")
    small = h.pair(d, "small", {"label": "a"}, h.image(36, 33, seed=9), ".jpg", "JPEG")
    full = h.by_id(h.build(d, tmp_path / "full", label_field="label").out_dir)
    result = h.build(d, tmp_path / "out", label_field="label", max_side=45, jpeg_quality=80)
    recs = h.by_id(result.out_dir)
    for stem, (w, hgt) in {"wide": (45, 30), "tall": (18, 45)}.items():
        rec = recs[stem]
        data = rec["image/encoded"][0]
        assert data.startswith(JPEG_MAGIC) and rec["image/format"] == ["jpeg"]
        img = Image.open(io.BytesIO(data))
        assert img.size == (w, hgt) == (rec["image/width"][0], rec["image/height"][0])
        assert max(img.size) == 45
        assert "downscaled" in rec["image/repairs"]
        # sha256 is a checksum of the stored bytes.
        assert rec["image/sha256"] == [hashlib.sha256(data).hexdigest()]
    # The pixel hash is taken before the downscale: a PNG (decoded at full size) keeps the hash
    # it has in the full-size build. (A JPEG is decoded at a reduced DCT scale when that suffices.)
    assert recs["tall"]["image/pixel_hash"] == full["tall"]["image/pixel_hash"]
    assert recs["small"]["image/encoded"][0] == small.read_bytes()
    assert result.accounting["repairs"].get("downscaled") == 2


def test_exif_orientation_is_applied(h, tmp_path):
    # Stored pixels: 40 wide x 60 high; top band red, left band green, rest blue. Orientation 6 means
    # "rotate 90 degrees clockwise to display", so the upright picture is 60 wide x 40 high.
    arr = np.zeros((60, 40, 3), dtype="uint8")
    arr[...] = (20, 40, 220)
    arr[:15, :] = (230, 30, 30)
    arr[15:, :10] = (30, 220, 40)
    img = Image.fromarray(arr, "RGB")
    exif = img.getexif()
    exif[0x0112] = 6
    h.pair(tmp_path / "d", "rotated", {"label": "a"}, img, ".jpg", "JPEG", quality=95, exif=exif.tobytes())
    rec = h.by_id(h.build(tmp_path / "d", tmp_path / "out", label_field="label").out_dir)["rotated"]
    assert (rec["image/width"], rec["image/height"]) == ([60], [40])
    assert "exif_orientation" in rec["image/repairs"]
    out = h.decode(rec).astype(float)
    assert out.shape == (40, 60, 3)
    clockwise = np.rot90(arr, k=-1).astype(float)
    counter = np.rot90(arr, k=1).astype(float)
    assert np.abs(out - clockwise).mean() < 6.0
    assert np.abs(out - counter).mean() > 40.0
    assert out[20, 55, 0] > 180 and out[20, 55, 2] < 80, "the top band must end up on the right"
    stored = Image.open(io.BytesIO(rec["image/encoded"][0]))
    assert stored.getexif().get(0x0112, 1) == 1, "the stored image must not ask viewers to rotate it again"


# --- files that are not inputs, names and folders -------------------------------------------


def test_os_litter_is_counted_not_rejected(h, tmp_path):
    d = tmp_path / "d"
    for i in range(3):
        h.pair(d, f"img_{i}", {"label": "a"}, h.image(seed=i))
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
    (d / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)
    (d / "._img_0.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 100)
    (d / "desktop.ini").write_text("[.ShellClassInfo]\n")
    result = h.build(d, tmp_path / "out", label_field="label")
    assert result.rejects == []
    acc = result.accounting
    assert acc["litter_ignored"] == 4
    assert (acc["inputs_found"], acc["written"], acc["rejected"]) == (3, 3, 0)
    assert acc["other_files_ignored"] == {}


def test_upper_and_mixed_case_extensions_are_accepted(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "IMG_A", {"label": "a"}, h.image(seed=1), ".JPG")
    h.pair(d, "IMG_B", {"label": "a"}, h.image(seed=2), ".JpEg")
    h.pair(d, "IMG_C", {"label": "a"}, h.image(seed=3), ".PNG", "PNG")
    result = h.build(d, tmp_path / "out", label_field="label")
    recs = h.by_id(result.out_dir)
    assert {k: r["image/source"][0] for k, r in recs.items()} == {
        "IMG_A": "IMG_A.JPG",
        "IMG_B": "IMG_B.JpEg",
        "IMG_C": "IMG_C.PNG",
    }
    assert all(r["image/repairs"] == [] for r in recs.values())
    assert result.rejects == []


@pytest.fixture
def nested_dump(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "top", {"label": "a"}, h.image(seed=1))
    h.pair(d / "sub", "mid", {"label": "b"}, h.image(seed=2))
    h.pair(d / "sub" / "deeper", "low", {"label": "a"}, h.image(seed=3))
    h.pair(d / "sub" / "deeper", "top", {"label": "b"}, h.image(seed=4))  # same name, other folder
    h.write_image(d / "sub" / "lonely.jpg", h.image(seed=5))
    h.write_json(d / "lonely.json", {"label": "a"})  # sidecars pair within their own folder only
    h.pair(d / ".hidden", "secret", {"label": "a"}, h.image(seed=6))
    return d


def test_recursive_pairs_within_each_folder(h, nested_dump, tmp_path):
    result = h.build(nested_dump, tmp_path / "out", label_field="label", recursive=True)
    recs = h.by_id(result.out_dir)
    assert {k: r["image/source"][0] for k, r in recs.items()} == {
        "top": "top.jpg",
        "sub/mid": "sub/mid.jpg",
        "sub/deeper/low": "sub/deeper/low.jpg",
        "sub/deeper/top": "sub/deeper/top.jpg",
    }
    assert recs["sub/deeper/top"]["label/name"] == ["b"] and recs["top"]["label/name"] == ["a"]
    assert h.rejects_by_path(result) == {"sub/lonely.jpg": "no_sidecar", "lonely.json": "orphan_sidecar"}
    assert result.accounting["inputs_found"] == 6 and result.accounting["balanced"]


def test_no_recursive_reads_the_top_folder_only(h, nested_dump, tmp_path):
    result = h.build(nested_dump, tmp_path / "out", label_field="label", recursive=False)
    assert set(h.by_id(result.out_dir)) == {"top"}
    assert h.rejects_by_path(result) == {"lonely.json": "orphan_sidecar"}
    assert result.accounting["inputs_found"] == 2 and result.accounting["balanced"]


# --- label, split and group fields ----------------------------------------------------------


def test_label_field_dotted_path_into_nested_json(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "n1", {"taxon": {"species": "oak", "genus": "quercus"}, "site": "north"}, h.image(seed=1))
    h.pair(d, "n2", {"taxon": {"species": "elm", "genus": "ulmus"}, "site": "south"}, h.image(seed=2))
    h.pair(d, "n3", {"taxon": {"genus": "ulmus"}}, h.image(seed=3))
    h.pair(d, "n4", {"taxon": "elm"}, h.image(seed=4))
    result = h.build(d, tmp_path / "out", label_field="taxon.species")
    recs = h.by_id(result.out_dir)
    assert result.manifest["classes"] == ["elm", "oak"]
    assert recs["n1"]["label/name"] == ["oak"] and recs["n1"]["label/index"] == [1]
    assert recs["n2"]["label/name"] == ["elm"] and recs["n2"]["label/index"] == [0]
    assert h.rejects_by_path(result) == {"n3.jpg": "label_missing", "n4.jpg": "label_missing"}
    # The other nested fields become metadata, joined with dots; the label itself is not metadata.
    assert recs["n1"]["meta/taxon.genus"] == ["quercus"] and recs["n1"]["meta/site"] == ["north"]
    assert "meta/taxon.species" not in recs["n1"]
    assert result.manifest["label_field"] == "taxon.species"


def test_literal_dotted_key_and_nesting_collide_and_are_rejected(h, tmp_path):
    # Both read as the field name 'a.b'; keeping one would drop the other by key order.
    h.pair(tmp_path / "d", "x", {"a.b": "literal", "a": {"b": "nested"}}, h.image())
    h.pair(tmp_path / "d", "y", {"a.b": "literal"}, h.image(seed=1))
    result = h.build(tmp_path / "d", tmp_path / "out", label_field="a.b", val_fraction=0.5)
    assert h.rejects_by_path(result) == {"x.jpg": "bad_sidecar"}


def test_multi_label_field_list_and_delimited_string(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "l1", {"tags": ["sky", "bird"]}, h.image(seed=1))
    h.pair(d, "l2", {"tags": ["tree"]}, h.image(seed=2))
    h.pair(d, "s1", {"tags": "tree | sky"}, h.image(seed=3))
    h.pair(d, "s2", {"tags": "bird|bird"}, h.image(seed=4))
    result = h.build(d, tmp_path / "out", multi_label_field="tags", label_sep="|")
    assert result.manifest["classes"] == ["bird", "sky", "tree"]
    assert result.manifest["label_mode"] == "multi_label"
    recs = h.by_id(result.out_dir)
    got = {k: (r["label/index"], r["label/name"]) for k, r in recs.items()}
    assert got == {
        "l1": ([0, 1], ["bird", "sky"]),
        "l2": ([2], ["tree"]),
        "s1": ([1, 2], ["sky", "tree"]),
        "s2": ([0], ["bird"]),
    }
    counts = {
        c: sum(s["class_counts"][c] for s in result.manifest["splits"].values()) for c in result.manifest["classes"]
    }
    assert counts == {"bird": 2, "sky": 2, "tree": 2}


def test_delimited_string_without_label_sep_is_one_label(h, tmp_path):
    h.pair(tmp_path / "d", "s", {"tags": "tree|sky"}, h.image())
    result = h.build(tmp_path / "d", tmp_path / "out", multi_label_field="tags")
    assert result.manifest["classes"] == ["tree|sky"]


def test_split_field_is_respected_over_fractions(h, tmp_path):
    d = tmp_path / "d"
    splits = {"a0": "train", "a1": "VALID", "a2": "val", "a3": "Validation", "a4": "training", "a5": "test"}
    for i, (stem, split) in enumerate(splits.items()):
        h.pair(d, stem, {"label": "ab"[i % 2], "subset": split}, h.image(seed=i))
    result = h.build(d, tmp_path / "out", label_field="label", split_field="subset", val_fraction=0.5, seed=3)
    recs = h.by_id(result.out_dir)
    assert {k: r["_split"] for k, r in recs.items()} == {
        "a0": "train",
        "a1": "val",
        "a2": "val",
        "a3": "val",
        "a4": "train",
        "a5": "test",
    }
    assert list(result.manifest["splits"]) == ["train", "val", "test"]


def test_group_field_keeps_groups_together(h, tmp_path):
    d = tmp_path / "d"
    for g in range(10):
        for j in range(3):
            h.pair(d, f"g{g}_{j}", {"label": "ab"[g % 2], "visit": {"patient": f"P{g}"}}, h.image(seed=10 * g + j))
    result = h.build(d, tmp_path / "out", label_field="label", group_field="visit.patient", val_fraction=0.3)
    recs = h.by_id(result.out_dir)
    split_of_group: dict[str, set] = {}
    for rec in recs.values():
        split_of_group.setdefault(rec["meta/visit.patient"][0], set()).add(rec["_split"])
    assert len(split_of_group) == 10
    assert all(len(s) == 1 for s in split_of_group.values()), split_of_group
    n_val = sum(1 for r in recs.values() if r["_split"] == "val")
    assert n_val in (6, 9), "val must hold whole groups, about 30% of them"


# --- manifest tables -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_manifest_table_modes(h, tmp_path, kind):
    d = tmp_path / "d"
    for i in range(4):
        h.write_image(d / f"img_{i}.jpg", h.image(seed=i))
    h.write_image(d / "sub" / "img_4.png", h.image(seed=4), "PNG")
    h.write_image(d / "unlisted.jpg", h.image(seed=5))
    (d / ".DS_Store").write_bytes(b"\x00" * 16)
    rows = [
        {"file": "img_0.jpg", "label": "cat", "iso": 100, "group": "g1"},
        {"file": "img_1.jpg", "label": "dog", "iso": 200, "group": "g1"},
        {"file": "img_2.jpg", "label": "cat", "iso": 400, "group": "g2"},
        {"file": "sub/img_4.png", "label": "dog", "iso": 800, "group": "g3"},
        {"file": "gone.jpg", "label": "cat", "iso": 100, "group": "g4"},
        {"file": "img_3.jpg", "label": "dog", "iso": 100, "group": "g5"},
    ]
    table = tmp_path / f"labels.{kind}"
    df = pd.DataFrame(rows)
    if kind == "csv":
        df.to_csv(table, index=False)
    elif kind == "jsonl":
        table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        df.to_parquet(table, index=False)
    result = h.build(
        d, tmp_path / "out", label_field="label", manifest=str(table), path_column="file", group_field="group"
    )
    recs = h.by_id(result.out_dir)
    assert {k: r["label/name"][0] for k, r in recs.items()} == {
        "img_0": "cat",
        "img_1": "dog",
        "img_2": "cat",
        "sub/img_4": "dog",
        "img_3": "dog",
    }
    assert recs["sub/img_4"]["image/format"] == ["png"]
    assert h.rejects_by_path(result) == {"unlisted.jpg": "no_sidecar", "gone.jpg": "missing_image"}
    acc = result.accounting
    assert (acc["inputs_found"], acc["written"], acc["rejected"], acc["balanced"]) == (7, 5, 2, True)
    iso = recs["img_2"]["meta/iso"][0]
    assert str(iso) == "400"
    assert {recs["img_0"]["_split"]} == {recs["img_1"]["_split"]}, "group g1 split across train/val"


def test_manifest_errors_are_one_line_input_errors(h, tmp_path):
    d = tmp_path / "d"
    h.write_image(d / "a.jpg", h.image())
    (tmp_path / "t.csv").write_text("name,label\na.jpg,x\n")
    with pytest.raises(InputError, match="path"):
        h.build(d, tmp_path / "o1", label_field="label", manifest=str(tmp_path / "t.csv"))
    with pytest.raises(InputError, match="not found"):
        h.build(d, tmp_path / "o2", label_field="label", manifest=str(tmp_path / "missing.csv"))
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match="unsupported"):
        h.build(d, tmp_path / "o3", label_field="label", manifest=str(tmp_path / "t.xlsx"))
    assert not any(p.name.startswith(("o1", "o2", "o3", ".o")) for p in tmp_path.iterdir())


# --- class vocabulary -----------------------------------------------------------------------


def test_vocabulary_is_sorted_and_stable_when_images_are_added(h, mini_dump, mini_build, copy_of, tmp_path):
    assert mini_build.manifest["classes"] == ["ant", "bee", "cow"]
    before = h.by_id(mini_build.out_dir)
    d = copy_of(mini_dump)
    h.pair(d, "aaa_new_bee", {"species": "bee", "group": "bee-new"}, h.image(seed=999))
    result = h.build(d, tmp_path / "out", label_field="species", group_field="group", val_fraction=0.2)
    after = h.by_id(result.out_dir)
    assert result.manifest["classes"] == mini_build.manifest["classes"]
    assert after["aaa_new_bee"]["label/index"] == [1]
    for stem, rec in before.items():
        assert after[stem]["label/index"] == rec["label/index"]


def test_vocabulary_sorted_regardless_of_file_order(h, tmp_path):
    d = tmp_path / "d"
    for i, name in enumerate(["zebra", "Apple", "mango", "10", "9"]):
        h.pair(d, f"{i:02d}", {"label": name}, h.image(seed=i))
    result = h.build(d, tmp_path / "out", label_field="label")
    classes = result.manifest["classes"]
    assert classes == sorted(classes) == ["10", "9", "Apple", "mango", "zebra"]
    for rec in h.by_id(result.out_dir).values():
        assert classes[rec["label/index"][0]] == rec["label/name"][0]


# --- output folder life cycle ---------------------------------------------------------------


def _assert_clean_output(out):
    names = os.listdir(out)
    assert "dataset.json" in names and "rejects.jsonl" in names
    assert not [n for n in names if n.startswith(".") or "tmp" in n or "partial" in n], names
    siblings = os.listdir(os.path.dirname(out))
    assert siblings == [os.path.basename(out)] or all(not s.startswith(".") for s in siblings), siblings


def test_successful_build_leaves_no_temporary_or_partial_files(h, mini_dump, tmp_path):
    result = h.build(mini_dump, tmp_path / "out", label_field="species", shard_size_mb=0.01)
    _assert_clean_output(result.out_dir)
    assert sorted(os.listdir(tmp_path)) == ["out"]
    shards = [s["file"] for info in result.manifest["splits"].values() for s in info["shards"]]
    assert len(shards) > 2
    on_disk = sorted(n for n in os.listdir(result.out_dir) if n.endswith(".tfrecord"))
    assert on_disk == sorted(shards)
    for info in result.manifest["splits"].values():
        for s in info["shards"]:
            data = (tmp_path / "out" / s["file"]).read_bytes()
            assert len(data) == s["bytes"] and h.sha(data) == s["sha256"]


def test_refuses_non_empty_out_and_leaves_it_untouched(h, mini_dump, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="--overwrite"):
        h.build(mini_dump, out, label_field="species")
    assert os.listdir(out) == ["precious.txt"] and (out / "precious.txt").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_overwrite_replaces_an_existing_build(h, mini_build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(mini_build.out_dir, out)
    (out / "stale.txt").write_text("from an older build")
    d = tmp_path / "other"
    for i in range(4):
        h.pair(d, f"o{i}", {"label": "only"}, h.image(seed=50 + i))
    result = h.build(d, out, label_field="label", overwrite=True, val_fraction=0.25)
    assert not (out / "stale.txt").exists()
    names = sorted(os.listdir(out))
    shards = sorted(s["file"] for info in result.manifest["splits"].values() for s in info["shards"])
    assert [n for n in names if n.endswith(".tfrecord")] == shards
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["classes"] == ["only"]
    assert sorted(h.by_id(out)) == ["o0", "o1", "o2", "o3"]
    _assert_clean_output(out)
    assert sorted(os.listdir(tmp_path)) == ["other", "out"]


def test_unusable_options_are_refused_before_anything_is_written(h, tmp_path):
    d = tmp_path / "d"
    h.pair(d, "a", {"label": "x"}, h.image())
    with pytest.raises(InputError, match="overlap"):
        h.build(d, d / "out", label_field="x")
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        h.build(d, tmp_path / "file", label_field="x")
    with pytest.raises(InputError, match="not found"):
        h.build(tmp_path / "nope", tmp_path / "out", label_field="x")
    with pytest.raises(InputError, match="exactly one"):
        h.build(d, tmp_path / "out", label_field="x", multi_label_field="y")
    with pytest.raises(InputError, match="below 1"):
        h.build(d, tmp_path / "out", label_field="label", val_fraction=0.6, test_fraction=0.4)
    assert sorted(os.listdir(tmp_path)) == ["d", "file"], "no output or staging folder after a refused build"


def test_a_large_jpeg_downscaled_from_a_dct_scale_is_faithful_and_a_truncated_one_is_rejected(h, tmp_path):
    # Decoded at a reduced DCT scale (1/2: 450x300) and resized: the stored copy must still match a
    # full-resolution high-quality downscale of the same photo.
    d = tmp_path / "d"
    photo = h.image(900, 600, seed=11).resize((900, 600), Image.BILINEAR)
    src = h.pair(d, "big", {"label": "a"}, photo, ".jpg", "JPEG", quality=92)
    (d / "cut.jpg").write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    h.write_json(d / "cut.json", {"label": "a"})
    result = h.build(d, tmp_path / "out", label_field="label", max_side=256)
    rec = h.by_id(result.out_dir)["big"]
    stored = np.asarray(Image.open(io.BytesIO(rec["image/encoded"][0])).convert("RGB"), dtype=np.float64)
    reference = np.asarray(Image.open(src).convert("RGB").resize((256, 171), Image.LANCZOS), dtype=np.float64)
    assert stored.shape == (171, 256, 3) and rec["image/repairs"] == ["downscaled"]
    psnr = 10 * np.log10(255.0**2 / np.mean((stored - reference) ** 2))
    assert psnr > 30, psnr
    assert h.rejects_by_path(result) == {"cut.jpg": "truncated"}


def test_max_side_gives_a_stray_byte_copy_its_clean_twins_hashes_and_sizes_follow_the_source(h):
    # libjpeg warns about the stray bytes, so that copy takes Pillow's path: both paths must decode
    # at the same DCT scale (one pixel hash for identical pixels) and size the result from the
    # source, also where the scaled decode lands exactly on --max-side (512 -> 256).
    from pipecheck.pipeline.images import ImageOptions, check_image

    opts = ImageOptions(max_side=256)
    for w, hgt in ((900, 600), (512, 512)):
        clean = h.encode(h.image(w, hgt, seed=w), quality=90)
        sof = clean.index(b"\xff\xc0")
        stray = clean[:sof] + b"\x00\x00" + clean[sof:]
        a, b = check_image(clean, "a.jpg", opts), check_image(stray, "b.jpg", opts)
        target = (256, round(hgt * 256 / w))
        for r in (a, b):
            assert (r.width, r.height) == target and r.repairs == ["downscaled"]
            assert Image.open(io.BytesIO(r.encoded)).size == target
        assert (a.pixel_hash, a.phash) == (b.pixel_hash, b.phash)


def test_a_downscaled_jpeg_is_antialiased_after_its_dct_scale(h, tmp_path):
    # The usual --max-side case: the DCT scale (1/4 here: 400x300) leaves a factor between 1 and 2
    # (1.56 to 256 px). A 9-px grating is then finer than the output can hold and must fade to
    # grey; a resize that only interpolates between neighbours turns it into moire bands.
    d = tmp_path / "d"
    wave = (127.5 + 127.5 * np.sin(2 * np.pi * np.arange(1600) / 9)).astype(np.uint8)
    grating = np.repeat(np.repeat(wave[None, :, None], 1200, 0), 3, 2)
    h.pair(d, "grating", {"label": "a"}, Image.fromarray(grating, "RGB"), ".jpg", "JPEG", quality=92)
    rec = h.by_id(h.build(d, tmp_path / "out", label_field="label", max_side=256).out_dir)["grating"]
    stored = np.asarray(Image.open(io.BytesIO(rec["image/encoded"][0])).convert("L"), dtype=np.float64)
    assert stored.shape == (192, 256) and rec["image/repairs"] == ["downscaled"]
    columns = stored.mean(axis=0)
    assert columns.std() < 15, f"moire: column means swing by {columns.std():.1f} (plain bilinear gives ~30)"
