"""Check, repair or reject one image: the per-item transform shared by every build runner.

One decode per image does everything: verification (a truncated or corrupt stream fails here, not
in training), the pixel hash used for leakage checks, the perceptual hash, and any repair. Original
JPEG/PNG bytes are stored untouched when the image is already RGB, upright and within
``max_side``, so no quality is lost to a decode/re-encode round trip, and when TensorFlow's own
decoders will read them: bytes they refuse (``decodable.py``: a lossless JPEG, a PNG chunk CRC) are
re-encoded from Pillow's pixels (``reencoded_for_tensorflow``). Re-encodes hold pixels only, no
metadata, so a build is the same bytes every time.

Cost matters (a build should run near the machine's decode limit): the pixel digest is XXH3-128
(~0.01 ms per megapixel against ~0.5 ms for sha256, which would add two thirds to a JPEG decode);
sha256 is kept for the stored bytes, which are small. With ``max_side`` a JPEG is decoded straight
at a reduced DCT scale (``draft``): every entropy-coded block is still decoded, so corruption and
truncation are caught, at a fraction of the cost of a full-size decode plus resize.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import xxhash
from PIL import Image, ImageOps, UnidentifiedImageError

from pipecheck.pipeline.decodable import Refusal, tf_refusal
from pipecheck.pipeline.dump import sniff_format
from pipecheck.pipeline.jpeg import plain_jpeg_size
from pipecheck.pipeline.quality import measure_samples, sample

_EXT_FORMAT = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".png": "png",
    ".bmp": "bmp",
    ".gif": "gif",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
}
_LOSSLESS = {"png", "bmp", "gif", "tiff"}
_ORIENTATION = 0x0112
_STREAM_REPR = re.compile(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>")


@dataclass(frozen=True)
class ImageOptions:
    """Per-image limits and encoding choices (from the build options)."""

    max_side: int | None = None
    min_side: int = 32
    max_pixels: int = 89_478_485
    jpeg_quality: int | None = None  # None: a re-encoded JPEG keeps its source's tables, else 95
    quality: bool = True  # measure image quality (``quality.py``) in the same decode


@dataclass
class Checked:
    """A usable image, ready to be written."""

    encoded: bytes
    format: str  # jpeg | png
    height: int
    width: int
    sha256: str  # of ``encoded``
    pixel_hash: str  # XXH3-128 of the decoded RGB pixels (and their size)
    phash: int
    repairs: list[str] = field(default_factory=list)
    quality: tuple[float, ...] = ()  # ``quality.MEASURES`` of the decoded pixels; () when off or pending
    # Until ``finish_quality`` measures it (with a batch of others): the quality sample grid of the
    # decoded pixels and the upright source's width and height.
    quality_sample: tuple[np.ndarray, int, int] | None = field(default=None, compare=False, repr=False)


@dataclass
class Rejected:
    reason: str
    detail: str


def _decode_error(exc: Exception) -> Rejected:
    # Pillow names the in-memory stream ("cannot identify image file <_io.BytesIO object at
    # 0x7f...>"): an address that would make rejects.jsonl differ between identical builds.
    text = " ".join(_STREAM_REPR.sub("", str(exc)).split())[:200]
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return Rejected("truncated", text or "stream ends early")
    return Rejected("undecodable", text or exc.__class__.__name__)


def pixel_hash(pixels, width: int, height: int) -> str:
    """XXH3-128 of packed RGB pixels (an ``H x W x 3`` array or its bytes) and their size."""
    digest = xxhash.xxh3_128(f"{width}x{height}:".encode())
    digest.update(np.ascontiguousarray(pixels) if isinstance(pixels, np.ndarray) else pixels)
    return digest.hexdigest()


def dhash(rgb: "np.ndarray") -> int:
    """64-bit difference hash of an ``H x W x 3`` uint8 image (signed, to fit a TFRecord int64).

    36x32 nearest samples, luma, box-averaged 4x4 into 9x8 cells (each cell averages 16 points, so
    re-compression noise rarely flips a bit), then one bit per horizontally adjacent pair. Computed
    on the pixel array both decode paths already hold, so it costs almost nothing.
    """
    h, w = rgb.shape[:2]
    ys = np.minimum((_ROW_POINTS * h / 32).astype(np.intp), h - 1)
    xs = np.minimum((_COL_POINTS * w / 36).astype(np.intp), w - 1)
    # Whole rows first (32 contiguous copies), then the columns of those: a third of the time of
    # one gather of the 3456 scattered bytes, whose index would also have to be built per size.
    samples = rgb.take(ys, axis=0).take(xs, axis=1)
    luma = samples.astype(np.float32) @ _LUMA
    cells = np.add.reduce(luma.reshape(8, 4, 9, 4), axis=(1, 3))  # sums: the comparison is scale-free
    bits = int.from_bytes(np.packbits(cells[:, :8] > cells[:, 1:]).tobytes(), "big")
    return bits - (1 << 64) if bits >= (1 << 63) else bits


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_ROW_POINTS = np.arange(32) + 0.5  # sample centres, in 32ths of the height
_COL_POINTS = np.arange(36) + 0.5


def _fast_jpeg(data: bytes, width: int, height: int, opts: ImageOptions) -> "tuple[str, int, tuple | None] | None":
    """Pixel hash, dHash and quality sample of an RGB JPEG decoded by libjpeg-turbo straight into numpy.

    Pillow decodes into 4 bytes per pixel and needs a packing copy to expose them; simplejpeg's
    decode gives the same pixels (checked on thousands of photos) without either. Strict mode makes
    any libjpeg warning an error; the caller then falls back to Pillow, which decides and names the
    problem (truncated, corrupt). None when simplejpeg is unavailable or declines.
    """
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        rgb = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except (ValueError, RuntimeError):
        return None
    if rgb.shape[:2] != (height, width):
        return None
    return pixel_hash(rgb, width, height), dhash(rgb), _sample(rgb, width, height, opts)


def _sample(rgb: np.ndarray, width: int, height: int, opts: ImageOptions) -> tuple[np.ndarray, int, int] | None:
    """The quality sample of decoded pixels (any DCT scale) of a ``width`` x ``height`` upright
    source, for :func:`finish_quality`; None when quality is off.
    """
    return (sample(rgb), width, height) if opts.quality else None


def finish_quality(checked: Sequence[Checked]) -> dict[int, str]:
    """Measure the images whose quality is pending (``Checked.quality_sample``), all at once.

    ``quality.measure_samples`` of a batch costs a fraction of measuring its images one at a time,
    between their decodes: a shard writer checks a few dozen images, then measures them and writes
    their records. Returns the images (by index) whose measures failed, with the error: should a
    batch ever fail, each of its images is measured alone, so that a bug rejects an image, not the
    shard (as in :func:`check_image`, which never raises on bad content).
    """
    todo = [i for i, c in enumerate(checked) if c.quality_sample is not None]
    if not todo:
        return {}
    try:
        scores = measure_samples(
            [checked[i].quality_sample[0] for i in todo], [checked[i].quality_sample[1:] for i in todo]
        )
    except Exception:  # noqa: BLE001 - find the image, below
        scores = None
    failed: dict[int, str] = {}
    for k, i in enumerate(todo):
        c = checked[i]
        if scores is None:
            try:
                (row,) = measure_samples([c.quality_sample[0]], [c.quality_sample[1:]])
            except Exception as exc:  # noqa: BLE001 - one image rejected, not the shard
                failed[i] = f"quality measures: {exc.__class__.__name__}: {exc}"[:200]
                continue
        else:
            row = scores[k]
        c.quality, c.quality_sample = row, None
    return failed


def _downscaled_jpeg(data: bytes, width: int, height: int, opts: ImageOptions, repairs: list[str]) -> Checked | None:
    """A plain (RGB, upright) JPEG over ``max_side``, decoded by libjpeg-turbo straight into numpy
    at the DCT scale Pillow's ``draft`` picks (1/2, 1/4 or 1/8 while both sides stay >= max_side),
    then resized and re-encoded.

    The same scale as the Pillow path (taken by files libjpeg warns about, e.g. stray bytes)
    gives the same pixels, so a file and a clean copy keep one pixel hash and dHash; libjpeg-turbo
    could also scale by 3/8, 5/8 ..., faster, but those pixels would hash differently. Every
    entropy-coded block is decoded at any scale (corruption is caught). None when simplejpeg
    declines (the caller asks Pillow).
    """
    try:
        import simplejpeg
    except ImportError:
        return None
    ratio = min(width // opts.max_side, height // opts.max_side)
    step = next(s for s in (8, 4, 2, 1) if ratio >= s or s == 1)
    scale = opts.max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    try:
        rgb = simplejpeg.decode_jpeg(
            data, colorspace="RGB", strict=True, min_width=-(-width // step), min_height=-(-height // step)
        )
    except (ValueError, RuntimeError):
        return None
    if rgb.shape[:2] != (-(-height // step), -(-width // step)):
        return None
    h, w = rgb.shape[:2]
    digest, phash = pixel_hash(rgb, w, h), dhash(rgb)
    measures = _sample(rgb, width, height, opts)
    img = Image.fromarray(rgb, "RGB").resize(size, Image.BILINEAR, reducing_gap=2.0)
    source = _open(data)
    settings = _jpeg_encoding(source) if not isinstance(source, Rejected) else None
    buf = io.BytesIO()
    img.save(buf, "JPEG", **_encoder_settings(opts.jpeg_quality, settings))
    encoded = buf.getvalue()
    return Checked(
        encoded,
        "jpeg",
        size[1],
        size[0],
        hashlib.sha256(encoded).hexdigest(),
        digest,
        phash,
        repairs + ["downscaled"],
        quality_sample=measures,
    )


def _jpeg_encoding(img: Image.Image, transposed: bool = False) -> dict | None:
    """A YCbCr JPEG's own quantization tables and chroma subsampling, to re-encode it alike.

    ``transposed``: the pixels were turned by 90 degrees (EXIF orientation 5-8), so 4:2:2's halved
    horizontal chroma would fall on the other axis; full chroma then keeps what the source had.
    """
    from PIL import JpegImagePlugin

    tables = getattr(img, "quantization", None)
    sampling = JpegImagePlugin.get_sampling(img) if img.mode == "RGB" else -1
    if not tables or len(tables) != 2 or sampling not in (0, 1, 2):
        return None
    if transposed and sampling == 1:
        sampling = 0
    return {"qtables": [list(tables[k]) for k in sorted(tables)], "subsampling": sampling}


def _encoder_settings(quality: int | None, source: dict | None) -> dict:
    """Pillow JPEG settings for a re-encode.

    With no explicit quality, a re-encoded JPEG (downscaled, or turned upright by its EXIF
    orientation) keeps its own quantization tables and chroma subsampling: the stored copy has the
    fidelity its source had, not more (a q85 4:2:0 photo saved
    at q95 4:4:4 is a third larger and slower to decode in every epoch, for detail it never had).
    Other sources (PNG, TIFF, WebP ...) get quality 95 with full-resolution chroma.
    """
    if quality is None and source is not None:
        return dict(source)
    quality = 95 if quality is None else quality
    return {"quality": quality, "subsampling": 0 if quality >= 90 else 2}


def _to_rgb(img: Image.Image, repairs: list[str]) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "CMYK":
        repairs.append("cmyk_to_rgb")
        return img.convert("RGB")
    if mode == "P":
        repairs.append("palette_to_rgb")
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        repairs.append("alpha_flattened")
        rgba = img.convert("RGBA")
        # White matte: the usual rendering of transparent product/plant photos.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        repairs.append("high_bit_depth_to_8bit")
        import numpy as np

        arr = np.asarray(img, dtype="float64")
        hi = arr.max() or 1.0
        img = Image.fromarray((arr / hi * 255.0).clip(0, 255).astype("uint8"), "L")
        return img.convert("RGB")
    if mode in ("L", "1"):
        repairs.append("grayscale_to_rgb")
        return img.convert("RGB")
    repairs.append(f"{mode.lower()}_to_rgb")
    return img.convert("RGB")


def _open(data: bytes) -> "Image.Image | Rejected":
    """Pillow's lazy open (header only), or why the file cannot be opened."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # check_image applies --max-pixels itself, on every path alike
    try:
        img = Image.open(io.BytesIO(data))
        img.size  # noqa: B018 - parsed by now; touching it keeps the error inside this try
        return img
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return _decode_error(exc)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@dataclass
class _Source:
    """What one image's header says, before any pixel is decoded."""

    fmt: str  # from the magic bytes
    width: int  # of the stored source, before any EXIF turn
    height: int
    refusal: Refusal | None  # why TensorFlow's decoder would refuse the bytes; None: it reads them
    img: Image.Image | None  # Pillow's lazy open, before any repair; None for a plain JPEG until needed


