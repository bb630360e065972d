"""The user's own code behind a ``--source``: the functions it reaches, parsed with ``ast``.

Checks that read source code (rather than batches) need more than the named callable: an OpenCV read
usually sits in a helper (``load_image(path)``), a ``PyDataset`` method or a function handed to
``tf.data``'s ``map``. :func:`user_functions` starts from the source and follows every name the code
*refers to* (called or passed along) that resolves, through the function's globals, closure or
``self``'s class, to a function or class defined in the user's files, through ``functools.partial``
and decorators (``__wrapped__``). Library code (the standard library, site-packages, pipecheck
itself) is never parsed, and the walk never lets an exception out: a user object whose attribute
lookup raises, a class defined in a notebook, an unreadable file each just end that branch.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
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


def source_files(functions: list[Code], max_chars: int = 2_000_000) -> Iterator[tuple[str, str, ast.AST | None]]:
    """Each distinct file of ``functions``: ``(file, text, tree)``, parsed whole (module-level code and
    the functions not reached). Read through ``linecache``, so a notebook cell's code is found too;
    a file over ``max_chars`` is not parsed (tree None: a generated data module is seconds of ``ast``).
    """
    for file in dict.fromkeys(c.file for c in functions):
        text = "".join(linecache.getlines(file))
        if not text:
            continue
        if len(text) > max_chars:
            yield file, text, None
            continue
        try:
            yield file, text, ast.parse(text)
        except (SyntaxError, ValueError):
            continue


# -- the walk -------------------------------------------------------------------------------------
def _seeds(source: Any) -> Iterator[tuple[Any, type | None]]:
    from pipecheck.validators.sources import Source

    if not isinstance(source, Source):  # a plain function or class
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


def _as_functions(obj: Any, owner: type | None, depth: int = 0) -> Iterator[tuple[Any, type | None]]:
    if depth > 4:  # partials of partials, wrappers of wrappers: enough
        return
    if isinstance(obj, functools.partial):  # to_rgb = partial(convert, code=...): the function and its arguments
        yield from _as_functions(obj.func, owner, depth + 1)
        for value in (*obj.args, *obj.keywords.values()):
            if inspect.isfunction(value):
                yield value, None
        return
    wrapped = attribute(obj, "__wrapped__") if not isinstance(obj, type) else None
    if wrapped is not None and wrapped is not obj and callable(wrapped):  # functools.wraps, lru_cache
        yield from _as_functions(wrapped, owner, depth + 1)
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
        yield from _as_functions(type(obj), None, depth + 1)


def _referenced(code: Code, opaque: tuple[str, ...]) -> Iterator[tuple[Any, type | None]]:
    fn = code.fn
    scope = scope_of(fn)
    if code.owner is not None:
        scope.update(self=code.owner, cls=code.owner)
    for node in ast.walk(code.tree):
        if not isinstance(node, (ast.Name, ast.Attribute)) or not isinstance(node.ctx, ast.Load):
            continue
        path = dotted(node)
        head = path.partition(".")[0]
        if not head or head not in scope:
            continue
        target = scope[head]
        if head in opaque or attribute(target, "__name__") in opaque or attribute(target, "__module__") in opaque:
            continue
        target = resolve(path, scope)
        if target is not None and target is not fn:
            yield from _as_functions(target, code.owner if head in ("self", "cls") else None)


def scope_of(fn: Any) -> dict[str, Any]:
    """The names a function's code can see: its module's globals and its closure's variables."""
    scope: dict[str, Any] = dict(attribute(fn, "__globals__") or {})
    if attribute(fn, "__closure__"):
        try:
            scope.update(inspect.getclosurevars(fn).nonlocals)
        except Exception:  # noqa: BLE001 - a closure inspect cannot read: its names are not followed
            pass
    return scope


def resolve(path: str, scope: dict[str, Any]) -> Any:
    """The object ``a.b.c`` names in ``scope``, or None. A library module's attributes are not looked
    up (no lazy module loaded), and a lookup that raises counts as absent (:func:`attribute`).
    """
    head, *rest = path.split(".") if path else [""]
    target = scope.get(head)
    if target is None or (rest and inspect.ismodule(target) and not _is_user(target)):
        return None
    for part in rest:
        target = attribute(target, part)
        if isinstance(target, (staticmethod, classmethod)):
            target = target.__func__
        if target is None:
            return None
    return target


def attribute(obj: Any, name: str) -> Any:
    """``obj.name`` or None: a class is read statically (no descriptor runs); on anything else a
    lookup that raises (``AttrDict.__getattr__ = dict.__getitem__``, a property that raises) counts
    as absent. Attribute lookup on a user object can run its code: that is why nothing escapes.
    """
    try:
        if isinstance(obj, type):
            return inspect.getattr_static(obj, name, None)
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - the user's lookup raised: not a function to read
        return None


def _parse(fn: Any, owner: type | None) -> Code | None:
    try:
        lines, start = inspect.getsourcelines(fn)
        file = inspect.getsourcefile(fn) or "<unknown>"
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except Exception:  # noqa: BLE001 - no source (builtins, C code), or source that does not parse alone
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
    except Exception:  # noqa: BLE001 - builtins (TypeError), a notebook's class (OSError), odd objects
        return False
    if not file:
        return False
    return not os.path.abspath(file).startswith(_library_roots())
