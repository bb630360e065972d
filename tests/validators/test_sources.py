"""``--source module:callable`` loading: every kind of batch source, and one-line input errors."""

import itertools
import textwrap

import numpy as np
import pytest

from pipecheck.pipeline.errors import InputError
from pipecheck.validators.sources import Source, load_source, parse_source_args

MODULE = """
import numpy as np

X = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
Y = np.arange(10) % 3
CALLS = []


def gen(batch_size=4, scale=1.0, name="plain", flags=None):
    CALLS.append(dict(batch_size=batch_size, scale=scale, name=name, flags=flags))
    for i in range(0, len(X), batch_size):
        yield X[i:i + batch_size] * scale, Y[i:i + batch_size]


def endless():
    while True:
        yield X[:2], Y[:2]


def returns_generator_function():
    return endless


def batch_list():
    return [(X[:5], list(Y[:5])), (X[5:], list(Y[5:]))]


def dict_batches():
    yield {"image": X[:3], "meta": np.ones((3, 1))}, Y[:3], np.ones(3)


def x_only():
    yield X[:4]


def tf_ds():
    import tensorflow as tf
    return tf.data.Dataset.from_tensor_slices((X, Y)).batch(4)


def py_dataset():
    import keras

    class Seq(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epochs = 0
        def __len__(self):
            return 3
        def __getitem__(self, i):
            return X[i * 4:(i + 1) * 4], Y[i * 4:(i + 1) * 4]
        def on_epoch_end(self):
            self.epochs += 1
    return Seq()


def broken_midway():
    yield X[:2], Y[:2]
    raise RuntimeError("disk gone")


def raises(**kwargs):
    raise ValueError("no data folder")


def not_batches():
    return 42


SHARED = endless()
NUMBER = 3
"""


_COUNTER = itertools.count()


@pytest.fixture
def mod(tmp_path, monkeypatch):
    """A fresh user module in the current directory, under a name unique to the test."""
    name = f"srcmod_{next(_COUNTER)}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    return name


def test_source_args_are_json_when_they_parse_else_strings():
    got = parse_source_args(("batch_size=8", "scale=0.5", "name=resnet", "flags=[1, 2]", "on=true", "path=a=b"))
    assert got == {"batch_size": 8, "scale": 0.5, "name": "resnet", "flags": [1, 2], "on": True, "path": "a=b"}
    assert parse_source_args({"k": "3"}) == {"k": 3}
    with pytest.raises(InputError, match="not K=V"):
        parse_source_args(("batch_size",))


def test_generator_function_from_the_current_directory(mod):
    source = load_source(f"{mod}:gen", ("batch_size=3", "name=x"))
    assert isinstance(source, Source) and source.kind == "generator" and source.length is None
    batches = list(source.batches(None))
    assert [b[0].shape[0] for b in batches] == [3, 3, 3, 1]
    assert all(isinstance(part, np.ndarray) for b in batches for part in b)
    assert source.ended and source.spec == f"{mod}:gen"
    import importlib

    assert importlib.import_module(mod).CALLS[-1]["name"] == "x"
    assert source.traced == {} or set(source.traced) <= {"flags"}  # X/Y are module globals, not arguments


def test_one_shot_generator_continues_and_fresh_restarts(mod):
    source = load_source(f"{mod}:gen", ("batch_size=2",))
    first = [b[1].tolist() for b in source.batches(2)]
    second = [b[1].tolist() for b in source.batches(2)]
    assert first == [[0, 1], [2, 0]] and second == [[1, 2], [0, 1]]
    assert source.consumed and not source.ended
    again = source.fresh()
    assert [b[1].tolist() for b in again.batches(1)] == [[0, 1]]


def test_returned_generator_function_is_called(mod):
    source = load_source(f"{mod}:returns_generator_function", ())
    assert source.kind == "generator"
    assert len(list(source.batches(5))) == 5


def test_iterable_of_batches_converts_lists_and_is_reiterable(mod):
    source = load_source(f"{mod}:batch_list", ())
    assert source.kind == "iterable" and source.length == 2
    a = list(source.batches(None))
    b = list(source.batches(None))
    assert a[1][1].tolist() == [2, 0, 1, 2, 0] and isinstance(a[1][1], np.ndarray)
    assert all(np.array_equal(p, q) for x, y in zip(a, b) for p, q in zip(x, y))


def test_dict_inputs_sample_weights_and_x_only(mod):
    ((x, y, w),) = load_source(f"{mod}:dict_batches", ()).batches(None)
    assert set(x) == {"image", "meta"} and x["image"].shape == (3, 2, 2, 3) and w.shape == (3,)
    ((only,),) = load_source(f"{mod}:x_only", ()).batches(None)
    assert only.shape == (4, 2, 2, 3)


def test_tf_data_dataset(mod):
    source = load_source(f"{mod}:tf_ds", ())
    assert source.kind == "tf.data" and source.length == 3 and source.infinite is False
    batches = list(source.batches(None))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], np.ndarray) and batches[0][0].dtype == np.uint8


