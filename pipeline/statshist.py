"""The histograms of TFDV's statistics, made from a quantiles sketch's output as TFDV makes them.

Adapted from TensorFlow Data Validation 1.16.1 ``utils/quantiles_util.py`` (Copyright 2018 Google
LLC, Apache License 2.0), for ``pipeline/statsgen.py``: the same numpy operations in the same order,
so the buckets are TFDV's to the last bit.
"""

from __future__ import annotations

import numpy as np


def find_median(quantiles: np.ndarray) -> float:
    n = len(quantiles)
    assert n > 0
    mid = int(n / 2)
    if n % 2 == 0:
        return (quantiles[mid - 1] + quantiles[mid]) / 2.0
    return quantiles[mid]


def _bin_weights(boundaries: np.ndarray, cum_bin_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin lower bounds, upper bounds and weights; the weight of duplicated bins spread evenly over them."""
    cum_bin_weights = cum_bin_weights.astype(np.float64)
    low_bounds = boundaries[:-1]
    high_bounds = boundaries[1:]
    bin_counts = np.diff(cum_bin_weights)
    i = 0
    while i < low_bounds.size:
        for j in range(i + 1, low_bounds.size + 1):
            if j == low_bounds.size:
                break
            if high_bounds[i] != high_bounds[j]:
                break
        if j > i + 1:
            bin_counts[i:j] = bin_counts[i:j].sum() / (j - i)
        i = j
    for i in range(low_bounds.size + 1):
        if i == low_bounds.size:
            break
        if low_bounds[0] != low_bounds[i] or high_bounds[0] != high_bounds[i]:
            break
    if i > 0:
        bin_counts[0:i] += cum_bin_weights[0] / (i)
    return low_bounds, high_bounds, bin_counts


def rebin_quantiles(
    quantiles: np.ndarray, cumulative_counts: np.ndarray, reduction_factor: int
) -> tuple[np.ndarray, np.ndarray]:
    x = (cumulative_counts.size - 1) / reduction_factor
    if x != np.floor(x):
        raise ValueError(f"Reduction factor {reduction_factor} must divide size {cumulative_counts.size - 1}")
    low_val, low_count = quantiles[0], cumulative_counts[0]
    quantiles = np.concatenate([[low_val], quantiles[reduction_factor::reduction_factor]])
    cumulative_counts = np.concatenate([[low_count], cumulative_counts[reduction_factor::reduction_factor]])
    return quantiles, cumulative_counts


def quantiles_histogram(quantiles: np.ndarray, cumulative_counts: np.ndarray):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    result = statistics_pb2.Histogram()
    result.type = statistics_pb2.Histogram.QUANTILES
    low_bounds, high_bounds, bin_weights = _bin_weights(quantiles, cumulative_counts)
    for i in range(low_bounds.size):
        result.buckets.add(low_value=low_bounds[i], high_value=high_bounds[i], sample_count=bin_weights[i])
    return result


def _strip_infinities(
    quantiles: np.ndarray, cumulative_counts: np.ndarray, finite_max: float, num_pos_inf: float
) -> tuple[np.ndarray, np.ndarray, float]:
    neg_inf_idx = np.searchsorted(quantiles, float("-inf"), side="right")
    if neg_inf_idx:
        num_neg_inf = cumulative_counts[neg_inf_idx - 1]
        cumulative_counts = cumulative_counts[neg_inf_idx:]
        quantiles = quantiles[neg_inf_idx:]
        cumulative_counts = cumulative_counts - num_neg_inf
    else:
        num_neg_inf = 0
    if num_pos_inf:
        pos_inf_index = np.searchsorted(quantiles, float("inf"), side="left")
        finite_max_count = cumulative_counts[-1] - num_pos_inf
        quantiles = quantiles[:pos_inf_index]
        cumulative_counts = cumulative_counts[:pos_inf_index]
        quantiles = np.concatenate([quantiles, np.array([finite_max])])
        cumulative_counts = np.concatenate([cumulative_counts, np.array([finite_max_count])])
    return quantiles, cumulative_counts, num_neg_inf


def _overlap(bucket, low_bound: float, high_bound: float, first_bucket: bool) -> tuple[float, bool, bool]:
    """Fraction of ``bucket`` in [low_bound, high_bound], and whether it lies wholly before / after it."""
    if first_bucket and bucket.high_value == bucket.low_value == low_bound:
        return 1.0, False, False
    if not first_bucket and bucket.high_value == bucket.low_value == low_bound:
        return 0.0, True, False
    if bucket.high_value < low_bound:
        return 0.0, True, False
    if bucket.low_value > high_bound:
        return 0.0, False, True
    if low_bound <= bucket.low_value and high_bound >= bucket.high_value:
        return 1.0, False, False
    if low_bound <= bucket.low_value:
        return (high_bound - bucket.low_value) / (bucket.high_value - bucket.low_value), False, False
    if high_bound >= bucket.high_value:
        return (bucket.high_value - low_bound) / (bucket.high_value - bucket.low_value), False, False
    if low_bound > bucket.low_value and high_bound < bucket.high_value:
        return (high_bound - low_bound) / (bucket.high_value - bucket.low_value), False, False
    raise ValueError(f"Unable to compute overlap between ({low_bound:f}, {high_bound:f}) and {bucket}")


def equi_width_histogram(
    quantiles: np.ndarray,
    cumulative_counts: np.ndarray,
    finite_min: float,
    finite_max: float,
    num_buckets: int,
    num_pos_inf: float,
):
    """TFDV's standard histogram: equal-width buckets, counts interpolated from the quantiles histogram."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    result = statistics_pb2.Histogram()
    result.type = statistics_pb2.Histogram.STANDARD
    if not np.isfinite(finite_min) and not np.isfinite(finite_max):
        result.buckets.add(low_value=finite_min, high_value=finite_max, sample_count=cumulative_counts[-1])
        return result
    assert np.isfinite(finite_min)
    assert np.isfinite(finite_max)
    assert np.all(quantiles[:-1] <= quantiles[1:])
    quantiles, cumulative_counts, num_neg_inf = _strip_infinities(quantiles, cumulative_counts, finite_max, num_pos_inf)
    quantiles_hist = quantiles_histogram(quantiles, cumulative_counts)
    if finite_min == finite_max:
        new_boundaries = np.array([finite_min, finite_max])
    else:
        new_boundaries = np.linspace(finite_min, finite_max, num_buckets + 1)
        if not np.isfinite(new_boundaries).all():
            return result
    start_index = 0
    if num_neg_inf:
        result.buckets.add(low_value=float("-inf"), high_value=float("-inf"), sample_count=num_neg_inf)
    for i in range(new_boundaries.size - 1):
        low_bound = new_boundaries[i]
        high_bound = new_boundaries[i + 1]
        sample_count = 0
        for current_index in range(start_index, len(quantiles_hist.buckets)):
            overlap, bucket_precedes, bucket_follows = _overlap(
                quantiles_hist.buckets[current_index], low_bound=low_bound, high_bound=high_bound, first_bucket=i == 0
            )
            if bucket_follows:
                break
            if bucket_precedes:
                start_index = current_index
            sample_count += overlap * quantiles_hist.buckets[current_index].sample_count
        result.buckets.add(low_value=low_bound, high_value=high_bound, sample_count=sample_count)
    if num_pos_inf:
        result.buckets.add(low_value=float("inf"), high_value=float("inf"), sample_count=num_pos_inf)
    return result
