"""Images checked while the build is planned (``precheck.py``): the same output as without, and a
result is reused only for a file that still has the bytes it was made from."""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from pathlib import Path

import pytest

from pipecheck.pipeline import build as build_module
from pipecheck.pipeline import shards, workers
from pipecheck.pipeline.build import BuildOptions, build
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.images import ImageOptions
from pipecheck.pipeline.precheck import Precheck, precheck
from pipecheck.pipeline.shards import ShardTask, write_shard


def _dump(h, root: Path, n: int = 40) -> Path:
    """JPEGs kept as they are, plus the repair paths: CMYK, EXIF-rotated, PNG, and a truncated file."""
    root.mkdir()
    for i in range(n):
        img = h.image(48 + i % 5, 40, color=(30 * (i % 3), 90, 160), seed=i)
        name = f"img_{i:03d}"
        if i == 3:
            h.write_image(root / f"{name}.jpg", img.convert("CMYK"))
        elif i == 5:
            h.write_image(root / f"{name}.png", img, "PNG")
        elif i == 7:
            from PIL import Image

            exif = Image.Exif()
            exif[0x0112] = 6
            h.write_image(root / f"{name}.jpg", img, exif=exif.tobytes())
        elif i == 9:
            (root / f"{name}.jpg").write_bytes(h.encode(img)[:300])
        else:
            h.write_image(root / f"{name}.jpg", img)
        h.write_json(root / f"{name}.json", {"label": ["a", "b", "c"][i % 3]})
    return root


def _records(shard: Path) -> list[dict[str, list]]:
    """One shard's records, parsed by TensorFlow's own protobuf."""
    import tensorflow as tf

    out = []
    for raw in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator():
        ex = tf.train.Example.FromString(raw)
        out.append({k: list(getattr(f, f.WhichOneof("kind")).value) for k, f in ex.features.feature.items()})
    return out


def _outputs(out: Path) -> dict[str, str]:
    files = sorted(out.glob("*.tfrecord")) + [out / "rejects.jsonl", out / "checksums.jsonl"]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.parametrize(
    "max_side, budget, expected",
    [
        (None, Precheck.BUDGET, 40),  # every image, re-encoded ones (CMYK, EXIF-rotated) included
        (None, 0, 38),  # no room for re-encoded bytes: the writers re-do those two
        (44, Precheck.BUDGET, 40),  # --max-side: every image is downscaled and re-encoded
    ],
    ids=["all", "no_budget", "max_side"],
)
def test_a_build_that_reuses_prechecked_images_writes_the_same_bytes(
    h, tmp_path, monkeypatch, max_side, budget, expected
):
    dump = _dump(h, tmp_path / "dump")
    opts = dict(dump=str(dump), label_field="label", workers=2, stats=False, shard_size_mb=0.002, max_side=max_side)
    monkeypatch.setattr(Precheck, "MIN_IMAGES", 10**9)
    build(BuildOptions(out=str(tmp_path / "plain"), **opts))

    # Every image is checked before the plan is ready (the split waits for it), so the writers
    # take every result from the precheck.
    monkeypatch.setattr(Precheck, "MIN_IMAGES", 0)
    monkeypatch.setattr(Precheck, "BUDGET", budget)
    real_split, real_run = build_module._assign_splits, build_module.run_tasks
    reused = []

    def slow_split(*args):
        time.sleep(3)
        return real_split(*args)

    def spy_run(tasks, *args, **kwargs):
        reused.append(sum(len(t.prechecked) for t in tasks))
        return real_run(tasks, *args, **kwargs)

    monkeypatch.setattr(build_module, "_assign_splits", slow_split)
    monkeypatch.setattr(build_module, "run_tasks", spy_run)
    build(BuildOptions(out=str(tmp_path / "prechecked"), **opts))
    assert reused == [expected]  # the truncated image's rejection included
    assert _outputs(tmp_path / "prechecked") == _outputs(tmp_path / "plain")


def test_a_file_changed_after_its_precheck_is_checked_again(h, tmp_path):
    root = tmp_path / "dump"
    root.mkdir()
    h.write_image(root / "a.jpg", h.image(48, 40, seed=1))
    (root / "b.jpg").write_bytes(h.encode(h.image(48, 40, seed=2))[:200])  # truncated when prechecked
    pre = {rel: (digest, result) for rel, digest, result in precheck(str(root), ["a.jpg", "b.jpg"], ImageOptions())}
    assert pre["b.jpg"][1].reason == "truncated"

    new_a = h.encode(h.image(56, 40, seed=3))
    (root / "a.jpg").write_bytes(new_a)  # replaced by another photo
    h.write_image(root / "b.jpg", h.image(48, 40, seed=2))  # repaired
    items = [("a.jpg", "a", [0], ["x"], {}), ("b.jpg", "b", [0], ["x"], {})]
    staging = tmp_path / "out"
    staging.mkdir()
    result = write_shard(ShardTask("train", 0, 1, str(root), str(staging), ImageOptions(), items, prechecked=pre))
    assert result.written == ["a", "b"] and result.rejects == []
    records = _records(staging / result.file)
    assert records[0]["image/sha256"] == [hashlib.sha256(new_a).hexdigest().encode()]
    assert records[0]["image/width"] == [56]


