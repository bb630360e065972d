"""How a generator's pass ends (issue 15, item 1): a generator function that yields one pass and
returns is how ``tf.data.Dataset.from_generator`` wants it (info), while a one-shot generator *object*
handed to several epochs runs dry (error). Each case is a real module loaded through ``--source``."""

import itertools
import json
import textwrap

import pytest

from pipecheck.validators import registry
from pipecheck.validators.generator import check_generator
from pipecheck.validators.sources import load_source

MODULE = textwrap.dedent("""
    import numpy as np

    X = np.random.default_rng(0).integers(0, 256, (24, 4, 4, 3), dtype=np.uint8)
    Y = np.arange(24) % 3
    CALLS = []


    def gen(bs=8):
        CALLS.append(bs)
        for i in range(0, len(X), bs):
            yield X[i:i + bs], Y[i:i + bs]


    def make(bs=8):
        return gen(bs)


    TRAIN = gen()
    _SHARED = gen()


    def shared():
        return _SHARED
""")

_COUNTER = itertools.count()


@pytest.fixture
def mod(tmp_path, monkeypatch):
    """A fresh user module (so its module-level generator objects start unspent)."""
    name = f"epochmod_{next(_COUNTER)}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def only(findings, check):
    hits = [f for f in findings if f.check == check]
    assert len(hits) == 1, [f.to_dict() for f in findings]
    assert hits[0].hint == registry.get(check).hint
    return hits[0]


@pytest.mark.parametrize("attr", ["gen", "make"])
def test_a_callable_with_a_new_generator_per_call_is_one_pass_at_info(mod, attr):
    found = check_generator(load_source(f"{mod}:{attr}", ()))
    f = only(found, "generator.finite_pass")
    assert [x.check for x in found] == ["generator.finite_pass"]  # no exhausted, no other alarm
    assert f.severity.value == "info"
    assert f.evidence == {"kind": "generator", "batches": 3, "new_generator_per_call": True}
    assert f"from_generator({attr}" in f.message and f"model.fit({attr}(), epochs>1)" in f.message
    assert "from_generator" in f.hint and "while True" in f.hint


def test_a_module_level_generator_object_is_exhausted(mod):
    f = only(check_generator(load_source(f"{mod}:TRAIN", ())), "generator.exhausted")
    assert f.severity.value == "error"
    assert f.evidence == {"kind": "generator", "batches": 3, "new_generator_per_call": False}
    assert "while True" in f.hint


def test_a_callable_that_returns_the_same_generator_again_is_exhausted(mod):
    f = only(check_generator(load_source(f"{mod}:shared", ())), "generator.exhausted")
    assert "calling shared() again returns the same spent iterator" in f.message
    assert not f.evidence["new_generator_per_call"]


def test_the_renewal_probe_calls_the_function_once_more_and_draws_one_batch(mod):
    import importlib

    source = load_source(f"{mod}:gen", ("bs=6",))
    list(source.batches(None))
    assert source.renews()
    assert importlib.import_module(mod).CALLS == [6, 6]
    assert not load_source(f"{mod}:TRAIN", ()).renews()


def test_what_the_findings_say_is_what_keras_does(mod):
    """from_generator(gen) trains on every batch each epoch; one gen() object handed to model.fit
    for several epochs runs dry after the first (Keras 3 then only replays the batches it peeked)."""
    import importlib

    import keras
    import tensorflow as tf

    class Count(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.per_epoch = []

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

    m = importlib.import_module(mod)
    sig = (tf.TensorSpec((None, 4, 4, 3), tf.uint8), tf.TensorSpec((None,), tf.int64))
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fresh = Count()
    model.fit(tf.data.Dataset.from_generator(m.gen, output_signature=sig), epochs=3, verbose=0, callbacks=[fresh])
    assert fresh.per_epoch == [3, 3, 3]
    spent = Count()
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(m.gen(), epochs=3, verbose=0, callbacks=[spent])
    assert spent.per_epoch[0] == 3 and max(spent.per_epoch[1:]) < 3


def test_cli_exit_codes_follow_the_severities(mod):
    from click.testing import CliRunner

    from pipecheck.cli import cli

    ok = CliRunner().invoke(cli, ["validate", "--source", f"{mod}:gen", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    checks = {f["check"]: f["severity"] for f in json.loads(ok.stdout)["findings"]}
    assert checks.get("generator.finite_pass") == "info" and "generator.exhausted" not in checks
    bad = CliRunner().invoke(cli, ["validate", "--source", f"{mod}:TRAIN", "--format", "json"])
    assert bad.exit_code == 1, bad.output
    assert "generator.exhausted" in {f["check"] for f in json.loads(bad.stdout)["findings"]}


def test_x_only_generator_pass_is_judged_the_same(tmp_path, monkeypatch):
    (tmp_path / "epochmod_xonly.py").write_text("import numpy as np\n\ndef gen():\n    yield np.zeros((2, 3))\n")
    monkeypatch.chdir(tmp_path)
    f = only(check_generator(load_source("epochmod_xonly:gen", ())), "generator.finite_pass")
    assert f.evidence["batches"] == 1