def check_image(data: bytes, name: str, opts: ImageOptions, *, defer_quality: bool = False) -> Checked | Rejected:
    """Verify, repair and encode one image. Never raises on bad content.

    Steps: read the header (format, size, TensorFlow's refusal), apply the size limits, then the
    cheapest decode that suffices: libjpeg-turbo straight into numpy for an upright RGB JPEG, else
    Pillow (turned upright, made RGB), whose bytes are stored as they are or re-encoded.

    Args:
        data: The file's bytes.
        name: Its file name (only the extension is used, to record a mismatch).
        opts: Limits and encoding options.
        defer_quality: Leave the quality measures pending (``Checked.quality_sample``) for
            :func:`finish_quality` to measure with other images; else they are measured here.
    """
    result = _check(data, name, opts)
    if isinstance(result, Checked) and not defer_quality:
        finish_quality([result])
    return result


def _check(data: bytes, name: str, opts: ImageOptions) -> Checked | Rejected:
    src = _read_header(data)
    if isinstance(src, Rejected):
        return src
    too_big = _size_limits(src, opts)
    if too_big is not None:
        return too_big
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    repairs = ["extension_mismatch"] if _EXT_FORMAT.get(ext, src.fmt) != src.fmt else []
    direct = _without_pillow_decode(data, src, opts, repairs)
    if direct is not None:
        return direct
    decoded = _decode_upright_rgb(data, src, opts, repairs)
    if isinstance(decoded, Rejected):
        return decoded
    img, transposed = decoded
    return _store(data, img, transposed, src, opts, repairs)


