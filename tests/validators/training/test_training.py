"""VerifyTraining on real small Keras models: each bug next to a healthy twin that stays silent.

BatchNorm cases are in ``test_training_bn.py``, the active probes of ``run_train_check`` in
``test_training_run.py``; builders in ``training_cases.py``.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from training_cases import C, L, fit_verified, problems, quadrant_data, the, vgg_like

from pipecheck.pipeline.errors import InputError
from pipecheck.validators.training import TrainingThresholds, VerifyTraining


@pytest.fixture(scope="module")
def data():
    return quadrant_data(512), quadrant_data(128, seed=5)


@pytest.fixture(scope="module")
def healthy(data):
    """The shared healthy twin: seed 003's VGG-like stack with Adam 1e-3, 3 epochs with validation."""
    (x, y), val = data
    model = vgg_like()
    cb = fit_verified(model, keras.optimizers.Adam(1e-3), x[:256], y[:256], epochs=3, validation_data=val)
    return model, cb


def test_healthy_twin_is_silent(healthy):
    _, cb = healthy
    assert problems(cb.findings) == set()
    report = cb.report()
    assert report.status == "pass" and report.command == "train-check"
    assert report.summary["steps_seen"] == 48 and report.summary["epochs_seen"] == 3
    # The probes really ran: one-step update ratios were measured at the scheduled steps 1, 5, 20.
    assert {len(v) for v in cb._ratios.values()} == {3}


def test_seed003_relu_stack_killed_by_learning_rate(data):
    (x, y), _ = data
    xs = np.clip(x * 0.15, -0.5, 0.5)  # seed 003 fed /255 - 0.5: values in [-0.5, 0.5]
    cb = fit_verified(vgg_like(), keras.optimizers.SGD(1.0), xs, y)
    # The cause (a learning rate that overwrites the weights) and its two symptoms.
    assert problems(cb.findings) == {"training.dying_relu", "training.constant_output", "training.update_ratio_high"}
    dead = the(cb.findings, "training.dying_relu")
    assert "LeakyReLU" in dead.hint
    assert max(dead.evidence["dead_fraction_by_layer"].values()) == 1.0
    const = the(cb.findings, "training.constant_output")
    assert const.evidence["spread"] < 1e-3 and const.evidence["input_spread"] > 0.1

    twin = fit_verified(vgg_like(), keras.optimizers.Adam(1e-3), xs, y)
    assert problems(twin.findings) == set()


def _small(out):
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3))
    h = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, activation="relu")(inp))
    return keras.Model(inp, L.Dense(C, activation=out, name="head")(h))


def test_softmax_output_with_from_logits_loss(data):
    (x, y), _ = data
    logits_loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    cb = fit_verified(_small("softmax"), "adam", x[:64], y[:64], loss=logits_loss)
    assert problems(cb.findings) == {"training.probabilities_as_logits"}
    f = the(cb.findings, "training.probabilities_as_logits")
    assert f.subject == "head" and f.evidence["from_logits"] is True and "from_logits" in f.hint

    twin = fit_verified(_small(None), "adam", x[:64], y[:64], loss=logits_loss)
    assert problems(twin.findings) == set()


def test_linear_output_with_probability_loss(data):
    (x, y), _ = data
    cb = fit_verified(_small(None), "adam", x[:64], y[:64], loss="categorical_crossentropy")
    # The initial loss is meaningless with this mismatch, so init_loss_off stays quiet.
    assert problems(cb.findings) == {"training.logits_as_probabilities"}
    assert "from_logits=True" in the(cb.findings, "training.logits_as_probabilities").hint


