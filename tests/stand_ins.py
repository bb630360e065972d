"""What the tests stand in for because it cannot be downloaded here.

``pretrained(model)``: a backbone built with ``weights=None`` where the original code loads
``weights="imagenet"`` (or a keras-hub preset's weights). pipecheck tells a pretrained backbone from one
trained from scratch by its BatchNormalization statistics (ImageNet weights never leave them at mean
0, variance 1; ``weights=None`` always does), and judges the input range against ImageNet's
preprocessing only for the former. The stand-in gives every BatchNormalization layer moving
statistics away from their initial values, as loaded weights would; the model's input stage, which
is what validate runs, is unchanged.
"""

from __future__ import annotations

from typing import Any


def pretrained(model: Any, seed: int = 0) -> Any:
    """``model`` with every BatchNormalization layer's moving mean and variance moved off 0 and 1."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = tuple(layer.moving_mean.shape)
            layer.moving_mean.assign(rng.normal(0.0, 0.1, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
    return model
