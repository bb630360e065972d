"""A build's statistics without ``import tensorflow_data_validation`` are TFDV's own, byte for byte.

``stats.batch`` builds the columns TFDV reads without pandas, ``statsgen`` computes TFDV's default
in-memory statistics from them without TFDV (so the default build imports neither TensorFlow, Beam
nor pandas). Each is compared with the real thing: ``stats.record_batch(stats.frame(...))`` and
``tfdv.generate_statistics_from_dataframe``, on edge cases and on a build of real photos; and the
default CLI build is checked not to import TensorFlow, Beam or pandas.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from extras import HAS_TFDV, needs_tfdv
from procs import ENV

from pipecheck.pipeline import stats

REPO = Path(__file__).resolve().parents[2]
TYPES = {"big": "float", "cam": "bytes", "f": "float", "id": "bytes", "iso": "int", "n": "int", "none": "bytes"}


def _rows(n: int, seed: int, multi: bool = False, missing: float = 0.1, odd: bool = False) -> list:
    """Rows as a build's tasks hold them: label names, and metadata coerced to TYPES (keys may be missing)."""
    rng = random.Random(seed)
    floats = [1.4, 2.8, 0.0, -3.5] + ([math.inf, -math.inf, math.nan] if odd else [5.6])
    rows = []
    for i in range(n):
        names = sorted(rng.sample("abcdefgh", rng.randint(0, 3))) if multi else [rng.choice(["cat", "dog", "ü-ß"])]
        meta = {"id": f"S{i // 3:06d}", "n": i * 7 + 3, "big": rng.random() * 1e6}
        if rng.random() > missing:
            meta["cam"] = rng.choice(["canon", "nikon", "", "x" * (2000 if odd else 5), "日本"])
        if rng.random() > missing:
            meta["iso"] = rng.choice([100, 200, 400, 0, -5, 2**62 + 1])
        if rng.random() > missing:
            meta["f"] = rng.choice(floats)
        rows.append((names, meta))
    return rows


CASES = {
    "single_label": (_rows(200, 1), TYPES),
    "multi_label_with_empty_lists": (_rows(300, 2, multi=True), TYPES),
    "inf_nan_long_strings_many_missing": (_rows(300, 3, missing=0.4, odd=True), TYPES),
    "a_thousand_distinct_ids": (_rows(3000, 4, missing=0.02), TYPES),
    "no_rows": ([], TYPES),
    "every_label_list_empty": ([([], {"iso": 1})] * 5, {"iso": "int"}),
    "one_row": ([(["a"], {"iso": 1, "f": 2.0})], {"iso": "int", "f": "float"}),
    "only_nan": ([(["a"], {"f": math.nan})] * 4, {"f": "float"}),
    "only_inf": ([(["a"], {"f": math.inf})] * 4, {"f": "float"}),
    "int_key_missing_somewhere": ([(["a"], {"i": 2**62 + 1}), (["b"], {})], {"i": "int"}),
}


@pytest.fixture(scope="module")
def tfdv():
    return stats.import_tfdv()


@needs_tfdv
@pytest.mark.parametrize("case", CASES)
def test_columns_are_the_record_batch_tfdv_makes_of_the_frame(case):
    rows, types = CASES[case]
    ours, theirs = stats.batch(rows, types), stats.record_batch(stats.frame(rows, types))
    assert ours.schema.names == theirs.schema.names
    assert ours.schema.types == theirs.schema.types
    assert ours.equals(theirs)


@needs_tfdv
@pytest.mark.parametrize("case", CASES)
def test_statistics_are_tfdv_s_byte_for_byte(case, tfdv):
    rows, types = CASES[case]
    ours = stats.compute(stats.batch(rows, types))
    theirs = tfdv.generate_statistics_from_dataframe(stats.frame(rows, types), n_jobs=1)
    assert ours.SerializeToString() == theirs.SerializeToString()


@needs_tfdv
def test_a_changed_value_is_seen_by_the_comparison(tfdv):
    """The byte comparison above is not blind: one metadata value changed, the bytes differ."""
    rows, types = CASES["single_label"]
    changed = [(names, dict(meta)) for names, meta in rows]
    changed[17][1]["n"] += 1
    theirs = tfdv.generate_statistics_from_dataframe(stats.frame(rows, types), n_jobs=1)
    assert stats.compute(stats.batch(changed, types)).SerializeToString() != theirs.SerializeToString()


@needs_tfdv
def test_more_distinct_values_than_the_top_k_sketch_holds_match_tfdv_apart_from_its_ties(tfdv):
    """Past the Misra-Gries sketch's 1024 buckets TFDV's own top values of tied counts vary from run to
    run (seen: 1 run in 20); everything else, and the ranking where counts differ, is compared.
    """
    rows = [([("ab"[i % 2])], {"id": f"S{i:06d}", "cam": "ab"[i % 3 == 0]}) for i in range(5000)]
    types = {"cam": "bytes", "id": "bytes"}
    ours = stats.compute(stats.batch(rows, types))
    theirs = tfdv.generate_statistics_from_dataframe(stats.frame(rows, types), n_jobs=1)
    for proto in (ours, theirs):
        (ids,) = [f for f in proto.datasets[0].features if f.path.step[0] == "meta/id"]
        assert ids.string_stats.unique > 4900  # the KMV estimate of 5000
        ids.string_stats.ClearField("top_values")
        ids.string_stats.ClearField("rank_histogram")
    assert ours.SerializeToString() == theirs.SerializeToString()


