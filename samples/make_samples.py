"""Generate the bundled sample dump for ``pipecheck build-tfrecords``.

Run from the repository root::

    .venv/bin/python samples/make_samples.py

It deletes and recreates ``samples/dump/``.  Everything is derived from a fixed
seed and from photographs that ship with scikit-image and scikit-learn, so two
runs produce byte-identical files (no network, no timestamps).

See ``samples/README.md`` for what the dump contains and which files are
deliberately bad.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageEnhance
from sklearn.datasets import load_sample_images

SEED = 20240611
OUT = Path(__file__).resolve().parent / "dump"
JPEG_QUALITY = 85
N_PER_CLASS = 40
MIN_SIDE = 120  # output long sides are 150-420 px (per class, below)

TAG_VOCAB = ["animal", "indoor", "outdoor", "food", "sky", "plant", "artificial"]

# class -> (source name, crop window (x0, y0, x1, y1) in which specimen regions
#           live, specimen region size as a fraction of the window's short side,
#           tag probabilities, output long-side range in px; the range is
#           per class so that JPEG sizes land around 10-40 KB whatever the
#           texture of the source)
CLASSES = {
    "cat": (
        "chelsea",
        (0, 0, 451, 300),
        (0.60, 0.95),
        {"animal": 0.95, "indoor": 0.75, "artificial": 0.10},
        (200, 420),
    ),
    "coffee": (
        "coffee",
        (40, 0, 520, 400),
        (0.55, 0.95),
        {"indoor": 0.90, "artificial": 0.55, "food": 0.22},
        (220, 420),
    ),
    "rocket": (
        "rocket",
        (120, 60, 540, 427),
        (0.55, 0.95),
        {"artificial": 0.90, "outdoor": 0.65, "sky": 0.55},
        (330, 420),
    ),
    "flower": ("flower", (110, 40, 500, 427), (0.55, 0.95), {"plant": 0.95, "outdoor": 0.75}, (220, 420)),
    "temple": (
        "china",
        (0, 20, 400, 427),
        (0.50, 0.90),
        {"artificial": 0.75, "outdoor": 0.90, "plant": 0.35, "sky": 0.20},
        (150, 340),
    ),
    "galaxy": ("hubble", (0, 0, 1000, 872), (0.25, 0.55), {"sky": 0.95, "outdoor": 0.15}, (200, 380)),
}

PHOTOGRAPHERS = ["ana", "ben", "chen", "dara", "eli", "farid"]
CAMERAS = [("X100", [23]), ("EOS R6", [24, 50, 105]), ("D750", [35, 85]), ("A7 III", [28, 55, 90]), ("GR III", [18])]
ISOS = [100, 200, 400, 800, 1600, 3200]
EXPOSURES = [1 / 2000, 1 / 1000, 1 / 500, 1 / 250, 1 / 125, 1 / 60, 1 / 30, 1 / 15, 0.5, 2.0]
ASPECTS = [1.0, 4 / 3, 3 / 4, 3 / 2, 2 / 3]


def load_sources() -> dict[str, np.ndarray]:
    sk = load_sample_images()
    by_name = {Path(f).stem: img for f, img in zip(sk.filenames, sk.images)}
    return {
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
        "rocket": skimage.data.rocket(),
        "hubble": skimage.data.hubble_deep_field(),
        "china": by_name["china"],
        "flower": by_name["flower"],
    }


# ---------------------------------------------------------------- helpers


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, **kw)
    return buf.getvalue()


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def write_bytes(rel: str, data: bytes) -> None:
    path = OUT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_json(rel: str, obj: dict) -> None:
    write_bytes(rel, (json.dumps(obj) + "\n").encode("utf-8"))


class Specimen:
    def __init__(self, sid, species, cx, cy, size, tags, meta, n):
        self.sid, self.species, self.n = sid, species, n  # n regular shots
        self.cx, self.cy, self.size = cx, cy, size
        self.tags, self.meta = tags, meta
        self.members: list[str] = []


def sample_tags(rng, probs: dict[str, float]) -> list[str]:
    chosen = [t for t, p in probs.items() if rng.random() < p]
    if not chosen:
        chosen = [max(probs, key=probs.get)]
    if len(chosen) > 3:
        chosen = sorted(chosen, key=lambda t: -probs[t])[:3]
    return [t for t in TAG_VOCAB if t in chosen]


def sample_meta(rng) -> dict:
    cam, lenses = CAMERAS[rng.integers(len(CAMERAS))]
    return {
        "photographer": PHOTOGRAPHERS[rng.integers(len(PHOTOGRAPHERS))],
        "iso": int(ISOS[rng.integers(len(ISOS))]),
        "exposure": round(float(EXPOSURES[rng.integers(len(EXPOSURES))]), 6),
        "capture": {"camera": cam, "lens_mm": int(lenses[rng.integers(len(lenses))])},
    }


def sidecar(spec: Specimen, rng, tags=None) -> dict:
    tags = list(spec.tags if tags is None else tags)
    # per-image noise: occasionally a tag is left off one shot of a specimen
    if len(tags) > 1 and rng.random() < 0.10:
        tags.pop(int(rng.integers(len(tags))))
    meta = spec.meta
    iso = meta["iso"]
    if rng.random() < 0.3:  # exposure settings drift a little within a shoot
        iso = int(ISOS[rng.integers(len(ISOS))])
    return {
        "species": spec.species,
        "tags": tags,
        "specimen": spec.sid,
        "photographer": meta["photographer"],
        "iso": iso,
        "exposure": meta["exposure"],
        "capture": dict(meta["capture"]),
    }


def render(src: np.ndarray, spec: Specimen, rng, out_long=None) -> Image.Image:
    """One shot of a specimen: a jittered crop of its region, resized + jittered."""
    h, w = src.shape[:2]
    aspect = ASPECTS[rng.integers(len(ASPECTS))]
    size = spec.size * rng.uniform(0.88, 1.12)
    cw = size * np.sqrt(aspect)
    ch = size / np.sqrt(aspect)
    cw, ch = min(cw, w), min(ch, h)
    cx = spec.cx + rng.uniform(-0.08, 0.08) * size
    cy = spec.cy + rng.uniform(-0.08, 0.08) * size
    x0 = int(round(min(max(cx - cw / 2, 0), w - cw)))
    y0 = int(round(min(max(cy - ch / 2, 0), h - ch)))
    x1, y1 = x0 + int(round(cw)), y0 + int(round(ch))
    img = Image.fromarray(src[y0:y1, x0:x1])

    lo, hi = CLASSES[spec.species][4]
    long_side = int(rng.integers(lo, hi + 1)) if out_long is None else out_long
    cw, ch = img.size
    if cw >= ch:
        ow, oh = long_side, max(MIN_SIDE, int(round(long_side * ch / cw)))
    else:
        ow, oh = max(MIN_SIDE, int(round(long_side * cw / ch))), long_side
    img = img.resize((ow, oh), Image.LANCZOS)

    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if spec.species == "galaxy" and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_TOP_BOTTOM)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.9, 1.1))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.85, 1.15))
    return img


# ---------------------------------------------------------------- main


def main() -> None:
    rng = np.random.default_rng(SEED)
    sources = load_sources()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    # 1. specimens: 2-5 shots each, N_PER_CLASS shots per class
    specimens: list[Specimen] = []
    for species, (_, (wx0, wy0, wx1, wy1), (fmin, fmax), tag_p, _) in CLASSES.items():
        short = min(wx1 - wx0, wy1 - wy0)
        sizes = []
        while sum(sizes) < N_PER_CLASS:
            sizes.append(int(rng.integers(2, 5)))  # 2-4; extras below may add a 5th
        while sum(sizes) > N_PER_CLASS:
            i = int(np.argmax(sizes))
            sizes[i] -= 1
        sizes = [s for s in sizes if s > 0]
        assert all(s >= 2 for s in sizes) and sum(sizes) == N_PER_CLASS, sizes
        for n in sizes:
            size = short * rng.uniform(fmin, fmax)
            cx = rng.uniform(wx0 + size / 2, wx1 - size / 2)
            cy = rng.uniform(wy0 + size / 2, wy1 - size / 2)
            specimens.append(Specimen(None, species, cx, cy, size, sample_tags(rng, tag_p), sample_meta(rng), n))

    order = rng.permutation(len(specimens))
    specimens = [specimens[i] for i in order]
    for k, spec in enumerate(specimens, start=1):
        spec.sid = f"S{k:03d}"

    # 2. the regular photos: IMG_0001..IMG_0240; the last two specimens go in batch2/
    idx = 0
    n_total = sum(s.n for s in specimens)
    batch2_from = n_total - specimens[-1].n - specimens[-2].n
    for spec in specimens:
        src = sources[CLASSES[spec.species][0]]
        for _ in range(spec.n):
            idx += 1
            stem = f"IMG_{idx:04d}"
            folder = "batch2/" if idx > batch2_from else ""
            img = render(src, spec, rng)
            write_bytes(f"{folder}{stem}.jpg", jpeg_bytes(img))
            write_json(f"{folder}{stem}.json", sidecar(spec, rng))
            spec.members.append(stem)

    # Extras are attached to specimens that still have room (<= 4 shots) so
    # every specimen keeps 2-5 images.
    def pick(species: str) -> Specimen:
        for spec in specimens[:-2]:  # keep batch2 specimens untouched
            if spec.species == species and len(spec.members) <= 4:
                spec.members.append("extra")
                return spec
        raise RuntimeError(f"no room for an extra {species}")

    def shot(species: str, **kw) -> tuple[Specimen, Image.Image]:
        spec = pick(species)
        return spec, render(sources[CLASSES[spec.species][0]], spec, rng, **kw)

    # 3. exact duplicate: byte-identical copy, same specimen, different stem
    dup_src = specimens[0]
    orig = dup_src.members[0]
    write_bytes(f"DUP_{orig}.jpg", (OUT / f"{orig}.jpg").read_bytes())
    write_bytes(f"DUP_{orig}.json", (OUT / f"{orig}.json").read_bytes())
    dup_src.members.append("dup")

    # 4. repairable inputs (each with a valid sidecar)
    spec, img = shot("cat")
    write_bytes("REPAIR_cmyk.jpg", jpeg_bytes(img.convert("CMYK")))
    write_json("REPAIR_cmyk.json", sidecar(spec, rng))

    spec, img = shot("temple")
    write_bytes("REPAIR_grayscale.jpg", jpeg_bytes(img.convert("L")))
    write_json("REPAIR_grayscale.json", sidecar(spec, rng))

    spec, img = shot("flower")
    pal = img.convert("P", palette=Image.ADAPTIVE, colors=128)
    write_bytes("REPAIR_palette.png", encode(pal, "PNG", optimize=True))
    write_json("REPAIR_palette.json", sidecar(spec, rng))

    spec, img = shot("coffee")
    rgba = img.convert("RGBA")
    a = np.full((img.height, img.width), 255, np.uint8)
    yy, xx = np.mgrid[0 : img.height, 0 : img.width]
    r = min(img.width, img.height) * 0.48
    a[(xx - img.width / 2) ** 2 + (yy - img.height / 2) ** 2 > r * r] = 0  # round vignette
    rgba.putalpha(Image.fromarray(a))
    write_bytes("REPAIR_rgba.png", encode(rgba, "PNG"))
    write_json("REPAIR_rgba.json", sidecar(spec, rng))

    # EXIF orientation 6: pixels stored rotated 90deg CCW; viewers rotate them
    # 90deg CW for display.  Upright image is 360x240 (landscape), stored 240x360.
    spec = pick("cat")
    upright = render(sources["chelsea"], spec, rng, out_long=360)
    if upright.width < upright.height:
        upright = upright.transpose(Image.ROTATE_90)
    upright = upright.resize((360, 240), Image.LANCZOS)
    stored = upright.transpose(Image.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    write_bytes("REPAIR_exif_rotated.jpg", jpeg_bytes(stored, exif=exif))
    write_json("REPAIR_exif_rotated.json", sidecar(spec, rng))

    spec, img = shot("rocket")
    write_bytes("REPAIR_png_named_jpg.jpg", encode(img, "PNG", optimize=True))
    write_json("REPAIR_png_named_jpg.json", sidecar(spec, rng))

    spec, img = shot("flower")
    write_bytes("IMG_0300.JPG", jpeg_bytes(img))
    write_json("IMG_0300.json", sidecar(spec, rng))

    spec, img = shot("galaxy")
    write_bytes("REPAIR_webp.webp", encode(img, "WEBP", quality=80, method=4))
    write_json("REPAIR_webp.json", sidecar(spec, rng))

    spec, img = shot("coffee", out_long=200)
    write_bytes("REPAIR_bmp.bmp", encode(img, "BMP"))
    write_json("REPAIR_bmp.json", sidecar(spec, rng))

    # 5. rejects
    spec = pick("rocket")
    write_bytes("BAD_empty_file.jpg", b"")
    write_json("BAD_empty_file.json", sidecar(spec, rng))

    spec, img = shot("temple")
    full = jpeg_bytes(img)
    write_bytes("BAD_truncated.jpg", full[: len(full) // 2])
    write_json("BAD_truncated.json", sidecar(spec, rng))

    spec = pick("galaxy")
    junk = rng.integers(0, 256, size=20000, dtype=np.uint8).tobytes()
    if junk[:2] == b"\xff\xd8":  # never accidentally a JPEG SOI
        junk = b"\x00" + junk[1:]
    write_bytes("BAD_undecodable.jpg", junk)
    write_json("BAD_undecodable.json", sidecar(spec, rng))

    spec, img = shot("cat")
    write_bytes("BAD_no_sidecar.jpg", jpeg_bytes(img))

    spec = pick("flower")
    write_json("BAD_orphan_sidecar.json", sidecar(spec, rng))

    spec, img = shot("rocket")
    write_bytes("BAD_bad_sidecar.jpg", jpeg_bytes(img))
    broken = json.dumps(sidecar(spec, rng))
    write_bytes("BAD_bad_sidecar.json", (broken[: len(broken) * 2 // 3] + "\n").encode())

    spec, img = shot("coffee")
    write_bytes("BAD_label_missing.jpg", jpeg_bytes(img))
    meta = sidecar(spec, rng)
    del meta["species"], meta["tags"]
    write_json("BAD_label_missing.json", meta)

    spec, img = shot("temple")
    write_bytes("BAD_too_small.jpg", jpeg_bytes(img.resize((16, 16), Image.LANCZOS)))
    write_json("BAD_too_small.json", sidecar(spec, rng))

    spec = pick("galaxy")
    bomb = Image.new("1", (10000, 10000), 0)
    write_bytes("BAD_bomb.png", encode(bomb, "PNG", compress_level=9))
    write_json("BAD_bomb.json", sidecar(spec, rng))

    spec, img = shot("flower")
    write_bytes("IMG_0400.jpg", jpeg_bytes(img))
    write_bytes("IMG_0400.png", encode(img, "PNG", optimize=True))
    write_json("IMG_0400.json", sidecar(spec, rng))

    # 6. OS litter (ignored, counted): fixed bytes, not images
    ds_store = b"\x00\x00\x00\x01Bud1" + bytes(6) + b"\x08\x0b" + bytes(4084)
    write_bytes(".DS_Store", ds_store)
    thumbs = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff" + bytes(4066)
    write_bytes("Thumbs.db", thumbs)
    apple_double = (
        b"\x00\x05\x16\x07\x00\x02\x00\x00"
        + b"Mac OS X        "
        + b"\x00\x02\x00\x00\x00\x09\x00\x00\x00\x32\x00\x00\x0e\xb0"
        + b"\x00\x00\x00\x02\x00\x00\x0e\xe2\x00\x00\x01\x1e"
        + bytes(4000)
    )
    write_bytes("._IMG_0001.jpg", apple_double)

    for spec in specimens:
        assert 2 <= len(spec.members) <= 5, (spec.sid, spec.members)
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files to {OUT}")


if __name__ == "__main__":
    main()
