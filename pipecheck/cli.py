"""The ``pipecheck`` command line. Exit codes: 0 pass, 1 findings at/above ``--fail-on``, 2 usage or
unreadable input (one line on stderr, never a traceback; ``PIPECHECK_DEBUG=1`` shows it), 3 an internal
error (one line, "please report"), 130 interrupted.

Exit codes live on exception types (click's ``UsageError`` and :class:`InputError` → 2; ``_Group``
maps any other exception to 3 and Ctrl-C to 130, for every command) and on the report
(:attr:`Report.exit_code`). Every command is thin: options → ``run_<command>(options) -> Report``
(in ``validators/``) → :func:`write_report` → exit with the report's code.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from pipecheck import __version__
from pipecheck.pipeline.errors import InputError
from pipecheck.validators.findings import Report, Severity

FORMAT = click.Choice(["text", "json", "junit", "markdown"])
FAIL_ON = click.Choice(["error", "warning", "info"])
PREPROCESSING = click.Choice(["auto", "in-data", "in-model"])


def _set_verbose(ctx: click.Context, _param: Any, value: bool) -> bool:
    ctx.meta["pipecheck.verbose"] = value
    return value


def report_options(fn):
    """Options shared by every command that emits a report."""
    fn = click.option(
        "--verbose",
        "-v",
        is_flag=True,
        expose_value=False,
        callback=_set_verbose,
        help="List every finding with its evidence (text/markdown group the findings of one check).",
    )(fn)
    fn = click.option("--ignore", multiple=True, metavar="CHECK", help="Check id or family to drop (repeatable).")(fn)
    fn = click.option(
        "--fail-on", type=FAIL_ON, default="error", show_default=True, help="Lowest severity that fails (exit 1)."
    )(fn)
    fn = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True),
        help="Write the report here instead of stdout.",
    )(fn)
    fn = click.option("--format", "fmt", type=FORMAT, default="text", show_default=True, help="Report format.")(fn)
    return fn


def progress_option(fn):
    """``--progress/--no-progress`` of the commands that do long work (see ``pipecheck/progress.py``)."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress on stderr: a bar on a terminal; elsewhere plain lines (by default only where "
        "the CI variable is set). --no-progress: none.",
    )(fn)


def finalize(report: Report, fail_on: str, ignore: tuple[str, ...] = ()) -> Report:
    """The report as the user asked for it: ``--ignore`` applied, judged at ``--fail-on``."""
    report.fail_on = Severity.parse(fail_on)
    return report.without(ignore)


def write_report(
    report: Report,
    fmt: str,
    output: str | None,
    fail_on: str,
    ignore: tuple[str, ...] = (),
    html_path: str | None = None,
) -> Report:
    """Judge the report as asked (:func:`finalize`), render it to stdout or a file (atomically), and
    the HTML page too with ``html_path``; returns the judged report, whose ``exit_code`` the command
    exits with.
    """
    from pipecheck.render import render

    report = finalize(report, fail_on, ignore)
    if html_path:
        from pipecheck.html import write_html

        write_html(report, html_path)
    ctx = click.get_current_context(silent=True)
    verbose = bool(ctx and ctx.meta.get("pipecheck.verbose"))
    if output:
        text = render(report, fmt, verbose=verbose)
        from pipecheck.pipeline.fsio import write_atomic

        write_atomic(output, text.encode("utf-8"))
        if fmt != "text":
            click.echo(render(report, "text", color=sys.stdout.isatty(), verbose=verbose), nl=False)
    else:
        click.echo(render(report, fmt, color=fmt == "text" and sys.stdout.isatty(), verbose=verbose), nl=False)
    return report


