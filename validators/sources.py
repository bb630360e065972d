"""``--source module.path:callable``: import the user's input pipeline and turn it into batches.

The callable may return (or the name may be) a ``tf.data.Dataset``, a Keras ``PyDataset``/``Sequence``,
a Python generator or iterator, any iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches, or a
generator function (called once more with no arguments). :meth:`Source.batches` walks one pass the
way ``model.fit`` walks one epoch, so a second call is what the second epoch would see: a new
iterator for ``tf.data`` and plain iterables, ``on_epoch_end()`` then indices from 0 for a
``PyDataset``, and the *continuation* of the same stream for a one-shot generator.

Only references are kept; nothing is copied, so validators can notice a generator that mutates a
buffer it already yielded.

A ``PyDataset`` failing inside its ``len()`` once its data ran out (``IndexError``, or any error
after a short batch or past the traced data) ends the pass and sets :attr:`Source.ran_out`; any
other failure in the user's code is an :class:`InputError`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from pipecheck.pipeline.errors import InputError

_HINT_DEBUG = "PIPECHECK_DEBUG=1 shows the traceback"


def parse_source_args(args: Mapping[str, str] | tuple[str, ...] | list[str] | None) -> dict[str, Any]:
    """``("k=v", ...)`` or ``{k: v}`` -> keyword arguments; values parsed as JSON when they parse.

    Raises:
        InputError: An item without ``=``.
    """
    if not args:
        return {}
    items = list(args.items()) if isinstance(args, Mapping) else []
    if not isinstance(args, Mapping):
        for raw in args:
            key, sep, value = str(raw).partition("=")
            if not sep or not key.strip():
                raise InputError(f"--source-arg {raw!r} is not K=V; write e.g. --source-arg batch_size=32")
            items.append((key.strip(), value))
    out: dict[str, Any] = {}
    for key, value in items:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # a plain string such as a path stays a string
        out[key] = value
    return out


def import_object(spec: str, option: str = "--source", *, example: str = "mypkg.data:train_batches") -> Any:
    """Import ``module.path:attr`` (the current directory first on ``sys.path``) and return the attribute.

    Shared by ``--source`` and ``--model`` so both fail the same way: a one-line
    :class:`InputError` naming the module and the fix.
    """
    module_name, sep, attr_path = (spec or "").partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not sep or not module_name or not attr_path:
        raise InputError(f"{option} {spec!r} is not module.path:callable; write e.g. {option} {example}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise InputError(
                f"{option}: cannot import module {module_name!r} (no {module_name.replace('.', '/')}.py under "
                f"{cwd} or on sys.path); run pipecheck from the folder that holds it or pip install it"
            ) from exc
        raise InputError(f"{option}: importing {module_name!r} failed: {exc}; install the missing package") from exc
    except Exception as exc:  # noqa: BLE001 - any failure in user code is an input error
        raise InputError(
            f"{option}: importing {module_name!r} raised {type(exc).__name__}: {exc}; fix the module ({_HINT_DEBUG})"
        ) from exc
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            names = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n, None)))
            where = getattr(module, "__file__", module_name)
            raise InputError(
                f"{option}: module {module_name!r} ({where}) has no attribute {attr_path!r}; "
                f"use one of: {', '.join(names[:12]) or '(no callables)'}"
            )
        target = getattr(target, part)
    return target


def load_source(spec: Any, args: Mapping[str, str] | tuple[str, ...] | list[str] | None = ()) -> "Source":
    """Import ``module.path:callable`` (the current directory first on ``sys.path``) and call it.

    Args:
        spec: ``module.path:callable``; the callable part may be dotted (``Class.method``). From Python,
            also the object itself (a dataset, PyDataset, generator, or a callable returning one).
        args: ``--source-arg`` values, ``("k=v", ...)`` or a mapping; JSON values are decoded.

    Returns:
        A :class:`Source` around what the callable returned.

    Raises:
        InputError: A malformed spec, a module that does not import, a missing attribute, a callable
            that raises, or a result that is not a batch source. The message names the module.
    """
    kwargs = parse_source_args(args)
    if isinstance(spec, str):
        target = import_object(spec, "--source", example="mypkg.data:train_batches")
        attr_path = spec.partition(":")[2].strip()
    else:  # the Python API: the dataset, generator, PyDataset or factory itself
        target = spec
        spec = attr_path = getattr(spec, "__qualname__", None) or type(spec).__name__
    if _is_batch_object(target):
        if kwargs:
            raise InputError(
                f"--source {spec}: {attr_path!r} is a {type(target).__name__}, not a callable; drop --source-arg"
            )
        return Source(spec=spec, obj=target, factory=lambda: target, kwargs={}, origin=target)
    if not callable(target):
        raise InputError(
            f"--source {spec}: {attr_path!r} is a {type(target).__name__}; point at a function returning batches "
            "(a tf.data.Dataset, keras.utils.PyDataset or generator of (x, y))"
        )

    def factory() -> Any:
        return target(**kwargs)

    return Source(spec=spec, obj=_call(spec, factory), factory=factory, kwargs=kwargs, origin=target)


def _call(spec: str, factory: Callable[[], Any]) -> Any:
    """Call the user's factory; a returned generator *function* is called once more."""
    try:
        obj = factory()
        if inspect.isgeneratorfunction(obj):
            obj = obj()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            f"--source {spec}: calling it raised {type(exc).__name__}: {exc}; fix the callable or its --source-arg values ({_HINT_DEBUG})"
        ) from exc
    return obj


