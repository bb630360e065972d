"""Would TensorFlow's decoders read these bytes? Answered without TensorFlow, from the bytes alone.

A build verifies every image with Pillow (or simplejpeg), whose decoders accept files TensorFlow's
refuse; such a file stored untouched passes every check and kills training at its first read.
:func:`tf_refusal` names what TensorFlow 2.16 (libjpeg-turbo 2.1, libpng) refuses, measured on
real files with ``tf.io.decode_jpeg`` / ``decode_png`` / ``decode_image``:

- JPEG: only frame types SOF0 (baseline), SOF1 (extended), SOF2 (progressive) and their
  arithmetic-coded twins SOF9 and SOF10 decode, at 8 bits per sample. Refused: SOF3 (lossless,
  which Pillow's and simplejpeg's libjpeg-turbo 3 decode), SOF5-7 (hierarchical), SOF11 (lossless,
  arithmetic), SOF13-15 (hierarchical, arithmetic), a DHP marker (hierarchical), 12/16-bit samples.
- PNG: libpng checks the CRC of every critical chunk (IDAT and IEND included, which Pillow does not
  check) and needs the IEND chunk; Pillow decodes such files. Any chunk whose CRC does not match
  is refused here (libpng's handling of ancillary ones is a setting, not a promise).

Cheap on purpose: a JPEG's marker walk stops at its frame header (a few hundred bytes in), a PNG
costs one ``zlib.crc32`` pass over its bytes (GB/s, against a decode's tens of MB/s).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

_TF_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}
_LOSSLESS_FRAMES = {0xC3, 0xC7, 0xCB, 0xCF}
_FRAME_NAMES = {
    0xC3: "lossless",
    0xC5: "hierarchical",
    0xC6: "hierarchical progressive",
    0xC7: "hierarchical lossless",
    0xCB: "lossless arithmetic-coded",
    0xCD: "hierarchical arithmetic-coded",
    0xCE: "hierarchical progressive arithmetic-coded",
    0xCF: "hierarchical lossless arithmetic-coded",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Refusal:
    """Why TensorFlow would refuse the bytes, and whether the source held its pixels losslessly
    (a re-encode then keeps them losslessly: PNG, not JPEG).
    """

    detail: str
    lossless: bool


def tf_refusal(data: bytes, fmt: str) -> Refusal | None:
    """What TensorFlow's ``decode_jpeg``/``decode_png`` would refuse in ``data``, or None.

    ``fmt`` is the sniffed format; formats other than jpeg/png are re-encoded by the build anyway
    and answer None. None does not promise a decode (a corrupt stream is the full decode's job).
    """
    if fmt == "jpeg":
        return _jpeg_refusal(data)
    if fmt == "png":
        return _png_refusal(data)
    return None


def jpeg_frame(data: bytes) -> tuple[int, int] | None:
    """``(SOF marker, sample precision)`` of a JPEG's first frame header; ``(0xDE, 0)`` for a
    hierarchical file's DHP marker; None when no frame header precedes the first scan.

    Walks the segments the way libjpeg's marker reader does: bytes between segments are skipped
    (libjpeg warns about them and goes on), fill bytes 0xFF are skipped.
    """
    i, end = 2, len(data)
    while i < end:
        if data[i] != 0xFF:
            i = data.find(b"\xff", i)
            if i < 0:
                return None
            continue
        marker = data[i + 1] if i + 1 < end else None
        if marker is None:
            return None
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x00 or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # stuffed byte, TEM, RSTn, SOI
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # a scan (or the end) before any frame header
            return None
        if marker == 0xDE:
            return 0xDE, 0
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (marker, data[i + 4]) if i + 4 < end else None
        if i + 4 > end:
            return None
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    return None


def _jpeg_refusal(data: bytes) -> Refusal | None:
    frame = jpeg_frame(data)
    if frame is None:
        return Refusal("no JPEG frame header before the first scan", False)
    marker, precision = frame
    if marker == 0xDE:
        return Refusal("hierarchical JPEG (DHP marker)", False)
    if marker not in _TF_JPEG_FRAMES:
        return Refusal(
            f"{_FRAME_NAMES.get(marker, 'unsupported')} JPEG (SOF{marker - 0xC0})", marker in _LOSSLESS_FRAMES
        )
    if precision != 8:
        return Refusal(f"{precision}-bit JPEG samples (TensorFlow decodes 8)", False)
    return None


def _png_refusal(data: bytes) -> Refusal | None:
    if not data.startswith(_PNG_SIGNATURE):
        return Refusal("no PNG signature", True)
    i, end = len(_PNG_SIGNATURE), len(data)
    view, crc32 = memoryview(data), zlib.crc32
    while i + 12 <= end:
        length = int.from_bytes(data[i : i + 4], "big")
        stop = i + 8 + length
        if stop + 4 > end:
            break
        kind = data[i + 4 : i + 8]
        if crc32(view[i + 4 : stop]) != int.from_bytes(data[stop : stop + 4], "big"):
            return Refusal(f"PNG chunk {kind.decode('latin-1')!r} at byte {i}: CRC mismatch", True)
        if kind == b"IEND":
            return None
        i = stop + 4
    return Refusal("PNG without a complete IEND chunk", True)
