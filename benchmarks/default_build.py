"""The default ``build-tfrecords`` (statistics on) against ``--no-stats``, end to end as a user runs it.

    python benchmarks/default_build.py [--images 3000] [--rounds 5] [--workers N] [--keep DIR]

Makes a dump of real-photo JPEG crops with sidecars (``photos.make_dump``), warms the page cache, then
runs ``python -m pipecheck build-tfrecords DUMP --out OUT --label-field species`` in a fresh
interpreter with and without ``--no-stats``, once each per round (every other round in reverse
order), and prints each round's wall-time ratio (default / ``--no-stats``), their median and the
ratio of the best rounds against the target (at most 1.2: statistics nearly free). Both estimates
must meet it (see docs/benchmarks.md, "Default build against --no-stats").
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET = 1.2


def run_build(
    dump: Path, out: Path, workers: int | None, stats: bool, extra: tuple[str, ...] = ()
) -> tuple[float, float]:
    """Wall seconds of one CLI build in a fresh interpreter (start-up, imports and exit included), and
    the CPU seconds of its whole process tree (driver and workers, user + system). ``extra``: more
    options (``--no-quality``).
    """
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipecheck", "build-tfrecords", str(dump), "--out", str(out)]
    cmd += ["--label-field", "species"] + (["--workers", str(workers)] if workers else [])
    cmd += ([] if stats else ["--no-stats"]) + list(extra)
    os.sync()  # the previous build's dirty pages must not be flushed on this one's time
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode not in (0, 1) or not (out / "dataset.json").exists():
        sys.exit(f"build failed (exit {proc.returncode}):\n{proc.stderr}")
    if stats != (out / "stats").is_dir():
        sys.exit(f"statistics {'missing' if stats else 'written'} in {out} (is TFDV installed?)")
    return seconds, cpu


def median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="--workers for both builds (default: the CLI's)")
    ap.add_argument("--keep", help="Folder for the generated dump (reused if present).")
    args = ap.parse_args()
    from photos import make_dump

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pipecheck-default-build-"))
    dump = base / "dump"
    if not (dump / f"IMG_{args.images - 1:06d}.jpg").exists() or (dump / f"IMG_{args.images:06d}.jpg").exists():
        shutil.rmtree(dump, ignore_errors=True)
        print(f"generating {args.images} real-photo JPEGs in {dump} ...", flush=True)
        make_dump(dump, args.images)
    files = sorted(dump.iterdir())
    for f in files:  # warm the page cache so both commands read from memory
        f.read_bytes()
    print(f"{args.images} photos, {sum(f.stat().st_size for f in files) / 1e6:.0f} MB, cores={os.cpu_count()}")
    run_build(dump, base / "warmup", args.workers, True)  # first-run costs (.pyc, page cache of the libraries)

    runs: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    ratios = []
    for r in range(args.rounds):
        for stats in (True, False) if r % 2 == 0 else (False, True):
            wall, used = run_build(dump, base / ("out" if stats else "out-nostats"), args.workers, stats)
            runs[stats].append(wall)
            cpu[stats].append(used)
        ratios.append(runs[True][-1] / runs[False][-1])
        print(
            f"round {r + 1}: default {runs[True][-1]:.2f} s, --no-stats {runs[False][-1]:.2f} s, ratio {ratios[-1]:.2f}"
            f"  (CPU of the process trees: {cpu[True][-1]:.2f} s / {cpu[False][-1]:.2f} s)",
            flush=True,
        )
    best = min(runs[True]) / min(runs[False])
    med = median(ratios)
    verdict = "PASS" if max(best, med) <= TARGET else "FAIL"
    print(
        f"default / --no-stats wall time: median {med:.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f}), best rounds "
        f"{best:.2f} ({min(runs[True]):.2f} s / {min(runs[False]):.2f} s); target <= {TARGET:g}: {verdict}"
    )
    extra = [a - b for a, b in zip(cpu[True], cpu[False])]
    print(f"CPU the statistics add per build (paired): median {median(extra):+.2f} s (reported, no target)")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
