"""Judgement of the ``training`` family: measurements from ``probes`` → :class:`Finding`.

Pure functions of numbers and thresholds (plus the model for static facts such as the output
activation), shared by :class:`VerifyTraining` and :func:`run_train_check`. What the callback
measures during a fit arrives as one :class:`RunEvidence`; the callback collects, this module judges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Collection

import numpy as np

from pipecheck.pipeline.labels import LabelMode
from pipecheck.validators.findings import Finding
from pipecheck.validators.training import (
    BN_MOMENTUM_HIGH,
    BN_STATS_FROZEN,
    BN_TRAIN_INFER_GAP,
    CONSTANT_OUTPUT,
    DYING_RELU,
    EXPLODING_GRADIENTS,
    INIT_LOSS_OFF,
    LOGITS_AS_PROBABILITIES,
    NAN,
    NOTHING_TRAINING,
    NUM_OUTPUTS_MISMATCH,
    PROBABILITIES_AS_LOGITS,
    SIGMOID_SINGLE_LABEL,
    SOFTMAX_MULTILABEL,
    UPDATE_RATIO_HIGH,
    UPDATE_RATIO_LOW,
    VAL_LOSS_STUCK,
    VANISHING_GRADIENTS,
    WEIGHTS_UNCHANGED,
    TrainingThresholds,
)
from pipecheck.validators.training.probes import LossInfo, activation_name, expected_init_loss, output_layer

# Output activations that cannot give probabilities under a from_logits=False loss: they output 0
# or negative values (clipped to 1e-7: log of it explodes, a row of zeros gives NaN).
NOT_PROBABILITIES = frozenset(
    {
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "swish",
        "mish",
        "tanh",
        "hard_tanh",
        "softsign",
        "hard_silu",
        "hard_swish",
        "celu",
        "glu",
    }
)


def fmt_layers(names, limit: int = 4) -> str:
    """Layer names for a message or subject: the first ``limit``, then how many more."""
    names = list(names)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def label_shape(y: np.ndarray, info: LossInfo | None) -> dict:
    """What the labels look like: sparse ints, one-hot or multi-hot rows, and the class count seen.

    ``form`` is what the tensor shows, not a declared mode: ``binary`` and ``multi_hot`` are
    :class:`LabelMode` values; ``sparse`` and ``one_hot`` (also ``int``/``categorical`` data, told
    apart from the loss) and ``soft`` (rows no mode gives) name shapes and stay as the evidence wrote them.
    """
    y = np.asarray(y)
    if y.ndim == 1 or (y.ndim == 2 and y.shape[-1] == 1 and (info is None or info.kind == "sparse")):
        return {"form": "sparse", "classes_seen": int(np.max(y)) + 1 if y.size else 0}
    rows = y.reshape(len(y), -1)
    binary = bool(np.all((rows == 0) | (rows == 1)))
    if binary and rows.shape[1] == 1:  # one 0/1 column: a two-class target for one sigmoid unit
        return {"form": LabelMode.BINARY.value, "width": 1}
    sums = rows.sum(axis=1)
    if binary and np.all(sums == 1):
        form = "one_hot"
    elif binary:
        form = LabelMode.MULTI_HOT.value
    else:
        form = "soft"
    return {"form": form, "width": int(rows.shape[1]), "max_labels_per_row": float(sums.max())}


def judge_output_loss(
    model, info: LossInfo | None, y: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None
) -> list[Finding]:
    """Detector 7: output activation vs loss, label form vs output, output count vs class count."""
    out: list[Finding] = []
    if info is None or info.kind == "other":
        return out
    last = output_layer(model)
    act = activation_name(last)
    flat = y_pred.reshape(len(y_pred), -1)
    in_unit = bool(np.all((flat >= 0) & (flat <= 1)))
    sums_one = bool(np.allclose(flat.sum(axis=1), 1.0, atol=1e-3))
    probs = act in ("softmax", "sigmoid") or (act in ("", "linear") and in_unit and sums_one and flat.shape[1] > 1)
    kind = act if act in ("softmax", "sigmoid") else ("softmax" if probs else "linear")
    ev = {
        "output_layer": last.name,
        "activation": act or "unknown",
        "loss": info.name,
        "from_logits": info.from_logits,
        "outputs_in_0_1": in_unit,
        "rows_sum_to_1": sums_one,
    }
    if probs and info.from_logits:
        out.append(
            PROBABILITIES_AS_LOGITS.finding(
                f"Output layer '{last.name}' applies {kind} but the loss {info.name} is built with "
                "from_logits=True: probabilities are squashed a second time and gradients nearly vanish.",
                subject=last.name,
                evidence=ev,
            )
        )
    elif not probs and not info.from_logits and (not in_unit or act in NOT_PROBABILITIES):
        what = (
            f"uses {act}, which does not give probabilities (outputs of 0, rows not summing to 1)"
            if act in NOT_PROBABILITIES
            else "is linear (outputs outside [0, 1])"
        )
        out.append(
            LOGITS_AS_PROBABILITIES.finding(
                f"Output layer '{last.name}' {what} but the loss {info.name} expects probabilities "
                "(from_logits=False): Keras clips them and the loss is meaningless.",
                subject=last.name,
                evidence=ev,
            )
        )
    labels = label_shape(y, info)
    n_out = int(flat.shape[1])
    if labels["form"] == LabelMode.MULTI_HOT and (kind == "softmax" or info.kind == "categorical"):
        out.append(
            SOFTMAX_MULTILABEL.finding(
                f"Targets have up to {labels['max_labels_per_row']:.0f} positive labels per row but the model "
                f"uses {kind} / {info.name}, which forces the classes to compete.",
                subject=last.name,
                evidence={**ev, **labels},
            )
        )
    if labels["form"] == "one_hot" and kind == "sigmoid" and info.kind == "binary" and n_out > 2:
        out.append(
            SIGMOID_SINGLE_LABEL.finding(
                f"Every target row has exactly one positive label among {n_out} but the model uses sigmoid "
                "with binary cross-entropy (independent classes).",
                subject=last.name,
                evidence={**ev, **labels},
            )
        )
    out.extend(judge_label_shapes(last.name, info, y, n_out, num_classes))
    return out


def judge_label_shapes(
    subject: str, info: LossInfo | None, y: np.ndarray, n_out: int, num_classes: int | None = None
) -> list[Finding]:
    """Output units against the labels and the loss, before any step (a mismatch makes Keras raise, or
    on GPU silently train on garbage): sparse ids >= units, one-hot/multi-hot width != units, labels
    in the form another loss expects, one sigmoid unit against several classes, declared classes.
    """
    labels = label_shape(y, info)
    form, kind = labels["form"], info.kind if info is not None else "other"
    loss = info.name if info is not None else "the loss"
    seen = labels.get("classes_seen") if form == "sparse" else labels.get("width")
    expected, why = seen, ""
    if form == "sparse":
        if kind == "categorical":
            why = f"the labels are integer class ids but {loss} expects one-hot rows of {n_out}"
        elif kind == "binary" and (n_out > 1 or seen > 2):
            why = (
                f"the labels are integer class ids (up to {seen - 1}) but {loss} expects one 0/1 column per "
                f"output, and the model has {n_out}"
            )
        elif kind == "sparse" and seen > n_out:
            why = f"label id {seen - 1} needs at least {seen} outputs, the model has {n_out}"
        elif kind == "other" and seen > max(n_out, 2):  # a batch need not hold every class
            why = f"label id {seen - 1} needs at least {seen} outputs, the model has {n_out}"
    elif kind == "sparse":
        why = f"the labels are {form.replace('_', '-')} rows of {seen} but {loss} expects integer class ids"
    elif seen != n_out and kind != "other":  # a custom loss may take other label shapes
        rows = "one 0/1 column" if form == LabelMode.BINARY else f"{form.replace('_', '-')} rows of {seen}"
        why = f"the labels are {rows} but the model has {n_out} outputs"
    if not why and num_classes and num_classes != n_out and not (n_out == 1 and num_classes == 2):
        expected, why = num_classes, f"the data has {num_classes} classes but the model has {n_out} outputs"
    if not why:
        return []
    return [
        NUM_OUTPUTS_MISMATCH.finding(
            f"The model's output ({n_out} unit{'s' if n_out != 1 else ''}) does not fit the labels and the loss: "
            f"{why}.",
            subject=subject,
            evidence={
                "outputs": n_out,
                "classes": expected,
                "declared_num_classes": num_classes,
                "loss": loss,
                **labels,
            },
        )
    ]


def judge_init_loss(
    info: LossInfo | None, y: np.ndarray, n_outputs: int, loss0: float, th: TrainingThresholds
) -> list[Finding]:
    """Detector 1: loss before the first step against ln C / the label-prior band."""
    if info is None or not math.isfinite(loss0):
        return []
    band = expected_init_loss(info, y, n_outputs)
    if band is None:
        return []
    low, high = band
    # Only the high side is certain: a resumed or fine-tuned model legitimately starts below ln C.
    if loss0 <= high * th.init_loss_ratio:
        return []
    what = f"ln {n_outputs} = {high:.3f}" if low == high else f"{low:.3f}..{high:.3f} (prior entropy..ln 2)"
    return [
        INIT_LOSS_OFF.finding(
            f"Loss at initialisation is {loss0:.3f}, expected about {what} for {info.name}.",
            subject=info.name,
            evidence={
                "initial_loss": loss0,
                "expected_low": low,
                "expected_high": high,
                "ratio": loss0 / high,
                "allowed_ratio": th.init_loss_ratio,
            },
        )
    ]


def judge_dead(dead: dict[str, float], th: TrainingThresholds, step: int) -> Finding | None:
    """Detector 5a: dying ReLU across layers."""
    if not dead:
        return None
    dying = {k: v for k, v in dead.items() if v > th.dead_unit_fraction}
    if len(dying) / len(dead) <= th.dead_layer_fraction:
        return None
    return DYING_RELU.finding(
        f"{len(dying)} of {len(dead)} ReLU layers have more than {th.dead_unit_fraction:.0%} of their "
        f"units dead (<= 0 for every probe sample) after step {step}: {fmt_layers(dying)}.",
        subject=fmt_layers(dying),
        evidence={
            "dead_fraction_by_layer": dead,
            "step": step,
            "threshold_units": th.dead_unit_fraction,
            "threshold_layers": th.dead_layer_fraction,
        },
    )


def judge_spread(
    spread: float, th: TrainingThresholds, step: int, y_pred: np.ndarray, input_spread: float
) -> Finding | None:
    """Detector 6: the same prediction for every probe input (when the inputs do differ)."""
    if not math.isfinite(spread) or spread >= th.constant_output_spread or input_spread <= 0:
        return None
    mean = y_pred.reshape(len(y_pred), -1).mean(axis=0)
    return CONSTANT_OUTPUT.finding(
        f"After step {step} the model gives the same output for all {len(y_pred)} different probe inputs "
        f"(spread {spread:.2e} < {th.constant_output_spread:g}).",
        subject="model output",
        evidence={
            "spread": spread,
            "step": step,
            "threshold": th.constant_output_spread,
            "mean_output": [round(float(v), 6) for v in mean[:16]],
            "input_spread": input_spread,
        },
    )


def judge_update_ratios(peaks: dict[str, float], th: TrainingThresholds, lr: float | None) -> list[Finding]:
    """Detector 3b: the largest per-step ||dW||/||W|| seen per layer, outside the sane band."""
    out = []
    moving = {k: v for k, v in peaks.items() if v > th.unchanged_rtol and math.isfinite(v)}
    high = {k: v for k, v in moving.items() if v > th.update_ratio_high}
    if high:
        out.append(
            UPDATE_RATIO_HIGH.finding(
                f"{len(high)} layer(s) change by more than {th.update_ratio_high:g} of their norm per step "
                f"(max {max(high.values()):.3g}, learning rate {lr if lr is not None else 'unknown'}): "
                f"{fmt_layers(sorted(high, key=high.get, reverse=True))}.",
                subject=fmt_layers(high),
                evidence={"ratio_by_layer": peaks, "learning_rate": lr, "threshold": th.update_ratio_high},
            )
        )
    if moving and all(v < th.update_ratio_low for v in moving.values()):
        out.append(
            UPDATE_RATIO_LOW.finding(
                f"Every layer changes by less than {th.update_ratio_low:g} of its norm per step (max "
                f"{max(moving.values()):.3g}, learning rate {lr if lr is not None else 'unknown'}).",
                subject="all layers",
                evidence={"ratio_by_layer": peaks, "learning_rate": lr, "threshold": th.update_ratio_low},
            )
        )
    return out


def judge_gradients(rel: dict[str, float], th: TrainingThresholds, before_bn: set[str] | None = None) -> list[Finding]:
    """Detector 5b: per-layer ||g||/||W|| compared with the last layer's (the order is the model's).
    Layers that feed only a BatchNormalization (``before_bn``) are scale invariant and never counted
    as exploding.
    """
    before_bn = before_bn or set()
    finite = {k: v for k, v in rel.items() if math.isfinite(v)}
    if len(finite) < 2:
        return []
    last_name = list(finite)[-1]
    ref = finite[last_name]
    ratio = {k: v / ref for k, v in finite.items()} if ref > 0 else {}
    ev = {"relative_grad_norm_by_layer": finite, "ratio_to_last_layer": ratio, "last_layer": last_name}
    out = []
    low = [k for k, r in ratio.items() if 0 < r < th.grad_vanish_ratio]
    high = [
        k
        for k, v in finite.items()
        if k not in before_bn and (v > th.grad_explode_abs or ratio.get(k, 0.0) > th.grad_explode_ratio)
    ]
    if low:
        out.append(
            VANISHING_GRADIENTS.finding(
                f"Gradients of {fmt_layers(low)} are below {th.grad_vanish_ratio:g} x those of '{last_name}' "
                f"(relative to their weights; min {min(ratio[k] for k in low):.2e}).",
                subject=fmt_layers(low),
                evidence={**ev, "threshold": th.grad_vanish_ratio},
            )
        )
    if high:
        out.append(
            EXPLODING_GRADIENTS.finding(
                f"Gradients of {fmt_layers(high)} are huge relative to their weights (max ||g||/||W|| "
                f"{max(finite[k] for k in high):.3g}; limits {th.grad_explode_abs:g} absolute, "
                f"{th.grad_explode_ratio:g} x the last layer '{last_name}').",
                subject=fmt_layers(high),
                evidence={
                    **ev,
                    "threshold_abs": th.grad_explode_abs,
                    "threshold_ratio": th.grad_explode_ratio,
                    "not_judged_before_batch_norm": sorted(before_bn & set(finite)),
                },
            )
        )
    return out


def judge_val_stuck(
    history: list[tuple[float, float | None]],
    th: TrainingThresholds,
    causes: list[str],
    bn_lag: dict[str, float] | None = None,
    val_batch: tuple[float, float] | None = None,
) -> Finding | None:
    """Detector 8: validation loss flat while the training loss falls; names the causes found.

    ``bn_lag``: BatchNormalization layers whose moving statistics still hold more than
    ``bn_momentum_remaining`` of their initial values after the steps seen (``momentum ** steps``).
    Validation runs in inference mode on those statistics, so early in a run (a short check, a
    momentum of 0.99 keeps 74% after 30 steps) its loss cannot follow the training loss yet.
    ``val_batch``: a validation batch's loss with its own batch statistics and with the moving ones.
    When the lag is there, no other cause was found and the batch statistics take the validation
    loss clearly lower (by ``1 - bn_lag_confirm``), the lag is the cause: an info finding. Otherwise a
    warning, naming the lag where there is one.
    """
    pts = [(t, v) for t, v in history if v is not None and math.isfinite(v) and math.isfinite(t)]
    if len(pts) < th.val_min_epochs:
        return None
    train = [t for t, _ in pts]
    val = [v for _, v in pts]
    val_range = (max(val) - min(val)) / max(abs(val[0]), 1e-12)
    train_drop = (train[0] - train[-1]) / max(abs(train[0]), 1e-12)
    if val_range >= th.val_stuck_rtol or train_drop <= th.val_train_drop:
        return None
    head = (
        f"Validation loss stayed at {val[-1]:.4f} (range {val_range:.2%}) over {len(val)} epochs while the "
        f"training loss fell {train_drop:.0%} ({train[0]:.4f} -> {train[-1]:.4f})."
    )
    evidence = {"val_loss": val, "train_loss": train, "val_range": val_range, "train_drop": train_drop}
    if val_batch is not None:
        evidence["val_batch_loss_batch_statistics"], evidence["val_batch_loss_moving_statistics"] = val_batch
    confirmed = val_batch is not None and val_batch[0] <= th.bn_lag_confirm * val_batch[1]
    if bn_lag and not causes and confirmed:
        worst = max(bn_lag.values())
        return VAL_LOSS_STUCK.finding(
            f"{head} Expected this early: the moving statistics of {len(bn_lag)} BatchNormalization layer(s) "
            f"still hold up to {worst:.0%} of their initial values, and validation runs on them (with its own "
            f"batch statistics a validation batch's loss is {val_batch[0]:.4f}, not {val_batch[1]:.4f}); a "
            "longer run lets them catch up.",
            subject="validation",
            evidence={**evidence, "causes": [], "bn_initial_left": bn_lag},
            severity="info",
            hint="Nothing to fix for a short check. If validation stays flat in a full run, look at "
            "BatchNormalization (lower momentum, training=True in the step) and the validation preprocessing.",
        )
    why = f" Causes found: {', '.join(causes)}." if causes else " No cause found by the other training checks."
    if bn_lag:
        why += (
            f" BatchNormalization moving statistics still hold up to {max(bn_lag.values()):.0%} of their initial "
            "values"
            + ("" if confirmed else ", but a validation batch stays high with its own batch statistics too")
            + "."
        )
    return VAL_LOSS_STUCK.finding(
        f"{head}{why}",
        subject="validation",
        evidence={**evidence, "causes": causes, **({"bn_initial_left": bn_lag} if bn_lag else {})},
    )


def bn_lag(ev: "RunEvidence", th: TrainingThresholds) -> dict[str, float]:
    """Watched BatchNormalization layers whose moving statistics still hold more than
    ``bn_momentum_remaining`` of their initial values after the steps seen.
    """
    layers = {n: float(m) for n, m in ev.bn_momentum.items() if n not in ev.bn_unchanged}
    return {n: m**ev.step for n, m in layers.items() if m**ev.step > th.bn_momentum_remaining}


# ---------------------------------------------------------------------------------------------
# What VerifyTraining saw during one fit
@dataclass
class RunEvidence:
    """What :class:`VerifyTraining` measured so far in one ``fit``: the judge's only input besides
    the thresholds. Fields of a probe that did not run keep their empty default.
    """

    step: int = 0  # training steps seen
    run_steps: int = 0  # the run's planned length (for the BatchNorm momentum check)
    probe: bool = False  # a probe batch was given
    frozen: list[str] = field(default_factory=list)  # leaf layers declared frozen, sorted
    weight_change: dict[str, float] = field(default_factory=dict)  # ||W_now - W_0|| / ||W_0||, trainable layers
    peak_update: dict[str, float] = field(default_factory=dict)  # largest one-step ||dW|| / ||W|| per layer
    learning_rate: float | None = None
    bn_momentum: dict[str, float] = field(default_factory=dict)  # watched BN layers (trainable, not frozen)
    bn_unchanged: list[str] = field(default_factory=list)  # of those, moving statistics never moved
    bn_stat_gap: dict[str, float] = field(default_factory=dict)  # moving statistics vs the probe batch's
    output_gap_tv: float | None = None  # training- vs inference-mode predictions on the probe batch
    dead: dict[str, float] | None = None  # dead unit fraction per ReLU layer; None: not probed
    spread: float = math.nan  # output spread of the training-mode predictions on the probe batch
    probe_output: np.ndarray | None = None  # those predictions
    input_spread: float = 0.0  # spread of the probe inputs
    history: list[tuple[float, float | None]] = field(default_factory=list)  # (train, val) loss per epoch


def judge_nan_loss(loss: float, step: int) -> Finding | None:
    if math.isfinite(loss):
        return None
    return NAN.finding(
        f"The training loss is {loss} at step {step}.",
        subject="loss",
        evidence={"where": "loss", "step": step, "loss": loss},
    )


def judge_nan_weights(bad: list[str], step: int) -> Finding:
    """``bad``: the layers whose weights hold NaN/Inf."""
    return NAN.finding(
        f"Weights of {len(bad)} layer(s) hold NaN/Inf after step {step}: {', '.join(bad[:4])}.",
        subject=", ".join(bad[:4]),
        evidence={"where": "weights", "step": step, "layers": bad},
    )


def judge_no_trainable_weights(layers: int) -> Finding:
    return NOTHING_TRAINING.finding(
        "The model has no trainable weights: every layer is frozen.",
        subject="model",
        evidence={"trainable_weights": 0, "layers": layers},
    )


def judge_weights(ev: RunEvidence, th: TrainingThresholds, *, final: bool) -> Finding | None:
    """Detector 3a: no trainable layer moved since the start (at any check), or some never did (at the end)."""
    ratios = ev.weight_change
    if not ratios:
        return None
    still = sorted(k for k, r in ratios.items() if r <= th.unchanged_rtol)
    evidence = {"unchanged_layers": still, "layers_checked": len(ratios), "step": ev.step, "declared_frozen": ev.frozen}
    if len(still) == len(ratios):
        return NOTHING_TRAINING.finding(
            f"None of the {len(ratios)} trainable layers changed after {ev.step} steps.",
            subject="model",
            evidence=evidence,
        )
    if still and final:
        return WEIGHTS_UNCHANGED.finding(
            f"{len(still)} of {len(ratios)} trainable layers never changed in {ev.step} steps: {fmt_layers(still)}.",
            subject=fmt_layers(still),
            evidence=evidence,
        )
    return None


def judge_bn_frozen(ev: RunEvidence, *, final: bool = False) -> Finding | None:
    """Detector 4a: moving statistics that never changed; at the end, with the probe's gaps of those layers."""
    same = ev.bn_unchanged
    if not same:
        return None
    evidence = {"layers": same, "step": ev.step, "bn_layers": len(ev.bn_momentum)}
    if final and ev.probe:
        evidence.update(
            output_gap_tv=ev.output_gap_tv,
            stat_gap_by_layer={n: ev.bn_stat_gap[n] for n in ev.bn_momentum if n in same and n in ev.bn_stat_gap},
        )
    return BN_STATS_FROZEN.finding(
        f"Moving mean/variance of {len(same)} of {len(ev.bn_momentum)} BatchNormalization layers did "
        f"not change in {ev.step} training steps: {fmt_layers(same)}.",
        subject=fmt_layers(same),
        evidence=evidence,
    )


