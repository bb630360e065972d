"""``pipecheck validate``: runs the validator families that apply to the given inputs.

Plain options in, one :class:`Report` out; the CLI only parses flags and renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipecheck.validators.findings import Report


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
    report.summary["checks_run"] = checks_run
    return report
