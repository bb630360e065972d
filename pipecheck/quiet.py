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
import subprocess
import sys
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


# The filter runs in its own small process: what TensorFlow writes before it aborts (its "compiled to
# use AVX instructions" check calls abort()) is already in the pipe, and the filter still forwards it
# after this process has died. A temporary file read back afterwards would lose exactly that message.
_FILTER = r"""
import re, sys
log = re.compile(%r)
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not log.match(line):
        out.write(line)
        out.flush()
""" % TF_LOG_LINE.pattern.encode()


@contextlib.contextmanager
def tensorflow_log_caught() -> Iterator[None]:
    """Send file descriptor 2 through a filter process for the duration.

    TensorFlow's log lines are dropped; every other line reaches the real fd 2 at once, even if this
    process aborts meanwhile.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to keep clean
        yield
        return
    try:
        filt = subprocess.Popen(
            [sys.executable, "-S", "-I", "-c", _FILTER], stdin=subprocess.PIPE, stdout=saved, stderr=saved
        )
    except (OSError, ValueError):  # no usable interpreter to run the filter (embedded Python): no quieting
        os.close(saved)
        yield
        return
    os.dup2(filt.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        filt.stdin.close()  # the filter reads to the end of the pipe, writes what is left, exits
        try:
            filt.wait(timeout=30)
        except subprocess.TimeoutExpired:
            filt.kill()


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
