"""The reader's split preprocessing (channel permutation on uint8, then an affine map) equals
Keras' own preprocess_input for every backbone."""

import numpy as np
import pytest

from pipecheck.pipeline import backbones
from pipecheck.pipeline.reader import _preprocess_ops


@pytest.mark.parametrize("name", [b.name for b in backbones.all_backbones()])
def test_preprocess_ops_match_keras(name):
    import tensorflow as tf

    bb = backbones.get(name)
    x = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    expected = np.asarray(bb.preprocess_function()(x.astype("float32")[None]))[0]
    permute, affine = _preprocess_ops(bb, 5, 7)
    got = np.asarray(affine(tf.cast(permute(tf.constant(x)), tf.float32)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_without_a_backbone_pixels_pass_through():
    import tensorflow as tf

    x = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    permute, affine = _preprocess_ops(None, 5, 7)
    assert np.array_equal(np.asarray(affine(tf.cast(permute(tf.constant(x)), tf.float32))), x.astype("float32"))
