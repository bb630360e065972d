"""Static reading of generator functions with ``ast`` (the patterns behind seed 001's generator).

Plain hits only, each naming its check's handle (declared here, where the pattern is read);
:func:`pipecheck.validators.generator.check_generator_static` turns them into findings. Three
patterns, each keyed on structure rather than on class names:

* ``yield_after_loop``: a loop assigns a variable, contains no ``yield`` and no ``break``, and a
  ``yield`` after the loop (same block) yields that variable: only the last batch built leaves.
* ``tail_dropping_bound``: ``while n < total - k`` (or ``n + k < total``) where the loop advances
  ``n += k`` or ``k`` is named like a batch size, and ``range(start, total - k, k)``.
* ``augmenter_per_batch``: ``.flow(...)``/``.flow_from_*`` or ``ImageDataGenerator(...)`` called
  inside a loop of a generator function, or anywhere in a ``PyDataset.__getitem__`` (which Keras
  calls once per batch).
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any, Iterator

from pipecheck.validators import registry
from pipecheck.validators.code import dotted, resolve, scope_of

YIELD_AFTER_LOOP = registry.define(
    "generator.yield_after_loop",
    "error",
    "A `yield` sits after the loop that builds the batch (found in the source).",
    "Indent the `yield` into the loop body so every batch built is yielded",
)
TAIL_DROPPING_BOUND = registry.define(
    "generator.tail_dropping_bound",
    "warning",
    "A loop bound `n < len - batch` drops the last batch (found in the source).",
    "Use `while n < len(x)` (or `range(0, len(x), bs)`) so the tail becomes a final partial batch",
)
AUGMENTER_PER_BATCH = registry.define(
    "generator.augmenter_per_batch",
    "warning",
    "An augmentation iterator is created anew for every batch (found in the source).",
    "Create the ImageDataGenerator and its .flow() once, outside the loop, and call next() on it per batch",
)

_BATCHY = re.compile(r"batch|(^|_)bs$", re.I)
_FLOW = {"flow", "flow_from_directory", "flow_from_dataframe"}
_LOOPS = (ast.For, ast.While, ast.AsyncFor)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass
class Hit:
    """One static finding before it becomes a Finding."""

    check: registry.CheckInfo
    file: str
    line: int
    function: str
    message: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Unit:
    tree: ast.AST
    file: str
    offset: int
    lines: list[str]
    per_batch: bool = False  # the code runs once per batch (PyDataset.__getitem__)


def scan(obj: Any) -> list[Hit]:
    """Hits for every generator function reachable from ``obj`` (see ``check_generator_static``)."""
    hits: list[Hit] = []
    seen: set[tuple[str, int, str, int]] = set()
    for unit in _units(obj):
        fns = _generator_defs(unit.tree)
        if unit.per_batch:
            fns += [n for n in unit.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for fn in fns:
            for hit in _check_function(fn, unit):
                key = (hit.file, hit.line, hit.check.id, 0)
                if key not in seen:
                    seen.add(key)
                    hits.append(hit)
    return hits


# -- finding the code -----------------------------------------------------------------------------
def _units(obj: Any, follow: bool = True) -> Iterator[_Unit]:
    if hasattr(obj, "factory") and hasattr(obj, "obj") and hasattr(obj, "origin"):  # a Source
        getitem = getattr(type(obj.obj), "__getitem__", None)
        if getattr(obj, "kind", "") == "pydataset" and inspect.isfunction(getitem):
            for unit in _units(getitem, follow=False):
                unit.per_batch = True
                yield unit
        if inspect.isgenerator(obj.obj):
            yield from _units(obj.obj.gi_code, follow=False)
        if obj.origin is not None and (inspect.isfunction(obj.origin) or inspect.ismethod(obj.origin)):
            yield from _units(obj.origin, follow=True)
        return
    if isinstance(obj, str):
        if obj.endswith(".py") and "\n" not in obj and os.path.isfile(obj):
            with open(obj, encoding="utf-8") as fh:
                text = fh.read()
            yield _parse(text, obj, 0)
        else:
            yield _parse(textwrap.dedent(obj), "<string>", 0)
        return
    if inspect.isgenerator(obj):
        obj = obj.gi_code
    if inspect.ismethod(obj):
        obj = obj.__func__
    if not (inspect.isfunction(obj) or inspect.iscode(obj)):
        return
    try:
        lines, start = inspect.getsourcelines(obj)
        file = inspect.getsourcefile(obj) or "<unknown>"
    except (OSError, TypeError):
        return
    unit = _parse(textwrap.dedent("".join(lines)), file, max(start - 1, 0))
    yield unit
    if follow and inspect.isfunction(obj):
        for target in _called_generator_functions(unit.tree, obj):
            yield from _units(target, follow=False)


def _parse(text: str, file: str, offset: int) -> _Unit:
    return _Unit(ast.parse(text), file, offset, text.splitlines())


def _called_generator_functions(tree: ast.AST, fn: Any) -> Iterator[Any]:
    """Generator functions that ``fn`` calls by a global name (``gen(...)``, ``mod.gen(...)``)."""
    scope = scope_of(fn)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = resolve(dotted(node.func), scope)
            if target is not fn and inspect.isgeneratorfunction(target):
                yield target


# -- walking helpers ------------------------------------------------------------------------------
def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` that does not enter nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, _DEFS):
            stack.extend(ast.iter_child_nodes(n))


def _generator_defs(tree: ast.AST) -> list[ast.AST]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(isinstance(c, (ast.Yield, ast.YieldFrom)) for c in _walk(n))
    ]


def _assigned(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for n in _walk(node):
        targets: list[ast.AST] = []
        if isinstance(n, ast.Assign):
            targets = list(n.targets)
        elif isinstance(n, (ast.AugAssign, ast.AnnAssign)):
            targets = [n.target]
        elif isinstance(n, ast.NamedExpr):
            targets = [n.target]
        for t in targets:
            for leaf in ast.walk(t):
                if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store):
                    names.add(leaf.id)
    return names


def _breaks_out(loop: ast.AST) -> bool:
    """A ``break`` that leaves this loop (not one of an inner loop)."""
    stack = [c for part in (loop.body,) for c in part]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Break):
            return True
        if not isinstance(n, _LOOPS + _DEFS):
            stack.extend(ast.iter_child_nodes(n))
    return False


def _blocks(fn: ast.AST) -> Iterator[list[ast.stmt]]:
    for n in [fn, *_walk(fn)]:
        for name in ("body", "orelse", "finalbody"):
            block = getattr(n, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block
        for handler in getattr(n, "handlers", []) or []:
            yield handler.body


# -- the three patterns ---------------------------------------------------------------------------
def _check_function(fn: ast.AST, unit: _Unit) -> list[Hit]:
    hits: list[Hit] = []

    def flag(check: registry.CheckInfo, node: ast.AST, message: str, **extra: Any) -> None:
        line = getattr(node, "lineno", 1)
        text = unit.lines[line - 1].strip() if 0 < line <= len(unit.lines) else ""
        hits.append(Hit(check, unit.file, line + unit.offset, fn.name, message, text, extra))

    for block in _blocks(fn):
        for i, stmt in enumerate(block):
            if not isinstance(stmt, _LOOPS):
                continue
            if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _walk(stmt)) or _breaks_out(stmt):
                continue
            built = _assigned(stmt)
            between: set[str] = set()
            for later in block[i + 1 :]:
                for y in (n for n in [later, *_walk(later)] if isinstance(n, (ast.Yield, ast.YieldFrom))):
                    used = {n.id for n in ast.walk(y) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                    stale = sorted((used & built) - between)
                    if stale:
                        flag(
                            YIELD_AFTER_LOOP,
                            y,
                            f"`yield` of {', '.join(stale)} sits after the loop at line "
                            f"{stmt.lineno + unit.offset} that rebuilds it, so only the last batch built is yielded",
                            loop_line=stmt.lineno + unit.offset,
                            variables=stale,
                        )
                between |= _assigned(later)

    for node in _walk(fn):
        if isinstance(node, ast.While):
            bound = _tail_bound_while(node)
            if bound:
                flag(
                    TAIL_DROPPING_BOUND,
                    node,
                    f"loop bound `{ast.unparse(node.test)}` stops one batch early: "
                    f"up to the last {bound} samples are never yielded",
                    bound=ast.unparse(node.test),
                )
        elif isinstance(node, (ast.For, ast.AsyncFor)) and _tail_bound_range(node.iter):
            flag(
                TAIL_DROPPING_BOUND,
                node,
                f"`{ast.unparse(node.iter)}` stops one batch early: the last batch of samples is never yielded",
                bound=ast.unparse(node.iter),
            )
    scopes = [fn] if unit.per_batch else [n for n in _walk(fn) if isinstance(n, _LOOPS)]
    for scope in scopes:
        where = (
            "runs in __getitem__, once per batch"
            if unit.per_batch
            else f"runs inside the loop at line {scope.lineno + unit.offset}"
        )
        for call in (n for n in _walk(scope) if isinstance(n, ast.Call)):
            name = dotted(call.func).rsplit(".", 1)[-1] if dotted(call.func) else getattr(call.func, "attr", "")
            if name in _FLOW or name == "ImageDataGenerator":
                flag(
                    AUGMENTER_PER_BATCH,
                    call,
                    f"`{ast.unparse(call.func)}(...)` {where}: a new augmentation iterator (and shuffle) per batch",
                    loop_line=scope.lineno + unit.offset,
                )
    return _unique(hits)


def _unique(hits: list[Hit]) -> list[Hit]:
    seen: set[tuple[str, int]] = set()
    out = []
    for h in hits:
        if (h.check.id, h.line) not in seen:
            seen.add((h.check.id, h.line))
            out.append(h)
    return out


def _increments(loop: ast.AST, counter: str) -> list[str]:
    return [
        ast.dump(n.value)
        for n in _walk(loop)
        if isinstance(n, ast.AugAssign)
        and isinstance(n.op, ast.Add)
        and isinstance(n.target, ast.Name)
        and n.target.id == counter
    ]


def _batchy(node: ast.AST, steps: list[str]) -> bool:
    # `i < len(x) - 1` with `i += 1` walks pairs, not batches: a literal 1 is no batch size.
    if ast.dump(node) in steps and not (isinstance(node, ast.Constant) and node.value == 1):
        return True
    name = dotted(node).rsplit(".", 1)[-1] if dotted(node) else ""
    return bool(name) and bool(_BATCHY.search(name))


def _tail_bound_while(loop: ast.While) -> str:
    """``n < total - k`` / ``n + k < total`` with ``k`` the step: returns ``k`` as text, else ''."""
    test = loop.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Lt)):
        return ""
    left, right = test.left, test.comparators[0]
    if isinstance(right, ast.BinOp) and isinstance(right.op, ast.Sub) and isinstance(left, ast.Name):
        if _batchy(right.right, _increments(loop, left.id)):
            return ast.unparse(right.right)
    if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Add) and isinstance(left.left, ast.Name):
        if _batchy(left.right, _increments(loop, left.left.id)):
            return ast.unparse(left.right)
    return ""


def _tail_bound_range(it: ast.AST) -> bool:
    """``range(start, total - k, k)``: the last full batch starts at total - k and is skipped."""
    if not (isinstance(it, ast.Call) and dotted(it.func) == "range" and len(it.args) == 3):
        return False
    stop, step = it.args[1], it.args[2]
    return isinstance(stop, ast.BinOp) and isinstance(stop.op, ast.Sub) and ast.dump(stop.right) == ast.dump(step)
