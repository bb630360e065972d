"""The TFRecord feature spec: the hand-written encoder against TensorFlow's own parsers, and a plain
TensorFlow program that knows only the README's feature table reading every shard of a build."""

from __future__ import annotations

import hashlib
import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipecheck.pipeline import spec

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOAT32 = st.floats(width=32, allow_nan=False)
TEXT = st.text(max_size=12)
KEY = st.text(min_size=1, max_size=12).filter(lambda k: "\x00" not in k)
VALUE = st.one_of(
    INT64,
    FLOAT32,
    TEXT,
    st.binary(max_size=16),
    st.lists(INT64, max_size=5),
    st.lists(FLOAT32, min_size=1, max_size=5),
    st.lists(TEXT, max_size=5),
)


def _decoded(feature):
    kind = feature.WhichOneof("kind")
    return kind, list(getattr(feature, kind).value) if kind else []


def _expected(value):
    values = list(value) if isinstance(value, list) else [value]
    if all(isinstance(v, (str, bytes)) for v in values):
        return "bytes_list", [v.encode("utf-8") if isinstance(v, str) else v for v in values]
    if all(isinstance(v, int) for v in values):
        return "int64_list", values
    return "float_list", [struct.unpack("<f", struct.pack("<f", v))[0] for v in values]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEY, VALUE, max_size=6))
def test_encode_example_round_trips_through_tf_example(tf, features):
    ex = tf.train.Example.FromString(spec.encode_example(features))
    got = {k: _decoded(v) for k, v in ex.features.feature.items()}
    assert set(got) == set(features)
    for key, value in features.items():
        kind, values = got[key]
        exp_kind, exp_values = _expected(value)
        if exp_values:  # an empty list has no kind to check, only no values
            assert kind == exp_kind, key
        assert values == exp_values, key


def test_encode_example_edge_values(tf):
    features = {
        "neg": -1,
        "min": -(2**63),
        "max": 2**63 - 1,
        "ints": [0, -5, 7, -(2**40)],
        "f": 1.5,
        "fs": [-0.0, 3.25e38, -1e-30, 2.0],
        "big_f": [1e10],
        "uni": "ñandú 日本 🐝",
        "unis": ["a", "", "é"],
        "raw": b"\x00\xff\x80",
        "empty": [],
        "bool": True,
        "label/name": ["x"],
    }
    ex = tf.train.Example.FromString(spec.encode_example(features))
    f = ex.features.feature
    assert list(f["neg"].int64_list.value) == [-1]
    assert list(f["min"].int64_list.value) == [-(2**63)]
    assert list(f["max"].int64_list.value) == [2**63 - 1]
    assert list(f["ints"].int64_list.value) == [0, -5, 7, -(2**40)]
    assert list(f["f"].float_list.value) == [1.5]
    assert np.allclose(list(f["fs"].float_list.value), [-0.0, 3.25e38, -1e-30, 2.0], rtol=1e-6)
    assert math.copysign(1.0, f["fs"].float_list.value[0]) == -1.0
    assert list(f["uni"].bytes_list.value) == ["ñandú 日本 🐝".encode()]
    assert list(f["unis"].bytes_list.value) == [b"a", b"", "é".encode()]
    assert list(f["raw"].bytes_list.value) == [b"\x00\xff\x80"]
    assert _decoded(f["empty"])[1] == []
    assert list(f["bool"].int64_list.value) == [1]
    # Equal inputs give equal bytes, whatever the dict order.
    assert spec.encode_example(dict(reversed(list(features.items())))) == spec.encode_example(features)


def test_encode_example_rejects_mixed_lists():
    with pytest.raises(TypeError):
        spec.encode_example({"x": ["a", 1]})


def test_frame_record_read_by_tfrecorddataset_and_iter_records(tf, tmp_path):
    examples = [
        spec.encode_example({"i": i, "s": f"rec {i} — ü", "v": [float(i), -float(i)], "e": []}) for i in range(-3, 4)
    ] + [b""]
    path = tmp_path / "x.tfrecord"
    path.write_bytes(b"".join(spec.frame_record(e) for e in examples))
    read = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert read == examples
    assert list(spec.iter_records(str(path))) == examples
    desc = {
        "i": tf.io.FixedLenFeature([], tf.int64),
        "s": tf.io.FixedLenFeature([], tf.string),
        "v": tf.io.VarLenFeature(tf.float32),
    }
    parsed = [tf.io.parse_single_example(r, desc) for r in read[:-1]]
    assert [int(p["i"]) for p in parsed] == list(range(-3, 4))
    assert parsed[0]["s"].numpy().decode() == "rec -3 — ü"
    assert parsed[0]["v"].values.numpy().tolist() == [-3.0, 3.0]
    # A flipped byte is caught by the data CRC in both readers.
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        list(spec.iter_records(str(path)))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())


def test_meta_integer_outside_int64_is_not_silently_changed(h, tmp_path):
    h.pair(tmp_path / "d", "a", {"label": "x", "serial": 18446744073709551621, "small": 7}, h.image())
    rec = h.by_id(h.build(tmp_path / "d", tmp_path / "out", label_field="label").out_dir)["a"]
    assert rec["meta/small"] == [7]
    assert [str(v) for v in rec["meta/serial"]] == ["18446744073709551621"]


