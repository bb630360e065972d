"""validate --model with a keras-hub preprocessor in the model (issue 15 item 1, its last form).

keras-hub's image classifiers keep their ``ImageClassifierPreprocessor`` (an ``ImageConverter``'s scale and
offset) outside the functional graph: ``fit`` maps it over the raw data. Such a model fed raw [0, 255]
batches is healthy and must pass; the same model fed batches the pipeline already scaled, or carrying a
converter meant for another backbone, must fail with the check that names it. An ``ImageConverter`` used
as a layer inside a functional model is walked like any weightless preprocessing layer.

Models are built from the presets' published configs with random weights: nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipecheck.validators.findings import Severity
from pipecheck.validators.input_range.model_input import input_stage
from pipecheck.validators.runners.validate import ValidateOptions, run_validate

pytest.importorskip(
    "keras_hub",
    reason="keras-hub is not installed: pip install keras-hub (keras-hub 0.32 needs "
    "TensorFlow >= 2.20; with TensorFlow 2.16 pip picks keras-hub 0.31)",
)

CASES = "model_input_cases"
# keras-hub 0.31 (the release pip picks for TensorFlow 2.16) warns from its own ImageClassifier constructor
# that build() found unbuilt state; 0.32 gave Task a build(). The factory's noise, not pipecheck's.
pytestmark = pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")


def validate(source: str, backbone: str, model: str):
    report = run_validate(
        ValidateOptions(
            source=f"{CASES}:{source}", backbone=backbone, image_size=32, batches=3, model=f"{CASES}:{model}"
        )
    )
    return report, [f for f in report.findings if f.check.startswith("input_range.")]


def test_task_preprocessor_on_raw_batches_is_silent_and_named_in_the_stage():
    report, found = validate("raw_batches", "resnet50v2", "keras_hub_resnet_v2_task")
    assert found == []
    stage = report.summary["model input stage"]
    assert stage.startswith("res_net_image_classifier_preprocessor (ResNetImageClassifierPreprocessor")
    assert "preprocess_samples" in stage and stage.endswith("(ResNetBackbone)")


def test_task_preprocessor_after_preprocessing_in_the_data_is_twice():
    # The pipeline already applied [-1, 1] (tf-mode preprocess_input, which is resnet_v2's too); the task's
    # converter scales again, so the backbone receives about [-1.008, -0.992].
    _, found = validate("tutorial_batches_preprocessed", "resnet50v2", "keras_hub_resnet_v2_task")
    (f,) = [f for f in found if f.severity is Severity.ERROR]
    assert f.check == "input_range.preprocessed_twice"
    assert "in one place only" in f.hint


def test_task_with_a_converter_from_another_preset_is_the_wrong_mode():
    _, found = validate("raw_batches", "resnet50v2", "keras_hub_resnet_v2_task_torch_converter")
    (f,) = [f for f in found if f.severity is Severity.ERROR]
    assert f.check == "input_range.wrong_mode"
    assert "torch-mode" in f.hint and "resnet50v2 needs tf mode" in f.hint


def test_image_classifier_around_a_keras_applications_backbone_is_silent():
    report, found = validate("raw_batches", "mobilenet_v2", "keras_hub_classifier_keras_backbone")
    assert found == []
    assert "(ImageClassifierPreprocessor" in report.summary["model input stage"]


def test_image_converter_as_a_layer_is_walked():
    report, found = validate("raw_batches", "mobilenet_v2", "keras_hub_converter_layer_mobilenet")
    assert found == []
    stage = report.summary["model input stage"]
    assert stage.startswith("image_converter") and "(ImageConverter) -> mobilenetv2" in stage


def test_image_converter_layer_with_the_wrong_scale_is_caught():
    # The converter docs' [0, 1] example before MobileNetV2, which expects [-1, 1].
    # On these 12 photos [0, 1] could also be low-contrast [-1, 1], so input_range says warning, not error.
    _, found = validate("raw_batches", "mobilenet_v2", "keras_hub_converter_layer_0_1_mobilenet")
    (f,) = found
    assert f.check == "input_range.rescaled_0_1" and f.severity in (Severity.WARNING, Severity.ERROR)
    assert "mobilenet_v2.preprocess_input" in f.hint


def test_stage_is_what_the_task_feeds_its_backbone():
    # What gate and validate --data use to detect in-model preprocessing (Placement: changes_values on a raw
    # batch), and the values themselves: the stage must equal the task's own preprocess_samples.
    import model_input_cases
    from input_range_sources import photos

    task = model_input_cases.keras_hub_resnet_v2_task()
    stage = input_stage(task)
    raw = photos(32)[:4]
    assert stage.found and stage.changes_values(raw)
    np.testing.assert_allclose(stage.fn(raw), np.asarray(task.preprocess_samples(raw)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(stage.fn(raw), raw / 127.5 - 1, atol=1e-4)  # the preset's scale and offset
    # Without a preprocessor the task feeds its backbone the data as fed.
    task.preprocessor = None
    stage = input_stage(task)
    assert not stage.found and stage.describe().startswith("none: the data reaches res_net_backbone")


def test_cli_validate_with_a_keras_hub_task():
    from click.testing import CliRunner

    from pipecheck.cli import cli

    base = [
        "validate",
        "--backbone",
        "resnet50v2",
        "--image-size",
        "32",
        "--batches",
        "3",
        "--model",
        f"{CASES}:keras_hub_resnet_v2_task",
    ]
    ok = CliRunner().invoke(cli, base + ["--source", f"{CASES}:raw_batches"])
    assert ok.exit_code == 0, ok.output
    assert "input_range." not in ok.output
    bad = CliRunner().invoke(cli, base + ["--source", f"{CASES}:tutorial_batches_preprocessed"])
    assert bad.exit_code == 1 and "input_range.preprocessed_twice" in bad.output
    assert "Traceback" not in ok.output + bad.output


@pytest.fixture(scope="module")
def built(vh, photos, tmp_path_factory):
    """A real build of 24 photos in two classes (train/val), what validate --data and gate read."""
    tmp = tmp_path_factory.mktemp("kerashub_build")
    rows = [
        (f"p{i:02d}", {"label": "ab"[i % 2], "split": "val" if i % 4 == 0 else "train"}, vh.encode(photos[i]), ".jpg")
        for i in range(24)
    ]
    vh.build(vh.write_all(tmp / "dump", rows), tmp / "out", label_field="label", split_field="split")
    return str(tmp / "out")


@pytest.mark.parametrize("preprocessing,errors", [("auto", []), ("in-data", ["input_range.preprocessed_twice"])])
def test_validate_data_with_a_keras_hub_task(built, preprocessing, errors):
    # validate --data (and gate, which runs it): auto detects that the task's preprocessor changes the pixels, so
    # the reader feeds raw pixels (silent); declaring in-data makes the reader apply preprocess_input as well.
    report = run_validate(
        ValidateOptions(
            data_dir=built,
            backbone="mobilenet_v2",
            image_size=32,
            batches=2,
            preprocessing=preprocessing,
            model=f"{CASES}:keras_hub_classifier_keras_backbone",
        )
    )
    found = sorted(
        f.check for f in report.findings if f.check.startswith("input_range.") and f.severity is Severity.ERROR
    )
    assert found == errors
    assert report.summary["preprocessing"].startswith("in-model (detected)" if preprocessing == "auto" else "in-data")
    assert "(ImageClassifierPreprocessor" in report.summary["model input stage"]
