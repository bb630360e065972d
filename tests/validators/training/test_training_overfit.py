"""The overfit-one-batch probe (``training.cannot_overfit``) on real photos, small CNNs written the way
the Keras/TF tutorials write them: a healthy CNN is never an error (issue 15: a small healthy CNN was
reported as unable to learn), a model that cannot learn from its labels still is.

Builders and data in ``training_cases.py`` (``photo_data``: crops of the photographs scikit-image and
scikit-learn ship, 6 classes).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_cases import photo_data, problems, the, tutorial_cnn

from pipecheck.validators.training import TrainingThresholds, probes, run_train_check
from pipecheck.validators.training.overfit import batch_loss, overfit_one_batch


@pytest.fixture(scope="module")
def photos():
    return photo_data(64, seed=0)


def _overfit(model, x, y):
    return overfit_one_batch(model, probes.loss_info(model), x[:16], y[:16], TrainingThresholds())


def test_tutorial_cnn_on_real_photos_passes_train_check(photos):
    """Conv(16/32/64)+BN+ReLU+MaxPool blocks, GAP, softmax, Adam 1e-3: no finding at all."""
    x, y = photos
    report = run_train_check(tutorial_cnn(), (x[:48], y[:48]), (x[48:], y[48:]), steps=9)
    assert problems(report.findings) == set(), [f.message for f in report.findings]
    assert "training.cannot_overfit" not in {f.check for f in report.findings}


def test_slow_but_healthy_small_cnn_is_info_not_error(photos):
    """One conv block of 8 filters: plain Keras trains it (its loss on the 64 photos falls by a fifth in 40 steps),
    but one batch's loss does not fall 5x within the probe's budget. Real labels still end far below
    the shuffled-label control: an info finding with the 'slow, not broken' hint, never an error."""
    x, y = photos
    trained = tutorial_cnn(blocks=1, filters=8)
    info = probes.loss_info(trained)
    before = batch_loss(trained, info, x, y)
    trained.fit(x, y, batch_size=16, epochs=10, shuffle=True, verbose=0)  # 40 steps
    assert batch_loss(trained, info, x, y) < 0.85 * before

    model = tutorial_cnn(blocks=1, filters=8)
    (f,) = _overfit(model, x, y)
    assert f.check == "training.cannot_overfit" and f.severity.value == "info"
    assert "Slow, not broken" in f.message and "Not a failure" in f.hint
    ev = f.evidence
    assert ev["steps"] == ev["control_steps"] == TrainingThresholds().overfit_max_steps
    assert ev["ratio"] > 0.2 and ev["final_loss"] < 0.9 * ev["control_final_loss"]


def test_labels_that_are_noise_to_the_model_are_an_error(photos):
    """The firing twin: the same small CNN, the probe batch's labels drawn at random. Real labels end no
    lower than shuffled ones: certain, an error with the registry's hint."""
    x, _ = photos
    noise = keras.utils.to_categorical(np.random.default_rng(7).integers(0, 6, len(x)), 6).astype("float32")
    findings = _overfit(tutorial_cnn(blocks=1, filters=8), x, noise)
    f = the(findings, "training.cannot_overfit")
    assert "shuffled" in f.message and "labels match the images" in f.hint
    assert f.evidence["final_loss"] >= 0.95 * f.evidence["control_final_loss"]
    assert f.evidence["control_rows_with_own_label"] <= 4


def test_learning_rate_zero_is_an_error_at_once(photos):
    """A loss that does not move in overfit_steps is certain without a control or a longer run."""
    x, y = photos
    f = the(_overfit(tutorial_cnn(lr=0.0), x, y), "training.cannot_overfit")
    assert f.evidence["steps"] == 50 and f.evidence["ratio"] == pytest.approx(1.0, abs=1e-6)
    assert "did not move" in f.message and "control_final_loss" not in f.evidence
    assert "learning rate" in f.hint


def test_a_batch_the_model_already_fits_is_not_asked_to_fall_5x(photos):
    """A resumed model whose loss already sits below 0.2 x ln C cannot fall 5x more: silent."""
    x, y = photos
    model = tutorial_cnn()
    model.fit(x[:16], y[:16], batch_size=16, epochs=150, verbose=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="categorical_crossentropy")
    findings = _overfit(model, x, y)
    assert findings == [], [f.message for f in findings]


