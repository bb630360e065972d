"""``build-tfrecords --runner beam``: the same build as ``build.py``, with Apache Beam writing the shards.

Only the orchestration differs from a local build. The driver plans exactly as ``build()`` does
(``build.plan_build``: scan, labels, split, shard plan, staging folder, ``--resume``), the pipeline
runs the one per-shard transform (``shards.write_shard``: each worker writes one whole shard under a
temp name, renames it, then writes its ``.done.json`` record), and the driver finishes exactly as
``build()`` does (``build.finish_build``: accounting, then the one publisher of a build folder,
``staging.publish``: ``rejects.jsonl``, ``checksums.jsonl``, ``dataset.json``, swap-in). Shard bytes
are therefore identical to a local build of the same plan.

TFDV statistics run in the same pipeline: one branch per split groups the written records'
label/metadata rows, turns them into the Arrow RecordBatch the in-process path uses
(``stats.record_batch``), and runs ``tfdv.GenerateStatistics`` on the runner.

The pipeline hands its results back through the ``.done.json`` records in the staging folder,
read with ``tf.io.gfile`` for ``scheme://`` paths; the same records let ``--resume`` skip finished
shards after a failed job. Statistics are written by the pipeline with the same temp-then-rename
writer (``fsio.write_atomic``) rather than ``tfdv.WriteStatisticsToBinaryFile``, because that goes
through Beam's own filesystems while every other output goes through ``tf.io.gfile``; the file is
the same serialized ``DatasetFeatureStatisticsList`` either way.
"""

from __future__ import annotations

import dataclasses
import os
from functools import partial
from typing import Any

from pipecheck.pipeline import fsio
from pipecheck.pipeline.build import BuildOptions, BuildResult, Planned, finish_build, plan_build
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.shards import ShardResult, ShardTask, load_done, write_shard
from pipecheck.pipeline.staging import check_out_path, out_lock, resolve_out

DEFAULT_RUNNER = "DirectRunner"


class BeamBuildError(RuntimeError):
    """The Beam job did not finish, or finished without writing every planned shard."""


def pipeline_options(beam_options: list[str], workers: int | None = None):
    """``PipelineOptions`` from ``--beam-option`` values; DirectRunner unless they name a runner.

    For the DirectRunner, ``direct_num_workers`` defaults to ``workers`` (else the CPU count) and
    ``direct_running_mode`` to ``multi_processing`` (image checks are CPU-bound Python, so threads
    would share one core); both can be overridden with ``--beam-option``.

    Args:
        beam_options: Command-line style Beam options, e.g. ``["--runner=DataflowRunner", ...]``.
        workers: ``--workers`` of the build.
    """
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    try:
        options = PipelineOptions(list(beam_options))
        options.get_all_options(retain_unknown_options=False)
    except SystemExit:
        raise InputError(f"invalid --beam-option value(s): {' '.join(beam_options)}") from None
    given = {arg.lstrip("-").split("=", 1)[0] for arg in beam_options}
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    if standard.runner in (DEFAULT_RUNNER, "BundleBasedDirectRunner", "SwitchingDirectRunner"):
        direct = options.view_as(DirectOptions)
        if "direct_num_workers" not in given:
            direct.direct_num_workers = workers or os.cpu_count() or 1
        if "direct_running_mode" not in given:
            direct.direct_running_mode = "multi_processing" if direct.direct_num_workers > 1 else "in_memory"
    return options


def _write(task: ShardTask):
    """The Beam step: one whole shard, written by the same function a local build uses."""
    return task, write_shard(task)


def _rows(pair):
    """``(split, (shard, position, label names, meta))`` for every record a shard holds."""
    task, result = pair
    items = {stem: (names, meta) for _rel, stem, _idx, names, meta in task.items}
    for pos, stem in enumerate(result.written):
        names, meta = items[stem]
        yield result.split, (result.file, pos, names, meta)


def _batches(grouped, types: dict[str, str]):
    """One split's rows, in a local build's order, as RecordBatches of one schema."""
    from pipecheck.pipeline import stats

    _split, rows = grouped
    rows = sorted((r for r in rows if r is not None), key=lambda r: (r[0], r[1]))
    batch = stats.record_batch(stats.frame(((names, meta) for _f, _p, names, meta in rows), types))
    # Slicing one table keeps every batch on the schema the whole split implies (a column with a
    # missing value is float in every batch, not int in some), which TFDV requires across batches.
    step = 10_000
    for start in range(0, max(batch.num_rows, 1), step):
        yield batch.slice(start, step)


