"""Throughput of pipecheck's build and reader against baselines run in the same process.

    python benchmarks/throughput.py [--images 5000] [--workers N] [--rounds 3] [--keep DIR]

Makes a dump of real-photo JPEG crops (256-900 px) with sidecars, warms the page cache, then
measures, on the same files:

* baselines: PIL full decodes per second, every worker decoding its share of the build's images at
  once (= per core x workers, the decode limit of a build that verifies every image; one core
  alone is also shown), seed 001's per-file loader (``keras.utils.load_img`` + ``img_to_array``
  per image, batches stacked), a naive single-process TFRecord write with no decode check, a plain
  ``tf.data`` read+decode+resize(224) from the files, and ``keras.utils.image_dataset_from_directory``
  on a class-folder copy;
* pipecheck: ``build-tfrecords`` with full verification, with ``--max-side 256``, and
  ``load_dataset(..., backbone="resnet50")`` from both builds.

Prints each figure with its baseline, the ratio and the issue's target. Timing here is noisy
(shared machines): compare ratios, which are measured minutes apart on the same files.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def _decode_files(files: list[Path]) -> None:
    from PIL import Image

    for f in files:
        Image.open(io.BytesIO(f.read_bytes())).load()


def decode_rate_per_core(files: list[Path]) -> float:
    """PIL full decodes per second on one core, the other cores idle."""
    _, s = timed(_decode_files, files)
    return rate(len(files), s)


def _decode_worker(files, barrier, results) -> None:
    barrier.wait()
    t = time.perf_counter()
    _decode_files(files)
    results.put((len(files), time.perf_counter() - t))


def decode_limit(files: list[Path], workers: int) -> float:
    """PIL full decodes per second per core x workers, measured on the build's own images.

    ``workers`` processes decode ``files`` between them (every image once, as a build does), all
    at once: the decode limit of a build that verifies every image, with the per-core speed taken
    under the same all-cores-busy load and over the same images and about the same time as the
    build (a short measurement is more likely to fall in a quiet moment of a shared host and would
    overstate the limit).
    """
    from pipecheck.pipeline.workers import mp_context

    ctx = mp_context()
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_decode_worker, args=(files[i::workers], barrier, results)) for i in range(workers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    done = [results.get(timeout=600) for _ in procs]  # a crashed worker must not hang the run
    for p in procs:
        p.join()
    return sum(rate(n, s) for n, s in done)


def seed001_loader(files: list[Path], size: int = 224, batch: int = 32) -> float:
    """Seed 001's loader: one load_img + img_to_array per path, stacked per batch."""
    import numpy as np
    from keras.utils import img_to_array, load_img

    def run():
        for i in range(0, len(files), batch):
            np.vstack(
                [
                    np.expand_dims(img_to_array(load_img(str(p), target_size=(size, size))), 0)
                    for p in files[i : i + batch]
                ]
            )

    _, s = timed(run)
    return rate(len(files), s)


def naive_tfrecord(files: list[Path], out: Path) -> float:
    import tensorflow as tf

    def run():
        with tf.io.TFRecordWriter(str(out)) as w:
            for f in files:
                ex = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f.read_bytes()]))
                        }
                    )
                )
                w.write(ex.SerializeToString())

    _, s = timed(run)
    return rate(len(files), s)


def consume(ds) -> int:
    n = 0
    for x, _ in ds:
        n += int(x.shape[0])
    return n


def plain_tfdata(files: list[Path], size: int = 224) -> float:
    import tensorflow as tf

    def load(p):
        img = tf.io.decode_jpeg(tf.io.read_file(p), channels=3)
        return tf.image.resize(img, [size, size]), 0

    ds = tf.data.Dataset.from_tensor_slices([str(f) for f in files]).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    n, s = timed(consume, ds.batch(32).prefetch(tf.data.AUTOTUNE))
    return rate(n, s)


def keras_directory(class_dir: Path, size: int = 224) -> float:
    import keras

    ds = keras.utils.image_dataset_from_directory(
        str(class_dir), image_size=(size, size), batch_size=32, shuffle=False, verbose=False
    )
    n, s = timed(consume, ds)
    return rate(n, s)


def pipecheck_build(dump: Path, out: Path, workers: int, max_side: int | None = None) -> float:
    from pipecheck.pipeline.build import BuildOptions, build

    shutil.rmtree(out, ignore_errors=True)
    result, s = timed(
        build,
        BuildOptions(
            dump=str(dump),
            out=str(out),
            label_field="species",
            val_fraction=0.0,
            workers=workers,
            max_side=max_side,
            stats=False,
            overwrite=True,
        ),
    )
    assert result.accounting["balanced"], result.accounting
    return rate(result.accounting["written"], s)


