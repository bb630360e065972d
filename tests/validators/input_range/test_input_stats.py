"""InputStats: one streamed pass gives the same per-channel numbers as numpy on the whole array."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipecheck.validators.input_range.stats import InputStats


def _fold(x, batch):
    stats = InputStats()
    for start in range(0, len(x), batch):
        stats.update(x[start : start + batch])
    return stats


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 7), st.floats(-200, 200), st.floats(1e-3, 100), st.integers(0, 2**31 - 1))
def test_streamed_moments_match_numpy(batch, loc, scale, seed):
    x = np.random.default_rng(seed).normal(loc, scale, size=(9, 5, 4, 3)).astype("float32")
    stats = _fold(x, batch)
    flat = x.reshape(-1, 3).astype("float64")
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-9, atol=1e-9 * (abs(loc) + scale))
    np.testing.assert_allclose(stats.std, flat.std(0), rtol=1e-6)
    np.testing.assert_array_equal(stats.min, flat.min(0))
    np.testing.assert_array_equal(stats.max, flat.max(0))
    assert stats.hist.sum(axis=1).tolist() == [flat.shape[0]] * 3
    assert stats.images == 9 and stats.batches == -(-9 // batch)


def test_tiny_spread_near_minus_one_keeps_precision():
    # tf preprocessing applied twice: values within 0.016 of -1; sum-of-squares would lose this.
    x = -1.0 + np.random.default_rng(1).uniform(-0.0078, 0.0078, size=(40, 8, 8, 3))
    stats = _fold(x, 3)
    np.testing.assert_allclose(stats.std, x.reshape(-1, 3).std(0), rtol=1e-7)


def test_quantiles_and_cdf_from_the_histogram_are_within_a_bin():
    x = np.random.default_rng(2).uniform(0, 1, size=(20, 16, 16, 3))
    stats = _fold(x, 4)
    flat = x.reshape(-1, 3)
    for q in (0.01, 0.5, 0.99):
        # Bins are about 10% wide: the estimate lands within one of the exact quantile.
        np.testing.assert_allclose(stats.quantile(q), np.quantile(flat, q, axis=0), rtol=0.1)
    for v in (-0.5, 0.003, 0.25, 0.7, 2.0):
        assert abs(stats.cdf(0, v) - float((flat[:, 0] < v).mean())) < 0.01


def test_non_finite_values_are_counted_and_kept_out_of_the_moments():
    x = np.ones((4, 2, 2, 3))
    x[0, 0, 0, 0], x[1, 1, 1, 1] = np.nan, -np.inf
    stats = _fold(x, 2)
    assert (stats.nan, stats.inf) == (1, 1)
    assert stats.mean.tolist() == [1.0, 1.0, 1.0] and stats.std.tolist() == [0.0, 0.0, 0.0]


def test_constant_images_and_batch_spread():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(8, 4, 4, 3))
    x[2] = 0.0
    x[4:8] = x[4]  # batch 1 (size 4) repeats one image
    stats = _fold(x, 4)
    assert stats.constant_images == 1 and stats.zero_images == 1
    assert stats.batch_spread[0] > 0.1 and stats.batch_spread[1] == 0.0


def test_labels_summary():
    stats = InputStats()
    stats.update(np.zeros((3, 2, 2, 3)), np.array([[0, 1, 0], [1, 1, 0], [0.5, 0.5, 0]]))
    lab = stats.labels
    assert (lab.rows, lab.width, lab.rows_not_sum_1, lab.values_not_binary) == (3, 3, 1, 2)
    stats.update(np.zeros((2, 2, 2, 3)), np.array([[0, 0, 1], [1, 0, 0]]))
    assert lab.rows == 5 and lab.examples_bad_rows == [[1.0, 1.0, 0.0]]


def test_rejects_non_image_batches():
    with pytest.raises(ValueError, match="expected \\(batch, height, width, channels\\)"):
        InputStats().update(np.zeros((4, 4)))


def test_labels_that_are_not_numeric_arrays_are_left_alone():
    stats = InputStats()
    stats.update(np.zeros((2, 2, 2, 3)), {"a": np.zeros(2), "b": np.ones(2)})
    stats.update(np.zeros((2, 2, 2, 3)), np.array(["cat", "dog"]))
    assert stats.labels is None and stats.images == 4
