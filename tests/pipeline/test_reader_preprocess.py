"""The reader's fused preprocessing equals Keras' own preprocess_input for every backbone."""

import numpy as np
import pytest

from pipecheck.pipeline import backbones
from pipecheck.pipeline.reader import _fused_preprocess


@pytest.mark.parametrize("name", [b.name for b in backbones.all_backbones()])
def test_fused_preprocess_matches_keras(name):
    bb = backbones.get(name)
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 5, 7, 3)).astype("float32")
    expected = np.asarray(bb.preprocess_function()(x.copy()))
    got = np.asarray(_fused_preprocess(bb)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
