"""run_train_check: overfit-one-batch, zeroed-input baseline and gradient probes on a clone, then a
short fit with VerifyTraining; each bug next to a healthy twin."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_cases import C, L, problems, quadrant_data, the, vgg_like

from pipecheck.pipeline.errors import InputError
from pipecheck.validators.training import run_train_check


@pytest.fixture(scope="module")
def data():
    return quadrant_data(256), quadrant_data(64, seed=5)


def _compiled(model, opt):
    model.compile(optimizer=opt, loss="categorical_crossentropy")
    return model


def _deep(act, init, n=8):
    keras.utils.set_random_seed(2)
    inp = keras.Input((16, 16, 3))
    x = L.Flatten()(inp)
    for i in range(n):
        x = L.Dense(16, activation=act, kernel_initializer=init, name=f"d{i}")(x)
    return keras.Model(inp, L.Dense(C, activation="softmax", name="head")(x))


@pytest.fixture(scope="module")
def healthy(data):
    model = _compiled(vgg_like(), keras.optimizers.Adam(3e-3))
    before = [w.copy() for w in model.get_weights()]
    report = run_train_check(model, data[0], data[1], steps=30)
    return model, before, report


def test_healthy_model_passes_and_is_not_touched(healthy):
    model, before, report = healthy
    assert problems(report.findings) == set() and report.status == "pass"
    assert report.summary["fit_on"] == "clone" and report.summary["steps"] == 30
    assert len(report.summary["val_loss"]) == 3
    assert set(report.summary["gradient_norm_by_layer"]) == {"conv_0", "conv_1", "conv_2", "conv_3", "fc_1", "output"}
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_cannot_overfit_one_batch_with_a_learning_rate_far_off(data):
    report = run_train_check(_compiled(vgg_like(), keras.optimizers.Adam(1e-7)), data[0], steps=10)
    assert "training.cannot_overfit" in problems(report.findings)
    assert problems(report.findings) <= {"training.cannot_overfit", "training.update_ratio_low"}
    f = the(report.findings, "training.cannot_overfit")
    assert f.evidence["ratio"] > 0.9 and f.evidence["steps"] == 50
    assert "learning rate" in f.hint


def test_vanishing_gradients_in_a_deep_sigmoid_stack(data, healthy):
    report = run_train_check(
        _compiled(_deep("sigmoid", "glorot_uniform", 10), keras.optimizers.Adam(1e-3)), data[0], steps=10
    )
    f = the(report.findings, "training.vanishing_gradients")
    assert "d0" in f.evidence["ratio_to_last_layer"] and f.evidence["ratio_to_last_layer"]["d0"] < 1e-4
    assert "BatchNormalization" in f.hint
    # The same stack with ReLU and he_normal initialisation: gradients reach the first layer.
    twin = run_train_check(_compiled(_deep("relu", "he_normal", 10), keras.optimizers.Adam(1e-3)), data[0], steps=10)
    assert not {"training.vanishing_gradients", "training.exploding_gradients"} & problems(twin.findings)
    assert not {"training.vanishing_gradients", "training.exploding_gradients"} & problems(healthy[2].findings)


def test_exploding_gradients_with_a_huge_initialisation(data):
    big = keras.initializers.RandomNormal(stddev=1.0, seed=0)
    report = run_train_check(_compiled(_deep("relu", big, 6), keras.optimizers.SGD(1e-3)), data[0], steps=10)
    f = the(report.findings, "training.exploding_gradients")
    assert max(f.evidence["relative_grad_norm_by_layer"].values()) > 100 and "clipnorm" in f.hint


def _stem(scale):
    """keras.applications' stem: Conv2D without bias or activation -> BatchNormalization -> swish, then
    a small head; ``scale`` multiplies the conv's initial weights (EfficientNet's stem_conv starts small)."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((16, 16, 3))
    conv = L.Conv2D(16, 3, strides=2, use_bias=False, name="stem_conv")
    x = L.Activation("swish")(L.BatchNormalization(name="stem_bn")(conv(inp)))
    x = L.GlobalAveragePooling2D()(L.Conv2D(16, 3, activation="relu", name="top_conv")(x))
    model = keras.Model(inp, L.Dense(C, activation="softmax", name="head")(x))
    conv.kernel.assign(conv.kernel.numpy() * scale)
    return model


