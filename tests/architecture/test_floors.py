"""The house as a test: three floors, arrows down only, no import cycle.

face ``pipecheck/`` (CLI, Python API, rendering) → judgement ``validators/`` (checks, the registry,
Finding/Report) → data ``pipeline/`` (build, reader, manifest). The graph is read from the source
with ``ast``, function-level imports included (pipecheck imports TensorFlow and its own heavier
modules inside functions, so a graph of module-level imports alone would miss most arrows).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# package → folder, as pyproject.toml's [tool.setuptools.package-dir] maps them
PACKAGES = {
    "pipecheck": ROOT / "pipecheck",
    "pipecheck.pipeline": ROOT / "pipeline",
    "pipecheck.validators": ROOT / "validators",
}
FLOOR = {"pipecheck": 2, "pipecheck.validators": 1, "pipecheck.pipeline": 0}
FLOOR_NAME = {2: "face (pipecheck/)", 1: "judgement (validators/)", 0: "data (pipeline/)"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if package == "pipecheck" and name.split(".")[1:2] in (["pipeline"], ["validators"]):
                continue  # pipecheck/ holds no such folders; guard against a stray copy
            found[name] = path
    return found


def floor(module: str) -> int:
    for package in ("pipecheck.pipeline", "pipecheck.validators"):
        if module == package or module.startswith(package + "."):
            return FLOOR[package]
    return FLOOR["pipecheck"]


def imports(module: str, path: Path, known: dict[str, Path]) -> set[tuple[str, int]]:
    """(imported pipecheck module, line) for every import statement anywhere in the file."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` names the submodule when there is one, else the package itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import pipecheck.pipeline.x.y` → the deepest known module
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add((name, node.lineno))
    return out


def graph() -> dict[str, set[tuple[str, int]]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def test_the_graph_sees_function_level_imports():
    g = graph()
    assert len(g) > 40
    # cli.py imports build inside its command functions
    assert any(t == "pipecheck.pipeline.build" for t, _ in g["pipecheck.cli"])


def test_arrows_point_down_only():
    upward = [
        f"{src} (line {line}) → {dst}: {FLOOR_NAME[floor(src)]} imports {FLOOR_NAME[floor(dst)]}"
        for src, targets in sorted(graph().items())
        for dst, line in sorted(targets)
        if floor(dst) > floor(src)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_cycles_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    # A package's __init__ re-exporting its submodules is not a cycle of design: leave the package
    # nodes out (an arrow into `pipecheck` itself is caught by the floors test when it points up).
    g = {m: {t for t, _ in ts if t not in PACKAGES} for m, ts in graph().items() if m not in PACKAGES}
    found = cycles(g)
    assert not found, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in found)
