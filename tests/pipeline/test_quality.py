"""Image quality (pipeline/quality.py) on real photos, measured through the build's own decode.

The photos are the ones scikit-image and scikit-learn ship (no download), saved as JPEG like a
user's files and read by ``images.check_image`` (the build's per-image step), so every measure here
comes from the decode a build runs: libjpeg-turbo straight into numpy for a plain JPEG, Pillow for
a PNG or an EXIF-rotated JPEG, a DCT-scaled decode under ``--max-side``. Each issue is shown present
(a photo with the condition applied is flagged, under the right name) and absent (the clean photo,
and the look-alikes that other tools get wrong, stay silent): a sharp object on a plain white
canvas and a large sharp mosaic are not blurry, a real photo with little colour is not grayscale,
a product shot is neither light nor low information. One end-to-end build reads
``image_quality.jsonl`` for the issues judged over the whole build (odd size and aspect, duplicates).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from pipecheck.pipeline.images import Checked, ImageOptions, check_image
from pipecheck.pipeline.quality import ISSUES, MEASURES, QUALITY_NAME, QualityThresholds, content_issues
from pipecheck.pipeline.spec import QUALITY_FEATURES

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "hubble_deep_field", "immunohistochemistry", "china", "flower")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    """Real colour photos (RGB), by name."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    out = {name: np.asarray(getattr(data, name)())[..., :3] for name in PHOTOS[:6]}
    out.update(china=china, flower=flower)
    return {name: Image.fromarray(np.ascontiguousarray(a)) for name, a in out.items()}