def _read_header(data: bytes) -> _Source | Rejected:
    """Format, size and TensorFlow's verdict; the pixels are not decoded yet."""
    if not data:
        return Rejected("empty_file", "0 bytes")
    fmt = sniff_format(data[:16])
    if fmt is None:
        return Rejected("undecodable", f"unknown format (first bytes {data[:8].hex()})")
    # Bytes TensorFlow's decoders would refuse (a lossless JPEG, a PNG chunk CRC) are never stored
    # as they are: re-encoded from the pixels Pillow decodes (or rejected when it cannot).
    refusal = tf_refusal(data, fmt)
    # A plain JPEG (RGB, one frame, upright) is sized from its header without Pillow's parser;
    # anything else, or any doubt, is opened by Pillow, which decides and names problems.
    plain = plain_jpeg_size(data) if fmt == "jpeg" and refusal is None else None
    if plain is not None:
        return _Source(fmt, plain[0], plain[1], refusal, None)
    img = _open(data)
    if isinstance(img, Rejected):
        return img
    return _Source(fmt, img.size[0], img.size[1], refusal, img)


def _size_limits(src: _Source, opts: ImageOptions) -> Rejected | None:
    width, height = src.width, src.height
    if width * height > opts.max_pixels:
        return Rejected(
            "too_many_pixels", f"{width}x{height} = {width * height:,} pixels > --max-pixels {opts.max_pixels:,}"
        )
    if min(width, height) < opts.min_side:
        return Rejected("too_small", f"{width}x{height}: shorter side < --min-side {opts.min_side}")
    return None


