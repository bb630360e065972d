"""``pipecheck validate``: runs the validator families that apply to the given inputs.

Plain options in, one :class:`Report` out; the CLI only parses flags and renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

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


def run_validate(opts: ValidateOptions) -> Report:
    """Run every applicable family and return one report."""
    report = Report("validate")
    checks_run: list[str] = []
    if opts.data_dir:
        from pipecheck.validators.dataset import check_dataset

        from pipecheck.validators.dataset import CHECKS as DATASET_CHECKS
        from pipecheck.validators.labels import LabelSet
        from pipecheck.validators.leakage import check_leakage
        from pipecheck.validators.schema import check_schema

        integrity = check_dataset(opts.data_dir)
        report.add(integrity)
        checks_run += list(DATASET_CHECKS)
        broken = [f for f in integrity if f.check in ("dataset.shard_missing", "dataset.shard_size")]
        if broken:
            # The other families read every shard; on a damaged copy they would only crash.
            report.summary["skipped"] = (f"labels, leakage, schema and input checks: {len(broken)} shard(s) missing or "
                                         "damaged (run `pipecheck verify` for a per-record check)")
            report.summary["checks_run"] = list(dict.fromkeys(checks_run))
            return report
        # Labels, leakage and schema read only non-image features: no pixel is decoded for them.
        checks_run += _labels(report, LabelSet.from_build(opts.data_dir, allow_empty=opts.allow_empty or None))
        report.add(check_leakage(opts.data_dir))
        report.add(check_schema(opts.data_dir))
        checks_run += _family_ids("leakage", "schema")
        if opts.backbone:
            # The project's own reader must hand the backbone exactly what it expects.
            batches, label_mode, num_classes = _reader_batches(opts)
            checks_run += _input_range(report, batches, opts, subject=f"{opts.data_dir} [{opts.split}]",
                                       label_mode=label_mode, num_classes=num_classes)
    if opts.labels_path:
        checks_run += _labels(report, _table_labels(opts))
    if opts.source:
        from pipecheck.validators.sources import load_source

        source = load_source(opts.source, opts.source_arg)
        report.summary["source"] = source.spec
        checks_run += _input_range(report, source.batches(opts.batches), opts, subject=source.spec)
        checks_run += _generator(report, source, opts)
    report.summary["checks_run"] = list(dict.fromkeys(checks_run))
    return report


def run_input_range(batches: Iterable[Any], opts: ValidateOptions) -> Report:
    """The ``input_range`` part of :func:`run_validate` over any iterable of batches (no loader)."""
    report = Report("validate")
    report.summary["checks_run"] = _input_range(report, batches, opts, subject="batches")
    return report


def _input_range(report: Report, batches: Iterable[Any], opts: ValidateOptions, subject: str,
                 label_mode: str | None = None, num_classes: int | None = None) -> list[str]:
    """Stream ``batches`` once into the input_range family; returns the check ids that ran."""
    from pipecheck.validators.input_range import BACKBONE_FREE_CHECK_IDS, CHECK_IDS, accumulate, diagnose

    stats = accumulate(batches, max_batches=opts.batches)
    report.add(diagnose(stats, opts.backbone, image_size=opts.image_size, label_mode=label_mode,
                        num_classes=num_classes))
    against = f" against {opts.backbone}" if opts.backbone else ""
    report.summary.setdefault("sampled", {})[subject] = f"{stats.images} images in {stats.batches} batches{against}"
    return list(CHECK_IDS) if opts.backbone else list(BACKBONE_FREE_CHECK_IDS)


def _generator(report: Report, source: Any, opts: ValidateOptions) -> list[str]:
    """The generator family on its own fresh walk of the source (it makes one if already consumed)."""
    from pipecheck.validators import registry
    from pipecheck.validators.generator import check_generator, check_generator_static

    report.add(check_generator(source, batches=opts.batches))
    report.add(check_generator_static(source))
    return [c.id for c in registry.all_checks() if c.family == "generator"]


def _reader_batches(opts: ValidateOptions) -> tuple[Iterator[tuple], str, int]:
    """Batches of ``--split`` through :func:`load_dataset`, with the label mode and class count it uses."""
    from pipecheck.pipeline.manifest import read_manifest
    from pipecheck.pipeline.reader import default_label_mode, load_dataset

    manifest = read_manifest(opts.data_dir)
    label_mode = default_label_mode(manifest)
    ds = load_dataset(opts.data_dir, opts.split, backbone=opts.backbone, image_size=opts.image_size,
                      batch_size=_READER_BATCH, label_mode=label_mode)
    return iter(ds.take(opts.batches).as_numpy_iterator()), label_mode, len(manifest["classes"])


def _family_ids(*families: str) -> list[str]:
    from pipecheck.validators import registry

    return [c.id for c in registry.all_checks() if c.family in families]


def _labels(report: Report, labels: Any) -> list[str]:
    """label_skew + class_counts, and the per-split counts the HTML report draws."""
    from pipecheck.validators.labels import check_class_counts, check_label_skew

    report.add(check_label_skew(labels))
    report.add(check_class_counts(labels))
    report.summary["labels"] = {
        "classes": list(labels.classes),
        "multi_label": labels.multi_label,
        "splits": {s: {"images": c.n_images, "positives": c.positives.tolist(), "labels_per_image": c.cardinality.tolist()}
                   for s, c in labels.counts().items()},
    }
    return _family_ids("label_skew", "class_counts")


def _table_labels(opts: ValidateOptions) -> Any:
    """A :class:`LabelSet` from ``--labels TABLE`` (one row per image, a split column)."""
    from pipecheck.pipeline.dump import read_table
    from pipecheck.pipeline.errors import InputError
    from pipecheck.validators.labels import LabelSet

    if bool(opts.label_field) == bool(opts.multi_label_field):
        raise InputError("with --labels give exactly one of --label-field or --multi-label-field")
    column = opts.label_field or opts.multi_label_field
    df = read_table(opts.labels_path)
    for needed in (column, opts.split_field):
        if needed not in df.columns:
            raise InputError(f"{opts.labels_path}: no column {needed!r} (columns: {', '.join(map(str, df.columns))})")
    return LabelSet.from_table(df, column, opts.split_field, opts.label_sep if opts.multi_label_field else None,
                               multi_label=bool(opts.multi_label_field), allow_empty=opts.allow_empty)
