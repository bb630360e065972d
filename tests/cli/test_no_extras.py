"""pipecheck without its extras (issue 17): ``pip install pipecheck`` has neither TFDV nor Apache Beam.

The build then writes no statistics and says so once in its summary; ``validate``'s schema family
reports once, as info, that TFDV is not installed and how to add it; ``--runner beam`` exits 2 naming
the extra. Absence is simulated in the environment that has the extras, and real in ``--env new``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SAMPLE_DUMP = Path(__file__).resolve().parents[2] / "samples" / "dump"
BUILD = ["--label-field", "species", "--group-field", "specimen", "--workers", "1", "--no-progress"]


@pytest.fixture()
def no_tfdv(monkeypatch):
    from pipecheck.pipeline import stats

    monkeypatch.setattr(stats, "tfdv_available", lambda: False)
    monkeypatch.setitem(sys.modules, "tensorflow_data_validation", None)  # any import of it fails


@pytest.fixture(scope="module")
def built_without_tfdv(tmp_path_factory, pipecheck_cli):
    """The sample dump built (statistics on, the default) where TFDV is not installed."""
    mp = pytest.MonkeyPatch()
    from pipecheck.pipeline import stats

    mp.setattr(stats, "tfdv_available", lambda: False)
    mp.setitem(sys.modules, "tensorflow_data_validation", None)
    try:
        out = tmp_path_factory.mktemp("no_tfdv") / "out"
        result = pipecheck_cli("build-tfrecords", SAMPLE_DUMP, "--out", out, *BUILD, "--format", "json")
        text = pipecheck_cli("build-tfrecords", SAMPLE_DUMP, "--out", out, *BUILD, "--overwrite")
    finally:
        mp.undo()
    return out, result, text


def test_build_without_tfdv_writes_no_statistics_and_says_so_once(built_without_tfdv):
    out, result, text = built_without_tfdv
    assert result.exit_code in (0, 1), result.output
    summary = json.loads(result.stdout)["summary"]
    assert "TFDV is not installed" in summary["statistics"]
    assert "pip install 'pipecheck[tfdv]'" in summary["statistics"]
    assert text.exit_code in (0, 1) and text.stdout.count("TFDV is not installed") == 1, text.stdout
    manifest = json.loads((Path(out) / "dataset.json").read_text())
    assert manifest["statistics"] == {}
    assert not (Path(out) / "stats").exists()


def test_validate_without_tfdv_reports_it_once_as_info(built_without_tfdv, no_tfdv, pipecheck_cli):
    out, _, _ = built_without_tfdv
    result = pipecheck_cli("validate", "--data", out, "--format", "json")
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    schema = [f for f in json.loads(result.stdout)["findings"] if f["check"].startswith("schema.")]
    assert len(schema) == 1, schema
    assert schema[0]["check"] == "schema.no_statistics" and schema[0]["severity"] == "info"
    assert "TFDV is not installed" in schema[0]["message"]
    assert "pip install 'pipecheck[tfdv]'" in schema[0]["message"] + schema[0]["hint"]


def test_validate_without_tfdv_of_a_build_with_statistics_still_says_tfdv_is_missing(
    cli_sample_build, no_tfdv, pipecheck_cli
):
    result = pipecheck_cli("validate", "--data", cli_sample_build, "--format", "json")
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    schema = [f for f in json.loads(result.stdout)["findings"] if f["check"].startswith("schema.")]
    assert [f["check"] for f in schema] == ["schema.no_statistics"]
    assert "TFDV is not installed" in schema[0]["message"]


def test_runner_beam_without_beam_exits_2_naming_the_extra(tmp_path, monkeypatch, pipecheck_cli):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # find_spec answers None: not installed
    result = pipecheck_cli("build-tfrecords", SAMPLE_DUMP, "--out", tmp_path / "out", *BUILD, "--runner", "beam")
    assert result.exit_code == 2, result.output
    assert "pipecheck[beam]" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_runner_beam_with_beam_but_without_tfdv_exits_2_naming_both_ways_out(
    tmp_path, monkeypatch, no_tfdv, pipecheck_cli
):
    import importlib.machinery
    import types

    from extras import installed

    if not installed("apache_beam"):  # only its presence is asked before the TFDV check
        fake = types.ModuleType("apache_beam")
        fake.__spec__ = importlib.machinery.ModuleSpec("apache_beam", None)
        monkeypatch.setitem(sys.modules, "apache_beam", fake)
    result = pipecheck_cli("build-tfrecords", SAMPLE_DUMP, "--out", tmp_path / "out", *BUILD, "--runner", "beam")
    assert result.exit_code == 2, result.output
    assert "pipecheck[tfdv]" in result.stderr and "--no-stats" in result.stderr
