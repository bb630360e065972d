"""``pipecheck gate``: the pre-training gate for CI. ``validate``, then (only if nothing failed)
``train-check``, as one report (:func:`run_gate`, in ``validators/runners/gate.py``); when it passes,
optionally the user's real training command, whose exit code becomes the gate's. When it fails,
that command never starts.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from typing import Sequence

from pipecheck.validators.runners.gate import run_gate  # noqa: F401  (the gate's report, re-exported)


def run_command(command: Sequence[str]) -> int:
    """Run the user's training command in the foreground; its exit code is the gate's."""
    print(f"pipecheck gate: passed; running {shlex.join(command)}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(list(command))
    except FileNotFoundError:
        print(f"pipecheck: error: command not found: {command[0]}", file=sys.stderr)
        return 127