def dataset_nodes(ds: Any, limit: int = 512, stop: Callable[[Any], bool] | None = None) -> Iterator[Any]:
    """``ds`` and every dataset it reads from, depth first through tf.data's private ``_inputs()``
    links (both sides of a zip or concatenate), each once, at most ``limit``; not below a node for
    which ``stop(node)`` is true (the node itself is yielded). ``tf.compat.v1`` datasets are walked
    through the TF2 datasets their adapters wrap.
    """
    stack, seen = [ds], set()
    while stack and len(seen) < limit:
        node = stack.pop()
        if type(node).__name__ == "DatasetV1Adapter":
            node = getattr(node, "_dataset", node)
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if stop is not None and len(seen) > 1 and stop(node):
            continue
        try:
            inputs = node._inputs()
        except Exception:  # noqa: BLE001 - a dataset type without inputs, or a private API change
            inputs = []
        stack.extend(reversed(inputs))


def _is_tf_dataset(obj: Any) -> bool:
    if not type(obj).__module__.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return isinstance(obj, tf.data.Dataset)


def _is_pydataset(obj: Any) -> bool:
    return not isinstance(obj, type) and any(c.__name__ in ("PyDataset", "Sequence") for c in type(obj).__mro__)


def _is_batch_object(obj: Any) -> bool:
    if isinstance(obj, type) or inspect.isroutine(obj):
        return False
    return _is_tf_dataset(obj) or _is_pydataset(obj) or hasattr(obj, "__iter__") or hasattr(obj, "__next__")