class InputFailure(click.ClickException):
    """Unreadable input or unusable options: exit 2 with one line naming the path and the fix."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"pipecheck: error: {self.format_message()}", err=True)


class InternalFailure(click.ClickException):
    """A bug in pipecheck (or an error nobody foresaw): exit 3, never 1, which means "findings"."""

    exit_code = 3

    def show(self, file=None) -> None:
        click.echo(
            f"pipecheck: internal error: {self.format_message()} (please report it; PIPECHECK_DEBUG=1 shows "
            "the traceback)",
            err=True,
        )


class _Group(click.Group):
    """Exit codes CI can trust: input errors raised anywhere below exit 2 with one line, Ctrl-C exits
    130, and any other exception exits 3 with one line (``PIPECHECK_DEBUG=1`` re-raises).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (InputError, OSError) as exc:
            if os.environ.get("PIPECHECK_DEBUG"):
                raise
            raise InputFailure(_one_line(exc)) from exc
        except ValueError as exc:
            if os.environ.get("PIPECHECK_DEBUG"):
                raise
            if "embedded null" not in str(exc):  # "embedded null byte" (3.11/3.12), "... null character" (3.13)
                raise InternalFailure(f"{type(exc).__name__}: {_one_line(exc)}") from exc
            # os functions refuse a path holding NUL with a ValueError: it is the user's path, not a bug.
            raise InputFailure("a path given on the command line holds a NUL byte; pass the file's real name") from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("pipecheck: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 3
            if os.environ.get("PIPECHECK_DEBUG"):
                raise
            raise InternalFailure(f"{type(exc).__name__}: {_one_line(exc)}") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="pipecheck")
def cli() -> None:
    """Stop image-classifier training runs from failing silently."""
    import warnings

    # Google client libraries pulled in by TensorFlow/TFDV warn about Python versions on import;
    # that says nothing about the user's data and would bury the report.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google(\..*)?$")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF 2.16 logs cuFFT/cuDNN "errors" on CPU-only machines