def jpeg(img: Image.Image, quality: int = 90, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def checked(data: bytes, name: str = "photo.jpg", **opts) -> Checked:
    out = check_image(data, name, ImageOptions(**opts))
    assert isinstance(out, Checked), out
    assert len(out.quality) == len(MEASURES)
    return out


def measures(data: bytes, name: str = "photo.jpg", **opts) -> dict[str, float]:
    return dict(zip(MEASURES, checked(data, name, **opts).quality))


def issues(data: bytes, name: str = "photo.jpg", **opts) -> list[str]:
    return content_issues(checked(data, name, **opts).quality, QualityThresholds())


# The conditions, as a photo editor or a bad camera would make them.
def darkened(img: Image.Image) -> Image.Image:
    """Exposure pulled down (about -2.7 stops)."""
    return ImageEnhance.Brightness(img).enhance(0.15)


def washed_out(img: Image.Image) -> Image.Image:
    """Overexposed and washed out: every pixel 80% of the way to white."""
    return Image.blend(img, Image.new("RGB", img.size, (255, 255, 255)), 0.8)


def flattened(img: Image.Image) -> Image.Image:
    """Contrast down to 3%: a near-uniform picture."""
    return ImageEnhance.Contrast(img).enhance(0.03)


def blurred(img: Image.Image, fraction: float) -> Image.Image:
    """Gaussian blur with a sigma of ``fraction`` of the long side."""
    return img.filter(ImageFilter.GaussianBlur(fraction * max(img.size)))


def gray_as_rgb(img: Image.Image) -> Image.Image:
    """Desaturated to gray, kept as an RGB image (the file says RGB)."""
    return img.convert("L").convert("RGB")


def on_canvas(obj: Image.Image, factor: float) -> Image.Image:
    """``obj`` centred on a plain white canvas ``factor`` times its size (a product shot)."""
    w, h = obj.size
    canvas = Image.new("RGB", (round(w * factor), round(h * factor)), (255, 255, 255))
    canvas.paste(obj, ((canvas.width - w) // 2, (canvas.height - h) // 2))
    return canvas


def mosaic(tiles: list[Image.Image], k: int) -> Image.Image:
    """``k`` x ``k`` different photos side by side at their native resolution."""
    tw, th = max(t.width for t in tiles[: k * k]), max(t.height for t in tiles[: k * k])
    out = Image.new("RGB", (tw * k, th * k))
    for i, tile in enumerate(tiles[: k * k]):
        out.paste(tile, ((i % k) * tw, (i // k) * th))
    return out


@pytest.mark.parametrize("name", PHOTOS)
def test_clean_photos_are_silent(photos, name):
    assert issues(jpeg(photos[name])) == []


@pytest.mark.parametrize("name", PHOTOS)
def test_darkened_photo_is_dark(photos, name):
    assert "dark" in issues(jpeg(darkened(photos[name])))


@pytest.mark.parametrize("name", PHOTOS)
def test_washed_out_photo_is_light(photos, name):
    assert "light" in issues(jpeg(washed_out(photos[name])))


@pytest.mark.parametrize(
    ("name", "box"),
    [("chelsea", (0, 0, 225, 150)), ("chelsea", (112, 0, 338, 150)), ("immunohistochemistry", (0, 128, 256, 384))],
)
@pytest.mark.parametrize("condition", [darkened, washed_out])
def test_dim_or_washed_out_photo_is_not_blurry(photos, name, box, condition):
    """Darkened or washed out to a fifth of its contrast, a sharp crop keeps its edges: the edge floor
    follows the contrast (an absolute floor kept only the broad ramps of these crops: 0.30-0.38).
    Its twin, the same crop blurred first, is blurry.
    """
    crop = photos[name].crop(box)
    assert issues(jpeg(crop)) == []
    got = issues(jpeg(condition(crop)))
    assert "blurry" not in got and ("dark" in got or "light" in got)
    assert "blurry" in issues(jpeg(condition(blurred(crop, 0.015))))


def test_dark_sky_photo_is_not_dark(photos):
    """Hubble's deep field is mostly black sky, yet correctly exposed: its bright stars keep it silent."""
    m = measures(jpeg(photos["hubble_deep_field"]))
    assert m["brightness_p50"] < 20
    assert issues(jpeg(photos["hubble_deep_field"])) == []


@pytest.mark.parametrize("name", PHOTOS)
def test_flattened_photo_is_low_information(photos, name):
    assert "low_information" in issues(jpeg(flattened(photos[name])))


def test_plain_patch_is_low_information():
    """A near-uniform region of a real photo (the moon's plain mare) is low information; the whole
    moon photo, whose middle 90% spans a narrow range too, has texture enough to stay silent.
    """
    from skimage import data

    moon = Image.fromarray(data.moon()).convert("RGB")
    assert "low_information" in issues(jpeg(moon.crop((68, 326, 135, 399))))
    m = measures(jpeg(moon))
    assert m["brightness_p95"] - m["brightness_p05"] < QualityThresholds().low_information_range
    assert "low_information" not in issues(jpeg(moon))


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket", "astronaut", "china", "flower"])
def test_product_shot_is_silent(photos, name):
    """A sharp object on a plain white canvas (a quarter of the frame): its luma histogram has under
    3 bits (one white spike), and most of it has no edges, yet it is a normal sharp photo.
    """
    img = photos[name]
    w, h = img.size
    shot = on_canvas(img.crop((w // 6, h // 6, w - w // 6, h - h // 6)), 2.0)
    m = measures(jpeg(shot))
    assert m["entropy"] < QualityThresholds().low_information_entropy  # what a histogram-only rule would flag
    assert issues(jpeg(shot)) == []


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("fraction", [0.01, 0.02])
def test_blurred_photo_is_blurry(photos, name, fraction):
    assert "blurry" in issues(jpeg(blurred(photos[name], fraction)))


def test_small_object_on_large_canvas_is_not_blurry(photos):
    """A product shot whose object fills a ninth of a 1350 px canvas: nearly all of it is plain."""
    w, h = photos["chelsea"].size
    shot = on_canvas(photos["chelsea"].crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)), 3.0)
    assert max(shot.size) > 600
    assert "blurry" not in issues(jpeg(shot))
    assert "blurry" in issues(jpeg(blurred(shot, 0.01)))  # its twin: the same shot, blurred


@pytest.mark.parametrize("k", [2, 3])
def test_large_sharp_mosaic_is_not_blurry(photos, k):
    """2x2 and 3x3 different photos at native resolution (1280 and 1920 px): sharp, whatever the size."""
    tiles = [
        photos[n]
        for n in ("chelsea", "coffee", "rocket", "astronaut", "china", "flower", "flower", "coffee", "chelsea")
    ]
    big = mosaic(tiles, k)
    assert max(big.size) >= 1200
    assert issues(jpeg(big)) == []
    assert issues(jpeg(big), max_side=512) == []  # the DCT-scaled decode
    assert "blurry" in issues(jpeg(blurred(big, 0.01)))


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "china"])
def test_photo_upscaled_3x_is_not_blurry(photos, name):
    """Lanczos 3x: as sharp on the measure's grid as the photo itself (a per-pixel Laplacian says blurry)."""
    img = photos[name]
    up = img.resize((img.width * 3, img.height * 3), Image.LANCZOS)
    assert "blurry" not in issues(jpeg(up))


def test_heavily_compressed_photo_is_not_blurry(photos):
    assert issues(jpeg(photos["china"], quality=15)) == []


@pytest.mark.parametrize("name", PHOTOS)
def test_gray_photo_saved_as_rgb_is_grayscale(photos, name):
    data = jpeg(gray_as_rgb(photos[name]))
    assert Image.open(io.BytesIO(data)).mode == "RGB"  # a file-mode check sees colour
    assert issues(data) == ["grayscale"]


def test_gray_file_is_grayscale(photos):
    data = jpeg(photos["rocket"].convert("L"))
    assert "grayscale_to_rgb" in checked(data).repairs
    assert issues(data) == ["grayscale"]


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket", "china"])
def test_low_saturation_colour_photo_is_not_grayscale(photos, name):
    """A photo keeping a tenth of its colour saturation is muted, not gray."""
    assert issues(jpeg(ImageEnhance.Color(photos[name]).enhance(0.1))) == []


def test_pale_sky_crop_is_not_grayscale(photos):
    """The sky of scikit-learn's china photo: real, nearly colourless, and still colour."""
    sky = photos["china"].crop((347, 99, 587, 263))
    assert measures(jpeg(sky))["gray_spread"] < 40
    assert "grayscale" not in issues(jpeg(sky))


# Same photo through each decode path: measures within these (absolute) tolerances.
TOLERANCE = {
    "brightness_p05": 6,
    "brightness_p50": 6,
    "brightness_p95": 6,
    "contrast": 3,
    "entropy": 0.3,
    "sharpness": 0.12,
    "gray_spread": 25,
    "mean_r": 3,
    "mean_g": 3,
    "mean_b": 3,
    "width": 0,
    "height": 0,
}


def exif_rotated(img: Image.Image, orientation: int = 6) -> bytes:
    """``img`` stored turned (as a camera held sideways writes it) with the EXIF tag that turns it back."""
    turn = {6: Image.ROTATE_90, 8: Image.ROTATE_270, 3: Image.ROTATE_180}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg(img.transpose(turn), exif=exif.tobytes())


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "china", "flower"])
def test_decode_paths_agree(photos, name):
    img = photos[name]
    fast = measures(jpeg(img))
    paths = {
        "png (Pillow)": measures(png(img), "photo.png"),
        "exif 6 (Pillow, turned)": measures(exif_rotated(img)),
        "max-side (DCT 1/2)": measures(jpeg(img), max_side=max(img.size) // 2 - 1),
    }
    assert (fast["width"], fast["height"]) == img.size
    for path, m in paths.items():
        off = {k: (fast[k], m[k]) for k in MEASURES if abs(fast[k] - m[k]) > TOLERANCE[k]}
        assert not off, f"{path}: {off}"


def test_exif_rotated_photo_reports_upright_size(photos):
    img = photos["flower"]  # 640 x 427, landscape
    data = exif_rotated(img, 6)
    assert Image.open(io.BytesIO(data)).size == (427, 640)  # stored portrait
    c = checked(data)
    assert "exif_orientation" in c.repairs
    m = dict(zip(MEASURES, c.quality))
    assert (m["width"], m["height"]) == (640, 427)
    down = dict(zip(MEASURES, checked(data, max_side=300).quality))  # DCT-scaled Pillow decode, turned
    assert (down["width"], down["height"]) == (640, 427)


def test_a_batch_measures_each_image_as_if_alone(photos):
    """A build measures a batch at once (``measure_samples``): every number is the one that image
    gets alone, whatever its neighbours in the batch: portrait next to landscape, a photo under the
    grid's 96 points, rows too few for a Laplacian, a plain patch with no edges.
    """
    from pipecheck.pipeline.quality import measure, measure_samples, sample

    rng = np.random.default_rng(3)
    chelsea, coffee = np.asarray(photos["chelsea"]), np.asarray(photos["coffee"])
    images = [
        chelsea,
        np.ascontiguousarray(coffee.transpose(1, 0, 2)),  # portrait
        np.asarray(photos["astronaut"]),  # square
        np.asarray(blurred(photos["flower"], 0.015)),  # few edges: the soft floor
        np.asarray(photos["rocket"].resize((80, 60))),  # under 96 points a side
        chelsea[:2],  # two rows: no Laplacian
        chelsea[:, :1],  # one column
        np.full((120, 90, 3), 128, np.uint8),  # no edges at all
        np.asarray(gray_as_rgb(photos["china"])),
    ]
    alone = [measure(img, img.shape[1], img.shape[0]) for img in images]
    for order in (range(len(images)), rng.permutation(len(images))):
        batch = measure_samples([sample(images[i]) for i in order], [images[i].shape[1::-1] for i in order])
        assert batch == [alone[i] for i in order]
    assert alone[3][MEASURES.index("sharpness")] < QualityThresholds().blurry_sharpness
    assert alone[5][MEASURES.index("sharpness")] == alone[7][MEASURES.index("sharpness")] == -1


# The measures of four photos as the per-image code of 2026-12-03 (before batches) computed them:
# the batch code must give these very numbers.
PINNED = {
    "chelsea": (61.0, 121.0, 168.0, 32.097, 6.9773, 0.768, 117.0, 147.767, 111.529, 86.914, 451.0, 300.0),
    "coffee_portrait": (12.0, 102.0, 205.0, 58.023, 7.6233, 0.9671, 180.0, 158.401, 85.656, 51.285, 400.0, 600.0),
    "hubble_deep_field": (5.0, 13.0, 52.0, 25.705, 4.9993, 1.0045, 76.0, 18.619, 19.619, 18.929, 1000.0, 872.0),
    "flower": (14.0, 45.0, 181.0, 52.946, 6.8669, 1.0351, 198.0, 55.291, 73.653, 57.167, 640.0, 427.0),
}


def test_batch_gives_the_pinned_measures(photos):
    from pipecheck.pipeline.quality import measure_samples, sample

    images = {name: np.asarray(photos[name]) for name in ("chelsea", "hubble_deep_field", "flower")}
    images["coffee_portrait"] = np.ascontiguousarray(np.asarray(photos["coffee"]).transpose(1, 0, 2))
    names = list(PINNED)
    got = measure_samples([sample(images[n]) for n in names], [images[n].shape[1::-1] for n in names])
    assert dict(zip(names, got)) == PINNED


def test_a_failed_measure_rejects_one_image_not_the_shard(photos, h, tmp_path, monkeypatch):
    """Should measuring ever raise, the image it raised on is rejected (with the error) and the rest
    of its batch is measured and written, as a decoder error rejects one file."""
    from pipecheck.pipeline import images

    dump = tmp_path / "dump"
    dump.mkdir()
    for i, (label, img) in enumerate(crops(photos, 6, seed=2)):
        (dump / f"img_{i}.jpg").write_bytes(jpeg(img.resize((300 + 10 * i, 200))))
        h.write_json(dump / f"img_{i}.json", {"species": label})
    real = images.measure_samples

    def fails_on_330_px(samples, sizes):
        if any(width == 330 for width, _ in sizes):
            raise FloatingPointError("a bug")
        return real(samples, sizes)

    monkeypatch.setattr(images, "measure_samples", fails_on_330_px)
    out = tmp_path / "out"
    result = h.build(dump, out, label_field="species", val_fraction=0.0, workers=1)
    assert result.accounting["written"] == 5
    (reject,) = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert reject["reason"] == "undecodable" and "quality measures: FloatingPointError: a bug" in reject["detail"]
    assert reject["path"] == "img_3.jpg"
    assert all(len(r["quality/width"]) == 1 for r in h.records(out))


def test_batch_size_does_not_change_the_records(photos, h, tmp_path, monkeypatch):
    """The shard writer's quality batches (``shards.QUALITY_BATCH``) leave the shards byte-identical,
    with a rejected file, a PNG (Pillow's decode) and a turned photo among the batches' images."""
    from pipecheck.pipeline import shards

    dump = tmp_path / "dump"
    dump.mkdir()
    for i, (label, img) in enumerate(crops(photos, 12, seed=4)):
        data = jpeg(img if i % 3 else img.transpose(Image.Transpose.ROTATE_90))
        ext = ".jpg"
        if i == 4:
            data = data[: len(data) // 2]  # truncated: rejected mid-batch
        elif i == 7:
            data, ext = png(img), ".png"
        elif i == 9:
            data = exif_rotated(img)
        (dump / f"img_{i:02d}{ext}").write_bytes(data)
        h.write_json(dump / f"img_{i:02d}.json", {"species": label})
    shard_bytes = {}
    for size in (1, 5, shards.QUALITY_BATCH):
        monkeypatch.setattr(shards, "QUALITY_BATCH", size)
        out = tmp_path / f"out_{size}"
        result = h.build(dump, out, label_field="species", val_fraction=0.0, workers=1)
        assert result.accounting["written"] == 11
        shard_bytes[size] = {p.name: p.read_bytes() for p in sorted(out.rglob("*.tfrecord"))}
    assert shard_bytes[1] and shard_bytes[1] == shard_bytes[5] == shard_bytes[shards.QUALITY_BATCH]


# ----------------------------------------------------------------------------------------------
# End to end: a build over a dump of real photos, read back from image_quality.jsonl.


def crops(photos: dict[str, Image.Image], n: int, seed: int) -> list[tuple[str, Image.Image]]:
    """``n`` crops (different regions of the photos), resized to a long side of 420-560 px."""
    rng = np.random.default_rng(seed)
    names = list(photos)
    out = []
    for i in range(n):
        name = names[i % len(names)]
        img = photos[name]
        # One region per round over the photos: left/right halves, top/bottom, centre.
        k = i // len(names)
        fx, fy = [(0.0, 0.0), (0.4, 0.4), (0.0, 0.4), (0.4, 0.0)][k % 4]
        box = (int(fx * img.width), int(fy * img.height), int((fx + 0.6) * img.width), int((fy + 0.6) * img.height))
        side = int(rng.integers(420, 561))
        crop = img.crop(box)
        scale = side / max(crop.size)
        out.append((name, crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS)))
    return out


@pytest.fixture(scope="module")
def quality_build(photos, tmp_path_factory, h):
    """A dump of 20 clean crops plus one image per condition; built once. Returns (out, expected)."""
    dump = tmp_path_factory.mktemp("quality_dump")
    clean = crops(photos, 32, seed=1)
    expected: dict[str, set[str]] = {}

    def add(stem: str, label: str, data: bytes, ext: str, want: set[str]) -> None:
        (dump / f"{stem}{ext}").write_bytes(data)
        h.write_json(dump / f"{stem}.json", {"species": label})
        expected[stem] = want

    for i, (label, img) in enumerate(clean[:20]):
        add(f"clean_{i:02d}", label, jpeg(img), ".jpg", set())
    spare = iter(clean[20:])  # other regions, so no injected image is a near copy of a clean one
    conditions = {
        "dark": darkened,
        "light": washed_out,
        "low_information": flattened,
        "blurry": lambda img: blurred(img, 0.015),
        "grayscale": gray_as_rgb,
    }
    for issue, make in conditions.items():
        label, img = next(spare)
        add(f"cond_{issue}", label, jpeg(make(img)), ".jpg", {issue})
    label, img = next(spare)
    add("cond_stretched", label, jpeg(img.resize((800, 200), Image.LANCZOS)), ".jpg", {"odd_aspect_ratio"})
    label, img = next(spare)
    tiny = img.crop((0, 0, min(img.width, img.height * 5 // 4), img.height)).resize((40, 32), Image.LANCZOS)
    add("cond_tiny", label, jpeg(tiny), ".jpg", {"odd_size"})  # over --min-side 32
    big = mosaic([photos[n] for n in ("china", "flower", "rocket", "coffee")], 2)  # 1280 x 854, sharp
    add(
        "cond_huge",
        "china",
        jpeg(big.resize((big.width * 3 // 2, big.height * 3 // 2), Image.LANCZOS)),
        ".jpg",
        {"odd_size"},
    )
    # Duplicates: the pixels of one JPEG saved again as PNG (exact); another re-compressed and one resized (near).
    label, img = next(spare)
    original = jpeg(img)
    add("dup_exact_a", label, original, ".jpg", {"exact_duplicate"})
    add("dup_exact_b", label, png(Image.open(io.BytesIO(original)).convert("RGB")), ".png", {"exact_duplicate"})
    # Not the Hubble crop: on a black starfield the difference hash follows JPEG noise (re-compression
    # flips 6-10 of its 64 bits), so near copies of it are missed.
    label, img = next((label, img) for label, img in spare if label != "hubble_deep_field")
    add("dup_near_a", label, jpeg(img), ".jpg", {"near_duplicate"})
    add("dup_near_b", label, jpeg(img, quality=60), ".jpg", {"near_duplicate"})
    add(
        "dup_near_c",
        label,
        jpeg(img.resize((img.width * 19 // 20, img.height * 19 // 20), Image.LANCZOS)),
        ".jpg",
        {"near_duplicate"},
    )
    out = tmp_path_factory.mktemp("quality_out") / "out"
    result = h.build(dump, out, label_field="species", val_fraction=0.2, seed=0)
    assert result.accounting["written"] == len(expected), result.accounting
    return dump, out, expected


def flagged(out: Path) -> dict[str, dict]:
    lines = (out / QUALITY_NAME).read_text().splitlines()
    return {row["id"]: row for row in map(json.loads, lines)}


def test_build_flags_each_condition_and_nothing_else(quality_build):
    _, out, expected = quality_build
    rows = flagged(out)
    got = {stem: set(rows[stem]["issues"]) if stem in rows else set() for stem in expected}
    # Each injected condition is found under its name; a flattened image has no colour left either,
    # and a darkened one few levels.
    allowed_extra = {"cond_low_information": {"grayscale"}, "cond_dark": {"low_information"}}
    wrong = {
        stem: (sorted(want), sorted(got[stem]))
        for stem, want in expected.items()
        if not want <= got[stem] or got[stem] - want - allowed_extra.get(stem, set())
    }
    assert not wrong, wrong
    assert not any(stem.startswith("clean_") for stem in rows)  # the healthy twins are silent


def test_build_lines_carry_scores_labels_and_partners(quality_build):
    _, out, expected = quality_build
    rows = flagged(out)
    assert rows["cond_tiny"]["scores"]["width"] == 40
    assert rows["cond_huge"]["scores"]["width"] == 1920
    assert rows["cond_blurry"]["scores"]["sharpness"] < QualityThresholds().blurry_sharpness
    assert rows["cond_dark"]["labels"] and set(rows["cond_dark"]) >= {"id", "split", "labels", "issues", "scores"}
    assert [d.split(":", 1)[1] for d in rows["dup_exact_a"]["duplicates"]] == ["dup_exact_b"]
    assert {d.split(":", 1)[1] for d in rows["dup_near_b"]["duplicates"]} == {"dup_near_a", "dup_near_c"}
    summary = json.loads((out / "dataset.json").read_text())["image_quality"]
    assert summary["measured"] == len(expected)
    assert summary["flagged"] == len(rows)
    assert set(summary["issues"]) == set(ISSUES)
    assert summary["issues"]["odd_size"] == 2 and summary["issues"]["exact_duplicate"] == 2
    lo, hi = summary["fences"]["long_side"]
    assert lo > 40 and hi < 1920


def test_build_without_quality_writes_no_quality(quality_build, h, tmp_path):
    dump, out, _ = quality_build
    plain = tmp_path / "plain"
    h.build(dump, plain, label_field="species", val_fraction=0.2, seed=0, quality=False)
    assert not (plain / QUALITY_NAME).exists()
    assert "image_quality" not in json.loads((plain / "dataset.json").read_text())
    assert not any(key.encode() in first_record(plain) for key in QUALITY_FEATURES)
    assert all(key.encode() in first_record(out) for key in QUALITY_FEATURES)


def first_record(out: Path) -> bytes:
    """The first record of a build's first shard, as raw protobuf bytes (feature keys appear as text)."""
    from pipecheck.pipeline.manifest import read_manifest
    from pipecheck.pipeline.spec import iter_records

    split = next(iter(read_manifest(out)["splits"].values()))
    return next(iter(iter_records(str(out / split["shards"][0]["file"]))))
