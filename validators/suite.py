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


def run_validate(opts: ValidateOptions) -> Report:
    """Run every applicable family and return one report."""
    report = Report("validate")
    checks_run: list[str] = []
    if opts.data_dir:
        from pipecheck.validators.dataset import check_dataset

        report.add(check_dataset(opts.data_dir))
        checks_run += ["dataset.manifest", "dataset.shards"]
        if opts.backbone:
            # The project's own reader must hand the backbone exactly what it expects.
            batches, label_mode, num_classes = _reader_batches(opts)
            checks_run += _input_range(report, batches, opts, subject=f"{opts.data_dir} [{opts.split}]",
                                       label_mode=label_mode, num_classes=num_classes)
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
