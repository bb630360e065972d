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

import time

META = {"label": "x"}


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
