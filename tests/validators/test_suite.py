"""``pipecheck validate`` end to end: --source through the CLI, the bundled buggy sample, and --data
through the project's own reader (which must hand each backbone exactly what it expects)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from input_range_sources import photos

from pipecheck.cli import cli
from pipecheck.validators.input_range import CHECK_IDS
from pipecheck.validators.runners.validate import ValidateOptions, run_input_range, run_validate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _input_range(report_json):
    return [f for f in report_json["findings"] if f["check"].startswith("input_range.")]


@pytest.fixture
def on_sources_path(monkeypatch):
    monkeypatch.chdir(HERE)
    monkeypatch.syspath_prepend(str(HERE))


def test_cli_source_catches_seed_001(on_sources_path):
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            "--backbone",
            "resnet50",
            "--image-size",
            "32",
            "--format",
            "json",
            "--source",
            "input_range_sources:rescaled_resnet",
            "--source-arg",
            "size=32",
        ],
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (f,) = _input_range(report)
    assert f["check"] == "input_range.rescaled_0_1"
    assert "keras.applications.resnet50.preprocess_input" in f["hint"]
    assert set(CHECK_IDS) <= set(report["summary"]["checks_run"])


def test_cli_source_healthy_twin_passes(on_sources_path):
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            "--backbone",
            "resnet50",
            "--image-size",
            "32",
            "--format",
            "junit",
            "--source",
            "input_range_sources:healthy_resnet_list",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "<failure" not in result.output
    assert 'name="input_range.rescaled_0_1"' in result.output  # one testcase per check that ran


def test_bundled_sample_is_caught(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    report = run_validate(
        ValidateOptions(source="samples.buggy.resnet_rescale:train_batches", backbone="resnet50", batches=2)
    )
    checks = [f.check for f in report.findings if f.family == "input_range"]
    assert checks == ["input_range.rescaled_0_1"]
    assert report.exit_code == 1


def test_without_backbone_only_backbone_free_checks_run():
    x = photos(32) / 255.0
    x[3] = 0.0
    report = run_input_range([(x[:6],), (x[6:],)], ValidateOptions())
    assert [f.check for f in report.findings] == ["input_range.constant_images"]
    assert "input_range.constant_images" in report.checks_run
    assert "input_range.rescaled_0_1" not in report.checks_run


def _dump(folder: Path) -> None:
    from PIL import Image

    raw = np.clip(photos(48), 0, 255).astype("uint8")
    for i, image in enumerate(raw):
        Image.fromarray(image).save(folder / f"IMG_{i:03d}.jpg", quality=95)
        (folder / f"IMG_{i:03d}.json").write_text(json.dumps({"species": ["cat", "coffee", "astronaut"][i // 4]}))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipecheck.pipeline.build import BuildOptions, build

    dump = tmp_path_factory.mktemp("dump")
    _dump(dump)
    out = tmp_path_factory.mktemp("built") / "out"
    build(BuildOptions(dump=str(dump), out=str(out), label_field="species", val_fraction=0.25, workers=1))
    return str(out)


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v2", "densenet121", "efficientnetb0"])
def test_reader_feeds_each_mode_family_what_it_expects(built, backbone):
    report = run_validate(ValidateOptions(data_dir=built, backbone=backbone, image_size=32, batches=2))
    assert [f.to_dict() for f in report.findings if f.family == "input_range"] == []
    assert "images in" in next(iter(report.summary["sampled"].values()))
