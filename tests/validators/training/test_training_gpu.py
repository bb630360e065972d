"""VerifyTraining on a GPU, unchanged: one healthy and one broken run, asserting the GPU did the work.

Skipped, with the reason shown by ``pytest -ra``, on machines without a visible GPU.
"""

from __future__ import annotations

import pytest
import tensorflow as tf

if not tf.config.list_physical_devices("GPU"):
    pytest.skip(
        "no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is empty); "
        "the GPU path of VerifyTraining is not exercised here",
        allow_module_level=True,
    )

import keras  # noqa: E402
from training_cases import InferenceModeStep, bn_net, fit_verified, problems, quadrant_data, the  # noqa: E402


def _on_gpu(model) -> bool:
    return all("GPU" in v.value.device.upper() for v in model.trainable_variables)


def test_healthy_run_on_gpu_is_silent():
    x, y = quadrant_data(512)
    model = bn_net(0.9)
    cb = fit_verified(model, keras.optimizers.Adam(1e-3), x, y, epochs=2)
    assert _on_gpu(model), [v.value.device for v in model.trainable_variables]
    assert problems(cb.findings) == set()
    assert cb.step == 64


def test_broken_run_on_gpu_is_stopped(tmp_path):
    x, y = quadrant_data(512)
    model = bn_net(0.9, InferenceModeStep)
    path = tmp_path / "report.json"
    cb = fit_verified(model, keras.optimizers.Adam(1e-3), x, y, epochs=2, on_failure="stop", report_path=path)
    assert _on_gpu(model)
    assert problems(cb.findings) == {"training.bn_stats_frozen"}
    the(cb.findings, "training.bn_stats_frozen")
    assert cb.stopped_at == 5 and path.exists()
