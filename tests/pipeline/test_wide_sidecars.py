"""Issue 16 item 5: one wide sidecar must not kill ``validate``.

A sidecar with 10,000 metadata fields made ``validate --data`` grow past 24 GB (TFDV's schema
inference and validation over 10,000 features; killed by the kernel with no message), and 1,000
fields gave 1,006 findings. A build now keeps the ``--max-metadata-keys`` (default 256) most
frequent keys, says so once (``build.metadata_keys_capped``) and records it in ``dataset.json``;
schema findings about metadata are one per check. The real CLI runs in subprocesses whose peak RSS
(the whole process tree) is measured; the old code passed 5 GB in validate at 10,000 keys.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from extras import HAS_TFDV
from PIL import Image
from procs import ENV, PIPECHECK
from test_lock import (
    BUILD,
    assert_verifies,
    cli,
    kill_group,
    make_dump,
    one_line_error,
    reap,
    stopped_build,
)

from pipecheck.pipeline.labels import DEFAULT_MAX_META_KEYS, cap_meta_keys

N_IMAGES = 20
COMMON = {"camera": "x100", "iso": 200}  # in every sidecar: the most frequent keys, always kept
RSS_LIMIT = 3 * 2**30  # per command (build, validate); the old validate passed 5 GiB at 10,000 keys


def _dump(root: Path, wide_keys: int) -> Path:
    """20 JPEGs of 32 px (cat/dog) with sidecars holding ``COMMON``; the first also ``wide_keys`` more."""
    root.mkdir(parents=True)
    for i in range(N_IMAGES):
        arr = np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(arr, "RGB").save(root / f"img{i:02d}.jpg", "JPEG", quality=90)
        meta = {"label": "cat" if i % 2 else "dog", **COMMON}
        if i == 0:
            meta.update({f"field_{k:05d}": k % 7 for k in range(wide_keys)})
        (root / f"img{i:02d}.json").write_text(json.dumps(meta))
    return root


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (build workers included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(raw[raw.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError):
            pass
    return total


def _measured(*args: str, tmp: Path, timeout: float = 120) -> tuple[int, dict, str, int]:
    """Run the CLI; ``(exit code, JSON report, stderr, peak RSS)``. Killed past ``RSS_LIMIT`` (then the
    test fails on the figure) so a regression cannot take the machine down with it."""
    with open(tmp / "stdout", "w+") as stdout, open(tmp / "stderr", "w+") as stderr:
        proc = subprocess.Popen(
            [*PIPECHECK, *args, "--format", "json"], stdout=stdout, stderr=stderr, env=ENV, start_new_session=True
        )
        peak, deadline = 0, time.monotonic() + timeout
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            if peak > RSS_LIMIT or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                break
            time.sleep(0.02)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    assert peak <= RSS_LIMIT, f"{args[0]} peaked at {peak / 2**20:.0f} MiB (limit {RSS_LIMIT / 2**20:.0f})"
    return proc.returncode, (json.loads(out) if out.strip() else {}), err, peak


def test_a_10000_field_sidecar_is_capped_once_and_validate_stays_small(tmp_path):
    dump, out = _dump(tmp_path / "dump", 10_000), tmp_path / "out"
    rc, report, err, _ = _measured(
        "build-tfrecords", str(dump), "--out", str(out), "--label-field", "label", "--workers", "1", tmp=tmp_path
    )
    assert rc == 0, err
    capped = [f for f in report["findings"] if f["check"] == "build.metadata_keys_capped"]
    assert len(capped) == 1 and capped[0]["severity"] == "warning", report["findings"]
    ev = capped[0]["evidence"]
    assert (ev["found"], ev["kept"], ev["dropped"], ev["max"]) == (10_002, 256, 9_746, DEFAULT_MAX_META_KEYS)
    # the most frequent first (camera, iso: 20 items), then ties (1 item) by name
    assert list(ev["dropped_examples"]) == [f"field_{k:05d}" for k in range(254, 264)]
    assert "9746 dropped" in capped[0]["message"] and "--max-metadata-keys" in capped[0]["hint"]

    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["metadata_keys"]["dropped"] == 9_746 and manifest["options"]["max_metadata_keys"] == 256
    assert sorted(manifest["meta_features"]) == sorted(["camera", "iso"] + [f"field_{k:05d}" for k in range(254)])

    rc, report, err, _ = _measured("validate", "--data", str(out), tmp=tmp_path)
    assert rc == 0, err
    checks = Counter(f["check"] for f in report["findings"])
    assert sum(checks.values()) <= 12, checks  # was 10,000+ (one per metadata feature)
    schema = [f for f in report["findings"] if f["check"].startswith("schema.")]
    assert all(checks[f["check"]] == 1 for f in schema), checks  # one finding per check, keys listed
    if not HAS_TFDV:  # no statistics to judge: the family says so once
        assert [f["check"] for f in schema] == ["schema.no_statistics"]
        return
    assert schema, "the wide sidecar's features differ between train and val: TFDV says so (grouped)"
    for f in schema:
        assert f["evidence"]["feature_count"] == 254 and len(f["evidence"]["features"]) == 20
        assert f["subject"] == "254 metadata features" and "and 249 more" in f["message"]


def test_a_normal_dump_keeps_every_key_and_says_nothing(tmp_path):
    dump, out = _dump(tmp_path / "dump", 3), tmp_path / "out"
    rc, report, err, _ = _measured(
        "build-tfrecords",
        str(dump),
        "--out",
        str(out),
        "--label-field",
        "label",
        "--workers",
        "1",
        "--no-stats",
        tmp=tmp_path,
    )
    assert rc == 0, err
    assert not [f for f in report["findings"] if f["check"] == "build.metadata_keys_capped"], report["findings"]
    manifest = json.loads((out / "dataset.json").read_text())
    assert sorted(manifest["meta_features"]) == ["camera", "field_00000", "field_00001", "field_00002", "iso"]
    assert manifest["metadata_keys"] == {"max": 256, "found": 5, "kept": 5, "dropped": 0, "dropped_examples": {}}


def test_the_cap_keeps_the_most_frequent_keys_ties_by_name():
    counts = Counter({"zeta": 5, "alpha": 1, "beta": 1, "gamma": 5, "delta": 3})
    kept, summary = cap_meta_keys(counts, 3)
    assert kept == {"zeta", "gamma", "delta"}
    assert summary == {"max": 3, "found": 5, "kept": 3, "dropped": 2, "dropped_examples": {"alpha": 1, "beta": 1}}
    assert cap_meta_keys(Counter(dict(reversed(list(counts.items())))), 3) == (kept, summary)  # order-free
    assert cap_meta_keys(counts, 0)[0] == set() and cap_meta_keys(counts, 10)[1]["dropped"] == 0


@pytest.fixture
def _reap_frozen_builds():
    yield
    reap()


def test_resume_with_another_cap_is_refused(tmp_path, _reap_frozen_builds):
    """The cap decides what records hold (``meta/n`` here): resuming under another cap is another build."""
    dump = make_dump(tmp_path / "dump")
    args = ["build-tfrecords", str(dump), "--out", str(tmp_path / "out"), *BUILD]
    kill_group(stopped_build(args, tmp_path / "out", tmp_path / "log", shards=2))
    refused = cli(*args, "--resume", "--max-metadata-keys", "0")
    assert refused.returncode == 2
    one_line_error(refused.stderr, "cannot resume", "changed", "--overwrite")
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert assert_verifies(tmp_path / "out")["meta_features"] == {"n": "int"}
