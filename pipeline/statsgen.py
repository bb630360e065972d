"""TFDV's default in-memory statistics of a build's label and metadata columns, without importing TFDV.

``tfdv.generate_statistics_from_dataframe`` needs ``import tensorflow_data_validation``, which imports
TensorFlow and Apache Beam: 3-8 s of a default ``build-tfrecords`` on 2 cores, where the statistics
themselves take 0.1 s. The numbers come from TFDV's two default in-memory generators (basic
statistics, and the sketch-based top-k and uniques); their arithmetic is in Python around the
``tfx_bsl`` sketches (quantiles, Misra-Gries, KMV), which load without TensorFlow. This module is that
Python, narrowed to what a build's columns hold (flat lists of int, float or string values; no
weights, no schema, no nesting), calling the same sketches in the same order and merging the two
outputs with the same ``tfx_bsl`` merge, so the ``DatasetFeatureStatisticsList`` is TFDV's byte for
byte (``tests/pipeline/test_statistics_fast.py`` compares them). :func:`supported` says where that
holds: the TFDV release it was read from, and the column types it handles; elsewhere
``pipeline/stats.py`` calls TFDV itself.

Adapted from TensorFlow Data Validation 1.16.1 (``statistics/generators/basic_stats_generator.py``,
``top_k_uniques_sketch_stats_generator.py``, ``utils/quantiles_util.py``, ``variance_util.py``,
``top_k_uniques_stats_util.py``), Copyright 2018 Google LLC, Apache License 2.0.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any

import numpy as np

# TFDV's StatsOptions() defaults and generator constants (stats_impl.py, stats_options.py).
NUM_TOP_VALUES = 20
NUM_RANK_HISTOGRAM_BUCKETS = 1000
NUM_VALUES_HISTOGRAM_BUCKETS = 10
NUM_HISTOGRAM_BUCKETS = 10
NUM_QUANTILES_HISTOGRAM_BUCKETS = 10
EPSILON = 0.01
FREQUENCY_THRESHOLD = 1
MG_BUCKETS = 1024  # _DEFAULT_MG_SKETCH_SIZE
KMV_BUCKETS = 16384  # _DEFAULT_KMV_SKETCH_SIZE
QUANTILES_FACTOR = 100  # _NUM_QUANTILES_FACTOR_FOR_STD_HISTOGRAM
LARGE_STRING_THRESHOLD = 1024
NON_UTF8_PLACEHOLDER = "__BYTES_VALUE__"
LARGE_BYTES_PLACEHOLDER = "__LARGE_BYTES__"

# The TFDV releases whose generators this reproduces (read from 1.16.1's source, compared byte for byte).
VERIFIED_TFDV = ("1.16.",)


def supported(batch, tfdv_version: str | None = None) -> bool:
    """Whether :func:`generate` gives TFDV's own result for ``batch``: the TFDV release (default: the
    installed one) is one this was verified against, and every column is a ``large_list`` of int64,
    double or ``large_binary`` values (what ``stats.batch`` and ``stats.record_batch`` make).
    """
    import pyarrow as pa

    if tfdv_version is None:
        tfdv_version = _installed_tfdv()
    if not tfdv_version.startswith(VERIFIED_TFDV):
        return False
    flat = (pa.large_list(pa.int64()), pa.large_list(pa.float64()), pa.large_list(pa.large_binary()))
    return all(column.type in flat for column in batch.columns)


@functools.lru_cache(maxsize=1)
def _installed_tfdv() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("tensorflow-data-validation")
    except importlib.metadata.PackageNotFoundError:
        return ""


def generate(batch):
    """The ``DatasetFeatureStatisticsList`` that ``tfdv.generate_statistics_from_dataframe`` (default
    options, ``n_jobs=1``) writes for the canonical record batch ``batch`` (``stats.record_batch``).
    """
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from tfx_bsl.statistics import merge_util

    basic = statistics_pb2.DatasetFeatureStatistics(num_examples=batch.num_rows)
    topk = statistics_pb2.DatasetFeatureStatistics()
    # inf metadata makes nan means and variances (TFDV's too); numpy's warnings about it are no news
    with np.errstate(invalid="ignore", over="ignore"):
        for name, column in zip(batch.schema.names, batch.columns):
            kind = _feature_type(column.type)
            basic.features.add().CopyFrom(_basic_feature(name, column, kind, batch.num_rows))
            if kind == statistics_pb2.FeatureNameStatistics.STRING:
                top = _topk_feature(name, column)
                if top is not None:
                    topk.features.add().CopyFrom(top)
    return merge_util.merge_dataset_feature_statistics([basic, topk])


def numeric_array(values: np.ndarray):
    """An Arrow array of a 1-D numeric numpy array, made from its buffer.

    ``pa.array`` imports pandas on first use (~0.5 s of a build, for nothing here); the arrays this
    module makes are built from buffers instead.
    """
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def to_numpy(array) -> np.ndarray:
    """A numpy view of a primitive Arrow array without nulls (``np.asarray`` of it imports pandas)."""
    if array.null_count:
        raise ValueError("an array with nulls has no plain numpy view")
    dtype = np.dtype(array.type.to_pandas_dtype())
    if not len(array):
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def binary_array(texts: list[str]):
    """A ``large_binary`` Arrow array of the UTF-8 encodings of ``texts``."""
    import pyarrow as pa

    data = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_binary(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )


def list_array(values, lengths: np.ndarray | None = None, present: np.ndarray | None = None):
    """A ``large_list`` Arrow array of ``values``, cut into lists of ``lengths`` (default: one value
    each, as ``tfx_bsl``'s ``ToSingletonListArray``); where ``present`` is False, a null list that
    takes no value.
    """
    import pyarrow as pa

    if lengths is None:
        lengths = np.ones(len(values), dtype=np.int64) if present is None else present.astype(np.int64)
    n = len(lengths)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    validity = None if present is None or present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(pa.large_list(values.type), n, [validity, pa.py_buffer(offsets)], children=[values])


def _feature_type(arrow_type) -> int:
    import pyarrow as pa
    from tensorflow_metadata.proto.v0 import statistics_pb2

    value = arrow_type.value_type
    if pa.types.is_integer(value):
        return statistics_pb2.FeatureNameStatistics.INT
    if pa.types.is_floating(value):
        return statistics_pb2.FeatureNameStatistics.FLOAT
    return statistics_pb2.FeatureNameStatistics.STRING


def _quantiles_sketch():
    from tfx_bsl import sketches

    return sketches.QuantilesSketch(eps=EPSILON, max_num_elements=1 << 32, num_streams=1)


def _quantiles_counts(sketch, num_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    quantiles, counts = sketch.GetQuantilesAndCumulativeWeights(num_buckets)
    return to_numpy(_flatten(quantiles)), to_numpy(_flatten(counts))


def _values(column):
    """The values of a flat list column, as ``tfx_bsl``'s ``flatten_nested`` (``column.flatten()``) gives
    them, without loading pyarrow's compute modules (~0.05 s): the values between the first and the
    last offset, when no null list holds any (``column.flatten()`` otherwise).
    """
    from tfx_bsl.arrow import array_util

    offsets = to_numpy(column.offsets)
    if column.null_count:
        null = to_numpy(array_util.GetArrayNullBitmapAsByteArray(column)).view(bool)
        if np.diff(offsets)[null].any():
            return column.flatten()
    return column.values.slice(offsets[0], offsets[-1] - offsets[0])


def _flatten(lists):
    """``lists.flatten()`` of the sketch's one list of values without pyarrow's compute modules (~0.05 s
    to load): the values sliced.
    """
    size = lists.type.list_size  # a fixed-size list array
    return lists.values.slice(lists.offset * size, len(lists) * size)


class _Valency:
    """Presence and valency of a flat list column (TFDV's ``_PresenceAndValencyStats``, one level)."""

    def __init__(self, column):
        from tfx_bsl.arrow import array_util

        self.num_non_missing = 0
        self.min_num_values = sys.maxsize
        self.max_num_values = 0
        self.total_num_values = 0
        self.summary = _quantiles_sketch()
        if not column:  # TFDV collects nothing from an empty array
            return
        present = ~to_numpy(array_util.GetArrayNullBitmapAsByteArray(column)).view(bool)
        num_values = to_numpy(array_util.ListLengthsFromListArray(column))[present]
        self.num_non_missing += len(column) - column.null_count
        self.max_num_values = np.maximum.reduce(num_values, initial=self.max_num_values)
        self.min_num_values = np.minimum.reduce(num_values, initial=self.min_num_values)
        self.total_num_values += np.sum(num_values)
        # pyarrow's value_counts (distinct values in order of first appearance, their counts), in numpy:
        # pyarrow's compute functions load its compute modules, ~0.05 s
        distinct, first, times = np.unique(num_values, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        self.summary.AddValues(numeric_array(distinct[order]), numeric_array(times[order].astype(np.int64)))
        self.summary.Compact()


def _common(valency: _Valency, num_examples: int):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from pipecheck.pipeline import statshist

    result = statistics_pb2.CommonStatistics()
    result.num_non_missing = valency.num_non_missing
    result.num_missing = num_examples - valency.num_non_missing
    result.tot_num_values = valency.total_num_values if valency.num_non_missing > 0 else 0
    if result.num_non_missing:
        result.min_num_values = valency.min_num_values
        result.max_num_values = valency.max_num_values
        result.avg_num_values = result.tot_num_values / result.num_non_missing
        quantiles, counts = _quantiles_counts(valency.summary, NUM_VALUES_HISTOGRAM_BUCKETS)
        result.num_values_histogram.CopyFrom(statshist.quantiles_histogram(quantiles, counts))
    return result


def _basic_feature(name: str, column, kind: int, num_examples: int):
    """TFDV's ``_make_feature_stats_proto`` for one flat column (no schema, no weights)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    fns = statistics_pb2.FeatureNameStatistics
    result = fns()
    result.path.step.append(name)
    result.type = kind
    valency = _Valency(column)
    common = _common(valency, num_examples)
    if result.type == fns.STRING:
        string_stats = statistics_pb2.StringStatistics()
        if column:
            total_bytes, invalid_utf8 = _string_lengths(column)
        else:
            total_bytes, invalid_utf8 = 0, 0
        if valency.total_num_values > 0:
            string_stats.avg_length = total_bytes / valency.total_num_values
        string_stats.invalid_utf8_count = invalid_utf8
        string_stats.common_stats.CopyFrom(common)
        result.string_stats.CopyFrom(string_stats)
    else:
        numeric = _numeric(column, valency.total_num_values)
        numeric.common_stats.CopyFrom(common)
        result.num_stats.CopyFrom(numeric)
    return result


def _string_lengths(column) -> tuple[int, int]:
    from tfx_bsl.arrow import array_util

    values = _values(column)
    return int(array_util.GetBinaryArrayTotalByteSize(values)), array_util.CountInvalidUTF8(values)


class _MeanVar:
    """TFDV's ``variance_util.MeanVarAccumulator`` (its combine step, bit for bit, inf and nan included)."""

    def __init__(self):
        self.count, self.mean, self.variance = 0, 0.0, 0.0

    def update(self, array: np.ndarray) -> None:
        array = array.astype(np.float64)
        if array.size == 0:
            return
        self._combine(array.size, np.mean(array), np.var(array))

    def _combine(self, b_count: int, b_mean: float, b_variance: float) -> None:
        a_count, a_mean, a_variance = self.count, self.mean, self.variance
        if b_count > a_count:
            a_count, b_count = b_count, a_count
            a_mean, b_mean = b_mean, a_mean
            a_variance, b_variance = b_variance, a_variance
        new_count = a_count + b_count
        if new_count == 0:
            return
        ratio = b_count / new_count
        new_mean = a_mean + ratio * (b_mean - a_mean)
        new_variance = a_variance + ratio * (b_variance - a_variance + (b_mean - new_mean) * (b_mean - a_mean))
        self.count, self.mean, self.variance = new_count, new_mean, new_variance


def _numeric(column, total_num_values: int):
    """TFDV's ``_PartialNumericStats.update`` then ``_make_numeric_stats_proto`` (one batch, unweighted)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from pipecheck.pipeline import statshist

    hist = statistics_pb2.Histogram
    num_nan, num_zeros, pos_inf = 0, 0, 0.0
    lo, hi, finite_lo, finite_hi = float("inf"), float("-inf"), float("inf"), float("-inf")
    meanvar, sketch = _MeanVar(), _quantiles_sketch()
    flat = _values(column) if column else None
    if flat:
        values = to_numpy(flat)
        nan_mask = np.isnan(values)
        num_nan += np.sum(nan_mask)
        values = values[~nan_mask]
        if values.size:
            meanvar.update(values.astype(np.float64))
            cur_lo, cur_hi = np.min(values), np.max(values)
            lo, hi = min(lo, cur_lo), max(hi, cur_hi)
            if cur_lo == float("-inf") or cur_hi == float("inf"):
                finite = values[np.isfinite(values)]
                if finite.size > 0:
                    finite_lo, finite_hi = min(finite_lo, np.min(finite)), max(finite_hi, np.max(finite))
            else:
                finite_lo, finite_hi = min(finite_lo, cur_lo), max(finite_hi, cur_hi)
            pos_inf += np.isposinf(values).sum()
            num_zeros += values.size - np.count_nonzero(values)
            sketch.AddValues(numeric_array(values))
    sketch.Compact()

    result = statistics_pb2.NumericStatistics()
    if num_nan > 0:
        total_num_values -= num_nan
    if total_num_values == 0:
        if num_nan > 0:
            result.histograms.add(type=hist.STANDARD).num_nan = num_nan
            result.histograms.add(type=hist.QUANTILES).num_nan = num_nan
        return result
    result.mean = float(meanvar.mean)
    result.std_dev = math.sqrt(max(0, meanvar.variance))
    result.num_zeros = num_zeros
    result.min = float(lo)
    result.max = float(hi)
    quantiles, counts = _quantiles_counts(sketch, QUANTILES_FACTOR * NUM_QUANTILES_HISTOGRAM_BUCKETS)
    result.median = float(statshist.find_median(quantiles))
    standard = statshist.equi_width_histogram(quantiles, counts, finite_lo, finite_hi, NUM_HISTOGRAM_BUCKETS, pos_inf)
    standard.num_nan = num_nan
    result.histograms.add().CopyFrom(standard)
    q_hist = statshist.quantiles_histogram(*statshist.rebin_quantiles(quantiles, counts, QUANTILES_FACTOR))
    q_hist.num_nan = num_nan
    result.histograms.add().CopyFrom(q_hist)
    return result


def _topk_feature(name: str, column) -> Any:
    """TFDV's ``TopKUniquesSketchStatsGenerator`` output for one string column (None: no values)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from tfx_bsl.sketches import KmvSketch, MisraGriesSketch

    values = _values(column)
    distinct = KmvSketch(KMV_BUCKETS)
    topk = MisraGriesSketch(
        num_buckets=max(MG_BUCKETS, NUM_TOP_VALUES, NUM_RANK_HISTOGRAM_BUCKETS),
        invalid_utf8_placeholder=NON_UTF8_PLACEHOLDER,
        large_string_threshold=LARGE_STRING_THRESHOLD,
        large_string_placeholder=LARGE_BYTES_PLACEHOLDER,
    )
    distinct.AddValues(values)
    topk.AddValues(values)
    estimate = topk.Estimate()
    pairs = list(zip(estimate.field("values").to_pylist(), to_numpy(estimate.field("counts")).tolist()))
    if not pairs:
        return None
    result = statistics_pb2.FeatureNameStatistics()
    result.path.step.append(name)
    string_stats = result.string_stats
    for i, (value, count) in enumerate(sorted(pairs, key=lambda p: (p[1], p[0]), reverse=True)):
        if count < FREQUENCY_THRESHOLD:
            break
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeError:
                value = NON_UTF8_PLACEHOLDER
        elif not isinstance(value, str):
            value = str(value)
        if i < NUM_TOP_VALUES:
            string_stats.top_values.add(value=value, frequency=count)
        if i < NUM_RANK_HISTOGRAM_BUCKETS:
            string_stats.rank_histogram.buckets.add(low_rank=i, high_rank=i, sample_count=count, label=value)
    string_stats.unique = distinct.Estimate()
    return result