def test_keras_pydataset_calls_on_epoch_end_after_a_full_pass(mod):
    source = load_source(f"{mod}:py_dataset", ())
    assert source.kind == "pydataset" and source.length == 3
    assert len(list(source.batches(2))) == 2 and source.obj.epochs == 0
    assert [b[0].shape[0] for b in source.batches(None)] == [4, 4, 2]
    assert source.obj.epochs == 1


def test_a_named_object_is_used_as_is(mod):
    source = load_source(f"{mod}:SHARED", ())
    assert source.kind == "generator" and len(list(source.batches(3))) == 3
    with pytest.raises(InputError, match="drop --source-arg"):
        load_source(f"{mod}:SHARED", ("a=1",))


@pytest.mark.parametrize(
    "spec,args,pattern",
    [
        ("no_colon_here", (), r"not module\.path:callable; write e\.g\. --source mypkg\.data:train_batches"),
        (":gen", (), r"not module\.path:callable"),
        (
            "definitely_missing_mod_xyz:fn",
            (),
            r"cannot import module 'definitely_missing_mod_xyz'.*run pipecheck from the folder",
        ),
        ("{mod}:nope", (), r"has no attribute 'nope'; use one of: .*gen"),
        ("{mod}:raises", ("k=1",), r"calling it raised ValueError: no data folder"),
        ("{mod}:not_batches", (), r"returned a int, not batches"),
        ("{mod}:NUMBER", (), r"'NUMBER' is a int; point at a function"),
    ],
)
def test_unusable_sources_are_one_line_input_errors(mod, spec, args, pattern):
    with pytest.raises(InputError, match=pattern) as exc:
        load_source(spec.format(mod=mod), args)
    assert "\n" not in str(exc.value)


def test_import_failure_inside_the_module_names_it(tmp_path, monkeypatch):
    (tmp_path / "srcmod_broken.py").write_text("import numpy\nraise RuntimeError('config missing')\n")
    (tmp_path / "srcmod_needs_pkg.py").write_text("import not_installed_pkg_xyz\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"importing 'srcmod_broken' raised RuntimeError: config missing"):
        load_source("srcmod_broken:fn", ())
    with pytest.raises(InputError, match=r"importing 'srcmod_needs_pkg' failed: .*not_installed_pkg_xyz.*install"):
        load_source("srcmod_needs_pkg:fn", ())


def test_a_crash_while_producing_batches_is_an_input_error(mod):
    source = load_source(f"{mod}:broken_midway", ())
    with pytest.raises(InputError, match=r"producing batch 1 raised RuntimeError: disk gone"):
        list(source.batches(5))


def test_yielded_arrays_are_not_copied(tmp_path, monkeypatch):
    (tmp_path / "srcmod_buffer.py").write_text(
        textwrap.dedent("""
        import numpy as np
        BUF = np.zeros((2, 3))
        def gen():
            while True:
                yield BUF, BUF[:, 0]
    """)
    )
    monkeypatch.chdir(tmp_path)
    source = load_source("srcmod_buffer:gen", ())
    ((x, y),) = source.batches(1)
    import srcmod_buffer

    assert x is srcmod_buffer.BUF  # the buffer-mutation check depends on seeing the very object


def test_a_pydataset_that_runs_out_inside_its_len_ends_the_pass_with_evidence(tmp_path, monkeypatch):
    (tmp_path / "srcmod_overlen.py").write_text(
        textwrap.dedent("""
        import keras
        import numpy as np

        PATHS = [f"img_{i}.png" for i in range(10)]

        class Files(keras.utils.PyDataset):
            def __init__(self, extra=1):
                super().__init__()
                self.extra = extra
            def __len__(self):
                return 3 + self.extra  # 10 files in batches of 4: 3 batches, not 4
            def __getitem__(self, i):
                names = [PATHS[j] for j in range(i * 4, min(i * 4 + 4, len(PATHS)))]
                return np.stack([np.zeros(2) for _ in names]), np.zeros(len(names))

        def data(extra=1):
            return Files(extra)
    """)
    )
    monkeypatch.chdir(tmp_path)
    source = load_source("srcmod_overlen:data", ())
    # np.stack of an empty batch raises ValueError after the short batch 2: evidence, not a crash
    assert [b[0].shape[0] for b in source.batches(None)] == [4, 4, 2]
    assert source.ran_out["batch"] == 3 and source.ran_out["error"].startswith("ValueError")
    assert (source.ran_out["rows_before"], source.ran_out["first_rows"], source.ran_out["length"]) == (2, 4, 4)
    healthy = load_source("srcmod_overlen:data", ("extra=0",))
    assert len(list(healthy.batches(None))) == 3 and healthy.ran_out is None


def test_renews_tells_a_new_generator_per_call_from_a_spent_shared_one(mod):
    assert load_source(f"{mod}:gen", ()).renews()
    assert load_source(f"{mod}:returns_generator_function", ()).renews()
    shared = load_source(f"{mod}:SHARED", ())
    assert not shared.renews()  # the object itself: there is nothing to call again
