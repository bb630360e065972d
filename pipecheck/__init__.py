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
import re
from typing import Any, Iterable

__version__ = "0.1.0"

# TensorFlow's C++ log (cuFFT/cuDNN/cuBLAS "errors" and oneDNN notes at start-up, "Local rendezvous ...
# End of sequence" after each pass) says nothing about the user's data; in Jupyter it lands under every
# report. Quieted before pipecheck's first (lazy) TensorFlow import, unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pipecheck.validators.findings import Finding, Report, ReportFailed, Severity, set_html_renderer  # noqa: E402
__all__ = ["Finding", "Report", "ReportFailed", "Severity", "VerifyTraining", "build_tfrecords", "load_dataset",
           "train_check", "validate", "__version__"]


def _html(report: Report) -> str:
    from pipecheck.html import render_html
    from pipecheck.render import printable

    return printable(render_html(report))


set_html_renderer(_html)


# One line of TensorFlow's C++ start-up log: absl's "I0000 00:00:1796306266.77 123 port.cc:153] ..." (TF 2.17+), the
# older "2026-01-01 00:00:00.000: I tensorflow/..." form, absl's preamble and the CPU-feature note's 2nd line.
_TF_LOG_LINE = re.compile(r"([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
                          r"|WARNING: All log messages before absl::InitializeLog\(\)|To enable the following instructions: )")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up log kept off file descriptor 2 (where Jupyter shows it).

    TensorFlow 2.17+ logs through absl before ``absl::InitializeLog()``, which ``TF_CPP_MIN_LOG_LEVEL``
    does not reach, so the first import runs with fd 2 sent to a file; lines that are not TensorFlow's
    log (a crash message, a library's warning) are written back. A user who set ``TF_CPP_MIN_LOG_LEVEL``
    below 3 sees TensorFlow's log as they asked."""
    import sys

    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        return
    import tempfile

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to keep clean
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not _TF_LOG_LINE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))


def _judged(report: Report, fail_on: str, ignore: Iterable[str]) -> Report:
    report = report.without(tuple(ignore))
    report.fail_on = Severity.parse(fail_on)
    return report


def build_tfrecords(dump: str, out: str, *, fail_on: str = "error", ignore: Iterable[str] = (), progress: bool = False,
                    **options: Any) -> Report:
    """``pipecheck build-tfrecords DUMP --out OUT``: options are the command's flags in snake_case
    (``label_field=``, ``multi_label_field=``, ``val_fraction=``, ``max_side=``, ``overwrite=``, ...).
    ``progress=True``: a bar on stderr (plain lines where stderr is not a terminal), as ``--progress``."""
    from pipecheck.pipeline.build import BuildOptions, build
    from pipecheck.pipeline.errors import InputError
    from pipecheck.progress import reporting
    from pipecheck.validators.build import build_report

    if bool(options.get("label_field")) == bool(options.get("multi_label_field")):
        raise InputError("give exactly one of label_field= or multi_label_field=")
    with reporting("build-tfrecords", bool(progress)) as shown:
        result = build(BuildOptions(dump=str(dump), out=str(out), **options), progress=shown)
    return _judged(build_report(result), fail_on, ignore)


def validate(data: str | None = None, *, source: Any = None, labels: Any = None, backbone: str | None = None,
             model: Any = None, preprocessing: str = "auto", source_args: dict | None = None,
             model_args: dict | None = None, fail_on: str = "error", ignore: Iterable[str] = (), progress: bool = False,
             **options: Any) -> Report:
    """``pipecheck validate``: a built folder (``data``), a label table (``labels``: a path or a DataFrame),
    or your input pipeline (``source``: a ``tf.data.Dataset``, ``PyDataset``, generator or a function
    returning one, or a ``module:callable`` string). ``model`` is a ``keras.Model``, a factory or a
    ``module:factory`` string. Other options are the command's flags in snake_case (``image_size=``,
    ``batches=``, ``split=``, ``label_field=``, ``multi_label_field=``, ``allow_empty=``, ...).
    ``progress=True``: progress on stderr, as ``--progress``."""
    from pipecheck.progress import reporting
    from pipecheck.validators.suite import ValidateOptions, run_validate

    if labels is None:  # a label table alone needs no TensorFlow
        _import_tensorflow_quietly()
    # A pathlib.Path is a path like any other (findings name it as their subject: a str everywhere).
    data = None if data is None else os.fspath(data)
    labels = os.fspath(labels) if isinstance(labels, os.PathLike) else labels
    opts = ValidateOptions(data_dir=data, source=source, labels_path=labels, backbone=backbone, model=model,
                           preprocessing=preprocessing, source_arg=source_args or {}, model_arg=model_args or {},
                           **options)
    with reporting("validate", bool(progress)) as shown:
        report = run_validate(opts, progress=shown)
    return _judged(report, fail_on, ignore)


def train_check(model: Any, data: str, *, fail_on: str = "error", ignore: Iterable[str] = (), progress: bool = False,
                **options: Any) -> Report:
    """``pipecheck train-check``: a short verified training of ``model`` (a ``keras.Model``, a factory or a
    ``module:factory`` string) on the build ``data``; options as the command's flags (``backbone=``,
    ``image_size=``, ``steps=``, ``batch_size=``, ``preprocessing=``, ...). ``progress=True``: progress on
    stderr, as ``--progress``."""
    from pipecheck.progress import reporting
    from pipecheck.validators.suite import placed_for_training
    from pipecheck.validators.train_suite import TrainCheckOptions, run_train_check_on_data

    _import_tensorflow_quietly()
    preprocessing = options.pop("preprocessing", "auto")
    opts = placed_for_training(TrainCheckOptions(model=model, data_dir=str(data), **options), preprocessing)
    with reporting("train-check", bool(progress)) as shown:
        report = run_train_check_on_data(opts, progress=shown)
    return _judged(report, fail_on, ignore)


def __getattr__(name: str) -> Any:
    if name in ("load_dataset", "VerifyTraining"):
        _import_tensorflow_quietly()
    if name == "load_dataset":
        from pipecheck.pipeline.reader import load_dataset

        return load_dataset
    if name == "VerifyTraining":
        from pipecheck.validators.training import VerifyTraining

        return VerifyTraining
    raise AttributeError(f"module 'pipecheck' has no attribute {name!r}")
