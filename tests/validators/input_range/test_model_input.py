"""validate --model / --preprocessing: the range is judged where the backbone starts.

The official TF transfer-learning tutorial feeds raw batches and preprocesses inside the model: it must
pass. A model whose own first layer is wrong for its backbone (Rescaling(1/255) before ResNet50) must
still be caught, and so must preprocessing done in both places.
"""

from __future__ import annotations

import pytest

from pipecheck.validators.findings import Severity
from pipecheck.validators.input_range.model_input import input_stage
from pipecheck.validators.runners.validate import ValidateOptions, run_validate

CASES = "model_input_cases"


def validate(source: str, backbone: str, **kw):
    kw.setdefault("batches", 3)
    report = run_validate(ValidateOptions(source=f"{CASES}:{source}", backbone=backbone, **kw))
    return report, [f for f in report.findings if f.check.startswith("input_range.")]


def errors(findings):
    return sorted(f.check for f in findings if f.severity is Severity.ERROR)


def test_tutorial_raw_batches_without_a_model_name_both_fixes():
    _, found = validate("raw_batches", "mobilenet_v2", image_size=32)
    (f,) = [f for f in found if f.check == "input_range.raw_unpreprocessed"]
    assert f.severity is Severity.ERROR
    assert "keras.applications.mobilenet_v2.preprocess_input" in f.hint
    assert "--model" in f.hint and "--preprocessing in-model" in f.hint


def test_tutorial_model_that_preprocesses_inside_is_silent():
    report, found = validate(
        "raw_batches", "mobilenet_v2", image_size=32, model=f"{CASES}:tf_transfer_learning_tutorial"
    )
    assert errors(found) == [] and [f.check for f in found] == []
    stage = report.summary["model input stage"]
    assert "true_divide" in stage and "subtract" in stage and "mobilenetv2" in stage


def test_declared_in_model_without_a_model_is_silent_on_raw_and_catches_x255():
    _, found = validate("raw_batches", "mobilenet_v2", image_size=32, preprocessing="in-model")
    assert found == []
    # The same declaration with batches the pipeline already preprocessed: the model would do it again.
    _, found = validate("tutorial_batches_preprocessed", "mobilenet_v2", image_size=32, preprocessing="in-model")
    (f,) = found
    assert f.check == "input_range.preprocessed_for_in_model" and f.severity is Severity.ERROR
    assert "your model applies keras.applications.mobilenet_v2.preprocess_input itself" in f.hint


def test_preprocessing_in_data_and_in_the_model_is_twice():
    _, found = validate(
        "tutorial_batches_preprocessed", "mobilenet_v2", image_size=32, model=f"{CASES}:tf_transfer_learning_tutorial"
    )
    assert errors(found) == ["input_range.preprocessed_twice"]


@pytest.mark.parametrize(
    "factory,backbone,size",
    [
        ("keras_io_xception_rescaling", "xception", 96),
        ("lambda_preprocess_resnet", "resnet50", 32),
        ("efficientnet_itself", "efficientnetb0", 32),
    ],
)
def test_official_in_model_preprocessing_is_silent(factory, backbone, size):
    _, found = validate(
        "raw_batches", backbone, image_size=size, source_arg=(f"size={size}",), model=f"{CASES}:{factory}"
    )
    assert found == []


def test_rescaling_before_a_caffe_backbone_is_caught_through_the_model():
    report, found = validate("raw_batches", "resnet50", image_size=32, model=f"{CASES}:rescaling_before_resnet")
    assert errors(found) == ["input_range.rescaled_0_1"]
    assert "Rescaling" in report.summary["model input stage"]


def test_a_backbone_trained_from_scratch_is_not_held_to_imagenet_preprocessing():
    # The Keras preprocessing-layers guide: Rescaling(1/255) -> ResNet50(weights=None), trained from scratch.
    report, found = validate(
        "raw_batches", "resnet50", image_size=32, model=f"{CASES}:keras_guide_resnet50_from_scratch"
    )
    assert errors(found) == [] and [f.check for f in found] == ["input_range.rescaled_0_1"]
    (f,) = found
    assert f.severity is Severity.INFO and "untrained (weights=None)" in f.message
    assert report.summary["backbone weights"].startswith("untrained")


def test_a_wrapper_without_a_backbone_inside_is_not_called_untrained():
    # x/255 into a VGG16 inside an encoder with a fresh BatchNormalization head: still an error.
    report, found = validate(
        "rescaled_batches", "vgg16", image_size=32, model=f"{CASES}:vgg_encoder_with_a_batchnorm_head"
    )
    assert errors(found) == ["input_range.rescaled_0_1"] and "backbone weights" not in report.summary


