"""image_quality: the build's quality measures judged per issue, per class and per split, on real photos.

Every dump is made of crops of the photographs scikit-image and scikit-learn ship (one class per
photo, 30 images a class: 20 train and 10 val through a ``split`` field), some of them transformed
the way real captures go wrong: darkened, overexposed, flattened, blurred, desaturated to gray but
saved as RGB, stretched, shrunk. The healthy base build must be silent; each firing build is the base
with one thing changed. Builds are made once per module and shared.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pipecheck.pipeline import quality
from pipecheck.pipeline.errors import InputError
from pipecheck.validators import registry
from pipecheck.validators.image_quality import (
    CLASS_CONCENTRATED,
    DRIFT,
    ISSUE_CHECKS,
    NOT_MEASURED,
    PER_IMAGE,
    SPLIT_CONCENTRATED,
    ImageQualityThresholds,
    check_image_quality,
    parse_thresholds,
)
from pipecheck.validators.image_quality.flags import Judged
from pipecheck.validators.image_quality.statistics import drift, split_concentrated

CLASSES = ("cat", "coffee", "rocket", "astronaut", "temple", "flower")
PER_CLASS = 30  # 20 train + 10 val


def sources() -> dict[str, Image.Image]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    arrays = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut(), china, flower]
    return {name: Image.fromarray(np.asarray(a)[..., :3]) for name, a in zip(CLASSES, arrays)}


def crop(src: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A crop of at least half the photo each way, resized to a long side of 160-320 px, aspect 0.75-1.33."""
    w, h = src.size
    side, aspect = int(rng.integers(160, 321)), float(rng.uniform(0.75, 1.33))
    cw, ch = int(rng.integers(w // 2, w + 1)), int(rng.integers(h // 2, h + 1))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return src.crop((x, y, x + cw, y + ch)).resize((side, max(120, int(side / aspect))), Image.BILINEAR)


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).astype(np.float32)


def darken(img: Image.Image) -> Image.Image:
    return Image.fromarray((pixels(img) * 0.12).astype(np.uint8))


def overexpose(img: Image.Image) -> Image.Image:
    return Image.fromarray((255 - (255 - pixels(img)) * 0.15).astype(np.uint8))


def brighten(img: Image.Image) -> Image.Image:
    """A lift of the shadows (another exposure), far from washed out."""
    return Image.fromarray((255 - (255 - pixels(img)) * 0.6).astype(np.uint8))


def flatten(img: Image.Image) -> Image.Image:
    """The photo at 4% of its contrast around its mean colour: a nearly blank frame."""
    a = pixels(img)
    return Image.fromarray((a.mean(axis=(0, 1)) + 0.04 * (a - a.mean(axis=(0, 1)))).astype(np.uint8))


def blur(img: Image.Image) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(3))


def gray(img: Image.Image) -> Image.Image:
    return img.convert("L").convert("RGB")


def stretch(img: Image.Image) -> Image.Image:
    return img.resize((600, 120), Image.BILINEAR)


def shrink(img: Image.Image) -> Image.Image:
    return img.resize((44, 36), Image.BILINEAR)


PLANTS = {  # issue -> transform; three images each, in train and val, of three classes
    "dark": darken,
    "light": overexpose,
    "low_information": flatten,
    "blurry": blur,
    "grayscale": gray,
    "odd_aspect_ratio": stretch,
    "odd_size": shrink,
}


def encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def base_rows(src: dict[str, Image.Image], change=None) -> list[tuple[str, dict, Image.Image]]:
    """The healthy base: 30 crops a class, every third in val; ``change(cls, split, img)`` transforms."""
    rng = np.random.default_rng(0)
    rows = []
    for cls in CLASSES:
        for i in range(PER_CLASS):
            split = "val" if i % 3 == 0 else "train"
            img = crop(src[cls], rng)
            rows.append((f"{cls}_{i:02d}", {"label": cls, "split": split}, change(cls, split, img) if change else img))
    return rows


