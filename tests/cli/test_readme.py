"""The README and docs/ stay true: the README's first lines are the two commands, CI runs the test
one, the README is short and links every docs/ page, every relative link in them resolves (file and
#anchor), docs/checks.md's table is the registry's, and every check id the code can emit is declared
in the registry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pipecheck.cli import checks_markdown
from pipecheck.validators import registry

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
CHECKS_DOC = DOCS / "checks.md"
VALIDATORS = REPO / "validators"


def test_readme_opens_with_exactly_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# pipecheck")
    first_block = lines[lines.index("```bash") + 1 :]
    block = first_block[: first_block.index("```")]
    assert [line.split("#")[0].strip() for line in block] == ["./dev sample", "./dev test"]
    assert lines.index("```bash") <= 3, "the commands must come first, before any prose"
    assert (REPO / "dev").is_file()


def test_ci_runs_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert any(re.fullmatch(r"\./dev test( .*)?", c) for c in commands), commands


def test_readme_is_short_and_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200, "the README is a five-minute read: move reference text to docs/"
    linked = {(README.parent / target).resolve() for target, _ in _links(text)}
    pages = sorted(DOCS.glob("*.md"))
    assert CHECKS_DOC in pages and len(pages) >= 5, pages
    assert [p.name for p in pages if p.resolve() not in linked] == [], "link these docs/ pages from the README"


# --- relative links: every [text](path#anchor) in README.md and docs/*.md leads somewhere -------

FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _links(text: str) -> list[tuple[str, str]]:
    """(path, anchor) of every relative Markdown link outside code blocks; path "" is this page."""
    out = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        out.append((path, anchor))
    return out


def _anchors(text: str) -> set[str]:
    """The ids GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading numbered -1, -2, ..."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(f"{slug}-{n}" if n else slug)
    return anchors


def broken_links(page: Path) -> list[str]:
    """One line per relative link of ``page`` whose file or heading is missing."""
    bad = []
    for path, anchor in _links(page.read_text(encoding="utf-8")):
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            bad.append(f"{page.name}: {path} does not exist")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target.read_text(encoding="utf-8")):
            bad.append(f"{page.name}: {path}#{anchor} names no heading of {target.name}")
    return bad


def test_every_relative_link_in_readme_and_docs_resolves():
    pages = [README, *sorted(DOCS.glob("*.md"))]
    assert sum(len(_links(p.read_text(encoding="utf-8"))) for p in pages) >= 20
    assert [bad for p in pages for bad in broken_links(p)] == []


def test_broken_links_names_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## `build-tfrecords`\n\n## Why it's off (`x`)\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[a](other.md#build-tfrecords) [b](other.md#why-its-off-x) [c](#top) [d](https://x.org/y)\n"
        "# Top\n```\n[e](inside-a-code-block.md)\n```\n"
    )
    assert broken_links(page) == []  # the healthy twin: every link resolves
    page.write_text("[a](gone.md) [b](other.md#build) [c](#nowhere)\n# Top\n")
    assert broken_links(page) == [
        "page.md: gone.md does not exist",
        "page.md: other.md#build names no heading of other.md",
        "page.md: #nowhere names no heading of page.md",
    ]


def test_check_table_in_docs_is_the_registry():
    text = CHECKS_DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- checks:begin[^>]*-->\n(.*?)<!-- checks:end -->", text, re.S)
    assert m, "docs/checks.md lacks the <!-- checks:begin ... --> / <!-- checks:end --> markers"
    assert m.group(1) == checks_markdown(registry.all_checks()), (
        "docs/checks.md's check table is out of date: run `python scripts/update_check_docs.py`"
    )


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "string" constants (e.g. generator's F = "generator")."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _module_name(path: Path) -> str:
    """The import name of a validators file (a package's ``__init__.py`` is the package)."""
    parts = path.relative_to(VALIDATORS).with_suffix("").parts
    return ".".join(("pipecheck.validators", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _handles() -> dict[str, dict[str, str]]:
    """Per validators module (import name), its check handles: ``NAME = define("family.code", ...)`` -> {NAME: id}."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(VALIDATORS.rglob("*.py")):
        names = out.setdefault(_module_name(path), {})
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and node.value.args
                and (getattr(node.value.func, "attr", None) or getattr(node.value.func, "id", None)) == "define"
                and isinstance(node.value.args[0], ast.Constant)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = node.value.args[0].value
    return out


def _visible_handles(tree: ast.Module, own: dict[str, str], handles: dict[str, dict[str, str]]) -> dict[str, str]:
    """The handles a module can name: its own and those it imports from other validators modules."""
    seen = dict(own)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipecheck.validators."):
            theirs = handles.get(node.module, {})
            for alias in node.names:
                if alias.name in theirs:
                    seen[alias.asname or alias.name] = theirs[alias.name]
    return seen


def _literal(node: ast.AST, consts: dict[str, str]) -> list[str]:
    """The check ids a first argument can be: a string, an f-string of module constants, a ternary,
    a check handle."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in consts and "." in consts[node.id]:
        return [consts[node.id]]
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
    """Every check id literal or handle passed to finding()/registry.finding()/class_finding() under
    validators/, every HANDLE.finding(...), plus generator/static.py's hit("code") codes (emitted as
    generator.<code>); id -> where."""
    found: dict[str, str] = {}
    handles = _handles()
    for path in sorted(VALIDATORS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        visible = _visible_handles(tree, handles.get(_module_name(path), {}), handles)
        consts = {**_module_strings(tree), **visible}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            owner = node.func.value if isinstance(node.func, ast.Attribute) else None
            if name == "finding" and isinstance(owner, ast.Name) and owner.id in visible:  # HANDLE.finding(message)
                found.setdefault(visible[owner.id], f"{path.name}:{node.lineno}")
            elif name in ("finding", "class_finding"):
                for check in _literal(node.args[0], consts):
                    found.setdefault(check, f"{path.name}:{node.lineno}")
            elif path.name == "static.py" and name == "hit":
                for code in _literal(node.args[0], consts):
                    found.setdefault(f"generator.{code}", f"{path.name}:{node.lineno}")
    return found


def test_every_emitted_check_id_is_declared():
    declared = {c.id for c in registry.all_checks()}
    emitted = emitted_check_ids()
    assert len(emitted) >= 60, f"the scan found only {len(emitted)} ids: has the finding() call style changed?"
    for family in (
        "leakage",
        "schema",
        "label_skew",
        "class_counts",
        "training",
        "generator",
        "input_range",
        "dataset",
    ):
        assert any(c.startswith(family + ".") for c in emitted), family
    undeclared = {c: where for c, where in emitted.items() if c not in declared}
    assert undeclared == {}


def test_every_check_id_shaped_string_in_validators_is_declared():
    """Any "family.code" string literal (ignore lists, tables, helpers) names a declared check."""
    declared = {c.id for c in registry.all_checks()}
    families = {c.family for c in registry.all_checks()}
    shape = re.compile(r"([a-z_]+)\.([a-z0-9_]+)")
    bad = []
    for path in sorted(VALIDATORS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = shape.fullmatch(node.value)
                if m and m.group(1) in families and m.group(2) != "py" and node.value not in declared:
                    bad.append(f"{path.name}:{node.lineno} {node.value}")
    assert bad == []