def _over_max_side(src: _Source, opts: ImageOptions) -> bool:
    # Decided on the source's size (the header's), not on what a DCT-scaled decode gives: a 512 px
    # JPEG drafted to exactly 256 px must still be re-encoded at 256 px.
    return opts.max_side is not None and max(src.width, src.height) > opts.max_side


def _without_pillow_decode(data: bytes, src: _Source, opts: ImageOptions, repairs: list[str]) -> Checked | None:
    """An upright RGB JPEG through libjpeg-turbo alone: stored as is when small enough (only the
    hashes need the pixels), else decoded at a DCT scale and downscaled. None: Pillow decides.
    """
    img = src.img
    upright_rgb_jpeg = img is None or (  # None: a plain JPEG, sized from its header
        src.refusal is None
        and src.fmt == "jpeg"
        and img.mode == "RGB"
        and getattr(img, "n_frames", 1) == 1
        and img.getexif().get(_ORIENTATION, 1) in (1, None)
    )
    if not upright_rgb_jpeg:
        return None
    width, height = src.width, src.height
    if _over_max_side(src, opts):
        return _downscaled_jpeg(data, width, height, opts, repairs)
    fast = _fast_jpeg(data, width, height, opts)
    if fast is None:
        return None
    return Checked(
        data, src.fmt, height, width, hashlib.sha256(data).hexdigest(), *fast[:2], repairs, quality_sample=fast[2]
    )


