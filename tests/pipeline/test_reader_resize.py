"""The reader's resize is TensorFlow's bilinear resize of the decoded uint8 image, exactly: records
small enough to be cast to float first (faster) and large ones resized as uint8 (faster for them)
give the same values, bit for bit, on full-size and ``--max-side`` builds alike; and tf.data's
autotuner is off unless asked for."""

from __future__ import annotations

import numpy as np
import pytest

from pipecheck.pipeline import load_dataset

SIZE = 32  # output 32x32: records up to 4x its pixels (4096) are cast first, larger ones are not


@pytest.fixture(scope="module")
def resize_dump(h, tmp_path_factory):
    dump = tmp_path_factory.mktemp("resize_dump")
    # 40x36 JPEG (1440 px: cast first), 160x120 PNG (19200 px: uint8 resize; PNGs get no DCT
    # scaling), 190x120 JPEG (decoded at 1/2, 95x60 = 5700 px: uint8 resize).
    h.pair(dump, "small", {"species": "a"}, h.image(40, 36, (200, 40, 40), seed=1))
    h.pair(dump, "png", {"species": "b"}, h.image(160, 120, (40, 200, 40), seed=2), ext=".png", fmt="PNG")
    h.pair(dump, "large", {"species": "a"}, h.image(190, 120, (40, 40, 200), seed=3), quality=95)
    return dump


@pytest.mark.parametrize("max_side", [None, 64])
def test_reader_resize_equals_tensorflows_uint8_bilinear_resize(tf, h, resize_dump, tmp_path, max_side):
    out = tmp_path / "out"
    h.build(resize_dump, out, label_field="species", val_fraction=0.0, max_side=max_side)
    got = {}
    ds = load_dataset(str(out), "train", image_size=SIZE, batch_size=None, shuffle=False, deterministic=True)
    for (image, _), rec in zip(ds, h.records(out, "train")):
        got[rec["image/id"][0]] = (image.numpy(), rec)
    assert sorted(got) == ["large", "png", "small"]
    for name, (image, rec) in got.items():
        data = rec["image/encoded"][0]
        short = min(rec["image/height"][0], rec["image/width"][0])
        # The reader's DCT scaling of full-size builds: the largest ratio keeping the short side >= SIZE.
        ratio = max(r for r in (1, 2, 4, 8) if r == 1 or (max_side is None and short >= r * SIZE))
        decoded = tf.io.decode_jpeg(data, channels=3, ratio=ratio, dct_method="INTEGER_FAST" if ratio > 1 else "")
        pixels = decoded.shape[0] * decoded.shape[1]
        assert (pixels <= 4 * SIZE * SIZE) == (name == "small" or max_side == 64), (name, pixels)  # both branches run
        expected = tf.image.resize(decoded, [SIZE, SIZE]).numpy()  # uint8 in, float32 out
        assert np.array_equal(image, expected), name


def test_autotune_is_off_by_default_and_can_be_turned_on(h, resize_dump, tmp_path):
    out = tmp_path / "out"
    h.build(resize_dump, out, label_field="species", val_fraction=0.0)
    default = load_dataset(str(out), "train", image_size=SIZE, batch_size=2, shuffle=False)
    tuned = load_dataset(str(out), "train", image_size=SIZE, batch_size=2, shuffle=False, autotune=True)
    assert default.options().autotune.enabled is False
    assert tuned.options().autotune.enabled is True
    assert sum(int(x.shape[0]) for x, _ in default) == sum(int(x.shape[0]) for x, _ in tuned) == 3
