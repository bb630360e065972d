"""``VerifyTraining``: a Keras 3 callback that watches a user's own ``model.fit`` and reports findings.

Imports Keras at the top because it subclasses ``keras.callbacks.Callback``; it is reached only
through ``pipecheck.validators.training.VerifyTraining`` (lazy), so the CLI stays fast.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pipecheck.pipeline.errors import InputError
from pipecheck.validators.findings import Finding, Report
from pipecheck.validators.training import (
    FATAL_CHECKS,
    NAN,
    PROBE_SKIPPED,
    STOPPED,
    VAL_LOSS_STUCK,
    TrainingThresholds,
    judge,
    probes,
)


def first_batch(data: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(x, y)`` numpy arrays from a numpy tuple, a ``tf.data.Dataset`` or any iterable of batches."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)) and len(data) >= 2 and not isinstance(data[0], (tuple, list)):
        return np.asarray(data[0]), np.asarray(data[1])
    try:
        batch = next(iter(data))
    except (TypeError, StopIteration) as exc:
        raise InputError("probe/validation data must be (x, y) arrays or a dataset of (x, y) batches") from exc
    return probes.to_numpy(batch[0]), probes.to_numpy(batch[1])


class VerifyTraining(keras.callbacks.Callback):
    """Collects evidence during ``model.fit`` (``self.ev``, a :class:`judge.RunEvidence`);
    ``judge`` turns it into ``training.*`` findings, during the run and at its end.

    Keras callbacks never see the batches, so the probes (dead ReLU, constant output, BatchNorm batch
    statistics, output/loss inspection, initial loss) run on ``probe_data``: one small fixed batch, e.g.
    16 training images with their labels. Without it only the loss/weight/BatchNorm-statistics checks
    run and a ``training.probe_skipped`` info says so.

    Cost: every step reads the loss (one scalar) to catch NaN; the heavier probes (a host copy of the
    trainable weights before/after one step, one inference pass on the probe batch) run only after the
    global steps in ``thresholds.check_steps`` and then every ``thresholds.check_every`` steps. The
    initial weights are kept on the host for the end-of-run comparison.

    Args:
        probe_data: ``(x, y)`` numpy arrays, or a ``tf.data.Dataset``/iterable whose first batch is used.
        val_data: Optional ``(x, y)`` (or dataset, first batch) whose loss is computed at each epoch end
            when ``fit`` has no ``val_loss`` of its own.
        thresholds: :class:`TrainingThresholds`; defaults documented there.
        on_failure: ``"report"`` (collect only) or ``"stop"``: set ``model.stop_training`` as soon as a
            fatal symptom (NaN, constant output, nothing training, BN statistics frozen) is certain, and
            write the report.
        report_path: Where to write the report JSON (at a stop and at the end of training).
        frozen: Names of layers (or nested models, e.g. the backbone) meant to stay frozen; their
            weights and BatchNorm statistics are not expected to change.
        num_classes: Classes in the data, if known (otherwise read from the probe labels).
        run_steps: Length of the real run in steps, for the BatchNorm momentum check; default: the
            steps ``fit`` plans (``steps_per_epoch * epochs``), else the steps seen.
    """

    def __init__(
        self,
        probe_data=None,
        *,
        val_data=None,
        thresholds: TrainingThresholds | None = None,
        on_failure: str = "report",
        report_path: str | os.PathLike | None = None,
        frozen=(),
        num_classes: int | None = None,
        run_steps: int | None = None,
    ) -> None:
        super().__init__()
        if on_failure not in ("report", "stop"):
            raise InputError(f"on_failure must be 'report' or 'stop', not {on_failure!r}")
        self.probe = first_batch(probe_data)
        self.val = first_batch(val_data)
        self.th = thresholds or TrainingThresholds()
        self.on_failure = on_failure
        self.report_path = Path(report_path) if report_path else None
        self.frozen = tuple(frozen)
        self.num_classes = num_classes
        self.run_steps = run_steps
        self.ev = judge.RunEvidence(probe=self.probe is not None)
        self.stopped_at: int | None = None
        self._found: dict[str, Finding] = {}
        self._ratios: dict[str, list[float]] = {}  # one-step update ratios per layer, at the scheduled probes

    @property
    def step(self) -> int:
        """Training steps seen in the current (or last) fit."""
        return self.ev.step

    # -- results --------------------------------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        return list(self._found.values())

    def report(self) -> Report:
        rep = Report("train-check", self.findings)
        rep.summary.update(
            {
                "steps_seen": self.step,
                "stopped_at_step": self.stopped_at,
                "epochs_seen": len(self.ev.history),
                "probe_batch": self.probe is not None,
            }
        )
        return rep

    def write_report(self) -> None:
        if self.report_path is None:
            return
        from pipecheck.pipeline.fsio import write_atomic

        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.report_path, json.dumps(self.report().to_dict(), indent=2).encode("utf-8"))

    def _add(self, finding: Finding | None) -> None:
        if finding is None:
            return
        self._found[finding.check] = finding
        if finding.check in FATAL_CHECKS and self.on_failure == "stop" and self.stopped_at is None:
            self.stopped_at = self.step
            self.model.stop_training = True
            self._found[STOPPED.id] = STOPPED.finding(
                f"Training stopped at step {self.step}: {finding.check} is certain.",
                subject=finding.check,
                evidence={"step": self.step, "cause": finding.check},
            )
            self.write_report()

    # -- Keras hooks ----------------------------------------------------------------------------
    def on_train_begin(self, logs=None) -> None:
        model = self.model
        # One report per fit: a second fit with the same callback starts from the model as it is now.
        self.ev = judge.RunEvidence(probe=self.probe is not None)
        self.stopped_at, self._found, self._ratios = None, {}, {}
        self._before: dict | None = None
        self._act = None
        self._groups: dict = {}
        self._bn_watch: list = []
        # With gradient accumulation the weights legitimately stay put for several steps.
        self._settle = 5 * max(1, int(getattr(model.optimizer, "gradient_accumulation_steps", None) or 1))
        self._info = probes.loss_info(model)
        y_pred = None
        if self.probe is not None:
            x, y = self.probe
            self.ev.input_spread = float(np.std(x.reshape(len(x), -1), axis=0).mean())
            y_pred = probes.predict(model, x)  # also builds a subclassed model that was never called
        self._ready = bool(model.built)
        if self._ready:
            self._watch_weights()
        if self.probe is None:
            self._add(
                PROBE_SKIPPED.finding(
                    "No probe_data given: dead-ReLU, constant-output, BatchNorm-gap, "
                    "initial-loss and output/loss checks were skipped.",
                    subject="probe_data",
                )
            )
            return
        mismatch = judge.judge_output_loss(model, self._info, y, y_pred, self.num_classes)
        for f in mismatch:
            self._add(f)
        # A mismatched output/loss makes the loss value meaningless, so its initial value is not judged.
        if self._info is not None and not mismatch:
            loss0 = probes.loss_value(self._info, y, y_pred)
            for f in judge.judge_init_loss(
                self._info, y, int(y_pred.reshape(len(y_pred), -1).shape[1]), loss0, self.th
            ):
                self._add(f)
        self._act = probes.ActivationProbe(model)
        if not self._act.ok:
            self._add(
                PROBE_SKIPPED.finding(
                    f"Dead-ReLU and BatchNorm-gap probes skipped: {self._act.why}.",
                    subject="model",
                )
            )

    def _watch_weights(self) -> None:
        """Snapshot the starting weights and BN statistics (after the first step for a model that the
        first step builds).
        """
        model = self.model
        self._frozen = probes.frozen_names(model, self.frozen)
        self.ev.frozen = sorted(self._frozen)
        self._groups = {k: v for k, v in probes.trainable_by_layer(model).items() if k not in self._frozen}
        self._w0 = probes.snapshot(self._groups)
        self._bn_watch = [
            layer for layer in probes.bn_layers(model) if layer.trainable and layer.name not in self._frozen
        ]
        self.ev.bn_momentum = {layer.name: layer.momentum for layer in self._bn_watch}
        self._bn0 = {
            layer.name: (probes.to_numpy(layer.moving_mean), probes.to_numpy(layer.moving_variance))
            for layer in self._bn_watch
        }
        if not model.trainable_weights:
            self._add(judge.judge_no_trainable_weights(len(probes.leaf_layers(model))))

    def _scheduled(self, step: int) -> bool:
        every = self.th.check_every
        return step in self.th.check_steps or (every > 0 and step > max(self.th.check_steps) and step % every == 0)

    def _sync(self) -> None:
        # JAX keeps the training state outside the variables between steps; attach it before reading.
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    def on_train_batch_begin(self, batch, logs=None) -> None:
        if self._ready and self._scheduled(self.step + 1):
            self._sync()
            self._before = probes.snapshot(self._groups)

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.ev.step += 1
        if not self._ready:
            self._sync()
            self._watch_weights()
            self._ready = True
        loss = (logs or {}).get("loss")
        if loss is not None:
            self._add(judge.judge_nan_loss(float(probes.to_numpy(loss)), self.step))
        if self._before is not None:
            self._sync()
            self._check_now(self._before)
            self._before = None

    def _check_now(self, before: dict) -> None:
        """The scheduled probes: one-step update ratios, NaN weights, frozen training, dead outputs."""
        after = probes.snapshot(self._groups)
        if not probes.all_finite(a for arrays in after.values() for a in arrays):
            self._add(
                judge.judge_nan_weights([k for k, arrays in after.items() if not probes.all_finite(arrays)], self.step)
            )
            return
        for name, ratio in probes.change_ratios(before, after).items():
            self._ratios.setdefault(name, []).append(ratio)
        if self.step >= self._settle:
            self.ev.weight_change = probes.change_ratios(self._w0, after)
            self.ev.bn_unchanged = self._bn_unchanged()
            self._add(judge.judge_weights(self.ev, self.th, final=False))
            self._add(judge.judge_bn_frozen(self.ev))
        if self.probe is not None and self.step >= 5:
            x, _ = self.probe
            # Training mode: early BatchNorm moving statistics can make inference outputs look constant.
            y_pred = probes.predict(self.model, x, training=True)
            self._add(
                judge.judge_spread(probes.output_spread(y_pred), self.th, self.step, y_pred, self.ev.input_spread)
            )

    def _bn_unchanged(self) -> list[str]:
        """Watched BatchNorm layers whose moving mean and variance are still the starting ones."""
        return [
            layer.name
            for layer in self._bn_watch
            if np.array_equal(self._bn0[layer.name][0], probes.to_numpy(layer.moving_mean))
            and np.array_equal(self._bn0[layer.name][1], probes.to_numpy(layer.moving_variance))
        ]

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        train = logs.get("loss")
        val = logs.get("val_loss")
        if val is None and self.val is not None and self._info is not None:
            x, y = self.val
            val = probes.loss_value(self._info, y, probes.predict(self.model, x))
        if train is not None:
            self.ev.history.append((float(train), None if val is None else float(val)))

    def on_train_end(self, logs=None) -> None:
        # After NaN weights every probe output is NaN too: the NaN finding is the whole story.
        if self.step > 0 and NAN.id not in self._found:
            self._collect_run_end()
            for f in judge.judge_run_end(self.ev, self.th, set(self._found)):
                self._add(f)
            causes = sorted(c for c in self._found if c not in (PROBE_SKIPPED.id, VAL_LOSS_STUCK.id))
            lag = judge.bn_lag(self.ev, self.th)
            self._add(judge.judge_val_stuck(self.ev.history, self.th, causes, lag, self._val_batch() if lag else None))
        self.write_report()

    def _val_batch(self) -> tuple[float, float] | None:
        """A validation batch's loss with its own batch statistics (training mode, no side effects) and
        with the moving ones (inference mode): what BatchNormalization lag does to validation.
        """
        if self.val is None or self._info is None:
            return None
        x, y = self.val
        try:
            inference = probes.predict(self.model, x)
            y = probes.align_labels(y, int(inference.reshape(len(inference), -1).shape[1]))
            with_batch = probes.loss_value(self._info, y, probes.predict(self.model, x, training=True))
            with_moving = probes.loss_value(self._info, y, inference)
        except Exception:  # noqa: BLE001 - labels or outputs the probe cannot pair: no confirmation, a warning
            return None
        if not (math.isfinite(with_batch) and math.isfinite(with_moving)):
            return None
        return float(with_batch), float(with_moving)

    def _collect_run_end(self) -> None:
        """The end-of-run measurements: weights and BN statistics against the start, the run's length,
        and on the probe batch the activation probe and one prediction in each mode.
        """
        ev, model = self.ev, self.model
        ev.weight_change = probes.change_ratios(self._w0, probes.snapshot(self._groups))
        ev.peak_update = {k: float(np.max(v)) for k, v in self._ratios.items()}
        ev.learning_rate = _learning_rate(model)
        ev.bn_unchanged = self._bn_unchanged()
        planned = (self.params or {}).get("steps")
        ev.run_steps = self.run_steps or (planned * (self.params or {}).get("epochs", 1) if planned else self.step)
        if self.probe is None:
            return
        x, _ = self.probe
        bn_batch: dict = {}
        if self._act is not None and self._act.ok:
            ev.dead, bn_batch = self._act.run(x)
        watched = {layer.name: layer for layer in self._bn_watch}
        ev.bn_stat_gap = {n: probes.bn_stat_gap(watched[n], m, v) for n, (m, v) in bn_batch.items() if n in watched}
        if ev.dead is None and not ev.bn_stat_gap and not ev.bn_unchanged:
            return
        y_train = probes.predict(model, x, training=True)
        if ev.dead is not None:
            ev.spread, ev.probe_output = probes.output_spread(y_train), y_train
        if ev.bn_stat_gap or ev.bn_unchanged:
            p_inf = probes.as_probabilities(probes.predict(model, x), self._info)
            ev.output_gap_tv = probes.tv_distance(probes.as_probabilities(y_train, self._info), p_inf)


class FitProgress(keras.callbacks.Callback):
    """Reports a ``fit``'s training steps to a ``pipeline.progress.Progress`` (one per batch; the
    total is epochs x steps per epoch, as ``fit`` plans it). Draws nothing itself: with ``fit(verbose=0)``
    Keras prints no bar of its own either.
    """

    def __init__(self, progress: Any, what: str = "training") -> None:
        super().__init__()
        self.progress, self.what = progress, what

    def on_train_begin(self, logs=None) -> None:
        params = self.params or {}
        steps = int(params.get("steps") or 0) * int(params.get("epochs") or 1)
        self.progress.start(steps, self.what, "steps")

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.progress.advance(1)

    def on_train_end(self, logs=None) -> None:
        self.progress.finish()


def _learning_rate(model) -> float | None:
    opt = getattr(model, "optimizer", None)
    lr = getattr(opt, "learning_rate", None)
    if lr is None:
        return None
    try:
        return float(probes.to_numpy(lr))
    except Exception:  # a schedule object: its value depends on the step, report it as unknown
        return None
