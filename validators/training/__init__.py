"""The ``training`` family: evidence gathered while a model trains, turned into findings.

Two ways in:

* :class:`VerifyTraining` (``pipecheck.validators.training.callback``), a Keras 3 callback that a
  user adds to their own ``model.fit(...)``. It watches the first steps and the epochs passively and,
  with ``on_failure="stop"``, stops a run as soon as a fatal symptom is certain.
* :func:`run_train_check` (``pipecheck.validators.training.run``), the active probes behind
  ``pipecheck train-check``: overfit one batch on a clone, zeroed-input baseline, per-layer gradient
  norms, then a short real ``fit`` with the callback attached.

This module only declares the checks and the thresholds, so that listing checks (``pipecheck
checks``) does not import TensorFlow; the two entry points above are loaded on first access
(PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pipecheck.validators import registry

define = registry.define

INIT_LOSS_OFF = define(
    "training.init_loss_off",
    "warning",
    "Loss at initialisation is far above its expected value (ln C for softmax cross-entropy, "
    "between the label-prior entropy and ln 2 per class for sigmoid cross-entropy).",
    "Standardise the inputs (the backbone's preprocess_input, or x/127.5-1) and keep the output "
    "layer's default initialisation; a loss far above ln C at step 0 means saturated logits.",
)
CANNOT_OVERFIT = define(
    "training.cannot_overfit",
    "error",
    "The model cannot overfit one fixed small batch: its loss does not move, or falls no faster than "
    "with the batch's labels shuffled (info when it falls faster, only short of the factor: slow, not broken).",
    "Check that the labels match the images, that layers are trainable, that the learning rate is "
    "sane (Adam 1e-3, fine-tuning 1e-4..1e-5) and that the loss matches the output layer.",
)
NOTHING_TRAINING = define(
    "training.nothing_training",
    "error",
    "No trainable weight changes during training steps (or the model has no trainable weights).",
    "Set layer.trainable = True on the layers meant to learn (at least the head) and recompile; "
    "check that the learning rate is not 0 and that the custom train_step applies the gradients.",
)
WEIGHTS_UNCHANGED = define(
    "training.weights_unchanged",
    "warning",
    "Some trainable layers never change their weights during training steps.",
    "If the layer is meant to be frozen set layer.trainable = False or declare it with "
    "VerifyTraining(frozen=[...]); otherwise look for a stop_gradient/disconnected branch.",
)
UPDATE_RATIO_HIGH = define(
    "training.update_ratio_high",
    "warning",
    "Per-step update size ||dW||/||W|| is too large for some layers (the weights are being overwritten).",
    "Lower the learning rate (fine-tuning with RMSprop/Adam: 1e-4..1e-5, not 1e-2) or add warm-up.",
)
UPDATE_RATIO_LOW = define(
    "training.update_ratio_low",
    "warning",
    "Per-step update size ||dW||/||W|| is so small that the weights barely move.",
    "Raise the learning rate (Adam: 1e-3 is a sane start) or check the learning-rate schedule.",
)
BN_STATS_FROZEN = define(
    "training.bn_stats_frozen",
    "error",
    "BatchNormalization moving mean/variance do not change although training steps ran.",
    "Call the model with training=True in the training step (or use model.fit) so BatchNormalization "
    "updates its moving statistics; in a stateless step keep the returned non-trainable variables.",
)
BN_MOMENTUM_HIGH = define(
    "training.bn_momentum_high",
    "warning",
    "BatchNormalization momentum is so high that the moving statistics stay near their initial "
    "values for this run's length.",
    "Use BatchNormalization(momentum=0.99) or 0.9 for short runs (0.9997 needs tens of thousands of steps).",
)
BN_TRAIN_INFER_GAP = define(
    "training.bn_train_infer_gap",
    "warning",
    "Outputs in training mode and inference mode differ a lot on the same batch, caused by "
    "BatchNormalization moving statistics that do not match the batch statistics.",
    "Shuffle the training data so batches mix classes, use larger batches, or run the frozen "
    "backbone with training=False (base(x, training=False)) so it always uses its moving statistics.",
)
DYING_RELU = define(
    "training.dying_relu",
    "warning",
    "Many ReLU layers have a large fraction of units that output <= 0 for every probe sample.",
    "Lower the learning rate, standardise the inputs, use he_normal initialisation, or switch to LeakyReLU/ELU.",
)
VANISHING_GRADIENTS = define(
    "training.vanishing_gradients",
    "warning",
    "Gradients of early layers are orders of magnitude smaller (relative to their weights) than "
    "those of the last layer.",
    "Add BatchNormalization or residual connections, use he_normal initialisation with ReLU, or "
    "avoid saturating activations (sigmoid/tanh) in deep stacks.",
)
EXPLODING_GRADIENTS = define(
    "training.exploding_gradients",
    "warning",
    "Gradients of some layers are orders of magnitude larger (relative to their weights) than those of the last layer.",
    "Lower the learning rate, standardise the inputs, or clip gradients (optimizer clipnorm=1.0).",
)
NAN = define(
    "training.nan",
    "error",
    "NaN or Inf in the loss, the weights or the gradients.",
    "Look for NaN/Inf in the input data, lower the learning rate, and use a loss built from logits "
    "(from_logits=True with a linear output) instead of log of a softmax.",
)
CONSTANT_OUTPUT = define(
    "training.constant_output",
    "error",
    "The model's outputs barely vary across different inputs (the same prediction for every image).",
    "Standardise the inputs, lower the learning rate, and replace ReLU by LeakyReLU/ELU if the "
    "ReLU units died; check that the inputs are not all identical.",
)
INPUT_INDEPENDENT = define(
    "training.input_independent",
    "error",
    "After training, the loss on real inputs is no better than the loss on zeroed inputs.",
    "The model ignores its input: check the preprocessing (images all zero/constant?), dead ReLU "
    "layers and the learning rate.",
)
PROBABILITIES_AS_LOGITS = define(
    "training.probabilities_as_logits",
    "error",
    "The output layer applies softmax/sigmoid but the loss is built with from_logits=True.",
    "Either remove the output activation (Dense(C)) and keep from_logits=True, or keep the "
    "activation and use from_logits=False.",
)
LOGITS_AS_PROBABILITIES = define(
    "training.logits_as_probabilities",
    "error",
    "The output layer is linear (logits) but the loss expects probabilities (from_logits=False).",
    "Build the loss with from_logits=True (e.g. keras.losses.CategoricalCrossentropy(from_logits=True)) "
    "or add activation='softmax'/'sigmoid' to the output layer.",
)
SOFTMAX_MULTILABEL = define(
    "training.softmax_multilabel",
    "error",
    "Softmax output / categorical cross-entropy used with multi-label targets (several 1s per row).",
    "For multi-label data use Dense(C, activation='sigmoid') with binary_crossentropy.",
)
SIGMOID_SINGLE_LABEL = define(
    "training.sigmoid_single_label",
    "warning",
    "Sigmoid output with binary cross-entropy used with single-label (one-hot) targets.",
    "For single-label data use Dense(C, activation='softmax') with categorical_crossentropy "
    "(or sparse_categorical_crossentropy for integer labels).",
)
NUM_OUTPUTS_MISMATCH = define(
    "training.num_outputs_mismatch",
    "error",
    "The number of model outputs differs from the number of classes in the data.",
    "Make the output layer Dense(num_classes) with num_classes taken from the dataset's vocabulary, "
    "and the loss fit the labels: integer ids -> sparse_categorical_crossentropy, one-hot rows -> "
    "categorical_crossentropy, multi-hot rows or one sigmoid unit -> binary_crossentropy.",
)
VAL_LOSS_STUCK = define(
    "training.val_loss_stuck",
    "warning",
    "Validation loss does not move while the training loss falls.",
    "Look at the causes listed in the evidence: BatchNormalization statistics (training=True in the "
    "step, lower momentum), a different preprocessing for validation, or a validation split with "
    "other labels.",
)
STOPPED = define(
    "training.stopped",
    "info",
    "VerifyTraining stopped training early because a fatal symptom was certain.",
    "Fix the fatal finding(s) of this report and restart the run.",
)
PROBE_SKIPPED = define(
    "training.probe_skipped",
    "info",
    "A training probe could not run on this model or backend; its detector was skipped.",
    "Use a functional or Sequential Keras model with a known input shape, on the TensorFlow, JAX or "
    "PyTorch backend (the ones with a gradient probe).",
)


# Fatal checks (their ids): with ``on_failure="stop"`` the callback stops training when one is certain.
FATAL_CHECKS = frozenset({NAN.id, CONSTANT_OUTPUT.id, NOTHING_TRAINING.id, BN_STATS_FROZEN.id})


@dataclass
class TrainingThresholds:
    """Thresholds of the ``training`` family; the CLI and :class:`VerifyTraining` both fill one.

    Attributes:
        init_loss_ratio: ``training.init_loss_off`` fires when the loss on the probe batch before the
            first step is above ``ratio * expected`` (expected: ln C for softmax; for sigmoid the band
            from the mean label-prior entropy per class up to ln 2, whose top is used). A loss below
            the band is not reported: a resumed or fine-tuned model legitimately starts lower.
        overfit_steps: Steps after which the overfit-one-batch probe (``run_train_check``) first judges.
        overfit_max_ratio: The probe is content once final/initial loss on the fixed batch is at or below
            this (0.2: the loss fell at least 5x); it stops there.
        overfit_max_steps: Short of that factor, a loss that moves is trained on up to this many steps
            (a small healthy CNN may need 100+) before the control run decides.
        overfit_min_drop: ``training.cannot_overfit`` (error) when the loss fell less than this fraction in
            ``overfit_steps`` steps (it did not move)...
        overfit_control_margin: ...or when, after ``overfit_max_steps`` steps short of the factor, its
            final loss is not below ``(1 - this) x`` the final loss of the same starting weights trained
            as long on the batch's labels shuffled (small real CNNs: 0.6-0.8 of the control; labels
            that are noise to the model: 0.9-1.0). Below it: an info finding (the model learns, slowly).
        unchanged_rtol: A weight tensor counts as unchanged when ||dW||/||W|| <= this.
        update_ratio_high: ``training.update_ratio_high`` fires when a layer's largest per-step
            ||dW||/||W|| (measured over one step at each of ``check_steps``) exceeds this. Adam 1e-3
            from scratch gives about 0.01; RMSprop 0.01 gives 0.2-1 (its first steps are the largest).
        update_ratio_low: ``training.update_ratio_low`` fires when every moving layer's largest per-step
            ratio is below this.
        bn_momentum_remaining: ``training.bn_momentum_high`` fires when ``momentum ** run_steps`` (the
            weight the initial moving statistics still carry at the end of the run) exceeds this.
            ``run_steps`` is the real run's length: what ``fit`` plans (or ``VerifyTraining(run_steps=)``).
        assumed_run_steps: The run length assumed for that check when the real one is unknown, as in
            ``run_train_check``, whose short fit is only a probe (0.9997 ** 3000 = 0.41: reported;
            0.99 ** 3000 ~ 0: silent).
        bn_stat_gap: A BatchNormalization layer counts as mismatched when the standardised gap between
            its moving statistics and the probe batch's statistics exceeds this.
        output_gap: ``training.bn_train_infer_gap`` fires when the mean total-variation distance between
            training-mode and inference-mode predictions on the probe batch exceeds this.
        dead_unit_fraction: A ReLU layer counts as dying when more than this fraction of its units output
            <= 0 for every probe sample.
        dead_layer_fraction: ``training.dying_relu`` fires when more than this fraction of the ReLU
            layers are dying.
        grad_vanish_ratio: ``training.vanishing_gradients`` fires when a layer's relative gradient norm
            ||g||/||W|| is below this times the last layer's.
        grad_explode_ratio: ``training.exploding_gradients`` fires when it is above this times the last
            layer's...
        grad_explode_abs: ...or when any layer's ||g||/||W|| is above this (healthy nets: 0.01-1; at
            100 one SGD step with learning rate 0.01 would replace the whole weight tensor).
        constant_output_spread: ``training.constant_output`` fires when the spread of the outputs across
            the probe samples (std across samples / (|mean| + std), averaged over outputs) is below this.
        input_independent_margin: ``training.input_independent`` fires when the real-input loss is not at
            least this fraction below the zeroed-input loss.
        val_stuck_rtol: ``training.val_loss_stuck``: the validation loss counts as not moving when its
            range over the epochs is below this fraction of its first value...
        val_train_drop: ...while the training loss fell by more than this fraction.
        val_min_epochs: Epochs (validation points) needed before judging the validation loss.
        bn_lag_confirm: ``val_loss_stuck`` is put down to BatchNormalization lag (info) only when a
            validation batch's loss with its own batch statistics is at most this fraction of its loss
            with the moving statistics.
        check_steps: Global steps (1-based) after which the callback runs its probes.
        check_every: After ``check_steps``, probe every this many steps (0: never).
    """

    init_loss_ratio: float = 2.0
    overfit_steps: int = 50
    overfit_max_ratio: float = 0.2
    overfit_max_steps: int = 150
    overfit_min_drop: float = 0.02
    overfit_control_margin: float = 0.05
    unchanged_rtol: float = 1e-9
    update_ratio_high: float = 0.1
    update_ratio_low: float = 1e-6
    bn_momentum_remaining: float = 0.2
    assumed_run_steps: int = 3000
    bn_stat_gap: float = 1.0
    output_gap: float = 0.1
    dead_unit_fraction: float = 0.5
    dead_layer_fraction: float = 0.5
    grad_vanish_ratio: float = 1e-4
    grad_explode_ratio: float = 1e4
    grad_explode_abs: float = 100.0
    constant_output_spread: float = 1e-3
    input_independent_margin: float = 0.02
    val_stuck_rtol: float = 0.02
    bn_lag_confirm: float = 0.8
    val_train_drop: float = 0.1
    val_min_epochs: int = 3
    check_steps: tuple[int, ...] = (1, 5, 20, 50)
    check_every: int = 100

    def replace(self, **changes: Any) -> "TrainingThresholds":
        """A copy with some fields changed; unknown names raise ``InputError``."""
        from pipecheck.pipeline.errors import InputError

        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InputError(f"unknown training threshold(s) {unknown}; known: {sorted(known)}")
        return TrainingThresholds(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})


_LAZY = {
    "VerifyTraining": "pipecheck.validators.training.callback",
    "run_train_check": "pipecheck.validators.training.run",
}


def __getattr__(name: str) -> Any:
    # Keras/TensorFlow load only when the callback or the active check is first used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FATAL_CHECKS", "TrainingThresholds", "VerifyTraining", "run_train_check"]
