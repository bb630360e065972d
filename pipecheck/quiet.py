"""TensorFlow's start-up log kept out of the user's terminal and notebook.

TensorFlow 2.17+ logs through absl before ``absl::InitializeLog()`` ("All log messages before ...",
oneDNN and CUDA notes), which ``TF_CPP_MIN_LOG_LEVEL`` does not reach. pipecheck imports TensorFlow
lazily, from many places (the reader, the validators, the training hook, spawned workers), so the
quieting sits on the import itself: :func:`install` puts a finder on ``sys.meta_path`` that, for the
first ``import tensorflow`` of the process, runs the module's execution with file descriptor 2 sent to
a temporary file, then writes back every line that is not TensorFlow's log (a crash message), with
the Future/DeprecationWarnings of the libraries TensorFlow imports on the way ignored. Nothing is done when TensorFlow is already imported (the user's own import, their
own terminal) or when the user set ``TF_CPP_MIN_LOG_LEVEL`` below 3 (they asked to see it).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile
import warnings
from typing import Iterator

# One line of TensorFlow's C++ start-up log: absl's "I0000 00:00:1796306266.77 123 port.cc:153] ..." (TF 2.17+), the
# older "2026-01-01 00:00:00.000: I tensorflow/..." form, absl's preamble and the CPU-feature note's 2nd line.
TF_LOG_LINE = re.compile(
    r"([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
    r"|WARNING: All log messages before absl::InitializeLog\(\)|To enable the following instructions: )"
)


def wanted() -> bool:
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3"


@contextlib.contextmanager
def tensorflow_log_caught() -> Iterator[None]:
    """Fd 2 into a temporary file for the duration; lines that are not TensorFlow's log are written back."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [
                line
                for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not TF_LOG_LINE.match(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of ``tensorflow`` once, then leaves ``sys.meta_path``."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        if not wanted():
            return None
        import importlib.util

        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            # ... and the Python warnings of what TensorFlow imports on the way about their own future
            # (google.api_core's "Python 3.11 ... end of life" FutureWarning where Beam's GCP extra is in)
            with tensorflow_log_caught(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                run(module)

        loader.exec_module = exec_module  # this spec's own loader instance; its type is unchanged
        return spec


_FINDER = _QuietFirstImport()


def install() -> None:
    """Quiet the process's first ``import tensorflow`` (idempotent; a no-op once TensorFlow is imported)."""
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_FINDER)
