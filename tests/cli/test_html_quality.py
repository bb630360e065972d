"""The HTML report's *Image quality* section (``pipecheck/html_quality.py``): the flagged images
themselves, drawn from ``report.summary["image_quality"]`` and the build's own records.

A real build of real photos (``benchmarks/photos.py`` crops) with problems put in by Pillow: three
darkened, three blurred, three turned gray, one copied into val (an exact duplicate across splits),
one re-saved at a lower JPEG quality into val (a near duplicate), an empty file and a cut-off JPEG
(rejected). Its healthy twin is the session's ``skewed_build`` (random-noise images, nothing to flag,
nothing rejected). A class ``night`` is gray in val and not in train: a split concentration finding. The page is checked as HTML here and as pixels in headless Chromium.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[2]
N_PHOTOS = 48
NIGHT = 12  # images of class "night" in each split


def _problem_dump(root: Path) -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from photos import make_dump

    dump = make_dump(root, N_PHOTOS, min_side=160, max_side=320, seed=3)

    def rewrite(stem: str, change) -> None:
        path = dump / f"{stem}.jpg"
        change(Image.open(path).convert("RGB")).save(path, "JPEG", quality=85)

    for i in range(0, 3):
        rewrite(f"IMG_{i:06d}", lambda im: Image.fromarray((np.asarray(im) * 0.12).astype(np.uint8)))
    for i in range(3, 6):
        rewrite(f"IMG_{i:06d}", lambda im: im.filter(ImageFilter.GaussianBlur(6)))
    for i in range(6, 9):
        rewrite(f"IMG_{i:06d}", lambda im: im.convert("L").convert("RGB"))
    for i in range(N_PHOTOS):
        sidecar = dump / f"IMG_{i:06d}.json"
        meta = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**meta, "split": "train" if i < N_PHOTOS * 3 // 4 else "val"}))

    def copy(stem: str, data: bytes, split: str, like: str) -> None:
        (dump / f"{stem}.jpg").write_bytes(data)
        meta = json.loads((dump / f"{like}.json").read_text())
        (dump / f"{stem}.json").write_text(json.dumps({**meta, "split": split}))

    # a class whose val images are all gray and whose train images are not: split_concentrated
    extra = make_dump(root.parent / "extra", 2 * NIGHT, min_side=160, max_side=320, seed=5)
    for i in range(2 * NIGHT):
        img = Image.open(extra / f"IMG_{i:06d}.jpg").convert("RGB")
        (img.convert("L").convert("RGB") if i >= NIGHT else img).save(dump / f"NIGHT_{i:02d}.jpg", quality=85)
        split = "train" if i < NIGHT else "val"
        (dump / f"NIGHT_{i:02d}.json").write_text(json.dumps({"species": "night", "split": split}))
    copy("DUP_000009", (dump / "IMG_000009.jpg").read_bytes(), "val", "IMG_000009")
    buf = io.BytesIO()
    Image.open(dump / "IMG_000010.jpg").save(buf, "JPEG", quality=55)
    copy("NEAR_000010", buf.getvalue(), "val", "IMG_000010")
    copy("EMPTY_1", b"", "train", "IMG_000011")
    copy("CUT_1", (dump / "IMG_000011.jpg").read_bytes()[:300], "train", "IMG_000011")
    return dump


@pytest.fixture(scope="module")
def problem_build(tmp_path_factory) -> str:
    from pipecheck.pipeline.build import BuildOptions, build

    root = tmp_path_factory.mktemp("html_quality")
    dump = _problem_dump(root / "dump")
    out = root / "out"
    build(BuildOptions(dump=str(dump), out=str(out), label_field="species", split_field="split", workers=1))
    return str(out)


def _run(pipecheck_cli, data: str, html: Path):
    result = pipecheck_cli("validate", "--data", data, "--html", html, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout), html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def problem_run(pipecheck_cli, problem_build, tmp_path_factory):
    html = tmp_path_factory.mktemp("html_quality_page") / "report.html"
    report, text = _run(pipecheck_cli, problem_build, html)
    return report, text, html


class _Page(HTMLParser):
    """Figures (key, thumbnail bytes, caption text) per gallery row, pairs, quality bars, references."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[dict]] = {}
        self.pairs: list[dict] = []
        self.bars: list[dict] = []
        self.refs: list[tuple] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.section: str | None = None
        self._row: str | None = None
        self._fig: dict | None = None
        self._pair: dict | None = None
        self._bar: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key, value in attrs:
            if (
                value
                and key != "xmlns"
                and not value.startswith("data:image/")
                and re.search(r"https?:|url\(|//", value)
            ):
                self.refs.append((tag, key, value[:60]))
        if tag in ("script", "iframe", "link", "object", "embed", "base"):
            self.refs.append((tag, "", ""))
        if tag == "img" and not (a.get("src") or "").startswith("data:image/jpeg;base64,"):
            self.refs.append((tag, "src", (a.get("src") or "")[:60]))
        if tag == "div" and a.get("data-issue"):
            self._row = a["data-issue"]
            self.rows[self._row] = []
        if tag == "div" and "pq-pair" in (a.get("class") or "").split():
            depth = len(self.stack)
            self._pair = {"cross": "pq-cross" in a["class"].split(), "figs": [], "issue": self._row, "depth": depth}
            self.pairs.append(self._pair)
        if tag == "figure":
            self._fig = {"key": None, "jpeg": None, "text": [], "size": None}
            self.rows[self._row].append(self._fig)
            if self._pair is not None:
                self._pair["figs"].append(self._fig)
        if tag == "img" and self._fig is not None:
            self._fig["key"] = a["data-key"]
            self._fig["jpeg"] = base64.b64decode(a["src"].split(",", 1)[1])
            self._fig["size"] = (int(a["width"]), int(a["height"]))
        if tag == "rect" and a.get("class") == "pq-bar":
            self._bar = {**a, "title": []}
            self.bars.append(self._bar)
        if tag not in ("img", "br", "meta"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "figure":
            self._fig = None
        if tag == "rect":
            self._bar = None
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "div" and self._pair is not None and len(self.stack) == self._pair["depth"]:
            self._pair = None

    def handle_data(self, data):
        if self._fig is not None:
            self._fig["text"].append(data)
        if self._bar is not None:
            self._bar["title"].append(data)


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _rgb(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert("RGB"), np.float64)


def _luma(rgb: np.ndarray) -> float:
    return float((rgb @ np.array([0.299, 0.587, 0.114])).mean())


# --------------------------------------------------------------------------- what the page shows
def test_each_issue_shows_its_own_worst_images(problem_run):
    report, text, _ = problem_run
    iq = report["summary"]["image_quality"]
    page = parse(text)
    shown = {i for i, info in iq["issues"].items() if info["count"] and i not in ("exact_duplicate", "near_duplicate")}
    assert shown >= {"dark", "blurry", "grayscale"}
    for issue in shown:
        figs = page.rows[issue]
        expected = [f"{e['split']}:{e['id']}" for e in iq["issues"][issue]["examples"][:6]]
        assert [f["key"] for f in figs] == expected, issue
        for f, example in zip(figs, iq["issues"][issue]["examples"]):
            assert f["jpeg"] is not None and len(f["jpeg"]) <= 4096, f["key"]
            assert max(f["size"]) <= 112 and _rgb(f["jpeg"]).shape[:2] == f["size"][::-1]
            caption = "".join(f["text"])
            assert all(label in caption for label in example["labels"])
    assert "brightness p95" in "".join(t for f in page.rows["dark"] for t in f["text"])
    # the pictures are the flagged ones: every dark one darker than any other, the gray ones gray
    luma = {f["key"]: _luma(_rgb(f["jpeg"])) for figs in page.rows.values() for f in figs if f["jpeg"]}
    dark = {f["key"] for f in page.rows["dark"]}
    assert max(luma[k] for k in dark) < min(v for k, v in luma.items() if k not in dark)
    spread = {f["key"]: float(np.percentile(np.ptp(_rgb(f["jpeg"]), axis=-1), 99)) for f in page.rows["grayscale"]}
    colour = [float(np.percentile(np.ptp(_rgb(f["jpeg"]), axis=-1), 99)) for f in page.rows["blurry"]]
    assert max(spread.values()) < min(colour) / 3, (spread, colour)


def test_duplicates_sit_side_by_side_across_splits_first(problem_run):
    report, text, _ = problem_run
    pairs = {p["issue"]: p for p in parse(text).pairs}
    exact, near = pairs["exact_duplicate"], pairs["near_duplicate"]
    assert {f["key"] for f in exact["figs"]} == {"train:IMG_000009", "val:DUP_000009"} and exact["cross"]
    assert {f["key"] for f in near["figs"]} == {"train:IMG_000010", "val:NEAR_000010"} and near["cross"]
    a, b = (_rgb(f["jpeg"]) for f in exact["figs"])
    assert a.shape == b.shape and np.abs(a - b).max() == 0  # the same pixels give the same thumbnail
    c, d = (_rgb(f["jpeg"]) for f in near["figs"])
    assert c.shape == d.shape and 0 < np.abs(c - d).mean() < 10  # nearly the same


def _copies_summary(extra_in_train: bool) -> dict:
    """The summary of a build with four images copied once into val and, ``extra_in_train``, once more
    into train: ``flags.summarise``'s examples as it writes them (train first, partners in record order)."""
    examples = []
    for k in range(4):
        group = [("train", f"IMG_{k}"), ("val", f"VAL_{k}")] + ([("train", f"TRAIN_{k}")] if extra_in_train else [])
        for split, image_id in group:
            if split == "train":
                others = [f"{s}:{i}" for s, i in sorted(group, key=lambda g: g[0] != "train") if i != image_id]
                examples.append({"split": split, "id": image_id, "labels": ["cat"], "duplicates": others})
    examples.sort(key=lambda e: (e["split"], e["id"]))
    info = {"count": len(examples), "rate": 0.1, "by_split": {"train": len(examples)}, "examples": examples[:8]}
    return {"images": 60, "measured": 60, "issues": {"exact_duplicate": info}, "class_rates": {}, "drift": []}


@pytest.mark.parametrize("extra_in_train", [False, True])
def test_a_pair_across_splits_is_shown_when_the_first_partner_is_in_the_same_split(extra_in_train):
    """Each image's copy in val is its pair, also when a copy in train comes first among its duplicates."""
    from pipecheck.html_quality import render_image_quality

    page = parse(render_image_quality(_copies_summary(extra_in_train), [], colors=["#333"]))
    pairs = [p for p in page.pairs if p["issue"] == "exact_duplicate"]
    assert len(pairs) == 3 and all(p["cross"] for p in pairs), pairs
    keys = [[next(t for t in f["text"] if ":" in t) for f in p["figs"]] for p in pairs]  # the captions' split:id
    assert all(a.startswith("train:IMG_") and b == "val:VAL_" + a[-1] for a, b in keys), keys


def test_class_bars_draw_each_rate_from_the_summary(problem_run):
    report, text, _ = problem_run
    rates = report["summary"]["image_quality"]["class_rates"]
    bars = parse(text).bars
    assert {b["data-issue"] for b in bars} == {i for i, r in rates.items() if r}
    for b in bars:
        flagged, images = rates[b["data-issue"]][b["data-class"]][b["data-split"]]
        assert "".join(b["title"]).endswith(f"{flagged}/{images}")
    dark = {(b["data-class"], b["data-split"]): float(b["width"]) for b in bars if b["data-issue"] == "dark"}
    top = max(dark, key=dark.get)
    flagged, images = rates["dark"][top[0]][top[1]]
    assert flagged / images == max(k / n for c in rates["dark"].values() for k, n in c.values() if n)


def test_rejected_files_are_listed_by_reason(problem_run):
    _, text, _ = problem_run
    section = text[text.index("<h3>Rejected files") :]
    assert "<h3>Rejected files (2)</h3>" in section
    for reason, path in (("truncated", "CUT_1.jpg"), ("empty_file", "EMPTY_1.jpg")):
        row = re.search(rf"<tr><td><code>{reason}</code></td><td>1</td>.*?</tr>", section).group(0)
        assert path in row


def test_a_clean_build_shows_no_images(pipecheck_cli, skewed_build, tmp_path):
    report, text = _run(pipecheck_cli, skewed_build, tmp_path / "r.html")
    iq = report["summary"]["image_quality"]
    assert iq["measured"] == iq["images"] > 0 and not any(i["count"] for i in iq["issues"].values())
    assert "<h2>Image quality</h2>" in text and "No image was flagged." in text
    assert "<img" not in text and "pq-bar" not in text
    assert "None: every input the build found was written." in text


def test_the_page_is_self_contained(problem_run):
    _, text, _ = problem_run
    page = parse(text)
    assert page.refs == [] and page.errors == [] and page.stack == []
    without_ns = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", without_ns)
    assert text.count("<img ") == sum(len(r) for r in page.rows.values()) > 0


def test_notebook_fragment_keeps_the_section_and_its_scoped_styles(problem_build):
    import pipecheck

    report = pipecheck.validate(problem_build)
    page = report._repr_html_()
    assert "<html" not in page and "<body" not in page and "<h2>Image quality</h2>" in page
    assert len(parse(page).rows["dark"]) == 3
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    selectors = [sel.strip() for rule in re.findall(r"([^{}]+)\{", css) for sel in rule.split(",")]
    assert any(".pq-fig" in s for s in selectors)
    assert all(sel.startswith(".pipecheck-report") for sel in selectors), selectors


# --------------------------------------------------------------------------- bounded at 100k images
def _scale_summary(data_dir: str, ids: list[str], n_classes: int = 1000) -> dict:
    """A summary with the counts of a 100k-image build of 1000 classes in 6 splits (the contract's
    shape), whose examples name real records of ``data_dir`` so that the thumbnails are real."""
    from pipecheck.pipeline.quality import ISSUES, MEASURES

    splits = ["train", "val", "test", "holdout", "extra", "audit"]
    classes = [f"class_{c:04d}_with_a_rather_long_descriptive_name" for c in range(n_classes)]
    issues, it = {}, iter(ids)
    for k, issue in enumerate(ISSUES):
        examples = []
        for _ in range(8):
            i = next(it)
            example = {
                "split": "train",
                "id": i,
                "labels": classes[:12],
                "issues": [issue],
                "scores": dict.fromkeys(MEASURES, 1.0),
            }
            if issue in ("exact_duplicate", "near_duplicate"):
                example["duplicates"] = [f"train:{next(it)}" for _ in range(5)]
            examples.append(example)
        count = 1000 * (k + 1)
        issues[issue] = {
            "count": count,
            "rate": count / 100_000,
            "by_split": {s: count // 6 for s in splits},
            "examples": examples,
        }
    rates = {i: {c: {s: [3, 17] for s in splits} for c in classes} for i in ISSUES}
    drift = [
        {"property": p, "a": "train", "b": s, "statistic": 0.3, "p_value": 1e-9, "effect": 0.3, "flagged": True}
        for p in ("brightness_p50", "contrast", "mean_r", "mean_g", "mean_b", "long_side", "aspect_ratio")
        for s in splits[1:]
    ]
    return {
        "data_dir": data_dir,
        "images": 100_000,
        "measured": 100_000,
        "thresholds": {},
        "fences": {"long_side": [100.0, 1000.0], "aspect_ratio": [0.5, 2.0]},
        "issues": issues,
        "class_rates": rates,
        "drift": drift,
    }


@pytest.fixture(scope="module")
def noise_build(tmp_path_factory):
    """160 random-noise photos with 40-character ids (noise does not compress: every thumbnail is as
    large as the budget lets it be) and 20,000 lines of rejects."""
    from pipecheck.pipeline.build import BuildOptions, build
    from pipecheck.pipeline.manifest import REJECTS_NAME
    from pipecheck.pipeline.rejects import REASONS

    root = tmp_path_factory.mktemp("html_noise")
    dump = root / "dump"
    dump.mkdir()
    rng = np.random.default_rng(7)
    ids = []
    for i in range(160):
        stem = f"NOISE_{i:04d}_" + "x" * 29
        ids.append(stem)
        Image.fromarray(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)).save(dump / f"{stem}.jpg", quality=95)
        (dump / f"{stem}.json").write_text(json.dumps({"species": f"c{i % 4}", "split": "train"}))
    out = root / "out"
    build(BuildOptions(dump=str(dump), out=str(out), label_field="species", split_field="split", workers=1))
    reasons = sorted(REASONS)
    lines = (
        json.dumps(
            {"path": f"deep/{'d' * 200}/{k}.jpg", "stem": str(k), "reason": reasons[k % 19], "detail": "z" * 500}
        )
        for k in range(20_000)
    )
    (out / REJECTS_NAME).write_text("\n".join(lines) + "\n")
    return str(out), ids


def test_the_section_stays_under_its_bound_at_100k_images(noise_build):
    from pipecheck.html import render_html
    from pipecheck.html_quality import MAX_CHART_CLASSES, MAX_THUMBNAILS, SECTION_BOUND
    from pipecheck.validators.findings import Report

    data_dir, ids = noise_build
    report = Report("validate")
    report.summary["image_quality"] = _scale_summary(data_dir, ids)
    page = render_html(report)
    start, end = page.index("<h2>Image quality</h2>"), page.index("<h2>Findings</h2>")
    section = page[start:end]
    parsed = parse(page)
    figs = [f for row in parsed.rows.values() for f in row]
    thumbs = [f["jpeg"] for f in figs if f["jpeg"]]
    assert len(figs) == 7 * 6 + 2 * 6 and len(thumbs) == len(figs) <= MAX_THUMBNAILS
    assert max(len(t) for t in thumbs) <= 4096 and sum(len(t) for t in thumbs) > 0.6 * 4096 * len(thumbs)
    assert len({(b["data-issue"], b["data-class"]) for b in parsed.bars}) == 9 * MAX_CHART_CLASSES
    assert page.count("Showing 12 of 1000 classes") == 9
    assert len(section.encode("utf-8")) < SECTION_BOUND, len(section)
    assert section.count("<tr>") < 120  # drift rows and reject rows are capped too


# --------------------------------------------------------------------------- in a real browser
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _screenshot(html: Path, shot: Path, height: int) -> np.ndarray:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={shot.parent / ('profile-' + shot.stem)}",
        f"--window-size=1150,{height}",
        f"--screenshot={shot}",
        html.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    return np.asarray(Image.open(shot).convert("RGB"), np.float64)


# .ci/run installs Debian's chromium and sets PIPECHECK_REQUIRE_CHROMIUM=1: there its absence fails.
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("PIPECHECK_REQUIRE_CHROMIUM"),
    reason="chromium is not installed here: no screenshot of the HTML report (apt-get install chromium)",
)
def test_thumbnails_render_in_headless_chromium(problem_run, tmp_path):
    from scipy import ndimage

    assert CHROMIUM, "PIPECHECK_REQUIRE_CHROMIUM is set, but chromium is not installed"
    _, text, _ = problem_run
    figs = [f for row in parse(text).rows.values() for f in row]
    assert figs
    # The same page with every thumbnail one flat colour (same size): where the two screenshots differ is where
    # the browser drew the thumbnails.
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (255, 0, 255)).save(buf, "PNG")  # magenta: no photo's colour
    blank = base64.b64encode(buf.getvalue()).decode()
    blank = re.sub(r'src="data:image/jpeg;base64,[^"]*"', f'src="data:image/png;base64,{blank}"', text)
    (tmp_path / "real.html").write_text(text, encoding="utf-8")
    (tmp_path / "blank.html").write_text(blank, encoding="utf-8")
    height = 9000
    real = _screenshot(tmp_path / "real.html", tmp_path / "real.png", height)
    empty = _screenshot(tmp_path / "blank.html", tmp_path / "blank.png", height)
    assert real.shape == empty.shape == (height, 1150, 3)
    assert (empty < 250).any(axis=-1).mean() > 0.005  # the page itself rendered
    below = np.flatnonzero((empty < 250).any(axis=(1, 2)))
    assert below[-1] < height - 50, "the page is taller than the screenshot: raise its height"
    differs = np.abs(real - empty).max(axis=-1) > 24
    regions, n = ndimage.label(ndimage.binary_closing(differs, np.ones((3, 3)), iterations=2))
    boxes = ndimage.find_objects(regions)
    areas = [(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in boxes]
    big = [
        (box, hw)
        for box, hw in zip(boxes, areas)
        if hw[0] * hw[1] >= 0.5 * min(w * h for w, h in (f["size"] for f in figs))
    ]
    assert len(big) == len(figs), (len(big), len(figs), areas)
    # each region is one thumbnail, drawn at its own size and with its own pixels
    drawn = sorted((hw[1], hw[0]) for _, hw in big)
    assert all(abs(a - b) <= 3 for d, f in zip(drawn, sorted(f["size"] for f in figs)) for a, b in zip(d, f))
    shown = sorted(_luma(real[box]) for box, _ in big)
    sent = sorted(_luma(_rgb(f["jpeg"])) for f in figs)
    assert np.abs(np.array(shown) - np.array(sent)).max() < 12, (shown, sent)


def test_ignoring_the_family_leaves_the_section_out(pipecheck_cli, problem_build, tmp_path):
    html = tmp_path / "r.html"
    result = pipecheck_cli("validate", "--data", problem_build, "--html", html, "--ignore", "image_quality")
    assert result.exit_code in (0, 1), result.output
    text = html.read_text(encoding="utf-8")
    assert "<h2>Image quality</h2>" not in text and "<img" not in text
    assert "<h2>Per-class prevalence by split</h2>" in text  # the rest of the page is drawn


def _section(text: str) -> str:
    return text[text.index("<h2>Image quality</h2>") : text.index("<h2>Findings</h2>")]


def _gallery_order(text: str) -> list[str]:
    return re.findall(r'<div class="pq-row" data-issue="([a-z_]+)"', text)


def test_an_issue_with_a_concentration_finding_comes_first_with_its_class_marked(problem_run):
    report, text, _ = problem_run
    found = [f for f in report["findings"] if f["check"] == "image_quality.split_concentrated"]
    assert [(f["evidence"]["issue"], [c["class"] for c in f["evidence"]["classes"]]) for f in found] == [
        ("grayscale", ["night"])
    ]
    assert _gallery_order(text)[0] == "grayscale" and "dark" in _gallery_order(text)[1:]
    assert re.search(r"<tr><td><span class=flag>⚑</span> grayscale</td>", text)
    bars = [b for b in parse(text).bars if b["data-issue"] == "grayscale"]
    assert bars[0]["data-class"] == "night" and "⚑ night" in _section(text)


def test_without_a_concentration_finding_issues_keep_their_order_unmarked(pipecheck_cli, problem_build, tmp_path):
    html = tmp_path / "r.html"
    pipecheck_cli("validate", "--data", problem_build, "--html", html, "--ignore", "image_quality.split_concentrated")
    text = html.read_text(encoding="utf-8")
    order = _gallery_order(text)
    assert order[0] == "dark" and order.index("dark") < order.index("grayscale")
    assert not re.search(r"<tr><td><span class=flag>⚑</span> grayscale</td>", text) and "⚑ night" not in _section(text)