@dataclass
class Source:
    """A user's batch source and how to walk it.

    Attributes:
        spec: The ``module:callable`` text it came from.
        obj: What the callable returned (or the named object itself).
        factory: Zero-argument callable that produces a fresh ``obj`` (calls the user's callable again).
        kwargs: The keyword arguments the callable was called with.
        origin: The named callable or object (for static analysis and messages).
        kind: ``tf.data``, ``pydataset``, ``generator`` (one-shot Python generator/iterator) or
            ``iterable`` (re-iterable each pass).
        traced: Sized arrays/lists the batches are drawn from, where they can be seen: the arguments
            of a not-yet-started generator, or a ``PyDataset``'s attributes. Used to size the data set
            and to check labels against images; empty when nothing can be traced.
        params: Scalar settings seen the same way (``shuffle``, ``batch_size``, ...), plus ``kwargs``.
        consumed: True once any batch was drawn from ``obj``.
        ended: True once a one-shot generator raised ``StopIteration``.
        ran_out: ``{"batch": k, "length": n, "error": "IndexError: ...", "rows_before": r, "first_rows": b}``
            when the last pass of a ``PyDataset`` ended at batch k < len() because its data ran out.
    """

    spec: str
    obj: Any
    factory: Callable[[], Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    origin: Any = None
    kind: str = ""
    traced: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    consumed: bool = False
    ended: bool = False
    ran_out: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        obj = self.obj
        if _is_tf_dataset(obj):
            self.kind = "tf.data"
        elif _is_pydataset(obj):
            self.kind = "pydataset"
        elif hasattr(obj, "__next__") or inspect.isgenerator(obj):
            self.kind = "generator"
        elif hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes, Mapping)):
            self.kind = "iterable"
        else:
            raise InputError(
                f"--source {self.spec}: returned a {type(obj).__name__}, not batches; return a tf.data.Dataset, "
                "a keras.utils.PyDataset or a generator of (x, y) tuples"
            )
        seen = _visible_state(obj, self.kind)
        self.traced = {k: v for k, v in seen.items() if _sized_data(v)}
        self.params = {k: v for k, v in seen.items() if isinstance(v, (bool, int, float, str))}
        self.params.update(self.kwargs)
        self._stream: Iterator[Any] | None = None

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def length(self) -> int | None:
        """Batches per pass where the source knows it (``len()``, ``cardinality()``), else None."""
        if self.kind == "tf.data":
            n = int(self.obj.cardinality())
            return n if n >= 0 else None
        if self.kind == "pydataset":
            try:
                return int(len(self.obj))
            except (TypeError, NotImplementedError):
                n = getattr(self.obj, "num_batches", None)
                return int(n) if n is not None else None
        if self.kind == "iterable" and hasattr(self.obj, "__len__"):
            return len(self.obj)
        return None

    @property
    def infinite(self) -> bool | None:
        """True for a ``tf.data`` source of infinite cardinality (``.repeat()``); None when unknown."""
        if self.kind == "tf.data":
            import tensorflow as tf

            return bool(int(self.obj.cardinality()) == int(tf.data.INFINITE_CARDINALITY))
        return None

    @property
    def repeats(self) -> int:
        """How many times a ``tf.data`` source's pass holds its data by design: the product of the
        finite ``.repeat(k)`` counts in its graph (the tf.data guide's ``repeat(3)``, keras-io BiT's
        ``repeat(repeat_count)``); 1 otherwise.
        """
        if self.kind != "tf.data":
            return 1
        total, node, seen = 1, self.obj, 0
        while node is not None and seen < 256:  # a linear walk up the first inputs: map, batch, shuffle...
            seen += 1
            if type(node).__name__ == "_RepeatDataset":
                try:
                    count = int(node._count)
                except (TypeError, ValueError, AttributeError):
                    count = -1
                total *= count if count > 1 else 1
            try:
                inputs = node._inputs()
            except Exception:  # noqa: BLE001 - a dataset type without inputs, or a private API change
                inputs = []
            if len(inputs) > 1:  # zip, concatenate: below a repeat they are its data; above, not k copies
                return total
            node = inputs[0] if inputs else None
        return total

    @property
    def one_shot(self) -> bool:
        """A generator/iterator: every pass continues the same stream, as ``model.fit`` sees it."""
        return self.kind == "generator"

    def fresh(self) -> "Source":
        """A new Source from the factory (a new generator for a generator function)."""
        return Source(self.spec, _call(self.spec, self.factory), self.factory, self.kwargs, self.origin)

    def renews(self) -> bool:
        """Whether the callable hands out a new stream per call (as ``from_generator`` needs): it is
        called once more and one batch drawn. Raises InputError where that raises.
        """
        if self.origin is self.obj:
            return False
        again = self.fresh()
        if again.obj is self.obj:
            return False
        try:
            return any(True for _ in again.batches(1))
        finally:
            if inspect.isgenerator(again.obj):
                again.obj.close()

    # -- walking --------------------------------------------------------------------------------
    def batches(self, limit: int | None = None) -> Iterator[tuple]:
        """One pass (at most ``limit`` batches), each element as a tuple of numpy arrays.

        ``(x, y)`` or ``(x, y, w)``; an element that is not a tuple becomes ``(x,)``. A dict ``x``
        stays a dict of arrays; a list of arrays stays a tuple of arrays. ``limit=None`` walks to the
        end of the pass, which never comes for an infinite generator.

        Raises:
            InputError: The user's code raised while producing a batch.
        """
        self.consumed = True
        self.ran_out = None
        step = 0
        first_rows = last_rows = None
        try:
            for element in self._raw_pass(limit):
                batch = to_batch(element)
                rows = _rows(batch[0])
                first_rows = rows if step == 0 else first_rows
                last_rows = rows
                yield batch
                step += 1
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a crash in user code is reported, not a traceback
            if self._data_ran_out(step, exc, first_rows, last_rows):
                self.ran_out = {
                    "batch": step,
                    "length": self.length,
                    "error": f"{type(exc).__name__}: {exc}",
                    "rows_before": last_rows,
                    "first_rows": first_rows,
                }
                return
            raise InputError(
                f"--source {self.spec}: producing batch {step} raised {type(exc).__name__}: {exc}; "
                f"fix the pipeline ({_HINT_DEBUG})"
            ) from exc

    def _data_ran_out(self, step: int, exc: Exception, first_rows: int | None, last_rows: int | None) -> bool:
        """A PyDataset failing at batch ``step`` < len() because its data ran out (see the module doc)."""
        if self.kind != "pydataset" or step == 0 or self.length is None or step >= self.length:
            return False
        if isinstance(exc, IndexError):
            return True
        if first_rows is not None and last_rows is not None and last_rows < first_rows:
            return True  # the batch before was already short: the data ended there
        sizes = [len(v) for v in self.traced.values()]
        return bool(sizes and first_rows and step * first_rows >= max(sizes))

    def end_epoch(self) -> None:
        """What Keras does between epochs of a PyDataset: ``on_epoch_end()`` (where reshuffling lives)."""
        if self.kind == "pydataset" and hasattr(self.obj, "on_epoch_end"):
            self.obj.on_epoch_end()

    def _raw_pass(self, limit: int | None) -> Iterator[Any]:
        if limit is not None and limit <= 0:
            return
        count = 0
        if self.kind == "pydataset":
            n = self.length
            i = 0
            while n is None or i < n:
                try:
                    element = self.obj[i]
                except IndexError:
                    if n is None:
                        break
                    raise
                yield element
                i += 1
                count += 1
                if limit is not None and count >= limit:
                    break
            if n is not None and i >= n:
                self.end_epoch()
            return
        it = self.obj if self.kind == "generator" else iter(self.obj)
        while limit is None or count < limit:
            try:
                element = next(it)
            except StopIteration:
                if self.kind == "generator":
                    self.ended = True
                return
            yield element
            count += 1


