"""Throughput of ``build-tfrecords --runner beam`` on a Dask cluster (Beam's DaskRunner on a
``distributed.LocalCluster`` of 1 and of 2 single-threaded worker processes), against the local
build with 1 and 2 worker processes, on the same real-photo dump.

    python benchmarks/dask_runner.py [--images 5000] [--rounds 3] [--shard-size-mb 4] [--keep DIR]

The Dask workers run as docs/guide.md recommends, without the ``MALLOC_TRIM_THRESHOLD_=65536`` that
Dask's nanny sets by default (``distributed.nanny.pre-spawn-environ``): setting that variable turns
off glibc's dynamic mmap threshold, so every multi-megabyte decode buffer is mapped and unmapped
again, and a worker spent 1.4-1.7x the CPU per image of a local build worker (10x the system time). One
more contender, 2 workers with Dask's default, shows what that costs.

The clusters are started once and warmed up (their workers import Beam and pipecheck on their first
task) before the rounds. Every contender runs once per round, every other round in reverse order;
ratios are taken within a round (paired) and over the best rounds. Statistics are off for every
contender: on Dask the driver computes them after the shards, exactly as a local build does, so they
would add the same time to both. Each Dask build's ``checksums.jsonl`` is checked equal to the local
build's. Prints images/s (best round), CPU ms per image (driver, scheduler and workers) and the ratios.
Timing here is noisy (a shared 2-core host): compare the ratios, and the load average it prints.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LABELS = dict(label_field="species", group_field="specimen", stats=False, overwrite=True)
TRIM = "MALLOC_TRIM_THRESHOLD_"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (a local build's pool), user + system."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _process_cpu() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def start_cluster(workers: int, dask_default: bool = False):
    """A LocalCluster of ``workers`` single-threaded processes, and a client to watch it; without
    Dask's malloc setting unless ``dask_default`` (see the module docstring)."""
    import dask
    from distributed import LocalCluster

    had = TRIM in os.environ
    tuned = {} if dask_default else {f"distributed.nanny.pre-spawn-environ.{TRIM}": None}
    with dask.config.set(tuned):
        cluster = LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None)
    if not had:  # the nanny sets it in this process too, and later clusters would inherit it
        os.environ.pop(TRIM, None)
    from distributed import Client

    client = Client(cluster)
    seen = set(client.run(lambda: os.environ.get(TRIM)).values())  # (os.environ.get would pickle ours)
    want = str(dask.config.get(f"distributed.nanny.pre-spawn-environ.{TRIM}")) if dask_default else None
    assert seen == {want}, f"workers run with {TRIM}={seen}, wanted {want}"
    return cluster, client


def build_local(dump: Path, out: Path, workers: int, shard_mb: float) -> tuple[float, float, bytes]:
    """Images/s, CPU ms per image (driver + its worker processes), ``checksums.jsonl``."""
    from pipecheck.pipeline.build import BuildOptions, build

    t, c = time.perf_counter(), cpu_seconds()
    result = build(BuildOptions(dump=str(dump), out=str(out), workers=workers, shard_size_mb=shard_mb, **LABELS))
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    assert result.accounting["balanced"], result.accounting
    n = result.accounting["written"]
    return n / seconds, 1000 * cpu / n, (out / "checksums.jsonl").read_bytes()


def build_dask(dump: Path, out: Path, cluster, shard_mb: float) -> tuple[float, float, bytes]:
    """Images/s, CPU ms per image (driver with the scheduler + the Dask workers), ``checksums.jsonl``."""
    from pipecheck.pipeline.beam import build_beam
    from pipecheck.pipeline.build import BuildOptions

    local_cluster, client = cluster
    before = sum(client.run(_process_cpu).values())
    t, c = time.perf_counter(), cpu_seconds()
    result = build_beam(
        BuildOptions(dump=str(dump), out=str(out), shard_size_mb=shard_mb, **LABELS),
        ["--runner=DaskRunner", f"--dask_client_address={local_cluster.scheduler_address}"],
    )
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    cpu += sum(client.run(_process_cpu).values()) - before
    assert result.accounting["balanced"], result.accounting
    n = result.accounting["written"]
    return n / seconds, 1000 * cpu / n, (out / "checksums.jsonl").read_bytes()