def test_a_learned_layer_before_the_backbone_leaves_the_judgement_to_the_backbones_weights():
    # keras-io Learning to Resize: Rescaling(1/255) -> learned resizer -> DenseNet121 from scratch is
    # an info (nothing to match), as without the resizer; marked pretrained, x/255 is still caught.
    _, found = validate("raw_batches", "densenet121", image_size=32, model=f"{CASES}:learned_resizer_densenet121")
    assert [(f.check, f.severity) for f in found] == [("input_range.rescaled_0_1", Severity.INFO)]
    _, found = validate(
        "raw_batches",
        "densenet121",
        image_size=32,
        model=f"{CASES}:learned_resizer_densenet121",
        model_arg=("mark_pretrained=true",),
    )
    assert {(f.check, f.severity) for f in found} & {
        ("input_range.rescaled_0_1", Severity.WARNING),
        ("input_range.rescaled_0_1", Severity.ERROR),
    }


def test_untrained_is_read_from_batch_normalization_statistics():
    import keras
    import model_input_cases
    from stand_ins import pretrained

    from pipecheck.validators.input_range.model_input import untrained

    fresh = model_input_cases.keras_guide_resnet50_from_scratch()
    assert untrained(fresh) and input_stage(fresh).untrained
    assert not untrained(pretrained(fresh)) and not input_stage(fresh).untrained
    # No BatchNormalization (VGG16): nothing to tell by, so it counts as pretrained.
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert not untrained(vgg)


def test_the_stage_continues_inside_an_encoder_that_wraps_the_backbone():
    # keras-io supervised contrastive learning: classifier -> encoder(augmentation -> ResNet50V2). The
    # raw batches reach ResNet50V2 standardised by the adapted Normalization, not raw.
    import model_input_cases

    stage = input_stage(model_input_cases.supcon_classifier())
    assert stage.found and stage.stops_at.startswith("resnet50v2") and "cifar10-encoder" in stage.stops_at
    assert [s.split()[-1] for s in stage.steps][:1] == ["(Sequential)"] and stage.untrained
    _, found = validate("raw_batches", "resnet50v2", image_size=32, model=f"{CASES}:supcon_classifier")
    assert errors(found) == [] and "input_range.raw_unpreprocessed" not in {f.check for f in found}
    # Marked pretrained, what ResNet50V2 receives (z-scores) is judged against its [-1, 1].
    _, found = validate(
        "raw_batches",
        "resnet50v2",
        image_size=32,
        model=f"{CASES}:supcon_classifier",
        model_arg=("mark_pretrained=true",),
    )
    assert "input_range.raw_unpreprocessed" not in {f.check for f in found} and errors(found)


def test_an_efficientnet_keeps_its_own_normalization_out_of_the_stage():
    import model_input_cases

    stage = input_stage(model_input_cases.efficientnet_itself(), backbone_preprocesses=True)
    assert [s.split()[0] for s in stage.steps] == [s.split()[0] for s in stage.steps if "RandomFlip" in s]
    assert "rescaling" in stage.stops_at
    # Without the hint that the backbone preprocesses itself, its Rescaling + Normalization are steps.
    stage = input_stage(model_input_cases.efficientnet_itself(), backbone_preprocesses=False)
    assert any("Normalization" in s for s in stage.steps)


def test_validate_cli_takes_model_and_preprocessing(tmp_path):
    from click.testing import CliRunner

    from pipecheck.cli import cli

    base = [
        "validate",
        "--backbone",
        "mobilenet_v2",
        "--image-size",
        "32",
        "--source",
        f"{CASES}:raw_batches",
        "--batches",
        "3",
    ]
    bad = CliRunner().invoke(cli, base)
    assert bad.exit_code == 1 and "input_range.raw_unpreprocessed" in bad.output
    ok = CliRunner().invoke(cli, base + ["--model", f"{CASES}:tf_transfer_learning_tutorial"])
    assert ok.exit_code == 0, ok.output
    ok = CliRunner().invoke(cli, base + ["--preprocessing", "in-model"])
    assert ok.exit_code == 0, ok.output
    assert "Traceback" not in bad.output + ok.output


def test_a_custom_network_is_judged_on_the_data_as_fed():
    # samples.models:build rescales caffe-preprocessed input by 1/128 for its own small CNN: that
    # Rescaling is not a backbone's preprocessing, so no stage is applied and nothing changes.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from samples.models import build

    stage = input_stage(build(2, (32, 32, 3)))
    assert not stage.found and "no keras.applications backbone" in stage.describe()
