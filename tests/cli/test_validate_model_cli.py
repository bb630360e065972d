"""``validate --data --model``: the reader feeds raw pixels when the model preprocesses inside.

The TF transfer-learning tutorial's model applies mobilenet_v2.preprocess_input to its input. On a
build, ``auto`` detects that and reads the build raw (silent); declaring ``in-data`` makes the reader
preprocess too, which the backbone then receives twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

VALIDATORS_TESTS = str(Path(__file__).resolve().parents[1] / "validators")
TUTORIAL = "model_input_cases:tf_transfer_learning_tutorial"


@pytest.fixture(autouse=True)
def cases_importable(monkeypatch):
    monkeypatch.syspath_prepend(VALIDATORS_TESTS)


def run(pipecheck_cli, build, *extra):
    result = pipecheck_cli(
        "validate",
        "--data",
        build,
        "--backbone",
        "mobilenet_v2",
        "--image-size",
        "32",
        "--batches",
        "2",
        "--format",
        "json",
        *extra,
    )
    return result, json.loads(result.stdout)


def input_errors(report):
    return sorted(
        f["check"] for f in report["findings"] if f["check"].startswith("input_range.") and f["severity"] == "error"
    )


def test_auto_detects_the_models_preprocessing_and_reads_raw(pipecheck_cli, cli_sample_build):
    result, report = run(pipecheck_cli, cli_sample_build, "--model", TUTORIAL)
    assert input_errors(report) == [], result.output
    assert report["summary"]["preprocessing"].startswith("in-model (detected)")
    assert "mobilenetv2" in report["summary"]["model input stage"]


def test_declared_in_data_with_that_model_is_preprocessing_twice(pipecheck_cli, cli_sample_build):
    result, report = run(pipecheck_cli, cli_sample_build, "--model", TUTORIAL, "--preprocessing", "in-data")
    assert result.exit_code == 1
    assert input_errors(report) == ["input_range.preprocessed_twice"]


def test_declared_in_model_without_a_model_reads_raw(pipecheck_cli, cli_sample_build):
    result, report = run(pipecheck_cli, cli_sample_build, "--preprocessing", "in-model")
    assert input_errors(report) == []
    assert report["summary"]["preprocessing"].startswith("in-model (declared)")