def paired(a: list[float], b: list[float]) -> str:
    ratios = sorted(x / y for x, y in zip(a, b))
    n = len(ratios)
    median = ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2
    return f"{median:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shard-size-mb", type=float, default=4.0, help="Small enough for many shards (parallelism).")
    ap.add_argument("--keep", help="Folder for the generated dump (reused if present).")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the in-process scheduler's INFO lines
    from photos import make_dump

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pipecheck-dask-bench-"))
    dump, warm = base / "dump", base / "warm"
    if not (dump / f"IMG_{args.images - 1:06d}.jpg").exists():
        shutil.rmtree(dump, ignore_errors=True)
        print(f"generating {args.images} real-photo JPEGs in {dump} ...", flush=True)
        make_dump(dump, args.images)
    if not warm.exists():
        make_dump(warm, 60, seed=1, min_side=64, max_side=200)
    files = sorted(dump.glob("*.jpg"))
    mb = sum(f.stat().st_size for f in files) / 1e6
    for f in files:  # warm the page cache so every contender reads from memory
        f.read_bytes()
    print(f"{len(files)} JPEGs, {mb:.0f} MB, shards of {args.shard_size_mb:g} MB, cores={os.cpu_count()}")
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)

    clusters = {"1": start_cluster(1), "2": start_cluster(2), "2 default": start_cluster(2, dask_default=True)}
    try:
        for cluster in clusters.values():  # workers import Beam and pipecheck on their first task
            build_dask(warm, base / "out_warm", cluster, 0.05)
        contenders = {
            "local_1": lambda: build_local(dump, base / "out_local1", 1, args.shard_size_mb),
            "local_2": lambda: build_local(dump, base / "out_local2", 2, args.shard_size_mb),
            "dask_1": lambda: build_dask(dump, base / "out_dask1", clusters["1"], args.shard_size_mb),
            "dask_2": lambda: build_dask(dump, base / "out_dask2", clusters["2"], args.shard_size_mb),
            "dask_2_default": lambda: build_dask(dump, base / "out_dask2d", clusters["2 default"], args.shard_size_mb),
        }
        runs: dict[str, list[float]] = {name: [] for name in contenders}
        cpu_ms: dict[str, list[float]] = {name: [] for name in contenders}
        checksums: dict[str, bytes] = {}
        for r in range(args.rounds):
            for name in list(contenders) if r % 2 == 0 else list(contenders)[::-1]:
                os.sync()  # one contender's dirty pages must not be flushed on the next one's time
                rate, ms, sums = contenders[name]()
                runs[name].append(rate)
                cpu_ms[name].append(ms)
                checksums[name] = sums
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    assert len(set(checksums.values())) == 1, "a Dask build's shards differ from the local build's"
    print("every build wrote the same shards (checksums.jsonl identical)")
    print("load average after: {:.1f} {:.1f} {:.1f}\n".format(*os.getloadavg()))

    best = {name: max(v) for name, v in runs.items()}
    print(f"{'build':<38} {'best img/s':>10}  {'CPU ms/image (min)':>18}")
    for label, name in [
        ("local, 1 worker process", "local_1"),
        ("local, 2 worker processes", "local_2"),
        ("Beam on Dask, 1 worker", "dask_1"),
        ("Beam on Dask, 2 workers", "dask_2"),
        ("Beam on Dask, 2 workers, Dask malloc", "dask_2_default"),
    ]:
        print(f"{label:<38} {best[name]:10.0f}  {min(cpu_ms[name]):18.2f}")
    print(f"\n{'ratio':<38} {'bests':>6}  paired median (min-max)")
    for label, a, b in [
        ("Dask 2 workers / Dask 1 worker", "dask_2", "dask_1"),
        ("local 2 / local 1", "local_2", "local_1"),
        ("Dask 1 worker / local 1", "dask_1", "local_1"),
        ("Dask 2 workers / local 2", "dask_2", "local_2"),
        ("Dask's malloc default / without", "dask_2_default", "dask_2"),
    ]:
        print(f"{label:<38} {best[a] / best[b]:6.2f}  {paired(runs[a], runs[b])}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
