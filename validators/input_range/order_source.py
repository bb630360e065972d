"""``input_range.channel_order_swapped`` from the source code: OpenCV's BGR images reaching the model unconverted.

The pixels cannot always tell. A BGR frame passed through a caffe ``preprocess_input`` ("flipped
twice") has the value bounds of correct input, and a grass-dominated video frame has R ≈ B, so its
colours prove nothing either way; for ``tf``/``torch``-mode and in-model backbones no statistic of
the values separates the two orders at all. The code can: ``cv2.imread``, ``cv2.imdecode`` and
``cv2.VideoCapture(...).read()`` return BGR, and every Keras backbone's input starts from RGB.

Read (with ``ast``) in the user's functions that the source reaches (:mod:`pipecheck.validators.code`):
colour reads by OpenCV; and anything that could reorder channels, in those functions or anywhere in
their files: ``cv2.cvtColor`` (any code), ``cv2.split``/``cv2.merge``, ``x[..., ::-1]``,
``x[..., [2, 1, 0]]``, per-channel indexing ``x[..., 0]``, ``np.flip``/``tf.reverse`` on the last axis,
``tf.gather``/``np.take`` with a literal channel list; with ``--model``, the model factory's code too.
Not pixel reads: a read used only for its size (``cv2.imread(p).shape``, ``img is None``), and reads
in a function that writes images back with ``cv2.imwrite``/``imencode`` (BGR to a file is correct).
Fired only when there are reads and not one possible reordering; for a caffe backbone only when the
code also uses a ``preprocess_input`` (a hand-written BGR mean subtraction is correct on BGR reads).
A warning: the code is read, not run.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pipecheck.validators.code import Code, dotted, source_files, user_functions
from pipecheck.validators.findings import Finding
from pipecheck.validators.input_range.order import CHANNEL_ORDER_SWAPPED
from pipecheck.validators.input_range.text import preprocess_name

_GRAY_FLAGS = ("GRAYSCALE",)  # IMREAD_GRAYSCALE, IMREAD_REDUCED_GRAYSCALE_2, ... (and OpenCV 4.10's IMREAD_COLOR_RGB)
_SIZE_ATTRIBUTES = {"shape", "size", "ndim", "dtype"}
_REORDERING_CV2 = {"cvtColor", "split", "merge", "mixChannels"}


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
        cv2_names = _cv2_names(code)
        parents = {child: node for node in ast.walk(code.tree) for child in ast.iter_child_nodes(node)}
        writes = any(
            isinstance(n, ast.Call) and _cv2_function(n, cv2_names) in ("imwrite", "imencode")
            for n in ast.walk(code.tree)
        )
        for node in ast.walk(code.tree):
            if isinstance(node, ast.Call) and not writes and _is_colour_read(node, cv2_names, captures):
                if not _size_only(node, parents, code.tree):
                    scan.reads.append((code.file, *code.line_of(node)))
    for code in functions + model_functions:
        for node in ast.walk(code.tree):
            if isinstance(node, (ast.Name, ast.Attribute)) and dotted(node).endswith("preprocess_input"):
                scan.preprocess.append((code.file, *code.line_of(node)))
    for file, tree in source_files(functions + model_functions):
        for node in ast.walk(tree):
            if _reorders(node):
                line = getattr(node, "lineno", 0)
                scan.reorders.append((file, line, ast.unparse(node)[:80]))
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
        f"converts them ({len(scan.functions)} function(s) read: {', '.join(scan.functions[:5])}){through}: the "
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


# -- reading the code ----------------------------------------------------------------------------
def _short(path: str) -> str:
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


def _cv2_names(code: Code) -> set[str]:
    """Names bound to OpenCV in the function's scope (``cv2``, ``cv``, or a stand-in named cv2)."""
    names = {"cv2"}
    for name, value in getattr(code.fn, "__globals__", {}).items():
        if getattr(value, "__name__", None) == "cv2":
            names.add(name)
    return names


def _cv2_function(call: ast.Call, cv2_names: set[str]) -> str:
    """``imread`` for ``cv2.imread(...)`` (any OpenCV alias), else ''."""
    path = dotted(call.func)
    head, _, name = path.rpartition(".")
    return name if head in cv2_names else ""


