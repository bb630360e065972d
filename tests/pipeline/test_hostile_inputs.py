"""Issue 16: hostile input never escapes --out, hangs the build, vanishes, or is silently dropped.

Everything is real: the CLI runs in a subprocess (``python -m pipecheck build-tfrecords``) with a
timeout, so a regression that hangs fails instead of hanging the suite; named pipes are made with
``os.mkfifo`` and device links point at the real ``/dev/zero``. Images are 32 px noise JPEGs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from extras import needs_tfdv
from PIL import Image

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("PIPECHECK_DEBUG", None)
FAST = ["--workers", "1", "--no-stats"]


def jpeg(seed: int, size: int = 32) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def pair(folder: Path, stem: str, meta: dict | str, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    (folder / f"{stem}.jpg").write_bytes(jpeg(seed))
    return folder / f"{stem}.jpg"


def build_cli(dump: Path, out: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipecheck", "build-tfrecords", str(dump), "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )


def rejects(out: Path) -> dict[str, tuple[str, str]]:
    rows = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    return {r["path"]: (r["reason"], r["detail"]) for r in rows}


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr


# --- item 3: a split value is a name, never a path -----------------------------------------------

BAD_SPLITS = {"abs": None, "up": "../evil", "slash": "fold/1", "nul": "a\x00b", "empty": "", "long": "s" * 300}
GOOD_SPLITS = {
    "train": "train",
    "val": "val",
    "validation": "validation",
    "test": "test",
    "fold": "fold_1",
    "upper": "TRAIN",
}


@pytest.mark.parametrize("stats", [False, pytest.param(True, marks=needs_tfdv)], ids=["no-stats", "stats"])
def test_split_values_that_are_not_names_are_rejected_and_nothing_escapes_out(tmp_path, stats):
    dump, out = tmp_path / "dump", tmp_path / "work" / "out"
    (tmp_path / "escape").mkdir()  # an absolute split value pointing here would be writable
    bad = dict(BAD_SPLITS, abs=str(tmp_path / "escape" / "x"))
    for i, (stem, value) in enumerate(
        {**{f"bad_{k}": v for k, v in bad.items()}, **{f"good_{k}": v for k, v in GOOD_SPLITS.items()}}.items()
    ):
        pair(dump, stem, {"label": "ab"[i % 2], "split": value}, seed=i)
    before = files_under(tmp_path)
    result = build_cli(
        dump,
        out,
        "--label-field",
        "label",
        "--split-field",
        "split",
        "--workers",
        "1",
        *([] if stats else ["--no-stats"]),
        "--fail-on",
        "warning",
        timeout=240 if stats else 90,
    )
    assert_no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr  # rejects are warnings: exit 1 at --fail-on warning
    new = files_under(tmp_path) - before
    assert new and all(p.startswith(os.path.join("work", "out") + os.sep) for p in new), sorted(new)
    got = rejects(out)
    assert {p: r for p, (r, _) in got.items()} == {
        **{f"bad_{k}.jpg": "split_invalid" for k in bad if k != "empty"},
        "bad_empty.jpg": "split_missing",
    }
    assert "'/" not in got["bad_slash.jpg"][1] or "fold/1" in got["bad_slash.jpg"][1]
    assert "300 characters" in got["bad_long.jpg"][1]
    manifest = json.loads((out / "dataset.json").read_text())
    assert sorted(manifest["splits"]) == ["fold_1", "test", "train", "val"]
    assert {s: v["examples"] for s, v in manifest["splits"].items()} == {"train": 2, "val": 2, "test": 1, "fold_1": 1}
    assert manifest["accounting"]["balanced"]
    if stats:
        assert sorted(os.listdir(out / "stats")) == [f"{s}.stats.pb" for s in ("fold_1", "test", "train", "val")]


def test_split_values_from_a_manifest_table_are_validated_too(tmp_path):
    dump, out = tmp_path / "dump", tmp_path / "out"
    dump.mkdir()
    rows = []
    for i, split in enumerate(["train", "val", "../evil", "/etc/x", "ok/no"]):
        (dump / f"i{i}.jpg").write_bytes(jpeg(i))
        rows.append({"path": f"i{i}.jpg", "label": "ab"[i % 2], "split": split})
    table = tmp_path / "labels.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = files_under(tmp_path)
    result = build_cli(dump, out, "--manifest", str(table), "--label-field", "label", "--split-field", "split", *FAST)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(p.startswith("out" + os.sep) for p in files_under(tmp_path) - before)
    assert {p: r for p, (r, _) in rejects(out).items()} == {f"i{i}.jpg": "split_invalid" for i in (2, 3, 4)}


def test_split_names_are_checked_where_statistics_paths_are_made():
    from pipecheck.pipeline.split import split_from_value
    from pipecheck.pipeline.stats import stats_relpath

    assert stats_relpath("fold_1") == "stats/fold_1.stats.pb"
    for bad in ("../x", "/tmp/x", "a/b", "", "a\x00b", "x" * 65):
        with pytest.raises(ValueError):
            stats_relpath(bad)
    assert split_from_value(" Validation ", "split") == ("val", "", "")
    assert split_from_value(3, "split") == ("3", "", "")
    assert split_from_value(None, "split")[1] == "split_missing"
    assert split_from_value({"a": 1}, "split")[1] == "split_missing"


# --- item 11: duplicate keys and colliding dotted names are rejected, never silently dropped -------

SIDECARS = {
    "dup_top": ('{"label": "a", "label": "b"}', "duplicate key 'label'"),
    "dup_nested": ('{"label": "a", "info": {"iso": 100, "iso": 200}}', "duplicate key 'iso'"),
    "dotted_first": (
        '{"label": "a", "taxon.species": "x", "taxon": {"species": "y"}}',
        "keys /taxon.species and /taxon/species collide",
    ),
    "nested_first": (
        '{"label": "a", "taxon": {"species": "y"}, "taxon.species": "x"}',
        "keys /taxon.species and /taxon/species collide",
    ),  # shallower key named first
    "deep": ('{"label": "a", "m": {"a.b": 1, "a": {"b": {"c": 2}}}}', "keys /m/a.b and /m/a/b collide"),
}


def test_duplicate_and_colliding_sidecar_keys_are_bad_sidecars(h, tmp_path):
    dump = tmp_path / "dump"
    for i, (stem, (text, _)) in enumerate(SIDECARS.items()):
        pair(dump, stem, text, seed=i)
    for i, stem in enumerate(["ok_1", "ok_2", "ok_3"]):  # dots in keys that do not collide are fine
        pair(dump, stem, {"label": "ab"[i % 2], "exif.iso": 100, "exif": {"make": "x"}, "v": 1.5}, seed=10 + i)
    result = h.build(dump, tmp_path / "out", label_field="label", val_fraction=0.34)
    got = {r.path: (r.reason, r.detail) for r in result.rejects}
    assert set(got) == {f"{stem}.jpg" for stem in SIDECARS}
    for stem, (_, detail) in SIDECARS.items():
        reason, text = got[f"{stem}.jpg"]
        assert reason == "bad_sidecar" and f"{stem}.json: " in text and detail in text, (stem, text)
    assert result.accounting["written"] == 3 and result.accounting["balanced"]


def test_read_sidecar_reports_duplicates_and_collisions(tmp_path):
    from pipecheck.pipeline.dump import read_sidecar

    for stem, (text, detail) in SIDECARS.items():
        (tmp_path / f"{stem}.json").write_text(text)
        meta, problem = read_sidecar(str(tmp_path / f"{stem}.json"))
        assert meta == {} and detail in problem, (stem, problem)
    (tmp_path / "fine.json").write_text('{"a.b": 1, "a": {"c": 2}, "l": [{"x": 1, "y": 2}]}')
    assert read_sidecar(str(tmp_path / "fine.json")) == ({"a.b": 1, "a": {"c": 2}, "l": [{"x": 1, "y": 2}]}, "")


def test_a_manifest_row_whose_keys_collide_is_rejected(h, tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    rows = [
        {"path": "a.jpg", "label": "x", "taxon.species": "s", "taxon": {"species": "t"}},
        {"path": "b.jpg", "label": "x", "taxon.species": "s", "taxon": {"genus": "g"}},
        {"path": "c.jpg", "label": "y", "taxon.species": "s", "taxon": {"genus": "g"}},
    ]
    for i, row in enumerate(rows):
        (dump / row["path"]).write_bytes(jpeg(i))
    table = tmp_path / "t.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = h.build(dump, tmp_path / "out", label_field="label", manifest=str(table), val_fraction=0.34)
    assert [(r.path, r.reason) for r in result.rejects] == [("a.jpg", "bad_sidecar")]
    assert "keys /taxon.species and /taxon/species collide" in result.rejects[0].detail


# --- item 9: files in hidden folders are counted as ignored, not lost -------------------------------


def test_files_in_hidden_folders_are_counted_and_reported(h, tmp_path):
    from pipecheck.validators.build import build_report

    dump = tmp_path / "dump"
    for i in range(4):
        pair(dump, f"img_{i}", {"label": "ab"[i % 2]}, seed=i)
    pair(dump / ".hidden", "h_0", {"label": "a"}, seed=10)  # 2 files
    pair(dump / ".hidden" / "deeper", "h_1", {"label": "b"}, seed=11)  # 2 files
    pair(dump / "sub" / ".ipynb_checkpoints", "h_2", {"label": "a"}, seed=12)  # 2 files
    (dump / "sub" / ".cache").mkdir(parents=True)
    (dump / "sub" / ".cache" / "notes.txt").write_text("x")  # 1 file
    pair(dump / "sub", "img_4", {"label": "b"}, seed=4)
    (dump / ".DS_Store").write_bytes(b"\0")  # litter, as before
    files_found = sum(len(files) for _, _, files in os.walk(dump))
    result = h.build(dump, tmp_path / "out", label_field="label", val_fraction=0.4)
    acc = result.accounting
    assert (acc["inputs_found"], acc["written"], acc["rejected"]) == (5, 5, 0)
    ignored = acc["litter_ignored"] + sum(acc["other_files_ignored"].values())
    paired_sidecars = 5  # an image and its sidecar are one input
    assert acc["written"] + acc["rejected"] + ignored == files_found - paired_sidecars == 13
    assert acc["other_files_ignored"] == {"in_hidden_folder": 7}
    report = build_report(result)
    assert "7 file(s) in hidden folders" in report.summary["ignored"]
    assert report.summary["ignored"] == "8: 1 OS litter, 7 file(s) in hidden folders"
    finding = next(f for f in report.findings if f.check == "build.ignored_files")
    assert "7 file(s) in hidden folders" in finding.message


# --- item 6: named pipes and devices are rejected as unreadable, never opened ----------------------


def special_dump(root: Path) -> Path:
    """Three good pairs, and every way a named pipe or a device can sit in a dump."""
    for i in range(3):
        pair(root, f"ok_{i}", {"label": "ab"[i % 2]}, seed=i)
    (root / "p.json").write_text('{"label": "a"}')
    os.mkfifo(root / "p.jpg")  # an image that is a pipe
    (root / "q.jpg").write_bytes(jpeg(5))
    os.mkfifo(root / "q.json")  # a sidecar that is a pipe
    os.mkfifo(root / "r")  # no extension: would be sniffed
    os.mkfifo(root / "s.json")  # an orphan sidecar that is a pipe
    (root / "z.json").write_text('{"label": "b"}')
    os.symlink("/dev/zero", root / "z.jpg")  # followed with --follow-symlinks
    return root


def test_named_pipes_and_device_links_are_rejected_not_read(tmp_path):
    dump = special_dump(tmp_path / "dump")
    result = build_cli(
        dump,
        tmp_path / "out",
        "--label-field",
        "label",
        "--follow-symlinks",
        "--val-fraction",
        "0.34",
        *FAST,
        timeout=60,
    )  # a regression hangs: the timeout fails it
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rejects(tmp_path / "out") == {
        "p.jpg": ("unreadable", "not a regular file"),
        "q.jpg": ("unreadable", "q.json: not a regular file"),
        "r": ("unreadable", "not a regular file"),
        "s.json": ("unreadable", "not a regular file"),
        "z.jpg": ("unreadable", "not a regular file"),
    }
    acc = json.loads((tmp_path / "out" / "dataset.json").read_text())["accounting"]
    assert (acc["inputs_found"], acc["written"], acc["balanced"]) == (8, 3, True)


def test_a_device_link_without_follow_symlinks_stays_ignored(tmp_path):
    dump = tmp_path / "dump"
    for i in range(3):
        pair(dump, f"ok_{i}", {"label": "ab"[i % 2]}, seed=i)
    os.symlink("/dev/zero", dump / "z.jpg")
    result = build_cli(dump, tmp_path / "out", "--label-field", "label", "--val-fraction", "0.34", *FAST, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    acc = json.loads((tmp_path / "out" / "dataset.json").read_text())["accounting"]
    assert acc["other_files_ignored"] == {"symlink_outside_dump": 1} and acc["written"] == 3


def test_manifest_rows_naming_a_pipe_or_a_device_are_unreadable(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    rows = [{"path": f"ok_{i}.jpg", "label": "ab"[i % 2]} for i in range(3)]
    for i in range(3):
        (dump / f"ok_{i}.jpg").write_bytes(jpeg(i))
    os.mkfifo(dump / "p.jpg")
    os.symlink("/dev/zero", dump / "z.jpg")
    rows += [{"path": "p.jpg", "label": "a"}, {"path": "z.jpg", "label": "b"}]
    table = tmp_path / "t.csv"
    table.write_text("path,label\n" + "".join(f"{r['path']},{r['label']}\n" for r in rows))
    result = build_cli(
        dump,
        tmp_path / "out",
        "--manifest",
        str(table),
        "--label-field",
        "label",
        "--follow-symlinks",
        "--val-fraction",
        "0.34",
        *FAST,
        timeout=60,
    )
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rejects(tmp_path / "out") == {
        "p.jpg": ("unreadable", "not a regular file"),
        "z.jpg": ("unreadable", "not a regular file"),
    }


RACE = """
import json, os, sys
from pipecheck.pipeline.images import ImageOptions
from pipecheck.pipeline.precheck import precheck
from pipecheck.pipeline.shards import ShardTask, write_shard
root, staging = sys.argv[1], sys.argv[2]
rels = ["p.jpg", "z.jpg", "ok_0.jpg"]
assert [rel for rel, *_ in precheck(root, rels, ImageOptions())] == ["ok_0.jpg"]
items = [(rel, rel[:-4], [0], ["a"], {}) for rel in rels]
result = write_shard(ShardTask("train", 0, 1, root, staging, ImageOptions(), items))
print(json.dumps({"written": result.written, "rejects": [[r.path, r.reason, r.detail] for r in result.rejects]}))
"""


def test_a_pipe_or_device_met_after_the_walk_is_refused_by_the_readers(tmp_path):
    # The walk has checked the files, then they are swapped (or a task names them directly): the
    # precheck and the shard writer open non-blocking and check the type before they read.
    root, staging = tmp_path / "dump", tmp_path / "staging"
    staging.mkdir()
    root.mkdir()
    (root / "ok_0.jpg").write_bytes(jpeg(0))
    os.mkfifo(root / "p.jpg")
    os.symlink("/dev/zero", root / "z.jpg")
    proc = subprocess.run(
        [sys.executable, "-c", RACE, str(root), str(staging)], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "written": ["ok_0"],
        "rejects": [["p.jpg", "unreadable", "not a regular file"], ["z.jpg", "unreadable", "not a regular file"]],
    }


LEASED = """
import sys
from pipecheck.pipeline.inputs import read_input
print(len(read_input(sys.argv[1])))
"""


def test_a_regular_file_under_a_lease_is_waited_for_not_refused(tmp_path):
    # A non-blocking open of a file a Samba/NFS server holds a lease on fails with EAGAIN: that is
    # still a regular file, read once the holder lets go (also the stand-in for a stalled disk).
    import fcntl
    import signal
    import time

    path = tmp_path / "held.jpg"
    path.write_bytes(jpeg(1))
    old = signal.signal(signal.SIGIO, lambda *a: None)  # the lease-break notice
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as exc:
            pytest.skip(f"no file leases here: {exc}")
        proc = subprocess.Popen([sys.executable, "-c", LEASED, str(path)], stdout=subprocess.PIPE, text=True, env=ENV)
        time.sleep(1.5)
        assert proc.poll() is None, "the reader did not wait for the lease"
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        assert proc.communicate(timeout=30)[0].strip() == str(path.stat().st_size)
    finally:
        os.close(fd)
        signal.signal(signal.SIGIO, old)


def test_closing_the_shard_runner_kills_a_worker_blocked_on_a_held_file(tmp_path):
    # test_precheck's twin of this used a named pipe as the stalled file; pipes are refused now, so
    # a regular file under a write lease stands in: its readers block until the holder lets go.
    import fcntl
    import signal

    from pipecheck.pipeline.images import ImageOptions
    from pipecheck.pipeline.shards import ShardTask, run_tasks
    from pipecheck.pipeline.workers import new_pool

    root = tmp_path / "dump"
    root.mkdir()
    (root / "a.jpg").write_bytes(jpeg(1))
    (root / "b.jpg").write_bytes(jpeg(2))
    staging = tmp_path / "out"
    staging.mkdir()
    tasks = [
        ShardTask("train", i, 2, str(root), str(staging), ImageOptions(), [(rel, rel[0], [0], ["x"], {})])
        for i, rel in enumerate(["b.jpg", "a.jpg"])
    ]
    old = signal.signal(signal.SIGIO, lambda *a: None)
    fd = os.open(root / "b.jpg", os.O_RDONLY)
    try:
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as exc:
            pytest.skip(f"no file leases here: {exc}")
        pool = new_pool(2)
        results = run_tasks(tasks, 2, False, pool=pool)
        first = next(results)
        assert first.written == ["a"]
        workers = list(pool._processes.values())
        assert any(p.is_alive() for p in workers)  # the one waiting for b.jpg
        results.close()
        assert [p for p in workers if p.is_alive()] == []
    finally:
        os.close(fd)
        signal.signal(signal.SIGIO, old)