def _posters_cnn(n_tags: int, rate: float = 0.5):
    """Analytics Vidhya's multi-label movie-poster CNN (4 x Conv2D 5x5 + MaxPool + Dropout, Dense(128) +
    Dropout, Dense(64) + Dropout, Dense(n_tags, sigmoid), adam, binary_crossentropy), shrunk; every
    dropout at ``rate``."""
    layers = keras.layers
    model = keras.Sequential([keras.Input((32, 32, 3))])
    for filters in (8, 8, 16, 16):
        model.add(layers.Conv2D(filters, 5, padding="same", activation="relu"))
        model.add(layers.MaxPooling2D(2) if filters == 16 else layers.Identity())
        model.add(layers.Dropout(rate))
    model.add(layers.Flatten())
    for units in (128, 64):
        model.add(layers.Dense(units, activation="relu"))
        model.add(layers.Dropout(rate))
    model.add(layers.Dense(n_tags, activation="sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def test_dropout_is_off_while_the_probe_overfits_one_batch(photos):
    """Dropout floors one batch's multi-label loss near where shuffled labels floor (TF 2.16 called the
    poster CNN 'does not learn' though plain Keras trains it; with dropout on, this batch ends 'slow' in
    some runs and fits in others: weights start at random). The probe asks whether the model can fit,
    so its clone trains with dropout off, and this batch fits every time. A model that cannot learn
    (learning rate 0) still fails, and the evidence names the layers switched off."""
    from pipecheck.validators.training.overfit import without_dropout

    x, y = photos
    classes = y.argmax(axis=1)
    rng = np.random.default_rng(5)
    genres = {c: rng.choice(7, size=int(rng.integers(2, 4)), replace=False) for c in range(6)}
    tags = np.zeros((len(x), 7), "float32")  # a fixed set of 2-3 of 7 tags per class, like a poster's genres
    for i, c in enumerate(classes):
        tags[i, genres[int(c)]] = 1
    found = _overfit(_posters_cnn(7), x, tags)
    assert found == [], [(f.check, f.severity.value, f.evidence) for f in found]

    frozen = _posters_cnn(7)
    frozen.compile(optimizer=keras.optimizers.Adam(0.0), loss="binary_crossentropy")
    f = the(_overfit(frozen, x, tags), "training.cannot_overfit")
    assert f.severity.value == "error" and len(f.evidence["dropout_off"]) == 6

    model = _posters_cnn(7)
    assert len(without_dropout(model)) == 6
    assert all(layer.rate == 0.0 for layer in model.layers if isinstance(layer, keras.layers.Dropout))


def test_label_smoothing_sets_a_floor_the_probe_measures_from(photos):
    """keras-io EANet trains with ``CategoricalCrossentropy(label_smoothing=0.1)``: no model takes the
    loss below the smoothed target's entropy (0.42 on 6 classes, above 0.2 x ln 6 = 0.36). With
    smoothing 0.3 the floor (0.97) is above every loss the old x0.2 target asked for, so a model that
    fits the batch perfectly could only fail it; the factor is now taken of the distance to the floor."""
    x, y = photos
    ce = keras.losses.CategoricalCrossentropy
    assert probes.loss_floor(probes.LossInfo(ce(), "cce", "categorical", False, 0.1), 6) == pytest.approx(
        0.421, abs=1e-3
    )
    assert probes.loss_floor(probes.LossInfo(ce(), "cce", "categorical", False, 0.0), 6) == 0.0

    model = tutorial_cnn()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ce(label_smoothing=0.3))
    info = probes.loss_info(model)
    floor = probes.loss_floor(info, 6)
    assert info.label_smoothing == pytest.approx(0.3) and floor > 0.2 * np.log(6) * 2
    assert "training.cannot_overfit" not in {f.check for f in _overfit(model, x, y)}
    # The floor is real: the batch's loss after the probe sits above it.
    assert batch_loss(model, info, x[:16], y[:16]) > floor
