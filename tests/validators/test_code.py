"""validators/code.py: the user functions a source reaches, for the checks that read code.

Written as real modules in a temporary folder (the walk reads files): what is followed (a helper in
another module, ``self.method``, a closure, a static method, a class handed to a call), what is not
(numpy, keras, pipecheck, a name the code never refers to, an ``opaque`` library), and that a user
property that raises does not crash the walk.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap

import pytest

from pipecheck.validators.code import dotted, source_files, user_functions

_counter = itertools.count()


@pytest.fixture
def module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make(text: str, name: str | None = None):
        name = name or f"code_case_{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
        made.append(name)
        return importlib.import_module(name)

    yield make
    for name in made:
        sys.modules.pop(name, None)


def names(functions) -> list[str]:
    return sorted(c.name for c in functions)


def test_the_walk_follows_helpers_methods_closures_and_classes(module):
    module(
        """
        def to_rgb(img):
            return img[..., ::-1]
        """,
        name="code_helpers",
    )
    m = module(
        """
        import numpy as np
        import code_helpers

        class Loader:
            def __init__(self, paths):
                self.paths = paths

            @staticmethod
            def decode(path):
                return np.zeros((2, 2, 3))

            def load(self, path):
                return code_helpers.to_rgb(self.decode(path))

        def never_called():
            return 1

        def make(paths):
            loader = Loader(paths)
            def batches():
                for p in paths:
                    yield loader.load(p)
            return batches
        """
    )
    batches = m.make(["a"])
    assert names(user_functions(batches)) == [
        "Loader.__init__",
        "Loader.decode",
        "Loader.load",
        "make.<locals>.batches",
        "to_rgb",
    ]
    assert names(user_functions(m.make)) == ["Loader.__init__", "Loader.decode", "Loader.load", "make", "to_rgb"]
    assert "never_called" not in names(user_functions(m.make))
    files = [file for file, _, _ in source_files(user_functions(batches))]
    assert [f.rsplit("/", 1)[-1] for f in files] == [m.__name__ + ".py", "code_helpers.py"]


def test_library_code_and_opaque_names_are_not_entered(module):
    m = module(
        """
        import numpy as np
        import keras
        from pipecheck.validators.code import dotted
        import types

        fake_cv2 = types.SimpleNamespace(__name__="cv2", imread=lambda path: path)

        def batches():
            x = np.stack([np.zeros(3)])
            keras.utils.to_categorical([0, 1])
            dotted(None)
            return fake_cv2.imread(x)
        """
    )
    assert names(user_functions(m.batches, opaque=("cv2",))) == ["batches"]
    # Without the opaque name, the stand-in's lambda (a user-file function) is read.
    assert names(user_functions(m.batches)) == ["<lambda>", "batches"]


def test_a_user_property_that_raises_does_not_stop_the_walk(module):
    m = module(
        """
        class Data:
            @property
            def broken(self):
                raise RuntimeError("not configured")

            def helper(self):
                return 1

        data = Data()

        def batches():
            data.broken.thing()
            return data.helper()
        """
    )
    assert names(user_functions(m.batches)) == ["Data.helper", "batches"]


def test_dotted_names():
    import ast

    assert dotted(ast.parse("a.b.c", mode="eval").body) == "a.b.c"
    assert dotted(ast.parse("f().b", mode="eval").body) == ""


def test_config_objects_that_raise_on_lookup_do_not_crash_the_walk(module):
    # AttrDict (dict.__getitem__ as __getattr__) is a common config holder: its lookups raise KeyError.
    m = module(
        """
        class AttrDict(dict):
            __getattr__ = dict.__getitem__

        class Loud(type):
            def __getattr__(cls, name):
                raise RuntimeError(name)

        class Settings(metaclass=Loud):
            pass

        CFG = AttrDict(size=75)

        def helper(size):
            return size

        def batches():
            return helper(CFG.size), Settings.missing
        """
    )
    assert names(user_functions(m.batches)) == ["batches", "helper"]


def test_partials_decorators_and_caches_are_unwrapped(module):
    module(
        """
        import functools

        def _convert(img, code):
            return img[..., ::-1]

        to_rgb = functools.partial(_convert, code=4)

        def logged(fn):
            @functools.wraps(fn)
            def inner(*args):
                return fn(*args)
            return inner

        @logged
        def decode(path):
            return path

        @functools.lru_cache(maxsize=None)
        def cached(path):
            return path
        """,
        name="code_wrapped",
    )
    m = module(
        """
        import functools
        from code_wrapped import cached, decode, to_rgb

        def batches(paths):
            return [to_rgb(decode(cached(p))) for p in paths]

        source = functools.partial(batches, ["a"])
        """
    )
    # decode twice: the wrapper (functools.wraps gives it decode's name) and the function it wraps, whose
    # decorator line names logged.
    assert names(user_functions(m.source)) == ["_convert", "batches", "cached", "decode", "decode", "logged"]


def test_a_class_defined_in_a_notebook_is_skipped_not_a_crash(module, monkeypatch):
    # A class whose module is __main__ without a file (a Jupyter kernel): inspect raises OSError for it.
    import types

    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    m = module(
        """
        def helper():
            return 1
        """
    )
    Frames = type("Frames", (), {"__module__": "__main__", "__getitem__": lambda self, i: m.helper()})
    assert user_functions(Frames) == [] and user_functions(Frames()) == []


def test_a_huge_file_is_not_parsed(module):
    m = module("def batches():\n    return 1\n")
    ((file, text, tree),) = list(source_files(user_functions(m.batches), max_chars=10))
    assert file.endswith(".py") and "batches" in text and tree is None
