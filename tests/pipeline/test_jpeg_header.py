"""The JPEG header fast path (``jpeg.py``) says "plain" only where Pillow agrees, and check_image
gives the same result with it as through Pillow alone."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from pipecheck.pipeline import images
from pipecheck.pipeline.images import ImageOptions, check_image
from pipecheck.pipeline.jpeg import exif_orientation, plain_jpeg_size


def _save(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif(orientation: int | None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def _tiff(order: str, tag_type: int, value: int) -> bytes:
    """An EXIF block holding only an orientation entry of the given type."""
    e = "<" if order == "II" else ">"
    head = b"II*\x00" if order == "II" else b"MM\x00*"
    fmt = "H" if tag_type == 3 else "I"
    entry = struct.pack(e + "HHI", 0x0112, tag_type, 1) + struct.pack(e + fmt, value).ljust(4, b"\x00")
    return b"Exif\x00\x00" + head + struct.pack(e + "I", 8) + struct.pack(e + "H", 1) + entry + b"\x00" * 4


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Image.Image:
    import numpy as np

    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((160, 120), Image.BILINEAR)


def _cases(photo: Image.Image) -> dict[str, tuple[bytes, bool]]:
    """name -> (JPEG bytes, whether Pillow sees one upright RGB frame)."""
    plain = _save(photo, quality=90)
    xmp = '<x:xmpmeta><rdf:Description tiff:Orientation="{}"/></x:xmpmeta>'
    cases = {
        "plain": (plain, True),
        "progressive": (_save(photo, progressive=True), True),
        "4:4:4": (_save(photo, subsampling=0), True),
        "exif without orientation": (_save(photo, exif=_exif(None)), True),
        "big-endian exif, orientation 1": (_save(photo, exif=_tiff("MM", 3, 1)), True),
        "fill bytes before a marker": (plain[:2] + b"\xff\xff" + plain[2:], True),
        "big-endian exif, orientation 6": (_save(photo, exif=_tiff("MM", 3, 6)), False),
        "orientation stored as LONG": (_save(photo, exif=_tiff("II", 4, 6)), False),
        "xmp orientation 6": (_save(photo, xmp=xmp.format(6).encode()), False),
        # Pillow joins the two and reads the first IFD (upright); the walk declines to guess.
        "two exif segments": (plain[:2] + _app1(_tiff("II", 3, 1)) + _app1(_tiff("II", 3, 6)) + plain[2:], True),
        "grayscale": (_save(photo.convert("L")), False),
        "cmyk": (_save(photo.convert("CMYK")), False),
        "mpo": (_save(photo, "MPO", save_all=True, append_images=[photo.rotate(90)]), False),
    }
    for o in range(1, 9):
        cases[f"exif orientation {o}"] = (_save(photo, exif=_exif(o)), o == 1)
    return cases


def test_plain_only_where_pillow_sees_one_upright_rgb_frame(photo):
    for name, (data, upright_rgb) in _cases(photo).items():
        img = Image.open(io.BytesIO(data))
        pillow = img.mode == "RGB" and getattr(img, "n_frames", 1) == 1 and img.getexif().get(0x0112, 1) in (1, None)
        assert pillow == upright_rgb, name  # the case is what its name says
        size = plain_jpeg_size(data)
        if upright_rgb and name != "two exif segments":
            assert size == img.size, name
        else:
            assert size is None, name


def test_odd_exif_blocks_are_left_to_pillow():
    assert exif_orientation(_tiff("II", 3, 1)[6:]) == 1
    assert exif_orientation(_tiff("II", 3, 8)[6:]) == 8
    assert exif_orientation(b"XXXXXXXXXXXX") == -1  # not a TIFF header
    assert exif_orientation(b"II*\x00\x08\x00\x00\x00\x05\x00") == -1  # IFD runs past the end
    assert exif_orientation(_tiff("II", 4, 1)[6:]) == -1  # LONG, not SHORT
    no_tag = b"II*\x00" + struct.pack("<IH", 8, 0) + b"\x00" * 4
    assert exif_orientation(no_tag) is None


@pytest.mark.parametrize(
    "options",
    [ImageOptions(), ImageOptions(max_side=100), ImageOptions(min_side=130), ImageOptions(max_pixels=10_000)],
    ids=["default", "max_side", "min_side", "max_pixels"],
)
def test_check_image_is_the_same_with_and_without_the_header_fast_path(photo, options, monkeypatch):
    cases = dict(_cases(photo))
    plain = cases["plain"][0]
    cases["truncated"] = (plain[: len(plain) // 2], True)
    cases["header only"] = (plain[:200], False)
    fast = {name: check_image(data, "a.jpg", options) for name, (data, _) in cases.items()}
    monkeypatch.setattr(images, "plain_jpeg_size", lambda data: None)  # Pillow decides everything
    for name, (data, _) in cases.items():
        slow = check_image(data, "a.jpg", options)
        assert type(fast[name]) is type(slow) and vars(fast[name]) == vars(slow), name
