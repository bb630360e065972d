"""Every command's report lists every check it ran, so ``--format junit`` has one testcase per check:
a passing check is a passing testcase, not a missing one.

The checks a command runs are named here by family from the registry (``registry.ids``), not by the
command's own list: ``split`` runs ``check_label_skew`` and ``check_class_counts``, so its JUnit holds
all twelve of their ids (it listed four before). The twin of these tests is
:func:`test_a_report_that_lists_too_few_checks_is_caught`: the old split report, judged the same way.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipecheck.validators import registry

REPO = Path(__file__).resolve().parents[2]
TINY = ["--backbone", "resnet50", "--image-size", "32"]


def junit_cases(junit: str) -> list[str]:
    """The testcase names of a JUnit report (check ids), in order."""
    return [case.get("name") for case in ET.fromstring(junit).iter("testcase")]


def missing(junit: str, expected: list[str]) -> list[str]:
    """Checks the command ran that its JUnit does not list."""
    listed = set(junit_cases(junit))
    return [c for c in expected if c not in listed]


def run_junit(pipecheck_cli, *args: str) -> str:
    result = pipecheck_cli(*args, "--format", "junit")
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def label_families() -> list[str]:
    return registry.ids("label_skew", "class_counts")


def data_families() -> list[str]:
    from pipecheck.validators.dataset import CHECKS

    return registry.ids(*CHECKS, "label_skew", "class_counts", "leakage", "schema")


@pytest.fixture(scope="module")
def label_table(tmp_path_factory) -> Path:
    """A label table of two classes in train and val, one image per row."""
    path = tmp_path_factory.mktemp("checks_run_table") / "labels.csv"
    rows = ["path,species,split"] + [
        f"img{i}.jpg,{'ant' if i % 2 else 'bee'},{'val' if i % 5 == 0 else 'train'}" for i in range(60)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_report_that_lists_too_few_checks_is_caught():
    """The firing twin: ``split`` as it was (four ids declared as run, for twelve that ran)."""
    from pipecheck.render import render
    from pipecheck.validators.findings import Report

    before = Report(
        "split",
        checks_run=[
            "label_skew.absent_in_split",
            "label_skew.prevalence_gap",
            "label_skew.labels_per_image",
            "class_counts.missing_in_train",
        ],
    )
    gone = missing(render(before, "junit"), label_families())
    assert len(gone) == 8 and "class_counts.imbalance" in gone
    healthy = Report("split", checks_run=label_families())
    assert missing(render(healthy, "junit"), label_families()) == []


def test_split_of_a_build_lists_all_twelve_label_checks(pipecheck_cli, cli_sample_build, tmp_path):
    junit = run_junit(pipecheck_cli, "split", "--data", cli_sample_build, "--out", tmp_path / "resplit")
    assert len(label_families()) == 12
    assert missing(junit, label_families()) == []


def test_split_of_a_table_lists_all_twelve_label_checks(pipecheck_cli, label_table, tmp_path):
    junit = run_junit(
        pipecheck_cli, "split", "--labels", label_table, "--label-field", "species", "--out", tmp_path / "new.csv"
    )
    assert missing(junit, label_families()) == []


def test_split_json_names_the_same_checks(pipecheck_cli, label_table, tmp_path):
    result = pipecheck_cli(
        "split", "--labels", label_table, "--label-field", "species", "--out", tmp_path / "n.csv", "--format", "json"
    )
    assert json.loads(result.stdout)["summary"]["checks_run"] == label_families()


def test_verify_lists_every_dataset_check_it_runs(pipecheck_cli, cli_sample_build):
    junit = run_junit(pipecheck_cli, "verify", cli_sample_build)
    expected = [c for c in registry.ids("dataset") if c != "dataset.shard_size"]  # verify drops shard_size
    assert len(expected) == 10 and missing(junit, expected) == []
    assert "dataset.shard_size" not in junit_cases(junit)


def test_validate_data_lists_dataset_label_leakage_and_schema_checks(pipecheck_cli, cli_sample_build):
    junit = run_junit(pipecheck_cli, "validate", "--data", cli_sample_build)
    assert missing(junit, data_families()) == []
    assert not any(c.startswith("input_range.") for c in junit_cases(junit))  # no --backbone: not run


def test_validate_data_with_a_backbone_adds_the_input_range_checks(pipecheck_cli, cli_sample_build):
    from pipecheck.validators.input_range import CHECK_IDS

    junit = run_junit(pipecheck_cli, "validate", "--data", cli_sample_build, *TINY, "--batches", "1")
    assert missing(junit, data_families() + registry.ids(*CHECK_IDS)) == []


def test_validate_labels_lists_the_label_checks(pipecheck_cli, label_table):
    junit = run_junit(pipecheck_cli, "validate", "--labels", label_table, "--label-field", "species")
    assert missing(junit, label_families()) == []


def test_validate_source_lists_input_range_and_generator_checks(pipecheck_cli, monkeypatch):
    from pipecheck.validators.input_range import BACKBONE_FREE_CHECK_IDS

    monkeypatch.chdir(REPO)
    junit = run_junit(
        pipecheck_cli, "validate", "--source", "samples.buggy.resnet_rescale:train_batches", "--batches", "2"
    )
    assert missing(junit, registry.ids(*BACKBONE_FREE_CHECK_IDS, "generator")) == []


def test_ignored_checks_leave_the_junit(pipecheck_cli, label_table):
    junit = run_junit(
        pipecheck_cli,
        "validate",
        "--labels",
        label_table,
        "--label-field",
        "species",
        "--ignore",
        "class_counts",
        "--ignore",
        "label_skew.summary",
    )
    listed = set(junit_cases(junit))
    assert not any(c.startswith("class_counts.") for c in listed) and "label_skew.summary" not in listed
    assert "label_skew.prevalence_gap" in listed


def test_build_lists_every_build_check(pipecheck_cli, tmp_path):
    from PIL import Image

    dump = tmp_path / "dump"
    dump.mkdir()
    for i in range(12):
        buf = io.BytesIO()
        Image.new("RGB", (40, 40), (i * 20, 0, 255 - i * 20)).save(buf, "JPEG")
        (dump / f"im{i}.jpg").write_bytes(buf.getvalue())
        (dump / f"im{i}.json").write_text(json.dumps({"species": "ant" if i % 2 else "bee"}))
    junit = run_junit(
        pipecheck_cli,
        "build-tfrecords",
        dump,
        "--out",
        tmp_path / "out",
        "--label-field",
        "species",
        "--workers",
        "1",
        "--no-stats",
        "--val-fraction",
        "0.25",
    )
    assert len(registry.ids("build")) >= 6 and missing(junit, registry.ids("build")) == []


@pytest.fixture(scope="module")
def train_runs(pipecheck_cli, cli_sample_build):
    """train-check and gate on the sample build with the sample model (tiny: 32 px, 4 steps)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        args = [
            "--data",
            cli_sample_build,
            *TINY,
            "--steps",
            "4",
            "--model",
            "samples.models:build",
            "--format",
            "junit",
        ]
        train = pipecheck_cli("train-check", *args)
        gate = pipecheck_cli("gate", *args, "--batches", "1")
    return train, gate


