"""Exit codes and error output of ``pipecheck build-tfrecords`` (run in-process with click's runner).

0 pass; 1 when findings reach ``--fail-on`` (rejects are warnings); 2 for unusable input or options,
with one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pipecheck.cli import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SAMPLE_DUMP = Path(__file__).resolve().parents[2] / "samples" / "dump"
# 25% val: these dumps hold 6-8 images, and 10% of that would leave val empty (build.empty_split).
FAST = ["--workers", "1", "--no-stats", "--val-fraction", "0.25"]


def _write_pair(folder: Path, stem: str, label: str, seed: int, size=(48, 40)) -> None:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGB").save(folder / f"{stem}.jpg", "JPEG", quality=90)
    (folder / f"{stem}.json").write_text(json.dumps({"label": label, "group": f"g{seed // 2}"}))


@pytest.fixture(scope="module")
def clean_dump(tmp_path_factory) -> Path:
    """Eight valid images, two classes, nothing to reject or repair."""
    d = tmp_path_factory.mktemp("cli_clean") / "dump"
    for i in range(8):
        _write_pair(d, f"img_{i}", "ab"[i % 2], i)
    return d


@pytest.fixture(scope="module")
def dirty_dump(tmp_path_factory) -> Path:
    """Six valid images plus two rejects (no sidecar, empty file)."""
    d = tmp_path_factory.mktemp("cli_dirty") / "dump"
    for i in range(6):
        _write_pair(d, f"img_{i}", "ab"[i % 2], i)
    Image.new("RGB", (40, 40), (10, 20, 30)).save(d / "lonely.jpg", "JPEG")
    (d / "empty.jpg").write_bytes(b"")
    (d / "empty.json").write_text('{"label": "a"}')
    return d


def run(*args: str):
    return CliRunner().invoke(cli, ["build-tfrecords", *args])


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pipecheck: error:"), lines[0]
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- 0 and 1 ----------------------------------------------------------------------------------


def test_clean_dump_passes_even_with_fail_on_warning(clean_dump, tmp_path):
    result = run(
        str(clean_dump), "--out", str(tmp_path / "out"), "--label-field", "label", "--fail-on", "warning", *FAST
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert manifest["accounting"]["written"] == 8 and manifest["accounting"]["balanced"]
    assert result.stderr == ""


def test_rejects_are_warnings_exit_0_by_default(dirty_dump, tmp_path):
    result = run(str(dirty_dump), "--out", str(tmp_path / "out"), "--label-field", "label", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "pass"
    rejected = {f["subject"]: f["evidence"]["count"] for f in report["findings"] if f["check"] == "build.rejected"}
    assert rejected == {"empty_file": 1, "no_sidecar": 1}
    assert all(f["severity"] == "warning" for f in report["findings"] if f["check"] == "build.rejected")
    assert report["summary"]["inputs"].startswith("8 found = 6 written + 2 rejected")


def test_fail_on_warning_with_rejects_exits_1(dirty_dump, tmp_path):
    out = tmp_path / "out"
    report_file = tmp_path / "report.json"
    result = run(
        str(dirty_dump),
        "--out",
        str(out),
        "--label-field",
        "label",
        "--fail-on",
        "warning",
        "--format",
        "json",
        "--output",
        str(report_file),
        *FAST,
    )
    assert result.exit_code == 1, result.output
    report = json.loads(report_file.read_text())
    assert report["status"] == "fail" and report["fail_on"] == "warning"
    assert (out / "dataset.json").exists(), "the build is still written when the report fails"
    assert "Traceback" not in result.output


def test_ignore_the_rejected_check_passes_again(dirty_dump, tmp_path):
    result = run(
        str(dirty_dump),
        "--out",
        str(tmp_path / "out"),
        "--label-field",
        "label",
        "--fail-on",
        "warning",
        "--ignore",
        "build.rejected",
        *FAST,
    )
    assert result.exit_code == 0, result.output


def test_sample_dump_with_default_workers(tmp_path):
    """The committed sample through the CLI, default workers (process pool) and statistics."""
    out = tmp_path / "out"
    result = run(
        str(SAMPLE_DUMP),
        "--out",
        str(out),
        "--label-field",
        "species",
        "--group-field",
        "specimen",
        "--fail-on",
        "warning",
        "--format",
        "json",
    )
    assert result.exit_code == 1, result.output  # the sample has 11 rejects, which are warnings
    report = json.loads(result.stdout)
    assert report["summary"]["inputs"].startswith("261 found = 250 written + 11 rejected")
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["accounting"]["balanced"] is True
    assert sum(s["examples"] for s in manifest["splits"].values()) == 250


# --- 2: unusable input or options ---------------------------------------------------------------


def test_missing_dump_folder_exits_2(tmp_path):
    missing = tmp_path / "no_such_dump"
    result = run(str(missing), "--out", str(tmp_path / "out"), "--label-field", "label", *FAST)
    _assert_one_line_error(result, str(missing))
    assert not (tmp_path / "out").exists()


def test_non_empty_out_without_overwrite_exits_2_and_keeps_it(clean_dump, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run(str(clean_dump), "--out", str(out), "--label-field", "label", *FAST)
    _assert_one_line_error(result, "--overwrite", str(out))
    assert sorted(os.listdir(out)) == ["keep.txt"]
    result = run(str(clean_dump), "--out", str(out), "--label-field", "label", "--overwrite", *FAST)
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists() and (out / "dataset.json").exists()


def test_unreadable_manifest_exits_2(clean_dump, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("file,label\nimg_0.jpg,a\n")
    result = run(
        str(clean_dump), "--out", str(tmp_path / "out"), "--label-field", "label", "--manifest", str(table), *FAST
    )
    _assert_one_line_error(result, "path")


LABEL_FLAG_CASES = {
    "both": ["--label-field", "label", "--multi-label-field", "tags"],
    "neither": [],
}


@pytest.mark.parametrize("case", sorted(LABEL_FLAG_CASES))
def test_both_or_neither_label_flags_exit_2(clean_dump, tmp_path, case):
    result = run(str(clean_dump), "--out", str(tmp_path / "out"), *LABEL_FLAG_CASES[case], *FAST)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "--label-field" in result.stderr and "--multi-label-field" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(LABEL_FLAG_CASES))
def test_both_or_neither_label_flags_error_is_one_line(clean_dump, tmp_path, case):
    result = run(str(clean_dump), "--out", str(tmp_path / "out"), *LABEL_FLAG_CASES[case], *FAST)
    _assert_one_line_error(result, "--label-field", "--multi-label-field")