def test_label_form_against_output(data):
    (x, y), _ = data
    x = x[:64]
    multi_hot = y[:64].copy()
    multi_hot[::2, 0] = 1.0  # half the rows gain a second label
    cb = fit_verified(_small("softmax"), "adam", x, multi_hot)
    assert problems(cb.findings) == {"training.softmax_multilabel"}
    assert "sigmoid" in the(cb.findings, "training.softmax_multilabel").hint
    twin = fit_verified(_small("sigmoid"), "adam", x, multi_hot, loss="binary_crossentropy")
    assert problems(twin.findings) == set()

    cb = fit_verified(_small("sigmoid"), "adam", x, y[:64], loss="binary_crossentropy")
    assert problems(cb.findings) == {"training.sigmoid_single_label"}
    assert "softmax" in the(cb.findings, "training.sigmoid_single_label").hint

    sparse = np.argmax(y[:64], axis=1)  # 4 classes in the data
    model = vgg_like(n_out=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = VerifyTraining((x[:32], sparse[:32]))
    try:  # TensorFlow on CPU rejects label 3 at the first step; on GPU the loss silently goes NaN
        model.fit(x, sparse, batch_size=16, epochs=1, callbacks=[cb], verbose=0)
    except Exception as exc:
        assert "label value" in str(exc)
    f = the(cb.findings, "training.num_outputs_mismatch")
    assert f.evidence["outputs"] == 3 and f.evidence["classes"] == 4
    twin = fit_verified(vgg_like(), "adam", x, sparse, loss="sparse_categorical_crossentropy")
    assert problems(twin.findings) == set()
    declared = fit_verified(vgg_like(), "adam", x, sparse, loss="sparse_categorical_crossentropy", num_classes=5)
    assert problems(declared.findings) == {"training.num_outputs_mismatch"}


def test_initial_loss_far_from_ln_c(data, healthy):
    (x, y), _ = data
    raw = x[:128] * 40 + 128  # pixel values 0..255, never standardised
    cb = fit_verified(vgg_like(), keras.optimizers.Adam(1e-3), raw, y[:128])
    assert problems(cb.findings) == {"training.init_loss_off"}
    f = the(cb.findings, "training.init_loss_off")
    assert f.evidence["initial_loss"] > 2 * np.log(C)
    assert f.evidence["expected_high"] == pytest.approx(np.log(C))
    assert "preprocess_input" in f.hint
    assert "training.init_loss_off" not in {f.check for f in healthy[1].findings}


def test_all_layers_frozen_stops_at_once(data, tmp_path):
    (x, y), _ = data
    model = vgg_like()
    for layer in model.layers:
        layer.trainable = False
    path = tmp_path / "report.json"
    cb = fit_verified(model, "adam", x[:128], y[:128], on_failure="stop", report_path=path)
    assert problems(cb.findings) == {"training.nothing_training"}
    assert "trainable = True" in the(cb.findings, "training.nothing_training").hint
    assert cb.stopped_at == 0 and cb.step == 1  # Keras runs the step already dispatched, then stops
    saved = json.loads(path.read_text())
    assert saved["status"] == "fail"
    assert {f["check"] for f in saved["findings"]} == {"training.nothing_training", "training.stopped"}


def _with_backbone():
    """A 'backbone' sub-model whose output passes stop_gradient: its weights never change."""
    keras.utils.set_random_seed(4)
    backbone = keras.Sequential(
        [keras.Input((16, 16, 3)), L.Conv2D(8, 3, activation="relu", name="bb_conv")], name="backbone"
    )
    inp = keras.Input((16, 16, 3))
    h = L.Lambda(keras.ops.stop_gradient, name="no_grad")(backbone(inp))
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(inp, L.Dense(C, activation="softmax", name="head")(h))


def test_unchanged_layers_unless_declared_frozen(data):
    (x, y), _ = data
    cb = fit_verified(_with_backbone(), keras.optimizers.Adam(1e-3), x[:128], y[:128])
    assert problems(cb.findings) == {"training.weights_unchanged"}
    f = the(cb.findings, "training.weights_unchanged")
    assert f.evidence["unchanged_layers"] == ["bb_conv"] and "frozen=" in f.hint

    declared = fit_verified(_with_backbone(), keras.optimizers.Adam(1e-3), x[:128], y[:128], frozen=["backbone"])
    assert problems(declared.findings) == set()
    assert "training.probe_skipped" not in {f.check for f in declared.findings}  # the nested backbone is tapped


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2D(8, 3, activation="relu")
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(C, activation="softmax")

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def test_subclassed_model_runs_what_it_can(data):
    (x, y), _ = data
    keras.utils.set_random_seed(6)
    cb = fit_verified(SubclassedNet(), keras.optimizers.Adam(1e-3), x[:128], y[:128])
    assert problems(cb.findings) == set()
    skipped = the(cb.findings, "training.probe_skipped")
    assert "cannot tap" in skipped.message
    assert cb._ratios  # weights, loss and output checks still ran


def test_nan_in_data_stops_the_run_and_writes_the_report(data, tmp_path):
    (x, y), _ = data
    x = x[:256].copy()
    x[40, 3, 3, 0] = np.nan  # one bad pixel in the third batch
    path = tmp_path / "sub" / "report.json"
    cb = fit_verified(
        vgg_like(), keras.optimizers.Adam(1e-3), x, y[:256], epochs=2, on_failure="stop", report_path=path
    )
    assert problems(cb.findings) == {"training.nan"}
    f = the(cb.findings, "training.nan")
    assert f.evidence["where"] in ("loss", "weights") and "NaN" in f.hint
    assert 3 <= cb.stopped_at <= 5 and cb.step < 32
    saved = json.loads(path.read_text())
    assert saved["status"] == "fail" and saved["summary"]["stopped_at_step"] == cb.stopped_at
    assert not list(path.parent.glob(".*tmp*"))  # written via a temp name, then renamed


def test_rmsprop_001_fine_tune_overwrites_weights(data, healthy):
    (x, y), _ = data
    trained, _ = healthy

    def fine_tune(lr):
        model = keras.models.clone_model(trained)
        model.set_weights(trained.get_weights())  # the "pretrained" starting point
        return fit_verified(model, keras.optimizers.RMSprop(lr), x[256:], y[256:])

    cb = fine_tune(0.01)  # seed 002
    assert "training.update_ratio_high" in problems(cb.findings)
    assert problems(cb.findings) <= {"training.update_ratio_high", "training.dying_relu"}
    f = the(cb.findings, "training.update_ratio_high")
    assert f.evidence["learning_rate"] == pytest.approx(0.01)
    assert max(f.evidence["ratio_by_layer"].values()) > 0.1 and "1e-4" in f.hint

    assert problems(fine_tune(1e-4).findings) == set()


def test_learning_rate_too_low(data, healthy):
    (x, y), _ = data
    cb = fit_verified(vgg_like(), keras.optimizers.Adam(1e-8), x[:256], y[:256])
    assert problems(cb.findings) == {"training.update_ratio_low"}
    f = the(cb.findings, "training.update_ratio_low")
    assert max(f.evidence["ratio_by_layer"].values()) < 1e-6 and "learning rate" in f.hint
    assert "training.update_ratio_low" not in {f.check for f in healthy[1].findings}


def test_thresholds_are_configurable(healthy):
    assert TrainingThresholds().replace(update_ratio_high=0.5).update_ratio_high == 0.5
    with pytest.raises(InputError, match="unknown training threshold"):
        TrainingThresholds().replace(update_ratio=1.0)
    with pytest.raises(InputError, match="on_failure"):
        VerifyTraining(on_failure="halt")


def test_without_probe_data_says_what_was_skipped(data):
    (x, y), _ = data
    model = vgg_like()
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    cb = VerifyTraining()
    model.fit(x[:64], y[:64], batch_size=16, epochs=1, callbacks=[cb], verbose=0)
    assert problems(cb.findings) == set()
    assert {f.check for f in cb.findings} == {"training.probe_skipped"}