# ---------------------------------------------------------------------------------------------
@cli.command("build-tfrecords")
@click.argument("dump", type=click.Path(file_okay=False, readable=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--manifest", type=click.Path(dir_okay=False), help="labels.csv|.jsonl|.parquet instead of sidecars.")
@click.option(
    "--path-column", default="path", show_default=True, help="Manifest column with image paths (relative to DUMP)."
)
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Search DUMP recursively.")
@click.option("--label-field", help="Single-label field; dotted path into nested JSON (e.g. taxon.species).")
@click.option("--multi-label-field", help="Multi-label field: a list, or a delimited string with --label-sep.")
@click.option("--label-sep", default=None, help="Separator for string-valued multi-labels (e.g. ',' or '|').")
@click.option("--allow-empty", is_flag=True, help="Keep multi-label images with no labels (negatives).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True)
@click.option("--test-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--split-field", help="Use this field's existing split (train/val/test) instead of splitting.")
@click.option("--group-field", help="All images sharing this field's value land in one split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--max-side", type=click.IntRange(min=1), help="Downscale so the longer side is at most N (re-encoded as JPEG)."
)
@click.option(
    "--min-side",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Reject images whose shorter side is below N.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=89_478_485,
    show_default=True,
    help="Reject larger images (decompression bombs).",
)
@click.option(
    "--jpeg-quality",
    type=click.IntRange(50, 100),
    default=None,
    help="Quality of re-encoded JPEGs (default: a re-encoded JPEG keeps its own quantization tables and chroma subsampling; other sources 95).",
)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option(
    "--runner",
    type=click.Choice(["local", "beam"]),
    default="local",
    show_default=True,
    help="local: worker processes here; beam: an Apache Beam pipeline (DirectRunner unless --beam-option names another).",
)
@click.option(
    "--beam-option",
    "beam_options",
    multiple=True,
    metavar="--NAME=VALUE",
    help="Apache Beam pipeline option (repeatable), e.g. --beam-option=--runner=DataflowRunner; on a Dask cluster "
    "--beam-option=--runner=DaskRunner --beam-option=--dask_client_address=tcp://HOST:8786.",
)
@click.option("--shard-size-mb", type=click.FloatRange(min=0.001), default=128.0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty output folder.")
@click.option("--resume", is_flag=True, help="Finish an interrupted build, reusing its completed shards.")
@click.option("--follow-symlinks", is_flag=True, help="Follow symlinks that point outside the dump.")
@click.option(
    "--stats/--no-stats",
    default=True,
    show_default=True,
    help="Write TFDV statistics of labels and metadata to OUT/stats/.",
)
@click.option(
    "--max-metadata-keys",
    type=click.IntRange(min=0),
    default=256,
    show_default=True,
    help="Keep the N most frequent sidecar metadata keys (ties by name); the rest go in no record (reported).",
)
@click.option(
    "--quality/--no-quality",
    default=True,
    show_default=True,
    help="Measure image quality in the decode; flagged images go to image_quality.jsonl.",
)
@click.option(
    "--quality-threshold",
    "quality_thresholds",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override an image-quality threshold, e.g. blurry_sharpness=0.3 (see docs/checks.md).",
)
@progress_option
@report_options
def build_tfrecords(
    dump: str,
    out_dir: str,
    fmt: str,
    output: str | None,
    fail_on: str,
    ignore: tuple,
    progress,
    runner: str,
    beam_options: tuple,
    **options: Any,
) -> None:
    """Pair images with metadata in DUMP, check/repair/reject each, split, write sharded TFRecords."""
    from pipecheck.pipeline.build import BuildOptions
    from pipecheck.pipeline.workers import keep_heap
    from pipecheck.progress import reporting
    from pipecheck.validators.build import run_build

    keep_heap()  # this process is the command's own; a one-worker build checks its images here
    opts = BuildOptions(dump=dump, out=out_dir, **options)
    opts.thresholds  # noqa: B018 - a bad --quality-threshold is refused before any work
    try:
        # Beam reports no progress of its own: its runner prints its own log.
        with reporting("build-tfrecords", progress if runner == "local" else False) as shown:
            report = run_build(opts, runner, beam_options, progress=shown)
    except KeyboardInterrupt:
        click.echo(
            "pipecheck: interrupted; complete shards are kept, run the same command with --resume to finish", err=True
        )
        sys.exit(130)
    sys.exit(write_report(report, fmt, output, fail_on, ignore).exit_code)


# ---------------------------------------------------------------------------------------------
@cli.command("validate")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="A folder built by build-tfrecords.")
@click.option("--source", help="module.path:callable returning batches (tf.data, PyDataset, generator, ...).")
@click.option("--source-arg", multiple=True, metavar="K=V", help="Keyword argument for the --source callable.")
@click.option("--backbone", help="keras.applications backbone the data feeds (see `pipecheck backbones`).")
@click.option("--image-size", type=click.IntRange(min=1), help="Input side the model uses (default: the backbone's).")
@click.option("--batches", type=click.IntRange(min=1), default=50, show_default=True, help="Batches to sample.")
@click.option("--split", default="train", show_default=True, help="Split of --data to sample images from.")
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False),
    help="A label table (.csv/.jsonl/.parquet) to check without images.",
)
@click.option("--label-field", help="Single-label column of --labels.")
@click.option("--multi-label-field", help="Multi-label column of --labels (list, or string with --label-sep).")
@click.option("--label-sep", default=None, help="Separator of string-valued multi-labels in --labels.")
@click.option("--split-field", default="split", show_default=True, help="Split column of --labels.")
@click.option("--allow-empty", is_flag=True, help="Images with no label are valid negatives (multi-label).")
@click.option(
    "--model", help="module.path:factory returning your keras.Model: the range is judged where its backbone starts."
)
@click.option("--model-arg", multiple=True, metavar="K=V", help="Keyword argument for the --model factory.")
@click.option(
    "--preprocessing",
    type=PREPROCESSING,
    default="auto",
    show_default=True,
    help="Where the backbone's preprocess_input runs: in-data (the pipeline), in-model (your model), auto (ask --model, or say both).",
)
@click.option(
    "--quality-threshold",
    "quality_thresholds",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override an image-quality threshold or judgement, e.g. dark_p95=30, alpha=0.01 (see docs/checks.md).",
)
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report here."
)
@progress_option
@report_options
def validate(
    fmt: str,
    output: str | None,
    fail_on: str,
    ignore: tuple,
    html_path: str | None,
    progress: bool | None,
    **options: Any,
) -> None:
    """Check a built dataset, a label table, or your own input pipeline (backbone input, generator, labels)."""
    from pipecheck.progress import reporting
    from pipecheck.validators.runners.validate import ValidateOptions, run_validate

    if not (options["data_dir"] or options["source"] or options["labels_path"]):
        raise InputFailure("give --data OUT_DIR, --labels TABLE or --source module:callable")
    with reporting("validate", progress) as shown:
        report = run_validate(ValidateOptions(**options), progress=shown)
    sys.exit(write_report(report, fmt, output, fail_on, ignore, html_path).exit_code)


