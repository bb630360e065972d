"""The training judge on its own: what ``VerifyTraining`` collected (a :class:`RunEvidence`) in,
findings out, with no model and no fit. Each check next to its healthy twin; the ids, hints and
severities come from the real registry (``the`` asserts them).

The thresholds are the documented defaults (``TrainingThresholds``): among them ``bn_momentum_remaining``
0.2, ``bn_stat_gap`` 1.0, ``output_gap`` 0.1, ``update_ratio_high`` 0.1, ``dead_unit_fraction`` 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from training_cases import the

from pipecheck.validators.training import TrainingThresholds
from pipecheck.validators.training.judge import (
    RunEvidence,
    fmt_layers,
    judge_bn_frozen,
    judge_bn_momentum,
    judge_nan_loss,
    judge_run_end,
    judge_weights,
)

TH = TrainingThresholds()


def _bn_run(**kw) -> RunEvidence:
    """A 300-step run with two watched BatchNorm layers (momentum 0.9: settled after 16 steps)."""
    base = dict(
        step=300,
        run_steps=300,
        probe=True,
        bn_momentum={"bn1": 0.9, "bn2": 0.9},
        bn_stat_gap={"bn1": 0.05, "bn2": 0.04},
        output_gap_tv=0.01,
    )
    return RunEvidence(**{**base, **kw})


def test_fmt_layers_names_four_then_counts_the_rest():
    assert fmt_layers(["a", "b"]) == "a, b"
    assert fmt_layers([f"l{i}" for i in range(6)]) == "l0, l1, l2, l3 (+2 more)"


def test_nan_loss_fires_and_a_finite_loss_is_silent():
    f = the([judge_nan_loss(math.nan, 7)], "training.nan")
    assert f.evidence == {"where": "loss", "step": 7, "loss": f.evidence["loss"]} and "step 7" in f.message
    assert judge_nan_loss(2.3, 7) is None


def test_no_layer_moving_is_nothing_training_at_any_check():
    ev = RunEvidence(step=20, weight_change={"conv": 0.0, "head": 0.0}, frozen=["backbone_conv"])
    f = the([judge_weights(ev, TH, final=False)], "training.nothing_training")
    assert f.evidence["unchanged_layers"] == ["conv", "head"] and f.evidence["declared_frozen"] == ["backbone_conv"]
    assert judge_weights(RunEvidence(step=20, weight_change={"conv": 0.01, "head": 0.02}), TH, final=True) is None


def test_a_layer_that_never_moved_is_reported_at_the_end_only():
    ev = RunEvidence(step=30, weight_change={"live": 0.03, "dead": 0.0})
    assert judge_weights(ev, TH, final=False) is None  # mid-run it may still start to move
    f = the([judge_weights(ev, TH, final=True)], "training.weights_unchanged")
    assert f.subject == "dead" and f.message.startswith("1 of 2 trainable layers never changed in 30 steps")


def test_no_trainable_layers_is_not_judged_as_nothing_moving():
    assert judge_weights(RunEvidence(step=30), TH, final=True) is None


def test_frozen_bn_statistics_fire_with_the_probe_gaps_at_the_end():
    ev = _bn_run(bn_unchanged=["bn2"], bn_stat_gap={"bn1": 0.05, "bn2": 1.7}, output_gap_tv=0.4)
    mid = the([judge_bn_frozen(ev)], "training.bn_stats_frozen")
    assert mid.evidence == {"layers": ["bn2"], "step": 300, "bn_layers": 2}
    end = the([judge_bn_frozen(ev, final=True)], "training.bn_stats_frozen")
    assert end.evidence == {
        "layers": ["bn2"],
        "step": 300,
        "bn_layers": 2,
        "output_gap_tv": 0.4,
        "stat_gap_by_layer": {"bn2": 1.7},
    }
    assert judge_bn_frozen(_bn_run(), final=True) is None


def test_momentum_too_high_for_the_run_and_its_healthy_twin():
    slow = _bn_run(bn_momentum={"bn1": 0.9997, "bn2": 0.9997})
    f = the([judge_bn_momentum(slow, TH)], "training.bn_momentum_high")
    assert f.evidence["initial_weight_left"]["bn1"] == pytest.approx(0.9997**300)
    assert "after this run's 300 steps in 2 layer(s): bn1, bn2" in f.message
    assert judge_bn_momentum(_bn_run(), TH) is None


def test_train_infer_gap_only_where_the_statistics_had_time_to_settle():
    gap = dict(bn_stat_gap={"bn1": 0.05, "bn2": 1.3}, output_gap_tv=0.35)
    f = the([judge_bn_momentum(_bn_run(**gap), TH)], "training.bn_train_infer_gap")
    assert f.subject == "bn2" and f.evidence["layers"] == ["bn2"] and f.evidence["output_gap_tv"] == 0.35
    # After 10 steps momentum 0.9 still keeps 35% of the start (> 0.2): the expected lag, not a finding.
    assert judge_bn_momentum(_bn_run(step=10, **gap), TH) is None
    # Outputs that agree (small total variation) are no finding either.
    assert judge_bn_momentum(_bn_run(bn_stat_gap=gap["bn_stat_gap"], output_gap_tv=0.02), TH) is None


def test_layers_with_frozen_statistics_are_left_to_bn_stats_frozen():
    ev = _bn_run(bn_unchanged=["bn2"], bn_stat_gap={"bn1": 0.05, "bn2": 1.3}, output_gap_tv=0.35)
    assert judge_bn_momentum(ev, TH) is None


def test_run_end_findings_come_in_report_order():
    ev = _bn_run(
        weight_change={"conv": 0.02, "dead": 0.0},
        peak_update={"conv": 0.5, "dead": 0.0},
        bn_unchanged=["bn1"],
        dead={"relu1": 0.9, "relu2": 0.95},
        spread=1e-9,
        probe_output=np.full((8, 4), 0.25),
        input_spread=0.5,
    )
    checks = [f.check for f in judge_run_end(ev, TH, reported=set())]
    assert checks == [
        "training.weights_unchanged",
        "training.update_ratio_high",
        "training.bn_stats_frozen",
        "training.dying_relu",
        "training.constant_output",
    ]
    # A model already reported as not training at all is not judged again for unchanged weights.
    assert "training.weights_unchanged" not in {f.check for f in judge_run_end(ev, TH, {"training.nothing_training"})}


def test_run_end_of_a_healthy_run_is_silent():
    ev = _bn_run(
        weight_change={"conv": 0.02, "head": 0.05},
        peak_update={"conv": 0.002, "head": 0.004},
        dead={"relu1": 0.1, "relu2": 0.0},
        spread=0.4,
        probe_output=np.eye(4)[[0, 1, 2, 3] * 2],
        input_spread=0.5,
    )
    assert judge_run_end(ev, TH, reported=set()) == []


def test_val_loss_stuck_early_with_lagging_batchnorm_is_info_and_says_why():
    """keras-io's Xception from scratch in a 30-step check: the training loss falls 77%, the validation
    loss (inference mode, on BatchNormalization moving statistics that still hold 0.99 ** 30 = 74% of
    their start) stays flat. With no other cause, and a validation batch that its own batch statistics
    take far lower, that is the expected lag: info. Another cause, no lag, or a validation batch that
    stays high either way keeps the warning."""
    from pipecheck.validators.training import TrainingThresholds
    from pipecheck.validators.training.judge import RunEvidence, bn_lag, judge_val_stuck

    th = TrainingThresholds()
    history = [(0.638, 0.6925), (0.234, 0.6919), (0.147, 0.6915)]
    ev = RunEvidence(step=30, run_steps=3000, bn_momentum={"bn1": 0.99, "bn2": 0.99, "frozen_bn": 0.99})
    ev.bn_unchanged = ["frozen_bn"]
    lag = bn_lag(ev, th)
    assert set(lag) == {"bn1", "bn2"} and abs(lag["bn1"] - 0.99**30) < 1e-9
    # With its own batch statistics a validation batch's loss falls to 0.024 (helper's measurement): lag.
    f = judge_val_stuck(history, th, [], lag, (0.024, 0.689))
    assert f.severity.value == "info" and "Expected this early" in f.message and f.evidence["bn_initial_left"] == lag
    assert f.evidence["val_batch_loss_batch_statistics"] == 0.024
    kept = judge_val_stuck(history, th, ["training.bn_stats_frozen"], lag, (0.024, 0.689))
    assert kept.severity.value == "warning" and "bn_stats_frozen" in kept.message
    # The batch statistics do not help (other labels, other data in validation): still a warning.
    other = judge_val_stuck(history, th, [], lag, (0.68, 0.689))
    assert other.severity.value == "warning" and "stays high with its own batch statistics" in other.message
    assert judge_val_stuck(history, th, [], lag, None).severity.value == "warning"
    settled = RunEvidence(step=600, bn_momentum={"bn1": 0.99})
    assert bn_lag(settled, th) == {} and judge_val_stuck(history, th, [], {}).severity.value == "warning"
