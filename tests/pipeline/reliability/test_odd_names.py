"""Odd file names (not UTF-8, spaces, upper-case extensions, litter) are accounted and round-trip."""

from __future__ import annotations

import json
import os

from procs import cli

from pipecheck.pipeline import spec

# --- odd names -----------------------------------------------------------------------------


def test_odd_names_are_accounted_and_non_utf8_names_round_trip(h, tf, tmp_path):
    d = tmp_path / "dump"
    d.mkdir()
    raw_names = {  # stem bytes -> image extension
        b"caf\xe9 \xff": b".jpg",  # Latin-1 bytes: not UTF-8
        "zürich 猫 ё".encode(): b".jpg",
        b"my photo 1": b".JPG",
        b"IMG_2": b".JPEG",
        b"IMG_1": b".jpg",
    }
    for i, (stem, ext) in enumerate(raw_names.items()):
        for name, data in (
            (stem + ext, h.encode(h.image(seed=i))),
            (stem + b".json", json.dumps({"label": "ab"[i % 2]}).encode()),
        ):
            fd = os.open(os.path.join(os.fsencode(d), name), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, data)
            os.close(fd)
    lonely = b"lonely\xfe.jpg"  # a non-UTF-8 reject must reach rejects.jsonl and the report intact
    fd = os.open(os.path.join(os.fsencode(d), lonely), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, h.encode(h.image(seed=9)))
    os.close(fd)
    h.pair(d, ".hidden", {"label": "a"}, h.image(seed=10))
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)
    (d / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    (d / "._IMG_1.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 64)
    out = tmp_path / "out"
    result = cli(
        "build-tfrecords",
        str(d),
        "--out",
        str(out),
        "--label-field",
        "label",
        "--workers",
        "2",
        "--no-stats",
        "--val-fraction",
        "0.2",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    acc = json.loads((out / "dataset.json").read_text())["accounting"]
    assert (acc["inputs_found"], acc["written"], acc["rejected"]) == (6, 5, 1)
    assert acc["litter_ignored"] == 5  # .hidden.jpg, .hidden.json, .DS_Store, Thumbs.db, ._IMG_1.jpg
    assert acc["other_files_ignored"] == {}
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(os.fsencode(r["path"]), r["reason"]) for r in rejects] == [(lonely, "no_sidecar")]
    sources, ids = set(), set()
    for name in os.listdir(out):
        if name.endswith(".tfrecord"):
            for raw in spec.iter_records(str(out / name)):
                feats = tf.train.Example.FromString(raw).features.feature
                sources.add(feats["image/source"].bytes_list.value[0])
                ids.add(feats["image/id"].bytes_list.value[0])
    assert sources == {stem + ext for stem, ext in raw_names.items()}
    assert ids == set(raw_names)
