"""Regression corpus of real public input pipelines (issue 15, pipelines half).

Each case in ``tests/realworld/pipelines/`` is a public original (TF tutorials, keras-io, Keras docs,
Stack Overflow, GitHub issues and code) adapted small, its source in the first line. Each runs
through ``pipecheck validate --backbone BB --source CASE:SOURCE [--model CASE:MODEL]`` in process.

- A buggy case must be reported with every id in ``MUST_RAISE`` (warning or error).
- A healthy case must get no error-severity finding at all: a false alarm is as serious as a miss.
- No case may report an id of its ``MUST_NOT_RAISE`` at error severity, nor an id of its optional
  ``MUST_NOT_WARN`` as a warning or error (a healthy case's false warning; an info is allowed).
- A ``KNOWN_MISS`` is asserted to still be missed (the ids in ``MISSED`` stay silent; with no such id,
  nothing beyond ``MUST_RAISE`` and ``TOLERATED`` is reported), so the entry goes when a fix lands.

The table with today's results is ``tests/realworld/PIPELINES.md``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PIPELINES_DIR = Path(__file__).resolve().parent / "pipelines"
CASES = sorted(m.name for m in pkgutil.iter_modules([str(PIPELINES_DIR)]) if not m.name.startswith("_"))
DEFAULT_IMAGE_SIZE = 32  # the cases' images; passed so size_mismatch does not drown the report
DEFAULT_BATCHES = 12


def _case(name: str):
    return importlib.import_module(f"realworld.pipelines.{name}")


def test_the_corpus_has_enough_real_pipelines_each_with_its_source():
    """Issue 15: at least 20 real input pipelines, at least 7 of them healthy; each names its source first."""
    from pipecheck.validators import registry

    known = {c.id for c in registry.all_checks()}
    healthy = [c for c in CASES if _case(c).HEALTHY]
    assert len(CASES) >= 20 and len(healthy) >= 7, (CASES, healthy)
    for name in CASES:
        case = _case(name)
        head = (PIPELINES_DIR / f"{name}.py").read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith("# Source: "), f"{name}: the first line must name the source"
        assert callable(getattr(case, case.SOURCE)), name
        if getattr(case, "MODEL", None):
            assert callable(getattr(case, case.MODEL)), name
        ids = (
            case.MUST_RAISE
            | case.MUST_NOT_RAISE
            | getattr(case, "MISSED", set())
            | getattr(case, "TOLERATED", set())
            | getattr(case, "MUST_NOT_WARN", set())
        )
        assert all(re.fullmatch(r"(input_range|generator)\.[a-z0-9_]+", c) for c in ids), name
        assert ids <= known, f"{name}: unknown check ids {sorted(ids - known)}"
        assert not case.MUST_RAISE & getattr(case, "MUST_NOT_WARN", set()), name
        if case.HEALTHY:
            assert not case.MUST_RAISE and not hasattr(case, "KNOWN_MISS"), name
        else:
            assert case.MUST_RAISE or getattr(case, "KNOWN_MISS", None), (
                f"{name}: a buggy case names what must catch it"
            )


def _validate(name: str):
    from pipecheck.validators.runners.validate import ValidateOptions, run_validate

    case = _case(name)
    model = getattr(case, "MODEL", None)
    opts = ValidateOptions(
        source=f"realworld.pipelines.{name}:{case.SOURCE}",
        backbone=case.BACKBONE,
        image_size=getattr(case, "IMAGE_SIZE", DEFAULT_IMAGE_SIZE) if case.BACKBONE else None,
        batches=getattr(case, "BATCHES", DEFAULT_BATCHES),
        model=f"realworld.pipelines.{name}:{model}" if model else None,
    )
    return run_validate(opts)


@pytest.mark.parametrize("name", CASES)
def test_real_pipeline(name, pipeline_photos):
    case = _case(name)
    report = _validate(name)
    raised: dict[str, str] = {}
    for f in report.findings:
        sev = f.severity.value
        if sev in ("warning", "error") and raised.get(f.check) != "error":
            raised[f.check] = sev
    errors = {c for c, s in raised.items() if s == "error"}
    listing = "\n".join(f"  {f.severity.value:7} {f.check}: {f.message[:200]}" for f in report.sorted_findings())
    detail = (
        f"{name} ({'healthy' if case.HEALTHY else 'bug'}), backbone {case.BACKBONE}:\n{listing or '  (no finding)'}"
    )
    print(detail)
    if case.HEALTHY:
        assert not errors, f"false alarm on a healthy pipeline: {detail}"
    missing = case.MUST_RAISE - set(raised)
    assert not missing, f"missed {sorted(missing)}: {detail}"
    wrong = case.MUST_NOT_RAISE & errors
    assert not wrong, f"reported {sorted(wrong)} as errors, which must not fire here: {detail}"
    warned = getattr(case, "MUST_NOT_WARN", set()) & set(raised)
    assert not warned, f"reported {sorted(warned)} as warnings or errors, which must stay silent or info here: {detail}"
    miss = getattr(case, "KNOWN_MISS", None)
    if miss:
        missed = getattr(case, "MISSED", set())
        if missed:
            caught = missed & set(raised)
            assert not caught, f"known miss now caught by {sorted(caught)} -- remove KNOWN_MISS ({miss}): {detail}"
        else:
            extra = set(raised) - case.MUST_RAISE - getattr(case, "TOLERATED", set())
            assert not extra, f"known miss may be caught now ({sorted(extra)}) -- review KNOWN_MISS ({miss}): {detail}"
