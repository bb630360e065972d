"""``input_range.channel_order_swapped`` from the source code: OpenCV's BGR images reaching the model unconverted.

The pixels cannot always tell. A BGR frame passed through a caffe ``preprocess_input`` ("flipped
twice") has the value bounds of correct input, and a grass-dominated video frame has R ≈ B, so its
colours prove nothing either way; for ``tf``/``torch``-mode and in-model backbones no statistic of
the values separates the two orders at all. The code can: ``cv2.imread``, ``cv2.imdecode`` and
``cv2.VideoCapture(...).read()`` return BGR, and every Keras backbone's input starts from RGB.

Read (with ``ast``) in the user's functions that the source reaches (:mod:`pipecheck.validators.code`):
colour reads by OpenCV (``cv2.``/any alias, or names imported from ``cv2``); and anything that could
reorder channels, in those functions or anywhere in their files: a ``cvtColor`` that swaps red and
blue (``COLOR_BGR2RGB``, ``RGB2BGR``, ``BGRA2RGB``, ... or a code given as a variable; not ``BGR2GRAY``,
``BGR2HSV``, nor one made only for ``imshow``/``imwrite``), ``cv2.split``/``merge``, ``x[..., ::-1]``,
``x[..., [2, 1, 0]]`` or any non-constant channel index, channels 0 and 2 of one array picked one by
one, ``x.transpose(2, 0, 1)[::-1]``, ``np.flip``/``tf.reverse`` on
the last axis (``cv2.flip`` flips rows or columns), ``tf.unstack``/``split`` on the last axis,
``tf.gather``/``np.take`` with a literal channel list; with ``--model``, the model factory's code too.
Not colour input: a read used only for its size (``cv2.imread(p).shape``, ``img is None``), for one
channel (a mask's ``[:, :, 0]``), converted to gray, shown with ``imshow`` or written back with
``imwrite``/``imencode`` (directly or through names assigned from it: BGR in a file is right); and
grayscale flags (``IMREAD_GRAYSCALE``, ``IMREAD_ANYDEPTH`` alone). Fired only when there are reads and not one possible reordering; for a caffe
backbone only when the code also uses a ``preprocess_input`` (a hand-written BGR mean subtraction is
correct on BGR reads). A warning: the code is read, not run. The rules were checked on public OpenCV
loaders (keras-yolo2, face-rating, facial_recognition, an Analytics Vidhya video tutorial, ...).
"""

from __future__ import annotations

import ast
import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

from pipecheck.validators.code import Code, attribute, dotted, source_files, user_functions
from pipecheck.validators.findings import Finding
from pipecheck.validators.input_range.order import CHANNEL_ORDER_SWAPPED
from pipecheck.validators.input_range.text import preprocess_name

_GRAY_FLAGS = ("GRAYSCALE",)  # IMREAD_GRAYSCALE, IMREAD_REDUCED_GRAYSCALE_2, ... (and OpenCV 4.10's IMREAD_COLOR_RGB)
_SIZE_ATTRIBUTES = {"shape", "size", "ndim", "dtype"}
_COLOUR_FLAGS = ("COLOR", "UNCHANGED")  # IMREAD_COLOR(_BGR), IMREAD_ANYCOLOR, IMREAD_UNCHANGED; not ANYDEPTH alone
_REORDER_MARKERS = ("cvtColor", "::-1", "2, 1, 0", "2,1,0", "flip", "reverse", "unstack", "split", "gather", "take")
_REORDERING_CV2 = {"merge", "mixChannels"}  # cv2.split is judged with the other splits


@dataclass
class OrderScan:
    """What the source's code says about channel order.

    Attributes:
        reads: ``(file, line, text)`` of each OpenCV colour read.
        reorders: ``(file, line, text)`` of each statement that could reorder channels.
        preprocess: ``(file, line, text)`` of each ``preprocess_input`` use.
        functions: The user functions read (qualified names).
    """

    reads: list[tuple[str, int, str]] = field(default_factory=list)
    reorders: list[tuple[str, int, str]] = field(default_factory=list)
    preprocess: list[tuple[str, int, str]] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)


