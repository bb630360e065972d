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
    """Bin lower bounds, upper bounds and weights; the weight of duplicated bins spread evenly over them.

    TFDV walks the bins in Python; the runs of equal upper bounds and the leading run of identical
    bins are found with numpy here, and each run's weight is the same ``sum() / n`` of the same slice.
    """
    cum_bin_weights = cum_bin_weights.astype(np.float64)
    low_bounds = boundaries[:-1]
    high_bounds = boundaries[1:]
    bin_counts = np.diff(cum_bin_weights)
    n = low_bounds.size
    starts = np.concatenate([[0], np.flatnonzero(high_bounds[1:] != high_bounds[:-1]) + 1, [n]]) if n else []
    for i, j in zip(starts[:-1], starts[1:]):
        if j > i + 1:
            bin_counts[i:j] = bin_counts[i:j].sum() / (j - i)
    differs = np.flatnonzero((low_bounds != low_bounds[0]) | (high_bounds != high_bounds[0])) if n else []
    i = int(differs[0]) if len(differs) else n
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


def _overlap(
    low: float, high: float, low_bound: float, high_bound: float, first_bucket: bool
) -> tuple[float, bool, bool]:
    """Fraction of the bucket [low, high] in [low_bound, high_bound], and whether it lies wholly before / after it."""
    if first_bucket and high == low == low_bound:
        return 1.0, False, False
    if not first_bucket and high == low == low_bound:
        return 0.0, True, False
    if high < low_bound:
        return 0.0, True, False
    if low > high_bound:
        return 0.0, False, True
    if low_bound <= low and high_bound >= high:
        return 1.0, False, False
    if low_bound <= low:
        return (high_bound - low) / (high - low), False, False
    if high_bound >= high:
        return (high - low_bound) / (high - low), False, False
    if low_bound > low and high_bound < high:
        return (high_bound - low_bound) / (high - low), False, False
    raise ValueError(f"Unable to compute overlap between ({low_bound:f}, {high_bound:f}) and ({low}, {high})")


def equi_width_histogram(
    quantiles: np.ndarray,
    cumulative_counts: np.ndarray,
    finite_min: float,
    finite_max: float,
    num_buckets: int,
    num_pos_inf: float,
):
    """TFDV's standard histogram: equal-width buckets, counts interpolated from the quantiles histogram
    (whose buckets are read from arrays here, not from a proto: the same doubles).
    """
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
    lows, highs, counts = (a.tolist() for a in _bin_weights(quantiles, cumulative_counts))
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
        for current_index in range(start_index, len(counts)):
            overlap, bucket_precedes, bucket_follows = _overlap(
                lows[current_index], highs[current_index], low_bound, high_bound, first_bucket=i == 0
            )
            if bucket_follows:
                break
            if bucket_precedes:
                start_index = current_index
            sample_count += overlap * counts[current_index]
        result.buckets.add(low_value=low_bound, high_value=high_bound, sample_count=sample_count)
    if num_pos_inf:
        result.buckets.add(low_value=float("inf"), high_value=float("inf"), sample_count=num_pos_inf)
    return result
