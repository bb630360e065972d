"""Markers for tests that need an optional extra (``pipecheck[tfdv]``, ``pipecheck[beam]``).

They skip, with a reason naming the extra, where the extra is not installed (``./dev test --env new``:
Python 3.12 / TensorFlow 2.21 without TFDV or Beam). In the environment that is meant to have the
extras (``./dev test --env tfdv``), ``dev`` sets ``PIPECHECK_REQUIRE_EXTRAS=tfdv,beam``: there a
missing extra fails these tests instead of skipping them, so a broken install cannot hide as skips.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

REQUIRED = {e.strip() for e in os.environ.get("PIPECHECK_REQUIRE_EXTRAS", "").split(",") if e.strip()}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _needs(extra: str, *modules: str):
    missing = [m for m in modules if not installed(m)]
    required = all(e in REQUIRED for e in extra.split(","))
    return pytest.mark.skipif(
        bool(missing) and not required,
        reason=f"needs the pipecheck[{extra}] extra ({', '.join(missing)} not installed): "
        f"pip install 'pipecheck[{extra}]'",
    )


HAS_TFDV = installed("tensorflow_data_validation")
needs_tfdv = _needs("tfdv", "tensorflow_data_validation")
# --runner beam computes TFDV statistics in the pipeline: these tests need both extras.
needs_beam = _needs("beam,tfdv", "apache_beam", "tensorflow_data_validation")