def _write_stats(stats_list, path: str) -> None:
    # Features come back in the order the workers' partial results merged, which follows each
    # process's string hashing; put them in column order (label, label_count, meta/* sorted),
    # the order the in-process path gives, so the same build always writes the same bytes.
    for dataset in stats_list.datasets:
        ordered = sorted(dataset.features, key=lambda f: tuple(f.path.step) or (f.name,))
        copies = [type(f)() for f in ordered]
        for copy, f in zip(copies, ordered):
            copy.CopyFrom(f)
        del dataset.features[:]
        dataset.features.extend(copies)
    fsio.write_atomic(path, stats_list.SerializeToString())


def _pipeline(p, planned: Planned, opts: BuildOptions, splits: list[str]):
    """Attach the shard-writing step and, with statistics on, one TFDV branch per split."""
    import apache_beam as beam

    written = (
        p
        | "PlannedShards" >> beam.Create(planned.todo, reshuffle=False)
        | "Spread" >> beam.Reshuffle()  # one shard per worker, never fused into one bundle
        | "WriteShard" >> beam.Map(_write)
    )
    if not opts.stats:
        return
    from pipecheck.pipeline import stats

    tfdv = stats.import_tfdv()
    by_name = {t.name: t for t in planned.tasks}
    previous = [(by_name[r.file], r) for r in planned.done]  # --resume: shards written earlier
    pairs = (written, p | "ResumedShards" >> beam.Create(previous)) | "AllShards" >> beam.Flatten()
    # One empty marker per split, so a split whose every image was rejected still gets (empty)
    # statistics, as in a local build.
    markers = p | "SplitMarkers" >> beam.Create([(s, None) for s in splits])
    rows = pairs | "Rows" >> beam.FlatMap(_rows)
    grouped = (rows, markers) | "RowsAndMarkers" >> beam.Flatten() | "BySplit" >> beam.GroupByKey()
    for split in splits:
        path = fsio.join(planned.staging, stats.stats_relpath(split))
        (
            grouped
            | f"Only[{split}]" >> beam.Filter(lambda kv, s=split: kv[0] == s)
            | f"Batches[{split}]" >> beam.FlatMap(_batches, planned.types)
            | f"Statistics[{split}]" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
            | f"WriteStatistics[{split}]" >> beam.Map(_write_stats, path)
        )


def build_beam(opts: BuildOptions, beam_options: list[str] | tuple[str, ...] = ()) -> BuildResult:
    """Build with Apache Beam; the output matches :func:`pipecheck.pipeline.build.build`.

    Args:
        opts: The build options (``workers`` sets the DirectRunner's worker count).
        beam_options: ``--beam-option`` values for ``PipelineOptions`` (runner, project, ...).
            Inputs and outputs may be ``gs://``/``s3://``/... folders, read and written through
            ``tf.io.gfile``; with a remote runner they must be, since its workers cannot see the
            driver's disk.

    Raises:
        InputError: Bad options or inputs (as for a local build).
        BeamBuildError: The job failed or a planned shard has no done record; the staging folder
            keeps every finished shard, so ``resume=True`` continues the build.
    """
    options = pipeline_options(list(beam_options), opts.workers)
    opts = dataclasses.replace(opts, out=resolve_out(opts.out))
    check_out_path(opts)
    with out_lock(opts.out):  # one build at a time into --out, as for a local build
        return _build_beam_locked(opts, options)


def _build_beam_locked(opts: BuildOptions, options) -> BuildResult:
    import apache_beam as beam

    from pipecheck.pipeline import stats

    planned = plan_build(opts)
    splits = sorted({t.split for t in planned.tasks})
    if opts.stats:
        fsio.makedirs(fsio.join(planned.staging, stats.STATS_DIR))
    if planned.todo or opts.stats:
        pipeline = beam.Pipeline(options=options)
        _pipeline(pipeline, planned, opts, splits)
        state = pipeline.run().wait_until_finish()
        if str(state).rsplit(".", 1)[-1] != "DONE":
            raise BeamBuildError(
                f"the Beam job ended in state {state}; finished shards stay in {planned.staging} for --resume"
            )
    new: list[ShardResult] = []
    missing: list[str] = []
    for task in planned.todo:
        # The job has finished, so every done record it wrote is final; no need to re-hash shards.
        result = load_done(planned.staging, task.name, verify=False)
        if result is None:
            missing.append(task.name)
        else:
            new.append(result)
    if missing:
        raise BeamBuildError(
            f"the Beam job finished without {len(missing)} shard(s) ({', '.join(missing[:3])}…); "
            f"rerun with --resume to write them"
        )
    return finish_build(opts, planned, new, statistics=partial(_statistics_written, planned.staging, splits))


def _statistics_written(staging: str, splits: list[str]) -> dict[str, Any]:
    """The manifest's ``statistics`` entry: the per-split files the pipeline wrote."""
    from pipecheck.pipeline import stats

    out = {}
    for split in splits:
        rel = stats.stats_relpath(split)
        if not fsio.exists(fsio.join(staging, rel)):
            raise BeamBuildError(f"the Beam job finished without statistics for split {split!r}")
        out[split] = rel
    return out
