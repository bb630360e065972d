"""run_train_check before any step: output units against labels and loss (``training.num_outputs_mismatch``
instead of a Keras traceback), a crash of the user's model as a one-line InputError, validation data
Keras never runs out of, and an output activation that cannot give probabilities."""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np
import pytest
from training_cases import C, L, fit_verified, problems, quadrant_data, the

from pipecheck.pipeline.errors import InputError
from pipecheck.validators.training import run_train_check


@pytest.fixture(scope="module")
def data():
    x, y = quadrant_data(64)
    return x, y, np.argmax(y, axis=1)


def _head(n_out: int, act: str | None, loss, seed: int = 1) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 16, 3))
    h = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, activation="relu")(inp))
    model = keras.Model(inp, L.Dense(n_out, activation=act, name="head")(h), name=f"head{n_out}")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    return model


def _multi_hot(y):
    m = y.copy()
    m[::2, 0] = 1.0
    return m


# (what is wrong, model, labels of the 4-class data) and, next to each, its healthy twin.
CASES = {
    "one-hot rows of 4, 3 softmax units": (lambda: _head(3, "softmax", "categorical_crossentropy"), "one_hot"),
    "sparse ids up to 3, 2 softmax units": (lambda: _head(2, "softmax", "sparse_categorical_crossentropy"), "int"),
    "multi-hot rows of 4, 5 sigmoid units": (lambda: _head(5, "sigmoid", "binary_crossentropy"), "multi_hot"),
    "ids 0/1 for binary CE, 4 sigmoid units": (lambda: _head(4, "sigmoid", "binary_crossentropy"), "binary_ids"),
    "one-hot rows for a sparse loss": (lambda: _head(4, "softmax", "sparse_categorical_crossentropy"), "one_hot"),
}
TWINS = {
    "one-hot rows of 4, 3 softmax units": (lambda: _head(4, "softmax", "categorical_crossentropy"), "one_hot"),
    "sparse ids up to 3, 2 softmax units": (lambda: _head(4, "softmax", "sparse_categorical_crossentropy"), "int"),
    "multi-hot rows of 4, 5 sigmoid units": (lambda: _head(4, "sigmoid", "binary_crossentropy"), "multi_hot"),
    "ids 0/1 for binary CE, 4 sigmoid units": (lambda: _head(1, "sigmoid", "binary_crossentropy"), "binary_ids"),
    "one-hot rows for a sparse loss": (lambda: _head(4, "softmax", "categorical_crossentropy"), "one_hot"),
}


def _labels(data, form):
    x, y, ids = data
    if form == "one_hot":
        return y
    if form == "int":
        return ids
    if form == "multi_hot":
        return _multi_hot(y)
    return (ids % 2).astype("float32")  # two classes as 0/1 ids


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_that_does_not_fit_labels_and_loss_is_reported_before_any_step(data, case):
    build, form = CASES[case]
    model = build()
    before = [w.copy() for w in model.get_weights()]
    report = run_train_check(model, (data[0], _labels(data, form)), steps=3)  # Keras would raise mid-fit
    assert problems(report.findings) == {"training.num_outputs_mismatch"}, [f.message for f in report.findings]
    f = the(report.findings, "training.num_outputs_mismatch")
    assert f.severity.value == "error" and f.subject == "head"
    assert "Dense(num_classes)" in f.hint and "sparse_categorical_crossentropy" in f.hint
    assert report.summary["steps"] == 0 and "skipped" in report.summary
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))

    build, form = TWINS[case]
    twin = run_train_check(build(), (data[0], _labels(data, form)), steps=3)
    assert "training.num_outputs_mismatch" not in {g.check for g in twin.findings}
    assert twin.summary["steps"] == 3


def test_declared_class_count_against_output_units(data):
    model = _head(4, "softmax", "sparse_categorical_crossentropy")
    report = run_train_check(model, (data[0], data[2]), steps=3, num_classes=6)
    f = the(report.findings, "training.num_outputs_mismatch")
    assert f.evidence["outputs"] == 4 and f.evidence["classes"] == 6
    ok = run_train_check(
        _head(1, "sigmoid", "binary_crossentropy"), (data[0], _labels(data, "binary_ids")), steps=3, num_classes=2
    )
    assert "training.num_outputs_mismatch" not in {g.check for g in ok.findings}


def test_a_crash_of_the_users_model_is_one_line_naming_the_model_and_the_fix(data):
    keras.utils.set_random_seed(0)
    inp = keras.Input((24, 24, 3))  # built for 24 px, fed 16 px
    model = keras.Model(inp, L.Dense(C, activation="softmax")(L.Flatten()(inp)), name="fixed_size_net")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(InputError) as err:
        run_train_check(model, (data[0], data[1]), steps=3)
    msg = str(err.value)
    assert "\n" not in msg and "'fixed_size_net'" in msg and "(16, 16, 16, 3)" in msg and "Fix the model" in msg

    def broken_loss(y_true, y_pred):
        raise ValueError("this loss is broken")

    model = _head(C, "softmax", broken_loss)
    with pytest.raises(InputError, match=r"'head4' failed during .*ValueError: this loss is broken"):
        run_train_check(model, (data[0], data[1]), steps=3)


def _no_ran_out_warning(caught, capfd, caplog):
    text = " ".join(str(w.message) for w in caught) + capfd.readouterr().err + caplog.text
    assert "ran out of data" not in text, text


def test_validation_data_of_unknown_size_never_runs_out(data, capfd, caplog):
    """A tf.data validation set whose size Keras cannot know (filter, interleave: as the project's own
    reader gives) made every epoch end with Keras' "Your input ran out of data" warning; a repeated one
    made the fit never end. Both are sized now."""
    import tensorflow as tf

    x, y, _ = data

    def unknown_size(n):
        return tf.data.Dataset.from_tensor_slices((x[:n], y[:n])).filter(lambda a, b: True).batch(16)

    assert int(unknown_size(32).cardinality()) == tf.data.UNKNOWN_CARDINALITY
    model = _head(C, "softmax", "categorical_crossentropy")
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = run_train_check(model, unknown_size(64), unknown_size(32), steps=6)
        repeated = run_train_check(model, unknown_size(64), unknown_size(32).repeat(), steps=3)
    _no_ran_out_warning(caught, capfd, caplog)
    assert len(report.summary["val_loss"]) == 3 and report.summary["steps"] == 6
    assert len(repeated.summary["val_loss"]) == 3


def test_relu_output_under_a_probability_loss(data):
    """StackOverflow 47352366: Dense(C, activation='relu') + categorical cross-entropy. The outputs sit
    in [0, 1] at first, so only the activation tells: it cannot give probabilities."""
    x, y, _ = data
    cb = fit_verified(_head(C, "relu", "categorical_crossentropy", seed=2), "adam", x, y)
    f = the(cb.findings, "training.logits_as_probabilities")
    assert "relu" in f.message and "from_logits=True" in f.hint
    twin = fit_verified(_head(C, "softmax", "categorical_crossentropy", seed=2), "adam", x, y)
    assert "training.logits_as_probabilities" not in {g.check for g in twin.findings}