def _decode_upright_rgb(
    data: bytes, src: _Source, opts: ImageOptions, repairs: list[str]
) -> tuple[Image.Image, bool] | Rejected:
    """Pillow's full decode (DCT-scaled for a JPEG over ``max_side``), turned upright by its EXIF
    orientation and converted to RGB: ``(image, transposed by 90 degrees)``. Opens the source
    first when the header step did not (``src.img`` is then set: the JPEG's tables are read there).
    """
    if src.img is None:
        opened = _open(data)
        if isinstance(opened, Rejected):
            return opened
        src.img = opened
    img = src.img
    try:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # the limit above already applied
        try:
            if getattr(img, "n_frames", 1) > 1:
                repairs.append("first_frame_only")
            if src.fmt == "jpeg" and _over_max_side(src, opts):
                img.draft(img.mode, (opts.max_side, opts.max_side))  # DCT-scaled decode, same mode
            img.load()
        finally:
            Image.MAX_IMAGE_PIXELS = saved
        orientation = img.getexif().get(_ORIENTATION, 1)
        transposed = orientation in (5, 6, 7, 8)
        if orientation not in (1, None):
            img = ImageOps.exif_transpose(img)
            repairs.append("exif_orientation")
        img = _to_rgb(img, repairs)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        return _decode_error(exc)
    return img, transposed


def _store(
    data: bytes, img: Image.Image, transposed: bool, src: _Source, opts: ImageOptions, repairs: list[str]
) -> Checked:
    """Hash the decoded RGB pixels; keep the source's bytes when they need no change, else re-encode."""
    width, height = img.size
    pixels = img.tobytes()
    digest = pixel_hash(pixels, width, height)
    rgb = np.frombuffer(pixels, np.uint8).reshape(height, width, 3)
    phash = dhash(rgb)
    # The upright source's size (the decode may have run at a DCT scale).
    measures = _sample(rgb, *((src.height, src.width) if transposed else (src.width, src.height)), opts)
    downscale = _over_max_side(src, opts)
    pixel_repairs = [r for r in repairs if r != "extension_mismatch"]
    if not pixel_repairs and not downscale and src.fmt in ("jpeg", "png") and src.refusal is None:
        return Checked(
            data,
            src.fmt,
            height,
            width,
            hashlib.sha256(data).hexdigest(),
            digest,
            phash,
            repairs,
            quality_sample=measures,
        )
    if src.refusal is not None:
        repairs.append("reencoded_for_tensorflow")
    if downscale:
        img = _downscale(img, src, opts, transposed)
        repairs.append("downscaled")
        out_fmt = "jpeg"
    else:
        if src.fmt not in ("jpeg", "png"):
            repairs.append(f"reencoded_from_{src.fmt}")
        out_fmt = "png" if src.fmt in _LOSSLESS or (src.refusal is not None and src.refusal.lossless) else "jpeg"
    encoded = _encode(img, out_fmt, src, opts, transposed)
    return Checked(
        encoded,
        out_fmt,
        img.size[1],
        img.size[0],
        hashlib.sha256(encoded).hexdigest(),
        digest,
        phash,
        repairs,
        quality_sample=measures,
    )


def _downscale(img: Image.Image, src: _Source, opts: ImageOptions, transposed: bool) -> Image.Image:
    # The target follows the source's (upright) size, whatever scale the decode ran at.
    w0, h0 = (src.height, src.width) if transposed else (src.width, src.height)
    scale = opts.max_side / max(w0, h0)
    size = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
    # Pillow's bilinear filter widens with the reduction (antialiased), at a third of LANCZOS' cost;
    # the reader resizes bilinearly again anyway.
    return img.resize(size, Image.BILINEAR, reducing_gap=2.0)


def _encode(img: Image.Image, out_fmt: str, src: _Source, opts: ImageOptions, transposed: bool) -> bytes:
    # Pixels only: a colour conversion's fresh ICC profile (a CIELAB source's sRGB one carries its
    # creation time) would make two builds differ, and TensorFlow ignores profiles anyway.
    img.info = {}
    buf = io.BytesIO()
    if out_fmt == "jpeg":
        # The JPEG's own tables are read from the image as opened (src.img), not from the repaired one.
        source = _jpeg_encoding(src.img, transposed) if src.fmt == "jpeg" else None
        img.save(buf, "JPEG", **_encoder_settings(opts.jpeg_quality, source))
    else:
        img.save(buf, "PNG", compress_level=3)
    return buf.getvalue()
