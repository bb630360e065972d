"""``pipecheck validate``: runs the validator families that apply to the given inputs.

Plain options in, one :class:`Report` out; the CLI only parses flags and renders.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from pipecheck.pipeline.labels import LabelMode
from pipecheck.pipeline.progress import Progress, counted, progress_or_none
from pipecheck.validators.findings import Report

_READER_BATCH = 32  # images per batch when sampling a built dataset through the project's reader


@dataclass
class ValidateOptions:
    """What ``pipecheck validate`` was asked to check (mirrors the CLI flags)."""

    data_dir: str | None = None
    source: str | None = None
    source_arg: tuple[str, ...] = field(default_factory=tuple)
    backbone: str | None = None
    image_size: int | None = None
    batches: int = 50
    split: str = "train"
    labels_path: str | None = None
    label_field: str | None = None
    multi_label_field: str | None = None
    label_sep: str | None = None
    split_field: str = "split"
    allow_empty: bool = False
    model: str | None = None
    model_arg: tuple[str, ...] = field(default_factory=tuple)
    preprocessing: str = "auto"
    quality_thresholds: tuple[str, ...] = field(default_factory=tuple)  # --quality-threshold NAME=VALUE


def run_validate(opts: ValidateOptions, progress: Progress | None = None) -> Report:
    """Run every applicable family and return one report.

    ``progress`` hears of the long work: the passes over a build's records (integrity, labels, leakage,
    schema, image quality: one step each) and the batches sampled for the input checks.
    """
    progress = progress_or_none(progress)
    from pipecheck.validators.image_quality import parse_thresholds

    quality_thresholds = parse_thresholds(opts.quality_thresholds)  # a bad one is refused before any work
    report = Report("validate")
    if opts.data_dir:
        if not _build_passes(report, opts, quality_thresholds, progress):
            return report
        if opts.backbone:
            # The project's own reader must hand the backbone exactly what it expects.
            batches, label_mode, num_classes, preprocessing = _reader_batches(opts, report)
            _input_range(
                report,
                batches,
                opts,
                subject=f"{opts.data_dir} [{opts.split}]",
                label_mode=label_mode,
                num_classes=num_classes,
                preprocessing=preprocessing,
                progress=progress,
                total=_reader_batch_count(opts),
            )
    if opts.labels_path is not None:
        _labels(report, _table_labels(opts))
    if opts.source:
        from pipecheck.validators.sources import load_source

        source = load_source(opts.source, opts.source_arg)
        report.summary["source"] = source.spec
        batches, preprocessing = source.batches(opts.batches), opts.preprocessing
        if opts.model:
            batches = _through_model(report, batches, opts)
            preprocessing = "in-data"  # what the backbone receives is judged, wherever it was made
        _input_range(
            report,
            batches,
            opts,
            subject=source.spec,
            preprocessing=preprocessing,
            progress=progress,
            total=opts.batches,
        )
        if opts.backbone:
            _source_channel_order(report, source, opts)
        _generator(report, source, opts)
    _soften_for_untrained(report)
    return report


_UNTRAINED = "untrained (weights=None: every BatchNormalization at its initial statistics)"


def _note_untrained(report: Report, stage: Any) -> None:
    if stage.untrained:
        report.summary["backbone weights"] = _UNTRAINED


def _soften_for_untrained(report: Report) -> None:
    """A backbone trained from scratch has no ImageNet input statistics to match: the value-regime
    findings (x/255, raw pixels, the other mode, channel order) become info, ``out_of_range`` a
    warning, each saying so. Sizes stay as they are: they are the architecture's.
    """
    if report.summary.get("backbone weights") != _UNTRAINED:
        return
    from pipecheck.validators.findings import Severity
    from pipecheck.validators.input_range import CHANNEL_ORDER_SWAPPED, OUT_OF_RANGE, REGIME_CHECKS

    regime = {c.id for c in REGIME_CHECKS.values()} | {CHANNEL_ORDER_SWAPPED.id}
    for i, f in enumerate(report.findings):
        if f.check in regime or f.check == OUT_OF_RANGE.id:
            severity = Severity.INFO if f.check in regime else min(f.severity, Severity.WARNING, key=lambda s: s.rank)
            report.findings[i] = dataclasses.replace(
                f,
                severity=severity,
                message=f"{f.message}; the backbone in --model is untrained (weights=None), so this matters only "
                "once you load pretrained weights",
            )


def _source_channel_order(report: Report, source: Any, opts: ValidateOptions) -> None:
    """The channel order as the source's code reads images (OpenCV's BGR), beside what the pixels said."""
    from pipecheck.validators.input_range import backbone_info
    from pipecheck.validators.input_range.order import CHANNEL_ORDER_SWAPPED
    from pipecheck.validators.input_range.order_source import (
        channel_order_from_source,
        merge_source_evidence,
        scan_order,
    )

    model = None
    if opts.model is not None:
        from pipecheck.validators.sources import import_object

        model = opts.model if not isinstance(opts.model, str) else import_object(opts.model, "--model")
    try:
        scan = scan_order(source, model)
    except Exception as exc:  # noqa: BLE001 - reading code is best effort: never a reason to stop validate
        report.summary["source code"] = f"not read ({type(exc).__name__}: {exc})"
        return
    if not scan.reads or scan.reorders:
        return
    bb = backbone_info(opts.backbone)
    for i, seen in enumerate(report.findings):
        if seen.check == CHANNEL_ORDER_SWAPPED.id and seen.subject == bb.name:
            report.findings[i] = merge_source_evidence(seen, scan)
            return
    finding = channel_order_from_source(scan, bb, bb.name)
    if finding is not None:
        report.add(finding)


def _build_passes(report: Report, opts: ValidateOptions, quality_thresholds: tuple, progress: Progress) -> bool:
    """The passes over a build's records (integrity, labels, leakage, schema, image quality); False when
    the build's files are broken and the other families were skipped (said in ``summary["skipped"]``).
    """
    from pipecheck.validators import registry
    from pipecheck.validators.dataset import CHECKS as DATASET_CHECKS
    from pipecheck.validators.dataset import CLASSES_MISMATCH, SHARD_MISSING, SHARD_SIZE, check_dataset
    from pipecheck.validators.image_quality import check_image_quality
    from pipecheck.validators.labels import LabelSet
    from pipecheck.validators.leakage import check_leakage
    from pipecheck.validators.schema import check_schema

    progress.start(5, "checking the build", "passes")
    integrity = check_dataset(opts.data_dir)
    report.add(integrity)
    progress.advance()
    report.ran(registry.ids(*DATASET_CHECKS))
    broken = [f for f in integrity if f.check in registry.ids(SHARD_MISSING, SHARD_SIZE, CLASSES_MISMATCH)]
    if broken:
        # The other families read every shard; on a damaged copy they would only crash.
        report.summary["skipped"] = (
            f"labels, leakage, schema, image quality and input checks: {len(broken)} problem(s) with the "
            "build's files (run `pipecheck verify` for a per-record check)"
        )
        progress.finish()
        return False
    # Labels, leakage, schema and image quality read only non-image features: no pixel is decoded for them.
    _labels(report, LabelSet.from_build(opts.data_dir, allow_empty=opts.allow_empty or None))
    progress.advance()
    report.add(check_leakage(opts.data_dir))
    progress.advance()
    report.add(check_schema(opts.data_dir))
    progress.advance()
    findings, report.summary["image_quality"] = check_image_quality(opts.data_dir, *quality_thresholds)
    report.add(findings)
    progress.advance()
    progress.finish()
    report.ran(registry.ids("leakage", "schema", "image_quality"))
    return True


def run_input_range(batches: Iterable[Any], opts: ValidateOptions) -> Report:
    """The ``input_range`` part of :func:`run_validate` over any iterable of batches (no loader)."""
    report = Report("validate")
    _input_range(report, batches, opts, subject="batches")
    return report


def _input_range(
    report: Report,
    batches: Iterable[Any],
    opts: ValidateOptions,
    subject: str,
    label_mode: LabelMode | None = None,
    num_classes: int | None = None,
    preprocessing: str | None = None,
    progress: Progress | None = None,
    total: int = 0,
) -> None:
    """Stream ``batches`` once into the input_range family (``total`` of them expected, as progress)."""
    from pipecheck.validators import registry
    from pipecheck.validators.input_range import BACKBONE_FREE_CHECK_IDS, CHECK_IDS, accumulate, diagnose

    progress = progress_or_none(progress)
    progress.start(total, "sampling", "batches")
    stats = accumulate(counted(batches, progress), max_batches=opts.batches)
    progress.finish()
    report.add(
        diagnose(
            stats,
            opts.backbone,
            image_size=opts.image_size,
            label_mode=label_mode,
            num_classes=num_classes,
            preprocessing=preprocessing or opts.preprocessing,
        )
    )
    if opts.backbone:
        from pipecheck.validators.input_range.visuals import input_visuals

        visuals = input_visuals(stats, opts.backbone, preprocessing or opts.preprocessing)
        if visuals is not None:
            report.summary["input_visuals"] = visuals  # drawn by the HTML report only (Report.to_dict)
    against = f" against {opts.backbone}" if opts.backbone else ""
    report.summary.setdefault("sampled", {})[subject] = f"{stats.images} images in {stats.batches} batches{against}"
    report.ran(registry.ids(*(CHECK_IDS if opts.backbone else BACKBONE_FREE_CHECK_IDS)))


def _generator(report: Report, source: Any, opts: ValidateOptions) -> None:
    """The generator family on its own fresh walk of the source (it makes one if already consumed)."""
    from pipecheck.validators import registry
    from pipecheck.validators.generator import check_generator, check_generator_static

    report.add(check_generator(source, batches=opts.batches))
    report.add(check_generator_static(source))
    report.ran(registry.ids("generator"))


def _reader_batch_count(opts: ValidateOptions) -> int:
    """Batches :func:`_reader_batches` yields: ``--batches``, or fewer when ``--split`` holds fewer images."""
    import math

    from pipecheck.pipeline.manifest import load_manifest

    splits = load_manifest(opts.data_dir).splits
    examples = splits[opts.split].examples if opts.split in splits else 0
    return min(opts.batches, math.ceil(examples / _READER_BATCH))


def _reader_batches(opts: ValidateOptions, report: Report) -> tuple[Iterator[tuple], LabelMode, int, str]:
    """Batches of ``--split`` through :func:`load_dataset`, with the label mode, class count and where
    the backbone's preprocessing happens (the reader's, or the model's: then the reader feeds raw pixels
    and the batches pass through the model's input stage).
    """
    from pipecheck.pipeline.manifest import load_manifest
    from pipecheck.pipeline.reader import load_dataset
    from pipecheck.validators.input_range import backbone_info

    manifest = load_manifest(opts.data_dir)
    label_mode = LabelMode.for_data(manifest.multi_label)
    num_classes = len(manifest.classes)
    bb = backbone_info(opts.backbone)
    size = opts.image_size or bb.default_size

    def read(preprocess: bool):
        ds = load_dataset(
            opts.data_dir,
            opts.split,
            backbone=opts.backbone if preprocess else None,
            image_size=size,
            batch_size=_READER_BATCH,
            label_mode=label_mode,
        )
        return ds.take(opts.batches).as_numpy_iterator()

    placement = model_placement(opts.data_dir, opts.backbone, size, opts.model, opts.model_arg, opts.preprocessing)
    report.summary["preprocessing"] = placement.text
    if placement.stage is not None:
        report.summary["model input stage"] = placement.stage.describe()
        _note_untrained(report, placement.stage)
        from pipecheck.validators.input_range.model_input import through_stage

        return through_stage(read(not placement.in_model), placement.stage), label_mode, num_classes, "in-data"
    return iter(read(not placement.in_model)), label_mode, num_classes, opts.preprocessing


@dataclass
class Placement:
    """Where the backbone's preprocessing happens for a built dataset read by pipecheck's reader.

    Attributes:
        in_model: The model applies it: the reader must feed raw [0, 255] pixels.
        text: One line for the report (declared or detected, and what that means for the reader).
        stage: The model's input stage, when a model was given.
    """

    in_model: bool
    text: str
    stage: Any = None


def model_placement(
    data_dir: str, backbone: str | None, size: int, model: str | None, model_arg: tuple[str, ...], preprocessing: str
) -> Placement:
    """Decide whether the reader or the model applies the backbone's preprocessing.

    Declared with ``preprocessing`` (``in-data``/``in-model``); with ``auto`` and a model, detected: the
    model's input stage is run on one raw batch and counts as preprocessing when it changes pixel values.
    """
    if model is None:
        in_model = preprocessing == "in-model"
        return Placement(
            in_model,
            "in-model (declared): the reader feeds raw pixels"
            if in_model
            else "in-data: the reader applies the backbone's preprocess_input",
        )
    from pipecheck.pipeline.manifest import load_manifest
    from pipecheck.pipeline.reader import load_dataset
    from pipecheck.validators.input_range import backbone_info
    from pipecheck.validators.input_range.model_input import build_model, input_stage

    manifest = load_manifest(data_dir)
    built = build_model(
        model,
        model_arg,
        {
            "num_classes": len(manifest.classes),
            "input_shape": (size, size, 3),
            "image_size": size,
            "multi_label": manifest.multi_label,
        },
    )
    bb = backbone_info(backbone) if backbone else None
    stage = input_stage(built, backbone_preprocesses=bool(bb and bb.mode == "none"))
    if preprocessing == "auto":
        raw = load_dataset(
            data_dir,
            "train",
            image_size=size,
            batch_size=_READER_BATCH,
            label_mode=LabelMode.for_data(manifest.multi_label),
        )
        probe = next(iter(raw.take(1).as_numpy_iterator()), None)
        in_model, how = probe is not None and stage.changes_values(probe[0]), "detected"
    else:
        in_model, how = preprocessing == "in-model", "declared"
    text = (
        f"in-model ({how}): the reader feeds raw pixels to the model"
        if in_model
        else f"in-data ({how}): the reader applies the backbone's preprocess_input"
    )
    return Placement(in_model, text, stage)


def _through_model(report: Report, batches: Iterator[Any], opts: ValidateOptions) -> Iterator[Any]:
    """``--source`` batches passed through the ``--model``'s input stage (the model built for their shape)."""
    import itertools

    import numpy as np

    from pipecheck.validators.input_range import backbone_info
    from pipecheck.validators.input_range.model_input import build_model, input_stage, through_stage
    from pipecheck.validators.input_range.stats import as_array

    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return iter(())
    x = as_array(first[0], "batch x")
    offered: dict[str, Any] = {"input_shape": tuple(int(s) for s in x.shape[1:]), "image_size": int(x.shape[1])}
    if len(first) > 1:
        y = np.asarray(as_array(first[1], "batch y"))
        offered["num_classes"] = (
            int(y.shape[-1]) if y.ndim == 2 and y.shape[-1] > 1 else int(y.max()) + 1 if y.size else None
        )
        offered["multi_label"] = bool(y.ndim == 2 and (y.sum(axis=-1) > 1).any())
    model = build_model(opts.model, opts.model_arg, offered)
    bb = backbone_info(opts.backbone) if opts.backbone else None
    stage = input_stage(model, backbone_preprocesses=bool(bb and bb.mode == "none"))
    report.summary["model input stage"] = stage.describe()
    _note_untrained(report, stage)
    return through_stage(itertools.chain([first], batches), stage)