def to_batch(element: Any) -> tuple:
    """A pipeline element as a tuple of numpy parts (``(x, y)``, ``(x, y, w)`` or ``(x,)``)."""
    if isinstance(element, tuple) and 1 <= len(element) <= 3:
        return tuple(_to_numpy(part) for part in element)
    if isinstance(element, list) and 2 <= len(element) <= 3:
        return tuple(_to_numpy(part) for part in element)
    return (_to_numpy(element),)


def _rows(part: Any) -> int | None:
    """Leading dimension of a batch part (its first array); None for a scalar."""
    while isinstance(part, (Mapping, tuple)) and part:
        part = next(iter(part.values())) if isinstance(part, Mapping) else part[0]
    shape = getattr(part, "shape", None)
    return int(shape[0]) if shape else None


def _to_numpy(part: Any) -> Any:
    import numpy as np

    if isinstance(part, np.ndarray):
        return part  # the very object the user yielded: mutation checks rely on it
    if isinstance(part, Mapping):
        return {k: _to_numpy(v) for k, v in part.items()}
    if isinstance(part, (list, tuple)):
        if all(isinstance(v, (int, float, bool, str, bytes, np.generic)) for v in part):
            return np.asarray(part)
        return tuple(_to_numpy(v) for v in part)
    if hasattr(part, "numpy"):
        return np.asarray(part.numpy())
    return np.asarray(part)


def _visible_state(obj: Any, kind: str) -> dict[str, Any]:
    """Arguments of a not-yet-started generator, or a PyDataset's attributes (see :attr:`Source.traced`)."""
    candidates: dict[str, Any] = {}
    if kind == "generator" and inspect.isgenerator(obj):
        # Before the first next() the frame's locals are exactly the generator's arguments.
        if inspect.getgeneratorstate(obj) == inspect.GEN_CREATED:
            candidates = dict(inspect.getgeneratorlocals(obj))
    elif kind == "pydataset":
        candidates = {k: v for k, v in vars(obj).items() if not k.startswith("__")}
    return candidates


def _sized_data(value: Any) -> bool:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.ndim >= 1 and len(value) > 1
    return isinstance(value, (list, tuple)) and len(value) > 1
