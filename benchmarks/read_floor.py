"""Where a full-size read's CPU goes, and the floor that decoding the stored JPEGs puts under it.

    python benchmarks/read_floor.py [--images 1000] [--rounds 7] [--keep DIR]
                                    [--min-side 256] [--max-side 900]

Builds full-size shards of real-photo crops (``photos.make_dump``, statistics off), then times, in
ms of CPU per image (one thread of tf.data, the best of interleaved rounds, the same images in every
row):

* ``image_dataset_from_directory``'s steps on the files (read, ``decode_image``, ``resize`` to 224),
  and half of it: the budget of issue 20's "2x ``image_dataset_from_directory``" target;
* seed 001's per-file loader (``keras.utils.load_img`` + ``img_to_array``, ``throughput.py``'s),
  which runs on one core: 4x it on N cores leaves N/4 of its CPU per image;
* pipecheck's reader in all (``load_dataset(..., backbone="resnet50")``, as users run it: its own
  autotuned thread pool, whose overhead is part of its CPU), then its steps: parse the record, decode
  at the DCT scale the reader picks (1/2, 1/4 or 1/8 while the short side stays at or above 224;
  ``INTEGER_FAST`` IDCT as the reader uses there), and decodes the reader cannot use: full size (the
  default IDCT, as ``image_dataset_from_directory`` and the reader's exact mode), and 1/8 scale for
  every image;
* progressive JPEG, the way round Huffman decoding of every coefficient that a baseline JPEG
  forces: every image losslessly transcoded (``progressive.c``, compiled here with ``cc -ljpeg``;
  the rows are skipped without a compiler or libjpeg headers) so that its first scans hold the DC
  and then the lowest AC coefficients, and decoded at the reader's scale whole, and cut after the
  low-frequency scans (+ EOI, which libjpeg decodes with the missing coefficients as zero): DC only,
  and DC + AC 1-5. The bytes kept are shown beside. The whole transcoded files are checked to
  decode to the stored images' pixels, bit for bit.

Then the floor: the parse plus the cheapest decode of the stored JPEG measured (whichever row is
cheapest, scales the reader may not use included), against the 2x budget. Timing is noisy on shared
machines; the rows are measured minutes apart on the same images, so compare them with each other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = 224
EOI = b"\xff\xd9"


def _one_thread(ds):
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.autotune.enabled = False
    return ds.with_options(options)


def _cpu_ms(work, n: int) -> float:
    """CPU ms per image to iterate the datasets in ``work`` one after another (or call ``work``),
    over ``n`` images in all.
    """
    cpu = time.process_time()
    if callable(work):
        work()
    else:
        for ds in work:
            for _ in ds:
                pass
    return (time.process_time() - cpu) * 1e3 / n


def _ratio(short_side: int) -> int:
    """The reader's DCT scale for a JPEG whose short side is ``short_side`` (reader._decoder's rule)."""
    return next(r for r in (8, 4, 2, 1) if short_side >= r * SIZE or r == 1)


def _by_ratio(images: list[bytes], ratios: list[int], fixed: int | None = None):
    """One-thread datasets decoding ``images``, one per DCT scale (``fixed`` for all, if given)."""
    import tensorflow as tf

    groups: dict[int, list[bytes]] = {}
    for data, r in zip(images, ratios):
        groups.setdefault(fixed or r, []).append(data)
    return [
        _one_thread(
            tf.data.Dataset.from_tensor_slices(tf.constant(g)).map(
                lambda b, r=r: tf.shape(
                    tf.io.decode_jpeg(b, channels=3, ratio=r, dct_method="INTEGER_FAST" if r > 1 else "")
                )
            )
        )
        for r, g in groups.items()
    ]


def _scan_cut(data: bytes, scans: int) -> bytes:
    """``data`` (a progressive JPEG) cut before the segment after its first ``scans`` scans, + EOI.

    Inside entropy-coded data 0xFF is followed by 0x00 or a restart marker, so the first DHT or SOS
    marker after the ``scans``-th SOS ends that scan.
    """
    sos, i = [], 2
    while len(sos) <= scans:
        i = data.find(b"\xff\xda", i)
        if i < 0:
            return data
        sos.append(i)
        i += 2
    end = min(j for j in (data.find(b"\xff\xc4", sos[scans - 1] + 2), sos[scans]) if j >= 0)
    return data[:end] + EOI


def _progressive(images: list[bytes], tmp: Path) -> dict[int, list[bytes]] | None:
    """``{K: transcoded images}`` for K = 0 and 5, or None where ``cc -ljpeg`` cannot build the tool."""
    tool = tmp / "progressive"
    try:
        subprocess.run(
            ["cc", "-O2", str(Path(__file__).with_name("progressive.c")), "-o", str(tool), "-ljpeg"],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"progressive rows skipped: cannot build progressive.c ({exc})")
        return None
    src = tmp / "src"
    src.mkdir()
    for i, data in enumerate(images):
        (src / f"{i}.jpg").write_bytes(data)
    out = {}
    for k in (0, 5):
        dest = tmp / f"k{k}"
        dest.mkdir()
        for start in range(0, len(images), 200):
            pairs = [
                p for i in range(start, min(start + 200, len(images))) for p in (src / f"{i}.jpg", dest / f"{i}.jpg")
            ]
            subprocess.run([str(tool), str(k), *map(str, pairs)], check=True)
        out[k] = [(dest / f"{i}.jpg").read_bytes() for i in range(len(images))]
    return out


def _rows(build: Path, files: list[Path], tmp: Path):
    """The rows to time (name, share of the stored bytes decoded or None, work, images), the record
    count, the stored bytes and the images per DCT scale.
    """
    import tensorflow as tf
    from throughput import seed001_loader

    from pipecheck.pipeline import load_dataset, spec
    from pipecheck.pipeline.manifest import load_manifest

    paths = load_manifest(str(build)).shard_paths(str(build), "train")
    records = [r.numpy() for r in tf.data.TFRecordDataset(paths)]
    keys = [spec.IMAGE_ENCODED, spec.IMAGE_HEIGHT, spec.IMAGE_WIDTH]
    description = spec.feature_description(keys=keys)
    parsed = [tf.io.parse_single_example(r, description) for r in records]
    images = [p[spec.IMAGE_ENCODED].numpy() for p in parsed]
    ratios = [_ratio(min(int(p[spec.IMAGE_HEIGHT]), int(p[spec.IMAGE_WIDTH]))) for p in parsed]
    n, stored = len(images), sum(map(len, images))

    def idfd_steps(p):  # keras.utils.image_dataset_from_directory's per-file steps (Keras 3)
        image = tf.image.decode_image(tf.io.read_file(p), channels=3, expand_animations=False)
        # the image itself: its static shape would let TensorFlow prune the decode from tf.shape()
        return tf.image.resize(image, [SIZE, SIZE])

    idfd = _one_thread(tf.data.Dataset.from_tensor_slices([str(f) for f in files]).map(idfd_steps))
    parse = _one_thread(
        tf.data.Dataset.from_tensor_slices(tf.constant(records)).map(
            lambda r: tf.strings.length(tf.io.parse_single_example(r, description)[spec.IMAGE_ENCODED])
        )
    )
    reader = load_dataset(str(build), "train", backbone="resnet50", batch_size=32, shuffle=False)
    rows = [
        ("image_dataset_from_directory's steps", None, [idfd], len(files)),
        ("seed 001's loader (load_img + img_to_array)", None, lambda: seed001_loader(files), len(files)),
        ("pipecheck reader in all (resnet50)", None, [reader], n),
        ("  parse the record", None, [parse], n),
        ("  decode at the reader's DCT scale", 1.0, _by_ratio(images, ratios), n),
        ("decode at full size", 1.0, _by_ratio(images, ratios, fixed=1), n),
        ("decode at 1/8, every image", 1.0, _by_ratio(images, ratios, fixed=8), n),
    ]
    prog = _progressive(images, tmp)
    if prog:
        whole = prog[5]
        # Lossless: the same coefficients, so the same pixels from the same decoder, on every image.
        for a, b in zip(images, whole):
            assert tf.reduce_all(tf.io.decode_jpeg(a) == tf.io.decode_jpeg(b)), "transcode changed an image"
        dc_only = [_scan_cut(d, 1) for d in prog[0]]
        low = [_scan_cut(d, 1 + 3) for d in prog[5]]  # DC, then AC 1-5 of Y, Cb, Cr
        for name, data in (
            ("progressive, whole file, reader's scale", whole),
            ("progressive, DC + AC 1-5 only, reader's scale", low),
            ("progressive, DC only, reader's scale", dc_only),
        ):
            rows.append((name, sum(map(len, data)) / stored, _by_ratio(data, ratios), n))
    scaled = {r: ratios.count(r) for r in sorted(set(ratios))}
    return rows, n, stored, scaled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--keep", help="Folder for the generated dump and build (reused if present).")
    ap.add_argument("--min-side", type=int, default=256)
    ap.add_argument("--max-side", type=int, default=900)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from photos import make_dump

    from pipecheck.pipeline.build import BuildOptions, build

    root = Path(args.keep or tempfile.mkdtemp(prefix="read_floor-"))
    base = root / f"floor-{args.images}-{args.min_side}-{args.max_side}"
    dump, out = base / "dump", base / "full"
    if not (dump / f"IMG_{args.images - 1:06d}.jpg").exists():
        shutil.rmtree(base, ignore_errors=True)
        make_dump(dump, args.images, min_side=args.min_side, max_side=args.max_side)
    if not (out / "dataset.json").exists():
        build(
            BuildOptions(
                dump=str(dump), out=str(out), label_field="species", val_fraction=0.0, stats=False, overwrite=True
            )
        )
    files = sorted(dump.glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        rows, n, stored, scaled = _rows(out, files, Path(tmp))
        best = {name: float("inf") for name, *_ in rows}
        for _ in range(args.rounds):
            for name, _, datasets, count in rows:
                best[name] = min(best[name], _cpu_ms(datasets, count))
    print(
        f"{n} records of {args.min_side}-{args.max_side} px photos, mean {stored / n / 1000:.0f} KB; "
        f"the reader's DCT scale (images): {', '.join(f'1/{r}: {c}' for r, c in scaled.items())}"
    )
    print(f"{'ms of CPU per image (one thread, best of ' + str(args.rounds) + ' rounds)':<52} {'ms':>6}  bytes kept")
    for name, kept, *_ in rows:
        print(f"{name:<52} {best[name]:6.3f}  {'' if kept is None else f'{kept:.0%}'}")
    idfd, seed = best[rows[0][0]], best[rows[1][0]]
    budget = idfd / 2
    decodes = {name: best[name] for name, kept, *_ in rows if kept is not None}
    cheapest = min(decodes, key=decodes.get)
    floor = best["  parse the record"] + decodes[cheapest]
    print(f"2x image_dataset_from_directory's steps leaves {budget:.3f} ms per image for the whole read")
    print(
        f"floor without any resize: parse + the cheapest decode ({cheapest.strip()}) = {floor:.3f} ms "
        f"-> at most {idfd / floor:.2f}x image_dataset_from_directory's steps"
    )
    # The loader runs in one process on one core; the reader has every core of the machine.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(
        f"4x seed 001's loader on {cores} cores leaves {seed * cores / 4:.3f} ms of CPU per image; "
        f"the floor allows at most {seed * cores / floor:.2f}x"
    )


if __name__ == "__main__":
    main()