@needs_tfdv
def test_tfdv_itself_computes_the_same_where_statsgen_is_not_verified():
    rows, types = CASES["inf_nan_long_strings_many_missing"]
    columns = stats.batch(rows, types)
    assert stats.tfdv_compute(columns).SerializeToString() == stats.compute(columns).SerializeToString()


@needs_tfdv
def test_statsgen_is_used_only_for_the_verified_release_and_flat_columns():
    import pyarrow as pa

    from pipecheck.pipeline import statsgen

    columns = stats.batch(*CASES["single_label"])
    assert statsgen.supported(columns)
    assert not statsgen.supported(columns, tfdv_version="1.17.0")
    nested = pa.array([[[1]], [[2, 3]]], type=pa.large_list(pa.large_list(pa.int64())))
    assert not statsgen.supported(pa.RecordBatch.from_arrays([nested], ["x"]))


# --------------------------------------------------------------------------- a real build


@pytest.fixture(scope="module")
def photo_build(tmp_path_factory):
    """A default-options build (statistics on, 2 workers) of 600 real photos (benchmarks/photos.py)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from photos import make_dump

    from pipecheck.pipeline.build import BuildOptions, build

    base = tmp_path_factory.mktemp("photos")
    dump = make_dump(base / "dump", 600)
    result = build(BuildOptions(dump=str(dump), out=str(base / "out"), label_field="species", workers=2))
    return dump, Path(result.out_dir)


@needs_tfdv
def test_a_real_photo_build_writes_tfdv_s_statistics_of_its_records(photo_build, h, tfdv):
    """Each split's stats file is what TFDV computes from the split's records (in shard order), with
    their metadata read back from the sidecars (records hold floats as float32; these are ints and text).
    """
    dump, out = photo_build
    manifest = json.loads((out / "dataset.json").read_text())
    assert set(manifest["statistics"]) == {"train", "val"}
    types = manifest["meta_features"]
    assert types == {"iso": "int", "specimen": "bytes"}
    for split in ("train", "val"):
        rows = []
        for rec in h.records(out, split):
            sidecar = json.loads((dump / f"{rec['image/id'][0]}.json").read_text())
            rows.append((rec["label/name"], {k: v for k, v in sidecar.items() if k != "species"}))
        theirs = tfdv.generate_statistics_from_dataframe(stats.frame(rows, types), n_jobs=1)
        written = (out / manifest["statistics"][split]).read_bytes()
        assert written == theirs.SerializeToString(), split
        assert theirs.datasets[0].num_examples == manifest["splits"][split]["examples"]


def _imported(cmd: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``cmd`` under ``python -X importtime``: the result and the top-level modules the process imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300
    )
    names = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "import time:" in line}
    return proc, names


HEAVY = {"tensorflow", "tensorflow_data_validation", "apache_beam", "keras", "pandas"}


@needs_tfdv
def test_the_default_cli_build_writes_statistics_without_tensorflow_beam_or_pandas(photo_build, tmp_path):
    dump, _ = photo_build
    cmd = ["-m", "pipecheck", "build-tfrecords", str(dump), "--out", str(tmp_path / "out"), "--label-field", "species"]
    proc, names = _imported(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out" / "stats").iterdir()) == ["train.stats.pb", "val.stats.pb"]
    assert "pipecheck" in names and "tfx_bsl" in names  # the listing is read right ...
    assert HEAVY.isdisjoint(names), sorted(HEAVY & names)


@needs_tfdv
def test_the_import_listing_sees_tensorflow_where_tfdv_is_imported(tmp_path):
    """... and would see the heavy imports: a process that imports TFDV lists them."""
    code = "from pipecheck.pipeline import stats; stats.import_tfdv()"
    proc, names = _imported(["-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {"tensorflow", "tensorflow_data_validation", "apache_beam", "pandas"} <= names


def test_the_default_build_writes_statistics_exactly_where_tfdv_is_installed(h, tmp_path):
    """Both environments: with TFDV a default build writes one stats file per split; without it (the
    new env) none, the manifest's statistics are empty, and the build still succeeds.
    """
    dump = tmp_path / "dump"
    for i in range(12):
        h.pair(dump, f"r{i:02d}", {"label": "ab"[i % 2], "iso": 100 * i, "cam": "xy"[i % 3 == 0]})
    result = h.build(dump, tmp_path / "out", label_field="label", stats=True, val_fraction=0.25)
    out = Path(result.out_dir)
    if HAS_TFDV:
        assert result.manifest["statistics"] == {"train": "stats/train.stats.pb", "val": "stats/val.stats.pb"}
        assert sorted(p.name for p in (out / "stats").iterdir()) == ["train.stats.pb", "val.stats.pb"]
    else:
        assert result.manifest["statistics"] == {}
        assert not (out / "stats").exists()
    assert result.accounting["written"] == 12
