"""Fixtures shared by every test folder: one session build of the committed sample dump.

``tests/pipeline`` reads the build's result (``sample_build``); ``tests/cli`` passes its folder to
commands (``cli_sample_build`` is the same build's ``out_dir``). Treat it as read-only: commands
that write take a ``tmp_path`` output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DUMP = REPO / "samples" / "dump"


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory):
    """The committed sample dump as ``./dev sample`` builds it: ``--label-field species --group-field
    specimen``, default options (TFDV statistics included where TFDV is installed), ``workers=1``.
    A ``BuildResult`` (``out_dir``, ``manifest``, ``accounting``, ``rejects``)."""
    from pipecheck.pipeline.build import BuildOptions, build

    out = tmp_path_factory.mktemp("sample_build") / "out"
    return build(
        BuildOptions(dump=str(SAMPLE_DUMP), out=str(out), label_field="species", group_field="specimen", workers=1)
    )
