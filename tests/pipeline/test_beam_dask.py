"""``build-tfrecords --runner beam`` on a real Dask cluster: Beam's DaskRunner, pointed with
``--beam-option=--dask_client_address`` at a ``distributed.LocalCluster`` of two worker processes,
builds a small real-photo dump (``benchmarks/photos.py`` crops, plus three broken inputs) into
exactly the files a local build writes: the same shard bytes, ``checksums.jsonl``,
``rejects.jsonl`` and TFDV statistics, and the same ``dataset.json`` but for its two wall-clock
fields. The cluster is shared by the module and stopped after it.

Statistics: on Dask the driver computes them after the shards, as a local build does (Beam 2.61's
Dask runner has no side inputs, which ``tfdv.GenerateStatistics`` needs; see ``pipeline/beam.py``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from extras import _needs

from pipecheck.cli import cli

# The pipecheck[beam] extra brings dask and distributed, and the build's statistics need [tfdv]:
# skipped without them (./dev test --env new), failed, never skipped, where dev requires them
# (./dev test --env tfdv sets PIPECHECK_REQUIRE_EXTRAS).
pytestmark = _needs("beam,tfdv", "apache_beam", "tensorflow_data_validation", "dask", "distributed")

REPO = Path(__file__).resolve().parents[2]
# 0.04 MB shards: the ~40 crops of 64-200 px fill 5+ shards, so both Dask workers write some.
BUILD = ["--label-field", "species", "--group-field", "specimen", "--shard-size-mb", "0.04", "--format", "json"]
# created_unix and build_seconds are wall-clock readings of the build; nothing else may differ (the
# runner is not recorded in dataset.json: its options are the BuildOptions that shape the output).
VOLATILE = ("created_unix", "build_seconds")


@pytest.fixture(scope="module")
def photo_dump(tmp_path_factory) -> Path:
    """40 real-photo crops with sidecars, plus a truncated JPEG, a text file named .jpg (both with
    sidecars: rejected by the workers) and an image without a sidecar (rejected by the scan)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from photos import make_dump

    dump = make_dump(tmp_path_factory.mktemp("dask_photos") / "dump", 40, min_side=64, max_side=200)
    whole = (dump / "IMG_000000.jpg").read_bytes()
    (dump / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (dump / "cut.json").write_text(json.dumps({"species": "cat", "specimen": "S900001", "iso": 100}))
    (dump / "notes.jpg").write_text("not an image")
    (dump / "notes.json").write_text(json.dumps({"species": "cat", "specimen": "S900002", "iso": 100}))
    (dump / "lonely.jpg").write_bytes(whole)
    return dump


@pytest.fixture(scope="module")
def cluster():
    """A real Dask cluster here: a scheduler and two single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        with Client(c) as client:  # the test's own view of the workers (the build opens another)
            yield c, client


def _executed(client) -> dict[str, int]:
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


@pytest.fixture(scope="module")
def local_and_dask(photo_dump, cluster, tmp_path_factory):
    """The dump built with the CLI locally (one process) and on the cluster; with the tasks each
    Dask worker ran during the Dask build."""
    _cluster, client = cluster
    root = tmp_path_factory.mktemp("dask_vs_local")
    local = CliRunner().invoke(
        cli, ["build-tfrecords", str(photo_dump), "--out", str(root / "local"), *BUILD, "--workers", "1"]
    )
    before = _executed(client)
    dask = CliRunner().invoke(
        cli,
        [
            "build-tfrecords",
            str(photo_dump),
            "--out",
            str(root / "dask"),
            *BUILD,
            "--runner",
            "beam",
            "--beam-option=--runner=DaskRunner",
            f"--beam-option=--dask_client_address={_cluster.scheduler_address}",
        ],
    )
    after = _executed(client)
    ran = {w: after[w] - before.get(w, 0) for w in after}
    return (root / "local", local), (root / "dask", dask), ran


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dask_build_writes_the_local_builds_files_byte_for_byte(local_and_dask):
    (local_out, local), (dask_out, dask), _ran = local_and_dask
    assert local.exit_code == dask.exit_code and dask.exit_code in (0, 1), (dask.exit_code, dask.output)
    local_files, dask_files = _files(local_out), _files(dask_out)
    assert sorted(dask_files) == sorted(local_files)
    shards = [n for n in local_files if n.endswith(".tfrecord")]
    assert len(shards) >= 4, "the test needs several shards to spread over the workers"
    assert {"checksums.jsonl", "rejects.jsonl", "stats/train.stats.pb", "stats/val.stats.pb"} <= set(local_files)
    for name, data in local_files.items():
        if name != "dataset.json":
            assert dask_files[name] == data, f"{name} differs between the Dask and the local build"
    rejects = [json.loads(line) for line in local_files["rejects.jsonl"].splitlines()]
    assert {Path(r["path"]).name for r in rejects} == {"cut.jpg", "notes.jpg", "lonely.jpg"}
    local_manifest, dask_manifest = json.loads(local_files["dataset.json"]), json.loads(dask_files["dataset.json"])
    assert {k for k in local_manifest if local_manifest[k] != dask_manifest[k]} <= set(VOLATILE)
    assert dask_manifest["accounting"]["balanced"] and dask_manifest["accounting"]["written"] == 40
    assert not list(dask_out.parent.glob(".*.partial")), "staging folder left behind"


def test_dask_build_ran_on_both_worker_processes(local_and_dask, cluster):
    _local, _dask, ran = local_and_dask
    _cluster, client = cluster
    assert len(ran) == 2 and all(n > 0 for n in ran.values()), f"tasks per worker during the build: {ran}"
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_dask_report_matches_the_local_report(local_and_dask):
    (_l, local), (_d, dask), _ran = local_and_dask
    ours, theirs = json.loads(dask.stdout), json.loads(local.stdout)
    assert [(f["check"], f["message"]) for f in ours["findings"]] == [
        (f["check"], f["message"]) for f in theirs["findings"]
    ]


def test_unreachable_scheduler_is_one_line_naming_the_address(photo_dump, tmp_path):
    # Port 9 (discard) has no Dask scheduler: the client gives up after the 2 s timeout.
    result = CliRunner().invoke(
        cli,
        [
            "build-tfrecords",
            str(photo_dump),
            "--out",
            str(tmp_path / "out"),
            *BUILD,
            "--no-stats",
            "--runner",
            "beam",
            "--beam-option=--runner=DaskRunner",
            "--beam-option=--dask_client_address=tcp://127.0.0.1:9",
            "--beam-option=--dask_connection_timeout=2",
        ],
    )
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr.strip()
    assert "\n" not in err and "cannot reach the Dask scheduler" in err and "tcp://127.0.0.1:9" in err


def test_dask_options_are_parsed_and_only_dask_options_reach_the_client():
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.dask.dask_runner import DaskOptions

    from pipecheck.pipeline.beam import DASK_RUNNER, dask_client_options, is_dask, pipeline_options

    for name in ("DaskRunner", DASK_RUNNER):
        opts = pipeline_options([f"--runner={name}", "--dask_client_address=tcp://10.0.0.5:8786"], workers=2)
        assert is_dask(opts) and opts.view_as(StandardOptions).runner == DASK_RUNNER
        client = dask_client_options(opts)
        assert client.view_as(DaskOptions).get_all_options(drop_default=True) == {"address": "tcp://10.0.0.5:8786"}
    assert not is_dask(pipeline_options([], workers=2))


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--runner=DaskRunner", "--job_name=flowers"], "drop: --job_name"),
        (["--runner=DaskRunner", "--direct_num_workers=4"], "drop: --direct_num_workers"),
        (["--dask_client_address=tcp://10.0.0.5:8786"], "needs --beam-option=--runner=DaskRunner"),
    ],
)
def test_options_the_dask_runner_cannot_take_are_refused(options, fragment):
    from pipecheck.pipeline.beam import pipeline_options
    from pipecheck.pipeline.errors import InputError

    with pytest.raises(InputError, match=fragment):
        pipeline_options(options, workers=2)
