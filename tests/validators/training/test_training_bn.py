"""BatchNormalization detectors of VerifyTraining, each next to its healthy twin."""

from __future__ import annotations

import keras
import pytest
from training_cases import (
    DroppedUpdatesStep,
    InferenceModeStep,
    bn_net,
    brightness_data,
    fit_verified,
    problems,
    quadrant_data,
    the,
)


@pytest.fixture(scope="module")
def data():
    return quadrant_data(512)


@pytest.fixture(scope="module")
def twin(data):
    """Healthy BN twin: model.fit (training=True), momentum 0.9, 32 steps."""
    x, y = data
    return fit_verified(bn_net(0.9), keras.optimizers.Adam(1e-3), x, y)


def test_healthy_bn_twin_is_silent(twin):
    assert problems(twin.findings) == set()


def test_custom_step_with_training_false_freezes_bn_statistics(data):
    x, y = data
    cb = fit_verified(bn_net(0.9, InferenceModeStep), keras.optimizers.Adam(1e-3), x, y, on_failure="stop")
    assert problems(cb.findings) == {"training.bn_stats_frozen"}
    f = the(cb.findings, "training.bn_stats_frozen")
    assert f.evidence["layers"] == ["bn1", "bn2"] and "training=True" in f.hint
    assert cb.stopped_at == 5  # the first scheduled check after which frozen statistics are certain
    assert "training.stopped" in {f.check for f in cb.findings}


def test_momentum_09997_over_a_short_run(data):
    x, y = data
    # 384 steps: 0.9997 ** 384 = 0.89 of the initial statistics remain.
    cb = fit_verified(bn_net(0.9997), keras.optimizers.Adam(1e-3), x, y, batch_size=8, epochs=6)
    assert problems(cb.findings) == {"training.bn_momentum_high"}
    f = the(cb.findings, "training.bn_momentum_high")
    assert f.evidence["run_steps"] == 384
    assert f.evidence["initial_weight_left"]["bn1"] == pytest.approx(0.9997**384)
    # The measured consequence: moving statistics far from the batch statistics.
    assert max(f.evidence["stat_gap_by_layer"].values()) > 1.0
    assert "momentum=0.99" in f.hint

    twin = fit_verified(bn_net(0.9), keras.optimizers.Adam(1e-3), x, y, batch_size=8, epochs=6)
    assert problems(twin.findings) == set()


def test_class_sorted_batches_split_training_and_inference_mode():
    probe = brightness_data(32, seed=9)
    x, y = brightness_data(512, sort_by_class=True)  # shards written per class, never shuffled
    cb = fit_verified(bn_net(0.9), keras.optimizers.Adam(1e-3), x, y, probe=probe)
    assert problems(cb.findings) == {"training.bn_train_infer_gap"}
    f = the(cb.findings, "training.bn_train_infer_gap")
    assert f.evidence["output_gap_tv"] > 0.1 and f.evidence["layers"]
    assert "Shuffle" in f.hint

    x, y = brightness_data(512)
    twin = fit_verified(bn_net(0.9), keras.optimizers.Adam(1e-3), x, y, probe=probe)
    assert problems(twin.findings) == set()


def test_seed000_val_loss_stuck_when_bn_updates_are_dropped(data):
    x, y = data
    x, y = x[:192] * 0.03, y[:192]
    val = quadrant_data(128, seed=5, scale=0.03)
    cb = fit_verified(
        bn_net(0.9, DroppedUpdatesStep), keras.optimizers.Adam(3e-3), x, y, epochs=4, validation_data=val, shuffle=True
    )
    assert problems(cb.findings) == {"training.bn_stats_frozen", "training.val_loss_stuck"}
    f = the(cb.findings, "training.val_loss_stuck")
    assert f.evidence["causes"] == ["training.bn_stats_frozen"]
    assert f.evidence["train_drop"] > 0.1 and f.evidence["val_range"] < 0.02
    frozen = the(cb.findings, "training.bn_stats_frozen").evidence  # with the measured consequence
    assert set(frozen["stat_gap_by_layer"]) == {"bn1", "bn2"} and max(frozen["stat_gap_by_layer"].values()) > 1.0

    twin = fit_verified(bn_net(0.9), keras.optimizers.Adam(3e-3), x, y, epochs=4, validation_data=val, shuffle=True)
    assert problems(twin.findings) == set()
