"""The one TFRecord feature spec, shared by the writer (build) and the reader.

Every record is a ``tf.train.Example`` with these features (documented in the README):

=================== ========== ===============================================================
key                 type       meaning
=================== ========== ===============================================================
image/encoded       bytes      the image file bytes (original JPEG/PNG when kept, else re-encoded)
image/format        bytes      ``jpeg`` or ``png`` (detected from content, not the extension)
image/height        int64      height in pixels of the stored image
image/width         int64      width in pixels of the stored image
image/channels      int64      always 3 (RGB); repairs convert everything else
image/id            bytes      the stem that paired the image with its metadata
image/sha256        bytes      hex sha256 of ``image/encoded`` (per-record content checksum)
image/pixel_hash    bytes      hex XXH3-128 of the decoded RGB pixels (exact duplicates, re-encodes too)
image/phash         int64      64-bit difference hash (near-duplicate detection)
image/source        bytes      path relative to the dump root
image/repairs       bytes[]    what was repaired (e.g. ``cmyk_to_rgb``, ``exif_orientation``)
label/index         int64[]    class indices into the manifest's sorted vocabulary
label/name          bytes[]    class names, same order as label/index
meta/<name>         any        the sidecar's other scalar fields (nested keys joined with ``.``), at most
                               ``--max-metadata-keys`` (256) keys per build, the most frequent
quality/<measure>   float      image quality measures of the decoded pixels (``quality.MEASURES``:
                               brightness_p05 ... height); absent in a ``--no-quality`` build
=================== ========== ===============================================================

The writer here encodes protobuf and TFRecord framing directly so build workers never import
TensorFlow (seconds of start-up and hundreds of MB per worker); the reader uses TensorFlow's own
parser, and a test reads shards with plain TensorFlow knowing only the table above.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Iterable, Mapping

import google_crc32c
import xxhash

from pipecheck.pipeline.quality import MEASURES

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_CHANNELS = "image/channels"
IMAGE_ID = "image/id"
IMAGE_SHA256 = "image/sha256"
IMAGE_PIXEL_HASH = "image/pixel_hash"
IMAGE_PHASH = "image/phash"
IMAGE_SOURCE = "image/source"
IMAGE_REPAIRS = "image/repairs"
LABEL_INDEX = "label/index"
LABEL_NAME = "label/name"
META_PREFIX = "meta/"
QUALITY_PREFIX = "quality/"
QUALITY_FEATURES = tuple(QUALITY_PREFIX + name for name in MEASURES)

SHARD_SUFFIX = ".tfrecord"


def shard_name(split: str, index: int, count: int) -> str:
    """TFDS-style shard file name: ``train-00000-of-00008.tfrecord``."""
    return f"{split}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


# ---------------------------------------------------------------------------------------------
# Writing: tf.train.Example protobuf + TFRecord framing, without TensorFlow.
# ---------------------------------------------------------------------------------------------


_ONE_BYTE = [bytes([i]) for i in range(128)]


def _varint(value: int) -> bytes:
    if 0 <= value < 128:  # most tags, lengths and small ints: one byte, no loop
        return _ONE_BYTE[value]
    if not -(1 << 63) <= value < (1 << 63):
        raise OverflowError(f"{value} does not fit in int64")
    if value < 0:
        value += 1 << 64  # protobuf int64: two's complement, 10 bytes
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


class Int64s(list):
    """A list that encodes as ``int64_list`` even when empty (``label/index`` of a negative)."""


class Floats(list):
    """A list that encodes as ``float_list`` even when empty."""


class Strings(list):
    """A list that encodes as ``bytes_list`` even when empty."""


def _text(value: str) -> bytes:
    # Non-UTF-8 file names arrive as surrogate escapes; keep their original bytes.
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _feature(value: Any) -> bytes:
    """Encode one ``tf.train.Feature`` from bytes/str, int/bool, float, or a list of one kind."""
    kind = type(value)
    if kind is str:  # the common scalars first: no list building, no type scans
        data = _text(value)
        item = b"\x0a" + _varint(len(data)) + data
        return b"\x0a" + _varint(len(item)) + item
    if kind is int:
        packed = _varint(value)
        inner = b"\x0a" + _varint(len(packed)) + packed
        return b"\x1a" + _varint(len(inner)) + inner
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, Int64s):
        return _field(3, _field(1, b"".join(_varint(int(v)) for v in values)) if values else b"")
    if isinstance(value, Floats):
        return _field(2, _field(1, _pack_floats(values)) if values else b"")
    if isinstance(value, Strings) or all(isinstance(v, (bytes, str)) for v in values):
        items = b"".join(_field(1, _text(v) if isinstance(v, str) else v) for v in values)
        return _field(1, items)  # bytes_list
    if all(isinstance(v, (bool, int)) and not isinstance(v, float) for v in values):
        packed = b"".join(_varint(int(v)) for v in values)
        return _field(3, _field(1, packed) if values else b"")  # int64_list
    if all(isinstance(v, (int, float)) for v in values):
        return _field(2, _field(1, _pack_floats(values)) if values else b"")  # float_list
    raise TypeError(f"cannot encode feature value of mixed or unsupported type: {value!r}")


def _pack_floats(values: list) -> bytes:
    """Little-endian float32s. A value beyond float32's range becomes +-inf, as in TensorFlow's own
    ``float_list`` (a C cast), where ``struct`` would raise and take the whole shard down.
    """
    try:
        return struct.pack(f"<{len(values)}f", *values)
    except OverflowError:
        return b"".join(_pack_float(v) for v in values)


def _pack_float(value: float) -> bytes:
    try:
        return struct.pack("<f", value)
    except OverflowError:
        return struct.pack("<f", math.copysign(math.inf, value))


_KEY_FIELDS: dict[str, bytes] = {}


def _key_field(key: str) -> bytes:
    # The same few keys recur in every record: encode each once per process.
    field = _KEY_FIELDS.get(key)
    if field is None:
        field = _KEY_FIELDS[key] = _field(1, _text(key))
    return field


_FLOAT_ENTRIES: dict[str, bytes] = {}


def _float_entry(key: str) -> bytes:
    """The bytes of map entry{key, value: Feature{float_list{value: [v]}}} before ``v``'s 4 bytes."""
    head = _key_field(key) + b"\x12\x08" + b"\x12\x06\x0a\x04"  # Feature (8 bytes), float_list (6), packed (4)
    head = _FLOAT_ENTRIES[key] = b"\x0a" + _varint(len(head) + 4) + head
    return head


