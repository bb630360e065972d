"""``pipecheck train-check``: build the user's model with their factory, train it briefly on the
real data through the project's reader, and run every ``training`` probe.

Plain options in, one :class:`Report` out (like ``validate.py`` for ``validate``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import LabelMode
from pipecheck.validators.findings import Report

DEVICES = ("auto", "cpu", "gpu")


@dataclass
class TrainCheckOptions:
    """What ``pipecheck train-check`` was asked to do (mirrors the CLI flags)."""

    model: str
    data_dir: str
    backbone: str | None = None
    image_size: int | None = None
    steps: int = 60
    batch_size: int = 16
    device: str = "auto"
    optimizer: str | None = None
    lr: float | None = None
    loss: str | None = None
    model_arg: tuple[str, ...] = field(default_factory=tuple)
    frozen: tuple[str, ...] = field(default_factory=tuple)
    run_steps: int | None = None


def select_device(device: str) -> str:
    """Make TensorFlow use the asked device before anything is built; returns its description.

    Raises:
        InputError: ``gpu`` asked for but no GPU is visible.
    """
    import tensorflow as tf

    if device not in DEVICES:
        raise InputError(f"--device {device!r}: use auto, cpu or gpu")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise InputError(
            "--device gpu: no GPU is visible to TensorFlow here (check CUDA drivers and "
            "CUDA_VISIBLE_DEVICES), or pass --device cpu / auto"
        )
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
        return f"GPU ({name})"
    return "CPU"


def _call_factory(
    opts: TrainCheckOptions, num_classes: int, input_shape: tuple[int, int, int], multi_label: bool
) -> Any:
    import keras

    from pipecheck.validators.sources import import_object, parse_source_args

    if isinstance(opts.model, keras.Model):  # the Python API: the model itself
        return opts.model
    factory = (
        opts.model
        if callable(opts.model) and not isinstance(opts.model, str)
        else import_object(opts.model, "--model", example="mypkg.models:build")
    )
    if not callable(factory):
        raise InputError(f"--model {opts.model}: not a callable; point at a function that returns a keras.Model")
    kwargs = parse_source_args(opts.model_arg)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    # Offer what the data knows to factories that ask for it by name.
    offered = {
        "num_classes": num_classes,
        "input_shape": input_shape,
        "image_size": input_shape[0],
        "multi_label": multi_label,
    }
    for name, value in offered.items():
        if name in params and name not in kwargs:
            kwargs[name] = value
    try:
        model = factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 - user code
        raise InputError(f"--model {opts.model}: calling it raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise InputError(f"--model {opts.model}: returned {type(model).__name__}, not a keras.Model")
    return model


def _compile(model: Any, opts: TrainCheckOptions) -> None:
    import keras

    compiled = getattr(model, "optimizer", None) is not None and getattr(model, "loss", None) is not None
    if compiled and not (opts.optimizer or opts.loss or opts.lr):
        return
    if compiled and opts.lr is not None and not (opts.optimizer or opts.loss):
        # Only the rate changes: keep the user's optimizer (momentum, clipping, weight decay, metrics).
        try:
            model.optimizer.learning_rate = opts.lr
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"--lr {opts.lr}: the model's optimizer uses a learning-rate schedule ({exc}); "
                "set the rate in the factory instead"
            ) from None
        return
    if not compiled and not opts.loss:
        raise InputError(
            f"--model {opts.model} returned an uncompiled model: compile it in the factory or pass --loss "
            "(and --optimizer/--lr)"
        )
    optimizer = keras.optimizers.get(
        opts.optimizer or (model.optimizer.__class__.__name__.lower() if compiled else "adam")
    )
    if opts.lr is not None:
        optimizer.learning_rate = opts.lr
    model.compile(optimizer=optimizer, loss=opts.loss or model.loss)


def _output_units(model: Any) -> int | None:
    """Units of the model's (single) output, from its graph; None when unknown before a call."""
    try:
        outputs = model.outputs
        if outputs and len(outputs) == 1 and outputs[0].shape[-1] is not None:
            return int(outputs[0].shape[-1])
    except (AttributeError, ValueError, TypeError):  # subclassed models have no static outputs
        pass
    return None


def label_form(model: Any, multi_label: bool, num_classes: int) -> LabelMode:
    """How to feed the labels so they fit the model's loss and head, as the official ways write it:
    ``multi_hot`` rows for multi-label data; ``int`` class ids for a sparse loss; ``binary`` (one 0/1
    column) for a one-unit head on two classes (``Dense(1, sigmoid)`` + binary cross-entropy);
    ``categorical`` (one-hot) otherwise. A head that fits none of these (one unit for six classes)
    is then reported by ``training.num_outputs_mismatch``.
    """
    if multi_label:
        return LabelMode.MULTI_HOT
    from pipecheck.validators.training.probes import loss_info

    info = loss_info(model)
    if info is not None and info.kind == "sparse":
        return LabelMode.INT
    if _output_units(model) == 1 and num_classes == 2:
        return LabelMode.BINARY
    return LabelMode.CATEGORICAL


def run_train_check_on_data(opts: TrainCheckOptions, progress: Any = None) -> Report:
    """Build, compile and probe the user's model on a built dataset; one ``train-check`` report.
    ``progress`` (a ``pipeline.progress.Progress``) hears of the short fit's steps.
    """
    from pipecheck.pipeline.manifest import load_manifest
    from pipecheck.pipeline.reader import load_dataset

    device = select_device(opts.device)
    manifest = load_manifest(opts.data_dir)
    multi = manifest.multi_label
    classes = manifest.classes
    size = opts.image_size
    if size is None and opts.backbone:
        from pipecheck.pipeline.backbones import UnknownBackbone, get

        try:
            size = get(opts.backbone).default_size
        except UnknownBackbone as exc:
            raise InputError(str(exc)) from None
    size = size or 224
    model = _call_factory(opts, len(classes), (size, size, 3), multi)
    _compile(model, opts)
    form = label_form(model, multi, len(classes))
    # One label mode for the reader and the training checks.
    common = dict(backbone=opts.backbone, image_size=size, batch_size=opts.batch_size, seed=0, label_mode=form)
    train = load_dataset(opts.data_dir, "train", shuffle=True, repeat=True, **common)
    has_val = "val" in manifest.splits and manifest.splits["val"].examples > 0
    val = load_dataset(opts.data_dir, "val", shuffle=False, **common) if has_val else None
    from pipecheck.validators.training import run_train_check

    report = run_train_check(
        model,
        train,
        val,
        steps=opts.steps,
        batch_size=opts.batch_size,
        frozen=opts.frozen,
        num_classes=len(classes),
        label_mode=form,
        run_steps=opts.run_steps,
        progress=progress,
    )
    from pipecheck.validators import registry

    model_name = (
        opts.model
        if isinstance(opts.model, str)
        else (
            getattr(opts.model, "__qualname__", None) or getattr(opts.model, "name", None) or type(opts.model).__name__
        )
    )
    report.summary = {
        "device": device,
        "model": model_name,
        "data": opts.data_dir,
        "image_size": size,
        "steps": opts.steps,
        "labels": form.value,
        **report.summary,
    }
    report.ran(registry.ids("training"))
    return report