# ---------------------------------------------------------------------------------------------
def train_options(fn):
    """Options of the short verified training run (train-check and gate)."""
    for opt in reversed(
        [
            click.option(
                "--model", "model", help="module.path:factory returning a keras.Model (compiled, or pass --loss)."
            ),
            click.option("--model-arg", multiple=True, metavar="K=V", help="Keyword argument for the model factory."),
            click.option(
                "--steps",
                type=click.IntRange(min=4),
                default=60,
                show_default=True,
                help="Training steps of the short run.",
            ),
            click.option(
                "--run-steps",
                type=click.IntRange(min=1),
                help="Steps of your real training run (BatchNorm momentum is judged against it; default 3000).",
            ),
            click.option("--batch-size", type=click.IntRange(min=2), default=16, show_default=True),
            click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True),
            click.option(
                "--optimizer", help="Optimizer name for an uncompiled model (or to override), e.g. adam, rmsprop."
            ),
            click.option("--lr", type=float, help="Learning rate to compile with."),
            click.option("--loss", help="Loss for an uncompiled model, e.g. categorical_crossentropy."),
            click.option(
                "--frozen", multiple=True, metavar="LAYER", help="Layer or sub-model meant to stay frozen (repeatable)."
            ),
            click.option(
                "--preprocessing",
                type=PREPROCESSING,
                default="auto",
                show_default=True,
                help="Where the backbone's preprocess_input runs: in-data (the reader applies it), in-model (your "
                "model does; the reader feeds raw pixels), auto (detected from the model's first layers).",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def _train_opts(data_dir: str, backbone: str | None, image_size: int | None, o: dict) -> Any:
    from pipecheck.validators.runners.train_check import TrainCheckOptions

    return TrainCheckOptions(
        model=o["model"],
        data_dir=data_dir,
        backbone=backbone,
        image_size=image_size,
        steps=o["steps"],
        batch_size=o["batch_size"],
        device=o["device"],
        optimizer=o["optimizer"],
        lr=o["lr"],
        loss=o["loss"],
        model_arg=o["model_arg"],
        frozen=o["frozen"],
        run_steps=o["run_steps"],
    )


@cli.command("train-check")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False), help="A folder built by build-tfrecords."
)
@click.option("--backbone", help="Backbone whose preprocessing the reader applies (see `pipecheck backbones`).")
@click.option("--image-size", type=click.IntRange(min=8), help="Input side (default: the backbone's).")
@train_options
@progress_option
@report_options
def train_check(data_dir, backbone, image_size, fmt, output, fail_on, ignore, progress, **o) -> None:
    """Train the model briefly on the real data and catch silent training failures."""
    from pipecheck.progress import reporting
    from pipecheck.validators.runners.train_check import run_train_check_on_data

    if not o["model"]:
        raise InputFailure("--model module.path:factory is required")
    from pipecheck.validators.runners.validate import placed_for_training

    with reporting("train-check", progress) as shown:
        report = run_train_check_on_data(
            placed_for_training(_train_opts(data_dir, backbone, image_size, o), o["preprocessing"]), progress=shown
        )
    click.echo(f"pipecheck train-check: ran on {report.summary.get('device')}", err=True)
    sys.exit(write_report(report, fmt, output, fail_on, ignore).exit_code)


@cli.command("gate", context_settings={"ignore_unknown_options": False})
@click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False), help="A folder built by build-tfrecords."
)
@click.option("--backbone", help="keras.applications backbone the data feeds.")
@click.option("--image-size", type=click.IntRange(min=8), help="Input side (default: the backbone's).")
@click.option("--batches", type=click.IntRange(min=1), default=20, show_default=True, help="Batches validate samples.")
@click.option("--allow-empty", is_flag=True, help="Images with no label are valid negatives (multi-label).")
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report here."
)
@train_options
@progress_option
@report_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def gate(
    data_dir,
    backbone,
    image_size,
    batches,
    allow_empty,
    html_path,
    fmt,
    output,
    fail_on,
    ignore,
    command,
    progress,
    **o,
) -> None:
    """validate, then train-check, as one report; `-- CMD ...` runs your training only if it passes."""
    from pipecheck.gate import run_command
    from pipecheck.progress import reporting
    from pipecheck.validators.runners.gate import run_gate
    from pipecheck.validators.runners.validate import ValidateOptions

    vopts = ValidateOptions(
        data_dir=data_dir,
        backbone=backbone,
        image_size=image_size,
        batches=batches,
        allow_empty=allow_empty,
        model=o["model"],
        model_arg=o["model_arg"],
        preprocessing=o["preprocessing"],
    )
    topts = _train_opts(data_dir, backbone, image_size, o) if o["model"] else None
    with reporting("gate", progress) as shown:
        report = run_gate(vopts, topts, Severity.parse(fail_on), ignore, progress=shown)
    report = write_report(report, fmt, output, fail_on, ignore, html_path)
    sys.exit(run_command(command) if command and report.ok else report.exit_code)