def _capture_names(functions: list[Code]) -> set[str]:
    """Texts of the targets assigned a ``cv2.VideoCapture(...)`` (``cap``, ``self.cap``), across the functions."""
    names: set[str] = set()
    for code in functions:
        cv2_names = _cv2_names(code)
        for node in ast.walk(code.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                if _cv2_function(node.value, cv2_names) == "VideoCapture":
                    names.update(ast.unparse(t) for t in node.targets)
    return names


def _is_colour_read(call: ast.Call, cv2_names: set[str], captures: set[str]) -> bool:
    name = _cv2_function(call, cv2_names)
    if name in ("imread", "imdecode"):
        flags = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "flags"), None)
        if flags is None:
            return name == "imread"  # imread's default is IMREAD_COLOR; imdecode needs its flag
        if isinstance(flags, ast.Constant):
            return flags.value in (1, -1)  # IMREAD_COLOR, IMREAD_UNCHANGED (a colour file stays BGR)
        text = dotted(flags)
        return bool(text) and "IMREAD_" in text and not any(g in text for g in _GRAY_FLAGS + ("RGB",))
    if isinstance(call.func, ast.Attribute) and call.func.attr in ("read", "retrieve") and not call.args:
        receiver = call.func.value
        if ast.unparse(receiver) in captures:
            return True
        return isinstance(receiver, ast.Call) and _cv2_function(receiver, cv2_names) == "VideoCapture"
    return False


def _reorders(node: ast.AST) -> bool:
    """Could this expression change the channel order (or pick channels one by one)?"""
    if isinstance(node, ast.Call):
        name = dotted(node.func).rsplit(".", 1)[-1]
        if name in _REORDERING_CV2:
            return True
        if name in ("flip", "reverse", "reverse_v2") and _last_axis(node):
            return True
        if name in ("gather", "take") and _index_list(node):
            return True  # tf.gather(x, [2, 1, 0], axis=-1), np.take(x, [2, 1, 0], axis=2)
        return name in ("bgr_to_rgb", "rgb_to_bgr")
    if isinstance(node, ast.Subscript):
        index = node.slice
        if not isinstance(index, ast.Tuple) or len(index.elts) < 2:
            return False
        last = index.elts[-1]
        if isinstance(last, ast.Slice):
            step = last.step
            negative = isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub)
            return negative or (isinstance(step, ast.Constant) and isinstance(step.value, int) and step.value < 0)
        if isinstance(last, (ast.List, ast.Tuple)):
            return True  # x[..., [2, 1, 0]]
        lead = index.elts[:-1]
        return (
            isinstance(last, ast.Constant)
            and isinstance(last.value, int)
            and all(isinstance(e, ast.Slice) or (isinstance(e, ast.Constant) and e.value is Ellipsis) for e in lead)
        )
    return False


def _last_axis(call: ast.Call) -> bool:
    """``np.flip(x, -1)``, ``np.flip(x, axis=2)``, ``tf.reverse(x, axis=[-1])``: a possible channel axis."""
    axis = (
        call.args[1]
        if len(call.args) > 1
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
    for arg in [*call.args[1:], *(k.value for k in call.keywords if k.arg == "indices")]:
        if isinstance(arg, (ast.List, ast.Tuple)) and len(arg.elts) in (3, 4):
            if all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in arg.elts):
                return True
    return False


def _size_only(read: ast.Call, parents: dict, tree: ast.AST) -> bool:
    """Is the read used only for its size (``cv2.imread(p).shape``; ``img = cv2.imread(p)`` then only
    ``img.shape``, ``img is None`` or ``len(img)``)? Then its pixels never reach the model.
    """
    parent = parents.get(read)
    if isinstance(parent, ast.Attribute):
        return parent.attr in _SIZE_ATTRIBUTES
    if not isinstance(parent, ast.Assign) or len(parent.targets) != 1:
        return False
    target = parent.targets[0]
    if isinstance(target, ast.Tuple) and len(target.elts) == 2:  # ok, frame = cap.read()
        target = target.elts[1]
    if not isinstance(target, ast.Name):
        return False
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == target.id and isinstance(n.ctx, ast.Load)]
    return bool(uses) and all(_a_size_use(n, parents) for n in uses)


def _a_size_use(name: ast.Name, parents: dict) -> bool:
    parent = parents.get(name)
    if isinstance(parent, ast.Attribute):
        return parent.attr in _SIZE_ATTRIBUTES
    if isinstance(parent, ast.Compare):  # img is None, img is not None
        return any(isinstance(c, ast.Constant) and c.value is None for c in [parent.left, *parent.comparators])
    if isinstance(parent, ast.Call):
        return dotted(parent.func) == "len"
    return False
