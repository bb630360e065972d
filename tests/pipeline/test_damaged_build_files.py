"""Damaged build files are findings (verify) or one-line exit-2 errors, never tracebacks (issue 16 #7).

A half-copied checksums.jsonl, a truncated statistics file, a dataset.json that parses but has the
wrong shape, and a dataset.json whose class list was shortened: each on a real build, through the CLI
as a user runs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from extras import needs_tfdv


@pytest.fixture()
def built(h, tmp_path):
    dump = tmp_path / "dump"
    for i in range(12):
        h.pair(
            dump, f"img{i:02d}", {"label": ["ant", "bee", "cat"][i % 3]}, h.image(seed=i, color=(40 * (i % 3), 90, 200))
        )
    return h.build(dump, tmp_path / "out", label_field="label", val_fraction=0.25, stats=True).out_dir


def cli(*args):
    from click.testing import CliRunner

    from pipecheck.cli import cli as group

    return CliRunner().invoke(group, [str(a) for a in args])


def no_traceback(result):
    return "Traceback" not in (result.output or "") + (result.stderr or "") and result.exit_code in (0, 1, 2)


def test_half_copied_checksums_is_a_verify_finding(built):
    sums = Path(built) / "checksums.jsonl"
    data = sums.read_bytes()
    sums.write_bytes(data[: len(data) // 2])
    result = cli("verify", built, "--format", "json")
    assert no_traceback(result) and result.exit_code == 1, result.output
    checks = {f["check"] for f in json.loads(result.stdout)["findings"]}
    assert "dataset.checksums_damaged" in checks


@needs_tfdv
def test_truncated_statistics_is_a_validate_finding(built):
    stats = sorted((Path(built) / "stats").glob("*.pb"))[0]
    stats.write_bytes(stats.read_bytes()[:37])
    result = cli("validate", "--data", built, "--format", "json")
    assert no_traceback(result) and result.exit_code == 1, result.output
    assert "schema.statistics_damaged" in {f["check"] for f in json.loads(result.stdout)["findings"]}


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: {**m, "classes": {"ant": 0}},  # a mapping where a list belongs
        lambda m: {**m, "splits": [m["splits"]]},  # a list where a mapping belongs
        lambda m: {**m, "splits": {"train": {"shards": []}}},  # a missing key
        lambda m: {
            **m,
            "splits": {
                **m["splits"],
                "train": {
                    **m["splits"]["train"],
                    "shards": [{"file": "../../etc/passwd", "records": 1, "bytes": 1, "sha256": "x"}],
                },
            },
        },
    ],
)
@pytest.mark.parametrize("command", ["verify", "validate"])
def test_wrong_shape_manifest_is_one_line_exit_2(built, damage, command):
    path = Path(built) / "dataset.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    result = cli(command, built) if command == "verify" else cli("validate", "--data", built)
    assert no_traceback(result) and result.exit_code == 2, result.output
    assert "dataset.json is damaged" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["verify", "validate"])
def test_shortened_class_list_no_longer_passes(built, command):
    path = Path(built) / "dataset.json"
    manifest = json.loads(path.read_text())
    manifest["classes"] = manifest["classes"][:2]
    path.write_text(json.dumps(manifest))
    result = (
        cli(command, built, "--format", "json")
        if command == "verify"
        else cli("validate", "--data", built, "--format", "json")
    )
    assert no_traceback(result) and result.exit_code == 1, result.output
    assert "dataset.classes_mismatch" in {f["check"] for f in json.loads(result.stdout)["findings"]}


def test_intact_build_has_no_classes_mismatch(built):
    result = cli("verify", built, "--format", "json")
    assert result.exit_code == 0, result.output
    assert os.path.exists(Path(built) / "checksums.jsonl")
