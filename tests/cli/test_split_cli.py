"""``pipecheck split``: re-splitting a label table (seed 002's skew) and a built dataset.

Seed 002's per-class prevalences are rebuilt exactly as in ``tests/validators/labels/test_labels.py``
(exact counts per class, random images), at 5,000 train / 600 val images for speed.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from seed_tables import SEED_002, exact_multi_hot

N_TRAIN, N_VAL = 5_000, 600
SKEW_CHECKS = {"label_skew.absent_in_split", "label_skew.prevalence_gap"}


@pytest.fixture(scope="module")
def seed_002_table(tmp_path_factory):
    rng = np.random.default_rng(2)
    classes = list(SEED_002)
    rows = []
    for split, n, col in (("train", N_TRAIN, 0), ("val", N_VAL, 1)):
        m = exact_multi_hot(n, np.array([v[col] for v in SEED_002.values()]) / 100, rng)
        rows += [
            {"image": f"{split}_{i:05d}.jpg", "tags": [c for c, on in zip(classes, r) if on], "split": split}
            for i, r in enumerate(m)
        ]
    path = tmp_path_factory.mktemp("seed002") / "labels.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return path


@pytest.fixture(scope="module")
def resplit_002(pipecheck_cli, seed_002_table, tmp_path_factory):
    out = tmp_path_factory.mktemp("seed002_new") / "labels.jsonl"
    result = pipecheck_cli(
        "split", "--labels", seed_002_table, "--out", out, "--multi-label-field", "tags", "--format", "json"
    )
    return result, out


def validate_labels(pipecheck_cli, table):
    result = pipecheck_cli("validate", "--labels", table, "--multi-label-field", "tags", "--format", "json")
    return result, json.loads(result.stdout)


def one_line_error(result):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipecheck: error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# --------------------------------------------------------------------------- --labels
def test_seed_002_table_has_label_skew_errors_before(pipecheck_cli, seed_002_table):
    result, report = validate_labels(pipecheck_cli, seed_002_table)
    assert result.exit_code == 1
    errors = {(f["check"], f["subject"]) for f in report["findings"] if f["severity"] == "error"}
    assert ("label_skew.absent_in_split", "obj_1") in errors
    assert {"obj_2", "obj_5", "obj_12", "obj_15"} <= {s for c, s in errors if c == "label_skew.prevalence_gap"}
    gaps = {f["subject"] for f in report["findings"] if f["check"] == "label_skew.prevalence_gap"}
    assert "obj_19" in gaps  # 8.5% vs 26.9%: a warning (Cohen's h just under 0.5)


def test_split_table_removes_the_skew(pipecheck_cli, seed_002_table, resplit_002):
    result, out = resplit_002
    assert result.exit_code == 0, result.output
    assert not {f["check"] for f in json.loads(result.stdout)["findings"]} & SKEW_CHECKS
    after, report = validate_labels(pipecheck_cli, out)
    assert not {f["check"] for f in report["findings"]} & SKEW_CHECKS, report["findings"]
    assert after.exit_code == 0
    new = pd.read_json(out, lines=True)
    old = pd.read_json(seed_002_table, lines=True)
    assert list(new["image"]) == list(old["image"])  # rows keep their order, only the split changes
    assert [sorted(t) for t in new["tags"]] == [sorted(t) for t in old["tags"]]
    sizes = Counter(new["split"])
    assert set(sizes) == {"train", "val"} and abs(sizes["val"] - 560) <= 20


def test_split_summary_reports_ld_and_flz_before_and_after(pipecheck_cli, seed_002_table, resplit_002, tmp_path):
    result, _ = resplit_002
    summary = json.loads(result.stdout)["summary"]
    before, after = summary["before"], summary["after"]
    assert before["FLZ"] >= 2 and after["FLZ"] == 0  # obj_1 and obj_14 are missing from val before
    assert after["LD"] < before["LD"]
    assert "0.00%" in summary["prevalence (before -> after)"]["obj_1"].split("->")[0]
    # the text report prints both blocks
    text = pipecheck_cli(
        "split", "--labels", seed_002_table, "--out", tmp_path / "t.jsonl", "--multi-label-field", "tags"
    )
    assert text.exit_code == 0
    out = text.stdout
    assert "before:" in out and "after:" in out
    b, a = out.index("before:"), out.index("after:")
    assert "LD:" in out[b:a] and "FLZ:" in out[b:a] and "LD:" in out[a:] and "FLZ:" in out[a:]


def test_group_field_keeps_each_group_in_one_split(pipecheck_cli, tmp_path):
    rng = np.random.default_rng(5)
    classes = ["a", "b", "c", "d"]
    rows = [
        {
            "image": f"i{i}",
            "tags": list(rng.choice(classes, int(rng.integers(1, 3)), replace=False)),
            "site": f"site{i // 5}",
            "split": "train",
        }
        for i in range(400)
    ]
    table = tmp_path / "t.jsonl"
    pd.DataFrame(rows).to_json(table, orient="records", lines=True)
    grouped, plain = tmp_path / "grouped.jsonl", tmp_path / "plain.jsonl"
    for out, extra in ((grouped, ["--group-field", "site"]), (plain, [])):
        result = pipecheck_cli(
            "split", "--labels", table, "--out", out, "--multi-label-field", "tags", "--val-fraction", "0.2", *extra
        )
        assert result.exit_code == 0, result.output
    splits_per_site = pd.read_json(grouped, lines=True).groupby("site")["split"].nunique()
    assert (splits_per_site == 1).all()
    assert set(pd.read_json(grouped, lines=True)["split"]) == {"train", "val"}
    # without the flag the same table does split sites: the grouped result is not an accident
    assert (pd.read_json(plain, lines=True).groupby("site")["split"].nunique() > 1).any()


# --------------------------------------------------------------------------- --data
def _ids_and_groups(data_dir):
    from pipecheck.pipeline.manifest import read_manifest
    from pipecheck.pipeline.reader import read_columns

    out = {}
    for split in read_manifest(data_dir)["splits"]:
        cols = read_columns(data_dir, split, ["image/id", "meta/specimen"])
        out[split] = list(zip(cols["image/id"], cols["meta/specimen"]))
    return out


def test_split_data_rebuilds_a_verified_dataset_with_the_same_records(pipecheck_cli, cli_sample_build, tmp_path):
    new = tmp_path / "resplit"
    result = pipecheck_cli(
        "split", "--data", cli_sample_build, "--out", new, "--val-fraction", "0.2", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["out"] == str(new) and "before" in report["summary"] and "after" in report["summary"]

    verify = pipecheck_cli("verify", new, "--format", "json")
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["status"] == "pass"

    old, fresh = _ids_and_groups(cli_sample_build), _ids_and_groups(new)
    assert Counter(i for rows in fresh.values() for i, _ in rows) == Counter(
        i for rows in old.values() for i, _ in rows
    )
    where = {}
    for split, rows in fresh.items():
        for _, group in rows:
            where.setdefault(group, set()).add(split)
    assert all(len(s) == 1 for s in where.values()), "a specimen straddles splits after the re-split"

    src = json.loads((__import__("pathlib").Path(cli_sample_build) / "dataset.json").read_text())
    dst = json.loads((new / "dataset.json").read_text())
    assert dst["classes"] == src["classes"]
    for split, info in dst["splits"].items():
        assert sum(info["class_counts"].values()) == info["examples"] == len(fresh[split])
        assert sum(s["records"] for s in info["shards"]) == info["examples"]
    for c in src["classes"]:
        assert sum(s["class_counts"][c] for s in dst["splits"].values()) == sum(
            s["class_counts"][c] for s in src["splits"].values()
        )
    assert dst["options"]["val_fraction"] == 0.2


# --------------------------------------------------------------------------- refusals
def test_existing_out_without_overwrite_is_refused(pipecheck_cli, seed_002_table, cli_sample_build, tmp_path):
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n")
    line = one_line_error(
        pipecheck_cli("split", "--labels", seed_002_table, "--out", taken, "--multi-label-field", "tags")
    )
    assert str(taken) in line and "--overwrite" in line
    assert taken.read_text() == "keep me\n"

    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    line = one_line_error(pipecheck_cli("split", "--data", cli_sample_build, "--out", folder))
    assert "--overwrite" in line
    assert [p.name for p in folder.iterdir()] == ["x.txt"]


@pytest.mark.parametrize("which", ["both", "neither"])
def test_exactly_one_of_data_and_labels(pipecheck_cli, seed_002_table, cli_sample_build, tmp_path, which):
    args = ["--data", cli_sample_build, "--labels", seed_002_table] if which == "both" else []
    line = one_line_error(pipecheck_cli("split", *args, "--out", tmp_path / "new", "--multi-label-field", "tags"))
    assert "--data" in line and "--labels" in line
    assert not (tmp_path / "new").exists()
