"""The user's own code behind a ``--source``: the functions it reaches, parsed with ``ast``.

Checks that read source code (rather than batches) need more than the named callable: an OpenCV read
usually sits in a helper (``load_image(path)``), a ``PyDataset`` method or a function handed to
``tf.data``'s ``map``. :func:`user_functions` starts from the source and follows every name the code
*refers to* (called or passed along) that resolves, through the function's globals, closure or
``self``'s class, to a function or class defined in the user's files. Library code (the standard
library, site-packages, pipecheck itself) is never entered.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from typing import Any, Iterator

_MAX_FUNCTIONS = 64  # a bound on the walk; a source's data path is a handful of functions


@dataclass
class Code:
    """One user function, parsed.

    Attributes:
        fn: The function object.
        tree: Its ``ast`` (dedented source).
        file: Its source file.
        offset: Add to an ``ast`` line number for the line in ``file``.
        lines: The dedented source lines (for quoting a line).
        owner: The class it was found on (methods), for resolving ``self.name``.
    """

    fn: Any
    tree: ast.AST
    file: str
    offset: int
    lines: list[str]
    owner: type | None = None

    def line_of(self, node: ast.AST) -> tuple[int, str]:
        """``(line in file, stripped text)`` of a node."""
        line = getattr(node, "lineno", 1)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return line + self.offset, text

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", getattr(self.fn, "__name__", "?"))


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def user_functions(source: Any, opaque: tuple[str, ...] = ()) -> list[Code]:
    """Every user function reachable from a :class:`~pipecheck.validators.sources.Source` (or a function).

    ``opaque`` names libraries not to enter even where they resolve to user files (a stand-in for a
    library, named like it: an object whose ``__name__`` or ``__module__`` is one of them).
    """
    found: list[Code] = []
    seen: set[int] = set()
    queue: list[tuple[Any, type | None]] = list(_seeds(source))
    while queue and len(found) < _MAX_FUNCTIONS:
        fn, owner = queue.pop(0)
        if id(fn) in seen or not _is_user(fn):
            continue
        seen.add(id(fn))
        code = _parse(fn, owner)
        if code is None:
            continue
        found.append(code)
        queue.extend(_referenced(code, opaque))
    return found


def source_files(functions: list[Code]) -> Iterator[tuple[str, ast.AST]]:
    """Each distinct file of ``functions``, parsed whole (module-level code and the functions not reached)."""
    for file in dict.fromkeys(c.file for c in functions):
        try:
            with open(file, encoding="utf-8") as fh:
                yield file, ast.parse(fh.read())
        except (OSError, SyntaxError, ValueError):
            continue


# -- the walk -------------------------------------------------------------------------------------
def _seeds(source: Any) -> Iterator[tuple[Any, type | None]]:
    if not (hasattr(source, "factory") and hasattr(source, "origin")):  # a plain function or class
        yield from _as_functions(source, None)
        return
    obj, origin = source.obj, source.origin
    if inspect.isgenerator(obj) and obj.gi_frame is not None:
        fn = _function_of_frame(obj)
        if fn is not None:
            yield fn, None
    if getattr(source, "kind", "") == "pydataset":
        yield from _as_functions(type(obj), None)
    if origin is not None and origin is not obj:
        yield from _as_functions(origin, None)


def _function_of_frame(gen: Any) -> Any:
    """The function object of a running generator (its frame's globals hold it by name, usually)."""
    code = gen.gi_code
    candidate = gen.gi_frame.f_globals.get(code.co_name)
    if inspect.isfunction(candidate) and candidate.__code__ is code:
        return candidate
    return None


def _as_functions(obj: Any, owner: type | None) -> Iterator[tuple[Any, type | None]]:
    if inspect.ismethod(obj):
        yield obj.__func__, type(obj.__self__) if not isinstance(obj.__self__, type) else obj.__self__
    elif inspect.isfunction(obj):
        yield obj, owner
    elif isinstance(obj, type):
        for klass in obj.__mro__:
            if not _is_user(klass):
                continue
            for value in vars(klass).values():
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if inspect.isfunction(value):
                    yield value, obj
    elif callable(obj) and not isinstance(obj, type) and _is_user(type(obj)):  # an instance with __call__
        yield from _as_functions(type(obj), None)


def _referenced(code: Code, opaque: tuple[str, ...]) -> Iterator[tuple[Any, type | None]]:
    fn = code.fn
    scope: dict[str, Any] = dict(getattr(fn, "__globals__", {}))
    if getattr(fn, "__closure__", None):
        try:
            scope.update(inspect.getclosurevars(fn).nonlocals)
        except (TypeError, ValueError):
            pass
    for node in ast.walk(code.tree):
        if not isinstance(node, (ast.Name, ast.Attribute)) or not isinstance(node.ctx, ast.Load):
            continue
        path = dotted(node)
        if not path:
            continue
        head, *rest = path.split(".")
        if head in ("self", "cls") and code.owner is not None:
            target: Any = code.owner
        elif head in scope:
            target = scope[head]
        else:
            continue
        if (
            head in opaque
            or getattr(target, "__name__", None) in opaque
            or getattr(target, "__module__", None) in opaque
        ):
            continue
        if inspect.ismodule(target) and not _is_user(target):
            continue  # np.x, tf.keras.y: library code, never entered (and no lazy module loaded)
        for part in rest:
            target = _attribute(target, part)
            if isinstance(target, (staticmethod, classmethod)):
                target = target.__func__
            if target is None:
                break
        if target is not None and target is not fn:
            yield from _as_functions(target, code.owner if head in ("self", "cls") else None)


def _attribute(obj: Any, name: str) -> Any:
    """``obj.name`` or None: a class is read statically (no descriptor runs); an instance's property
    or ``__getattr__`` that raises counts as absent.
    """
    if isinstance(obj, type):
        return inspect.getattr_static(obj, name, None)
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a property of the user's that raises: not a function to read
        return None


def _parse(fn: Any, owner: type | None) -> Code | None:
    try:
        lines, start = inspect.getsourcelines(fn)
        file = inspect.getsourcefile(fn) or "<unknown>"
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    return Code(fn, tree, file, max(start - 1, 0), textwrap.dedent("".join(lines)).splitlines(), owner)


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    for package in ("pipecheck", "pipecheck.pipeline", "pipecheck.validators"):  # pipecheck itself
        roots.update(getattr(sys.modules.get(package), "__path__", []))
    roots.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
    return tuple(os.path.abspath(r) + os.sep for r in roots if r)


def _is_user(obj: Any) -> bool:
    """Defined in a file of the user's (not the standard library, site-packages or pipecheck)."""
    try:
        file = inspect.getsourcefile(obj)
    except TypeError:
        return False
    if not file:
        return False
    return not os.path.abspath(file).startswith(_library_roots())
