"""``pipecheck split``: re-split a built dataset or a label table with iterative stratification, and
judge the new split with the label families (``label_skew`` and ``class_counts``).

Plain options in, one :class:`Report` out (like ``validate.py`` for ``validate``); the CLI only parses
flags and renders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipecheck.pipeline.errors import InputError
from pipecheck.validators.findings import Report


@dataclass
class SplitOptions:
    """What ``pipecheck split`` was asked to do (mirrors the CLI flags)."""

    out_path: str
    data_dir: str | None = None
    labels_path: str | None = None
    label_field: str | None = None
    multi_label_field: str | None = None
    label_sep: str | None = None
    split_field: str = "split"
    group_field: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 0
    overwrite: bool = False


def run_split(opts: SplitOptions) -> Report:
    """Write the re-split (a dataset folder from ``data_dir``, a table from ``labels_path``) to
    ``out_path``; the report judges the new split and gives per-class prevalence and LD/FLZ before
    and after.

    Raises:
        InputError: Not exactly one of ``data_dir``/``labels_path``, unusable label options, an
            existing ``out_path`` without ``overwrite``, or an empty table.
    """
    from pipecheck.pipeline.resplit import fractions_for
    from pipecheck.validators import registry
    from pipecheck.validators.labels import check_class_counts, check_label_skew, prevalence_table, split_metrics

    if bool(opts.data_dir) == bool(opts.labels_path):
        raise InputError("give exactly one of --data DIR or --labels TABLE")
    fractions = fractions_for(opts.val_fraction, opts.test_fraction)
    before, after = _resplit_build(opts, fractions) if opts.data_dir else _resplit_table(opts, fractions)
    report = Report("split", check_label_skew(after) + check_class_counts(after))
    report.ran(registry.ids("label_skew", "class_counts"))
    after_table = prevalence_table(after)
    before_table = prevalence_table(before) if before is not None else {}
    report.summary["out"] = opts.out_path
    report.summary["prevalence (before -> after)"] = {
        c: (" ".join(f"{s} {p:.2%}" for s, p in before_table.get(c, {}).items()) + " -> " if before_table else "")
        + " ".join(f"{s} {p:.2%}" for s, p in after_table[c].items())
        for c in after.classes
    }
    if before is not None:
        report.summary["before"] = split_metrics(before)
    report.summary["after"] = split_metrics(after)
    return report


def _resplit_build(opts: SplitOptions, fractions: dict[str, float]) -> tuple:
    """A built dataset re-split into a new folder; its label sets before and after."""
    from pipecheck.pipeline.resplit import resplit_dataset
    from pipecheck.validators.labels import LabelSet

    before = LabelSet.from_build(opts.data_dir)
    resplit_dataset(
        opts.data_dir,
        opts.out_path,
        fractions=fractions,
        seed=opts.seed,
        group_field=opts.group_field,
        overwrite=opts.overwrite,
    )
    return before, LabelSet.from_build(opts.out_path)


def _resplit_table(opts: SplitOptions, fractions: dict[str, float]) -> tuple:
    """A label table with a new split column written to ``out_path``; its label sets before (None when
    the table had no split column) and after.
    """
    from pipecheck.pipeline.dump import read_table, write_table
    from pipecheck.pipeline.resplit import resplit_table
    from pipecheck.validators.labels import LabelSet

    if bool(opts.label_field) == bool(opts.multi_label_field):
        raise InputError("with --labels give exactly one of --label-field or --multi-label-field")
    if os.path.exists(opts.out_path) and not opts.overwrite:
        raise InputError(f"{opts.out_path} exists; pass --overwrite to replace it")
    column = opts.label_field or opts.multi_label_field
    df = read_table(opts.labels_path)
    if len(df) == 0:
        raise InputError(
            f"{opts.labels_path}: the table has a header and no rows; point --labels at the table that "
            "lists one image per row"
        )
    sep = opts.label_sep if opts.multi_label_field else None
    multi = bool(opts.multi_label_field)
    split_field = opts.split_field
    before = LabelSet.from_table(df, column, split_field, sep, multi_label=multi) if split_field in df.columns else None
    df = df.copy()
    df[split_field] = resplit_table(
        df, column, sep=sep, fractions=fractions, group_column=opts.group_field, seed=opts.seed
    )
    write_table(df, opts.out_path)
    after = LabelSet.from_table(df, column, split_field, sep, multi_label=multi, target_fractions=fractions)
    return before, after
