"""``pipecheck gate``: ``validate``, then (only if nothing failed) ``train-check``, as one report.

Plain options in, one :class:`Report` out (like ``validate.py`` and ``train_check.py``); running the
user's training command after a pass is the face's part (``pipecheck/gate.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from pipecheck.pipeline.progress import Progress
from pipecheck.validators.findings import HTML_ONLY_SUMMARY, Report, Severity
from pipecheck.validators.runners.train_check import TrainCheckOptions, run_train_check_on_data
from pipecheck.validators.runners.validate import ValidateOptions, run_validate


def run_gate(
    validate: ValidateOptions,
    train: TrainCheckOptions | None,
    fail_on: Severity,
    ignore: Sequence[str] = (),
    progress: Progress | None = None,
) -> Report:
    """One ``gate`` report: validate's findings, then train-check's unless validate already failed.

    ``ignore`` is applied before that decision: an ignored check must neither fail the gate nor
    stop train-check from running. ``progress`` hears of both parts' long work. ``checks_run`` is
    what both parts ran.
    """
    first = run_validate(validate, progress=progress).without(ignore)
    first.fail_on = fail_on
    report = Report("gate", list(first.findings), fail_on=fail_on, checks_run=list(first.checks_run))
    # Per-class counts and the HTML report's pictures go to the top, where the reports look for them.
    lifted = {"labels", *HTML_ONLY_SUMMARY}
    report.summary["validate"] = {k: v for k, v in first.summary.items() if k not in lifted}
    report.summary.update({k: v for k, v in first.summary.items() if k in lifted})
    if train is None:
        report.summary["train-check"] = "not run (no --model)"
    elif first.failing():
        report.summary["train-check"] = (
            f"skipped: validate found {len(first.failing())} problem(s) at or above {fail_on.value}"
        )
    else:
        if str(first.summary.get("preprocessing", "")).startswith("in-model") and train.backbone:
            # validate found (or was told) that the model applies the backbone's preprocessing: the
            # training run's reader must then feed raw pixels, as validate's did.
            from pipecheck.validators.input_range import backbone_info

            size = train.image_size or backbone_info(train.backbone).default_size
            train = dataclasses.replace(train, backbone=None, image_size=size)
        second = run_train_check_on_data(train, progress=progress)
        report.add(second.findings)
        report.summary["train-check"] = {k: v for k, v in second.summary.items() if k != "gradient_norm_by_layer"}
        report.ran(second.checks_run)
    return report