def test_an_unchanged_file_takes_its_precheck_result(h, tmp_path, monkeypatch):
    root = tmp_path / "dump"
    root.mkdir()
    data = h.encode(h.image(48, 40, seed=1))
    (root / "a.jpg").write_bytes(data)
    (root / "b.jpg").write_bytes(data[:200])
    pre = {rel: (digest, result) for rel, digest, result in precheck(str(root), ["a.jpg", "b.jpg"], ImageOptions())}
    assert pre["a.jpg"][1].encoded == b""  # the file's own bytes are not shipped back
    monkeypatch.setattr(shards, "check_image", lambda *a: pytest.fail("checked twice"))
    items = [("a.jpg", "a", [0], ["x"], {}), ("b.jpg", "b", [0], ["x"], {})]
    staging = tmp_path / "out"
    staging.mkdir()
    result = write_shard(ShardTask("train", 0, 1, str(root), str(staging), ImageOptions(), items, prechecked=pre))
    assert result.written == ["a"] and [r.reason for r in result.rejects] == ["truncated"]
    assert _records(staging / result.file)[0]["image/encoded"] == [data]


def test_an_input_error_found_while_planning_kills_the_prechecking_workers(h, tmp_path, monkeypatch):
    dump = _dump(h, tmp_path / "dump", n=30)
    monkeypatch.setattr(Precheck, "MIN_IMAGES", 0)
    real_split = build_module._assign_splits
    seen = []

    def split_once_checking(opts, kept, index):
        # By now the precheck has started its workers; note them, then fail as the split does.
        deadline = time.monotonic() + 20
        while not multiprocessing.active_children() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.extend(multiprocessing.active_children())
        return real_split(opts, kept, index)

    monkeypatch.setattr(build_module, "_assign_splits", split_once_checking)
    with pytest.raises(InputError, match="below 1"):
        build(
            BuildOptions(
                dump=str(dump),
                out=str(tmp_path / "out"),
                label_field="label",
                workers=2,
                stats=False,
                val_fraction=0.6,
                test_fraction=0.5,
            )
        )
    assert seen, "the precheck never started its workers"
    assert [p for p in seen if p.is_alive()] == []  # killed before the error reached the caller


# The blocked-worker case (a stalled file mid-shard, then run_tasks closed between results) lives in
# test_hostile_inputs.py: it used a named pipe here, which builds now refuse unread.


def test_a_re_encoded_precheck_result_is_written_as_prechecked(h, tmp_path, monkeypatch):
    # Downscaled (--max-side) and repaired (EXIF-rotated) images come back from the precheck with
    # their new bytes; the writer must store those bytes, not check the image again.
    from PIL import Image

    root = tmp_path / "dump"
    root.mkdir()
    h.write_image(root / "big.jpg", h.image(96, 80, seed=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    h.write_image(root / "turned.jpg", h.image(40, 36, seed=2), exif=exif.tobytes())
    options = ImageOptions(max_side=48)
    pre = {rel: (digest, result) for rel, digest, result in precheck(str(root), ["big.jpg", "turned.jpg"], options)}
    assert pre["big.jpg"][1].repairs == ["downscaled"] and pre["turned.jpg"][1].repairs == ["exif_orientation"]
    monkeypatch.setattr(shards, "check_image", lambda *a: pytest.fail("checked twice"))
    items = [("big.jpg", "big", [0], ["x"], {}), ("turned.jpg", "turned", [0], ["x"], {})]
    staging = tmp_path / "out"
    staging.mkdir()
    result = write_shard(ShardTask("train", 0, 1, str(root), str(staging), options, items, prechecked=pre))
    assert result.written == ["big", "turned"]
    records = _records(staging / result.file)
    assert [r["image/encoded"] for r in records] == [[pre["big.jpg"][1].encoded], [pre["turned.jpg"][1].encoded]]
    assert records[0]["image/width"] == [48] and records[1]["image/width"] == [36]


def test_the_precheck_stops_once_its_budget_for_re_encoded_bytes_is_spent(h, tmp_path, monkeypatch):
    dump = _dump(h, tmp_path / "dump")
    monkeypatch.setattr(Precheck, "CHUNK", 1)
    pc = Precheck(1, str(dump), ImageOptions(max_side=44))
    one = len(precheck(str(dump), ["img_000.jpg"], ImageOptions(max_side=44))[0][2].encoded)
    monkeypatch.setattr(Precheck, "BUDGET", int(2.5 * one))
    rels = sorted(p.name for p in dump.glob("img_*.*") if p.suffix != ".json")
    monkeypatch.setattr(Precheck, "MIN_IMAGES", 0)
    submitted = []
    real_new_pool = workers.new_pool

    def counting_pool(n):
        pool = real_new_pool(n)
        real_submit = pool.submit
        pool.submit = lambda fn, *a, **k: (submitted.append(a[1]), real_submit(fn, *a, **k))[1]
        return pool

    monkeypatch.setattr(workers, "new_pool", counting_pool)
    pc.start(rels)
    pc._thread.join(60)
    results = pc.stop()
    kept = [r for _, r in results.values() if getattr(r, "encoded", b"")]
    assert 1 <= len(kept) <= 2  # what fitted
    assert len(submitted) < len(rels) - 10, f"feeding must stop once a result no longer fits ({len(submitted)} chunks)"
    if pc.pool is not None:
        pc.pool.shutdown(wait=True)
