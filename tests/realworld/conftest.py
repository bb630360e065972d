"""Shared fixtures of the real-world corpora (``tests/realworld/``).

``pipeline_photos``: the tiny class-folder photo trees the input-pipeline cases read, built once per
test session in its temporary folder (the cases find it through ``PIPECHECK_REALWORLD_DATA``).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def pipeline_photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("realworld_pipelines")
    before = os.environ.get("PIPECHECK_REALWORLD_DATA")
    os.environ["PIPECHECK_REALWORLD_DATA"] = str(root)
    from realworld.pipelines import _data

    dirs = {layout: _data.photo_dir(layout) for layout in _data.LAYOUTS}
    yield dirs
    if before is None:
        os.environ.pop("PIPECHECK_REALWORLD_DATA", None)
    else:
        os.environ["PIPECHECK_REALWORLD_DATA"] = before


@pytest.fixture(autouse=True)
def _no_global_seed():
    """Each case starts as its script does, without a TensorFlow global seed left by earlier tests
    (under one, ``generator.augmentation_repeats_each_epoch`` rightly fires on their random maps),
    and leaves none behind: the cases that seed as their scripts do (``tf.random.set_seed``,
    ``keras.utils.set_random_seed``, which also seeds Python, NumPy and Keras's global seed) have
    TensorFlow's seed cleared and the others put back as they were after the case.
    """
    import random

    import numpy as np
    import tensorflow as tf

    tf.random.set_seed(None)
    py_state, np_state = random.getstate(), np.random.get_state()
    keras_state = _keras_seed_state()
    yield
    tf.random.set_seed(None)
    random.setstate(py_state)
    np.random.set_state(np_state)
    _restore_keras_seed_state(keras_state)


def _keras_seed_state():
    """Keras 3's global seed and seed generator (set by ``keras.utils.set_random_seed``); None where
    this Keras keeps none."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
    except ImportError:
        return None
    keys = (rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)
    return {key: global_state.get_global_attribute(key) for key in keys}


def _restore_keras_seed_state(state):
    if state is None:
        return
    from keras.src.backend.common import global_state

    for key, value in state.items():
        global_state.set_global_attribute(key, value)