def scan_order(source: Any, model: Any = None) -> OrderScan:
    """Read the code behind ``source`` for OpenCV reads, reorderings and ``preprocess_input`` uses.

    ``model``: the ``--model`` factory, whose code is read for reorderings and ``preprocess_input``
    only (a model reads no files).
    """
    scan = OrderScan()
    functions = user_functions(source, opaque=("cv2",))
    model_functions = user_functions(model, opaque=("cv2",)) if model is not None else []
    scan.functions = [c.name for c in functions]
    captures = _capture_names(functions)
    for code in functions:
        cv = _OpenCV.of(code)
        parents = _parents(code.tree)
        for node in ast.walk(code.tree):
            if isinstance(node, ast.Call) and _is_colour_read(node, cv, captures):
                if _pixels_go_on(node, parents, code.tree, cv):
                    scan.reads.append((code.file, *code.line_of(node)))
    for code in functions + model_functions:
        for node in ast.walk(code.tree):
            if isinstance(node, (ast.Name, ast.Attribute)) and dotted(node).endswith("preprocess_input"):
                scan.preprocess.append((code.file, *code.line_of(node)))
    for file, text, tree in source_files(functions + model_functions):
        if tree is not None:
            scan.reorders.extend((file, line, found) for line, found in _reorderings(tree))
        elif any(marker in text for marker in _REORDER_MARKERS):  # too big to parse: any sign of one will do
            scan.reorders.append((file, 0, "a possible reordering in a file too large to read"))
    scan.reads = sorted(set(scan.reads))
    scan.preprocess = sorted(set(scan.preprocess))
    return scan


def channel_order_from_source(scan: OrderScan, bb, subject: str) -> Finding | None:
    """The warning when ``scan`` shows OpenCV colour reads and no possible reordering (see the module)."""
    if not scan.reads or scan.reorders:
        return None
    if bb.mode == "caffe" and not scan.preprocess:
        return None
    file, line, text = scan.reads[0]
    where = f"{_short(file)}:{line}"
    more = f" (and {len(scan.reads) - 1} more)" if len(scan.reads) > 1 else ""
    through = (
        f", then {preprocess_name(bb)}, which expects RGB"
        if scan.preprocess
        else f"; {bb.name} was trained on RGB images"
    )
    return CHANNEL_ORDER_SWAPPED.finding(
        f"`{text}` at {where}{more} reads images in OpenCV's BGR order and nothing in the code the source reaches "
        f"converts them ({len(scan.functions)} function(s) read: {_names(scan.functions)}){through}: the "
        "model sees red and blue swapped",
        subject=subject,
        evidence={
            "evidence": "source",
            "reads": [f"{_short(f)}:{n}: {t}" for f, n, t in scan.reads[:5]],
            "preprocess_input": [f"{_short(f)}:{n}" for f, n, _ in scan.preprocess[:5]],
            "functions": scan.functions[:10],
        },
        hint="convert right after reading: img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) (for a batch: x[..., ::-1]); "
        + (f"{preprocess_name(bb)} flips RGB to BGR itself" if bb.mode == "caffe" else "the backbone expects RGB"),
    )


def merge_source_evidence(finding: Finding, scan: OrderScan) -> Finding:
    """A pixel-based channel-order finding with the code's reads added (same bug, a second kind of evidence)."""
    file, line, _ = scan.reads[0]
    return dataclasses.replace(
        finding,
        message=f"{finding.message}; the source reads images with OpenCV (BGR) at {_short(file)}:{line} and never "
        "converts them",
        evidence={**finding.evidence, "source_reads": [f"{_short(f)}:{n}: {t}" for f, n, t in scan.reads[:5]]},
    )


def _names(functions: list[str], shown: int = 5) -> str:
    more = f", … ({len(functions) - shown} more)" if len(functions) > shown else ""
    return ", ".join(functions[:shown]) + more


# -- reading the code ----------------------------------------------------------------------------
def _short(path: str) -> str:
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


