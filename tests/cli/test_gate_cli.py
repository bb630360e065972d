"""``pipecheck gate`` and ``pipecheck train-check`` on the committed sample (tiny: 32 px, 20 steps).

The healthy sample model passes; its twin with a softmax output fed to a ``from_logits=True`` loss
fails; the user's command after ``--`` runs only when the gate passes and its exit code becomes the
gate's; a failing validate skips training altogether.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["--backbone", "resnet50", "--image-size", "32", "--steps", "20", "--batches", "2"]
TINY_TRAIN = ["--backbone", "resnet50", "--image-size", "32", "--steps", "20"]


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    """``samples.models`` is imported relative to the working directory, as in ``./dev sample``."""
    monkeypatch.chdir(REPO)


def touch_command(path: Path, code: int = 0) -> list[str]:
    body = f"open({str(path)!r}, 'w').close()" + (f"; raise SystemExit({code})" if code else "")
    return ["--", sys.executable, "-c", body]


def checks(report) -> set[str]:
    return {f["check"] for f in report["findings"]}


@pytest.fixture(scope="module")
def healthy_train_check(pipecheck_cli, cli_sample_build):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        return pipecheck_cli(
            "train-check",
            "--data",
            cli_sample_build,
            *TINY_TRAIN,
            "--model",
            "samples.models:build",
            "--format",
            "json",
        )


@pytest.fixture(scope="module")
def passing_gate(pipecheck_cli, cli_sample_build, tmp_path_factory):
    """The healthy model through the gate, with a command that leaves a file and exits 3."""
    ran = tmp_path_factory.mktemp("gate_pass") / "ran"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        result = pipecheck_cli(
            "gate",
            "--data",
            cli_sample_build,
            *TINY,
            "--model",
            "samples.models:build",
            "--format",
            "json",
            *touch_command(ran, code=3),
        )
    return result, ran


def test_train_check_passes_the_healthy_sample_model(healthy_train_check):
    result = healthy_train_check
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["command"] == "train-check" and report["status"] == "pass"
    assert not [f for f in report["findings"] if f["severity"] == "error"]
    assert report["summary"]["steps"] >= 20 and report["summary"]["image_size"] == 32
    assert "ran on CPU" in result.stderr or "ran on GPU" in result.stderr


def test_train_check_lists_the_training_checks_it_ran(healthy_train_check, passing_gate):
    from pipecheck.validators import registry

    training = {c.id for c in registry.all_checks() if c.family == "training"}
    assert "training.probabilities_as_logits" in set(
        json.loads(healthy_train_check.stdout)["summary"].get("checks_run", [])
    )
    gate_run = set(json.loads(passing_gate[0].stdout)["summary"]["checks_run"])
    assert {"training.probabilities_as_logits", "training.cannot_overfit"} <= gate_run & training


def test_gate_fails_the_logits_mixup_and_never_runs_the_command(pipecheck_cli, cli_sample_build, tmp_path):
    ran = tmp_path / "ran"
    result = pipecheck_cli(
        "gate",
        "--data",
        cli_sample_build,
        *TINY,
        "--model",
        "samples.models:build_logits_mixup",
        "--format",
        "json",
        *touch_command(ran),
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["command"] == "gate" and report["status"] == "fail"
    (f,) = [f for f in report["findings"] if f["check"] == "training.probabilities_as_logits"]
    assert f["severity"] == "error" and f["subject"] and "from_logits" in (f["message"] + f["hint"])
    assert not ran.exists(), "the training command ran although the gate failed"
    assert "running" not in result.stderr


def test_gate_passes_runs_the_command_and_returns_its_exit_code(passing_gate):
    result, ran = passing_gate
    assert ran.exists(), result.output
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "pass"
    assert isinstance(report["summary"]["train-check"], dict)  # train-check really ran
    assert report["summary"]["train-check"]["steps"] >= 20
    assert "pipecheck gate: passed; running" in result.stderr
    assert "label_skew.absent_in_split" in report["summary"]["checks_run"]


def test_gate_passing_command_exit_0_is_the_gates(pipecheck_cli, cli_sample_build, tmp_path):
    """Exit 0 from the command gives 0 (no model: validate alone gates, so no training needed)."""
    ran = tmp_path / "ran"
    result = pipecheck_cli("gate", "--data", cli_sample_build, "--batches", "2", *touch_command(ran))
    assert result.exit_code == 0, result.output
    assert ran.exists()


def test_gate_skips_training_and_the_command_when_validate_fails(pipecheck_cli, skewed_build, tmp_path):
    ran = tmp_path / "ran"
    result = pipecheck_cli(
        "gate",
        "--data",
        skewed_build,
        *TINY,
        "--model",
        "samples.models:build",
        "--format",
        "json",
        *touch_command(ran),
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert "label_skew.absent_in_split" in checks(report)
    assert report["summary"]["train-check"].startswith("skipped")
    assert not {c for c in checks(report) if c.startswith("training.")}
    assert not ran.exists()


def _gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@pytest.mark.parametrize("command", ["train-check", "gate"])
def test_device_gpu_without_a_gpu_is_a_one_line_usage_error(pipecheck_cli, cli_sample_build, command, tmp_path):
    if _gpu_visible():
        pytest.skip("a GPU is visible here: --device gpu is valid")
    ran = tmp_path / "ran"
    args = [
        command,
        "--data",
        cli_sample_build,
        *(TINY if command == "gate" else TINY_TRAIN),
        "--model",
        "samples.models:build",
        "--device",
        "gpu",
    ]
    result = pipecheck_cli(*args, *(touch_command(ran) if command == "gate" else []))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipecheck: error:") and "--device gpu" in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not ran.exists()


def test_ignored_checks_neither_fail_the_gate_nor_skip_training(pipecheck_cli, cli_sample_build, tmp_path):
    """--ignore applies before the gate decides: the sample's class_counts warnings, ignored, must not
    stop train-check from running (and catching the logits mix-up) under --fail-on warning."""
    ran = tmp_path / "ran"
    result = pipecheck_cli(
        "gate",
        "--data",
        cli_sample_build,
        *TINY,
        "--model",
        "samples.models:build_logits_mixup",
        "--fail-on",
        "warning",
        "--ignore",
        "class_counts",
        "--format",
        "json",
        *touch_command(ran),
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert isinstance(report["summary"]["train-check"], dict), report["summary"]["train-check"]
    assert "training.probabilities_as_logits" in checks(report)
    assert not any(c.startswith("class_counts.") for c in checks(report) | set(report["summary"]["checks_run"]))
    assert not ran.exists()


HEADS = '''
import keras
from keras import layers


def too_few_outputs(num_classes, input_shape):
    """Dense(5) whatever the data's class count (the sample has 6)."""
    inputs = keras.Input(input_shape)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(8, 3, activation="relu")(layers.Rescaling(1 / 128.0)(inputs)))
    model = keras.Model(inputs, layers.Dense(5, activation="softmax")(x), name="five_outputs")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def fixed_input(num_classes):
    """Built for 48-px images whatever the data gives, with a Flatten that needs exactly that size."""
    inputs = keras.Input((48, 48, 3))
    model = keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs)),
                        name="fixed_48px")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model
