"""Scale: build and validate N real-photo images, wall time and peak memory of the whole process
tree (workers included), at several N to show memory is flat in the number of images.

    python benchmarks/scale.py --images 10000 100000 [--keep DIR] [--workers 2]

Target (issue 6): 100k images built and validated in under 3 minutes on this 2-core machine, peak
memory under 1 GiB, and about the same at 10k and 100k.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _chunk(args):
    from photos import make_dump

    root, start, n = args
    tmp = Path(root) / f".gen{start}"
    make_dump(tmp, n, seed=start, min_side=128, max_side=384, quality=85)
    for f in tmp.iterdir():  # unique names across chunks
        os.replace(f, Path(root) / f.name.replace("IMG_", f"IMG_{start:07d}_"))
    tmp.rmdir()


def make(root: Path, n: int, workers: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    step = 2000
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_chunk, [(str(root), s, min(step, n - s)) for s in range(0, n, step)]))


def _pss(pid: int) -> int | None:
    """Proportional set size in bytes (shared pages divided among the processes that map them), or
    None where the kernel does not say (no smaps_rollup, no permission)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def tree_memory(pid: int) -> tuple[int, int]:
    """``(RSS, PSS)`` in bytes summed over a process and all its descendants (from /proc).

    RSS counts a page once per process that maps it, so forked workers sharing the driver's pages
    count them again; PSS splits shared pages among their users, so its sum is the memory the tree
    really occupies. Both are reported; the target is judged on PSS.
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total_rss, total_pss, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        total_rss += rss.get(p, 0)
        pss = _pss(p)
        total_pss += rss.get(p, 0) if pss is None else pss  # never under-count: RSS when PSS is unknown
        stack.extend(children.get(p, []))
    return total_rss, total_pss


def measured(cmd: list[str]) -> tuple[float, int, int, int]:
    """(seconds, peak tree PSS, peak tree RSS, exit code) of a command."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_rss = peak_pss = 0
    while proc.poll() is None:
        rss, pss = tree_memory(proc.pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.1)
    err = proc.stderr.read().decode()
    if proc.returncode not in (0, 1):
        print(err[-2000:], file=sys.stderr)
    return time.perf_counter() - t, peak_pss, peak_rss, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", help="Folder for generated dumps (reused if present).")
    args = ap.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pipecheck-scale-"))
    exe = [sys.executable, "-m", "pipecheck"]
    env_note = f"{os.cpu_count()} cores, workers={args.workers}"
    rows = []
    for n in args.images:
        dump, out = base / f"dump{n}", base / f"out{n}"
        if not (dump / ".complete").exists():
            shutil.rmtree(dump, ignore_errors=True)
            t = time.perf_counter()
            make(dump, n, args.workers)
            (dump / ".complete").touch()
            print(f"generated {n} images in {time.perf_counter() - t:.0f} s", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        b_s, b_mem, b_rss, b_rc = measured(
            exe
            + [
                "build-tfrecords",
                str(dump),
                "--out",
                str(out),
                "--label-field",
                "species",
                "--group-field",
                "specimen",
                "--workers",
                str(args.workers),
            ]
        )
        v_s, v_mem, v_rss, v_rc = measured(exe + ["validate", "--data", str(out)])
        rows.append((n, b_s, b_mem, b_rc, v_s, v_mem, v_rc))
        print(
            f"{n:>7} images: build {b_s:6.1f} s ({n / b_s:5.0f} img/s, peak PSS {b_mem / 2**20:5.0f} MiB, "
            f"RSS {b_rss / 2**20:5.0f} MiB, rc {b_rc}), validate {v_s:5.1f} s (peak PSS {v_mem / 2**20:5.0f} MiB, "
            f"RSS {v_rss / 2**20:5.0f} MiB, rc {v_rc}), total {b_s + v_s:6.1f} s",
            flush=True,
        )
    print(f"\n{env_note}")
    big = rows[-1]
    print(
        f"largest: {big[0]} images built+validated in {big[1] + big[4]:.0f} s (target < 180 s): "
        f"{'PASS' if big[1] + big[4] < 180 else 'FAIL'}; peak PSS {max(big[2], big[5]) / 2**20:.0f} MiB (target < 1024): "
        f"{'PASS' if max(big[2], big[5]) < 2**30 else 'FAIL'}"
    )
    if len(rows) > 1:
        small = rows[0]
        ratio = max(big[2], big[5]) / max(small[2], small[5])
        print(f"peak PSS {big[0]} vs {small[0]} images: x{ratio:.2f} (flat if close to 1)")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
