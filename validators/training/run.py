"""``run_train_check``: the active training probes behind ``pipecheck train-check``.

Unlike :class:`VerifyTraining`, which only watches, this controls training: it overfits one fixed
batch on a clone of the model (detector 2), compares the clone's loss with zeroed inputs (detector
6's baseline), measures per-layer gradient norms (detector 5, TensorFlow, JAX and PyTorch backends), then runs a
short real ``fit`` of another clone with the callback attached. The caller's model is never changed.
"""

from __future__ import annotations

import math
import os
from typing import Any

import keras
import numpy as np

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import LabelMode
from pipecheck.validators.findings import Finding, Report
from pipecheck.validators.training import NAN, PROBE_SKIPPED, SOFTMAX_MULTILABEL, TrainingThresholds, judge, probes
from pipecheck.validators.training.callback import FitProgress, VerifyTraining, first_batch
from pipecheck.validators.training.overfit import overfit_one_batch

VAL_MAX_BATCHES = 50  # validation batches evaluated per epoch of the short fit (one pass counts them)


def clone_compiled(model):
    """A fresh copy with the same weights, a new optimizer of the same config and the same loss."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    opt = model.optimizer
    new_opt = type(opt).from_config(opt.get_config()) if opt is not None else "adam"
    clone.compile(optimizer=new_opt, loss=model.loss)
    return clone


def _batch(data: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list)):
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if len(x) != len(y) or len(x) == 0:
            raise InputError(f"train data: x has {len(x)} samples and y has {len(y)}; both must be equal and > 0")
        return x[:batch_size], y[:batch_size]
    got = first_batch(data)
    if got is None:
        raise InputError("train data is required: (x, y) numpy arrays or a tf.data.Dataset of (x, y) batches")
    return got[0][:batch_size], got[1][:batch_size]


def _gradients(model, info: probes.LossInfo, x: np.ndarray, y: np.ndarray, variables: list) -> list | None:
    """Gradients of the mean loss w.r.t. ``variables`` in training mode (TensorFlow, JAX, PyTorch);
    None on a backend without a path here.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        kwargs = {"training": True} if getattr(model, "_call_has_training_arg", True) else {}
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(info.fn(tf.convert_to_tensor(y), model(x, **kwargs)))
        return tape.gradient(loss, [v.value for v in variables])
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        ntv = [v.value for v in model.non_trainable_variables]
        order = [id(v) for v in model.trainable_variables]
        wanted = [order.index(id(v)) for v in variables]

        kwargs = {"training": True} if getattr(model, "_call_has_training_arg", True) else {}

        def loss_of(tv):
            pred, _ = model.stateless_call(tv, ntv, x, **kwargs)
            return jnp.mean(info.fn(jnp.asarray(y), pred))

        grads = jax.grad(loss_of)([v.value for v in model.trainable_variables])
        return [grads[i] for i in wanted]
    if backend == "torch":
        import torch

        kwargs = {"training": True} if getattr(model, "_call_has_training_arg", True) else {}
        pred = model(x, **kwargs)
        loss = torch.mean(info.fn(keras.ops.convert_to_tensor(y), pred))
        # allow_unused: a variable the loss does not reach has no gradient (None, counted as zero)
        return list(torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True))
    return None


def gradient_norms(model, info: probes.LossInfo, x: np.ndarray, y: np.ndarray) -> dict[str, float] | None:
    """Per layer ||g|| / ||W|| on one batch in training mode (TensorFlow and JAX; None elsewhere)."""
    groups = probes.trainable_by_layer(model)
    variables = [v for vs in groups.values() for v in vs]
    grads = _gradients(model, info, x, y, variables)
    if grads is None:
        return None
    out: dict[str, float] = {}
    i = 0
    for name, vs in groups.items():
        # A variable the loss does not reach has no gradient: count it as zero.
        g = [np.zeros(v.shape) if gi is None else probes.to_numpy(gi) for v, gi in zip(vs, grads[i : i + len(vs)])]
        w = [probes.to_numpy(v) for v in vs]
        i += len(vs)
        gn = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in g))
        wn = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in w))
        out[name] = gn / wn if wn > 0 else (math.inf if gn > 0 else 0.0)
        if not math.isfinite(gn):
            out[name] = math.nan
    return out