def _labels(report: Report, labels: Any) -> None:
    """label_skew + class_counts, and the per-split counts the HTML report draws."""
    from pipecheck.validators import registry
    from pipecheck.validators.labels import check_class_counts, check_label_skew

    report.add(check_label_skew(labels))
    report.add(check_class_counts(labels))
    report.summary["labels"] = {
        "classes": list(labels.classes),
        "multi_label": labels.multi_label,
        "splits": {
            s: {"images": c.n_images, "positives": c.positives.tolist(), "labels_per_image": c.cardinality.tolist()}
            for s, c in labels.counts().items()
        },
    }
    report.ran(registry.ids("label_skew", "class_counts"))


def _table_labels(opts: ValidateOptions) -> Any:
    """A :class:`LabelSet` from ``--labels TABLE`` (one row per image, a split column)."""
    from pipecheck.pipeline.dump import read_table
    from pipecheck.pipeline.errors import InputError
    from pipecheck.validators.labels import LabelSet

    if bool(opts.label_field) == bool(opts.multi_label_field):
        raise InputError("with --labels give exactly one of --label-field or --multi-label-field")
    column = opts.label_field or opts.multi_label_field
    given = hasattr(opts.labels_path, "columns")  # the Python API passes a DataFrame
    df = opts.labels_path if given else read_table(opts.labels_path)
    where = "the labels DataFrame" if given else opts.labels_path
    if len(df) == 0:
        raise InputError(
            f"{where}: the table has a header and no rows; point --labels at the table that lists one image per row"
        )
    for needed in (column, opts.split_field):
        if needed not in df.columns:
            raise InputError(f"{where}: no column {needed!r} (columns: {', '.join(map(str, df.columns))})")
    return LabelSet.from_table(
        df,
        column,
        opts.split_field,
        opts.label_sep if opts.multi_label_field else None,
        multi_label=bool(opts.multi_label_field),
        allow_empty=opts.allow_empty,
    )


def placed_for_training(topts: Any, preprocessing: str) -> Any:
    """``train-check`` options whose reader feeds raw pixels when the model applies the preprocessing.

    The reader applies ``--backbone``'s preprocess_input; a model that applies it too would train on
    doubly preprocessed (nearly constant) input, so where the model preprocesses (declared, or detected
    as in :func:`model_placement`) the reader keeps only the backbone's size.
    """
    from pipecheck.validators.input_range import backbone_info

    if not topts.backbone or preprocessing == "in-data":
        return topts
    size = topts.image_size or backbone_info(topts.backbone).default_size
    placement = model_placement(topts.data_dir, topts.backbone, size, topts.model, topts.model_arg, preprocessing)
    return dataclasses.replace(topts, backbone=None, image_size=size) if placement.in_model else topts
