"""The typed manifest (``manifest.Manifest``) and the one publisher of a build folder (``staging.publish``).

``dataset.json`` keeps its documented bytes: a build's file, a resplit's file and an older
build's file all read into a ``Manifest`` and write back identical. Both writers of a build folder
(``build-tfrecords`` and ``split --data``) plan shards with ``shards.plan_shards`` and end in
``staging.publish``, so a resplit folder is flushed to disk the way a build is, carries its rejects
under ``REJECTS_NAME`` and verifies.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.manifest import (
    CHECKSUMS_NAME,
    MANIFEST_NAME,
    REJECTS_NAME,
    Manifest,
    ManifestError,
    ShardInfo,
    load_manifest,
    read_manifest,
)
from pipecheck.pipeline.resplit import fractions_for, resplit_dataset


def _resplit(src, dst, **kw):
    kw.setdefault("fractions", fractions_for(0.25))
    kw.setdefault("seed", 7)
    return resplit_dataset(str(src), str(dst), **kw)


def _verify_status(folder) -> tuple[str, list[str]]:
    from pipecheck.validators.dataset import run_verify

    report = run_verify(str(folder))
    return report.status, [f.check for f in report.findings]


# --- dataset.json byte for byte ------------------------------------------------------------------


def test_a_built_manifest_round_trips_byte_for_byte(sample_build):
    raw = (Path(sample_build.out_dir) / MANIFEST_NAME).read_bytes()
    manifest = Manifest.from_json(raw)
    assert manifest.to_json() == raw
    # the typed fields are the file's, and the build's result holds exactly what is on disk
    data = json.loads(raw)
    assert sample_build.manifest == data == read_manifest(sample_build.out_dir)
    assert list(manifest.classes) == data["classes"] and not manifest.multi_label
    train = manifest.splits["train"]
    assert train.examples == data["splits"]["train"]["examples"] == sum(s.records for s in train.shards)
    assert train.shards[0] == ShardInfo(**data["splits"]["train"]["shards"][0])
    assert manifest.accounting["balanced"] is True and manifest.option["group_field"] == "specimen"


def test_a_resplit_manifest_round_trips_and_names_its_source(mini_build, tmp_path):
    out = tmp_path / "re"
    returned = _resplit(mini_build.out_dir, out)
    raw = (out / MANIFEST_NAME).read_bytes()
    assert Manifest.from_json(raw).to_json() == raw
    assert returned == json.loads(raw)
    assert list(json.loads(raw))[-1] == "resplit_from"  # appended after the build's keys, as before
    assert load_manifest(out).resplit_from == os.path.abspath(mini_build.out_dir)


def test_an_older_manifest_reads_and_writes_back_unchanged(mini_build, tmp_path, tf):
    # An older build's dataset.json: no metadata_keys/accounting/statistics, keys in another order,
    # a key this version does not know, an extra key in a shard entry.
    folder = tmp_path / "old"
    shutil.copytree(mini_build.out_dir, folder)
    data = json.loads((folder / MANIFEST_NAME).read_text())
    for key in ("metadata_keys", "accounting", "pipecheck_version"):
        data.pop(key)
    data = {"splits": data.pop("splits"), "classes": data.pop("classes"), "legacy_note": {"x": [1]}, **data}
    data["splits"]["train"]["shards"][0]["legacy"] = True
    raw = (json.dumps(data, indent=2) + "\n").encode()
    (folder / MANIFEST_NAME).write_bytes(raw)

    manifest = load_manifest(folder)
    assert manifest.to_json() == raw
    assert manifest.metadata_keys is None and manifest.accounting is None
    assert manifest.extra == {"legacy_note": {"x": [1]}}
    assert read_manifest(folder) == data
    from pipecheck.pipeline.reader import load_dataset

    n = sum(1 for _ in load_dataset(str(folder), "train", batch_size=None, image_size=32))
    assert n == manifest.splits["train"].examples
    assert _verify_status(folder)[0] == "pass"


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"{not json", "dataset.json: not valid JSON"),
        (b'{"classes": ["a"]}', "dataset.json: not a pipecheck manifest"),
        (b'{"classes": ["a", "a"], "splits": {"train": {"examples": 0, "shards": []}}}', "dataset.json is damaged"),
    ],
)
def test_an_unusable_manifest_is_one_line_naming_the_file(tmp_path, content, expected):
    (tmp_path / MANIFEST_NAME).write_bytes(content)
    with pytest.raises(InputError) as err:
        load_manifest(tmp_path)
    assert expected in str(err.value) and str(tmp_path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ManifestError):
        Manifest.from_json(content)
    # the healthy twin: the same split, whole
    (tmp_path / MANIFEST_NAME).write_bytes(b'{"classes": ["a"], "splits": {"train": {"examples": 0, "shards": []}}}')
    assert load_manifest(tmp_path).splits["train"].examples == 0


def test_a_manifest_is_frozen(sample_build):
    import dataclasses

    manifest = load_manifest(sample_build.out_dir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.classes = ("x",)
    changed = manifest.replace(resplit_from="/elsewhere")
    assert changed.resplit_from == "/elsewhere" and manifest.resplit_from is None
    assert changed.to_dict()["classes"] == manifest.to_dict()["classes"]


# --- one publisher: what a resplit folder now has in common with a build ------------------------


def _fsynced(monkeypatch) -> list[str]:
    """Every path fsynced from now on, in order (the real fsync still runs)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell which file an fsync is for")
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    return synced