def judge_bn_momentum(ev: RunEvidence, th: TrainingThresholds) -> Finding | None:
    """Detector 4b: momentum too high for the run's length, else a training/inference gap where the
    moving statistics had time to settle. Layers whose statistics never moved are bn_stats_frozen's.
    """
    layers = {n: m for n, m in ev.bn_momentum.items() if n not in ev.bn_unchanged}
    gaps = {n: g for n, g in ev.bn_stat_gap.items() if n in layers}
    slow = {n: m for n, m in layers.items() if float(m) ** ev.run_steps > th.bn_momentum_remaining}
    out_gap = ev.output_gap_tv if gaps else None
    # A gap is only a finding where the moving statistics had time to catch up in the steps seen;
    # before that it is the expected lag (bn_momentum_high covers a run too short for its momentum).
    settled = {n for n, m in layers.items() if float(m) ** ev.step <= th.bn_momentum_remaining}
    bad = {n: g for n, g in gaps.items() if g > th.bn_stat_gap and n in settled}
    ev_gap = {
        "output_gap_tv": out_gap,
        "stat_gap_by_layer": gaps,
        "threshold_output_gap": th.output_gap,
        "threshold_stat_gap": th.bn_stat_gap,
        "steps_seen": ev.step,
    }
    if slow:
        remaining = {n: float(m) ** ev.run_steps for n, m in slow.items()}
        return BN_MOMENTUM_HIGH.finding(
            f"BatchNormalization momentum {max(slow.values()):g} keeps {max(remaining.values()):.0%} of the "
            f"initial moving statistics after this run's {ev.run_steps} steps in {len(slow)} layer(s): "
            f"{fmt_layers(slow)}.",
            subject=fmt_layers(slow),
            evidence={
                "momentum_by_layer": slow,
                "run_steps": ev.run_steps,
                "initial_weight_left": remaining,
                "threshold": th.bn_momentum_remaining,
                **ev_gap,
            },
        )
    if bad and out_gap is not None and out_gap > th.output_gap:
        return BN_TRAIN_INFER_GAP.finding(
            f"Training-mode and inference-mode predictions differ by {out_gap:.2f} (total variation) on the "
            f"probe batch; BatchNormalization layers whose moving statistics do not match the batch: "
            f"{fmt_layers(sorted(bad, key=bad.get, reverse=True))}.",
            subject=fmt_layers(bad),
            evidence={**ev_gap, "layers": sorted(bad)},
        )
    return None


def judge_run_end(ev: RunEvidence, th: TrainingThresholds, reported: Collection[str]) -> list[Finding]:
    """The end-of-run findings, in report order (``training.val_loss_stuck`` excepted: it names the
    causes found, so it is judged once these are in). ``reported``: checks already found in the run.
    """
    out = [judge_weights(ev, th, final=True) if NOTHING_TRAINING.id not in reported else None]
    out += judge_update_ratios(ev.peak_update, th, ev.learning_rate)
    out.append(judge_bn_frozen(ev, final=True))
    if ev.dead is not None:
        out.append(judge_dead(ev.dead, th, ev.step))
        out.append(judge_spread(ev.spread, th, ev.step, ev.probe_output, ev.input_spread))
    out.append(judge_bn_momentum(ev, th))
    return [f for f in out if f is not None]