# ---------------------------------------------------------------------------------------------
@cli.command("split")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="A built dataset to re-split into --out.")
@click.option(
    "--labels", "labels_path", type=click.Path(dir_okay=False), help="A label table (.csv/.jsonl/.parquet) to re-split."
)
@click.option(
    "--out", "out_path", required=True, help="New dataset folder (with --data) or new table file (with --labels)."
)
@click.option("--label-field", help="Single-label column of --labels.")
@click.option("--multi-label-field", help="Multi-label column of --labels (list, or string with --label-sep).")
@click.option("--label-sep", default=None, help="Separator of string-valued multi-labels.")
@click.option(
    "--split-field",
    default="split",
    show_default=True,
    help="Split column of --labels (read if present, written in --out).",
)
@click.option("--group-field", help="Keep each value of this field in one split.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True)
@click.option("--test-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@report_options
def split_cmd(
    data_dir,
    labels_path,
    out_path,
    label_field,
    multi_label_field,
    label_sep,
    split_field,
    group_field,
    val_fraction,
    test_fraction,
    seed,
    overwrite,
    fmt,
    output,
    fail_on,
    ignore,
) -> None:
    """Re-split with iterative stratification; prints per-class prevalence and LD/FLZ before and after."""
    from pipecheck.validators.runners.split import SplitOptions, run_split

    report = run_split(
        SplitOptions(
            out_path=out_path,
            data_dir=data_dir,
            labels_path=labels_path,
            label_field=label_field,
            multi_label_field=multi_label_field,
            label_sep=label_sep,
            split_field=split_field,
            group_field=group_field,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            overwrite=overwrite,
        )
    )
    sys.exit(write_report(report, fmt, output, fail_on, ignore).exit_code)


# ---------------------------------------------------------------------------------------------
@cli.command("verify")
@click.argument("data_dir", type=click.Path(file_okay=False))
@report_options
def verify(data_dir: str, fmt: str, output: str | None, fail_on: str, ignore: tuple) -> None:
    """Re-read every shard of DATA_DIR: record CRCs and sha256 against the build, counts, shard sha256."""
    from pipecheck.validators.dataset import run_verify

    sys.exit(write_report(run_verify(data_dir), fmt, output, fail_on, ignore).exit_code)


# ---------------------------------------------------------------------------------------------
@cli.command("backbones")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backbones_cmd(fmt: str) -> None:
    """List every supported backbone with its expected input (derived from keras.applications)."""
    import json

    from pipecheck.pipeline.backbones import all_backbones

    table = all_backbones()
    if fmt == "json":
        click.echo(json.dumps([b.to_dict() for b in table], indent=2))
        return
    click.echo(
        f"{'backbone':<20} {'module':<22} {'mode':<6} {'order':<5} {'size':>4} {'min':>4}  range per channel (dtype float32)"
    )
    for b in table:
        rng = " ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in b.value_range)
        click.echo(
            f"{b.name:<20} {b.module:<22} {b.mode:<6} {b.channel_order:<5} {b.default_size:>4} {b.min_size:>4}  {rng}"
        )


@cli.command("checks")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
def checks_cmd(fmt: str) -> None:
    """List every check id with its default severity and meaning (the README's table is this output)."""
    from pipecheck.validators.registry import all_checks

    checks = all_checks()
    if fmt == "markdown":
        click.echo(checks_markdown(checks), nl=False)
        return
    for c in checks:
        click.echo(f"{c.id:<40} {c.severity.value:<8} {c.summary}")


def checks_markdown(checks) -> str:
    """The README's check table: one section per family, id, default severity, meaning, fix."""
    from itertools import groupby

    out = []
    for family, items in groupby(checks, key=lambda c: c.family):
        out += [f"#### `{family}`", "", "| check | severity | what it means | default hint |", "|---|---|---|---|"]
        for c in items:
            cells = [f"`{c.id}`", c.severity.value, c.summary, c.hint]
            out.append("| " + " | ".join(str(x).replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="pipecheck")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc.__class__.__name__}: {exc.filename}"
    return " ".join(str(exc).split())