'''


@pytest.fixture
def heads(tmp_path, monkeypatch):
    (tmp_path / "pc_test_heads.py").write_text(HEADS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "pc_test_heads"


@pytest.mark.parametrize("command", ["train-check", "gate"])
def test_output_units_that_do_not_fit_the_classes_are_a_finding_not_a_traceback(
    pipecheck_cli, cli_sample_build, heads, command, tmp_path
):
    ran = tmp_path / "ran"
    args = [
        command,
        "--data",
        cli_sample_build,
        *(TINY if command == "gate" else TINY_TRAIN),
        "--model",
        f"{heads}:too_few_outputs",
        "--format",
        "json",
    ]
    result = pipecheck_cli(*args, *(touch_command(ran) if command == "gate" else []))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    report = json.loads(result.stdout)
    (f,) = [f for f in report["findings"] if f["check"] == "training.num_outputs_mismatch"]
    assert f["severity"] == "error" and "6" in f["message"] and "5 units" in f["message"]
    assert "Dense(num_classes)" in f["hint"]
    assert not ran.exists()


def test_a_model_that_crashes_on_the_data_is_a_one_line_input_error(pipecheck_cli, cli_sample_build, heads):
    result = pipecheck_cli("train-check", "--data", cli_sample_build, *TINY_TRAIN, "--model", f"{heads}:fixed_input")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("pipecheck: error:") and "'fixed_48px'" in lines[-1], result.stderr
    assert "Fix the model" in lines[-1] and "(16, 32, 32, 3)" in lines[-1]
    assert "Traceback" not in result.output


def test_train_check_runs_never_run_out_of_data(pipecheck_cli, cli_sample_build, caplog):
    """./dev sample's gate printed Keras' "Your input ran out of data; interrupting training" from
    pipecheck's own short fit (the reader's validation set has no known size)."""
    import logging
    import warnings

    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pipecheck_cli(
            "train-check",
            "--data",
            cli_sample_build,
            *TINY_TRAIN,
            "--model",
            "samples.models:build",
            "--format",
            "json",
        )
    assert result.exit_code == 0, result.output
    seen = " ".join(str(w.message) for w in caught) + result.output + caplog.text
    assert "ran out of data" not in seen
    assert len(json.loads(result.stdout)["summary"]["val_loss"]) == 3  # the validation split was evaluated
