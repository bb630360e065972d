"""The registry's two promises: one summary style, enforced where a check is declared, and check ids
as declared handles, written once (in ``define``) rather than repeated as strings."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pipecheck.validators import registry

VALIDATORS = Path(__file__).resolve().parents[2] / "validators"

# Modules that still name checks by id strings outside define(): other engineers held them while the
# rest moved to handles (issue 18 item 1). Convert one, then take it off this list.
NOT_YET_HANDLES: set[str] = set()


@pytest.fixture
def scratch_registry(monkeypatch):
    """Checks declared by a test vanish with it (the real registry, on a copy of its full table)."""
    registry.all_checks()  # every module declares into the real table first, not into the copy
    monkeypatch.setattr(registry, "_CHECKS", dict(registry._CHECKS))


# -- one summary style ---------------------------------------------------------------------------

BROKEN_SUMMARIES = {
    "a shard listed in dataset.json is missing.": "capital letter",
    "`yield` sits after the loop that builds the batch.": "capital letter",
    "A shard listed in dataset.json is missing": "end with one period",
    "A split has no examples..": "end with one period",
    "A split has no examples. Rebuild with a lower --val-fraction.": "one sentence",
    "Rebuild the dataset without --no-stats.": "not the fix",
    "Use float32 input.": "not the fix",
    " A split has no examples.": "one line",
    "A split has\nno examples.": "one line",
    "A " + "very " * 60 + "long summary.": "table cell",
}


@pytest.mark.parametrize("summary, why", sorted(BROKEN_SUMMARIES.items()))
def test_define_refuses_a_summary_that_breaks_the_style(scratch_registry, summary, why):
    with pytest.raises(ValueError) as err:
        registry.define("scratch.bad_summary", "warning", summary, "rebuild the dataset")
    assert "scratch.bad_summary" in str(err.value) and why in str(err.value)
    assert "scratch.bad_summary" not in {c.id for c in registry.all_checks()}


def test_define_refuses_a_summary_that_repeats_the_hint(scratch_registry):
    hint = "copy the dataset again from a good source"
    with pytest.raises(ValueError, match="must not repeat the hint"):
        registry.define("scratch.hint_in_summary", "error", f"A shard is damaged, so {hint}.", hint)


@pytest.mark.parametrize(
    "summary",
    [
        "A shard listed in dataset.json is missing.",
        "TFDV found an anomaly in a split against the schema inferred from train.",
        "Input was preprocessed and then divided by 255 (e.g. preprocess_input, then ImageDataGenerator(rescale=1/255)).",
        "Per-channel means say the colour channels are in the opposite order (RGB vs. BGR).",
        "A class never occurs in a split; error when the other split predicts several images.",
    ],
)
def test_define_accepts_a_summary_in_the_style(scratch_registry, summary):
    handle = registry.define("scratch.good_summary", "warning", summary, "rebuild the dataset")
    assert registry.get("scratch.good_summary") is handle and handle.summary == summary


def test_every_declared_summary_follows_the_style():
    checks = registry.all_checks()
    assert len(checks) >= 90
    assert {
        c.id: registry.summary_problem(c.summary, c.hint) for c in checks if registry.summary_problem(c.summary, c.hint)
    } == {}


# -- handles -------------------------------------------------------------------------------------


def test_a_handle_makes_findings_with_its_declared_severity_and_hint(scratch_registry):
    handle = registry.define("scratch.handle", "warning", "A scratch check fired.", "do the scratch fix")
    plain = handle.finding("it fired", subject="x", evidence={"n": 1})
    assert (plain.check, plain.severity.value, plain.hint, plain.subject, plain.evidence) == (
        "scratch.handle",
        "warning",
        "do the scratch fix",
        "x",
        {"n": 1},
    )
    louder = handle.finding("it fired badly", severity="error", hint="a sharper fix")
    assert (louder.severity.value, louder.hint) == ("error", "a sharper fix")
    assert registry.ids("scratch") == ["scratch.handle"] == registry.ids(handle)


def _loose_ids(path: Path, families: set[str]) -> list[str]:
    """Check-id-shaped strings of a module outside a define() call's first argument, and f-strings
    that build one from a module constant naming a family (F = "generator"; f"{F}.code")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared = {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.args
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "define"
    }
    shape = re.compile(r"([a-z_]+)\.([a-z0-9_]+)")
    family_names = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value in families
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    loose = []
    for node in ast.walk(tree):
        if id(node) in declared:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = shape.fullmatch(node.value)
            if m and m.group(1) in families and m.group(2) != "py":
                loose.append(f"{path.name}:{node.lineno} {node.value}")
        elif isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
            first, second = node.values[:2]
            if (
                isinstance(first, ast.FormattedValue)
                and isinstance(first.value, ast.Name)
                and first.value.id in family_names
                and isinstance(second, ast.Constant)
                and re.fullmatch(r"\.[a-z0-9_]*", str(second.value))
            ):
                loose.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return loose


def test_loose_ids_sees_a_repeated_id_string_and_an_id_built_by_f_string(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        'F = "generator"\nX = registry.define("generator.a", "error", "A thing.", "fix")\n'
        'registry.finding("generator.a", "msg")\nregistry.finding(f"{F}.b", "msg")\nregistry.finding(f"{F}.{code}", "m")\n'
    )
    assert _loose_ids(bad, {"generator"}) == ["bad.py:3 generator.a", "bad.py:4 f'{F}.b'", "bad.py:5 f'{F}.{code}'"]
    good = tmp_path / "good.py"
    good.write_text(
        'X = registry.define("generator.a", "error", "A thing.", "fix")\nX.finding(f"{n:.2f} msg")\n'
        'open("x.py")\nname = f"{base}.{attr}"\n'
    )
    assert _loose_ids(good, {"generator"}) == []


def test_check_ids_are_written_once_in_the_converted_modules():
    families = {c.family for c in registry.all_checks()}
    loose = {
        path.relative_to(VALIDATORS).as_posix(): _loose_ids(path, families) for path in sorted(VALIDATORS.rglob("*.py"))
    }
    converted = {name: ids for name, ids in loose.items() if ids and name not in NOT_YET_HANDLES}
    assert converted == {}, "name the check by its handle (NAME = registry.define(...); NAME.finding(...))"
    # The exceptions list shrinks as modules are converted: a converted one must leave it.
    assert sorted(n for n in NOT_YET_HANDLES if not loose.get(n)) == []


def test_a_check_module_that_went_missing_raises(monkeypatch):
    from pipecheck.validators import registry

    monkeypatch.setattr(registry, "CHECK_MODULES", (*registry.CHECK_MODULES, "pipecheck.validators.no_such_family"))
    with pytest.raises(ModuleNotFoundError, match="no_such_family"):
        registry.all_checks()


def test_every_package_folder_is_listed_in_pyproject():
    # setuptools installs only the packages pyproject.toml lists: a family folder left out would be
    # missing from the wheel while an editable install still finds it.
    import tomllib

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(root / folder)
            found.add(".".join([package, *rel.parts]))
    assert found and found <= listed, sorted(found - listed)