def sharp_rows(src: dict[str, Image.Image]) -> list[tuple[str, dict, Image.Image]]:
    """Sharp images that a per-pixel blur measure calls blurry: an object on a plain background, a photo
    upscaled 3x, and a 2x2 mosaic of photos at their native resolution."""
    plain = Image.new("RGB", (320, 320), (200, 180, 150))
    plain.paste(src["astronaut"].crop((150, 50, 350, 250)).resize((160, 160)), (80, 80))
    up3 = src["cat"].crop((100, 50, 300, 200)).resize((600, 450), Image.BICUBIC)
    mosaic = Image.new("RGB", (1024, 1024))
    tiles = [src["astronaut"], src["rocket"].crop((0, 0, 512, 512)), src["coffee"].crop((0, 0, 512, 400))]
    for k, tile in enumerate([*tiles, src["cat"]]):
        mosaic.paste(tile.crop((0, 0, 512, 512)), ((k % 2) * 512, (k // 2) * 512))
    return [
        ("sharp_plain", {"label": "astronaut", "split": "train"}, plain),
        ("sharp_up3", {"label": "cat", "split": "train"}, up3),
        ("sharp_mosaic", {"label": "rocket", "split": "val"}, mosaic),
    ]


def planted_rows(src: dict[str, Image.Image]) -> list[tuple[str, dict, Image.Image]]:
    rng = np.random.default_rng(1)
    rows = []
    for n, (issue, transform) in enumerate(PLANTS.items()):
        for k in range(3):
            cls = CLASSES[(n + 2 * k) % len(CLASSES)]
            rows.append(
                (f"{issue}_{k}", {"label": cls, "split": "val" if k == 1 else "train"}, transform(crop(src[cls], rng)))
            )
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory, vh):
    """``built(name)``: the build of one of this module's dumps, made on first use."""
    src = sources()
    dumps = {
        "base": lambda: base_rows(src),
        "issues": lambda: base_rows(src) + planted_rows(src) + sharp_rows(src) + duplicate_row(src),
        "val_dark": lambda: base_rows(src, lambda c, s, img: darken(img) if (c, s) == ("cat", "val") else img),
        "cat_dark": lambda: base_rows(src, lambda c, s, img: darken(img) if c == "cat" else img),
        "val_bright": lambda: base_rows(src, lambda c, s, img: brighten(img) if s == "val" else img),
        "no_quality": lambda: base_rows(src)[:40],
    }
    done: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in done:
            root = tmp_path_factory.mktemp(name)
            rows = []
            for stem, meta, img in dumps[name]():
                lossless = stem.startswith("low_information")  # JPEG noise would add information back
                rows.append((stem, meta, encode(img, "PNG" if lossless else "JPEG"), ".png" if lossless else ".jpg"))
            vh.write_all(root / "dump", rows)
            kw = {"quality": False} if name == "no_quality" else {}
            done[name] = vh.build(root / "dump", root / "out", label_field="label", split_field="split", **kw).out_dir
        return done[name]

    return get


def duplicate_row(src: dict[str, Image.Image]) -> list[tuple[str, dict, Image.Image]]:
    """A copy of a train image (``cat_01``) in val: leakage's finding; image quality only counts it."""
    (row,) = [r for r in base_rows(src) if r[0] == "cat_01"]
    return [("copy_of_cat_01", {"label": "cat", "split": "val"}, row[2])]


@pytest.fixture(scope="module")
def judged(built):
    """``judged(name, *overrides)``: ``check_image_quality``'s findings and summary of a build."""
    cache = {}

    def get(name: str, *overrides: str):
        if (name, overrides) not in cache:
            cache[(name, overrides)] = check_image_quality(built(name), *parse_thresholds(overrides))
        return cache[(name, overrides)]

    return get


def of(findings, handle):
    return [f for f in findings if f.check == handle.id]


def assert_declared(finding):
    info = registry.get(finding.check)
    assert finding.hint == info.hint and finding.hint
    assert finding.severity == info.severity


# --------------------------------------------------------------------------- healthy base: silent
def test_the_healthy_base_build_is_silent(judged):
    findings, summary = judged("base")
    assert findings == []
    assert summary["images"] == summary["measured"] == len(CLASSES) * PER_CLASS
    # (crops of one photo overlap, so some are near duplicates: counted in the summary, judged by leakage)
    assert all(summary["issues"][issue]["count"] == 0 for issue in PER_IMAGE), summary["issues"]
    assert len(summary["drift"]) == 7 and not any(d["flagged"] for d in summary["drift"])


# --------------------------------------------------------------------------- one finding per issue type
@pytest.mark.parametrize("issue", PER_IMAGE)
def test_each_planted_issue_fires_its_own_info_finding(judged, issue):
    findings, summary = judged("issues")
    (f,) = of(findings, ISSUE_CHECKS[issue])
    assert f.check == f"image_quality.{issue}" and f.severity.value == "info"
    assert_declared(f)
    flagged = set(f.evidence["examples"])
    assert f.evidence["count"] == len(flagged) <= 8  # every flagged image is listed
    planted = {f"{'val' if k == 1 else 'train'}:{issue}_{k}" for k in range(3)}
    assert planted <= flagged
    # nothing of the healthy base is flagged, whatever else a planted image also shows
    assert not {e for e in flagged if e.split(":")[1].startswith(CLASSES)}
    assert f.evidence["by_split"]["val"] >= 1 and sum(f.evidence["by_split"].values()) == f.evidence["count"]
    assert summary["issues"][issue]["count"] == f.evidence["count"]


def test_sharp_photos_on_plain_backgrounds_and_large_sharp_photos_are_not_blurry(judged):
    findings, summary = judged("issues")
    (f,) = of(findings, ISSUE_CHECKS["blurry"])
    assert not any("sharp_" in e for e in f.evidence["examples"])
    assert not any(e["id"].startswith("sharp_") for e in summary["issues"]["blurry"]["examples"])
    # and they were measured: the plain background really is plain, the mosaic really is large
    scores = {e["id"]: e["scores"] for e in summary["issues"]["odd_size"]["examples"]}
    assert scores["sharp_mosaic"]["width"] == 1024 and scores["sharp_mosaic"]["sharpness"] >= 0.35


def test_duplicates_are_counted_in_the_summary_but_are_leakages_findings(judged):
    findings, summary = judged("issues")
    assert {f.check.split(".")[1] for f in findings} <= {*PER_IMAGE, "class_concentrated"}
    exact = summary["issues"]["exact_duplicate"]
    assert exact["count"] == 2 and exact["by_split"] == {"train": 1, "val": 1}
    assert {(e["split"], e["id"], tuple(e["duplicates"])) for e in exact["examples"]} == {
        ("train", "cat_01", ("val:copy_of_cat_01",)),
        ("val", "copy_of_cat_01", ("train:cat_01",)),
    }


# --------------------------------------------------------------------------- split concentration
def test_one_class_dark_only_in_val_is_split_concentrated(judged):
    findings, _ = judged("val_dark")
    (f,) = of(findings, SPLIT_CONCENTRATED)
    assert_declared(f)
    assert f.severity.value == "warning" and f.subject == "val vs train: dark"
    (cls,) = f.evidence["classes"]
    assert cls["class"] == "cat" and cls["val"] == [10, 10] and cls["train"] == [0, 20]
    assert cls["p_value"] < 0.05 / f.evidence["tests"]
    assert "cat: 10/10 in val vs 0/20 in train" in f.message


def test_the_same_class_dark_in_every_split_is_not_split_concentrated(judged):
    findings, _ = judged("cat_dark")
    assert of(findings, SPLIT_CONCENTRATED) == []
    (dark,) = of(findings, ISSUE_CHECKS["dark"])
    assert dark.evidence["by_split"] == {"train": 20, "val": 10}


def test_a_class_too_small_for_the_floor_stays_silent(judged):
    # 10 val images per class: below split_min_images=11 the test is not made at all
    findings, _ = judged("val_dark", "split_min_images=11")
    assert of(findings, SPLIT_CONCENTRATED) == []


# --------------------------------------------------------------------------- class concentration
def test_an_issue_held_by_one_class_is_class_concentrated(judged):
    findings, _ = judged("cat_dark")
    (f,) = of(findings, CLASS_CONCENTRATED)
    assert_declared(f)
    assert f.severity.value == "info" and f.subject == "cat: dark"
    assert (f.evidence["flagged_in_class"], f.evidence["flagged"], f.evidence["class_images"]) == (30, 30, 30)


def test_an_issue_spread_over_classes_is_not_class_concentrated(judged):
    findings, _ = judged("issues")  # three images per issue, three classes each
    assert of(findings, CLASS_CONCENTRATED) == []


# --------------------------------------------------------------------------- drift
def test_val_brightened_as_a_whole_drifts_from_train(judged):
    findings, summary = judged("val_bright")
    (f,) = of(findings, DRIFT)
    assert_declared(f)
    assert f.severity.value == "warning" and f.subject == "train vs val"
    props = {p["property"]: p for p in f.evidence["properties"]}
    assert "brightness_p50" in props and "long_side" not in props and "aspect_ratio" not in props
    b = props["brightness_p50"]
    assert b["statistic"] >= 0.2 and b["p_value"] < 0.05 / f.evidence["tests"] and b["median_b"] > b["median_a"]
    flagged = {d["property"] for d in summary["drift"] if d["flagged"]}
    assert flagged == set(props)
    assert of(findings, ISSUE_CHECKS["light"]) == []  # lifted, not washed out


def test_drift_needs_a_medium_effect_not_only_a_small_p(judged):
    findings, _ = judged("val_bright", "drift_min_effect=1.0")
    assert of(findings, DRIFT) == []


# --------------------------------------------------------------------------- thresholds
def test_thresholds_are_recomputed_from_the_records_without_a_rebuild(judged):
    findings, summary = judged("base", "blurry_sharpness=5")  # every image is now "blurry"
    (f,) = of(findings, ISSUE_CHECKS["blurry"])
    assert f.evidence["count"] == summary["measured"] == len(CLASSES) * PER_CLASS
    assert summary["thresholds"]["blurry_sharpness"] == 5.0


def test_odd_aspect_ratio_names_the_thresholds_that_decide_it(judged):
    """The aspect band is aspect_factor times the upper quartile of the elongation: ``fence`` plays no
    part, so the finding and the check's summary must not send a user to it."""
    (f,) = of(judged("issues")[0], ISSUE_CHECKS["odd_aspect_ratio"])
    (g,) = of(judged("issues", "fence=100")[0], ISSUE_CHECKS["odd_aspect_ratio"])
    assert g.evidence["examples"] == f.evidence["examples"]  # fence changes nothing here
    assert set(f.evidence["thresholds"]) == {"aspect_factor", "min_images"}
    assert "aspect_factor" in registry.get(f.check).summary and "fence" not in registry.get(f.check).summary
    (size,) = of(judged("issues")[0], ISSUE_CHECKS["odd_size"])
    assert {"fence", "size_factor"} <= set(size.evidence["thresholds"])
    assert "size_factor" in registry.get(size.check).summary


def test_validate_judges_the_numbers_the_build_measured(built):
    """The records hold the measures as float32; validate flags on the decimals the build measured and
    wrote to image_quality.jsonl, so a threshold set to an image's own score agrees with the build's."""
    from pipecheck.validators.image_quality.flags import read_judged

    out = built("issues")
    with open(f"{out}/{quality.QUALITY_NAME}", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    j = read_judged(out, quality.QualityThresholds())
    row = {(s, i): k for k, (s, i) in enumerate(zip(j.m.splits, j.m.ids))}
    measured = [line for line in lines if "scores" in line]
    assert measured
    for line in measured:
        assert dict(zip(quality.MEASURES, j.m.scores[row[line["split"], line["id"]]])) == line["scores"], line["id"]
    # an image whose sharpness is not a float32 (so the stored value lies just below it)
    line = next(x for x in measured if float(np.float32(x["scores"]["sharpness"])) != x["scores"]["sharpness"])
    k, s = row[line["split"], line["id"]], line["scores"]["sharpness"]
    assert "blurry" not in read_judged(out, quality.QualityThresholds(blurry_sharpness=s)).issues[k]  # below, not at
    assert "blurry" in read_judged(out, quality.QualityThresholds(blurry_sharpness=s + 1e-4)).issues[k]


def test_both_threshold_objects_parse_from_one_namespace():
    flags, judge = parse_thresholds(["dark_p95=30", "alpha=0.01", "split-min-images=4"])
    assert flags == {"dark_p95": 30.0}  # only the names given: laid over the build's own thresholds
    assert judge == ImageQualityThresholds(alpha=0.01, split_min_images=4)
    assert parse_thresholds([]) == ({}, ImageQualityThresholds())


@pytest.mark.parametrize(
    "pair, says",
    [
        ("darkness=3", "NAME one of dark_p95"),
        ("alpha", "NAME one of"),
        ("alpha=x", "not a number"),
        ("alpha=2", "between"),
    ],
)
def test_a_bad_threshold_is_a_one_line_input_error(pair, says):
    with pytest.raises(InputError, match=says) as err:
        parse_thresholds([pair])
    assert "\n" not in str(err.value) and repr(pair) in str(err.value)
    if says.startswith("NAME"):  # both objects' names, in one list
        assert "dark_p95" in str(err.value) and "drift_min_effect" in str(err.value)


def test_the_guide_lists_every_threshold_with_its_default():
    import dataclasses
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide.split("\n## Image quality\n", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for names, defaults in re.findall(r"^\| (`[a-z_0-9]+`(?:, `[a-z_0-9]+`)*) \| ([0-9., ]+) \|", section, re.M):
        listed.update(zip(re.findall(r"`([a-z_0-9]+)`", names), (float(d) for d in defaults.split(","))))
    defaults = {**dataclasses.asdict(quality.QualityThresholds()), **dataclasses.asdict(ImageQualityThresholds())}
    assert listed == {k: float(v) for k, v in defaults.items()}, "update the thresholds table in docs/guide.md"


def test_a_bad_threshold_on_the_command_line_exits_2_with_one_line(tmp_path):
    from click.testing import CliRunner

    from pipecheck.cli import cli

    result = CliRunner().invoke(cli, ["validate", "--data", str(tmp_path), "--quality-threshold", "nope=1"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("pipecheck: error: --quality-threshold 'nope=1'")


# --------------------------------------------------------------------------- builds without measures
def test_a_build_without_quality_features_says_how_to_get_them(judged):
    findings, summary = judged("no_quality")
    (f,) = findings
    assert f.check == NOT_MEASURED.id and f.severity.value == "info" and "--no-quality" in f.hint
    assert summary["measured"] == 0 and summary["images"] == 40 and summary["drift"] == []
    assert of(judged("base")[0], NOT_MEASURED) == []


# --------------------------------------------------------------------------- the summary and the runner
def test_the_summary_follows_the_contract_and_stays_bounded(judged):
    _, summary = judged("issues")
    json.dumps(summary)
    assert list(summary["issues"]) == list(quality.ISSUES)
    assert set(summary) >= {"data_dir", "images", "measured", "thresholds", "fences", "issues", "class_rates", "drift"}
    assert all(len(v["examples"]) <= 8 for v in summary["issues"].values())
    assert summary["class_rates"]["dark"]  # per class, per split: [flagged, images]
    for per_split in summary["class_rates"]["dark"].values():
        assert all(0 <= k <= n for k, n in per_split.values())
    worst = [e["scores"]["brightness_p95"] for e in summary["issues"]["dark"]["examples"]]
    assert worst == sorted(worst)  # the darkest first


def test_validate_runs_the_family_and_lists_its_checks(built):
    from pipecheck.validators.runners.validate import ValidateOptions, run_validate

    report = run_validate(ValidateOptions(data_dir=built("val_dark"), quality_thresholds=("alpha=0.01",)))
    assert set(registry.ids("image_quality")) <= set(report.checks_run)
    assert report.summary["image_quality"]["judgement"]["alpha"] == 0.01
    assert [f.check for f in report.findings if f.check == SPLIT_CONCENTRATED.id] == [SPLIT_CONCENTRATED.id]


def test_the_sample_build_gives_image_quality_information_only(sample_build):
    findings, summary = check_image_quality(sample_build.out_dir)
    assert summary["measured"] == summary["images"] > 0
    assert {f.severity.value for f in findings} <= {"info"}


# --------------------------------------------------------------------------- synthetic measures (statistics)
def synthetic(groups: list[int], splits: list[str], labels: list[str], rng, issues=None, sides=None) -> Judged:
    """Measures drawn healthy per image (brightness ~ N(120, 30)), ``sides[i]`` = (width, height)."""
    n = len(splits)
    s = np.zeros((n, len(quality.MEASURES)))
    b = rng.normal(120, 30, n)
    for name in ("brightness_p50", "mean_r", "mean_g", "mean_b"):
        s[:, quality.column(name)] = b + (0 if name == "brightness_p50" else rng.normal(0, 10, n))
    s[:, quality.column("contrast")] = rng.normal(50, 12, n)
    s[:, quality.column("width")], s[:, quality.column("height")] = np.asarray(sides or [(1600, 1200)] * n).T
    m = quality.Measured([str(i) for i in range(n)], list(splits), [[c] for c in labels], s.tolist(), [""] * n, [0] * n)
    return Judged(m, ["train", "val"], issues or [[] for _ in range(n)], {}, None, list(range(n)), groups)


def sessions(n_groups=40, per=25, val=range(8)):
    groups = [g for g in range(n_groups) for _ in range(per)]
    return [str(g) for g in groups], ["val" if g in val else "train" for g in groups]


def test_a_grouped_build_judges_drift_on_groups_not_on_their_images():
    # 8 of 40 sessions own a 4000x3000 camera, the rest 1920x1080; val holds 4 of each: 200 val images
    # against 800 look like a shift (D = 0.375), 8 sessions against 32 do not
    groups, splits = sessions()
    sides = [(4000, 3000) if int(g) in (*range(4), *range(20, 24)) else (1920, 1080) for g in groups]
    j = synthetic(groups, splits, ["a"] * len(groups), np.random.default_rng(0), sides=sides)
    t = ImageQualityThresholds()
    assert drift(dataclasses.replace(j, groups=None), t)[0]  # image by image: the false alarm
    findings, rows = drift(j, t)
    assert findings == [] and {r["n_b"] for r in rows} == {8}


def test_a_grouped_build_still_drifts_when_val_sessions_are_darker():
    groups, splits = sessions()
    j = synthetic(groups, splits, ["a"] * len(groups), np.random.default_rng(1))
    for i, s in enumerate(splits):
        if s == "val":
            for name in ("brightness_p50", "mean_r", "mean_g", "mean_b"):
                j.m.scores[i][quality.column(name)] -= 60
    (f,) = drift(j, ImageQualityThresholds())[0]
    assert f.evidence["unit"] == "group median"
    assert "brightness_p50" in {p["property"] for p in f.evidence["properties"]}


def night(groups, splits, night_groups, rng, labels=None):
    labels = labels or [f"c{i % 3}" for i in range(len(groups))]
    issues = [["dark"] if int(g) in night_groups else [] for g in groups]
    return synthetic(groups, splits, labels, rng, issues=issues)


def test_a_grouped_build_counts_night_sessions_not_their_images():
    # 60 sessions x 25, val 12; 3 of 6 night sessions land in val: 3/12 against 3/48 sessions is a
    # draw of a healthy group split, 75/300 images against 75/1200 is not
    groups, splits = sessions(60, 25, range(12))
    j = night(groups, splits, {0, 1, 2, 30, 31, 32}, np.random.default_rng(2))
    t = ImageQualityThresholds(split_min_difference=0.15)
    assert split_concentrated(dataclasses.replace(j, groups=None), t)  # image by image: the false alarm
    assert split_concentrated(j, t) == []


def test_a_grouped_build_still_fires_when_one_class_is_dark_in_every_val_session():
    groups, splits = sessions(60, 25, range(12))
    j = night(groups, splits, set(), np.random.default_rng(3))
    for i, s in enumerate(splits):
        if s == "val" and j.m.labels[i] == ["c0"]:
            j.issues[i] = ["dark"]
    (f,) = [f for f in split_concentrated(j, ImageQualityThresholds()) if "all classes" not in f.subject]
    assert f.evidence["unit"] == "group" and f.evidence["classes"][0]["val"] == [12, 12]


def small_class(dark_val: int):
    # the issue's example: a class of 60 images, val 0.1; dark_val of its 6 val images dark, none of 54 train
    labels = [f"c{i % 6}" for i in range(360)]
    splits = ["val" if i // 6 % 10 == 0 else "train" for i in range(360)]
    issues = [["dark"] if (c, s) == ("c0", "val") else [] for c, s in zip(labels, splits)]
    k = [i for i, x in enumerate(issues) if x]
    for i in k[dark_val:]:
        issues[i] = []
    return synthetic(None, splits, labels, np.random.default_rng(4), issues=issues)


def test_six_dark_val_images_of_a_small_class_are_split_concentrated():
    (f,) = split_concentrated(small_class(6), ImageQualityThresholds())
    assert f.evidence["classes"][0] == {**f.evidence["classes"][0], "class": "c0", "val": [6, 6], "train": [0, 54]}


def test_one_dark_val_image_of_a_small_class_is_not():
    assert split_concentrated(small_class(1), ImageQualityThresholds()) == []


def gray_val(rate: float, n_cls=100, per=60):
    rng = np.random.default_rng(5)
    labels = [f"c{i % n_cls}" for i in range(n_cls * per)]
    splits = ["val" if i // n_cls % 10 == 0 else "train" for i in range(n_cls * per)]
    issues = [["grayscale"] if s == "val" and rng.random() < rate else [] for s in splits]
    return synthetic(None, splits, labels, rng, issues=issues)


def test_a_shift_spread_thinly_over_many_classes_is_caught_over_all_classes():
    # 300 classes of 20 images, 2 of each in val: no class has the images to be judged on its own
    found = split_concentrated(gray_val(0.4, n_cls=300, per=20), ImageQualityThresholds())
    (f,) = found
    assert f.subject == "val vs train: grayscale (all classes)"
    assert f.evidence["classes"][0]["train"] == [0, 5400] and "Cochran-Mantel-Haenszel" in f.message


def test_the_pooled_test_stays_quiet_where_classes_are_already_named():
    # enough val images per class: the per-class finding names them, and the pooled one would repeat it
    (f,) = split_concentrated(gray_val(0.4), ImageQualityThresholds())
    assert f.subject == "val vs train: grayscale" and "all classes" not in f.message


def test_the_same_gray_share_in_every_split_is_not():
    j = gray_val(0.4)
    j.issues = [["grayscale"] if k % 5 < 2 else [] for k in range(len(j.issues))]  # 40% in both splits
    assert split_concentrated(j, ImageQualityThresholds()) == []


def test_validate_flags_with_the_thresholds_the_build_used(tmp_path, vh):
    src = sources()
    rows = [(stem, meta, encode(img), ".jpg") for stem, meta, img in base_rows(src)[:40]]
    vh.write_all(tmp_path / "dump", rows)
    out = vh.build(
        tmp_path / "dump",
        tmp_path / "out",
        label_field="label",
        split_field="split",
        quality_thresholds=("blurry_sharpness=5",),
    ).out_dir
    _, summary = check_image_quality(out, *parse_thresholds([]))
    assert summary["thresholds"]["blurry_sharpness"] == 5 and summary["issues"]["blurry"]["count"] == 40
    _, summary = check_image_quality(out, *parse_thresholds(["blurry_sharpness=0.4"]))
    assert summary["thresholds"]["blurry_sharpness"] == 0.4