def test_a_conv_before_batch_norm_is_scale_invariant_not_exploding(data):
    """keras-io EfficientNetB0 from scratch (Adam) showed ||g||/||W|| ~250 on stem_conv, which feeds only
    a BatchNormalization: the BN undoes the conv's scale, so a small kernel has a large relative
    gradient and trains normally. Not judged as exploding; the probe's evidence says so. The same
    small kernel without the BN (the huge-init stack above keeps firing) is judged as before."""
    report = run_train_check(_compiled(_stem(1e-3), keras.optimizers.Adam(1e-3)), data[0], steps=10)
    grads = report.summary["gradient_norm_by_layer"]
    assert grads["stem_conv"] > 100  # the ratio that used to fire
    assert "training.exploding_gradients" not in problems(report.findings)
    assert report.status == "pass"
    from pipecheck.validators.training import TrainingThresholds, judge, probes

    assert probes.feeds_batch_norm(_stem(1.0)) == {"stem_conv"}
    fired = judge.judge_gradients(grads, TrainingThresholds())
    assert [f.check for f in fired] == ["training.exploding_gradients"]  # without the exemption


def test_input_independent_model_with_dead_relu_units(data, healthy):
    keras.utils.set_random_seed(5)
    inp = keras.Input((16, 16, 3))
    h = L.Flatten()(L.Conv2D(8, 3, activation="relu", name="conv")(inp))
    h = L.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(-50.0), name="dead")(h)
    model = _compiled(keras.Model(inp, L.Dense(C, activation="softmax", name="head")(h)), keras.optimizers.Adam(1e-2))
    report = run_train_check(model, data[0], steps=10)
    f = the(report.findings, "training.input_independent")
    assert f.evidence["final_loss"] == pytest.approx(f.evidence["zero_input_loss"], rel=1e-3)
    assert "dead ReLU" in f.hint
    assert "training.input_independent" not in problems(healthy[2].findings)


def test_unusable_input_is_an_input_error(data):
    with pytest.raises(InputError, match="compiled"):
        run_train_check(vgg_like(), data[0])
    with pytest.raises(InputError, match="label_mode"):
        run_train_check(
            _compiled(vgg_like(), "adam"), data[0], label_mode="onehotish"
        )  # "onehot" is an alias of categorical
    with pytest.raises(InputError, match="equal"):
        run_train_check(_compiled(vgg_like(), "adam"), (data[0][0], data[0][1][:3]))


def test_multi_label_mode_with_softmax_output(data):
    report = run_train_check(
        _compiled(vgg_like(), keras.optimizers.Adam(3e-3)), data[0], steps=10, label_mode="multi_label"
    )
    assert "training.softmax_multilabel" in problems(report.findings)


def test_tf_data_datasets_are_accepted(data):
    import tensorflow as tf

    (x, y), (xv, yv) = data
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(16)
    report = run_train_check(_compiled(vgg_like(), keras.optimizers.Adam(3e-3)), train, val, steps=9)
    assert report.summary["steps"] == 9 and len(report.summary["val_loss"]) == 3
    assert problems(report.findings) == set()


def test_bn_momentum_is_judged_against_the_real_run_not_the_probe_run(data):
    from training_cases import bn_net

    report = run_train_check(_compiled(bn_net(0.9997), keras.optimizers.Adam(1e-3)), data[0], steps=10)
    f = the(report.findings, "training.bn_momentum_high")
    assert f.evidence["run_steps"] == 3000  # the assumed real run, not the 10 probe steps
    # 0.99 is fine for a real run, although 10 probe steps leave 90% of the initial statistics.
    twin = run_train_check(_compiled(bn_net(0.99), keras.optimizers.Adam(1e-2)), data[0], steps=10)
    # ...and the short probe run's unconverged moving statistics are not reported as a train/infer gap.
    assert problems(twin.findings) == set()
    short = run_train_check(_compiled(bn_net(0.99), keras.optimizers.Adam(1e-3)), data[0], steps=10, run_steps=50)
    assert "training.bn_momentum_high" in problems(short.findings)


def test_lr_alone_keeps_the_users_optimizer():
    import keras

    from pipecheck.validators.runners.train_check import TrainCheckOptions, _compile

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, clipnorm=1.0), loss="categorical_crossentropy")
    _compile(model, TrainCheckOptions(model="m:f", data_dir="d", lr=0.003))
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9 and opt.clipnorm == 1.0
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.003)


def test_a_failure_inside_pipecheck_is_not_blamed_on_the_users_model():
    # An exception raised in pipecheck's own judgement code (any family, not only training/) is a bug
    # for the CLI to report as one (exit 3), never "model 'm' failed ... Fix the model" (exit 2).
    from pipecheck.validators.findings import Severity
    from pipecheck.validators.training import run

    model = type("M", (), {"name": "m"})()
    try:
        Severity.parse("not-a-severity")
    except Exception as exc:  # noqa: BLE001
        ours = exc
    assert run._user_code_failed(ours, model, "fit", np.zeros((1, 2)), np.zeros(1)) is None
    try:
        raise ValueError("Input 0 of layer dense is incompatible with the layer")
    except ValueError as exc:
        theirs = exc
    err = run._user_code_failed(theirs, model, "fit", np.zeros((1, 2)), np.zeros(1))
    assert err is not None and "model 'm' failed during fit" in str(err)
