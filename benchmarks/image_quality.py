"""Image quality: what pipecheck's build flags against CleanVision, on the same real photos, and what it costs.

    python benchmarks/image_quality.py [--images 400] [--rounds 5] [--workers N] [--keep DIR] [--no-cleanvision]

Makes a dump of real-photo JPEG crops (``photos.py``'s sources, 256-900 px, a JSON sidecar each)
in which disjoint random ~8% shares get one injected condition each: darkened (brightness x0.15),
washed out (80% of the way to white), flattened (contrast x0.03), blurred (Gaussian, sigma 1.5% of
the long side), gray saved as an RGB JPEG, stretched to 4:1, tiny (40 px); ~4% of the clean ones
also get an exact copy (their decoded pixels saved as PNG) and ~4% a near copy (re-encoded at
quality 60); the rest stay clean. The injected conditions are the ground truth (``truth.json``
next to the dump).

Then, on the same files: pipecheck's build (``image_quality.jsonl``) and CleanVision's
``Imagelab.find_issues()`` (default issue types and thresholds, ``pip install
'pipecheck[bench]'``). Prints per issue what each finds against the truth (true and false
positives, misses), how often they agree, examples where they differ with both tools' scores;
the build's cost (wall, and CPU of the driver and its workers) with quality on against
``--no-quality`` in paired rounds (as in
``throughput.py``: each round runs both builds back to back, every other round in reverse order;
the median of the per-round ratios and the ratio of the best rounds are shown; target: at most
1.10), CleanVision's own wall time, and the per-image cost of the quality measures (taken as a
build takes them: a sample after each decode, measured a batch at a time) against the decode they
ride on (CPU time, measured in the same loop).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))

CONDITIONS = ("dark", "light", "low_information", "blurry", "grayscale", "odd_aspect_ratio", "odd_size")
DUPLICATES = ("exact_duplicate", "near_duplicate")
ISSUES = CONDITIONS + DUPLICATES
# CleanVision's name of each issue (its columns are ``is_<name>_issue`` and ``<name>_score``).
CLEANVISION = {issue: issue for issue in CONDITIONS} | {d: d + "s" for d in DUPLICATES}
# The pipecheck measure shown next to CleanVision's score in the examples.
MEASURE = {
    "dark": "brightness_p95",
    "light": "brightness_p05",
    "low_information": "entropy",
    "blurry": "sharpness",
    "grayscale": "gray_spread",
    "odd_aspect_ratio": "width",
    "odd_size": "width",
}


def _inject(img: Image.Image, condition: str) -> Image.Image:
    if condition == "dark":
        return ImageEnhance.Brightness(img).enhance(0.15)
    if condition == "light":
        return Image.blend(img, Image.new("RGB", img.size, (255, 255, 255)), 0.8)
    if condition == "low_information":
        return ImageEnhance.Contrast(img).enhance(0.03)
    if condition == "blurry":
        return img.filter(ImageFilter.GaussianBlur(0.015 * max(img.size)))
    if condition == "grayscale":
        return img.convert("L").convert("RGB")
    if condition == "odd_aspect_ratio":
        side = max(img.size)
        return img.resize((side, side // 4), Image.LANCZOS)
    if condition == "odd_size":
        return img.resize((40, max(32, round(40 * img.height / img.width))), Image.LANCZOS)
    raise ValueError(condition)


def _crop(
    sources: list[Image.Image], rng: np.random.Generator, sides: tuple[int, int] = (256, 900)
) -> tuple[int, Image.Image]:
    """A random crop of a random source, resized to a long side in ``sides`` (256-900 px), aspect
    0.75-1.33 (as ``photos.make_dump``).
    """
    k = int(rng.integers(len(sources)))
    src = sources[k]
    w, h = src.size
    side = int(rng.integers(sides[0], sides[1] + 1))
    out_w, out_h = side, max(sides[0], int(side / float(rng.uniform(0.75, 1.33))))
    cw, ch = int(rng.integers(w // 3, w + 1)), int(rng.integers(h // 3, h + 1))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = src.crop((x, y, x + cw, y + ch)).resize((out_w, out_h), Image.BILINEAR)
    return k, img.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else img


def make_corpus(
    root: Path, n: int, seed: int = 0, share: float = 0.08, sides: tuple[int, int] = (256, 900)
) -> dict[str, set[str]]:
    """Write ``n`` crops (plus duplicate copies) with sidecars into ``root``; the injected issues by stem."""
    from photos import CLASSES, _sources

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = [Image.fromarray(p) for p in _sources()]
    order = rng.permutation(n)
    per = round(share * n)
    condition = {int(i): CONDITIONS[j // per] for j, i in enumerate(order[: per * len(CONDITIONS)])}
    clean = [int(i) for i in order[per * len(CONDITIONS) :]]
    copies = {int(i): "exact_duplicate" for i in clean[: per // 2]}
    copies |= {int(i): "near_duplicate" for i in clean[per // 2 : per]}
    truth: dict[str, set[str]] = {}

    def write(stem: str, k: int, data: bytes, ext: str, issues: set[str]) -> None:
        (root / f"{stem}{ext}").write_bytes(data)
        (root / f"{stem}.json").write_text(json.dumps({"species": CLASSES[k]}))
        truth[stem] = issues

    for i in range(n):
        k, img = _crop(sources, rng, sides)
        if i in condition:
            img = _inject(img, condition[i])
        data = _encode(img, "JPEG", 90)
        copy = copies.get(i)
        write(f"IMG_{i:05d}", k, data, ".jpg", {c for c in (condition.get(i), copy) if c})
        if copy == "exact_duplicate":  # the same pixels, saved again losslessly
            write(f"IMG_{i:05d}_copy", k, _encode(Image.open(io.BytesIO(data)).convert("RGB"), "PNG"), ".png", {copy})
        elif copy == "near_duplicate":
            write(f"IMG_{i:05d}_copy", k, _encode(img, "JPEG", 60), ".jpg", {copy})
    return truth


def make_lookalikes(root: Path) -> dict[str, str]:
    """Clean photos that look like an issue to some measure, with what each is: product shots (a
    sharp photo on a plain white canvas), Hubble's dark starfield, 2x2 / 3x3 mosaics of photos at
    native resolution and photos upscaled 3x (large and sharp), a gray photo stored as a grayscale
    file, and a photo with a tenth of its colour left."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    root.mkdir(parents=True, exist_ok=True)
    china, flower = load_sample_images().images
    photos = {n: Image.fromarray(np.asarray(getattr(data, n)())[..., :3]) for n in ("chelsea", "coffee", "astronaut")}
    photos |= {"china": Image.fromarray(china), "flower": Image.fromarray(flower)}
    what = {}
    for name, img in photos.items():
        w, h = img.size
        obj = img.crop((w // 6, h // 6, w - w // 6, h - h // 6))
        canvas = Image.new("RGB", (obj.width * 2, obj.height * 2), (255, 255, 255))
        canvas.paste(obj, (obj.width // 2, obj.height // 2))
        what[f"product_{name}"] = (canvas, "sharp object on a white canvas (a quarter of the frame)")
        if name == "chelsea":
            small = Image.new("RGB", (obj.width * 3, obj.height * 3), (255, 255, 255))
            small.paste(obj, (obj.width, obj.height))
            what["product_small_chelsea"] = (small, "the same on a canvas 3x its size (a ninth of the frame)")
        up = img.resize((w * 3, h * 3), Image.LANCZOS)
        what[f"upscaled3x_{name}"] = (up, f"Lanczos 3x, {up.width} px, sharp")
    tiles = [
        photos[n] for n in ("chelsea", "coffee", "astronaut", "china", "flower", "flower", "coffee", "chelsea", "china")
    ]
    for k in (2, 3):
        tw, th = max(t.width for t in tiles[: k * k]), max(t.height for t in tiles[: k * k])
        grid = Image.new("RGB", (tw * k, th * k))
        for i, tile in enumerate(tiles[: k * k]):
            grid.paste(tile, ((i % k) * tw, (i // k) * th))
        what[f"mosaic{k}x{k}"] = (grid, f"{k}x{k} photos at native resolution, {grid.width} px")
    what["hubble"] = (Image.fromarray(data.hubble_deep_field()), "dark sky, sharp stars, correctly exposed")
    what["gray_file_rocket"] = (
        Image.fromarray(data.rocket()).convert("L"),
        "gray photo stored as a grayscale (L) JPEG",
    )
    what["gray_as_rgb_rocket"] = (
        Image.fromarray(data.rocket()).convert("L").convert("RGB"),
        "gray photo stored as RGB",
    )
    what["muted_coffee"] = (ImageEnhance.Color(photos["coffee"]).enhance(0.1), "colour photo, 10% saturation")
    for stem, (img, _) in what.items():
        (root / f"{stem}.jpg").write_bytes(_encode(img, "JPEG", 90))
    return {stem: text for stem, (_, text) in what.items()}


def print_lookalikes(root: Path, what: dict[str, str], with_cleanvision: bool) -> None:
    """pipecheck's content issues (through the build's decode) and CleanVision's on the look-alikes."""
    from pipecheck.pipeline.images import ImageOptions, check_image
    from pipecheck.pipeline.quality import QualityThresholds, content_issues

    theirs = cleanvision_flags(root)[0] if with_cleanvision else {}
    shown = set(CONDITIONS[:5])  # one image's own issues; size and aspect need a dataset
    print("\nlook-alikes (clean photos; content issues only):")
    print(f"  {'image':<22} {'pipecheck':<24} {'CleanVision':<24} what it is")
    for stem, text in what.items():
        checked = check_image((root / f"{stem}.jpg").read_bytes(), f"{stem}.jpg", ImageOptions())
        ours = ",".join(content_issues(checked.quality, QualityThresholds())) or "-"
        cv = ",".join(sorted(theirs.get(stem, set()) & shown)) or "-" if with_cleanvision else "n/a"
        print(f"  {stem:<22} {ours:<24} {cv:<24} {text}")


def _encode(img: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its reaped children (the build's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pipecheck_build(dump: Path, out: Path, workers: int, quality: bool) -> tuple[float, float]:
    """One build (verification, shards, and with ``quality`` the image-quality pass): wall and CPU seconds."""
    from pipecheck.pipeline.build import BuildOptions, build

    shutil.rmtree(out, ignore_errors=True)
    opts = BuildOptions(
        dump=str(dump),
        out=str(out),
        label_field="species",
        val_fraction=0.0,
        workers=workers,
        stats=False,
        overwrite=True,
        quality=quality,
    )
    t, cpu = time.perf_counter(), _cpu_seconds()
    result = build(opts)
    seconds, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
    assert result.accounting["balanced"], result.accounting
    return seconds, cpu


def pipecheck_flags(out: Path) -> dict[str, set[str]]:
    """The issues of every flagged image of a build, by id (the file's stem)."""
    from pipecheck.pipeline.quality import QUALITY_NAME

    rows = (json.loads(line) for line in (out / QUALITY_NAME).read_text().splitlines())
    return {row["id"]: set(row["issues"]) for row in rows}


def cleanvision_flags(dump: Path) -> tuple[dict[str, set[str]], dict[str, dict[str, float]], float]:
    """CleanVision on the dump's images: issues by stem, its scores by stem, and its wall seconds."""
    import logging
    import warnings

    from cleanvision import Imagelab

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    t = time.perf_counter()
    lab = Imagelab(data_path=str(dump))
    lab.find_issues(verbose=False)
    seconds = time.perf_counter() - t
    flags: dict[str, set[str]] = {}
    scores: dict[str, dict[str, float]] = {}
    for path, row in lab.issues.iterrows():
        stem = Path(str(path)).stem
        flags[stem] = {issue for issue, name in CLEANVISION.items() if bool(row.get(f"is_{name}_issue", False))}
        scores[stem] = {issue: float(row.get(f"{name}_score", float("nan"))) for issue, name in CLEANVISION.items()}
    return flags, scores, seconds


def measure_cost(files: list[Path]) -> tuple[float, float, float]:
    """CPU seconds per image of the fast path's decode, of the quality measures as a build takes
    them (``quality.sample`` after each decode, ``quality.measure_samples`` a shard writer's batch at
    a time) and of the pixel and difference hashes, each around its own calls in one loop.
    """
    import simplejpeg

    from pipecheck.pipeline.images import dhash, pixel_hash
    from pipecheck.pipeline.quality import measure_samples, sample
    from pipecheck.pipeline.shards import QUALITY_BATCH

    decode = meas = hashes = 0.0
    jpegs = [f.read_bytes() for f in files if f.suffix == ".jpg"]
    for _ in range(3):
        for start in range(0, len(jpegs), QUALITY_BATCH):
            samples, sizes = [], []
            for data in jpegs[start : start + QUALITY_BATCH]:
                t0 = time.process_time()
                rgb = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
                t1 = time.process_time()
                samples.append(sample(rgb))
                sizes.append((rgb.shape[1], rgb.shape[0]))
                t2 = time.process_time()
                pixel_hash(rgb, rgb.shape[1], rgb.shape[0])
                dhash(rgb)
                t3 = time.process_time()
                decode, meas, hashes = decode + t1 - t0, meas + t2 - t1, hashes + t3 - t2
            t0 = time.process_time()
            measure_samples(samples, sizes)
            meas += time.process_time() - t0
    n = 3 * len(jpegs)
    return decode / n, meas / n, hashes / n


def confusion(truth: dict[str, set[str]], flags: dict[str, set[str]], issue: str) -> tuple[int, int, int]:
    """True positives, false positives, misses of one tool for one issue."""
    tp = sum(1 for s, t in truth.items() if issue in t and issue in flags.get(s, ()))
    fp = sum(1 for s, t in truth.items() if issue not in t and issue in flags.get(s, ()))
    fn = sum(1 for s, t in truth.items() if issue in t and issue not in flags.get(s, ()))
    return tp, fp, fn


def print_table(truth, ours, theirs) -> None:
    """Per issue: injected, pipecheck's and CleanVision's TP / FP / missed, and where they agree."""
    print(
        f"\n{'issue':<17} {'injected':>8}  {'pipecheck TP/FP/miss':>20}  {'CleanVision TP/FP/miss':>22}  agree  both  only-pc  only-cv"
    )
    for issue in ISSUES:
        n = sum(1 for t in truth.values() if issue in t)
        a, b = confusion(truth, ours, issue), confusion(truth, theirs, issue) if theirs else (0, 0, 0)
        pc = {s for s in truth if issue in ours.get(s, ())}
        cv = {s for s in truth if issue in theirs.get(s, ())} if theirs else set()
        agree = f"{sum(1 for s in truth if (s in pc) == (s in cv)) / len(truth):.1%}" if theirs else "-"
        cv_cell = "%d/%d/%d" % b if theirs else "-"
        print(
            f"{issue:<17} {n:8d}  {'%d/%d/%d' % a:>20}  {cv_cell:>22}  {agree:>5}  {len(pc & cv):4d}  {len(pc - cv):7d}  {len(cv - pc):7d}"
        )


def print_differences(dump: Path, truth, ours, theirs, cv_scores, per_issue: int = 3) -> None:
    """A few images per issue where the two tools disagree, with pipecheck's measure and CleanVision's score."""
    from pipecheck.pipeline.images import ImageOptions, check_image
    from pipecheck.pipeline.quality import MEASURES

    files = {p.stem: p for p in dump.iterdir() if p.suffix in (".jpg", ".png")}
    print("\nwhere they differ (injected truth; pipecheck measure; CleanVision score, flagged when < its threshold):")
    for issue in CONDITIONS:
        differ = sorted(s for s in truth if (issue in ours.get(s, ())) != (issue in theirs.get(s, ())))
        if not differ:
            continue
        print(f"  {issue}: {len(differ)} images; {_by_truth(differ, truth, ours, issue)}")
        for stem in differ[:per_issue]:
            checked = check_image(files[stem].read_bytes(), files[stem].name, ImageOptions())
            m = dict(zip(MEASURES, checked.quality))
            who = "pipecheck only" if issue in ours.get(stem, ()) else "CleanVision only"
            shown = MEASURE[issue]
            extra = f"x{m['height']:.0f}" if shown == "width" else ""
            print(
                f"    {stem:<16} {who:<16} truth={sorted(truth[stem]) or '-'} {shown}={m[shown]:g}{extra} "
                f"cv_score={cv_scores[stem][issue]:.3f}"
            )


def _by_truth(stems: list[str], truth, ours, issue: str) -> str:
    """Who flagged ``stems`` alone, counted by what was injected into them ('clean': nothing)."""
    out = []
    for who, mine in (("pipecheck only", True), ("CleanVision only", False)):
        kinds: dict[str, int] = {}
        for stem in stems:
            if (issue in ours.get(stem, ())) == mine:
                kind = "+".join(sorted(truth[stem])) or "clean"
                kinds[kind] = kinds.get(kind, 0) + 1
        if kinds:
            out.append(f"{who}: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
    return "; ".join(out)


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def paired_rounds(build, rounds: int, label: str = "round") -> dict[str, list[float]]:
    """Wall and CPU seconds of ``build("on")`` and ``build("off")`` (quality on, ``--no-quality``),
    back to back in each round, every other round in reverse order.
    """
    runs: dict[str, list[float]] = {"on": [], "off": [], "on_cpu": [], "off_cpu": []}
    for r in range(rounds):
        for key in ("on", "off") if r % 2 == 0 else ("off", "on"):
            wall, cpu = build(key)
            runs[key].append(wall)
            runs[key + "_cpu"].append(cpu)
        print(
            f"{label} {r + 1}/{rounds}: quality on {runs['on'][-1]:.2f} s ({runs['on_cpu'][-1]:.2f} s CPU), "
            f"off {runs['off'][-1]:.2f} s ({runs['off_cpu'][-1]:.2f} s CPU)",
            flush=True,
        )
    return runs


def time_builds(dump: Path, base: Path, workers: int, rounds: int) -> dict[str, list[float]]:
    """The in-process builds (statistics off), quality on and off, paired per round."""

    def build(key: str) -> tuple[float, float]:
        os.sync()  # the previous build's dirty pages must not be flushed on this one's time
        return pipecheck_build(dump, base / key, workers, key == "on")

    return paired_rounds(build, rounds)


def time_cli_builds(dump: Path, base: Path, rounds: int) -> dict[str, list[float]]:
    """The default CLI command end to end (a fresh interpreter, statistics on) against the same with
    ``--no-quality``, paired per round.
    """
    from default_build import run_build

    def build(key: str) -> tuple[float, float]:
        return run_build(dump, base / f"cli_{key}", None, True, () if key == "on" else ("--no-quality",))

    return paired_rounds(build, rounds, "CLI round")


def report_cost(runs: dict[str, list[float]], images: int) -> bool:
    """Print the on/off ratios (paired median, range, best rounds) of wall and CPU time; True when both meet 1.10."""
    ok = True
    for label, on, off in (("wall", runs["on"], runs["off"]), ("CPU", runs["on_cpu"], runs["off_cpu"])):
        paired = [a / b for a, b in zip(on, off)]
        best = min(on) / min(off)
        verdict = "PASS" if max(_median(paired), best) <= 1.10 else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"{label:>4}: off best {min(off):.2f} s ({images / min(off):.0f} img/s), on best {min(on):.2f} s; "
            f"on / off paired median {_median(paired):.3f} (range {min(paired):.3f}-{max(paired):.3f}), "
            f"best rounds {best:.3f}; target <= 1.10: {verdict}"
        )
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sides", default="256-900", help="Long side of the crops, MIN-MAX px.")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=5, help="Paired rounds of the quality on/off builds.")
    ap.add_argument("--cli-rounds", type=int, default=3, help="Paired rounds of the CLI command, on/off.")
    ap.add_argument("--keep", help="Folder for the generated dump and builds (kept).")
    ap.add_argument("--no-cleanvision", action="store_true", help="Only pipecheck (CleanVision not installed).")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not args.no_cleanvision:
        try:
            import cleanvision  # noqa: F401
        except ImportError:
            sys.exit("CleanVision is not installed: pip install -c constraints.txt -e '.[bench]' (or --no-cleanvision)")

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pipecheck-iq-"))
    dump = base / "dump"
    shutil.rmtree(dump, ignore_errors=True)
    truth = make_corpus(dump, args.images, args.seed, sides=tuple(int(v) for v in args.sides.split("-")))
    (base / "truth.json").write_text(json.dumps({stem: sorted(t) for stem, t in sorted(truth.items())}, indent=0))
    files = sorted(p for p in dump.iterdir() if p.suffix in (".jpg", ".png"))
    for f in files:  # warm the page cache
        f.read_bytes()
    injected = sum(1 for t in truth.values() if t)
    print(f"{len(files)} images ({injected} with an injected issue), workers={args.workers}, cores={os.cpu_count()}")

    runs = time_builds(dump, base, args.workers, args.rounds)
    cli_runs = time_cli_builds(dump, base, args.cli_rounds) if args.cli_rounds else None
    ours = pipecheck_flags(base / "on")
    theirs, cv_scores, cv_seconds = ({}, {}, float("nan")) if args.no_cleanvision else cleanvision_flags(dump)
    print_table(truth, ours, theirs)
    if theirs:
        print_differences(dump, truth, ours, theirs, cv_scores)
    print_lookalikes(base / "lookalikes", make_lookalikes(base / "lookalikes"), bool(theirs))
    print()
    print("in-process builds (statistics off):")
    ok = report_cost(runs, len(files))
    if cli_runs:
        print(
            "the CLI command end to end (`pipecheck build-tfrecords DUMP --out OUT --label-field species`, statistics on):"
        )
        ok &= report_cost(cli_runs, len(files))
    decode, meas, hashes = measure_cost(files)
    print(
        f"per image (CPU, one loop): decode {decode * 1e3:.3f} ms, quality measures {meas * 1e3:.3f} ms "
        f"({meas / decode:.1%} of the decode), pixel + difference hash {hashes * 1e3:.3f} ms"
    )
    if theirs:
        print(f"CleanVision find_issues: {cv_seconds:.2f} s wall ({len(files) / cv_seconds:.0f} img/s)")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
