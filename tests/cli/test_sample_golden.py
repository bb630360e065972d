"""The golden report: ``pipecheck validate --data <sample build> --backbone resnet50 --format json`` on the
session's build of the committed sample dump (what ``./dev sample`` validates), compared with
``tests/cli/golden/sample_validate.json``.

Normalised before comparing, because they legitimately vary: the build folder (a tmp path, in
subjects, messages and summary keys) becomes ``<data>``, the pipecheck version ``<version>``, any
timing (a key ending in ``_seconds`` or ``_unix``) ``<time>``, and floats keep 10 significant digits
(TF 2.16 and 2.21 differ in the last bits of a divergence). Everything else (check ids, severities,
subjects, messages, hints, evidence, checks run, counts, status) must match exactly.

A deliberate change of validate's output updates the golden with one command, in the tfdv
environment (``.venv``, where the schema family runs), then review ``git diff tests/cli/golden``::

    PIPECHECK_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_sample_golden.py -q
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden" / "sample_validate.json"
ARGS = ["--backbone", "resnet50", "--format", "json"]
HAS_TFDV = importlib.util.find_spec("tensorflow_data_validation") is not None


def normalise(value, data: str):
    if isinstance(value, dict):
        return {
            normalise(k, data): ("<time>" if str(k).endswith(("_seconds", "_unix")) else normalise(v, data))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v, data) for v in value]
    if isinstance(value, str):
        return value.replace(data, "<data>")
    if isinstance(value, float):
        return float(f"{value:.10g}")
    return value


def without_tfdv_notice(report: dict) -> dict:
    """Where TFDV is not installed (the Python 3.12 env), the schema family does not run and says so in one
    info finding, ``schema.no_statistics`` (tested on its own in test_no_extras.py). It is taken out here,
    and out of the counts, so that one golden (made where the schema family runs) serves both envs."""
    schema = [f for f in report["findings"] if f["check"].startswith("schema.")]
    assert [(f["check"], f["severity"], f["evidence"]) for f in schema] == [
        ("schema.no_statistics", "info", {"tfdv_installed": False})
    ], schema
    report["findings"] = [f for f in report["findings"] if f not in schema]
    report["summary"]["counts"]["info"] -= 1
    return report


def test_validate_of_the_sample_build_matches_the_golden_report(pipecheck_cli, cli_sample_build):
    result = pipecheck_cli("validate", "--data", cli_sample_build, *ARGS)
    assert result.exit_code == 0, result.output
    report = normalise(json.loads(result.stdout), cli_sample_build)
    assert report.pop("pipecheck_version")
    report = {"pipecheck_version": "<version>", **report}
    if os.environ.get("PIPECHECK_UPDATE_GOLDEN"):
        if not HAS_TFDV:
            pytest.fail("update the golden in the tfdv env (.venv): the schema family does not run here")
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not HAS_TFDV:
        report = without_tfdv_notice(report)
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert report == golden, (
        "validate's report of the sample differs from tests/cli/golden/sample_validate.json; if the change is "
        "meant, run PIPECHECK_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_sample_golden.py (in .venv) "
        "and review the diff"
    )


@pytest.mark.parametrize("change", ["severity", "check", "subject", "count", "finding dropped"])
def test_the_comparison_still_sees_a_changed_check_severity_subject_or_count(change):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    report = json.loads(json.dumps(golden).replace("<data>", "/tmp/pytest-of-x/build"))
    first = report["findings"][0]
    if change == "severity":
        first["severity"] = "error" if first["severity"] != "error" else "warning"
    elif change == "check":
        first["check"] += "_renamed"
    elif change == "subject":
        first["subject"] = "another"
    elif change == "count":
        report["summary"]["counts"]["warning"] += 1
    else:
        report["findings"].pop()
    assert normalise(report, "/tmp/pytest-of-x/build") != golden
    assert (
        normalise(json.loads(json.dumps(golden).replace("<data>", "/tmp/pytest-of-x/build")), "/tmp/pytest-of-x/build")
        == golden
    )  # the healthy twin: only the path differed
