"""Functions a reader can hold in mind: none over 80 lines (as `ruff format` lays it out) unless a
``# long: <why>`` comment inside it says why it must be longer."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 80


def long_functions(source: str, path: str = "<src>") -> list[str]:
    comments = {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and tok.string.startswith("# long:")
    }
    out = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > LIMIT and not any(node.lineno <= c <= node.end_lineno for c in comments):
                out.append(f"{path}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_the_rule_sees_a_long_function_and_its_reason():
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    assert long_functions(f"def f():\n{body}") == ["<src>:1 f (81 lines)"]
    assert long_functions(f"def f():\n    # long: one table of cases, read top to bottom\n{body}") == []
    assert long_functions("def f():\n    return 1\n") == []


def test_no_function_is_longer_than_80_lines_without_saying_why():
    found = []
    for folder in ("pipecheck", "pipeline", "validators"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, "split these into named steps, or say why with '# long: ...':\n" + "\n".join(found)
