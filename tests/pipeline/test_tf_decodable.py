"""Every stored image decodes with TensorFlow, and a build is the same bytes every time (issue 16,
items 4 and 13).

Item 4: Pillow and simplejpeg (libjpeg-turbo 3) decode files TensorFlow 2.16's decoders refuse. A
build stored them untouched, ``verify`` passed, and training died at the first one. TensorFlow
itself proves both ends here: the original fails ``tf.io.decode_image``, the built record decodes,
and the whole split reads through ``load_dataset``.

Fixtures in ``data/`` (made once, committed, so no encoder is needed here):
- ``lossless_sof3.jpg``: 40x32 RGB lossless JPEG (SOF3, predictor 1), written by
  ``data/make_lossless_jpeg.py`` (libjpeg-turbo 2.1's ``cjpeg`` has no ``-lossless``).
- ``arithmetic_sof9.jpg``: the healthy twin, an arithmetic-coded JPEG (SOF9, ``cjpeg -arithmetic``
  of libjpeg-turbo 2.1.5), which TensorFlow does decode: stored untouched.
The PNGs are made here: a flipped IDAT CRC and a missing IEND (Pillow decodes both, libpng not).

Item 13: a CIELAB TIFF converted to RGB carried a fresh sRGB ICC profile, timestamped to the
second, into its stored PNG: two builds a second apart differed.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipecheck.pipeline import load_dataset
from pipecheck.pipeline.decodable import jpeg_frame, tf_refusal
from pipecheck.pipeline.images import Checked, ImageOptions, check_image

DATA = Path(__file__).parent / "data"
META = {"label": "x"}


def _flip_crc(png: bytes, kind: bytes) -> bytes:
    at = png.index(kind) - 4
    length = int.from_bytes(png[at : at + 4], "big")
    crc = at + 8 + length
    return png[:crc] + bytes(b ^ 0xFF for b in png[crc : crc + 4]) + png[crc + 4 :]


def _tf_decodes(tf, data: bytes) -> bool:
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
        return True
    except tf.errors.InvalidArgumentError:
        return False


@pytest.fixture(scope="module")
def originals(h) -> dict[str, bytes]:
    png = h.encode(h.image(40, 36, (30, 160, 90), seed=4), "PNG")
    return {
        "lossless.jpg": (DATA / "lossless_sof3.jpg").read_bytes(),
        "arithmetic.jpg": (DATA / "arithmetic_sof9.jpg").read_bytes(),
        "bad_idat_crc.png": _flip_crc(png, b"IDAT"),
        "no_iend.png": png[:-12],
        "plain.png": png,
    }


def test_fixtures_are_what_they_claim(tf, originals):
    assert jpeg_frame(originals["lossless.jpg"]) == (0xC3, 8)
    assert jpeg_frame(originals["arithmetic.jpg"]) == (0xC9, 8)
    for name in ("lossless.jpg", "bad_idat_crc.png", "no_iend.png"):
        assert not _tf_decodes(tf, originals[name]), name
        Image.open(io.BytesIO(originals[name])).load()  # Pillow decodes it
    for name in ("arithmetic.jpg", "plain.png"):
        assert _tf_decodes(tf, originals[name]), name


def test_refusals_without_tensorflow(originals):
    assert tf_refusal(originals["lossless.jpg"], "jpeg").lossless
    assert "IDAT" in tf_refusal(originals["bad_idat_crc.png"], "png").detail
    assert "IEND" in tf_refusal(originals["no_iend.png"], "png").detail
    assert tf_refusal(originals["arithmetic.jpg"], "jpeg") is None
    assert tf_refusal(originals["plain.png"], "png") is None
    base = bytearray((DATA / "arithmetic_sof9.jpg").read_bytes())
    sof = base.index(b"\xff\xc9")
    for marker, ok in (
        (0xC0, True),
        (0xC1, True),
        (0xC2, True),
        (0xCA, True),
        (0xC5, False),
        (0xC7, False),
        (0xCB, False),
        (0xCD, False),
        (0xCF, False),
    ):
        base[sof + 1] = marker
        assert (tf_refusal(bytes(base), "jpeg") is None) == ok, hex(marker)
    base[sof + 1], base[sof + 4] = 0xC0, 12
    assert "12-bit" in tf_refusal(bytes(base), "jpeg").detail


def test_check_image_reencodes_what_tensorflow_refuses(tf, originals):
    for name, data in originals.items():
        got = check_image(data, name, ImageOptions())
        assert isinstance(got, Checked), (name, got)
        assert _tf_decodes(tf, got.encoded), name
        refused = name in ("lossless.jpg", "bad_idat_crc.png", "no_iend.png")
        assert ("reencoded_for_tensorflow" in got.repairs) == refused, (name, got.repairs)
        assert (got.encoded is data) == (not refused), name
        if refused:
            assert got.format == "png"  # lossless sources stay lossless
            original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            assert np.array_equal(tf.io.decode_png(got.encoded, channels=3).numpy(), original), name


def test_built_records_all_decode_with_tensorflow(tf, h, originals, tmp_path):
    dump = tmp_path / "dump"
    for name, data in originals.items():
        dump.mkdir(exist_ok=True)
        (dump / name).write_bytes(data)
        h.write_json(dump / (name.rsplit(".", 1)[0] + ".json"), META)
    out = tmp_path / "out"
    result = h.build(dump, out, label_field="label", val_fraction=0.0)
    assert result.rejects == []
    records = {r["image/id"][0]: r for r in h.records(out)}
    assert sorted(records) == sorted(n.rsplit(".", 1)[0] for n in originals)
    for stem in ("lossless", "bad_idat_crc", "no_iend"):
        assert "reencoded_for_tensorflow" in records[stem]["image/repairs"]
    assert records["arithmetic"]["image/encoded"][0] == originals["arithmetic.jpg"]  # TF reads SOF9
    for stem, rec in records.items():
        assert _tf_decodes(tf, rec["image/encoded"][0]), stem
    images = [
        x.numpy()
        for x, _ in load_dataset(str(out), "train", image_size=32, batch_size=None, shuffle=False, deterministic=True)
    ]
    assert len(images) == len(originals)


def test_lab_tiff_builds_are_byte_identical(h, tmp_path):
    dump = tmp_path / "dump"
    h.pair(dump, "lab", META, h.image(48, 40, (200, 80, 40), seed=7).convert("LAB"), ".tif", "TIFF")
    h.pair(dump, "rgb", META, h.image(48, 40, (20, 80, 140), seed=8))
    shards = []
    for run in range(2):
        if run:
            time.sleep(1.1)  # an ICC profile's creation time has second resolution
        out = tmp_path / f"out{run}"
        h.build(dump, out, label_field="label", val_fraction=0.0)
        records = {r["image/id"][0]: r for r in h.records(out)}
        assert "lab_to_rgb" in records["lab"]["image/repairs"]
        stored = records["lab"]["image/encoded"][0]
        shards.append({p.name: p.read_bytes() for p in sorted(out.rglob("*.tfrecord"))})
    assert shards[0] and shards[0] == shards[1]
    assert b"iCCP" not in stored  # no colour profile (TensorFlow ignores them) in what is stored


def test_png_crc_pass_ignores_trailing_bytes(originals):
    assert tf_refusal(originals["plain.png"] + b"junk after IEND", "png") is None
    broken = bytearray(originals["plain.png"])
    at = broken.index(b"IHDR")
    broken[at + 8] ^= 1  # a width bit, under the IHDR CRC
    assert "IHDR" in tf_refusal(bytes(broken), "png").detail
