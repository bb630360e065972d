"""Detector 2 of ``run_train_check``: can the model overfit one fixed batch? (and the zeroed-input
baseline of detector 6, measured on the same trained clone).

A fixed step count with a fixed factor is a poor judge on its own: a small healthy CNN (a few conv
blocks, global pooling) on real photos may need 100+ steps to take one batch's loss down 5x while
plain Keras trains it well. So the probe is calibrated to the model:

1. Train on the batch, looking at the loss every few steps, and stop as soon as it fell by the
   factor (``overfit_max_ratio``; under label smoothing, of its distance to the floor the smoothed
   targets set): silent. A batch whose loss already sits below that factor of the
   loss expected at initialisation (a resumed model) is silent too.
2. After ``overfit_steps`` steps, a loss that did not move (fell less than ``overfit_min_drop``) is
   certain: error (learning rate 0 or far too low, frozen layers, a broken train step).
3. Otherwise keep going up to ``overfit_max_steps``. Still short of the factor: train the same
   starting weights as many steps on the same images with their labels shuffled (the control: class
   balance kept, the image-label link cut). A final loss not below the control's (by
   ``overfit_control_margin``) is an error: the labels carry nothing the model can use (labels that
   do not match the images, a loss that does not fit the output). Below it, the model learns,
   slowly: an info finding, never a failure. Final losses are compared, not falls: the same starting
   weights give the two labelings different initial losses, and that gap fades as training goes on.

The clone trains with its dropout switched off (``Dropout``, ``SpatialDropout*``, ``GaussianDropout``,
``AlphaDropout`` at rate 0; ``GaussianNoise`` at stddev 0), as the recipe for this probe asks: the
question is whether the model *can* fit, and a regulariser that floors one batch's loss (four
dropout layers on a multi-label head leave real and shuffled labels at the same floor) is not a
defect. The user's model is never touched; the evidence lists the layers switched off.
"""

from __future__ import annotations

import math

import numpy as np

from pipecheck.validators.findings import Finding
from pipecheck.validators.training import CANNOT_OVERFIT, INPUT_INDEPENDENT, NAN, TrainingThresholds, probes

EVAL_EVERY = 10  # steps between two looks at the batch's loss
SLOW_HINT = (
    "Not a failure: the model learns from these labels, only slowly for one batch (a small model or "
    "a low learning rate). Nothing to fix unless training should be faster: then raise the learning "
    "rate or the model's capacity."
)


def batch_loss(model, info: probes.LossInfo, x: np.ndarray, y: np.ndarray) -> float:
    """Loss on the fixed batch in training mode (the mode the steps train in), without side effects."""
    return probes.loss_value(info, y, probes.predict(model, x, training=True))


def shuffled_labels(y: np.ndarray, seed: int = 0, tries: int = 32) -> tuple[np.ndarray, int]:
    """The batch's labels permuted over its rows (class balance kept, the image-label link cut); of
    ``tries`` seeded permutations the one that leaves fewest rows with their own label. Returns the
    labels and how many rows kept theirs.
    """
    rng = np.random.default_rng(seed)
    rows = np.asarray(y).reshape(len(y), -1)
    best: tuple[int, np.ndarray] | None = None
    for _ in range(tries):
        perm = rng.permutation(len(y))
        same = int(np.sum(np.all(rows[perm] == rows, axis=1)))
        if best is None or same < best[0]:
            best = (same, perm)
    assert best is not None
    return np.asarray(y)[best[1]], best[0]


def without_dropout(model) -> list[str]:
    """Switch off the clone's dropout-like layers (rate or stddev 0); returns their names."""
    import keras

    off = []
    for layer in probes.leaf_layers(model):
        name = type(layer).__name__
        if isinstance(layer, keras.layers.Dropout) or name in ("GaussianDropout", "AlphaDropout") or "Dropout" in name:
            if float(getattr(layer, "rate", 0) or 0) > 0:
                layer.rate = 0.0
                off.append(layer.name)
        elif name == "GaussianNoise" and float(getattr(layer, "stddev", 0) or 0) > 0:
            layer.stddev = 0.0
            off.append(layer.name)
    return off


def _fresh_optimizer(model) -> None:
    opt = model.optimizer
    model.compile(optimizer=type(opt).from_config(opt.get_config()), loss=model.loss)


def _train(model, info, x, y, start: int, stop: int, target: float) -> tuple[int, float]:
    """Train from step ``start`` up to ``stop``, looking every EVAL_EVERY steps; stops early once the
    loss is at or below ``target`` (or not finite). Returns (steps done, loss).
    """
    step, loss = start, math.nan
    while step < stop:
        n = min(EVAL_EVERY, stop - step)
        for _ in range(n):
            model.train_on_batch(x, y)
        step += n
        loss = batch_loss(model, info, x, y)
        if not math.isfinite(loss) or loss <= target:
            break
    return step, loss