def encode_example(features: Mapping[str, Any]) -> bytes:
    """Serialize a ``tf.train.Example`` (keys sorted so equal inputs give equal bytes).

    Built as a list of chunks joined once: nesting ``_field`` calls would copy the image bytes at
    every protobuf level (five copies of every image per record). Tags are literal bytes
    (``0x0a`` = field 1, ``0x12`` = field 2, ``0x1a`` = field 3, all length-delimited).
    """
    parts: list[bytes] = []
    total = 0
    for key in sorted(features):
        value = features[key]
        if type(value) is float:  # a quality measure: the entry's bytes up to the float are the key's own
            head = _FLOAT_ENTRIES.get(key) or _float_entry(key)
            parts += (head, _pack_float(value))
            total += len(head) + 4
            continue
        key_field = _key_field(key)
        if isinstance(value, (bytes, bytearray)):
            # map entry{key, value: Feature{bytes_list{value: data}}}: headers only, the payload is
            # appended as is.
            n = len(value)
            item_head = b"\x0a" + _varint(n)
            list_len = len(item_head) + n
            list_head = b"\x0a" + _varint(list_len)
            feat_len = len(list_head) + list_len
            val_head = b"\x12" + _varint(feat_len)
            entry_len = len(key_field) + len(val_head) + feat_len
            entry_head = b"\x0a" + _varint(entry_len)
            parts += (entry_head, key_field, val_head, list_head, item_head, value)
        else:
            feature = _feature(value)
            tail = b"\x12" + _varint(len(feature)) + feature
            entry_len = len(key_field) + len(tail)
            entry_head = b"\x0a" + _varint(entry_len)
            parts += (entry_head, key_field, tail)
        total += len(entry_head) + entry_len
    return b"\x0a" + _varint(total) + b"".join(parts)