@dataclass
class _OpenCV:
    """How a function's module names OpenCV: module aliases (``cv2``, ``cv``) and names imported from
    it (``from cv2 import imread`` -> ``{"imread": "imread"}``).
    """

    modules: set[str]
    functions: dict[str, str]

    @classmethod
    def of(cls, code: Code) -> "_OpenCV":
        modules, functions = {"cv2"}, {}
        for name, value in getattr(code.fn, "__globals__", {}).items():
            if attribute(value, "__name__") == "cv2":
                modules.add(name)
            elif attribute(value, "__module__") == "cv2":  # OpenCV's functions and classes say so
                functions[name] = str(attribute(value, "__name__") or name)
        for node in ast.walk(code.tree):  # imports inside the function
            if isinstance(node, ast.ImportFrom) and node.module == "cv2":
                functions.update({a.asname or a.name: a.name for a in node.names})
            elif isinstance(node, ast.Import):
                modules.update(a.asname for a in node.names if a.name == "cv2" and a.asname)
        return cls(modules, functions)

    def function(self, call: ast.Call) -> str:
        """``imread`` for ``cv2.imread(...)`` or an imported ``imread(...)``, else ''."""
        head, _, name = dotted(call.func).rpartition(".")
        if head:
            return name if head in self.modules else ""
        return self.functions.get(name, "")


def _capture_names(functions: list[Code]) -> set[str]:
    """Texts of the targets assigned a ``cv2.VideoCapture(...)`` (``cap``, ``self.cap``), across the functions."""
    names: set[str] = set()
    for code in functions:
        cv = _OpenCV.of(code)
        for node in ast.walk(code.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                if cv.function(node.value) == "VideoCapture":
                    names.update(ast.unparse(t) for t in node.targets)
    return names


def _is_colour_read(call: ast.Call, cv: _OpenCV, captures: set[str]) -> bool:
    name = cv.function(call)
    if name in ("imread", "imdecode"):
        flags = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "flags"), None)
        if flags is None:
            return name == "imread"  # imread's default is IMREAD_COLOR; imdecode needs its flag
        if isinstance(flags, ast.Constant):
            return flags.value in (1, -1)  # IMREAD_COLOR, IMREAD_UNCHANGED (a colour file stays BGR)
        # One flag or several or-ed together (IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION).
        names = [
            dotted(n) for n in ast.walk(flags) if isinstance(n, (ast.Name, ast.Attribute)) and "IMREAD_" in dotted(n)
        ]
        if any(g in n for n in names for g in _GRAY_FLAGS + ("RGB",)):
            return False
        return any(c in n for n in names for c in _COLOUR_FLAGS)
    if isinstance(call.func, ast.Attribute) and call.func.attr in ("read", "retrieve") and not call.args:
        receiver = call.func.value
        if ast.unparse(receiver) in captures:
            return True
        return isinstance(receiver, ast.Call) and cv.function(receiver) == "VideoCapture"
    return False


# -- where a read's pixels go -------------------------------------------------------------------------
def _pixels_go_on(read: ast.Call, parents: dict, tree: ast.AST, cv: _OpenCV) -> bool:
    """Can the read's colour pixels reach the model? Not when the image is used only for its size
    (``cv2.imread(p).shape``, ``img is None``, ``len(img)``) or in ways that carry no colour to the
    model (:func:`_not_colour_input`), directly or through names assigned from it.
    """
    parent = parents.get(read)
    if isinstance(parent, ast.Attribute):
        return parent.attr not in _SIZE_ATTRIBUTES
    if _not_colour_input(read, parents, cv):
        return False
    name = _assigned_name(read, parents)
    return name is None or not _stays_put(name, read.lineno, tree, parents, cv, depth=3)


def _assigned_name(value: ast.AST, parents: dict) -> str | None:
    """``img`` for ``img = <value>`` and ``ok, img = <value>``; None when the value goes elsewhere."""
    parent = parents.get(value)
    if not isinstance(parent, ast.Assign) or len(parent.targets) != 1 or parent.value is not value:
        return None
    target = parent.targets[0]
    if isinstance(target, ast.Tuple) and len(target.elts) == 2:  # ok, frame = cap.read()
        target = target.elts[1]
    return target.id if isinstance(target, ast.Name) else None


def _stays_put(name: str, line: int, tree: ast.AST, parents: dict, cv: _OpenCV, depth: int) -> bool:
    """Does the value given to ``name`` at ``line`` stay out of the model? Every use of it (after that
    line, up to the next assignment to ``name``) is a size, carries no colour, or is assigned on: to
    ``name`` again or to another name, whose value must stay put in turn.
    """
    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
    stores = [n.lineno for n in names if isinstance(n.ctx, ast.Store) and n.lineno > line]
    end = min(stores, default=1 << 30)
    for use in (n for n in names if isinstance(n.ctx, ast.Load) and line < n.lineno <= end):
        if _a_size_use(use, parents) or _not_colour_input(use, parents, cv):
            continue
        statement, value = _statement_of(use, parents)
        target = _assigned_name(value, parents) if value is not None else None
        if target is not None and depth > 0 and _stays_put(target, statement.lineno, tree, parents, cv, depth - 1):
            continue
        return False
    return True


