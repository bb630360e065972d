"""Small JPEG thumbnails of chosen records of a build, for the HTML report.

Reads only the shards of the splits asked for, stops at a split once every id asked for in it is
found, and decodes only the images asked for (a JPEG at a DCT scale near the thumbnail size, so a
large photo costs a fraction of a full decode). TensorFlow is not imported: a record's ``image/id``
and ``image/encoded`` are read straight from the protobuf wire format of the ``tf.train.Example``
that ``spec.encode_example`` writes. Best effort: a build that is gone, a shard that is missing or
corrupt, or an image that does not decode gives no thumbnail (the integrity checks report those).
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Iterable

from pipecheck.pipeline import spec

MAX_THUMBNAILS = 60  # per call, whatever is asked for
MAX_BYTES = 4096  # per thumbnail: quality, then size, steps down until it fits


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _value_end(buf: bytes, pos: int, wire: int) -> tuple[int, int]:
    """``(payload start, end)`` of the value of wire type ``wire`` at ``pos`` (after its tag)."""
    if wire == 2:
        length, pos = _varint(buf, pos)
        return pos, pos + length
    if wire == 0:
        return pos, _varint(buf, pos)[1]
    if wire in (1, 5):
        return pos, pos + (8 if wire == 1 else 4)
    raise ValueError(f"unsupported protobuf wire type {wire}")


def _fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterable[tuple[int, int, int, int]]:
    """``(field number, wire type, start, end)`` of each field of one message: the payload's bounds
    for length-delimited fields, the value's bytes otherwise.
    """
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        tag, pos = _varint(buf, pos)
        value_start, pos = _value_end(buf, pos, tag & 7)
        yield tag >> 3, tag & 7, value_start, pos
    if pos != end:
        raise ValueError("protobuf field runs past its message")


def _first_bytes(buf: bytes, start: int, end: int) -> bytes | None:
    """The first value of a ``Feature``'s ``bytes_list`` (field 1 of Feature, field 1 of BytesList)."""
    for number, wire, s, e in _fields(buf, start, end):
        if number == 1 and wire == 2:
            for n2, w2, s2, e2 in _fields(buf, s, e):
                if n2 == 1 and w2 == 2:
                    return buf[s2:e2]
    return None


def example_bytes(record: bytes, keys: Iterable[str]) -> dict[str, bytes]:
    """The first bytes value of each feature in ``keys`` of one serialized ``tf.train.Example``.

    ``Example.features`` is field 1; ``Features.feature`` holds map entries (field 1) of a key (1) and a
    ``Feature`` (2). Only the key of each entry is read (a few bytes, not the image payload), the
    entries whose key is wanted are parsed, and the walk stops once each is found.
    """
    wanted = {k.encode() for k in keys}
    out: dict[str, bytes] = {}
    for number, wire, start, end in _fields(record):
        if number != 1 or wire != 2:
            continue
        pos = start
        while pos < end:
            tag, pos = _varint(record, pos)
            entry_start, pos = _value_end(record, pos, tag & 7)
            if tag != 0x0A or entry_start >= pos or record[entry_start] != 0x0A:  # not an entry led by its key
                continue
            key_len, key_at = _varint(record, entry_start + 1)
            key = record[key_at : key_at + key_len]
            if key not in wanted:
                continue
            for n3, w3, s3, e3 in _fields(record, entry_start, pos):
                if n3 == 2 and w3 == 2:
                    got = _first_bytes(record, s3, e3)
                    if got is not None:
                        out[key.decode()] = got
            if len(out) == len(wanted):
                return out  # the writer sorts keys: image/id is the fifth entry of ~30
        if pos != end:
            raise ValueError("protobuf field runs past its message")
    return out


def thumbnail(data: bytes, *, max_side: int = 112, quality: int = 70, max_bytes: int = MAX_BYTES) -> bytes | None:
    """A JPEG of at most ``max_side`` px a side and ``max_bytes`` bytes, or None if ``data`` does not decode."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                img.draft("RGB", (max_side, max_side))  # DCT-scaled decode: 1/2 .. 1/8 of the pixels
            img.thumbnail((max_side, max_side), Image.BILINEAR, reducing_gap=2.0)
            small = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
    q = quality
    while True:
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=q, optimize=True)
        if buf.tell() <= max_bytes or max(small.size) <= 16:
            return buf.getvalue()
        if q > 30:
            q -= 15
        else:
            small = small.resize((max(1, small.width * 3 // 4), max(1, small.height * 3 // 4)), Image.BILINEAR)


def thumbnails(
    data_dir: str,
    wanted: Iterable[tuple[str, str]],
    *,
    max_side: int = 112,
    quality: int = 70,
    limit: int = MAX_THUMBNAILS,
    max_bytes: int = MAX_BYTES,
) -> dict[tuple[str, str], bytes]:
    """Thumbnails of the records ``wanted`` (``(split, id)`` pairs; the first ``limit`` distinct ones).

    Args:
        data_dir: A local build folder.
        wanted: Which records, as ``(split, image id)``.
        max_side: Longest side of a thumbnail in pixels.
        quality: JPEG quality to try first.
        limit: At most this many thumbnails, whatever ``wanted`` holds.
        max_bytes: At most this many bytes a thumbnail.

    Returns:
        ``{(split, id): JPEG bytes}`` for each wanted record found and decoded; others are absent.
    """
    from pipecheck.pipeline.errors import InputError
    from pipecheck.pipeline.manifest import load_manifest

    by_split: dict[str, set[str]] = defaultdict(set)
    seen: set[tuple[str, str]] = set()
    for split, image_id in wanted:
        if len(seen) >= limit:
            break
        if (split, image_id) not in seen:
            seen.add((split, image_id))
            by_split[split].add(image_id)
    if not seen:
        return {}
    try:
        manifest = load_manifest(data_dir)
    except (InputError, OSError):
        return {}
    out: dict[tuple[str, str], bytes] = {}
    for split, ids in by_split.items():
        if split not in manifest.splits:
            continue
        left = set(ids)
        for path in manifest.shard_paths(data_dir, split):
            if not left:
                break
            try:
                for record in spec.iter_records(path):
                    raw_id = example_bytes(record, (spec.IMAGE_ID,)).get(spec.IMAGE_ID, b"")
                    image_id = raw_id.decode("utf-8", "surrogateescape")
                    if image_id in left:
                        left.discard(image_id)
                        encoded = example_bytes(record, (spec.IMAGE_ENCODED,)).get(spec.IMAGE_ENCODED, b"")
                        small = thumbnail(encoded, max_side=max_side, quality=quality, max_bytes=max_bytes)
                        if small is not None:
                            out[(split, image_id)] = small
                        if not left:
                            break
            except (OSError, ValueError, IndexError):  # missing or damaged shard: no thumbnails from it
                continue
    return out