# checksums.jsonl: {"file": shard, RECORD_DIGEST_KEY: [digest of each record, in order]}
RECORD_DIGEST_KEY = "record_xxh3_128"
LEGACY_RECORD_DIGEST_KEY = "record_sha256"  # what builds before 2026-11-22 wrote (verify reads both)


def record_digest(record: bytes) -> str:
    """The per-record checksum kept in ``checksums.jsonl``: XXH3-128 of the serialized Example, hex.

    It locates a changed record; the shard file's sha256 in ``dataset.json`` is the cryptographic
    checksum of the whole. XXH3 rather than a third sha256 pass over every image's bytes (the
    image's own sha256 and the shard's already read them) saves ~0.03 ms per image, 3% of a build.
    """
    return xxhash.xxh3_128_hexdigest(record)


def legacy_record_digest(record: bytes) -> str:
    """``record_sha256`` of older builds: sha256 of the Example, first 128 bits in hex."""
    import hashlib

    return hashlib.sha256(record).hexdigest()[:32]


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC32C of the length, data, masked CRC32C of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def iter_records(path: str) -> Iterable[bytes]:
    """Read raw records from a TFRecord file, checking both CRCs (raises ValueError on corruption)."""
    with open(path, "rb") as fh:
        while True:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise ValueError(f"{path}: truncated record header")
            length_bytes, crc = head[:8], struct.unpack("<I", head[8:])[0]
            if _masked_crc(length_bytes) != crc:
                raise ValueError(f"{path}: corrupt record length CRC")
            (length,) = struct.unpack("<Q", length_bytes)
            data = fh.read(length)
            tail = fh.read(4)
            if len(data) < length or len(tail) < 4:
                raise ValueError(f"{path}: truncated record")
            if _masked_crc(data) != struct.unpack("<I", tail)[0]:
                raise ValueError(f"{path}: corrupt record data CRC")
            yield data


# ---------------------------------------------------------------------------------------------
# Reading: the TensorFlow parse spec (TensorFlow imported lazily by the caller's module).
# ---------------------------------------------------------------------------------------------


def feature_description(
    meta_types: Mapping[str, str] | None = None, keys: Iterable[str] | None = None
) -> dict[str, Any]:
    """The ``tf.io.parse_single_example`` description for the fixed features (+ optional meta).

    Args:
        meta_types: ``{name: "int"|"float"|"bytes"}`` from the manifest, to parse ``meta/<name>``.
        keys: Only these features, in this order (a reader that parses fewer features parses faster);
            default every fixed feature and the ``meta_types`` ones.
    """
    import tensorflow as tf

    desc: dict[str, Any] = {
        IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
        IMAGE_FORMAT: tf.io.FixedLenFeature([], tf.string),
        IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_WIDTH: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_CHANNELS: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
        IMAGE_SHA256: tf.io.FixedLenFeature([], tf.string),
        IMAGE_PIXEL_HASH: tf.io.FixedLenFeature([], tf.string),
        IMAGE_PHASH: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_SOURCE: tf.io.FixedLenFeature([], tf.string),
        IMAGE_REPAIRS: tf.io.VarLenFeature(tf.string),
        LABEL_INDEX: tf.io.VarLenFeature(tf.int64),
        LABEL_NAME: tf.io.VarLenFeature(tf.string),
    }
    for key in QUALITY_FEATURES:  # variable length: absent from a --no-quality build's records
        desc[key] = tf.io.VarLenFeature(tf.float32)
    kinds = {"int": tf.int64, "float": tf.float32, "bytes": tf.string}
    for name, kind in (meta_types or {}).items():
        desc[META_PREFIX + name] = tf.io.VarLenFeature(kinds[kind])
    if keys is None:
        return desc
    try:
        return {key: desc[key] for key in keys}
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not a feature of the record spec") from None