def _statement_of(node: ast.AST, parents: dict) -> tuple[ast.AST | None, ast.AST | None]:
    """The statement holding ``node`` and, for an assignment, its value (the node's outermost expression)."""
    child, parent = node, parents.get(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        child, parent = parent, parents.get(parent)
    return parent, child if isinstance(parent, ast.Assign) and parent.value is child else None


def _not_colour_input(node: ast.AST, parents: dict, cv: _OpenCV) -> bool:
    """Is this image (a read, or a name holding one) used here in a way no colour reaches the model?
    One channel taken (``mask[:, :, 0]``), a conversion to gray (``cv2.cvtColor(img, COLOR_BGR2GRAY)``),
    or, anywhere in its statement, an argument of ``imwrite``/``imencode`` (BGR in a file is right) or
    ``imshow`` (a window shows BGR right).
    """
    parent = parents.get(node)
    if isinstance(parent, ast.Subscript) and parent.value is node and _channel_pick(parent) is not None:
        return True
    if isinstance(parent, ast.Call) and cv.function(parent) == "cvtColor" and _converts_to_gray(parent):
        return True
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Call):
            if cv.function(parent) in ("imwrite", "imencode") or dotted(parent.func).endswith("imshow"):
                return True
        parent = parents.get(parent)
    return False


def _converts_to_gray(call: ast.Call) -> bool:
    code = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "code"), None)
    return code is not None and dotted(code).endswith(("2GRAY", "2GREY"))


def _a_size_use(name: ast.Name, parents: dict) -> bool:
    parent = parents.get(name)
    if isinstance(parent, ast.Attribute):
        return parent.attr in _SIZE_ATTRIBUTES
    if isinstance(parent, ast.Compare):  # img is None, img is not None
        return any(isinstance(c, ast.Constant) and c.value is None for c in [parent.left, *parent.comparators])
    if isinstance(parent, ast.Call):
        return dotted(parent.func) == "len"
    return False