def _publish_tail(synced: list[str], out: Path) -> list[str]:
    """The last five fsyncs, by role: the three files (under their temporary names), then folders."""
    roles = []
    for path in synced[-5:]:
        name = os.path.basename(path)
        if path == str(out.parent / f".{out.name}.partial"):
            roles.append("staging folder")
        elif path == str(out.parent):
            roles.append("parent folder")
        else:
            roles.append(name.lstrip(".").split(".tmp-")[0])
    return roles


@pytest.mark.parametrize("writer", ["build", "resplit"])
def test_both_writers_flush_the_three_files_and_both_folders(h, mini_dump, mini_build, tmp_path, monkeypatch, writer):
    out = tmp_path / writer / "out"
    synced = _fsynced(monkeypatch)
    if writer == "build":
        h.build(mini_dump, out, label_field="species", val_fraction=0.25, workers=1)
    else:
        _resplit(mini_build.out_dir, out)
    assert _publish_tail(synced, out) == [
        REJECTS_NAME,
        CHECKSUMS_NAME,
        MANIFEST_NAME,
        "staging folder",
        "parent folder",
    ]
    shards = {p.name for p in out.glob("*.tfrecord")}
    assert shards and shards <= {os.path.basename(p).lstrip(".").split(".tmp-")[0] for p in synced}, (
        "every shard reached the disk before the folder was published"
    )


def test_a_resplit_carries_its_sources_rejects_and_verifies(sample_build, tmp_path):
    src = Path(sample_build.out_dir)
    assert (src / REJECTS_NAME).stat().st_size > 0, "the sample has rejects (its BAD_ files)"
    out = tmp_path / "re"
    _resplit(src, out, fractions=fractions_for(0.2, 0.1))
    assert (out / REJECTS_NAME).read_bytes() == (src / REJECTS_NAME).read_bytes()

    def others(folder):
        return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tfrecord"))

    assert others(out) == others(src)  # the three files, and stats/ where TFDV wrote statistics
    assert {CHECKSUMS_NAME, MANIFEST_NAME, REJECTS_NAME} <= set(others(out))
    assert _verify_status(out) == ("pass", [])
    assert not list(tmp_path.glob(".re.*")), "no staging folder or lock left beside the output"


def test_a_resplit_of_a_folder_without_rejects_still_has_the_rejects_file(mini_build, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(mini_build.out_dir, src)
    (src / REJECTS_NAME).unlink()
    out = tmp_path / "re"
    _resplit(src, out)
    assert (out / REJECTS_NAME).read_bytes() == b""  # as a build with nothing rejected writes it
    assert _verify_status(out)[0] == "pass"


# --- one shard plan -------------------------------------------------------------------------------


def _ids(tf, shard: str) -> list[str]:
    desc = {"image/id": tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, desc)["image/id"].numpy().decode() for r in tf.data.TFRecordDataset(shard)]


def test_plan_shards_is_the_builds_plan(h, mini_dump, tmp_path, tf):
    from pipecheck.pipeline.shards import plan_shards, shard_count

    rows = list(range(100))
    plan = plan_shards(rows, seed=3, est_bytes=1000, target_bytes=300)
    assert len(plan) == shard_count(100, 1000, 300) == 4
    assert sorted(r for chunk in plan for r in chunk) == rows and {len(c) for c in plan} == {25}
    assert plan == plan_shards(rows, seed=3, est_bytes=1000, target_bytes=300)
    assert plan != plan_shards(rows, seed=4, est_bytes=1000, target_bytes=300)
    # A build's shards hold exactly the records plan_shards puts in them: ids sorted, shuffled with
    # the seed, cut by the images' file sizes (the build's estimate without --max-side).
    target = 0.01
    result = h.build(
        mini_dump, tmp_path / "out", label_field="species", val_fraction=0.25, seed=5, shard_size_mb=target
    )
    manifest = load_manifest(result.out_dir)
    assert len(manifest.splits["train"].shards) > 1, "the test needs several shards"
    for split in manifest.splits:
        shards = [_ids(tf, path) for path in manifest.shard_paths(result.out_dir, split)]
        ids = [i for shard in shards for i in shard]
        est = sum((mini_dump / f"{i}.jpg").stat().st_size for i in ids)
        assert plan_shards(sorted(ids), seed=5, est_bytes=est, target_bytes=target * 1024 * 1024) == shards
