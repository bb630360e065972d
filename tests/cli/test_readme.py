"""The README stays true: its first lines are the two commands, CI runs the test one, the check
table is the registry's, and every check id the code can emit is declared in the registry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pipecheck.cli import checks_markdown
from pipecheck.validators import registry

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
VALIDATORS = REPO / "validators"


def test_readme_opens_with_exactly_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# pipecheck")
    first_block = lines[lines.index("```bash") + 1:]
    block = first_block[:first_block.index("```")]
    assert [line.split("#")[0].strip() for line in block] == ["./dev sample", "./dev test"]
    assert lines.index("```bash") <= 3, "the commands must come first, before any prose"
    assert (REPO / "dev").is_file()


def test_ci_runs_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert any(re.fullmatch(r"\./dev test( .*)?", c) for c in commands), commands


def test_readme_check_table_is_the_registry():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- checks:begin[^>]*-->\n(.*?)<!-- checks:end -->", text, re.S)
    assert m, "README lacks the <!-- checks:begin ... --> / <!-- checks:end --> markers"
    assert m.group(1) == checks_markdown(registry.all_checks()), (
        "README check table is out of date: run `python scripts/update_readme_checks.py`")


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "string" constants (e.g. generator's F = "generator")."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _literal(node: ast.AST, consts: dict[str, str]) -> list[str]:
    """The check ids a first argument can be: a string, an f-string of module constants, a ternary."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literal(node.body, consts) + _literal(node.orelse, consts)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(v.value)
            elif isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name) and v.value.id in consts:
                parts.append(consts[v.value.id])
            else:
                return []  # dynamic (e.g. f"{F}.{hit.code}"): covered by the hit() codes below
        return ["".join(parts)]
    return []


def emitted_check_ids() -> dict[str, str]:
    """Every check id literal passed to finding()/registry.finding()/class_finding() under validators/,
    plus generator_ast's hit("code") codes (emitted as generator.<code>); id -> where."""
    found: dict[str, str] = {}
    for path in sorted(VALIDATORS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        consts = _module_strings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("finding", "class_finding"):
                for check in _literal(node.args[0], consts):
                    found.setdefault(check, f"{path.name}:{node.lineno}")
            elif path.name == "generator_ast.py" and name == "hit":
                for code in _literal(node.args[0], consts):
                    found.setdefault(f"generator.{code}", f"{path.name}:{node.lineno}")
    return found


def test_every_emitted_check_id_is_declared():
    declared = {c.id for c in registry.all_checks()}
    emitted = emitted_check_ids()
    assert len(emitted) >= 60, f"the scan found only {len(emitted)} ids: has the finding() call style changed?"
    for family in ("leakage", "schema", "label_skew", "class_counts", "training", "generator", "input_range", "dataset"):
        assert any(c.startswith(family + ".") for c in emitted), family
    undeclared = {c: where for c, where in emitted.items() if c not in declared}
    assert undeclared == {}


def test_every_check_id_shaped_string_in_validators_is_declared():
    """Any "family.code" string literal (ignore lists, tables, helpers) names a declared check."""
    declared = {c.id for c in registry.all_checks()}
    families = {c.family for c in registry.all_checks()}
    shape = re.compile(r"([a-z_]+)\.([a-z0-9_]+)")
    bad = []
    for path in sorted(VALIDATORS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = shape.fullmatch(node.value)
                if m and m.group(1) in families and m.group(2) != "py" and node.value not in declared:
                    bad.append(f"{path.name}:{node.lineno} {node.value}")
    assert bad == []