def _fit_arrays(data, batch_size: int, steps_per_epoch: int):
    """Fit arguments that give exactly ``steps_per_epoch`` batches per epoch, never running dry: numpy
    samples are cycled to ``steps_per_epoch * batch_size``, a dataset is repeated.
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list)):
        x, y = np.asarray(data[0]), np.asarray(data[1])
        rng = np.random.default_rng(0)
        idx = np.resize(rng.permutation(len(x)), steps_per_epoch * batch_size)
        return {"x": x[idx], "y": y[idx], "batch_size": batch_size, "shuffle": False}
    if hasattr(data, "repeat"):  # tf.data.Dataset of (x, y) batches
        return {"x": data.repeat(), "steps_per_epoch": steps_per_epoch, "shuffle": False}
    raise InputError("train data must be (x, y) numpy arrays or a tf.data.Dataset of (x, y) batches")


def _sized_val(data, batch_size: int):
    """Validation data whose size Keras knows, so each epoch's evaluation ends on its count instead of
    running into the end of the data (Keras then warns "Your input ran out of data") or, for a repeated
    dataset, never ending. A dataset keeps its first ``VAL_MAX_BATCHES`` batches; None when empty.
    """
    if data is None:
        return None
    if not hasattr(data, "repeat"):
        x, y = (np.asarray(a) for a in data)
        return (x, y) if len(x) else None
    import tensorflow as tf

    card = int(data.cardinality())
    if card >= 0:
        n = min(card, VAL_MAX_BATCHES)
    else:  # unknown (filter/interleave) or infinite: count one pass, at most VAL_MAX_BATCHES batches
        n = int(data.take(VAL_MAX_BATCHES).reduce(np.int64(0), lambda count, _: count + 1))
    if n == 0:
        return None
    return data.take(n).apply(tf.data.experimental.assert_cardinality(n))


def _user_code_failed(exc: Exception, model, stage: str, x: np.ndarray, y: np.ndarray) -> InputError | None:
    """An exception raised while the user's model ran, as a one-line InputError naming the model and
    the fix; None for a failure inside pipecheck itself (a bug: the CLI reports it as such).
    """
    if isinstance(exc, InputError):
        return exc
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # validators/: every family's code
    if tb is not None and tb.tb_frame.f_code.co_filename.startswith(here):
        return None
    detail = " ".join(str(exc).split())[:300]
    return InputError(
        f"model '{model.name}' failed during {stage} on a batch of x{tuple(x.shape)} "
        f"({x.dtype}) and labels y{tuple(y.shape)} ({y.dtype}): {type(exc).__name__}: {detail}. Fix the model "
        "or its compile() so that model.fit runs on these batches (input shape, output units, loss)"
    )


def _guarded(model, stage: str, batch: tuple, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, with a failure of the user's model turned into a one-line InputError."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - user code; pipecheck's own bugs are re-raised
        err = _user_code_failed(exc, model, stage, *batch)
        if err is None or err is exc:
            raise
        raise err from exc


def run_train_check(
    model,
    train_data,
    val_data=None,
    *,
    steps: int = 60,
    batch_size: int = 16,
    thresholds: TrainingThresholds | None = None,
    frozen=(),
    num_classes: int | None = None,
    label_mode: str | LabelMode | None = None,
    run_steps: int | None = None,
    progress: Any = None,
) -> Report:
    """Run every training probe on a compiled Keras 3 model and return one ``train-check`` report.

    Args:
        model: A compiled Keras model (``model.loss`` and ``model.optimizer`` set); it is not modified.
        train_data: ``(x, y)`` numpy arrays or a ``tf.data.Dataset`` of ``(x, y)`` batches.
        val_data: Same forms, optional; enables the validation-loss check (3 epochs are run).
        steps: Training steps of the short real fit (split over 3 epochs when ``val_data`` is given).
        batch_size: Batch size for numpy data and size of the fixed probe batch.
        thresholds: :class:`TrainingThresholds`; defaults documented there.
        frozen: Names of layers or nested models meant to stay frozen.
        num_classes: Classes in the data, if known.
        label_mode: A :class:`LabelMode` (``int``, ``categorical``, ``binary``, ``multi_hot``) or any
            spelling ``LabelMode.normalize`` takes (``multi_label`` included), if known; only
            ``multi_hot`` changes a check (softmax with multi-label targets is reported even if the
            probe batch holds one label per row).
        run_steps: Length of the real training run, for the BatchNorm momentum check (the short fit
            here is only a probe); default ``thresholds.assumed_run_steps``.
        progress: A ``pipeline.progress.Progress`` to hear of the short fit's steps.

    Raises:
        InputError: An uncompiled model, unusable data or an unknown ``label_mode``.
    """
    th, label_mode = thresholds or TrainingThresholds(), LabelMode.normalize(label_mode)
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise InputError("the model must be compiled (model.compile(optimizer, loss)) before train-check")
    x, y = _batch(train_data, batch_size)
    info = probes.loss_info(model)
    report = Report("train-check")
    found: dict[tuple[str, str], Finding] = {}  # one finding per check and subject

    def keep(f: Finding) -> None:
        found.setdefault((f.check, f.subject), f)

    mismatch, n_out = _judge_before_steps(model, info, x, y, label_mode, num_classes, keep)
    if mismatch:
        return _stopped_before_steps(report, [*found.values(), *mismatch])
    y = probes.align_labels(y, n_out)  # the probes call the bare loss function
    probe_clone, fit_model, on = _clones(model, keep)
    if probe_clone is not None and info is not None:
        report.summary["gradient_norm_by_layer"] = _guarded(
            model, "the gradient and overfit-one-batch probes", (x, y), _probe, probe_clone, info, x, y, th, keep
        )
    cb = VerifyTraining(
        (x, y),
        val_data=val_data,
        thresholds=th,
        frozen=frozen,
        num_classes=num_classes,
        run_steps=run_steps or th.assumed_run_steps,
    )
    hist, epochs = _short_fit(model, fit_model, cb, train_data, val_data, (x, y), steps, batch_size, progress)
    for f in cb.findings:
        keep(f)
    report.add(found.values())
    report.summary.update(
        {
            "steps": cb.step,
            "epochs": epochs,
            "batch_size": batch_size,
            "fit_on": on,
            "backend": keras.backend.backend(),
            "loss": hist.history.get("loss"),
            "val_loss": hist.history.get("val_loss"),
        }
    )
    return report


def _judge_before_steps(
    model, info: probes.LossInfo | None, x: np.ndarray, y: np.ndarray, label_mode, num_classes: int | None, keep
) -> tuple[list[Finding], int]:
    """The checks that need no training step: a softmax output for multi-label data (kept), then the
    output units against the labels and the loss, whose mismatch makes Keras raise mid-fit (returned,
    with the model's output count, so that the caller stops before any probe).
    """
    last = probes.output_layer(model)
    if label_mode == LabelMode.MULTI_HOT and probes.activation_name(last) == "softmax":
        keep(
            SOFTMAX_MULTILABEL.finding(
                "The data is multi-label but the output layer uses softmax.",
                subject=last.name,
                evidence={"label_mode": label_mode.value},
            )
        )
    y_pred = _guarded(model, "a forward pass", (x, y), probes.predict, model, x)
    n_out = int(y_pred.reshape(len(y_pred), -1).shape[1])
    return judge.judge_label_shapes(last.name, info, y, n_out, num_classes), n_out


def _stopped_before_steps(report: Report, findings: list[Finding]) -> Report:
    """The report when the output does not fit the labels/loss: no probe and no fit ran."""
    report.add(findings)
    report.summary.update(
        {
            "steps": 0,
            "fit_on": None,
            "backend": keras.backend.backend(),
            "skipped": "probes and fit: the output does not fit the labels/loss",
        }
    )
    return report


def _clones(model, keep) -> tuple[Any, Any, str]:
    """``(probe clone, model to fit, "clone")``; a model that cannot be cloned (subclassed, without
    get_config) gives ``(None, model, "model")``: the probes are skipped, said by a kept finding.
    """
    try:
        return clone_compiled(model), clone_compiled(model), "clone"
    except Exception as exc:
        keep(
            PROBE_SKIPPED.finding(
                f"Cannot clone the model ({type(exc).__name__}); the overfit, "
                "zero-input and gradient probes were skipped and the short fit trains the model itself.",
                subject="model",
            )
        )
        return None, model, "model"


def _short_fit(
    model, fit_model, cb: VerifyTraining, train_data, val_data, batch: tuple, steps: int, batch_size: int, progress
) -> tuple[Any, int]:
    """The short real fit of ``fit_model`` with ``cb`` attached: ``steps`` steps, over 3 epochs when
    there is validation data. Returns the fit's history and the epochs run.
    """
    val = _sized_val(val_data, batch_size)
    epochs = 3 if val is not None else 1
    per_epoch = max(1, math.ceil(steps / epochs))
    kwargs = _fit_arrays(train_data, batch_size, per_epoch)
    hist = _guarded(
        model,
        "the short model.fit",
        batch,
        fit_model.fit,
        **kwargs,
        epochs=epochs,
        validation_data=val,
        callbacks=[cb, *([FitProgress(progress)] if progress else [])],
        verbose=0,
    )
    return hist, epochs


def _probe(
    clone, info: probes.LossInfo, x: np.ndarray, y: np.ndarray, th: TrainingThresholds, keep
) -> dict[str, float] | None:
    """Gradient norms (detector 5b), then overfit one batch (detector 2, zeroed-input baseline)."""
    grads = gradient_norms(clone, info, x, y)
    if grads is None:
        keep(
            PROBE_SKIPPED.finding(
                f"Gradient-norm probe needs the TensorFlow or JAX backend "
                f"(running on {keras.backend.backend()}); vanishing/exploding gradients were not checked.",
                subject="gradients",
                evidence={"backend": keras.backend.backend()},
            )
        )
    elif not all(math.isfinite(v) for v in grads.values()):
        bad = [k for k, v in grads.items() if not math.isfinite(v)]
        keep(
            NAN.finding(
                f"Gradients of {len(bad)} layer(s) are NaN/Inf on the first batch.",
                subject=", ".join(bad[:4]),
                evidence={"where": "gradients", "layers": bad},
            )
        )
    else:
        for f in judge.judge_gradients(grads, th, probes.feeds_batch_norm(clone)):
            keep(f)
    for f in overfit_one_batch(clone, info, x, y, th):
        keep(f)
    return grads
