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
    (under one, ``generator.augmentation_repeats_each_epoch`` rightly fires on their random maps).
    """
    import tensorflow as tf

    tf.random.set_seed(None)