def overfit_one_batch(
    clone, info: probes.LossInfo, x: np.ndarray, y: np.ndarray, th: TrainingThresholds
) -> list[Finding]:
    """Detector 2 and the zeroed-input baseline, on a clone that may be trained freely."""
    dropout_off = without_dropout(clone)
    if dropout_off:
        _fresh_optimizer(clone)  # compiled anew, so the train step sees the new rates
    before = clone.get_weights()
    y_pred = probes.predict(clone, x, training=True)
    loss0 = probes.loss_value(info, y, y_pred)
    band = probes.expected_init_loss(info, y, int(y_pred.reshape(len(y_pred), -1).shape[1]))
    # Under label smoothing the loss cannot go below the smoothed target's entropy: the factor is
    # taken of the distance to that floor (0.42 for 0.1 on 6 classes, above 0.2 x ln 6).
    floor = probes.loss_floor(info, int(y_pred.reshape(len(y_pred), -1).shape[1]))
    already_fit = band is not None and loss0 - floor <= th.overfit_max_ratio * (band[1] - floor)
    target = -math.inf if already_fit else floor + th.overfit_max_ratio * (loss0 - floor)
    k = min(th.overfit_steps, th.overfit_max_steps)
    steps, loss_k = _train(clone, info, x, y, 0, k, target)
    loss1 = loss_k
    moving = loss0 > 0 and math.isfinite(loss_k) and loss_k <= (1 - th.overfit_min_drop) * loss0
    if steps == k and moving and loss_k > target and not already_fit:
        steps, loss1 = _train(clone, info, x, y, k, th.overfit_max_steps, target)
    loss_zero = batch_loss(clone, info, np.zeros_like(x), y)
    moved = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(clone.get_weights(), before)))
    norm = math.sqrt(sum(float(np.sum(b.astype(np.float64) ** 2)) for b in before)) or 1.0
    ev = {
        "steps": steps,
        "batch_size": len(x),
        "initial_loss": loss0,
        "final_loss": loss1,
        "ratio": loss1 / loss0 if loss0 > 0 else None,
        "threshold": th.overfit_max_ratio,
        "max_steps": th.overfit_max_steps,
        "zero_input_loss": loss_zero,
        "weight_change": moved / norm,
    }
    if dropout_off:
        ev["dropout_off"] = dropout_off
    if floor > 0:
        ev["loss_floor"] = floor
        ev["label_smoothing"] = info.label_smoothing
    if already_fit:
        ev["already_fit_below"] = floor + th.overfit_max_ratio * (band[1] - floor)
    out: list[Finding] = []
    if not math.isfinite(loss1):
        out.append(
            NAN.finding(
                f"Overfitting one batch gave loss {loss1} after {steps} steps.",
                subject="loss",
                evidence={"where": "overfit probe", **ev},
            )
        )
        return out
    if loss0 > 0 and not already_fit and loss1 > target:
        out.append(_judge_short(clone, info, x, y, before, th, ev, loss_k, moving, k))
    if moved / norm > 1e-3 and loss1 >= (1 - th.input_independent_margin) * loss_zero:
        out.append(
            INPUT_INDEPENDENT.finding(
                f"After {steps} steps on one batch, the loss on the real images ({loss1:.4f}) is no "
                f"better than on all-zero images ({loss_zero:.4f}): the model ignores its input.",
                subject="model input",
                evidence=ev,
            )
        )
    return out


def _judge_short(
    clone, info, x, y, before, th: TrainingThresholds, ev: dict, loss_k: float, moving: bool, k: int
) -> Finding:
    """The loss did not fall by the factor: error when certain (it did not move, or real labels end
    no lower than shuffled ones), otherwise an info that the model learns slowly.
    """
    loss0, loss1, n = ev["initial_loss"], ev["final_loss"], ev["batch_size"]
    if not moving:
        ev.update({"steps": k, "final_loss": loss_k, "ratio": loss_k / loss0, "min_drop": th.overfit_min_drop})
        return CANNOT_OVERFIT.finding(
            f"Training {k} steps on one fixed batch of {n} did not move the loss ({loss0:.4f} -> {loss_k:.4f}, "
            f"x{loss_k / loss0:.3f}; a model that learns takes it down by more than {th.overfit_min_drop:.0%}).",
            subject="one batch",
            evidence=ev,
        )
    steps = ev["steps"]
    clone.set_weights(before)
    _fresh_optimizer(clone)
    ys, kept = shuffled_labels(y)
    c0 = batch_loss(clone, info, x, ys)
    _, c1 = _train(clone, info, x, ys, 0, steps, -math.inf)
    ev.update(
        {
            "control": "same images and starting weights, labels shuffled",
            "control_steps": steps,
            "control_initial_loss": c0,
            "control_final_loss": c1,
            "control_rows_with_own_label": kept,
            "control_margin": th.overfit_control_margin,
        }
    )
    head = (
        f"Training {steps} steps on one fixed batch of {n} took the loss from {loss0:.4f} to "
        f"{loss1:.4f} (x{loss1 / loss0:.2f}; the probe looks for <= x{th.overfit_max_ratio:g}"
        + (f" of the way down to the label-smoothing floor {ev['loss_floor']:.3f})" if ev.get("loss_floor") else ")")
    )
    if math.isfinite(c1) and loss1 >= (1 - th.overfit_control_margin) * c1:
        return CANNOT_OVERFIT.finding(
            f"{head}, not even {th.overfit_control_margin:.0%} below the {c1:.4f} the same steps reach with "
            "the batch's labels shuffled: the model does not learn from these labels.",
            subject="one batch",
            evidence=ev,
        )
    return CANNOT_OVERFIT.finding(
        f"{head}, but it learns: with the batch's labels shuffled the same steps reach only {c1:.4f}. "
        "Slow, not broken.",
        subject="one batch",
        evidence=ev,
        severity="info",
        hint=SLOW_HINT,
    )
