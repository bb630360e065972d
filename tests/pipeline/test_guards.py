"""Guards found missing by review: overlapping folders, empty splits, damaged shards, manifest
symlinks, ambiguous sidecars, unbatched caffe reads, and the build's info findings."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipecheck.pipeline.errors import InputError

CLASSES = ("a", "b", "c")


def _dump(h, folder, n=12, **extra):
    for i in range(n):
        h.pair(folder, f"img_{i:02d}", {"label": CLASSES[i % 3], **extra}, h.image(48, 40, seed=i))
    return folder


# --- folders that overlap never lose data ---------------------------------------------------
def test_out_that_contains_the_dump_is_refused_and_the_dump_survives(h, tmp_path):
    dump = _dump(h, tmp_path / "data" / "dump")
    before = h.files_under(dump)
    with pytest.raises(InputError, match="overlap"):
        h.build(dump, tmp_path / "data", label_field="label", overwrite=True)
    assert h.files_under(dump) == before


def test_split_out_that_contains_the_source_is_refused(h, tmp_path):
    from pipecheck.pipeline.resplit import fractions_for, resplit_dataset

    src = tmp_path / "data" / "built"
    h.build(_dump(h, tmp_path / "dump"), src, label_field="label", val_fraction=0.25)
    with pytest.raises(InputError, match="overlap"):
        resplit_dataset(str(src), str(tmp_path / "data"), fractions=fractions_for(0.25), overwrite=True)
    assert (src / "dataset.json").is_file()


def test_separate_folders_do_not_count_as_overlapping(tmp_path):
    from pipecheck.pipeline import fsio

    (tmp_path / "ab").mkdir()
    (tmp_path / "a").mkdir()
    assert not fsio.overlaps(tmp_path / "a", tmp_path / "ab")  # a prefix of the name is not a parent
    assert fsio.overlaps(tmp_path / "a", tmp_path / "a" / "b") and fsio.overlaps(tmp_path / "a" / "b", tmp_path / "a")


# --- empty splits -----------------------------------------------------------------------------
def test_requested_split_that_stays_empty_is_reported(h, tmp_path):
    from pipecheck.validators.build import build_report
    from pipecheck.validators.dataset import check_dataset

    result = h.build(_dump(h, tmp_path / "dump", n=9), tmp_path / "out", label_field="label", val_fraction=0.01)
    assert result.manifest["splits"]["val"] == {"examples": 0, "class_counts": {c: 0 for c in CLASSES}, "shards": []}
    (f,) = [f for f in build_report(result).findings if f.check == "build.empty_split"]
    assert f.subject == "val" and f.severity.value == "error" and "val-fraction" in f.hint
    assert [f.check for f in check_dataset(result.out_dir)] == ["dataset.empty_split"]


def test_filled_splits_raise_no_empty_split(h, tmp_path):
    from pipecheck.validators.build import build_report
    from pipecheck.validators.dataset import check_dataset

    result = h.build(_dump(h, tmp_path / "dump", n=12), tmp_path / "out", label_field="label", val_fraction=0.25)
    assert result.manifest["splits"]["val"]["examples"] > 0
    assert not [f for f in build_report(result).findings if f.check == "build.empty_split"]
    assert check_dataset(result.out_dir) == []


def test_reader_refuses_an_empty_split_in_one_line(h, tmp_path):
    from pipecheck.pipeline.reader import load_dataset, read_columns

    result = h.build(_dump(h, tmp_path / "dump", n=9), tmp_path / "out", label_field="label", val_fraction=0.01)
    with pytest.raises(InputError, match="empty"):
        load_dataset(result.out_dir, "val", image_size=32)
    assert read_columns(result.out_dir, "val", ["label/index"]) == {"label/index": []}


# --- damaged copies ---------------------------------------------------------------------------
@pytest.fixture()
def built(h, tmp_path):
    return h.build(
        _dump(h, tmp_path / "dump", n=12), tmp_path / "out", label_field="label", val_fraction=0.25, stats=True
    ).out_dir


def test_truncated_shard_is_reported_by_size_and_other_families_skip(built):
    from pipecheck.validators.runners.validate import ValidateOptions, run_validate

    shard = sorted(p for p in os.listdir(built) if p.startswith("train-"))[0]
    path = os.path.join(built, shard)
    os.truncate(path, os.path.getsize(path) // 2)
    report = run_validate(ValidateOptions(data_dir=built, backbone="resnet50"))
    assert {f.check for f in report.findings} == {"dataset.shard_size"}
    assert "skipped" in report.summary and report.exit_code == 1


def test_missing_shard_is_reported_and_other_families_skip(built):
    from pipecheck.validators.runners.validate import ValidateOptions, run_validate

    for name in os.listdir(built):
        if name.startswith("val-"):
            os.remove(os.path.join(built, name))
    report = run_validate(ValidateOptions(data_dir=built))
    assert {f.check for f in report.findings} == {"dataset.shard_missing"}


def test_reading_a_truncated_shard_is_an_input_error_not_a_tf_traceback(built):
    import glob

    from pipecheck.pipeline.reader import read_columns

    path = sorted(glob.glob(os.path.join(built, "train-*")))[0]
    os.truncate(path, os.path.getsize(path) - 7)
    with pytest.raises(InputError, match="pipecheck verify"):
        read_columns(built, "train", ["label/index"])


# --- manifest paths never escape ------------------------------------------------------------
def test_manifest_rows_leading_outside_the_dump_are_rejected(h, tmp_path):
    dump, secret = tmp_path / "dump", tmp_path / "secret"
    h.write_image(dump / "inside.jpg", h.image(seed=1))
    h.write_image(secret / "x.jpg", h.image(seed=2))
    os.symlink(secret, dump / "link")
    table = tmp_path / "labels.csv"
    table.write_text("path,label\ninside.jpg,a\nlink/x.jpg,a\n../secret/x.jpg,a\n")
    result = h.build(dump, tmp_path / "out", label_field="label", manifest=str(table), val_fraction=0.0)
    assert h.rejects_by_path(result) == {"link/x.jpg": "outside_dump", "../secret/x.jpg": "outside_dump"}
    assert result.accounting["written"] == 1 and result.accounting["balanced"]
    followed = h.build(
        dump, tmp_path / "out2", label_field="label", manifest=str(table), val_fraction=0.0, follow_symlinks=True
    )
    assert h.rejects_by_path(followed) == {"../secret/x.jpg": "outside_dump"}
    assert followed.accounting["written"] == 2


# --- sidecars that differ only by case --------------------------------------------------------
def test_two_sidecars_for_one_stem_reject_the_image(h, tmp_path):
    dump = _dump(h, tmp_path / "dump", n=6)
    h.write_image(dump / "twin.jpg", h.image(seed=40))
    h.write_json(dump / "twin.json", {"label": "a"})
    h.write_json(dump / "twin.JSON", {"label": "b"})
    result = h.build(dump, tmp_path / "out", label_field="label", val_fraction=0.0)
    assert h.rejects_by_path(result) == {"twin.jpg": "duplicate_stem"}
    assert result.accounting["balanced"] and result.accounting["inputs_found"] == 7


# --- the build's info findings ----------------------------------------------------------------
def test_repairs_and_ignored_files_are_reported_and_a_clean_build_is_silent(h, tmp_path):
    from pipecheck.validators.build import build_report

    clean = build_report(
        h.build(_dump(h, tmp_path / "clean", n=6), tmp_path / "o1", label_field="label", val_fraction=0.0)
    )
    assert clean.findings == []
    dump = _dump(h, tmp_path / "dirty", n=6)
    h.pair(dump, "gray", {"label": "a"}, h.image(48, 40, seed=9).convert("L"))
    (dump / ".DS_Store").write_bytes(b"\0\1")
    (dump / "notes.txt").write_text("not an image")
    report = build_report(h.build(dump, tmp_path / "o2", label_field="label", val_fraction=0.0))
    by_check = {f.check: f for f in report.findings}
    assert set(by_check) == {"build.repaired", "build.ignored_files"}
    assert (
        by_check["build.repaired"].subject == "grayscale_to_rgb" and by_check["build.repaired"].severity.value == "info"
    )
    assert by_check["build.ignored_files"].evidence == {"litter": 1, "other_by_extension": {".txt": 1}}


# --- unbatched reads with a channel-permuting backbone ----------------------------------------
def test_unbatched_caffe_read_matches_keras(h, tmp_path):
    from keras.applications import resnet50

    from pipecheck.pipeline.reader import load_dataset

    result = h.build(_dump(h, tmp_path / "dump", n=6), tmp_path / "out", label_field="label", val_fraction=0.0)
    raw = next(
        iter(load_dataset(result.out_dir, "train", image_size=32, batch_size=None, shuffle=False, deterministic=True))
    )[0].numpy()
    pre = next(
        iter(
            load_dataset(
                result.out_dir,
                "train",
                backbone="resnet50",
                image_size=32,
                batch_size=None,
                shuffle=False,
                deterministic=True,
            )
        )
    )[0].numpy()
    assert pre.shape == (32, 32, 3)
    np.testing.assert_allclose(pre, resnet50.preprocess_input(raw.copy()), atol=1e-3)


# --- the fast JPEG path and Pillow agree ------------------------------------------------------
def test_fast_jpeg_path_gives_pillows_pixel_hash_dhash_and_quality(h, tmp_path):
    import io

    import xxhash
    from PIL import Image

    from pipecheck.pipeline.images import ImageOptions, _fast_jpeg, check_image, dhash
    from pipecheck.pipeline.quality import measure, measure_samples

    data = h.encode(h.image(120, 90, seed=5), "JPEG", quality=90)
    pil = Image.open(io.BytesIO(data)).convert("RGB")
    expected_hash = xxhash.xxh3_128(b"120x90:" + pil.tobytes()).hexdigest()
    fast = _fast_jpeg(data, 120, 90, ImageOptions())
    grid, width, height = fast[2]  # the quality sample, measured later with the rest of a batch
    measures = measure_samples([grid], [(width, height)])[0]
    assert fast[:2] == (expected_hash, dhash(np.asarray(pil)))
    assert measures == measure(np.asarray(pil), 120, 90)
    checked = check_image(data, "a.jpg", ImageOptions())
    assert (checked.pixel_hash, checked.phash, checked.encoded, checked.quality) == (
        expected_hash,
        fast[1],
        data,
        measures,
    )
    # A stream libjpeg only warns about is handed to Pillow, which names the problem.
    assert _fast_jpeg(data[: len(data) // 2], 120, 90, ImageOptions()) is None
    assert check_image(data[: len(data) // 2], "a.jpg", ImageOptions()).reason == "truncated"


def test_dhash_is_the_documented_difference_hash():
    """36x32 nearest samples at pixel centres, luma, 4x4 means into 9x8 cells, one bit per
    horizontally adjacent pair (left brighter than right), as a signed 64-bit int."""
    from pipecheck.pipeline.images import _LUMA, dhash

    def reference(rgb):
        h, w = rgb.shape[:2]
        ys = [min(int((i + 0.5) * h / 32), h - 1) for i in range(32)]
        xs = [min(int((j + 0.5) * w / 36), w - 1) for j in range(36)]
        samples = np.array([[rgb[y, x] for x in xs] for y in ys])
        cells = (samples.astype(np.float32) @ _LUMA).reshape(8, 4, 9, 4).mean(axis=(1, 3))
        value = 0
        for r in range(8):
            for c in range(8):
                value = (value << 1) | int(cells[r, c] > cells[r, c + 1])
        return value - (1 << 64) if value >= 1 << 63 else value

    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (7, 300), (32, 36), (40, 48), (333, 517), (900, 600)]:
        noisy = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        smooth = np.clip(np.add.outer(np.arange(h), np.arange(w))[..., None] * [1, 2, 3] % 256, 0, 255).astype(np.uint8)
        for img in (noisy, smooth):
            assert dhash(img) == reference(img), (h, w)