def test_train_check_lists_every_training_check(train_runs):
    train, _ = train_runs
    assert train.exit_code in (0, 1), train.output
    assert missing(train.stdout, registry.ids("training")) == []


def test_gate_lists_validate_and_training_checks(train_runs):
    """The healthy sample passes validate, so training runs: both parts' checks are listed."""
    from pipecheck.validators.input_range import CHECK_IDS

    _, gate = train_runs
    assert gate.exit_code == 0, gate.output
    assert missing(gate.stdout, data_families() + registry.ids(*CHECK_IDS, "training")) == []


# --- every command is options -> run_<command> -> report -> exit, under the one exit-code policy ----

COMMANDS = {  # command line -> the run_<command> it calls (a failure is injected there)
    ("build-tfrecords", "DUMP", "--out", "OUT", "--label-field", "species"): "pipecheck.validators.build.run_build",
    ("validate", "--labels", "t.csv", "--label-field", "species"): "pipecheck.validators.runners.validate.run_validate",
    (
        "train-check",
        "--data",
        "DIR",
        "--model",
        "m:f",
    ): "pipecheck.validators.runners.train_check.run_train_check_on_data",
    ("gate", "--data", "DIR"): "pipecheck.validators.runners.gate.run_gate",
    (
        "split",
        "--labels",
        "t.csv",
        "--label-field",
        "species",
        "--out",
        "n.csv",
    ): "pipecheck.validators.runners.split.run_split",
    ("verify", "DIR"): "pipecheck.validators.dataset.run_verify",
    ("backbones",): "pipecheck.pipeline.backbones.all_backbones",
    ("checks",): "pipecheck.validators.registry.all_checks",
}


def _raise(exc):
    def run(*_a, **_k):
        raise exc

    return run


@pytest.mark.parametrize("args,target", list(COMMANDS.items()), ids=[a[0] for a in COMMANDS])
def test_every_command_exits_3_on_an_internal_error_and_130_on_ctrl_c(
    pipecheck_cli, monkeypatch, tmp_path, args, target
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPECHECK_DEBUG", raising=False)
    monkeypatch.setattr(target, _raise(ZeroDivisionError("division by zero")))
    crashed = pipecheck_cli(*args)
    assert crashed.exit_code == 3, crashed.output
    assert "internal error: ZeroDivisionError" in crashed.stderr and "please report" in crashed.stderr
    assert "Traceback" not in crashed.output
    monkeypatch.setattr(target, _raise(KeyboardInterrupt()))
    stopped = pipecheck_cli(*args)
    assert stopped.exit_code == 130 and "interrupted" in stopped.stderr, stopped.output
    monkeypatch.setattr(target, _raise(ValueError("an unforeseen value")))  # not "findings" either
    assert pipecheck_cli(*args).exit_code == 3
