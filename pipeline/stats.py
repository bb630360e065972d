"""TFDV statistics of a build's label and metadata features, one file per split.

Computed from the records' non-image features (never the pixels) as
``tfdv.generate_statistics_from_dataframe`` computes them, written as binary
``DatasetFeatureStatisticsList`` protos to ``OUT/stats/<split>.stats.pb`` (load with
``tfdv.load_stats_binary``). The ``schema`` validator infers a schema from train and validates every
other split against it. A build computes them with ``statsgen`` (TFDV's generators without
``import tensorflow_data_validation``, which loads TensorFlow and Beam: seconds of a build, for
0.1 s of statistics), byte for byte TFDV's result; where that is not known to hold (another TFDV
release), with TFDV itself.

TFDV is the optional extra ``pipecheck[tfdv]``. Without it a build writes no statistics (pipecheck
computes none of its own: the label checks read the records themselves), the manifest's
``statistics`` entry is empty, the build's summary says so once, and ``validate`` reports
``schema.tfdv_not_installed`` once instead of the schema checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

STATS_DIR = "stats"
LABEL_COLUMN = "label"
LABEL_COUNT_COLUMN = "label_count"


TFDV_EXTRA = "pip install 'pipecheck[tfdv]'"
TFDV_MISSING = (
    f"none written: TFDV is not installed ({TFDV_EXTRA} adds TFDV statistics and the schema.* "
    "checks; TFDV supports Python 3.11 with TensorFlow 2.16)"
)


def tfdv_available() -> bool:
    """Whether ``tensorflow_data_validation`` can be imported (found, without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow_data_validation") is not None
    except (ImportError, ValueError):
        return False


def import_tfdv():
    """``tensorflow_data_validation``, imported without the notices it writes to stderr
    (IPython missing, Google client deprecation warnings) that would bury pipecheck's report.
    """
    import contextlib
    import io
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import tensorflow_data_validation as tfdv
    return tfdv


def stats_path(out_dir: str | Path, split: str) -> Path:
    """Where a build's statistics of ``split`` are read from (writing goes through :func:`stats_relpath`)."""
    return Path(out_dir) / STATS_DIR / f"{split}.stats.pb"


def frame(rows: Iterable[tuple[list[str], dict[str, Any]]], meta_types: dict[str, str]):
    """A DataFrame with a list-valued ``label`` column, ``label_count`` and one column per meta key."""
    import pandas as pd

    labels, counts = [], []
    meta_cols: dict[str, list] = {k: [] for k in meta_types}
    for names, meta in rows:
        labels.append(list(names))
        counts.append(len(names))
        for key in meta_types:
            meta_cols[key].append(meta.get(key))
    data: dict[str, Any] = {LABEL_COLUMN: labels, LABEL_COUNT_COLUMN: counts}
    for key, kind in meta_types.items():
        values = meta_cols[key]
        if kind == "bytes":
            data[f"meta/{key}"] = pd.Series([None if v is None else str(v) for v in values], dtype=object)
        else:
            data[f"meta/{key}"] = pd.Series(
                [float("nan") if v is None else v for v in values],
                dtype="float64" if kind == "float" or None in values else "int64",
            )
    return pd.DataFrame(data)


def batch(rows: Iterable[tuple[list[str], dict[str, Any]]], meta_types: dict[str, str]):
    """``record_batch(frame(rows, meta_types))``, the columns TFDV computes statistics from, built
    without pandas (its import alone is ~0.5 s of a build): the same Arrow types, nulls and values.
    """
    import numpy as np
    import pyarrow as pa

    from pipecheck.pipeline.statsgen import binary_array, list_array, numeric_array

    labels: list[str] = []
    counts = []
    meta_cols: dict[str, list] = {k: [] for k in meta_types}
    for names, meta in rows:
        labels.extend(names)
        counts.append(len(names))
        for key in meta_types:
            meta_cols[key].append(meta.get(key))
    if not counts:  # pandas makes an empty frame's label columns float64
        columns = [list_array(numeric_array(np.zeros(0)))] * 2
    else:
        columns = [list_array(binary_array(labels), np.array(counts)), list_array(numeric_array(np.array(counts)))]
    for kind, values in zip(meta_types.values(), meta_cols.values()):
        if kind == "bytes":
            present = np.array([v is not None for v in values], dtype=bool)
            columns.append(list_array(binary_array([str(v) for v in values if v is not None]), present=present))
        elif kind == "float" or None in values:  # NaN is missing, as in pandas
            floats = np.array([float("nan") if v is None else float(v) for v in values], dtype=np.float64)
            present = ~np.isnan(floats)
            columns.append(list_array(numeric_array(floats[present]), present=present))
        else:
            columns.append(list_array(numeric_array(np.array(values, dtype=np.int64))))
    names = [LABEL_COLUMN, LABEL_COUNT_COLUMN] + [f"meta/{key}" for key in meta_types]
    return pa.RecordBatch.from_arrays(columns, names)


def generate(df) -> Any:
    """TFDV's own statistics of one split's frame (in-process, no Beam needed for a DataFrame)."""
    return import_tfdv().generate_statistics_from_dataframe(df, n_jobs=1)


def compute(columns) -> Any:
    """The statistics of one split's :func:`batch` (or :func:`frame`), as :func:`generate` computes
    them: by ``statsgen`` where it reproduces this TFDV release, otherwise by TFDV.
    """
    from pipecheck.pipeline import statsgen

    if not hasattr(columns, "num_rows"):  # a pandas DataFrame
        columns = record_batch(columns)
    if statsgen.supported(columns):
        return statsgen.generate(columns)
    return tfdv_compute(columns)


def tfdv_compute(columns) -> Any:
    """TFDV's statistics of a :func:`batch` (what :func:`generate` gives for its frame)."""
    import_tfdv()  # quietly, before its submodule
    from tensorflow_data_validation.statistics import stats_impl

    return stats_impl.generate_statistics_in_memory(columns)


def write_statistics(out_dir: str | Path, frames: dict[str, Any]) -> dict[str, str]:
    """Compute and write statistics for each split's :func:`batch` (or :func:`frame`); returns
    ``{split: relative path}``.

    ``out_dir`` may be a ``scheme://`` folder (written through ``tf.io.gfile``). Without TFDV
    nothing is written and the result is ``{}`` (see :data:`TFDV_MISSING`).
    """
    from pipecheck.pipeline import fsio

    if not tfdv_available():
        return {}
    fsio.makedirs(fsio.join(out_dir, STATS_DIR))
    written = {}
    for split, columns in frames.items():
        stats = compute(columns)
        rel = stats_relpath(split)
        fsio.write_atomic(fsio.join(out_dir, rel), stats.SerializeToString())
        written[split] = rel
    return written


def stats_relpath(split: str) -> str:
    """Where a split's statistics live inside a build (the manifest's ``statistics`` values).

    A split name that is not one safe token (``/tmp/x``, ``../x``) would put the file outside the
    build: the build rejects such values first (``split_invalid``), and this refuses them anyway.
    """
    from pipecheck.pipeline.split import is_split_name

    if not is_split_name(split):
        raise ValueError(f"not a split name: {split!r}")
    return f"{STATS_DIR}/{split}.stats.pb"


def record_batch(df):
    """The Arrow RecordBatch TFDV computes statistics from for a :func:`frame`, built exactly as
    ``generate_statistics_from_dataframe`` builds it, so a Beam pipeline (``tfdv.GenerateStatistics``)
    and the in-process path see the same columns and types.
    """
    import pyarrow as pa
    from tfx_bsl.arrow import table_util

    drop = [c for c, t in zip(df.columns, df.dtypes) if not table_util.NumpyKindToArrowType(t.kind)]
    return table_util.CanonicalizeRecordBatch(pa.RecordBatch.from_pandas(df.drop(columns=drop)))


def load_statistics(out_dir: str | Path, split: str):
    """The split's ``DatasetFeatureStatisticsList`` (raises FileNotFoundError if not built)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(stats_path(out_dir, split).read_bytes())
    return stats