# --- a plain TensorFlow reader of the sample build, knowing only the README's table -----------

SAMPLE_META = {
    "meta/photographer": "string",
    "meta/iso": "int64",
    "meta/exposure": "float32",
    "meta/capture.camera": "string",
    "meta/capture.lens_mm": "int64",
    "meta/specimen": "string",
}


def test_plain_tensorflow_reads_every_shard(tf, sample_build, sample_dump):
    out = sample_build.out_dir
    manifest = json.loads(open(f"{out}/dataset.json", encoding="utf-8").read())
    classes = manifest["classes"]
    fixed = tf.io.FixedLenFeature
    description = {
        "image/encoded": fixed([], tf.string),
        "image/format": fixed([], tf.string),
        "image/height": fixed([], tf.int64),
        "image/width": fixed([], tf.int64),
        "image/channels": fixed([], tf.int64),
        "image/id": fixed([], tf.string),
        "image/sha256": fixed([], tf.string),
        "image/pixel_hash": fixed([], tf.string),
        "image/phash": fixed([], tf.int64),
        "image/source": fixed([], tf.string),
        "image/repairs": tf.io.VarLenFeature(tf.string),
        "label/index": tf.io.VarLenFeature(tf.int64),
        "label/name": tf.io.VarLenFeature(tf.string),
        **{k: fixed([], getattr(tf, t)) for k, t in SAMPLE_META.items()},
    }
    seen = 0
    sha_of: dict[str, str] = {}
    for split, info in manifest["splits"].items():
        for shard in info["shards"]:
            n = 0
            for raw in tf.data.TFRecordDataset(f"{out}/{shard['file']}"):
                ex = tf.io.parse_single_example(raw, description)
                image = tf.io.decode_image(ex["image/encoded"], expand_animations=False)
                assert image.dtype == tf.uint8
                assert image.shape[0] == int(ex["image/height"])
                assert image.shape[1] == int(ex["image/width"])
                assert image.shape[2] == int(ex["image/channels"]) == 3
                fmt = ex["image/format"].numpy().decode()
                assert fmt in ("jpeg", "png")
                assert fmt == ("jpeg" if ex["image/encoded"].numpy()[:3] == b"\xff\xd8\xff" else "png")
                index = ex["label/index"].values.numpy().tolist()
                names = [s.decode() for s in ex["label/name"].values.numpy()]
                assert len(index) == 1 and names == [classes[i] for i in index]
                source = ex["image/source"].numpy().decode()
                stem = ex["image/id"].numpy().decode()
                assert source.rsplit(".", 1)[0] == stem
                sidecar = json.loads((sample_dump / f"{stem}.json").read_text())
                assert names == [sidecar["species"]]
                assert ex["meta/specimen"].numpy().decode() == sidecar["specimen"]
                assert ex["meta/photographer"].numpy().decode() == sidecar["photographer"]
                assert int(ex["meta/iso"]) == sidecar["iso"]
                assert float(ex["meta/exposure"]) == pytest.approx(sidecar["exposure"], rel=1e-6)
                assert ex["meta/capture.camera"].numpy().decode() == sidecar["capture"]["camera"]
                assert int(ex["meta/capture.lens_mm"]) == sidecar["capture"]["lens_mm"]
                sha = ex["image/sha256"].numpy().decode()
                assert sha == hashlib.sha256(ex["image/encoded"].numpy()).hexdigest()
                pixel_hash = ex["image/pixel_hash"].numpy().decode()
                assert len(pixel_hash) == 32 and int(pixel_hash, 16) >= 0
                sha_of[stem] = pixel_hash
                n += 1
            assert n == shard["records"], shard["file"]
            seen += n
        assert info["examples"] == sum(s["records"] for s in info["shards"])
    assert seen == manifest["accounting"]["written"] == 250
    # The byte-identical duplicate has the same pixel hash; a different photo does not.
    assert sha_of["DUP_IMG_0001"] == sha_of["IMG_0001"] != sha_of["IMG_0002"]


def test_floats_beyond_float32_range_encode_as_infinities_like_tensorflow(tf):
    # A sidecar value such as 3.5e38 is valid JSON; struct.pack used to raise on it and fail the shard.
    from pipecheck.pipeline import spec

    record = spec.encode_example({"meta/x": 3.5e38, "meta/y": spec.Floats([-1e39, 1.5]), "meta/z": 3.4028234e38})
    parsed = tf.train.Example.FromString(record).features.feature
    ours = [
        parsed["meta/x"].float_list.value[0],
        *parsed["meta/y"].float_list.value,
        parsed["meta/z"].float_list.value[0],
    ]
    theirs = tf.train.Example(
        features=tf.train.Features(
            feature={"v": tf.train.Feature(float_list=tf.train.FloatList(value=[3.5e38, -1e39, 1.5, 3.4028234e38]))}
        )
    )
    assert ours == list(theirs.features.feature["v"].float_list.value)
    assert ours[:3] == [float("inf"), float("-inf"), 1.5]
