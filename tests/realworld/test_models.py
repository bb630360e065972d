"""Regression corpus of real public models with training bugs (and healthy ones written the official
way), each adapted small in ``tests/realworld/models/`` with its source in a header comment.

Every case runs through ``pipecheck train-check`` (in process, 32 px, 30 steps) on a build of the
committed real-photo sample dump. A buggy case must be reported with the check ids it declares
(warning or error) -- or be listed as a known miss, which is then asserted to still be missed. A
healthy case must get no error-severity finding at all: a false alarm is as serious as a miss.
The table with today's results is ``tests/realworld/MODELS.md``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS_DIR = Path(__file__).resolve().parent / "models"
CASES = sorted(m.name for m in pkgutil.iter_modules([str(MODELS_DIR)]) if not m.name.startswith("_"))


def _case(name: str):
    return importlib.import_module(f"realworld.models.{name}")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    from realworld.models import _fixtures as fx

    root = tmp_path_factory.mktemp("realworld_models")
    return {"six_class": fx.build_six_class(root), "two_class": fx.build_two_class(root)}


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    from realworld.models._fixtures import REPO

    monkeypatch.chdir(REPO)


def test_the_corpus_has_enough_real_cases_each_with_its_source():
    """Issue 15: at least 8 buggy models and 4 healthy ones; each module names its source first."""
    healthy = [c for c in CASES if _case(c).HEALTHY]
    buggy = [c for c in CASES if not _case(c).HEALTHY]
    assert len(buggy) >= 8 and len(healthy) >= 4, (buggy, healthy)
    for name in CASES:
        case = _case(name)
        head = (MODELS_DIR / f"{name}.py").read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith("# Source: "), f"{name}: the first line must name the source"
        assert case.SOURCE and case.DATA in ("six_class", "two_class") and callable(getattr(case, case.FACTORY))
        assert all(re.fullmatch(r"training\.[a-z_]+", c) for c in case.MUST_RAISE | case.MUST_NOT_RAISE), name
        if case.HEALTHY:
            assert not case.MUST_RAISE and not hasattr(case, "KNOWN_MISS"), name
        else:
            assert case.MUST_RAISE, f"{name}: a buggy case names the checks that must catch it"


@pytest.mark.parametrize("name", CASES)
def test_real_model(name, builds):
    from realworld.models._fixtures import train_check

    case = _case(name)
    got = train_check(name, case.FACTORY, builds[case.DATA], tuple(getattr(case, "EXTRA_ARGS", ())))
    detail = f"{name} ({case.SOURCE}):\n{got.describe()}"
    print(detail)
    assert got.report is not None and got.exit_code in (0, 1), f"train-check did not produce a report: {detail}"
    raised = set(got.raised)
    if case.HEALTHY:
        assert not got.errors, f"false alarm on a healthy model: {detail}"
    miss = getattr(case, "KNOWN_MISS", None)
    if miss:
        assert not case.MUST_RAISE & raised, f"known miss now caught -- remove KNOWN_MISS ({miss}): {detail}"
    else:
        missing = case.MUST_RAISE - raised
        assert not missing, f"missed {sorted(missing)}: {detail}"
    wrong = case.MUST_NOT_RAISE & raised
    assert not wrong, f"reported {sorted(wrong)}, which must not fire here: {detail}"
