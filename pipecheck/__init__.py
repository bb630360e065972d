"""pipecheck: stops image-classifier training runs from failing silently.

The Python API mirrors the commands and returns a :class:`Report` for each check (``.ok``,
``.errors``, ``.to_json()``, ``.raise_for_errors()``; it draws itself in Jupyter as the ``--html`` page)::

    import pipecheck

    pipecheck.build_tfrecords("dump/", "out/", label_field="species").raise_for_errors()
    report = pipecheck.validate(source=train_ds, backbone="resnet50", model=model)
    report = pipecheck.train_check(model, "out/", backbone="resnet50")
    ds = pipecheck.load_dataset("out/", "train", backbone="resnet50")
    model.fit(ds, callbacks=[pipecheck.VerifyTraining()])

Heavy parts (TensorFlow, Keras, TFDV) are imported on first use, so ``import pipecheck`` stays quick.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from pipecheck.pipeline.version import __version__  # the one number is pyproject.toml's

# TensorFlow's C++ log (cuFFT/cuDNN/cuBLAS "errors" and oneDNN notes at start-up, "Local rendezvous ...
# End of sequence" after each pass) says nothing about the user's data; in Jupyter it lands under every
# report. Quieted before pipecheck's first (lazy) TensorFlow import, unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# ... and TF 2.17+'s absl preamble, which that level does not reach: the first `import tensorflow`
# anywhere in the process runs with fd 2 caught (pipecheck/quiet.py).
from pipecheck import quiet as _quiet  # noqa: E402

_quiet.install()

from pipecheck.validators.findings import Finding, Report, ReportFailed, Severity, set_html_renderer  # noqa: E402

__all__ = [
    "Finding",
    "Report",
    "ReportFailed",
    "Severity",
    "VerifyTraining",
    "build_tfrecords",
    "load_dataset",
    "train_check",
    "validate",
    "__version__",
]


def _html(report: Report) -> str:
    from pipecheck.html import render_html
    from pipecheck.render import printable

    return printable(render_html(report, fragment=True))


set_html_renderer(_html)


def _judged(report: Report, fail_on: str, ignore: Iterable[str]) -> Report:
    report = report.without(tuple(ignore))
    report.fail_on = Severity.parse(fail_on)
    return report


def build_tfrecords(
    dump: str, out: str, *, fail_on: str = "error", ignore: Iterable[str] = (), progress: bool = False, **options: Any
) -> Report:
    """``pipecheck build-tfrecords DUMP --out OUT``: options are the command's flags in snake_case
    (``label_field=``, ``multi_label_field=``, ``val_fraction=``, ``max_side=``, ``overwrite=``, ...).
    ``progress=True``: a bar on stderr (plain lines where stderr is not a terminal), as ``--progress``.
    """
    from pipecheck.pipeline.build import BuildOptions, build
    from pipecheck.pipeline.errors import InputError
    from pipecheck.progress import reporting
    from pipecheck.validators.build import build_report

    if bool(options.get("label_field")) == bool(options.get("multi_label_field")):
        raise InputError("give exactly one of label_field= or multi_label_field=")
    with reporting("build-tfrecords", bool(progress)) as shown:
        result = build(BuildOptions(dump=str(dump), out=str(out), **options), progress=shown)
    return _judged(build_report(result), fail_on, ignore)


def validate(
    data: str | None = None,
    *,
    source: Any = None,
    labels: Any = None,
    backbone: str | None = None,
    model: Any = None,
    preprocessing: str = "auto",
    source_args: dict | None = None,
    model_args: dict | None = None,
    fail_on: str = "error",
    ignore: Iterable[str] = (),
    progress: bool = False,
    **options: Any,
) -> Report:
    """``pipecheck validate``: a built folder (``data``), a label table (``labels``: a path or a DataFrame),
    or your input pipeline (``source``: a ``tf.data.Dataset``, ``PyDataset``, generator or a function
    returning one, or a ``module:callable`` string). ``model`` is a ``keras.Model``, a factory or a
    ``module:factory`` string. Other options are the command's flags in snake_case (``image_size=``,
    ``batches=``, ``split=``, ``label_field=``, ``multi_label_field=``, ``allow_empty=``, ...).
    ``progress=True``: progress on stderr, as ``--progress``.
    """
    from pipecheck.progress import reporting
    from pipecheck.validators.runners.validate import ValidateOptions, run_validate

    # A pathlib.Path is a path like any other (findings name it as their subject: a str everywhere).
    data = None if data is None else os.fspath(data)
    labels = os.fspath(labels) if isinstance(labels, os.PathLike) else labels
    opts = ValidateOptions(
        data_dir=data,
        source=source,
        labels_path=labels,
        backbone=backbone,
        model=model,
        preprocessing=preprocessing,
        source_arg=source_args or {},
        model_arg=model_args or {},
        **options,
    )
    with reporting("validate", bool(progress)) as shown:
        report = run_validate(opts, progress=shown)
    return _judged(report, fail_on, ignore)


def train_check(
    model: Any, data: str, *, fail_on: str = "error", ignore: Iterable[str] = (), progress: bool = False, **options: Any
) -> Report:
    """``pipecheck train-check``: a short verified training of ``model`` (a ``keras.Model``, a factory or a
    ``module:factory`` string) on the build ``data``; options as the command's flags (``backbone=``,
    ``image_size=``, ``steps=``, ``batch_size=``, ``preprocessing=``, ...). ``progress=True``: progress on
    stderr, as ``--progress``.
    """
    from pipecheck.progress import reporting
    from pipecheck.validators.runners.train_check import TrainCheckOptions, run_train_check_on_data
    from pipecheck.validators.runners.validate import placed_for_training

    preprocessing = options.pop("preprocessing", "auto")
    opts = placed_for_training(TrainCheckOptions(model=model, data_dir=str(data), **options), preprocessing)
    with reporting("train-check", bool(progress)) as shown:
        report = run_train_check_on_data(opts, progress=shown)
    return _judged(report, fail_on, ignore)


def __getattr__(name: str) -> Any:
    if name == "load_dataset":
        from pipecheck.pipeline.reader import load_dataset

        return load_dataset
    if name == "VerifyTraining":
        from pipecheck.validators.training import VerifyTraining

        return VerifyTraining
    raise AttributeError(f"module 'pipecheck' has no attribute {name!r}")
