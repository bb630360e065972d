"""The CLI's contract under generated hostile input (issue 16): whatever the sidecars, split values and
file names of a dump, and whatever damage a build folder took, ``build-tfrecords``, ``verify`` and
``validate`` exit 0, 1 or 2 only, never print a traceback, write nothing outside ``--out`` (its staging
folder and lock beside it), and a build accounts for every file it found.

Commands run in process through click's runner (TensorFlow is imported once); examples are few and
tiny so the module stays within a minute or two on 2 cores.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pipecheck.pipeline.split import SPLIT_ALIASES

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def cli(*args):
    from click.testing import CliRunner

    from pipecheck.cli import cli as group

    return CliRunner().invoke(group, [str(a) for a in args])


def assert_contract(result) -> None:
    text = (result.output or "") + (result.stderr or "")
    assert result.exit_code in (0, 1, 2), (result.exit_code, text[-800:], result.exception)
    assert "Traceback" not in text, text[-800:]


def _jpeg(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (34, 36, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def snapshot(root: Path, skip: set[str]) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but the named top-level entries) with its size and mtime."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir.split(os.sep)[0] in skip:
            continue
        for name in files:
            st_ = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(rel_dir, name)] = (st_.st_size, st_.st_mtime_ns)
    return out


split_values = st.one_of(
    st.sampled_from(sorted(SPLIT_ALIASES) + ["train", "val", "test", "fold_1"]),
    st.sampled_from(["/tmp/pipecheck-escape", "../evil", "fold/1", "a\x00b", "", " ", "x" * 300, "..", "."]),
    st.text(max_size=12),
    st.integers(-3, 3),
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
)
labels = st.one_of(
    st.sampled_from(["ant", "bee", "cat"]),
    st.text(max_size=6),
    st.integers(0, 3),
    st.none(),
    st.lists(st.sampled_from(["ant", "bee"]), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
stems = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=16
).filter(lambda s: s not in (".", ".."))
sidecar = st.one_of(
    st.fixed_dictionaries(
        {"label": labels, "split": split_values},
        optional={"meta": st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3)},
    ),
    st.binary(max_size=40),  # not JSON at all
)
entries = st.lists(st.tuples(stems, sidecar, st.booleans()), min_size=1, max_size=6, unique_by=lambda e: e[0])


@FUZZ
@given(entries=entries)
def test_build_keeps_its_contract_on_generated_dumps(entries):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dump = root / "dump"
        dump.mkdir()
        written = 0
        for i, (stem, meta, with_image) in enumerate(entries):
            try:
                (dump / f"{stem}.json").write_bytes(meta if isinstance(meta, bytes) else json.dumps(meta).encode())
                if with_image:
                    (dump / f"{stem}.jpg").write_bytes(_jpeg(i))
            except OSError:  # a name this filesystem refuses (too long in bytes): not an input
                continue
            written += 1
        before = snapshot(root, skip={"out", ".out.partial", ".out.lock"})
        result = cli(
            "build-tfrecords",
            dump,
            "--out",
            root / "out",
            "--label-field",
            "label",
            "--split-field",
            "split",
            "--workers",
            "1",
            "--no-stats",
        )
        assert_contract(result)
        assert snapshot(root, skip={"out", ".out.partial", ".out.lock"}) == before, "a file appeared outside --out"
        assert sorted(p.name for p in root.iterdir()) in (["dump"], ["dump", "out"])
        if (root / "out" / "dataset.json").exists():
            acc = json.loads((root / "out" / "dataset.json").read_text())["accounting"]
            assert acc["balanced"] and acc["written"] + acc["rejected"] == acc["inputs_found"]


@pytest.fixture(scope="module")
def good_build(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz_build")
    dump = root / "dump"
    dump.mkdir()
    for i in range(12):
        (dump / f"im{i:02d}.jpg").write_bytes(_jpeg(i))
        (dump / f"im{i:02d}.json").write_text(json.dumps({"label": "abc"[i % 3], "site": "xy"[i % 2]}))
    result = cli(
        "build-tfrecords",
        dump,
        "--out",
        root / "out",
        "--label-field",
        "label",
        "--workers",
        "1",
        "--val-fraction",
        "0.25",
    )
    assert result.exit_code == 0, result.output
    return root / "out"


damage = st.tuples(
    st.sampled_from(["dataset.json", "checksums.jsonl", "rejects.jsonl", "shard", "stats"]),
    st.sampled_from(["truncate", "flip", "replace", "delete"]),
    st.floats(0, 1),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=6,
    ),
)


@FUZZ
@given(hurt=damage)
def test_verify_and_validate_keep_their_contract_on_damaged_builds(good_build, hurt):
    target, how, where, value = hurt
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        shutil.copytree(good_build, out)
        if target == "shard":
            path = sorted(out.glob("train-*.tfrecord"))[0]
        elif target == "stats":  # without TFDV installed a build has no stats/: damage the manifest then
            path = next(iter(sorted((out / "stats").glob("*"))), out / "dataset.json")
        else:
            path = out / target
        data = path.read_bytes()
        cut = int(where * len(data))
        if how == "truncate":
            path.write_bytes(data[:cut])
        elif how == "flip" and data:
            i = min(cut, len(data) - 1)
            path.write_bytes(data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :])
        elif how == "replace":
            path.write_text(json.dumps(value))
        elif how == "delete":
            path.unlink()
        for args in (("verify", out), ("validate", "--data", out)):
            assert_contract(cli(*args))
