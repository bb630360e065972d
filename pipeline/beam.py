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

On a Dask cluster (``--runner=DaskRunner``, Beam's runner that turns a pipeline into ``dask.bag``
tasks) the pipeline writes only the shards, and the driver computes the statistics after them,
exactly as a local build does: Beam 2.61's Dask runner has no side inputs (``CombineGlobally``,
which ``tfdv.GenerateStatistics`` uses, injects its default through one and fails on the workers
with ``'ArgumentPlaceholder' has no len()``), and it runs a ``DoFn``'s ``process`` alone, without
``setup`` or bundle methods. The shard step is a plain ``Map`` and needs neither. Two more defects
of that runner are worked around here: it hands every pipeline option that is not at its default to
``distributed.Client`` (so ``--runner`` itself would be refused), hence the runner is passed as an
object with only the ``--dask_*`` options; and its ``wait_until_finish`` calls
``Client.wait_for_workers()`` without the worker count that distributed requires since 2023.10,
hence the job's futures are waited for here. Statistics are the same bytes either way.
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
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DASK_EXTRA = "pip install 'pipecheck[beam]' (it brings dask and distributed)"


class BeamBuildError(RuntimeError):
    """The Beam job did not finish, or finished without writing every planned shard."""


def pipeline_options(beam_options: list[str], workers: int | None = None):
    """``PipelineOptions`` from ``--beam-option`` values; DirectRunner unless they name a runner.

    For the DirectRunner, ``direct_num_workers`` defaults to ``workers`` (else the CPU count) and
    ``direct_running_mode`` to ``multi_processing`` (image checks are CPU-bound Python, so threads
    would share one core); both can be overridden with ``--beam-option``. ``--runner=DaskRunner``
    names Beam's Dask runner (its full module path is accepted too); it takes only ``--dask_*``
    options (``--dask_client_address=tcp://HOST:8786``, or none for a local cluster started here).

    Args:
        beam_options: Command-line style Beam options, e.g. ``["--runner=DataflowRunner", ...]``.
        workers: ``--workers`` of the build.
    """
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    given = {arg.lstrip("-").split("=", 1)[0] for arg in beam_options}
    on_dask = _named_runner(beam_options) in ("DaskRunner", DASK_RUNNER)
    if on_dask or any(name.startswith("dask_") for name in given):
        _dask_options_class()  # registers the --dask_* options before they are parsed
    try:
        options = PipelineOptions(list(beam_options))
        options.get_all_options(retain_unknown_options=False)
    except SystemExit:
        raise InputError(f"invalid --beam-option value(s): {' '.join(beam_options)}") from None
    standard = options.view_as(StandardOptions)
    if on_dask:
        standard.runner = DASK_RUNNER
        dask_client_options(options)  # refuses options the Dask runner cannot take, before any work
        return options
    if any(name.startswith("dask_") for name in given):
        raise InputError("--beam-option=--dask_... needs --beam-option=--runner=DaskRunner")
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    if standard.runner in (DEFAULT_RUNNER, "BundleBasedDirectRunner", "SwitchingDirectRunner"):
        direct = options.view_as(DirectOptions)
        if "direct_num_workers" not in given:
            direct.direct_num_workers = workers or os.cpu_count() or 1
        if "direct_running_mode" not in given:
            direct.direct_running_mode = "multi_processing" if direct.direct_num_workers > 1 else "in_memory"
    return options


def _named_runner(beam_options: list[str]) -> str | None:
    """The ``--runner`` among ``--beam-option`` values, read before Beam parses them."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runner")
    try:
        return parser.parse_known_args(list(beam_options))[0].runner
    except SystemExit:  # a bad value; PipelineOptions reports it
        return None


def _dask_options_class():
    """Beam's ``DaskOptions`` (importing it registers ``--dask_*``); needs dask and distributed."""
    try:
        import distributed  # noqa: F401 - the runner imports it only when the job starts
        from apache_beam.runners.dask.dask_runner import DaskOptions
    except ImportError as exc:
        raise InputError(
            f"the Dask runner needs dask and distributed ({exc.name or exc} is missing): {DASK_EXTRA}"
        ) from None
    return DaskOptions


