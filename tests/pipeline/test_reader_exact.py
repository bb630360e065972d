"""``load_dataset(exact_resize=True)`` is a plain full decode + ``tf.image.resize``, bit for bit, on real
photos large enough for the default read to decode them DCT-scaled; the default read differs from it
on those photos, by less than the exact read's own aliasing, and is closer to an antialiased resize.

The photos are the ones scikit-image and scikit-learn ship (300-512 px short side), read at 64 px: every
one is stored at >= 4x the output side, so the default read decodes it at 1/4 or 1/8 scale.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipecheck.pipeline import load_dataset
from pipecheck.pipeline.manifest import load_manifest

SIZE = 64
# A gross error (channels swapped, a wrong crop, a ratio that leaves far too few pixels) scores 8-19 dB
# against the exact read on these photos; the DCT-scaled read scores 24-31 dB.
PSNR_FLOOR = 20.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def photo_dump(h, tmp_path_factory):
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_images

    dump = tmp_path_factory.mktemp("photo_dump")
    photos = {
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "astronaut": data.astronaut(),
    }
    photos |= {f"sample{i}": p for i, p in enumerate(load_sample_images().images)}  # china, flower: 427 x 640
    for name, pixels in photos.items():
        h.pair(dump, name, {"species": name}, Image.fromarray(np.asarray(pixels)[..., :3]), quality=90)
    return dump


def _reads(h, tf, dump, out, **build):
    """``{photo: (default read, exact read, plain TF full decode + resize, antialiased resize)}``."""
    h.build(dump, out, label_field="species", val_fraction=0.0, **build)
    classes = load_manifest(str(out)).classes
    kw = dict(image_size=SIZE, batch_size=None, shuffle=False, label_mode="int")
    default = {classes[int(y)]: x.numpy() for x, y in load_dataset(str(out), "train", **kw)}
    exact = {classes[int(y)]: x.numpy() for x, y in load_dataset(str(out), "train", exact_resize=True, **kw)}
    got = {}
    for rec in h.records(out, "train"):
        name = rec["image/id"][0]
        full = tf.io.decode_jpeg(rec["image/encoded"][0], channels=3)
        plain = tf.image.resize(full, [SIZE, SIZE]).numpy()
        smooth = tf.image.resize(full, [SIZE, SIZE], antialias=True).numpy()
        got[name] = (default[name], exact[name], plain, smooth, min(rec["image/height"][0], rec["image/width"][0]))
    assert len(got) == 6
    return got


def test_exact_read_is_a_plain_full_decode_and_resize_where_the_default_read_is_dct_scaled(h, tf, photo_dump, tmp_path):
    reads = _reads(h, tf, photo_dump, tmp_path / "out")
    for name, (default, exact, plain, smooth, short) in reads.items():
        assert short >= 4 * SIZE, (name, short)  # the default read decodes this record at 1/4 or 1/8
        assert exact.dtype == plain.dtype == np.float32
        assert np.array_equal(exact, plain), name
        # The default read keeps the exact read's picture within the floor, and differs from it by less
        # than the exact read (bilinear, no antialiasing, 5-8x down) differs from an antialiased resize.
        # A decode one ratio step too small fails this on every one of these photos.
        assert _psnr(default, exact) >= max(PSNR_FLOOR, _psnr(exact, smooth)), name
        # Libjpeg's scaled IDCT low-passes before the bilinear taps: closer to the antialiased resize.
        assert _psnr(default, smooth) > _psnr(exact, smooth), name
    assert sum(not np.array_equal(default, exact) for default, exact, *_ in reads.values()) >= 1


def test_default_read_equals_exact_read_where_max_side_rules_dct_scaling_out(h, tf, photo_dump, tmp_path):
    # Stored at <= 100 px (< 2 x 64), no record is DCT-scaled: both reads are the plain pipeline.
    reads = _reads(h, tf, photo_dump, tmp_path / "out", max_side=100)
    for name, (default, exact, plain, _, short) in reads.items():
        assert short < 2 * SIZE, (name, short)
        assert np.array_equal(default, plain) and np.array_equal(exact, plain), name