# -- what could reorder channels -------------------------------------------------------------------
def _reorderings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of each expression in a file that could change the channel order."""
    parents = _parents(tree)
    channels: dict[str, set[int]] = defaultdict(set)  # base text -> constant channel indices taken
    picks: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_reorders(node, parents):
            yield node.lineno, ast.unparse(node)[:80]
        elif isinstance(node, ast.Subscript):
            channel = _channel_pick(node)
            if channel is not None:
                base = ast.unparse(node.value)
                channels[base].add(channel)
                picks.setdefault(base, node)
            elif _subscript_reorders(node):
                yield node.lineno, ast.unparse(node)[:80]
    for base, taken in channels.items():
        if {0, 2} <= taken or {0, -1} <= taken:  # b, g, r = x[..., 0], x[..., 1], x[..., 2]: picked one by one
            yield picks[base].lineno, ast.unparse(picks[base])[:80]


def _call_reorders(call: ast.Call, parents: dict) -> bool:
    path = dotted(call.func)
    name = path.rsplit(".", 1)[-1]
    if name == "cvtColor":
        return _swaps_red_and_blue(call) and not _for_display(call, parents)
    if name in _REORDERING_CV2:
        return True
    if name in ("flip", "reverse", "reverse_v2"):
        return not path.startswith(("cv2.", "cv.")) and _last_axis(call)  # cv2.flip flips rows/columns only
    if name in ("unstack", "split", "dsplit"):  # cv2.split(img), tf.unstack(x, axis=-1), np.dsplit(x, 3)
        opencv = path.rpartition(".")[0] in ("cv2", "cv")
        return opencv or name == "dsplit" or _last_axis(call, position=2 if name == "split" else 1)
    if name in ("gather", "take") and _index_list(call):
        return True  # tf.gather(x, [2, 1, 0], axis=-1), np.take(x, [2, 1, 0], axis=2)
    return name in ("bgr_to_rgb", "rgb_to_bgr")


def _swaps_red_and_blue(call: ast.Call) -> bool:
    """``COLOR_BGR2RGB``, ``COLOR_RGB2BGR``, ``COLOR_BGRA2RGB``, ...; a code given as a variable or
    number may be one. ``COLOR_BGR2GRAY``, ``BGR2HSV``, ``GRAY2BGR`` are not.
    """
    code = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "code"), None)
    text = dotted(code) if code is not None else ""
    if "COLOR_" not in text:
        return True
    source, _, result = text.rsplit("COLOR_", 1)[-1].partition("2")
    return {source[:3], result[:3]} == {"BGR", "RGB"}


def _for_display(call: ast.Call, parents: dict) -> bool:
    """``plt.imshow(cv2.cvtColor(...))``: converted for a window or a plot, not for the model."""
    parent = parents.get(call)
    return isinstance(parent, ast.Call) and dotted(parent.func).rsplit(".", 1)[-1] in ("imshow", "imwrite")


def _channel_pick(node: ast.Subscript) -> int | None:
    """``c`` for ``x[..., c]`` / ``x[:, :, c]`` with a constant channel index 0..3 (else None);
    pandas' ``df.iloc[:, 0]`` is a column, not a channel.
    """
    index = node.slice
    if not isinstance(index, ast.Tuple) or len(index.elts) < 2:
        return None
    last, lead = index.elts[-1], index.elts[:-1]
    value = last.value if isinstance(last, ast.Constant) else None
    if isinstance(last, ast.UnaryOp) and isinstance(last.op, ast.USub) and isinstance(last.operand, ast.Constant):
        value = -last.operand.value if isinstance(last.operand.value, int) else None
    if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= 3:
        return None
    if isinstance(node.value, ast.Attribute) and node.value.attr in ("iloc", "loc", "at", "iat"):
        return None
    if all(isinstance(e, ast.Slice) or (isinstance(e, ast.Constant) and e.value is Ellipsis) for e in lead):
        return value
    return None


def _subscript_reorders(node: ast.Subscript) -> bool:
    """``x[..., ::-1]``, ``x[:, :, [2, 1, 0]]``, ``x[:, :, order]`` (any non-constant channel index),
    ``x.transpose(2, 0, 1)[::-1]`` (channels first, then reversed).
    """
    index = node.slice
    if isinstance(index, ast.Slice):
        call = node.value
        moved = isinstance(call, ast.Call) and dotted(call.func).rsplit(".", 1)[-1] in ("transpose", "moveaxis")
        return moved and _negative_step(index)
    if not isinstance(index, ast.Tuple) or len(index.elts) < 2:
        return False
    last, lead = index.elts[-1], index.elts[:-1]
    if isinstance(last, ast.Slice):
        return _negative_step(last)
    if isinstance(last, (ast.List, ast.Tuple)):
        return True
    spatial = all(isinstance(e, ast.Slice) or (isinstance(e, ast.Constant) and e.value is Ellipsis) for e in lead)
    return spatial and isinstance(last, (ast.Name, ast.Attribute, ast.Call))


def _negative_step(index: ast.Slice) -> bool:
    step = index.step
    if isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub):
        return True
    return isinstance(step, ast.Constant) and isinstance(step.value, int) and step.value < 0


def _last_axis(call: ast.Call, position: int = 1) -> bool:
    """``np.flip(x, -1)``, ``np.flip(x, axis=2)``, ``tf.reverse(x, axis=[-1])``, ``tf.unstack(x, axis=-1)``:
    a possible channel axis (the argument at ``position``, or ``axis=``/``dims=``).
    """
    axis = (
        call.args[position]
        if len(call.args) > position
        else next((k.value for k in call.keywords if k.arg in ("axis", "dims")), None)
    )
    if axis is None:
        return False
    values = axis.elts if isinstance(axis, (ast.List, ast.Tuple)) else [axis]
    for v in values:
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            return True
        if isinstance(v, ast.Constant) and isinstance(v.value, int) and v.value >= 2:
            return True
        if not isinstance(v, ast.Constant):
            return True  # a variable axis: it could be the channels
    return False


def _index_list(call: ast.Call) -> bool:
    """A literal list of three or four channel indices among the call's arguments (``[2, 1, 0]``)."""
    for arg in [
        *call.args,
        *(k.value for k in call.keywords if k.arg == "indices"),
    ]:  # img.take([2, 1, 0], axis=-1) too
        if isinstance(arg, (ast.List, ast.Tuple)) and len(arg.elts) in (3, 4):
            if all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in arg.elts):
                return True
    return False