def dask_client_options(options):
    """Only the ``--dask_*`` options of ``options``, as the Dask runner can hand them to ``Client``.

    Beam 2.61's runner passes every option not at its default to ``distributed.Client``, which
    refuses any it does not know; the Dask runner reads no other option, so others are refused here
    with a line saying so rather than with ``Client``'s traceback.
    """
    import argparse

    from apache_beam.options.pipeline_options import PipelineOptions

    dask_options = _dask_options_class()
    parser = argparse.ArgumentParser(add_help=False)
    dask_options._add_argparse_args(parser)
    dests = set(vars(parser.parse_args([])))
    others = sorted(set(options.get_all_options(drop_default=True)) - dests - {"runner"})
    if others:
        raise InputError(
            f"the Dask runner takes only --dask_* options (--dask_client_address=tcp://HOST:8786, "
            f"--dask_connection_timeout=S, ...); drop: {', '.join('--' + o for o in others)}"
        )
    chosen = {k: v for k, v in options.view_as(dask_options).get_all_options(drop_default=True).items() if k in dests}
    return PipelineOptions([], **chosen)


def is_dask(options) -> bool:
    """Whether ``options`` (from :func:`pipeline_options`) run the build on a Dask cluster."""
    from apache_beam.options.pipeline_options import StandardOptions

    return options.view_as(StandardOptions).runner == DASK_RUNNER


def _run_on_dask(pipeline) -> None:
    """Run ``pipeline`` on the Dask runner and wait for it: any task's exception is raised here.

    Waits on the job's futures itself (the runner's ``wait_until_finish`` fails with distributed
    2023.10 and later) without gathering their results to this process, then closes the client,
    which stops the local cluster it started when no scheduler address was given.
    """
    from distributed import wait

    try:
        result = pipeline.run()  # connects to the scheduler (or starts a local cluster), submits the job
    except OSError as exc:  # distributed's "Timed out trying to connect to tcp://..."
        raise InputError(
            f"cannot reach the Dask scheduler: {exc}; check --beam-option=--dask_client_address "
            "(or leave it out to start a local cluster)"
        ) from None
    try:
        wait(result.futures)
        for future in result.futures:
            if future.status == "error":
                future.result()  # re-raises the worker's exception, with its traceback
    finally:
        result.client.close()


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


def _pipeline(p, planned: Planned, splits: list[str], with_stats: bool):
    """Attach the shard-writing step and, with ``with_stats``, one TFDV branch per split."""
    import apache_beam as beam

    written = (
        p
        | "PlannedShards" >> beam.Create(planned.todo, reshuffle=False)
        | "Spread" >> beam.Reshuffle()  # one shard per worker, never fused into one bundle
        | "WriteShard" >> beam.Map(_write)
    )
    if not with_stats:
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
            ``tf.io.gfile``; with a remote runner they must be (or a filesystem every worker
            mounts at the same path), since its workers cannot see the driver's disk.

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

    on_dask = is_dask(options)
    if on_dask:
        from apache_beam.runners.dask.dask_runner import DaskRunner

        client_options = dask_client_options(options)
    planned = plan_build(opts)
    splits = sorted({t.split for t in planned.tasks})
    # On Dask the driver computes the statistics after the shards, as a local build does (see above).
    in_pipeline = opts.stats and not on_dask
    if in_pipeline:
        fsio.makedirs(fsio.join(planned.staging, stats.STATS_DIR))
    if on_dask and planned.todo:
        pipeline = beam.Pipeline(runner=DaskRunner(), options=client_options)
        _pipeline(pipeline, planned, splits, with_stats=False)
        _run_on_dask(pipeline)
    elif planned.todo or in_pipeline:
        pipeline = beam.Pipeline(options=options)
        _pipeline(pipeline, planned, splits, with_stats=in_pipeline)
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
    written = partial(_statistics_written, planned.staging, splits) if in_pipeline else None
    return finish_build(opts, planned, new, statistics=written)


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