def pipecheck_read(out: Path) -> float:
    from pipecheck.pipeline import load_dataset

    ds = load_dataset(str(out), "train", backbone="resnet50", batch_size=32, shuffle=False)
    n, s = timed(consume, ds)
    return rate(n, s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", help="Folder for the generated dump (reused if present).")
    ap.add_argument("--rounds", type=int, default=3, help="Interleaved measurement rounds; each figure keeps its best.")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from photos import make_dump

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pipecheck-bench-"))
    dump, classes = base / "dump", base / "by_class"
    if not (dump / f"IMG_{args.images - 1:06d}.jpg").exists():
        shutil.rmtree(dump, ignore_errors=True)
        shutil.rmtree(classes, ignore_errors=True)
        print(f"generating {args.images} real-photo JPEGs in {dump} ...", flush=True)
        make_dump(dump, args.images, class_folders=classes)
    files = sorted(dump.glob("*.jpg"))[: args.images]
    mb = sum(f.stat().st_size for f in files) / 1e6
    for f in files:  # warm the page cache so every contender reads from memory
        f.read_bytes()
    print(
        f"{len(files)} JPEGs, {mb:.0f} MB (mean {mb * 1000 / len(files):.0f} KB), workers={args.workers}, cores={os.cpu_count()}"
    )

    # The host is shared and its speed drifts by tens of percent over minutes. Every contender runs
    # once per round (every other round in reverse order), and each ratio is taken within a round:
    # build vs decode limit, --max-side vs full build and reader vs image_dataset_from_directory
    # run back to back; the seed-loader ratios are two or three contenders apart (their targets
    # have more room). The verdict is on the median of those paired ratios; the best round of each
    # contender and the ratio of bests are shown too, and a target passes only if both estimates
    # meet it: image_dataset_from_directory runs at one of two speeds (~1850 or ~975 images/s
    # here, as if its autotuned map sometimes settled on one core), which flatters the reader in
    # the rounds where it is slow. The one-core figure (reported only) decodes the first 1500 images.
    sub = files[: min(len(files), 1500)]
    contenders = {
        "limit": lambda: decode_limit(files, args.workers),  # the images the build checks
        "build_full": lambda: pipecheck_build(dump, base / "full", args.workers),
        "build_small": lambda: pipecheck_build(dump, base / "small", args.workers, max_side=256),
        "read_full": lambda: pipecheck_read(base / "full"),
        "read_small": lambda: pipecheck_read(base / "small"),
        "kdir": lambda: keras_directory(classes),
        "seed": lambda: seed001_loader(sub),
        "per_core": lambda: decode_rate_per_core(sub),
        "naive": lambda: naive_tfrecord(files, base / "naive.tfrecord"),
        "tfdata": lambda: plain_tfdata(files),
    }
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(args.rounds):
        for name in list(contenders) if r % 2 == 0 else list(contenders)[::-1]:
            os.sync()  # one contender's dirty pages (a written shard) must not be flushed on the next one's time
            runs[name].append(contenders[name]())
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    best = {name: max(values) for name, values in runs.items()}

    rows = [
        ("baseline: PIL full decode, one core alone", "per_core", None, None),
        ("baseline: decode limit (per core x workers)", "limit", None, None),
        ("baseline: seed 001 per-file loader", "seed", None, None),
        ("baseline: naive TFRecord write, no decode", "naive", None, None),
        ("baseline: plain tf.data read+decode+resize(224)", "tfdata", None, None),
        ("baseline: image_dataset_from_directory", "kdir", None, None),
        ("build, full decode verification", "build_full", "limit", 0.8),
        ("build, full decode verification", "build_full", "seed", 1.9),
        ("build --max-side 256", "build_small", "build_full", 0.5),
        ("read resnet50, full-size shards", "read_full", "seed", None),
        ("read resnet50, full-size shards", "read_full", "kdir", None),
        ("read resnet50, --max-side 256 shards", "read_small", "seed", 5.0),
        ("read resnet50, --max-side 256 shards", "read_small", "kdir", 2.0),
    ]
    print(f"\nper core with all {args.workers} workers busy: {best['limit'] / args.workers:.0f} decodes/s")
    print(
        f"{'figure':<46} {'best/s':>7}  {'vs':<12} {'bests':>6}  {'paired: median (min-max)':<25} {'target':>7}  verdict"
    )
    ok = True
    for name, key, against, target in rows:
        if against is None:
            print(f"{name:<46} {best[key]:7.0f}")
            continue
        paired = sorted(x / y for x, y in zip(runs[key], runs[against]))
        median = paired[len(paired) // 2] if len(paired) % 2 else sum(paired[len(paired) // 2 - 1 :][:2]) / 2
        verdict = "" if target is None else ("PASS" if min(median, best[key] / best[against]) >= target else "FAIL")
        ok &= verdict != "FAIL"
        tgt = "" if target is None else f">={target:g}"
        spread = f"{median:.2f} ({paired[0]:.2f}-{paired[-1]:.2f})"
        print(
            f"{name:<46} {best[key]:7.0f}  {against:<12} {best[key] / best[against]:6.2f}  {spread:<25} {tgt:>7}  {verdict}"
        )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
