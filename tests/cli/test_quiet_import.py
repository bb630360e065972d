"""TensorFlow's start-up log stays out of the user's terminal wherever pipecheck imports TensorFlow.

TensorFlow 2.17+ prints absl's preamble and oneDNN/CUDA notes on the first import even at
TF_CPP_MIN_LOG_LEVEL=3; pipecheck/quiet.py catches fd 2 around that first import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env={**ENV, **env}, capture_output=True, text=True, timeout=300
    )


def test_a_lazy_tensorflow_import_under_pipecheck_prints_nothing():
    # the reader module imports TensorFlow inside its functions, as the validators and the hook do
    proc = run("""
        import pipecheck
        from pipecheck.pipeline import reader
        import tensorflow as tf
        print(int(tf.constant(2) + 1))
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "3"
    assert proc.stderr == ""


def test_without_pipecheck_the_same_import_is_noisy_where_tensorflow_is():
    import tensorflow as tf

    if tuple(int(p) for p in tf.__version__.split(".")[:2]) < (2, 17):
        pytest.skip(f"TensorFlow {tf.__version__} is quiet at TF_CPP_MIN_LOG_LEVEL=3 by itself")
    proc = run("import tensorflow as tf; print(int(tf.constant(2) + 1))", TF_CPP_MIN_LOG_LEVEL="3")
    assert "absl::InitializeLog" in proc.stderr or "I0000" in proc.stderr  # what the quieting removes


def test_a_user_who_asked_for_the_log_gets_it():
    proc = run(
        """
        import pipecheck
        from pipecheck.pipeline import reader
        import tensorflow as tf
        print(int(tf.constant(2) + 1))
    """,
        TF_CPP_MIN_LOG_LEVEL="0",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "port.cc" in proc.stderr or "cpu_feature_guard" in proc.stderr, proc.stderr[-2000:]


def test_lines_that_are_not_tensorflow_log_are_written_back():
    proc = run("""
        import os
        from pipecheck import quiet
        with quiet.tensorflow_log_caught():
            os.write(2, b"I0000 00:00:1796306266.123 4242 port.cc:153] oneDNN custom operations are on.\\n")
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
            os.write(2, b"Fatal Python error: a real crash message\\n")
        print("done")
    """)
    assert proc.stdout.strip() == "done"
    assert proc.stderr == "Fatal Python error: a real crash message\n"


def test_a_crash_message_during_the_import_still_reaches_the_user(tmp_path):
    # TensorFlow's CPU check ("compiled to use AVX instructions ...") writes its reason, then aborts:
    # the process dies inside the quieted import, and the reason must not die with it.
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'I0000 00:00:1796306266.123 4242 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'The TensorFlow library was compiled to use AVX instructions, but these are not available\\n')\n"
        "os.abort()\n"
    )
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", "import pipecheck, tensorflow"],
            env={**ENV, "PYTHONPATH": str(tmp_path)},
            stderr=fh,
            timeout=120,
        )
    assert proc.returncode != 0
    deadline = time.monotonic() + 10  # the filter process forwards it after the abort
    while "AVX" not in err.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = err.read_text()
    assert "compiled to use AVX instructions" in text and "oneDNN" not in text
