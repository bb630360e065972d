"""``pipeline/thumbnails.py``: small JPEGs of chosen records of a real build, without TensorFlow.

The session's build of the committed sample dump (``sample_build``) is the real thing: its records
are read with TensorFlow's own ``tf.train.Example`` parser to check the wire-format reader, and each
thumbnail is checked to show its own record's picture (closer to it than to any other picture asked
for), to be small, and to come only for what was asked.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from pipecheck.pipeline import spec
from pipecheck.pipeline.manifest import load_manifest
from pipecheck.pipeline.thumbnails import MAX_BYTES, example_bytes, thumbnail, thumbnails


def _records(out_dir: str, split: str) -> list[bytes]:
    return [r for path in load_manifest(out_dir).shard_paths(out_dir, split) for r in spec.iter_records(path)]


def _small(data: bytes, side: int = 16) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB").resize((side, side), Image.BILINEAR), np.float64)


@pytest.fixture(scope="module")
def originals(sample_build):
    """``{(split, id): encoded image}`` of every record, read with TensorFlow's parser."""
    import tensorflow as tf

    out = {}
    for split in load_manifest(sample_build.out_dir).splits:
        for record in _records(str(sample_build.out_dir), split):
            feature = tf.train.Example.FromString(record).features.feature
            image_id = feature[spec.IMAGE_ID].bytes_list.value[0].decode()
            out[(split, image_id)] = feature[spec.IMAGE_ENCODED].bytes_list.value[0]
    return out


def test_wire_reader_agrees_with_tensorflow_on_every_record(sample_build):
    import tensorflow as tf

    keys = (spec.IMAGE_ID, spec.IMAGE_ENCODED, spec.IMAGE_SOURCE, spec.LABEL_NAME, spec.IMAGE_FORMAT)
    n = 0
    for split in load_manifest(sample_build.out_dir).splits:
        for record in _records(str(sample_build.out_dir), split):
            feature = tf.train.Example.FromString(record).features.feature
            got = example_bytes(record, keys)
            assert got == {k: feature[k].bytes_list.value[0] for k in keys if feature[k].bytes_list.value}
            n += 1
    assert n == sample_build.accounting["written"] > 200


def test_thumbnails_show_their_own_records_small(sample_build, originals):
    wanted = sorted(originals)[::9][:12]  # both splits, spread over the shards
    assert {s for s, _ in wanted} >= {"train"}
    got = thumbnails(str(sample_build.out_dir), wanted, max_side=96)
    assert set(got) == set(wanted)
    for key, data in got.items():
        assert len(data) <= MAX_BYTES
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG" and max(img.size) <= 96
        with Image.open(io.BytesIO(originals[key])) as src:
            ratio = src.width / src.height
        with Image.open(io.BytesIO(data)) as img:
            assert abs(img.width / img.height - ratio) < 0.1 * ratio + 2 / 96
        # the picture is its own record's: nearer its original than any other picture asked for
        distance = {other: np.abs(_small(data) - _small(originals[other])).mean() for other in wanted}
        assert min(distance, key=distance.get) == key, (key, sorted(distance.items(), key=lambda kv: kv[1])[:3])


def test_only_what_was_asked_and_at_most_the_limit(sample_build, originals):
    train = [k for k in sorted(originals) if k[0] == "train"][:5]
    asked = [*train, ("train", "NO_SUCH_ID"), ("val", train[0][1]), ("nosplit", "x")]
    got = thumbnails(str(sample_build.out_dir), asked)
    assert set(got) == set(train)  # an unknown id, an id asked in the wrong split, an unknown split: absent
    assert set(thumbnails(str(sample_build.out_dir), train + train, limit=3)) == set(train[:3])
    assert thumbnails(str(sample_build.out_dir), []) == {}


def test_a_damaged_or_missing_build_gives_what_it_can(sample_build, originals, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sample_build.out_dir, copy)
    manifest = load_manifest(copy)
    first, second = manifest.shard_paths(copy, "train")[:2]
    ids = {
        path: [example_bytes(r, [spec.IMAGE_ID])[spec.IMAGE_ID].decode() for r in spec.iter_records(path)][:3]
        for path in (first, second)
    }
    wanted = [("train", i) for path in (first, second) for i in ids[path]]
    assert set(thumbnails(str(copy), wanted)) == set(wanted)  # healthy twin: every one
    raw = open(first, "rb").read()
    with open(first, "wb") as fh:  # a flipped byte in the first record: its CRC fails
        fh.write(raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:])
    for path in manifest.shard_paths(copy, "val"):
        os.unlink(path)  # a split not asked for is not read at all
    got = thumbnails(str(copy), wanted)
    assert set(got) == {("train", i) for i in ids[second]}
    assert thumbnails(str(tmp_path / "nowhere"), wanted) == {}


def test_thumbnail_fits_its_byte_budget_and_refuses_what_does_not_decode():
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (84, 112, 3), dtype=np.uint8)).save(buf, "PNG")  # noise: no resize
    loose = thumbnail(buf.getvalue(), max_bytes=10**6)
    tight = thumbnail(buf.getvalue(), max_bytes=2048)
    assert loose is not None and tight is not None
    assert len(loose) > 2048 >= len(tight)  # noise at 112 px needs more than 2 KB; the budget holds anyway
    with Image.open(io.BytesIO(loose)) as img:
        assert img.size == (112, 84)
    big = Image.fromarray(np.kron(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8), np.ones((100, 100, 1), np.uint8)))
    jpeg = io.BytesIO()
    big.save(jpeg, "JPEG", quality=90)
    small = thumbnail(jpeg.getvalue(), max_bytes=10**6)
    with Image.open(io.BytesIO(small)) as img:
        assert img.size == (112, 84)  # a 1200 x 900 JPEG decoded at a DCT scale, then resized
        blocks = np.asarray(img, np.float64)[4::9, 4::9]  # the middles of its 12 x 9 squares
    assert np.abs(blocks - np.asarray(big, np.float64)[50::100, 50::100]).mean() < 12
    assert thumbnail(b"") is None and thumbnail(jpeg.getvalue()[:200]) is None
